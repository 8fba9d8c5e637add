/*
 * The filtered network's proxy, on the loop (docs/security.md).
 * A filtered run's container has no network; its agent relays each
 * connection a program makes to 127.0.0.1:EGRESS_PORT (HTTP(S)_PROXY) as
 * CONN_* frames (agent/relay.c). Here each connection reads one proxy
 * request -- `CONNECT host:port` or an absolute-URI HTTP request, parsed
 * by egress_http.c --, checks the canonical host name against the deny
 * then the allow patterns (POSIX extended regular expressions,
 * case-insensitive), resolves that same name, refuses private, loopback,
 * link-local and metadata addresses unless allowed, connects, and relays
 * bytes both ways.
 *
 * Per connection, a state enum that only conn_step() moves:
 *
 *   HEAD -> RESOLVE -> CONNECT -> OPEN -> DRAIN -> CLOSED
 *
 * HEAD reads the request head; RESOLVE looks the name up (EGRESS_DNS_MS at
 * most); CONNECT tries the allowed addresses in turn (EGRESS_CONNECT_MS at
 * most); OPEN relays; DRAIN sends what upstream sent before it ended. Any
 * state may go to CLOSED: conn_close() says why (an HTTP answer before
 * OPEN, a CONN_CLOSE, or nothing when the program closed first or the run
 * ended) and conn_step() tears down, once. Callbacks record what happened
 * and call conn_event().
 *
 * Lifetime: a connection is reference counted and freed with its last
 * reference. References: the egress's list (until CLOSED), a lookup in
 * flight (until its callback, which libevent makes at once for a literal
 * or a hosts-file name, and on a later turn after a cancel), the wake-up
 * that brings a lookup's answer to conn_step() on a later turn (so no step
 * runs inside another), and each call from the loop while it runs. A
 * CLOSED connection only drops references: no callback sees freed memory.
 * The resolver counts lookups in flight: its owner waits for their
 * callbacks before freeing it (resolver.c). Upstream is a loop stream:
 * writes never raise SIGPIPE, and no callback follows stream_free().
 *
 * Invariants: nothing is sent upstream before the rules said yes and the
 * address checked out; the name matched is the name resolved and sent as
 * Host (egress_host); one request per connection: a plain-HTTP request
 * goes upstream with `Connection: close`, its body framed
 * (egress_body_feed), and nothing after it is forwarded -- a second or
 * pipelined request never reaches upstream on this connection --, and it
 * closes when the answer is complete (or upstream ends); the head is
 * bounded (16 KiB), bytes waiting for upstream are bounded (4 MiB, then
 * 413 or the connection is closed), upstream is read only while the
 * agent's queue is short, and at most EGRESS_CONNS_MAX connections live.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "net.h"

#define HEAD_MAX (16u << 10)
#define UPSTREAM_MAX (4u << 20)
#define AGENT_QUEUE_HIGH (1u << 20)
#define CHUNK (64u << 10)
#define EGRESS_CONNS_MAX 256

enum conn_state { C_HEAD, C_RESOLVE, C_CONNECT, C_OPEN, C_DRAIN, C_CLOSED };

enum conn_event {
	E_DATA,      /* bytes from the program */
	E_RESOLVED,  /* the lookup answered: c->ai, c->dns_err */
	E_CONNECTED, /* upstream accepted */
	E_UP_READ,   /* upstream sent bytes */
	E_UP_END,    /* upstream ended or failed: c->up_why */
	E_TIMER,     /* RESOLVE, CONNECT: the deadline; OPEN, DRAIN: resume */
	E_CLOSE,     /* the program closed, or the run ended */
};

/* How a connection ends, besides an HTTP status (conn_close). */
#define END_QUIET (-1) /* nothing to the program: it is gone already */
#define END_CLOSE 0    /* a CONN_CLOSE */

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct egress *eg; /* NULL once CLOSED */
	struct loop *loop;
	uint32_t id;
	unsigned refs;
	enum conn_state state;
	struct buf in;        /* HEAD: the head so far */
	struct evbuffer *out; /* for upstream before OPEN (bounded) */
	struct egress_target t;
	struct buf request;        /* plain HTTP: the head upstream gets */
	struct egress_body body;   /* plain HTTP: where the request ends */
	int answer_head;           /* plain HTTP: the answer's head is due */
	struct egress_body answer; /* where the answer ends */
	struct resolver_lookup *dns;
	struct evutil_addrinfo *ai, *next_ai; /* the answer; to try next */
	int dns_err;
	struct stream *up;
	char *up_why;        /* why upstream failed or ended */
	struct event *timer; /* deadline, or resume reading upstream */
	struct event *wake;  /* the lookup's answer, on a later turn */
	int end_code;        /* HTTP status, END_CLOSE or END_QUIET */
	char *end_why;
};

