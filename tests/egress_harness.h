/*
 * The filtered network's proxy under test without Docker: egress.c on an
 * event_base of its own, with
 * - a fake agent: the send callback keeps what the proxy said on each
 *   connection and counts what it must never do (a frame for a connection
 *   it does not know, closed, or after the program closed it);
 * - a DNS server of its own on 127.0.0.1 (libevent's evdns server, an
 *   ephemeral port) that answers A 127.0.0.1 (names starting "tun":
 *   127.0.0.2), NXDOMAIN ("nx..."), holds the query until told ("hold...")
 *   or never answers ("silent..."); AAAA answers are empty; "hosts.test"
 *   is in a hosts file, answered inside the call;
 * - upstream: a lenient HTTP/1.1 server on 127.0.0.1 that answers every
 *   request head it gets with `host=<its Host>` and keeps the connection
 *   alive whatever the request says, so only the proxy stands between a
 *   second request and upstream; it counts bytes after the first request
 *   (a violation); and an echo server on 127.0.0.2 for tunnels.
 * Everything is on the loopback and bounded. Used by
 * tests/unit/test_egress_conn.c and tests/fuzz/fuzz_egress.c.
 */
#ifndef ISOL8_EGRESS_HARNESS_H
#define ISOL8_EGRESS_HARNESS_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "net/net.h"

#define H_CONNS 4096
#define H_UPS 1024
#define H_HELD 256
#define H_GOT_MAX (1u << 20)

struct h_conn {
	struct buf got;           /* DATA from the proxy (up to H_GOT_MAX) */
	size_t got_total;         /* all of it */
	int opened, closed, gone; /* we opened; the proxy closed; we closed */
};

struct h_up {
	struct harness *h;
	struct bufferevent *bev;
	struct buf got;
	int tunnel;
	int heads;               /* request heads answered */
	struct egress_body body; /* the first request's body */
	int in_body;             /* 1: in it; 2: past its end */
	char host[300];          /* the first Host field */
};

struct harness {
	struct event_base *base;
	struct loop *loop;
	struct evdns_base *dns;
	struct resolver *resolver;
	struct egress *eg;
	struct event *tick;
	struct h_conn conns[H_CONNS + 1];
	unsigned violations;
	char violation[256];
	size_t pending; /* what the fake agent says is queued */
	/* DNS */
	struct evdns_server_port *dns_port;
	evutil_socket_t dns_fd;
	struct evdns_server_request *held[H_HELD];
	size_t nheld;
	char last_query[256];
	unsigned queries;
	char hosts_path[64];
	/* upstream */
	struct evconnlistener *http, *echo;
	unsigned short http_port, echo_port;
	struct h_up *ups[H_UPS];
	size_t nups;
	int up_eof;         /* upstream closes after answering */
	size_t up_body_len; /* the size of its answers' bodies */
	int up_no_length;   /* answers without Content-Length */
	int up_chunked;     /* chunked answers */
	int with_port; /* the next h_egress's allow patterns see host:port */
};

static inline void
h_violation(struct harness *h, const char *what, uint32_t id)
{
	if (h->violations++ == 0)
		snprintf(h->violation, sizeof h->violation,
		    "%s (connection %u)", what, id);
}

/* The fake agent: what the proxy sends towards the program. */
static inline void
h_send(const struct proto_buf *pb, void *arg)
{
	struct harness *h = arg;
	const unsigned char *p = pb->data;
	size_t left = pb->len;
	uint32_t len, id;
	int type;
	struct h_conn *c;

	while (left >= PROTO_HDR_LEN) {
		if (proto_header(p, &type, &len) == -1 ||
		    left < PROTO_HDR_LEN + len ||
		    proto_conn_decode(p + PROTO_HDR_LEN, len, &id) == -1) {
			h_violation(h, "a malformed frame", 0);
			return;
		}
		c = id >= 1 && id <= H_CONNS ? &h->conns[id] : NULL;
		if (c == NULL || !c->opened)
			h_violation(h, "a frame for an unknown connection", id);
		else if (c->closed)
			h_violation(h, "a frame after the proxy's CLOSE", id);
		else if (c->gone)
			h_violation(h, "a frame after the program's CLOSE", id);
		else if (type == PROTO_CONN_CLOSE)
			c->closed = 1;
		else if (type == PROTO_CONN_DATA) {
			c->got_total += len - 4;
			if (c->got.len + len - 4 <= H_GOT_MAX)
				buf_add(
				    &c->got, p + PROTO_HDR_LEN + 4, len - 4);
		} else
			h_violation(h, "a frame neither DATA nor CLOSE", id);
		p += PROTO_HDR_LEN + len;
		left -= PROTO_HDR_LEN + len;
	}
}

