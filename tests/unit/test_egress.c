/*
 * The filtered network's proxy: parsing proxy requests (CONNECT, absolute
 * URIs, IPv6 literals, ports, the rewritten request without Proxy-*
 * headers, everything else refused) and the private-address check that
 * stops a sandbox from reaching the host, its neighbours or metadata.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tap.h"
#include "engine/engine.h"

static int
parse(const char *head, struct egress_target *t, struct buf *req)
{
	const char *end = strstr(head, "\r\n\r\n");

	buf_free(req);
	return end == NULL ? -1
	                   : egress_parse(head, (size_t)(end - head), t, req);
}

static int
test_parse(void)
{
	struct egress_target t;
	struct buf req = { 0 };

	CHECK(parse("CONNECT Example.COM:8443 HTTP/1.1\r\nHost: x\r\n\r\n", &t,
	          &req) == 0);
	CHECK(t.tunnel && strcmp(t.host, "example.com") == 0 &&
	    strcmp(t.port, "8443") == 0);
	CHECK(parse("CONNECT example.com HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    strcmp(t.port, "443") == 0);
	CHECK(parse("CONNECT [::1]:80 HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    strcmp(t.host, "::1") == 0 && strcmp(t.port, "80") == 0);
	CHECK(parse("GET http://a.b:81/p?q=1 HTTP/1.1\r\nHost: a.b\r\n"
	            "Proxy-Authorization: secret\r\nAccept: */*\r\n\r\n",
	          &t, &req) == 0);
	CHECK(!t.tunnel && strcmp(t.host, "a.b") == 0 &&
	    strcmp(t.port, "81") == 0);
	CHECK(
	    strcmp(buf_cstr(&req),
	        "GET /p?q=1 HTTP/1.1\r\nHost: a.b:81\r\nAccept: */*\r\n\r\n") ==
	    0);
	/* The Host header is the checked host, whatever the client said. */
	CHECK(parse("GET http://ok.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n",
	          &t, &req) == 0);
	CHECK(strcmp(buf_cstr(&req),
	          "GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n") == 0);
	CHECK(parse("GET http://a.b HTTP/1.0\r\n\r\n", &t, &req) == 0 &&
	    strcmp(buf_cstr(&req), "GET / HTTP/1.0\r\nHost: a.b\r\n\r\n") ==
	        0 &&
	    strcmp(t.port, "80") == 0);
	/* Not proxy requests, or targets we do not take. */
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET https://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:0 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:70000 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:8x HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a b:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a%2fb:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT :80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT [::1 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT\r\n\r\n", &t, &req) == -1);
	CHECK(parse(" http://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("get http://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET http://a.b/ HTTP/2\r\n\r\n", &t, &req) == -1);
	buf_free(&req);
	return 0;
}

static int
private4(const char *a)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &sa.sin_addr);
	return egress_addr_private((struct sockaddr *)&sa);
}

static int
private6(const char *a)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, a, &sa.sin6_addr);
	return egress_addr_private((struct sockaddr *)&sa);
}

static int
test_private(void)
{
	static const char *const blocked4[] = { "127.0.0.1", "127.9.9.9",
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "0.0.0.0", "192.0.0.8",
		"198.18.0.1", "224.0.0.1", "255.255.255.255" };
	static const char *const open4[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1",
		"172.15.255.255", "100.128.0.1", "192.169.0.1", "198.20.0.1",
		"93.184.216.34" };
	size_t i;

	for (i = 0; i < sizeof blocked4 / sizeof *blocked4; i++)
		CHECK(private4(blocked4[i]));
	for (i = 0; i < sizeof open4 / sizeof *open4; i++)
		CHECK(!private4(open4[i]));
	CHECK(private6("::1") && private6("::") && private6("fe80::1"));
	CHECK(private6("fd00::1") && private6("ff02::1"));
	CHECK(private6("::ffff:127.0.0.1") && private6("::ffff:10.0.0.1"));
	CHECK(private6("64:ff9b::a9fe:a9fe")); /* NAT64 of 169.254.169.254 */
	CHECK(!private6("2001:4860:4860::8888"));
	CHECK(!private6("::ffff:8.8.8.8"));
	return 0;
}

int
main(void)
{
	RUN_TEST(test_parse);
	RUN_TEST(test_private);
	return TAP_DONE();
}