struct egress {
	struct loop *loop;
	struct resolver *resolver;
	regex_t *allow, *deny;
	size_t nallow, ndeny;
	int allow_private;
	int with_port;
	egress_send_cb send;
	egress_pending_cb send_pending;
	void *arg;
	TAILQ_HEAD(, conn) conns;
	unsigned nconns;
	struct isol8_net_event *events; /* what was let through or refused */
	size_t nevents;
	uint64_t dropped; /* events beyond ISOL8_MAX_NET_EVENTS */
};

static const struct timeval resume_after = { 0, 10000 };
static const struct timeval dns_deadline = { EGRESS_DNS_MS / 1000,
	EGRESS_DNS_MS % 1000 * 1000 };
static const struct timeval connect_deadline = { EGRESS_CONNECT_MS / 1000,
	EGRESS_CONNECT_MS % 1000 * 1000 };

static void conn_event(struct conn *, enum conn_event, const void *, size_t);

/* Remember a decision about a connection (bounded; the rest are counted). */
static void
record(struct conn *c, int allowed, const char *reason)
{
	struct egress *eg = c->eg;
	struct isol8_net_event *ev;

	if (eg->nevents == ISOL8_MAX_NET_EVENTS) {
		eg->dropped++;
		return;
	}
	if (eg->events == NULL)
		eg->events = xcalloc(ISOL8_MAX_NET_EVENTS, sizeof *eg->events);
	ev = &eg->events[eg->nevents++];
	ev->method = xstrdup(c->t.method[0] ? c->t.method : "?");
	ev->host = xstrdup(c->t.host);
	ev->port = xstrdup(c->t.port);
	ev->allowed = allowed;
	ev->reason = reason ? xstrdup(reason) : NULL;
}

static void
send_conn(struct conn *c, int type, const void *data, size_t len)
{
	struct proto_buf pb = { 0 };

	proto_conn_frame(&pb, type, c->id, data, len);
	c->eg->send(&pb, c->eg->arg);
	proto_buf_free(&pb);
}

static const char *
status_text(int code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 413:
		return "Payload Too Large";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Bad Gateway";
	}
}

static void
conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	if (c->ai != NULL)
		evutil_freeaddrinfo(c->ai);
	event_free(c->timer);
	event_free(c->wake);
	buf_free(&c->in);
	evbuffer_free(c->out);
	buf_free(&c->request);
	free(c->end_why);
	free(c->up_why);
	free(c);
}

/*
 * Decide that a connection ends and why: an HTTP status (an answer if
 * nothing came from upstream yet), END_CLOSE or END_QUIET. The first
 * reason counts; conn_step() tears down.
 */
static enum conn_state PRINTFLIKE(3, 4)
    conn_close(struct conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->end_why == NULL) {
		c->end_code = code;
		va_start(ap, fmt);
		if (vasprintf(&c->end_why, fmt, ap) == -1)
			fatalx("out of memory");
		va_end(ap);
	}
	return C_CLOSED;
}