static inline size_t
h_pending(void *arg)
{
	return ((struct harness *)arg)->pending;
}

/* The DNS server: by the name's first letters (any case). */
static inline void
h_dns_request(struct evdns_server_request *req, void *arg)
{
	struct harness *h = arg;
	const char *name;
	struct in_addr a;
	size_t i;

	if (req->nquestions != 1) {
		evdns_server_request_drop(req);
		return;
	}
	name = req->questions[0]->name;
	h->queries++;
	for (i = 0; name[i] && i + 1 < sizeof h->last_query; i++)
		h->last_query[i] =
		    (char)(name[i] | 0x20 * (name[i] >= 'A' && name[i] <= 'Z'));
	h->last_query[i] = '\0';
	if (strncasecmp(name, "silent", 6) == 0) {
		evdns_server_request_drop(req);
		return;
	}
	if (strncasecmp(name, "hold", 4) == 0 && h->nheld < H_HELD) {
		h->held[h->nheld++] = req;
		return;
	}
	if (strncasecmp(name, "nx", 2) == 0) {
		evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
		return;
	}
	if (req->questions[0]->type == EVDNS_TYPE_A) {
		inet_pton(AF_INET,
		    strncasecmp(name, "tun", 3) == 0 ? "127.0.0.2"
		                                     : "127.0.0.1",
		    &a);
		evdns_server_request_add_a_reply(req, name, 1, &a, 10);
	}
	evdns_server_request_respond(req, 0);
}

/* Answer the held queries: A 127.0.0.1, or NXDOMAIN. */
static inline void
h_dns_release(struct harness *h, int nx)
{
	struct in_addr a;
	size_t i;

	inet_pton(AF_INET, "127.0.0.1", &a);
	for (i = 0; i < h->nheld; i++) {
		if (!nx && h->held[i]->questions[0]->type == EVDNS_TYPE_A)
			evdns_server_request_add_a_reply(h->held[i],
			    h->held[i]->questions[0]->name, 1, &a, 10);
		evdns_server_request_respond(
		    h->held[i], nx ? DNS_ERR_NOTEXIST : 0);
	}
	h->nheld = 0;
}

static inline void
h_up_free(struct h_up *u)
{
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	u->bev = NULL;
}

static inline void
h_up_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h_up_free(arg);
}

/* Upstream's answer to its first request, once all of it is in. */
static inline void
h_up_answer(struct h_up *u)
{
	struct harness *h = u->h;
	struct buf ans = { 0 };

	if (h->up_chunked)
		buf_printf(&ans,
		    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "%zx\r\nhost=%s\n\r\n0\r\n\r\n",
		    strlen(u->host) + 6, u->host);
	else if (h->up_no_length) /* it ends when the connection does */
		buf_printf(&ans,
		    "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"
		    "host=%s\n",
		    u->host);
	else
		buf_printf(&ans,
		    "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
		    "Connection: keep-alive\r\n\r\nhost=%s\n",
		    strlen(u->host) + 6 + h->up_body_len, u->host);
	buf_reserve(&ans, h->up_body_len);
	memset(ans.data + ans.len, 'x', h->up_body_len);
	ans.len += h->up_body_len;
	bufferevent_write(u->bev, ans.data, ans.len);
	buf_free(&ans);
	if (h->up_eof)
		bufferevent_setcb(u->bev, NULL, h_up_written, NULL, u);
}

/* Upstream's view of a request's body: none may come after its end. */
static inline void
h_up_body(struct h_up *u, const char *p, size_t n)
{
	long used = egress_body_feed(&u->body, p, n);

	if (used < 0 || (size_t)used < n)
		h_violation(u->h, "upstream got bytes after the request", 0);
	if (u->body.state == EGRESS_BODY_DONE) {
		u->in_body = 2;
		h_up_answer(u);
	}
}

