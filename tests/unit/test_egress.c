/*
 * The filtered network's proxy, what it parses (egress_http.c): proxy
 * requests (CONNECT, absolute URIs, IPv6 literals, ports; the request as
 * upstream gets it: origin-form, Host the checked host, no hop-by-hop
 * fields, `Connection: close`; heads two parsers could read differently
 * refused), canonical host names (the one string matched and resolved),
 * where a request's body ends (Content-Length, chunked, any split), the
 * answer's head, and the private-address table that stops a sandbox from
 * reaching the host, its neighbours or metadata.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "net/net.h"

static struct egress_body body;

static int
parse(const char *head, struct egress_target *t, struct buf *req)
{
	const char *end = strstr(head, "\r\n\r\n");
	struct err *err = NULL;
	int r;

	buf_free(req);
	if (end == NULL)
		return -1;
	r = egress_parse(head, (size_t)(end - head), t, req, &body, &err);
	err_free(&err);
	return r;
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
	CHECK(parse("CONNECT a.b:0080 HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    strcmp(t.port, "80") == 0);
	CHECK(parse("GET http://a.b:81/p?q=1 HTTP/1.1\r\nHost: a.b\r\n"
	            "Proxy-Authorization: secret\r\nAccept: */*\r\n\r\n",
	          &t, &req) == 0);
	CHECK(!t.tunnel && strcmp(t.host, "a.b") == 0 &&
	    strcmp(t.port, "81") == 0);
	CHECK(strcmp(buf_cstr(&req),
	          "GET /p?q=1 HTTP/1.1\r\nHost: a.b:81\r\nAccept: */*\r\n"
	          "Connection: close\r\n\r\n") == 0);
	/* The Host field is the checked host, whatever the client said; the
	 * connection's own fields are replaced by `Connection: close`. */
	CHECK(parse("GET http://OK.test./ HTTP/1.1\r\nHost: evil.test\r\n"
	            "Connection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n"
	            "Keep-Alive: 5\r\nProxy-Connection: keep-alive\r\n\r\n",
	          &t, &req) == 0);
	CHECK(strcmp(buf_cstr(&req),
	          "GET / HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n"
	          "\r\n") == 0);
	CHECK(parse("GET http://a.b HTTP/1.0\r\n\r\n", &t, &req) == 0 &&
	    strcmp(buf_cstr(&req),
	        "GET / HTTP/1.0\r\nHost: a.b\r\nConnection: close\r\n\r\n") ==
	        0 &&
	    strcmp(t.port, "80") == 0);
	CHECK(parse("GET http://a.b?x HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    strncmp(buf_cstr(&req), "GET /?x HTTP/1.1\r\n", 18) == 0);
	CHECK(parse("GET http://[::1]:8080/ HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    strstr(buf_cstr(&req), "\r\nHost: [::1]:8080\r\n") != NULL);
	/* Not proxy requests, or targets we do not take. */
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET https://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET http://a.b/#f HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET http://u@a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:0 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:70000 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b:8x HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a.b: HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a b:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT a%2fb:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT :80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT [::1 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT [::1]x:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT [fe80::1%25eth0]:80 HTTP/1.1\r\n\r\n", &t, &req) ==
	    -1);
	CHECK(parse("CONNECT ::1:80 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("CONNECT\r\n\r\n", &t, &req) == -1);
	CHECK(parse(" http://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("get http://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET http://a.b/ HTTP/2\r\n\r\n", &t, &req) == -1);
	CHECK(parse("GET http://a.b/\x01 HTTP/1.1\r\n\r\n", &t, &req) == -1);
	buf_free(&req);
	return 0;
}

/*
 * Heads that two HTTP parsers could read differently are refused: what
 * the proxy checks and frames must be what upstream reads.
 */
static int
test_parse_smuggling(void)
{
	static const char *const bad[] = {
		"GET http://a.b/ HTTP/1.1\r\nX: 1\nHost: evil\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nX: 1\rHost: evil\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\nHost: evil\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nX: 1\r\n Host: evil\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nHost : evil\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nContent-Length : 5\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET http://a.b/ HTTP/1.1\r\nX: a\x01z\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\nContent-Length: 1\r\n"
		"Content-Length: 1\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\n"
		"Content-Length: 99999999999999999999\r\n"
		"\r\n",
		"POST http://a.b/ HTTP/1.1\r\nContent-Length: 3\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\n"
		"Transfer-Encoding: gzip, chunked\r\n"
		"\r\n",
		"POST http://a.b/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"POST http://a.b/ HTTP/1.1\r\n"
		"Transfer-Encoding: xchunked\r\n"
		"\r\n",
		"POST http://a.b/ HTTP/1.0\r\n"
		"Transfer-Encoding: chunked\r\n"
		"\r\n",
		"CONNECT a.b:443 HTTP/1.1\r\nContent-Length: 1\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
	};
	struct egress_target t;
	struct buf req = { 0 };
	size_t i;
	char nul[] = "GET http://a.b/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
	struct err *err = NULL;

	for (i = 0; i < nitems(bad); i++)
		if (parse(bad[i], &t, &req) != -1) {
			fprintf(stderr, "# taken: %s\n", bad[i]);
			return 1;
		}
	CHECK(egress_parse(nul, sizeof nul - 5, &t, &req, &body, &err) == -1);
	err_free(&err);
	CHECK(parse("POST http://a.b/ HTTP/1.1\r\ncontent-length:  12 \r\n\r\n",
	          &t, &req) == 0 &&
	    body.state == EGRESS_BODY_LENGTH && body.left == 12);
	CHECK(
	    parse("POST http://a.b/ HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"
	          "\r\n",
	        &t, &req) == 0 &&
	    body.state == EGRESS_BODY_SIZE);
	CHECK(parse("GET http://a.b/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &t,
	          &req) == 0 &&
	    body.state == EGRESS_BODY_DONE);
	CHECK(parse("GET http://a.b/ HTTP/1.1\r\n\r\n", &t, &req) == 0 &&
	    body.state == EGRESS_BODY_DONE);
	buf_free(&req);
	return 0;
}

static const char *
host(const char *in)
{
	static char out[256];

	return egress_host(in, strlen(in), out, sizeof out) == 0 ? out : NULL;
}

/* Issue 14, item 3: one canonical name, or a refusal. */
static int
test_host(void)
{
	static const char *const same[][2] = {
		{ "Example.COM", "example.com" },
		{ "example.com.", "example.com" },
		{ "rebind.adv.test.", "rebind.adv.test" },
		{ "a-b_c.d", "a-b_c.d" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "1e100.net", "1e100.net" },
		{ "0x.com", "0x.com" },
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.1.", "127.0.0.1" },
		{ "127.1", "127.0.0.1" },
		{ "127.0.1", "127.0.0.1" },
		{ "2130706433", "127.0.0.1" },
		{ "0x7f000001", "127.0.0.1" },
		{ "0x7f.1", "127.0.0.1" },
		{ "0X7F.0.0.1", "127.0.0.1" },
		{ "0177.0.0.1", "127.0.0.1" },
		{ "127.000.000.001", "127.0.0.1" },
		{ "0", "0.0.0.0" },
		{ "169.254.43518", "169.254.169.254" },
		{ "10.0x10.010.1", "10.16.8.1" },
		{ "255.255.255.255", "255.255.255.255" },
		{ "[::1]", "::1" },
		{ "[0:0:0:0:0:0:0:1]", "::1" },
		{ "[::7F00:2]", "::127.0.0.2" },
		{ "[::FFFF:7f00:1]", "::ffff:127.0.0.1" },
		{ "[2001:DB8::1]", "2001:db8::1" },
	};
	static const char *const refused[] = { "", ".", "..", ".a", "a..b",
		"a.b..", "a b", "a%2eb", "a/b", "a@b", "a:b", "\xc3\xa9.fr",
		"foo.123", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.1.65536",
		"1.16777216", "4294967296", "08.1.1.1", "0x", "1.0x", "0xg.1",
		"[::1", "[]", "[1.2.3.4]", "[fe80::1%eth0]", "[::1]x",
		"[:::1]" };
	char longname[300], label[70];
	size_t i;

	for (i = 0; i < nitems(same); i++)
		if (host(same[i][0]) == NULL ||
		    strcmp(host(same[i][0]), same[i][1]) != 0) {
			fprintf(stderr, "# %s -> %s, not %s\n", same[i][0],
			    host(same[i][0]) ? host(same[i][0]) : "refused",
			    same[i][1]);
			return 1;
		}
	for (i = 0; i < nitems(refused); i++)
		if (host(refused[i]) != NULL) {
			fprintf(stderr, "# %s -> %s\n", refused[i],
			    host(refused[i]));
			return 1;
		}
	/* Labels of 63 bytes, names of 253. */
	memset(label, 'a', 63);
	label[63] = '\0';
	CHECK(host(label) != NULL);
	label[63] = 'a', label[64] = '\0';
	CHECK(host(label) == NULL);
	for (i = 0; i < 253; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[253] = '\0';
	CHECK(host(longname) != NULL);
	longname[253] = '.', longname[254] = '\0';
	CHECK(host(longname) != NULL); /* the root's dot */
	longname[253] = 'a', longname[254] = 'a', longname[255] = '\0';
	CHECK(host(longname) == NULL);
	return 0;
}

/* Feed a body in pieces of `split` bytes: what is taken, or -1. */
static long
feed(enum egress_body_state st, uint64_t left, const char *p, size_t n,
    size_t split)
{
	struct egress_body b = { .state = st, .left = left };
	size_t off = 0, k;
	long r, total = 0;

	while (off < n) {
		k = n - off < split ? n - off : split;
		if ((r = egress_body_feed(&b, p + off, k)) == -1)
			return -1;
		total += r;
		if ((size_t)r < k)
			break;
		off += k;
	}
	return b.state == EGRESS_BODY_DONE ? total : -2;
}

/* Where a request's body ends, however it is split. */
static int
test_body(void)
{
	static const char ch[] = "5;ext=\"x\"\r\nhello\r\nA\r\n0123456789\r\n"
	                         "0\r\nTrailer: t\r\n\r\nNEXT";
	static const char *const badch[] = { "x\r\n", "\r\n", "5\nhello\r\n",
		"5 \r\nhello\r\n", "5\r\nhelloX\r\n", "5\r\nhello\n",
		"0\r\nT: 1\n\r\n", "0\r\n\n", "1234567890abcdef0\r\n", "-1\r\n",
		"0x5\r\n", "5;a\nb\r\n" };
	size_t split, i;

	for (split = 1; split <= sizeof ch; split++) {
		CHECK(feed(EGRESS_BODY_SIZE, 0, ch, sizeof ch - 1, split) ==
		    (long)(sizeof ch - 5));
		CHECK(
		    feed(EGRESS_BODY_LENGTH, 7, ch, sizeof ch - 1, split) == 7);
	}
	for (i = 0; i < nitems(badch); i++)
		if (feed(EGRESS_BODY_SIZE, 0, badch[i], strlen(badch[i]), 1) !=
		    -1) {
			fprintf(stderr, "# taken: %s\n", badch[i]);
			return 1;
		}
	CHECK(feed(EGRESS_BODY_SIZE, 0, "5\r\nhel", 7, 3) == -2);
	CHECK(feed(EGRESS_BODY_DONE, 0, "GET", 3, 1) == 0);
	return 0;
}

static enum egress_body_state
answer(const char *h, int head_request, uint64_t *left)
{
	struct buf out = { 0 };
	struct egress_body b;

	if (egress_response_head(h, strlen(h) - 4, head_request, &out, &b) ==
	    -1)
		b.state = (enum egress_body_state) - 1;
	buf_free(&out);
	*left = b.left;
	return b.state;
}

/* The answer's head says `Connection: close`, and where the answer ends. */
static int
test_response_head(void)
{
	struct buf out = { 0 };
	struct egress_body b;
	uint64_t left;
	const char *h1 = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
	                 "Keep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n";
	const char *h2 = "HTTP/1.1 100 Continue\r\n\r\n";

	CHECK(egress_response_head(h1, strlen(h1) - 4, 0, &out, &b) == 0);
	CHECK(
	    strcmp(buf_cstr(&out),
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
	        "\r\n") == 0);
	CHECK(b.state == EGRESS_BODY_LENGTH && b.left == 2);
	buf_free(&out);
	CHECK(egress_response_head(h2, strlen(h2) - 4, 0, &out, &b) == 1 &&
	    strcmp(buf_cstr(&out), h2) == 0);
	buf_free(&out);
	CHECK(egress_response_head("SSH-2.0\r\n\r\n", 7, 0, &out, &b) == -1 &&
	    b.state == EGRESS_BODY_EOF);
	CHECK(egress_response_head("HTTP/1.1 2000\r\n\r\n", 13, 0, &out, &b) ==
	    -1);
	buf_free(&out);
	/* Where it ends: RFC 9112 6.3, and at upstream's end when unsure. */
	CHECK(answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1,
	          &left) == EGRESS_BODY_DONE);
	CHECK(answer("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0,
	          &left) == EGRESS_BODY_DONE);
	CHECK(answer("HTTP/1.1 304 Not Modified\r\n\r\n", 0, &left) ==
	    EGRESS_BODY_DONE);
	CHECK(answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
	          &left) == EGRESS_BODY_DONE);
	CHECK(answer("HTTP/1.1 200 OK\r\ncontent-length:  7\r\n\r\n", 0,
	          &left) == EGRESS_BODY_LENGTH &&
	    left == 7);
	CHECK(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
	             "Content-Length: 9\r\n\r\n",
	          0, &left) == EGRESS_BODY_SIZE);
	CHECK(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n"
	             "\r\n",
	          0, &left) == EGRESS_BODY_EOF);
	CHECK(answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	             "Content-Length: 2\r\n\r\n",
	          0, &left) == EGRESS_BODY_EOF);
	CHECK(answer("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0,
	          &left) == EGRESS_BODY_EOF);
	CHECK(answer("HTTP/1.0 200 OK\r\n\r\n", 0, &left) == EGRESS_BODY_EOF);
	CHECK(answer("HTTP/1.1 101 Switching\r\nContent-Length: 0\r\n\r\n", 0,
	          &left) == EGRESS_BODY_EOF);
	return 0;
}

static int
private4(const char *a)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, a, &sa.sin_addr) != 1)
		abort();
	return egress_addr_private((struct sockaddr *)&sa);
}