/* Going to CLOSED: answer the program, let go of everything, once. */
static void
conn_teardown(struct conn *c)
{
	struct egress *eg = c->eg;
	struct buf msg = { 0 };

	if (c->end_code >= 400 && c->state < C_OPEN) {
		buf_printf(&msg,
		    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		    "Connection: close\r\nContent-Length: %zu\r\n\r\n"
		    "isol8: %s\n",
		    c->end_code, status_text(c->end_code),
		    strlen(c->end_why) + 8, c->end_why);
		send_conn(c, PROTO_CONN_DATA, msg.data, msg.len);
		buf_free(&msg);
	}
	if (c->end_code != END_QUIET)
		send_conn(c, PROTO_CONN_CLOSE, NULL, 0);
	if (c->end_code >= 400)
		record(c, 0, c->end_why);
	log_debug(loop_log(c->loop), "egress connection %u (%s port %s): %s",
	    c->id, c->t.host, c->t.port, c->end_why);
	TAILQ_REMOVE(&eg->conns, c, entry);
	eg->nconns--;
	c->eg = NULL;
	/* Its callback still comes, with EVUTIL_EAI_CANCEL, and drops the
	 * lookup's reference. */
	resolver_cancel(c->dns);
	c->dns = NULL;
	stream_free(c->up); /* no callback after this */
	c->up = NULL;
	evtimer_del(c->timer);
	/* The caller holds a reference: these never free c here. */
	if (event_pending(c->wake, EV_TIMEOUT, NULL)) {
		event_del(c->wake);
		c->refs--;
	}
	c->refs--; /* the list's */
}

/* Deny first, then allow: against the host, or "host:port" (with_port). */
static int
rules_say_yes(struct egress *eg, const struct egress_target *t)
{
	char hp[sizeof t->host + sizeof t->port + 1];
	const char *subject = t->host;
	size_t i;

	for (i = 0; i < eg->ndeny; i++)
		if (regexec(&eg->deny[i], t->host, 0, NULL, 0) == 0)
			return 0;
	if (eg->nallow == 0)
		return 1;
	if (eg->with_port) {
		snprintf(hp, sizeof hp, "%s:%s", t->host, t->port);
		subject = hp;
	}
	for (i = 0; i < eg->nallow; i++)
		if (regexec(&eg->allow[i], subject, 0, NULL, 0) == 0)
			return 1;
	return 0;
}

/*
 * Bytes from the program after the head: a plain request's body up to its
 * end (what follows is not forwarded), all of a tunnel's; to upstream, or
 * held until it is connected.
 */
static enum conn_state
conn_forward(struct conn *c, const void *p, size_t n)
{
	long take = (long)n;

	if (!c->t.tunnel && (take = egress_body_feed(&c->body, p, n)) == -1)
		return conn_close(
		    c, 400, "malformed chunked request body (not forwarded)");
	if (c->state == C_DRAIN || take == 0)
		return c->state;
	if (c->state == C_OPEN) {
		if (stream_pending(c->up) + (size_t)take > UPSTREAM_MAX)
			return conn_close(c, END_CLOSE,
			    "upstream does not take the request's bytes");
		stream_write(c->up, p, (size_t)take);
		return c->state;
	}
	if (evbuffer_get_length(c->out) + (size_t)take > UPSTREAM_MAX)
		return conn_close(c, 413,
		    "request body over 4 MiB before upstream was connected");
	evbuffer_add(c->out, p, (size_t)take);
	return c->state;
}

static void
resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;

	c->dns = NULL;
	if (c->state == C_CLOSED) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		conn_unref(c); /* the lookup's */
		return;
	}
	c->ai = res;
	c->dns_err = result;
	/* Maybe inside evdns_getaddrinfo(), inside conn_step(): step on the
	 * next turn. The lookup's reference goes to the wake-up. */
	event_active(c->wake, EV_TIMEOUT, 1);
}

static void
conn_wake(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd, (void)what;
	conn_event(c, E_RESOLVED, NULL, 0);
	conn_unref(c);
}

/* HEAD: once the head is whole, parse and check it, then look it up. */
static enum conn_state
conn_head(struct conn *c, size_t before)
{
	struct err *err = NULL;
	enum conn_state next;
	const char *end;
	size_t from = before > 3 ? before - 3 : 0, len;

	/* The head ends within HEAD_MAX; a body may follow in the chunk. */
	len = c->in.len < HEAD_MAX + 4 ? c->in.len : HEAD_MAX + 4;
	end = from < len ? memmem(c->in.data + from, len - from, "\r\n\r\n", 4)
	                 : NULL;
	if (end == NULL)
		return c->in.len > HEAD_MAX
		    ? conn_close(c, 431, "request head over 16 KiB")
		    : C_HEAD;
	if (egress_parse(c->in.data, (size_t)(end - c->in.data), &c->t,
	        &c->request, &c->body, &err) == -1) {
		next = conn_close(c, 400, "%s", err->msg);
		err_free(&err);
		return next;
	}
	if (!rules_say_yes(c->eg, &c->t))
		return conn_close(c, 403,
		    c->t.tunnel ? "CONNECT blocked by the network filter"
		                : "request blocked by the network filter");
	len = (size_t)(end + 4 - c->in.data);
	if ((next = conn_forward(c, end + 4, c->in.len - len)) == C_CLOSED)
		return next;
	buf_free(&c->in);
	evtimer_add(c->timer, &dns_deadline);
	c->refs++; /* the lookup's, until resolved() */
	/* NULL when it answered inside (a literal, a hosts-file name). */
	c->dns =
	    resolver_lookup(c->eg->resolver, c->t.host, c->t.port, resolved, c);
	return C_RESOLVE;
}

