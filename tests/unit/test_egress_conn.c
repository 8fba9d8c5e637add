/*
 * The filtered network's proxy, whole connections, without Docker
 * (tests/egress_harness.h: a fake agent, a DNS server and upstream servers
 * of the test's own on 127.0.0.1/127.0.0.2). What it proves:
 * - a connection closed by the program, or by the run's end, while its
 *   name is being looked up, connected, tunnelled or drained is let go
 *   once and never touched again (libevent calls a cancelled lookup back
 *   later: under ASan a use after free, in the plain build memory
 *   corruption, before);
 * - lookups answered inside the call (a literal, a hosts-file name), a
 *   DNS server that never answers (502 with the reason, not a hang), no
 *   such name, upstream's end after its answer, backpressure;
 * - one request per connection: a second request on a kept-alive
 *   connection, or pipelined in one chunk, never reaches upstream (with a
 *   Host of its own: fronting), bodies are framed (Content-Length,
 *   chunked), the answer says `Connection: close`;
 * - the name checked is the canonical name resolved: `a.b.` and numeric
 *   IPv4 forms do not get past --deny; IPv4-compatible IPv6 is private;
 * - a random mix of all of that, many connections, survives (ASan: no
 *   leak, no use after free).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "egress_harness.h"

static struct harness H;
static char req[1024];

static int
never(struct harness *h, uint32_t id)
{
	(void)h, (void)id;
	return 0;
}

/* Whether the answer is all there: as many bytes as its length says. */
static int
complete(struct harness *h, uint32_t id)
{
	const char *g = h_got(h, id), *cl = strstr(g, "Content-Length: "),
	           *end = strstr(g, "\r\n\r\n");

	return cl != NULL && end != NULL &&
	    strlen(end + 4) == strtoul(cl + 16, NULL, 10);
}

static int
answered(struct harness *h, uint32_t id)
{
	const char *a = strstr(h_got(h, id), "host=");

	return (a != NULL && strchr(a, '\n') != NULL) || h->conns[id].closed;
}

static int
no_lookup_pending(struct harness *h, uint32_t id)
{
	(void)id;
	return !resolver_busy(h->resolver);
}

static int
ups_heads(struct harness *h)
{
	size_t i;
	int n = 0;

	for (i = 0; i < h->nups; i++)
		n += h->ups[i]->heads;
	return n;
}

static int
up_saw(struct harness *h, const char *s)
{
	size_t i;

	for (i = 0; i < h->nups; i++)
		if (strstr(buf_cstr(&h->ups[i]->got), s) != NULL)
			return 1;
	return 0;
}

/* One GET through the proxy on a fresh connection; 1 if it is answered. */
static int
get_ok(struct harness *h, uint32_t id, const char *host)
{
	snprintf(req, sizeof req, "GET http://%s:%u/ HTTP/1.1\r\n\r\n", host,
	    h->http_port);
	h_open(h, id);
	h_str(h, id, req);
	return h_wait(h, answered, id, 10000) &&
	    strstr(h_got(h, id), "HTTP/1.1 200 OK") != NULL;
}

/*
 * Issue 14, item 1: closing connections while their names are looked up.
 * libevent calls the cancelled lookups back on a later turn.
 */
static int
test_close_during_lookup(void)
{
	uint32_t id;

	h_egress(&H, 1, NULL, 0, NULL, 0);
	for (id = 1; id <= 20; id++) {
		snprintf(req, sizeof req,
		    "GET http://hold-%u.test/ HTTP/1.1\r\nHost: x\r\n\r\n", id);
		h_open(&H, id);
		h_str(&H, id, req);
		h_close(&H, id);
	}
	/* And some whose answer comes in the same turn as the close. */
	for (; id <= 30; id++) {
		snprintf(req, sizeof req,
		    "CONNECT hold-%u.test:1 HTTP/1.1\r\n\r\n", id);
		h_open(&H, id);
		h_str(&H, id, req);
	}
	h_wait(
	    &H, no_lookup_pending, 0, 200); /* the queries reach the server */
	h_dns_release(&H, 0);
	for (id = 21; id <= 30; id++)
		h_close(&H, id);
	CHECK(h_wait(&H, no_lookup_pending, 0, 10000));
	CHECK(get_ok(&H, 31, "ok.test"));
	CHECK(H.violations == 0);
	h_egress_free(&H);
	CHECK(!resolver_busy(H.resolver));
	h_reset(&H);
	return 0;
}