static int
private6(const char *a)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET6, a, &sa.sin6_addr) != 1)
		abort();
	return egress_addr_private((struct sockaddr *)&sa);
}

/* Issue 14, item 4: every range, and the edges of each. */
static int
test_private(void)
{
	static const char *const blocked4[] = { "127.0.0.1", "127.9.9.9",
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0",
		"0.1.2.3", "192.0.0.8", "192.0.2.1", "198.51.100.7",
		"203.0.113.9", "192.88.99.1", "198.18.0.1", "198.19.255.255",
		"224.0.0.1", "239.255.255.255", "240.0.0.1",
		"255.255.255.255" };
	static const char *const open4[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1",
		"172.15.255.255", "100.63.255.255", "100.128.0.1",
		"192.169.0.1", "198.17.255.255", "198.20.0.1", "192.0.1.1",
		"192.0.3.1", "198.51.101.1", "203.0.112.1", "192.88.98.1",
		"223.255.255.255", "93.184.216.34" };
	static const char *const blocked6[] = { "::", "::1",
		"::127.0.0.1",           /* IPv4-compatible, deprecated */
		"::7f00:2", "::8.8.8.8", /* all of ::/96 */
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
		"::ffff:0:8.8.8.8",   /* IPv4-translated */
		"::1:0:0:1",          /* reserved ::/8 */
		"64:ff9b::a9fe:a9fe", /* NAT64 of 169.254.169.254 */
		"64:ff9b::7f00:1", "64:ff9b:1::8.8.8.8", /* local-use NAT64 */
		"64:ff9b:1:ffff::1", "100::1", "100::ffff:ffff:ffff:ffff",
		"2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", /* Teredo */
		"2001:2::1", "2001:10::1", "2001:20::1", "2001:1ff::1",
		"2001:db8::1", "2001:db8:ffff::1", "3fff::1", "3fff:fff::1",
		"2002:7f00:1::1", "2002:a00:1::1", "2002:c0a8:101::1",
		"2002:a9fe:a9fe::1", "fc00::1", "fd00::1", "fe80::1", "febf::1",
		"fec0::1", "feff::1", "ff02::1", "ff0e::1", "4000::1",
		"5f00::1", "e000::1", "1::1", "100:1::1" };
	static const char *const open6[] = { "2001:4860:4860::8888",
		"2001:200::1", "2001:db7:ffff::1", "2001:db9::1",
		"2606:4700::1111", "2a00:1450::1", "3ffe::1", "3fff:1000::1",
		"2002:808:808::1", "::ffff:8.8.8.8", "64:ff9b::808:808",
		"2c0f:f000::1" };
	size_t i;

	for (i = 0; i < nitems(blocked4); i++)
		if (!private4(blocked4[i])) {
			fprintf(stderr, "# open: %s\n", blocked4[i]);
			return 1;
		}
	for (i = 0; i < nitems(open4); i++)
		if (private4(open4[i])) {
			fprintf(stderr, "# blocked: %s\n", open4[i]);
			return 1;
		}
	for (i = 0; i < nitems(blocked6); i++)
		if (!private6(blocked6[i])) {
			fprintf(stderr, "# open: %s\n", blocked6[i]);
			return 1;
		}
	for (i = 0; i < nitems(open6); i++)
		if (private6(open6[i])) {
			fprintf(stderr, "# blocked: %s\n", open6[i]);
			return 1;
		}
	return 0;
}

int
main(void)
{
	RUN_TEST(test_parse);
	RUN_TEST(test_parse_smuggling);
	RUN_TEST(test_host);
	RUN_TEST(test_body);
	RUN_TEST(test_response_head);
	RUN_TEST(test_private);
	return TAP_DONE();
}