static const char *
dns_error(int err)
{
	switch (err) {
	case EVUTIL_EAI_NONAME:
		return "no such name";
	case EVUTIL_EAI_NODATA:
		return "the name has no address";
	case EVUTIL_EAI_FAIL:
		return "the DNS server failed or refused to answer";
	default:
		return evutil_gai_strerror(err);
	}
}

static void
up_connected(void *arg)
{
	conn_event(arg, E_CONNECTED, NULL, 0);
}

static void
up_read(struct evbuffer *in, void *arg)
{
	(void)in;
	conn_event(arg, E_UP_READ, NULL, 0);
}

static void
up_closed(const struct err *e, void *arg)
{
	struct conn *c = arg;

	if (e != NULL) {
		free(c->up_why);
		c->up_why = xstrdup(e->msg);
	}
	conn_event(c, E_UP_END, NULL, 0);
}

/* Connect to the next address the rules allow; CONNECT, or the end. */
static enum conn_state
conn_connect(struct conn *c)
{
	static const struct stream_cbs cbs = { up_connected, up_read,
		up_closed };
	struct evutil_addrinfo *ai = c->next_ai;
	int tried = c->state == C_CONNECT;
	struct err *err = NULL;

	for (; ai != NULL; ai = ai->ai_next) {
		if (!c->eg->allow_private && egress_addr_private(ai->ai_addr))
			continue;
		tried = 1;
		stream_free(c->up);
		/* Its callbacks come from the loop, never inside this call. */
		c->up = stream_connect(
		    c->loop, ai->ai_addr, ai->ai_addrlen, &cbs, c, &err);
		if (c->up != NULL) {
			c->next_ai = ai->ai_next;
			return C_CONNECT;
		}
		free(c->up_why);
		c->up_why = xstrdup(err->msg);
		err_free(&err);
	}
	if (!tried)
		return conn_close(c, 403,
		    "%s is or resolves to a private address (blocked)",
		    c->t.host);
	return conn_close(c, 502, "cannot connect to %s port %s: %s", c->t.host,
	    c->t.port, c->up_why ? c->up_why : "the connection failed");
}

/* RESOLVE: the answer came; connect, within EGRESS_CONNECT_MS. */
static enum conn_state
conn_resolved(struct conn *c)
{
	enum conn_state next;

	if (c->dns_err != 0)
		return conn_close(c, 502, "cannot resolve %s: %s", c->t.host,
		    dns_error(c->dns_err));
	c->next_ai = c->ai;
	if ((next = conn_connect(c)) == C_CONNECT) {
		evtimer_del(c->timer);
		evtimer_add(c->timer, &connect_deadline);
	}
	return next;
}

/* CONNECT -> OPEN: the request (or the tunnel's 200) and what waited. */
static enum conn_state
conn_open(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

	evtimer_del(c->timer);
	record(c, 1, NULL);
	if (c->t.tunnel)
		send_conn(c, PROTO_CONN_DATA, ok, sizeof ok - 1);
	else
		stream_write(c->up, c->request.data, c->request.len);
	buf_free(&c->request);
	stream_write(
	    c->up, evbuffer_pullup(c->out, -1), evbuffer_get_length(c->out));
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->answer_head = !c->t.tunnel;
	c->answer.state = EGRESS_BODY_EOF; /* a tunnel ends with upstream */
	return C_OPEN;
}

/*
 * A plain-HTTP answer's head, once whole, to the program with
 * `Connection: close`; 0 while more of it must come first.
 */