/* Upstream HTTP: the first request's head, then its body, then nothing. */
static inline void
h_up_http(struct h_up *u, struct evbuffer *in)
{
	struct harness *h = u->h;
	size_t n = evbuffer_get_length(in);
	char *p, *end, *host, *l2;
	struct egress_target t;
	struct buf req = { 0 }, head = { 0 };
	struct err *err = NULL;

	p = (char *)evbuffer_pullup(in, -1);
	buf_add(&u->got, p, n);
	if (u->in_body == 2)
		h_violation(h, "upstream got bytes after the request", 0);
	else if (u->in_body == 1)
		h_up_body(u, p, n);
	evbuffer_drain(in, n);
	if (u->in_body != 0 ||
	    (end = strstr(buf_cstr(&u->got), "\r\n\r\n")) == NULL)
		return;
	if ((host = strcasestr(u->got.data, "\r\nHost: ")) != NULL &&
	    host < end)
		snprintf(u->host, sizeof u->host, "%.*s",
		    (int)strcspn(host + 8, "\r"), host + 8);
	/* The framing its head says, by the proxy's own rules: upstream
	 * must get a head the proxy would take. */
	l2 = strstr(u->got.data, "\r\n") + 2;
	buf_addstr(&head, "GET http://x/ HTTP/1.1\r\n");
	buf_add(&head, l2, (size_t)(end + 4 - l2));
	if (egress_parse(head.data, head.len - 4, &t, &req, &u->body, &err) ==
	    -1) {
		h_violation(h, "upstream got a head the proxy refuses", 0);
		err_free(&err);
	}
	buf_free(&req);
	buf_free(&head);
	u->heads++;
	u->in_body = 1;
	h_up_body(u, end + 4, u->got.len - (size_t)(end + 4 - u->got.data));
}

static inline void
h_up_read(struct bufferevent *bev, void *arg)
{
	struct h_up *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (u->tunnel) {
		bufferevent_write_buffer(bev, in); /* echo */
		return;
	}
	h_up_http(u, in);
}

static inline void
h_up_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)what;
	h_up_free(arg);
}

static inline void
h_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct harness *h = arg;
	struct h_up *u;

	(void)sa, (void)len;
	if (h->nups == H_UPS) {
		close(fd);
		return;
	}
	u = xcalloc(1, sizeof *u);
	u->h = h;
	u->tunnel = l == h->echo;
	u->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(u->bev, h_up_read, NULL, h_up_event, u);
	bufferevent_enable(u->bev, EV_READ);
	h->ups[h->nups++] = u;
}

static inline struct evconnlistener *
h_listen(struct harness *h, const char *addr, unsigned short *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;
	struct evconnlistener *l;

	inet_pton(AF_INET, addr, &sin.sin_addr);
	l = evconnlistener_new_bind(h->base, h_accept, h,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
	    (struct sockaddr *)&sin, sizeof sin);
	if (l == NULL) {
		fprintf(stderr, "harness: cannot listen on %s\n", addr);
		abort();
	}
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &sl);
	*port = ntohs(sin.sin_port);
	return l;
}

static inline void
h_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

/* The proxy for one run, with these rules. */
static inline void
h_egress(struct harness *h, int allow_private, const char *const *allow,
    size_t nallow, const char *const *deny, size_t ndeny)
{
	struct egress_rules rules = { allow, nallow, deny, ndeny, allow_private,
		h->with_port };
	struct err *err = NULL;

	if ((h->eg = egress_new(h->loop, h->resolver, &rules, h_send, h_pending,
	         h, &err)) == NULL) {
		fprintf(stderr, "harness: %s\n", err->msg);
		abort();
	}
}

