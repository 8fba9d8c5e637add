/*
 * The filtered network's proxy, on the engine's loop (docs/security.md).
 * A filtered run's container has no network; its agent relays each
 * connection a program makes to 127.0.0.1:EGRESS_PORT (HTTP(S)_PROXY) as
 * CONN_* frames (agent/relay.c). Here each connection reads one proxy
 * request -- `CONNECT host:port` or an absolute-URI HTTP request --,
 * checks the host name against the deny then the allow patterns (POSIX
 * extended regular expressions, case-insensitive, on the bare name),
 * resolves it, refuses private, loopback, link-local and metadata
 * addresses unless allowed, connects, and relays bytes both ways.
 *
 * Per connection: HEAD -> RESOLVE -> CONNECT -> OPEN, or a 4xx/5xx answer
 * and close. Invariants: nothing is sent upstream before the rules said
 * yes and the address checked out; the name checked is the name connected
 * to (one request per tunnel; a plain-HTTP connection keeps its host); the
 * head is bounded (16 KiB), bytes waiting for upstream are bounded (4 MiB,
 * then the connection is closed), and upstream is read only while the
 * agent's queue is short.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "engine.h"
#include "../loop/loop.h"

#define HEAD_MAX (16u << 10)
#define UPSTREAM_MAX (4u << 20)
#define AGENT_QUEUE_HIGH (1u << 20)
#define CHUNK (64u << 10)
#define EVENTS_MAX 256

enum conn_state { C_HEAD, C_RESOLVE, C_CONNECT, C_OPEN };

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct egress *eg;
	uint32_t id;
	enum conn_state state;
	struct buf head; /* the request head, then bytes for upstream */
	struct egress_target t;
	struct buf request; /* the rewritten request (plain HTTP) */
	struct evdns_getaddrinfo_request *dns;
	struct bufferevent *up;
	struct event *resume; /* upstream paused for the agent's queue */
	int up_eof;  /* upstream ended: close once its bytes are sent */
	int in_call; /* inside evdns_getaddrinfo(), which may answer at once */
	int dead;    /* freed meanwhile: free on return */
};

struct egress {
	struct isol8_engine *e;
	regex_t *allow, *deny;
	size_t nallow, ndeny;
	int allow_private;
	egress_send_cb send;
	egress_pending_cb send_pending;
	void *arg;
	TAILQ_HEAD(, conn) conns;
	struct isol8_net_event *events; /* what was let through or refused */
	size_t nevents;
	uint64_t dropped; /* events beyond EVENTS_MAX */
};

static const struct timeval resume_after = { 0, 10000 };

/* Remember a decision about a connection (bounded; the rest are counted). */
static void
record(struct conn *c, int allowed, const char *reason)
{
	struct egress *eg = c->eg;
	struct isol8_net_event *ev;

	if (eg->nevents == EVENTS_MAX) {
		eg->dropped++;
		return;
	}
	if (eg->events == NULL)
		eg->events = xcalloc(EVENTS_MAX, sizeof *eg->events);
	ev = &eg->events[eg->nevents++];
	ev->method = xstrdup(c->t.method[0] ? c->t.method : "?");
	ev->host = xstrdup(c->t.host);
	ev->port = xstrdup(c->t.port);
	ev->allowed = allowed;
	ev->reason = reason ? xstrdup(reason) : NULL;
}

static void conn_free(struct conn *);

static void
send_conn(struct conn *c, int type, const void *data, size_t len)
{
	struct proto_buf pb = { 0 };

	proto_conn_frame(&pb, type, c->id, data, len);
	c->eg->send(&pb, c->eg->arg);
	proto_buf_free(&pb);
}