static int
conn_answer_head(struct conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), n;
	struct buf out = { 0 };
	const char *p, *end;
	int r;

	n = len < HEAD_MAX + 4 ? len : HEAD_MAX + 4;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	if ((end = memmem(p, n, "\r\n\r\n", 4)) == NULL) {
		if (n < HEAD_MAX + 4 && c->state == C_OPEN)
			return 0;
		c->answer_head = 0; /* not a head we know: as it is */
		return 1;
	}
	r = egress_response_head(p, (size_t)(end - p),
	    strcmp(c->t.method, "HEAD") == 0, &out, &c->answer);
	if (r != -1) {
		send_conn(c, PROTO_CONN_DATA, out.data, out.len);
		evbuffer_drain(in, (size_t)(end + 4 - p));
	}
	c->answer_head = r == 1; /* 1xx: the final head follows */
	buf_free(&out);
	return 1;
}

/*
 * Upstream's bytes to the program while the agent's queue is short (then
 * the timer resumes): 0 if some wait, 1 once all upstream sent is through,
 * 2 when the answer is complete (what may follow it is not forwarded).
 */
static int
conn_flush(struct conn *c)
{
	struct evbuffer *in = stream_input(c->up);
	unsigned char chunk[CHUNK];
	long used;
	int n;

	while (evbuffer_get_length(in) > 0) {
		if (c->eg->send_pending(c->eg->arg) > AGENT_QUEUE_HIGH) {
			stream_read(c->up, 0);
			evtimer_add(c->timer, &resume_after);
			return 0;
		}
		if (c->answer_head && conn_answer_head(c, in) == 0)
			return 0;
		if (c->answer_head)
			continue; /* an interim head went: the next */
		if (c->answer.state == EGRESS_BODY_DONE)
			break; /* what follows the answer is not forwarded */
		if ((n = evbuffer_remove(in, chunk, sizeof chunk)) <= 0)
			break;
		if ((used = egress_body_feed(&c->answer, chunk, (size_t)n)) ==
		    -1) {
			c->answer.state = EGRESS_BODY_EOF; /* as it is */
			used = n;
		}
		send_conn(c, PROTO_CONN_DATA, chunk, (size_t)used);
	}
	return !c->answer_head && c->answer.state == EGRESS_BODY_DONE ? 2 : 1;
}

/* OPEN and DRAIN: relay; at upstream's end, what it sent goes first. */
static enum conn_state
conn_relay(struct conn *c, enum conn_event ev, const void *p, size_t n)
{
	enum conn_state next = c->state;

	switch (ev) {
	case E_DATA:
		return conn_forward(c, p, n);
	case E_TIMER:
		if (c->state == C_OPEN)
			stream_read(c->up, 1);
		break;
	case E_UP_END: /* its last bytes are still in the input */
		next = C_DRAIN;
		break;
	default:
		break;
	}
	switch (conn_flush(c)) {
	case 2:
		return conn_close(c, END_CLOSE, "the answer is complete");
	case 1:
		if (next == C_DRAIN)
			return conn_close(c, END_CLOSE, "upstream closed");
		/* FALLTHROUGH */
	default:
		return next;
	}
}

/* The one place a connection's state moves. */
static void
conn_step(struct conn *c, enum conn_event ev, const void *p, size_t n)
{
	enum conn_state next = c->state;
	size_t before;

	if (c->state == C_CLOSED)
		return;
	if (ev == E_CLOSE)
		next = conn_close(c, END_QUIET, "closed by the program");
	else if (c->state == C_HEAD && ev == E_DATA) {
		before = c->in.len;
		buf_add(&c->in, p, n);
		next = conn_head(c, before);
	} else if (c->state != C_OPEN && c->state != C_DRAIN && ev == E_DATA)
		next = conn_forward(c, p, n);
	else if (c->state == C_RESOLVE && ev == E_TIMER)
		next = conn_close(c, 502,
		    "cannot resolve %s: the DNS server did not answer within %d s",
		    c->t.host, EGRESS_DNS_MS / 1000);
	else if (c->state == C_RESOLVE && ev == E_RESOLVED)
		next = conn_resolved(c);
	else if (c->state == C_CONNECT && ev == E_TIMER)
		next = conn_close(c, 502,
		    "cannot connect to %s port %s: no answer within %d s",
		    c->t.host, c->t.port, EGRESS_CONNECT_MS / 1000);
	else if (c->state == C_CONNECT && ev == E_UP_END)
		next = conn_connect(c);
	else if (c->state == C_CONNECT && ev == E_CONNECTED)
		next = conn_open(c);
	else if (c->state == C_OPEN || c->state == C_DRAIN)
		next = conn_relay(c, ev, p, n);
	if (next == C_CLOSED)
		conn_teardown(c);
	c->state = next;
}

