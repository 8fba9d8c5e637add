/*
 * Fuzz the filtered network's proxy with what a sandbox can send.
 *
 * An input starting with a NUL byte is a script of whole connection
 * lifecycles run through the real proxy (tests/egress_harness.h: a fake
 * agent, a DNS server and upstream servers on the loopback): CONN_OPEN,
 * CONN_DATA (canned requests or raw bytes, split at random), CONN_CLOSE,
 * loop turns, DNS answers coming late or never, upstream ending, the
 * agent's queue filling, and the run's end in the middle. It must never
 * crash or touch freed memory (ASan), never speak on a connection it
 * closed, that the program closed, or that it does not know, and upstream
 * must never get a head it would refuse itself or a byte after the first
 * request's end.
 *
 * Any other input is a request head (up to the first blank line) and what
 * follows it: a parse gives a canonical host (a fixed point of
 * egress_host), a valid port, and for plain HTTP a request that parses
 * back to itself, with one Host field and `Connection: close`; the body's
 * end does not depend on how the bytes are split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../egress_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct harness H;
static int H_ready;

/* Canned requests: @ is the HTTP server's port, # the echo server's. */
static const char *const canned[] = {
	"GET http://ok.test@/ HTTP/1.1\r\n\r\n",
	"GET http://hold.test@/ HTTP/1.1\r\nHost: evil\r\n\r\n",
	"CONNECT tun.test# HTTP/1.1\r\n\r\n",
	"POST http://ok.test@/ HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
	("POST http://127.0.0.1@/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	 "\r\n"),
	"3\r\nabc\r\n0\r\n\r\n",
	"GET http://ok.test@/ HTTP/1.1\r\nHost: other\r\n\r\n",
	"GET http://nx.test/ HTTP/1.1\r\n\r\n",
	"CONNECT hosts.test# HTTP/1.1\r\n\r\n",
	"GET http://silent.test/ HTTP/1.1\r\n\r\n",
	"GET http://OK.TEST.@/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"CONNECT hold.test# HTTP/1.1\r\n\r\nearly",
	"HEAD http://ok.test@/ HTTP/1.1\r\n\r\n",
	"GET http://deny.test/ HTTP/1.1\r\n\r\n",
	"CONNECT [::127.0.0.1]# HTTP/1.1\r\n\r\n",
};

struct script {
	const uint8_t *p;
	size_t left;
};

static unsigned
next(struct script *s)
{
	if (s->left == 0)
		return 0;
	s->left--;
	return *s->p++;
}

/* Send bytes to a connection in pieces the script chooses. */
static void
send_split(struct script *s, uint32_t id, const char *p, size_t n)
{
	size_t k;

	while (n > 0) {
		k = 1 + next(s) % 32;
		k = k < n ? k : n;
		h_data(&H, id, p, k);
		p += k, n -= k;
		if (next(s) % 4 == 0)
			h_turn(&H);
	}
}

static void
fill(char *out, size_t size, const char *tmpl)
{
	size_t n = 0;

	for (; *tmpl != '\0' && n + 8 < size; tmpl++)
		if (*tmpl == '@' || *tmpl == '#')
			n += (size_t)snprintf(out + n, size - n, ":%u",
			    *tmpl == '@' ? H.http_port : H.echo_port);
		else
			out[n++] = *tmpl;
	out[n] = '\0';
}

static void
lifecycle(const uint8_t *data, size_t len)
{
	struct script s = { data, len };
	char req[512];
	uint32_t n = 0, id;
	unsigned op, k;

	if (!H_ready) {
		h_init(&H);
		H_ready = 1;
	}
	static const char *const deny[] = { "^deny" };
	unsigned flags = next(&s);

	/* The first byte: private addresses allowed unless bit 2 (then the
	 * loopback upstreams are refused), how upstream answers. */
	h_egress(&H, !(flags & 4), NULL, 0, deny, 1);
	H.up_eof = flags & 1;
	H.up_no_length = (flags & 2) != 0;
	H.up_chunked = (flags & 8) != 0;
	while (s.left > 0) {
		op = next(&s) % 10;
		id = n > 0 ? 1 + next(&s) % n : 0;
		if (op == 0 && n < 64)
			h_open(&H, ++n);
		else if (op <= 2 && id && !H.conns[id].gone &&
		    !H.conns[id].closed) {
			if (op == 1) {
				k = next(&s) % nitems(canned);
				fill(req, sizeof req, canned[k]);
				send_split(&s, id, req, strlen(req));
			} else {
				k = next(&s);
				k = k < s.left ? k : (unsigned)s.left;
				h_data(&H, id, s.p, k);
				s.p += k, s.left -= k;
			}
		} else if (op == 3 && id && !H.conns[id].gone &&
		    !H.conns[id].closed)
			h_close(&H, id);
		else if (op == 4)
			h_turn(&H);
		else if (op == 5)
			event_base_loop(H.base, EVLOOP_ONCE);
		else if (op == 6)
			h_dns_release(&H, next(&s) & 1);
		else if (op == 7 && H.nups > 0)
			h_up_free(H.ups[next(&s) % H.nups]);
		else if (op == 8)
			H.pending = H.pending ? 0 : 2u << 20;
	}
	H.pending = 0;
	for (k = 0; k < 3; k++)
		h_turn(&H);
	h_egress_free(&H);
	if (H.violations != 0 || resolver_busy(H.resolver)) {
		fprintf(stderr, "fuzz_egress: %s\n", H.violation);
		__builtin_trap();
	}
	h_reset(&H);
}

/* The request upstream gets, back in proxy form: it must parse the same. */
static void
reparse(const struct egress_target *t, const struct buf *req,
    const struct egress_body *b)
{
	struct egress_target t2;
	struct egress_body b2;
	struct buf abs = { 0 }, req2 = { 0 };
	struct err *err = NULL;
	const char *sp = memchr(req->data, ' ', req->len), *end;

	if (sp == NULL || sp[1] != '/')
		__builtin_trap();
	buf_add(&abs, req->data, (size_t)(sp + 1 - req->data));
	buf_printf(&abs, "http://%s%s%s:%s", strchr(t->host, ':') ? "[" : "",
	    t->host, strchr(t->host, ':') ? "]" : "", t->port);
	buf_add(&abs, sp + 1, req->len - (size_t)(sp + 1 - req->data));
	end = memmem(abs.data, abs.len, "\r\n\r\n", 4);
	if (end == NULL ||
	    egress_parse(abs.data, (size_t)(end - abs.data), &t2, &req2, &b2,
	        &err) == -1 ||
	    strcmp(t2.host, t->host) != 0 || strcmp(t2.port, t->port) != 0 ||
	    req2.len != req->len || memcmp(req2.data, req->data, req->len) ||
	    b2.state != b->state || b2.left != b->left)
		__builtin_trap();
	err_free(&err);
	buf_free(&abs);
	buf_free(&req2);
}

static void
head(const uint8_t *data, size_t len)
{
	struct egress_target t;
	struct egress_body b, b1;
	struct buf req = { 0 };
	struct err *err = NULL;
	const char *end = memmem(data, len, "\r\n\r\n", 4), *rest;
	char canon[256], br[260];
	size_t restn, i;
	long all, one, r;
	int port;

	if (end == NULL)
		return;
	if (egress_parse((const char *)data, (size_t)(end - (const char *)data),
	        &t, &req, &b, &err) == -1) {
		err_free(&err);
		buf_free(&req);
		return;
	}
	port = atoi(t.port);
	snprintf(br, sizeof br, strchr(t.host, ':') ? "[%s]" : "%s", t.host);
	if (port <= 0 || port > 65535 ||
	    egress_host(br, strlen(br), canon, sizeof canon) == -1 ||
	    strcmp(canon, t.host) != 0)
		__builtin_trap();
	if (!t.tunnel) {
		buf_cstr(&req);
		if (req.len < 40 ||
		    strcmp(req.data + req.len - 23,
		        "\r\nConnection: close\r\n\r\n") != 0 ||
		    strcasestr(req.data, "\nHost: ") !=
		        strcasestr(req.data, "\nHost:") ||
		    strcasestr(strcasestr(req.data, "\nHost:") + 1, "\nHost:"))
			__builtin_trap();
		reparse(&t, &req, &b);
	}
	/* The body's end, all at once and byte by byte. */
	rest = end + 4;
	restn = len - (size_t)(rest - (const char *)data);
	b1 = b;
	all = egress_body_feed(&b, rest, restn);
	for (one = 0, i = 0; i < restn; i++) {
		if ((r = egress_body_feed(&b1, rest + i, 1)) == -1) {
			one = -1;
			break;
		}
		one += r;
		if (r == 0)
			break;
	}
	if (all != one ||
	    (all != -1 && (b.state != b1.state || (size_t)all > restn)))
		__builtin_trap();
	buf_free(&req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len > 0 && data[0] == 0)
		lifecycle(data + 1, len - 1);
	else
		head(data, len);
	{
		/* The answer's head, for what it is worth, never crashes. */
		const char *end = memmem(data, len, "\r\n\r\n", 4);
		struct buf out = { 0 };
		struct egress_body b;

		if (end != NULL)
			egress_response_head((const char *)data,
			    (size_t)(end - (const char *)data), 0, &out, &b);
		buf_free(&out);
	}
	return 0;
}