/* Answer the program with an HTTP error and close the connection. */
static void
conn_refuse(struct conn *c, int code, const char *reason, const char *why)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof msg,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\nisol8: %s\n",
	    code, reason, strlen(why) + 8, why);
	if (n > 0)
		send_conn(c, PROTO_CONN_DATA, msg,
		    (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	send_conn(c, PROTO_CONN_CLOSE, NULL, 0);
	record(c, 0, why);
	conn_free(c);
}

static void
conn_free(struct conn *c)
{
	if (c->in_call) {
		c->dead = 1;
		return;
	}
	TAILQ_REMOVE(&c->eg->conns, c, entry);
	if (c->dns != NULL)
		evdns_getaddrinfo_cancel(c->dns);
	if (c->up != NULL)
		bufferevent_free(c->up);
	if (c->resume != NULL)
		event_free(c->resume);
	buf_free(&c->head);
	buf_free(&c->request);
	free(c);
}

/* Whether an IPv4 address (host order) is private, loopback, etc. */
static int
v4_private(uint32_t a)
{
	return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	    (a >> 22) == (100u << 2 | 1) ||   /* 100.64/10 */
	    (a >> 16) == (169u << 8 | 254) || /* link-local, metadata */
	    (a >> 20) == (172u << 4 | 1) ||   /* 172.16/12 */
	    (a >> 8) == (192u << 16) ||       /* 192.0.0/24 */
	    (a >> 16) == (192u << 8 | 168) ||
	    (a >> 17) == (198u << 7 | 18 >> 1) || /* 198.18/15 */
	    (a >> 28) >= 14;                      /* multicast, 240/4 */
}

/* Whether an address is one a sandbox must not reach by default. */
int
egress_addr_private(const struct sockaddr *sa)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	const unsigned char *b = v6.sin6_addr.s6_addr;

	if (sa->sa_family == AF_INET) {
		memcpy(&v4, sa, sizeof v4);
		return v4_private(ntohl(v4.sin_addr.s_addr));
	}
	if (sa->sa_family != AF_INET6)
		return 1;
	memcpy(&v6, sa, sizeof v6);
	/* v4-mapped and NAT64 (64:ff9b::/96): the IPv4 address decides. */
	if ((memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) ||
	    memcmp(b, "\0\x64\xff\x9b\0\0\0\0\0\0\0\0", 12) == 0)
		return v4_private((uint32_t)b[12] << 24 |
		    (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
	return memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) == 0 ||
	    (b[0] & 0xfe) == 0xfc ||                   /* ::, ::1; fc00::/7 */
	    (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
	    b[0] == 0xff;                              /* multicast */
}

static int
rules_say_yes(struct egress *eg, const char *host)
{
	size_t i;

	for (i = 0; i < eg->ndeny; i++)
		if (regexec(&eg->deny[i], host, 0, NULL, 0) == 0)
			return 0;
	if (eg->nallow == 0)
		return 1;
	for (i = 0; i < eg->nallow; i++)
		if (regexec(&eg->allow[i], host, 0, NULL, 0) == 0)
			return 1;
	return 0;
}

/*
 * Upstream bytes to the program, while the agent's queue is short; then
 * wait and go on. At upstream's end, what it sent before goes first.
 */
static void
up_flush(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up);
	unsigned char chunk[CHUNK];
	int n;

	while (evbuffer_get_length(in) > 0) {
		if (c->eg->send_pending(c->eg->arg) > AGENT_QUEUE_HIGH) {
			bufferevent_disable(c->up, EV_READ);
			evtimer_add(c->resume, &resume_after);
			return;
		}
		if ((n = evbuffer_remove(in, chunk, sizeof chunk)) <= 0)
			break;
		send_conn(c, PROTO_CONN_DATA, chunk, (size_t)n);
	}
	if (c->up_eof) {
		send_conn(c, PROTO_CONN_CLOSE, NULL, 0);
		conn_free(c);
	}
}

static void
up_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	up_flush(arg);
}

static void
up_resume(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd, (void)what;
	if (!c->up_eof)
		bufferevent_enable(c->up, EV_READ);
	up_flush(c);
}