/* The run ends with lookups in flight, answered inside, or connecting. */
static int
test_free_while_busy(void)
{
	h_egress(&H, 1, NULL, 0, NULL, 0);
	h_open(&H, 1);
	h_str(&H, 1, "GET http://hold.test/ HTTP/1.1\r\n\r\n");
	h_open(&H, 2); /* a literal: answered inside the call */
	snprintf(req, sizeof req, "GET http://127.0.0.1:%u/ HTTP/1.1\r\n\r\n",
	    H.http_port);
	h_str(&H, 2, req);
	h_open(&H, 3); /* a hosts-file name: also inside */
	snprintf(req, sizeof req, "CONNECT hosts.test:%u HTTP/1.1\r\n\r\n",
	    H.http_port);
	h_str(&H, 3, req);
	h_open(&H, 4);
	h_str(&H, 4, "GET http://silent.test/ HTTP/1.1\r\n\r\n");
	h_turn(&H);
	h_egress_free(&H);
	CHECK(!resolver_busy(H.resolver));
	h_dns_release(&H, 0);
	h_turn(&H);
	CHECK(H.violations == 0);
	CHECK(!H.conns[1].closed && !H.conns[4].closed); /* quietly */
	h_reset(&H);
	return 0;
}

/* Literals and hosts-file names are answered inside the lookup's call. */
static int
test_answered_inside(void)
{
	h_egress(&H, 1, NULL, 0, NULL, 0);
	CHECK(get_ok(&H, 1, "127.0.0.1"));
	CHECK(get_ok(&H, 2, "hosts.test"));
	CHECK(get_ok(&H, 3, "[::ffff:127.0.0.1]"));
	/* Closed in the same turn as the answer: nothing more is said. */
	h_open(&H, 4);
	snprintf(req, sizeof req, "GET http://127.0.0.1:%u/ HTTP/1.1\r\n\r\n",
	    H.http_port);
	h_str(&H, 4, req);
	h_close(&H, 4);
	h_turn(&H);
	h_turn(&H);
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/* A DNS server that never answers: 502 with the reason, soon. */
static int
test_dns_silent(void)
{
	h_egress(&H, 1, NULL, 0, NULL, 0);
	h_open(&H, 1);
	h_str(&H, 1, "GET http://silent.test/ HTTP/1.1\r\n\r\n");
	CHECK(h_wait(&H, h_is_closed, 1, 3 * EGRESS_DNS_MS));
	CHECK(strstr(h_got(&H, 1), "HTTP/1.1 502 ") == h_got(&H, 1));
	CHECK(
	    strstr(h_got(&H, 1),
	        "cannot resolve silent.test: the DNS server did not answer within 5 s") !=
	    NULL);
	h_open(&H, 2);
	h_str(&H, 2, "CONNECT nx.test:443 HTTP/1.1\r\n\r\n");
	CHECK(h_wait(&H, h_is_closed, 2, 10000));
	CHECK(strstr(h_got(&H, 2), "502") &&
	    strstr(h_got(&H, 2), "cannot resolve nx.test: no such name"));
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/* Tunnels, upstream's end after its answer, and backpressure. */
static int
test_relay(void)
{
	h_egress(&H, 1, NULL, 0, NULL, 0);
	h_open(&H, 1);
	snprintf(req, sizeof req, "CONNECT tun.test:%u HTTP/1.1\r\n\r\nearly",
	    H.echo_port);
	h_str(&H, 1, req);
	h_wait(&H, never, 1, 300);
	CHECK(strncmp(h_got(&H, 1),
	          "HTTP/1.1 200 Connection Established\r\n\r\n"
	          "early",
	          44) == 0);
	h_str(&H, 1, "-more");
	h_wait(&H, never, 1, 300);
	CHECK(strstr(h_got(&H, 1), "early-more") != NULL);
	h_close(&H, 1); /* mid-tunnel */

	H.up_eof = 1;
	CHECK(get_ok(&H, 2, "ok.test"));
	CHECK(h_wait(&H, h_is_closed, 2, 10000));
	CHECK(strstr(h_got(&H, 2), "\r\nConnection: close\r\n") != NULL);
	CHECK(strstr(h_got(&H, 2), "keep-alive") == NULL);

	H.up_eof = 0;
	H.up_body_len = 300000;
	H.pending = 2u << 20; /* the agent's queue is full */
	h_open(&H, 3);
	snprintf(req, sizeof req, "GET http://ok.test:%u/ HTTP/1.1\r\n\r\n",
	    H.http_port);
	h_str(&H, 3, req);
	h_wait(&H, h_is_closed, 3, 300);
	CHECK(H.conns[3].got_total == 0 && ups_heads(&H) == 2);
	H.pending = 0;
	CHECK(h_wait(&H, complete, 3, 10000));
	CHECK(H.conns[3].got_total > H.up_body_len);
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/*
 * Upstream closes while the proxy is not reading it (the agent's queue is
 * full) and the program goes on sending: the proxy's writes fail, and must
 * not raise SIGPIPE in the host process (a library user need not ignore
 * it; this test does not).
 */
static int
test_write_to_closed_upstream(void)
{
	size_t i;
	int k;

	h_egress(&H, 1, NULL, 0, NULL, 0);
	h_open(&H, 1);
	snprintf(req, sizeof req, "CONNECT tun.test:%u HTTP/1.1\r\n\r\n",
	    H.echo_port);
	h_str(&H, 1, req);
	h_wait(&H, never, 1, 300);
	CHECK(strstr(h_got(&H, 1), " 200 ") != NULL);
	H.pending = 2u << 20;
	h_str(&H, 1, "echo me");
	h_wait(&H, never, 1, 200);
	for (i = 0; i < H.nups; i++)
		h_up_free(H.ups[i]);
	h_wait(&H, never, 1, 100);
	for (k = 0; k < 10 && !H.conns[1].closed; k++) {
		h_str(&H, 1, "more bytes for a closed upstream");
		h_wait(&H, never, 1, 20);
	}
	H.pending = 0;
	CHECK(h_wait(&H, h_is_closed, 1, 5000));
	CHECK(strstr(h_got(&H, 1), "echo me") != NULL);
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/*
 * Issue 14, item 2: a second request on a kept-alive connection, with a
 * Host of its own, or another absolute URI, or pipelined in one chunk,
 * never reaches upstream; the answer tells the client to close.
 */
static int
test_one_request_per_connection(void)
{
	char two[2048];

	h_egress(&H, 1, NULL, 0, NULL, 0);
	CHECK(get_ok(&H, 1, "ok.test"));
	snprintf(req, sizeof req, "host=ok.test:%u\n", H.http_port);
	CHECK(strstr(h_got(&H, 1), req) != NULL);
	CHECK(strstr(h_got(&H, 1), "\r\nConnection: close\r\n") != NULL);
	snprintf(req, sizeof req,
	    "GET http://ok.test:%u/ HTTP/1.1\r\nHost: other.internal\r\n\r\n"
	    "GET http://evil.test:%u/ HTTP/1.1\r\n\r\n",
	    H.http_port, H.http_port);
	h_str(&H, 1, req);
	h_wait(&H, h_is_closed, 1, 300);
	CHECK(ups_heads(&H) == 1 && !up_saw(&H, "other.internal") &&
	    !up_saw(&H, "evil.test"));
	CHECK(strstr(h_got(&H, 1), "other.internal") == NULL);

	/* An answer without a length keeps the connection open until
	 * upstream ends it: a second request meanwhile goes nowhere. */
	H.up_no_length = 1;
	CHECK(get_ok(&H, 3, "ok.test") && !H.conns[3].closed);
	h_str(&H, 3, req);
	h_wait(&H, h_is_closed, 3, 300);
	CHECK(!H.conns[3].closed);
	CHECK(ups_heads(&H) == 2 && !up_saw(&H, "other.internal") &&
	    !up_saw(&H, "evil.test"));
	CHECK(strstr(h_got(&H, 3), "other.internal") == NULL);
	H.up_no_length = 0;

	/* Pipelined in one chunk, the second fronting another name. */
	snprintf(two, sizeof two,
	    "GET http://ok.test:%u/a HTTP/1.1\r\n\r\n"
	    "GET http://ok.test:%u/b HTTP/1.1\r\nHost: other.internal\r\n\r\n",
	    H.http_port, H.http_port);
	h_open(&H, 2);
	h_str(&H, 2, two);
	h_wait(&H, h_is_closed, 2, 500);
	CHECK(ups_heads(&H) == 3 && !up_saw(&H, "other.internal") &&
	    !up_saw(&H, "GET /b"));
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/* Send s to connection id in pieces of random sizes. */
static void
send_split(struct harness *h, uint32_t id, const char *s, size_t n)
{
	size_t k;

	while (n > 0) {
		k = 1 + (size_t)rand() % (n < 7 ? n : 7);
		h_data(h, id, s, k);
		s += k, n -= k;
		if (rand() % 3 == 0)
			h_turn(h);
	}
}

/* Bodies are framed: all of one, nothing after it, however split. */
static int
test_bodies(void)
{
	static const char cl[] = "hello\r\n\r\nworld";
	static const char ch[] = "5;x=1\r\nhello\r\n6\r\n\r\n\r\nwo\r\n0\r\n"
	                         "T: 1\r\n\r\n";
	char r[1024];
	int i;
	size_t n;

	h_egress(&H, 1, NULL, 0, NULL, 0);
	for (i = 0; i < 40; i++) {
		if (i % 2 == 0)
			n = (size_t)snprintf(r, sizeof r,
			    "POST http://ok.test:%u/ HTTP/1.1\r\n"
			    "Content-Length: %zu\r\n"
			    "\r\n"
			    "%sGET /smuggled HTTP/1.1\r\n"
			    "\r\n",
			    H.http_port, sizeof cl - 1, cl);
		else
			n = (size_t)snprintf(r, sizeof r,
			    "POST http://ok.test:%u/ HTTP/1.1\r\n"
			    "Transfer-Encoding: chunked\r\n"
			    "\r\n"
			    "%sGET /smuggled HTTP/1.1\r\n"
			    "\r\n",
			    H.http_port, ch);
		h_open(&H, (uint32_t)i + 1);
		send_split(&H, (uint32_t)i + 1, r, n);
		CHECK(h_wait(&H, answered, (uint32_t)i + 1, 10000));
	}
	CHECK(ups_heads(&H) == 40 && !up_saw(&H, "smuggled"));
	CHECK(up_saw(&H, "\r\n\r\nhello\r\n\r\nworld") && up_saw(&H, ch));
	/* A malformed chunked body stops there, before upstream. */
	h_open(&H, 50);
	snprintf(r, sizeof r,
	    "POST http://hold.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n5\r\nhelloX\r\n");
	h_str(&H, 50, r);
	CHECK(h_is_closed(&H, 50) && strstr(h_got(&H, 50), "HTTP/1.1 400") &&
	    strstr(h_got(&H, 50), "chunked"));
	/* Refused heads: two lengths, a length and chunked, a bare LF. */
	h_open(&H, 51);
	h_str(&H, 51,
	    "POST http://ok.test/ HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	h_open(&H, 52);
	h_str(&H, 52,
	    "GET http://ok.test/ HTTP/1.1\r\n"
	    "X: a\n"
	    "Host: other.internal\r\n"
	    "\r\n");
	CHECK(strstr(h_got(&H, 51), "HTTP/1.1 400") == h_got(&H, 51) &&
	    strstr(h_got(&H, 52), "HTTP/1.1 400") == h_got(&H, 52));
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/*
 * Issue 14, item 3: the name matched is the canonical name resolved. A
 * trailing dot, upper case or a numeric IPv4 form does not get past
 * --deny, and is never looked up.
 */
static int
test_canonical_names(void)
{
	static const char *const deny[] = { "^rebind\\.adv\\.test$",
		"^127\\.0\\.0\\.1$" };
	static const char *const names[] = { "rebind.adv.test.",
		"REBIND.adv.Test.", "2130706433", "0x7f.1", "127.1",
		"0177.0.0.1", "127.000.000.001", "0x7f000001", "127.0.1" };
	unsigned queries;
	size_t i;
	uint32_t id = 1;

	h_egress(&H, 1, NULL, 0, deny, 2);
	for (i = 0; i < nitems(names); i++, id++) {
		queries = H.queries;
		h_open(&H, id);
		snprintf(req, sizeof req, "GET http://%s:%u/ HTTP/1.1\r\n\r\n",
		    names[i], H.http_port);
		h_str(&H, id, req);
		h_wait(&H, answered, id, 2000);
		if (strstr(h_got(&H, id), "403 Forbidden") == NULL ||
		    H.queries != queries) {
			fprintf(stderr, "# %s got through --deny: %.60s\n",
			    names[i], h_got(&H, id));
			return 1;
		}
		h_open(&H, ++id);
		snprintf(req, sizeof req, "CONNECT %s:443 HTTP/1.1\r\n\r\n",
		    names[i]);
		h_str(&H, id, req);
		CHECK(strstr(h_got(&H, id), "403 Forbidden") != NULL);
	}
	/* Names no resolver reads one way only are refused outright. */
	h_open(&H, ++id);
	h_str(&H, id, "GET http://a..b.test/ HTTP/1.1\r\n\r\n");
	CHECK(strstr(h_got(&H, id), "400 Bad Request") != NULL);
	h_open(&H, ++id);
	h_str(&H, id, "CONNECT 1.2.3.4.5:443 HTTP/1.1\r\n\r\n");
	CHECK(strstr(h_got(&H, id), "400 Bad Request") != NULL);
	/* What is looked up is the canonical name. */
	CHECK(get_ok(&H, ++id, "OK.Test."));
	CHECK(strcmp(H.last_query, "ok.test") == 0);
	snprintf(req, sizeof req, "host=ok.test:%u\n", H.http_port);
	CHECK(strstr(h_got(&H, id), req) != NULL);
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/*
 * The installer's proxy (with_port): an allow pattern of host:port lets
 * that port through and no other port of the same host.
 */
static int
test_with_port(void)
{
	char allow[64];
	const char *const al[] = { allow };
	uint32_t id = 1;

	snprintf(allow, sizeof allow, "^ok\\.test:%u$", H.http_port);
	H.with_port = 1;
	h_egress(&H, 1, al, 1, NULL, 0);
	H.with_port = 0;
	CHECK(get_ok(&H, id, "ok.test"));
	h_open(&H, ++id);
	snprintf(req, sizeof req, "GET http://ok.test:%u/ HTTP/1.1\r\n\r\n",
	    H.http_port + 1);
	h_str(&H, id, req);
	h_wait(&H, answered, id, 2000);
	CHECK(strstr(h_got(&H, id), "403 Forbidden") != NULL);
	h_open(&H, ++id);
	h_str(&H, id, "CONNECT ok.test:443 HTTP/1.1\r\n\r\n");
	h_wait(&H, answered, id, 2000);
	CHECK(strstr(h_got(&H, id), "403 Forbidden") != NULL);
	CHECK(H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/* Issue 14, item 4: IPv4-compatible and other embedded forms: 403. */
static int
test_private_literals(void)
{
	static const char *const lits[] = { "[::127.0.0.1]", "[::7f00:2]",
		"[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]",
		"[::ffff:0:127.0.0.1]", "[fec0::1]", "[::1]", "[::]",
		"[2001::1]", "[100::1]", "[64:ff9b:1::1]" };
	size_t i;

	h_egress(&H, 0, NULL, 0, NULL, 0);
	for (i = 0; i < nitems(lits); i++) {
		h_open(&H, (uint32_t)i + 1);
		snprintf(req, sizeof req, "CONNECT %s:%u HTTP/1.1\r\n\r\n",
		    lits[i], H.http_port);
		h_str(&H, (uint32_t)i + 1, req);
		if (!h_wait(&H, h_is_closed, (uint32_t)i + 1, 5000) ||
		    strstr(h_got(&H, (uint32_t)i + 1), "403 Forbidden") ==
		        NULL ||
		    strstr(h_got(&H, (uint32_t)i + 1), "private") == NULL) {
			fprintf(stderr, "# CONNECT %s: %.60s\n", lits[i],
			    h_got(&H, (uint32_t)i + 1));
			return 1;
		}
	}
	CHECK(H.nups == 0 && H.violations == 0);
	h_egress_free(&H);
	h_reset(&H);
	return 0;
}

/*
 * Many connections, each closed at a random point (mid-head, during the
 * lookup, connecting, tunnelling, after upstream's end, never), lookups
 * answered at random times, upstreams ending, the agent's queue filling,
 * and the run ending in the middle of it all.
 */
static int
test_stress(void)
{
	static const char *const hosts[] = { "ok.test", "hold.test",
		"hold-b.test", "nx.test", "127.0.0.1", "hosts.test",
		"silent.test", "tun.test", "OK.TEST." };
	uint32_t id, n = 0;
	int round, k, step;

	srand(1414);
	for (round = 0; round < 6; round++) {
		h_egress(&H, 1, NULL, 0, NULL, 0);
		H.up_eof = round % 2;
		for (step = 0; step < 400; step++) {
			k = rand() % 100;
			id = 1 + (uint32_t)rand() % (n + 1);
			if (k < 20 && n < H_CONNS - 1) {
				const char *host =
				    hosts[rand() % nitems(hosts)];
				int tunnel = rand() % 2;

				id = ++n;
				h_open(&H, id);
				snprintf(req, sizeof req,
				    tunnel
				        ? "CONNECT %s:%u HTTP/1.1\r\n\r\nxyz"
				        : "GET http://%s:%u/ HTTP/1.1\r\n\r\n",
				    host,
				    strncmp(host, "tun", 3) == 0 ? H.echo_port
				                                 : H.http_port);
				send_split(&H, id, req,
				    rand() % 4 ? strlen(req)
				               : (size_t)rand() % strlen(req));
			} else if (k < 40 && id <= n && H.conns[id].opened &&
			    !H.conns[id].gone && !H.conns[id].closed)
				h_close(&H, id);
			else if (k < 45 && id <= n && H.conns[id].opened &&
			    !H.conns[id].gone && !H.conns[id].closed)
				h_str(&H, id, "more bytes");
			else if (k < 50)
				h_dns_release(&H, rand() % 2);
			else if (k < 55 && H.nups > 0)
				h_up_free(H.ups[(size_t)rand() % H.nups]);
			else if (k < 60)
				H.pending = rand() % 2 ? 0 : 2u << 20;
			else if (k < 70)
				event_base_loop(H.base, EVLOOP_ONCE);
			else
				h_turn(&H);
		}
		H.pending = 0;
		h_egress_free(&H); /* the run ends, whatever is going on */
		CHECK(!resolver_busy(H.resolver));
		if (H.violations != 0) {
			fprintf(stderr, "# %s\n", H.violation);
			return 1;
		}
		h_reset(&H);
		n = 0;
	}
	return 0;
}

/* With an argument, only the tests whose names contain it. */
#define RUN(fn)                                                                \
	do {                                                                   \
		if (argc < 2 || strstr(#fn, argv[1]) != NULL)                  \
			RUN_TEST(fn);                                          \
	} while (0)

int
main(int argc, char **argv)
{
	h_init(&H);
	RUN(test_close_during_lookup);
	RUN(test_free_while_busy);
	RUN(test_answered_inside);
	RUN(test_dns_silent);
	RUN(test_relay);
	RUN(test_write_to_closed_upstream);
	RUN(test_one_request_per_connection);
	RUN(test_bodies);
	RUN(test_canonical_names);
	RUN(test_with_port);
	RUN(test_private_literals);
	RUN(test_stress);
	h_free(&H);
	return TAP_DONE();
}