/* Every entry from the loop: a reference for the call, then a step. */
static void
conn_event(struct conn *c, enum conn_event ev, const void *p, size_t n)
{
	c->refs++;
	conn_step(c, ev, p, n);
	conn_unref(c);
}

static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	conn_event(arg, E_TIMER, NULL, 0);
}

/* A CONN_* frame from the agent. */
void
egress_frame(struct egress *eg, int type, const unsigned char *p, uint32_t len)
{
	struct event_base *base = loop_base(eg->loop);
	struct conn *c;
	uint32_t id;

	if (proto_conn_decode(p, len, &id) == -1)
		return;
	TAILQ_FOREACH (c, &eg->conns, entry)
		if (c->id == id)
			break;
	if (type == PROTO_CONN_OPEN && c == NULL) {
		if (eg->nconns == EGRESS_CONNS_MAX) {
			struct proto_buf pb = { 0 };

			proto_conn_frame(&pb, PROTO_CONN_CLOSE, id, NULL, 0);
			eg->send(&pb, eg->arg);
			proto_buf_free(&pb);
			return;
		}
		c = xcalloc(1, sizeof *c);
		c->eg = eg;
		c->loop = eg->loop;
		c->id = id;
		c->refs = 1; /* the list's */
		c->timer = evtimer_new(base, conn_timer, c);
		c->wake = event_new(base, -1, 0, conn_wake, c);
		c->out = evbuffer_new();
		TAILQ_INSERT_TAIL(&eg->conns, c, entry);
		eg->nconns++;
	} else if (type == PROTO_CONN_DATA && c != NULL)
		conn_event(c, E_DATA, p + 4, len - 4);
	else if (type == PROTO_CONN_CLOSE && c != NULL)
		conn_event(c, E_CLOSE, NULL, 0);
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

/*
 * The proxy of one run: its frames to the agent go through send (pending
 * tells how much waits there), its rules are compiled here.
 */
struct egress *
egress_new(struct loop *loop, struct resolver *resolver,
    const struct egress_rules *rules, egress_send_cb send,
    egress_pending_cb pending, void *arg, struct err **errp)
{
	struct egress *eg = xcalloc(1, sizeof *eg);

	eg->loop = loop;
	eg->resolver = resolver;
	eg->send = send;
	eg->send_pending = pending;
	eg->arg = arg;
	eg->allow_private = rules->allow_private;
	eg->with_port = rules->with_port;
	TAILQ_INIT(&eg->conns);
	if (compile(&eg->allow, &eg->nallow, rules->allow, rules->nallow,
	        "--allow", errp) == -1 ||
	    compile(&eg->deny, &eg->ndeny, rules->deny, rules->ndeny, "--deny",
	        errp) == -1) {
		egress_free(eg);
		return NULL;
	}
	return eg;
}

/*
 * Hand the recorded decisions to the caller (who frees them with
 * egress_events_free()); *dropped counts those beyond the bound.
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

/*
 * The run ended: every connection closes, quietly. One still waiting for
 * its lookup's callback lives on until it comes (it needs nothing here).
 */
void
egress_free(struct egress *eg)
{
	size_t i;

	if (eg == NULL)
		return;
	while (!TAILQ_EMPTY(&eg->conns)) {
		conn_close(TAILQ_FIRST(&eg->conns), END_QUIET, "the run ended");
		conn_event(TAILQ_FIRST(&eg->conns), E_CLOSE, NULL, 0);
	}
	egress_events_free(eg->events, eg->nevents);
	for (i = 0; i < eg->nallow; i++)
		regfree(&eg->allow[i]);
	for (i = 0; i < eg->ndeny; i++)
		regfree(&eg->deny[i]);
	free(eg->allow);
	free(eg->deny);
	free(eg);
}