static void
up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = C_OPEN;
		record(c, 1, NULL);
		if (c->t.tunnel) {
			static const char ok[] =
			    "HTTP/1.1 200 Connection Established\r\n\r\n";

			send_conn(c, PROTO_CONN_DATA, ok, sizeof ok - 1);
		} else
			bufferevent_write(bev, c->request.data, c->request.len);
		if (c->head.len > 0)
			bufferevent_write(bev, c->head.data, c->head.len);
		buf_free(&c->head);
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (c->state != C_OPEN) {
		conn_refuse(c, 502, "Bad Gateway", "cannot connect upstream");
		return;
	}
	c->up_eof = 1;
	bufferevent_disable(bev, EV_READ);
	up_flush(c);
}

static void
resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;
	struct evutil_addrinfo *ai;
	struct event_base *base = loop_base(c->eg->e->loop);

	c->dns = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return; /* conn_free() cancelled us */
	if (result != 0) {
		conn_refuse(c, 502, "Bad Gateway", "cannot resolve the host");
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (c->eg->allow_private || !egress_addr_private(ai->ai_addr))
			break;
	if (ai == NULL) {
		evutil_freeaddrinfo(res);
		conn_refuse(c, 403, "Forbidden",
		    "the host resolves to a private address (blocked)");
		return;
	}
	c->state = C_CONNECT;
	/* Deferred callbacks: a failing connect never calls back inside. */
	c->up = bufferevent_socket_new(
	    base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	bufferevent_setcb(c->up, up_read, NULL, up_event, c);
	if (bufferevent_socket_connect(
	        c->up, ai->ai_addr, (int)ai->ai_addrlen) == -1) {
		evutil_freeaddrinfo(res);
		conn_refuse(c, 502, "Bad Gateway", "cannot connect upstream");
		return;
	}
	evutil_freeaddrinfo(res);
}

/* Split "host[:port]" (with [v6] literals) into t->host and t->port. */
static int
split_authority(
    struct egress_target *t, const char *a, size_t n, const char *dport)
{
	const char *colon = NULL, *h = a;
	size_t hl, i;

	if (n > 0 && a[0] == '[') {
		const char *end = memchr(a, ']', n);

		if (end == NULL)
			return -1;
		h = a + 1, hl = (size_t)(end - a - 1);
		if ((size_t)(end - a) + 1 < n && end[1] == ':')
			colon = end + 1;
		else if ((size_t)(end - a) + 1 != n)
			return -1;
	} else {
		colon = memchr(a, ':', n);
		hl = colon ? (size_t)(colon - a) : n;
	}
	if (hl == 0 || hl >= sizeof t->host)
		return -1;
	for (i = 0; i < hl; i++)
		t->host[i] = (char)tolower((unsigned char)h[i]);
	t->host[hl] = '\0';
	if (strspn(t->host, "abcdefghijklmnopqrstuvwxyz0123456789.-_:") != hl)
		return -1; /* a name or an address literal, nothing else */
	if (colon == NULL)
		snprintf(t->port, sizeof t->port, "%s", dport);
	else {
		size_t pl = n - (size_t)(colon + 1 - a);

		if (pl == 0 || pl >= sizeof t->port)
			return -1;
		memcpy(t->port, colon + 1, pl);
		t->port[pl] = '\0';
		if (strspn(t->port, "0123456789") != pl)
			return -1;
	}
	return atoi(t->port) > 0 && atoi(t->port) < 65536 ? 0 : -1;
}

/*
 * Parse a proxy request head `p` (NUL-terminated; `end` is where its blank
 * line starts): the target, and for plain HTTP the request as upstream
 * gets it (origin-form, without Proxy-* headers) in `request`. -1: not a
 * proxy request this proxy takes.
 */
int
egress_parse(
    const char *p, size_t end, struct egress_target *t, struct buf *request)
{
	const char *eol, *sp1, *sp2, *line, *next, *target, *slash;
	size_t tl;

	memset(t, 0, sizeof *t);

	if ((eol = strstr(p, "\r\n")) == NULL ||
	    (sp1 = memchr(p, ' ', (size_t)(eol - p))) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1))) == NULL)
		return -1;
	if (sp1 == p ||
	    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != (size_t)(sp1 - p))
		return -1; /* a method is a token */
	if (eol - sp2 != 9 ||
	    (strncmp(sp2, " HTTP/1.1", 9) != 0 &&
	        strncmp(sp2, " HTTP/1.0", 9) != 0))
		return -1;
	if ((size_t)(sp1 - p) >= sizeof t->method)
		return -1;
	memcpy(t->method, p, (size_t)(sp1 - p));
	target = sp1 + 1, tl = (size_t)(sp2 - target);
	if ((size_t)(sp1 - p) == 7 && memcmp(p, "CONNECT", 7) == 0) {
		t->tunnel = 1;
		if (split_authority(t, target, tl, "443") == -1)
			return -1;
	} else {
		if (tl < 8 || strncasecmp(target, "http://", 7) != 0)
			return -1;
		target += 7, tl -= 7;
		slash = memchr(target, '/', tl);
		if (split_authority(t, target,
		        slash ? (size_t)(slash - target) : tl, "80") == -1)
			return -1;
		buf_add(request, p, (size_t)(sp1 - p) + 1);
		if (slash != NULL)
			buf_add(request, slash, tl - (size_t)(slash - target));
		else
			buf_addstr(request, "/");
		buf_add(request, sp2, (size_t)(eol - sp2) + 2);
		/* The Host header names the host that was checked: no
		 * fronting another name on the same server. */
		buf_printf(request, "Host: %s%s%s%s%s\r\n",
		    strchr(t->host, ':') ? "[" : "", t->host,
		    strchr(t->host, ':') ? "]" : "",
		    strcmp(t->port, "80") ? ":" : "",
		    strcmp(t->port, "80") ? t->port : "");
		for (line = eol + 2; line < p + end; line = next) {
			if ((next = strstr(line, "\r\n")) == NULL)
				return -1;
			next += 2;
			if (strncasecmp(line, "Proxy-", 6) != 0 &&
			    strncasecmp(line, "Host:", 5) != 0)
				buf_add(request, line, (size_t)(next - line));
		}
		buf_addstr(request, "\r\n");
	}
	return 0;
}