static inline void
h_init(struct harness *h)
{
	struct timeval tick = { 0, 2000 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof sin;
	FILE *f;
	int fd;

	memset(h, 0, sizeof *h);
	h->base = event_base_new();
	h->loop = loop_new(h->base, NULL, NULL);
	h->tick = event_new(h->base, -1, EV_PERSIST, h_tick, NULL);
	event_add(h->tick, &tick);
	/* The DNS server, and the proxy's resolver pointed at it. */
	h->dns_fd = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (h->dns_fd < 0 ||
	    bind(h->dns_fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		abort();
	evutil_make_socket_nonblocking(h->dns_fd);
	getsockname(h->dns_fd, (struct sockaddr *)&sin, &sl);
	h->dns_port = evdns_add_server_port_with_base(
	    h->base, h->dns_fd, 0, h_dns_request, h);
	h->dns = evdns_base_new(h->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	evdns_base_nameserver_sockaddr_add(
	    h->dns, (struct sockaddr *)&sin, sizeof sin, 0);
	resolver_options(h->dns);
	h->resolver = resolver_new(h->loop, h->dns);
	snprintf(h->hosts_path, sizeof h->hosts_path,
	    "/tmp/isol8-egress-hosts.XXXXXX");
	if ((fd = mkstemp(h->hosts_path)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL)
		abort();
	fputs("127.0.0.1 hosts.test\n", f);
	fclose(f);
	evdns_base_load_hosts(h->dns, h->hosts_path);
	unlink(h->hosts_path);
	h->http = h_listen(h, "127.0.0.1", &h->http_port);
	h->echo = h_listen(h, "127.0.0.2", &h->echo_port);
}

static inline void
h_frame(struct harness *h, int type, uint32_t id, const void *p, size_t n)
{
	unsigned char *f = xmalloc(n + 4);

	be32_put(f, id);
	if (n > 0)
		memcpy(f + 4, p, n);
	egress_frame(h->eg, type, f, (uint32_t)(n + 4));
	free(f);
}

static inline void
h_open(struct harness *h, uint32_t id)
{
	h->conns[id].opened = 1;
	h_frame(h, PROTO_CONN_OPEN, id, NULL, 0);
}

static inline void
h_data(struct harness *h, uint32_t id, const void *p, size_t n)
{
	h_frame(h, PROTO_CONN_DATA, id, p, n);
}

static inline void
h_str(struct harness *h, uint32_t id, const char *s)
{
	h_data(h, id, s, strlen(s));
}

static inline void
h_close(struct harness *h, uint32_t id)
{
	h->conns[id].gone = 1;
	h_frame(h, PROTO_CONN_CLOSE, id, NULL, 0);
}

static inline void
h_turn(struct harness *h)
{
	event_base_loop(h->base, EVLOOP_NONBLOCK);
}

/* Run the loop until cond(h, id) or ms have passed; cond's last value. */
static inline int
h_wait(struct harness *h, int (*cond)(struct harness *, uint32_t), uint32_t id,
    uint64_t ms)
{
	uint64_t until = now_ms() + ms;

	while (!cond(h, id) && now_ms() < until)
		event_base_loop(h->base, EVLOOP_ONCE);
	return cond(h, id);
}

static inline int
h_is_closed(struct harness *h, uint32_t id)
{
	return h->conns[id].closed;
}

/* The proxy's answer so far, as a string. */
static inline const char *
h_got(struct harness *h, uint32_t id)
{
	return buf_cstr(&h->conns[id].got);
}

/* The run ends: the proxy goes, and every lookup it started calls back. */
static inline void
h_egress_free(struct harness *h)
{
	uint64_t until = now_ms() + 10000;
	int i;

	egress_free(h->eg);
	h->eg = NULL;
	while (resolver_busy(h->resolver) && now_ms() < until)
		event_base_loop(h->base, EVLOOP_ONCE);
	for (i = 0; i < 4; i++)
		h_turn(h); /* deferred bufferevent frees */
}

/* Forget connections and upstreams between runs (the fuzzer's). */
static inline void
h_reset(struct harness *h)
{
	size_t i;

	for (i = 0; i < h->nups; i++) {
		h_up_free(h->ups[i]);
		buf_free(&h->ups[i]->got);
		free(h->ups[i]);
	}
	h->nups = 0;
	for (i = 0; i <= H_CONNS; i++)
		buf_free(&h->conns[i].got);
	memset(h->conns, 0, sizeof h->conns);
	h->violations = 0;
	h->pending = 0;
	h->up_eof = 0;
	h->up_body_len = 0;
	h->up_no_length = 0;
	h->up_chunked = 0;
	h_dns_release(h, 1);
	for (i = 0; i < 4; i++)
		h_turn(h);
}

static inline void
h_free(struct harness *h)
{
	if (h->eg != NULL)
		h_egress_free(h);
	h_reset(h);
	evconnlistener_free(h->http);
	evconnlistener_free(h->echo);
	evdns_close_server_port(h->dns_port);
	evutil_closesocket(h->dns_fd);
	resolver_free(h->resolver);
	evdns_base_free(h->dns, 1);
	h_turn(h);
	event_free(h->tick);
	loop_free(h->loop);
	event_base_free(h->base);
}

#endif