static void
conn_data(struct conn *c, const unsigned char *p, size_t len)
{
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo hints;
	const char *end;

	if (c->state == C_OPEN) {
		if (evbuffer_get_length(bufferevent_get_output(c->up)) >
		    UPSTREAM_MAX) {
			send_conn(c, PROTO_CONN_CLOSE, NULL, 0);
			conn_free(c);
			return;
		}
		bufferevent_write(c->up, p, len);
		return;
	}
	if (c->head.len + len > UPSTREAM_MAX) {
		conn_refuse(c, 413, "Payload Too Large", "request too large");
		return;
	}
	buf_add(&c->head, p, len);
	if (c->state != C_HEAD)
		return;
	/* The head ends within HEAD_MAX; a body may follow in the chunk. */
	buf_cstr(&c->head);
	end = memmem(c->head.data,
	    c->head.len < HEAD_MAX + 4 ? c->head.len : HEAD_MAX + 4, "\r\n\r\n",
	    4);
	if (end == NULL) {
		if (c->head.len > HEAD_MAX)
			conn_refuse(c, 431, "Request Header Fields Too Large",
			    "request head over 16 KiB");
		return;
	}
	if (egress_parse(c->head.data, (size_t)(end - c->head.data), &c->t,
	        &c->request) == -1) {
		conn_refuse(c, 400, "Bad Request",
		    "the filtered network takes proxy requests only "
		    "(HTTP_PROXY/HTTPS_PROXY)");
		return;
	}
	buf_drain(&c->head, (size_t)(end - c->head.data) + 4);
	if (!rules_say_yes(c->eg, c->t.host)) {
		conn_refuse(c, 403, "Forbidden",
		    c->t.tunnel ? "CONNECT blocked by the network filter"
		                : "request blocked by the network filter");
		return;
	}
	c->state = C_RESOLVE;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* A literal or a hosts-file name is answered inside the call. */
	c->in_call = 1;
	req = evdns_getaddrinfo(
	    engine_dns(c->eg->e), c->t.host, c->t.port, &hints, resolved, c);
	c->in_call = 0;
	if (c->dead)
		conn_free(c);
	else if (c->state == C_RESOLVE)
		c->dns = req;
}

static struct conn *
conn_find(struct egress *eg, uint32_t id)
{
	struct conn *c;

	TAILQ_FOREACH (c, &eg->conns, entry)
		if (c->id == id)
			return c;
	return NULL;
}

/* A CONN_* frame from the agent. */
void
egress_frame(struct egress *eg, int type, const unsigned char *p, uint32_t len)
{
	struct conn *c;
	uint32_t id;

	if (proto_conn_decode(p, len, &id) == -1)
		return;
	c = conn_find(eg, id);
	if (type == PROTO_CONN_OPEN && c == NULL) {
		c = xcalloc(1, sizeof *c);
		c->eg = eg;
		c->id = id;
		c->resume = evtimer_new(loop_base(eg->e->loop), up_resume, c);
		TAILQ_INSERT_TAIL(&eg->conns, c, entry);
	} else if (type == PROTO_CONN_DATA && c != NULL)
		conn_data(c, p + 4, len - 4);
	else if (type == PROTO_CONN_CLOSE && c != NULL)
		conn_free(c);
}

static int
compile(regex_t **out, size_t *nout, const char *const *pats, size_t n,
    const char *what, struct err **errp)
{
	char msg[128];
	size_t i;
	int rc;

	*out = n ? xcalloc(n, sizeof **out) : NULL;
	for (i = 0; i < n; i++) {
		if ((rc = regcomp(&(*out)[i], pats[i],
		         REG_EXTENDED | REG_ICASE | REG_NOSUB)) != 0) {
			regerror(rc, &(*out)[i], msg, sizeof msg);
			return err_set(errp, ERR_INVALID,
			    "bad %s pattern `%s`: %s", what, pats[i], msg);
		}
		(*nout)++;
	}
	return 0;
}

struct egress *
egress_new(struct isol8_engine *e, const struct isol8_request *req,
    egress_send_cb send, egress_pending_cb pending, void *arg,
    struct err **errp)
{
	struct egress *eg = xcalloc(1, sizeof *eg);

	eg->e = e;
	eg->send = send;
	eg->send_pending = pending;
	eg->arg = arg;
	eg->allow_private = req->net_allow_private;
	TAILQ_INIT(&eg->conns);
	if (compile(&eg->allow, &eg->nallow, req->net_allow, req->net_allow_len,
	        "--allow", errp) == -1 ||
	    compile(&eg->deny, &eg->ndeny, req->net_deny, req->net_deny_len,
	        "--deny", errp) == -1) {
		egress_free(eg);
		return NULL;
	}
	return eg;
}

/*
 * Hand the recorded decisions to the caller (who frees them with
 * isol8_net_events_free()); *dropped counts those beyond the bound.
 */
struct isol8_net_event *
egress_events(struct egress *eg, size_t *n, uint64_t *dropped)
{
	struct isol8_net_event *ev = eg->events;

	*n = eg->nevents;
	*dropped = eg->dropped;
	eg->events = NULL;
	eg->nevents = 0;
	return ev;
}

void
egress_events_free(struct isol8_net_event *ev, size_t n)
{
	size_t i;

	/* The strings are ours (xstrdup); the public struct shows them
	 * const. */
	for (i = 0; i < n; i++) {
		free((void *)(uintptr_t)ev[i].method);
		free((void *)(uintptr_t)ev[i].host);
		free((void *)(uintptr_t)ev[i].port);
		free((void *)(uintptr_t)ev[i].reason);
	}
	free(ev);
}

void
egress_free(struct egress *eg)
{
	size_t i;

	if (eg == NULL)
		return;
	egress_events_free(eg->events, eg->nevents);
	while (!TAILQ_EMPTY(&eg->conns))
		conn_free(TAILQ_FIRST(&eg->conns));
	for (i = 0; i < eg->nallow; i++)
		regfree(&eg->allow[i]);
	for (i = 0; i < eg->ndeny; i++)
		regfree(&eg->deny[i]);
	free(eg->allow);
	free(eg->deny);
	free(eg);
}
