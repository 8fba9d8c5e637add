/*
 * A request, from the moment evhttp hands it over (headers and body read)
 * to its last byte or its client's going away:
 *
 *	QUEUED --(a slot: ops->start)--> WORKING --(runs over)--> CLOSED
 *	   \______________(client gone, or the grace is over)______/
 *
 * What a kind of request does (one run, a batch, a session call) is its
 * req_ops; what every request shares is here: the client's presence,
 * replies (whole, or streamed), admission slots, the one close.
 *
 * The client's going away is a fact recorded from two places: evhttp's
 * close callback (it notices while a reply streams: it reads for the end)
 * and, before any reply, a watch on the socket (EV_CLOSED; evhttp stops
 * reading once a request is in, so a client that leaves during a 30 s
 * /execute would otherwise go unnoticed and its run would go on). Either
 * way req_step() cancels the request's runs exactly once (ops->cancel) and
 * the request lives until their on_done came: the engine never calls back
 * into freed memory.
 *
 * evhttp's request: r->h is ours until a reply is handed over (then evhttp
 * frees it) or the client went (evhttp detached it and it is ours to free,
 * or we freed the connection and it went with it); r->h is NULL after.
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server.h"

static void req_close(struct server_req *, enum req_end);

/* The status for an engine error code (docs/api.md "Errors"). */
int
req_status_for(enum isol8_code c)
{
	switch (c) {
	case ISOL8_EINVAL:
		return 400;
	case ISOL8_ELIMIT:
		return 413;
	case ISOL8_ENOTFOUND:
		return 404;
	case ISOL8_EUNAVAILABLE:
	case ISOL8_ENOIMAGE:
	case ISOL8_ECANCELLED:
		return 503;
	default:
		return 500;
	}
}

static void
req_metric_status(struct server *s, int status)
{
	int cls = status / 100;

	s->m.requests[cls >= 1 && cls <= 5 ? cls : 0]++;
}

/* Stop watching the socket ourselves (a reply goes out, or it is gone). */
static void
req_unwatch(struct server_req *r)
{
	if (r->watch != NULL)
		event_free(r->watch);
	r->watch = NULL;
}

/* The reply goes to evhttp: no close callback of ours any more. */
static void
req_detach(struct server_req *r)
{
	struct evhttp_connection *evcon;

	req_unwatch(r);
	if (r->h != NULL &&
	    (evcon = evhttp_request_get_connection(r->h)) != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
}

/* The client went away: record it, let go of evhttp's request. */
static void
req_gone(struct server_req *r)
{
	if (r->gone)
		return;
	r->gone = 1;
	r->conn = NULL;
	r->s->m.client_gone++;
	log_info(r->s->o.log, "request %llu: the client went away",
	    (unsigned long long)r->id);
}

/* evhttp: the connection closes under a request not yet answered. */
static void
req_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct server_req *r = arg;

	(void)evcon;
	req_unwatch(r);
	/* evhttp detached the request from the connection: ours to free. */
	if (r->h != NULL)
		evhttp_request_free(r->h);
	r->h = NULL;
	req_gone(r);
	req_defer_step(r);
}

/*
 * Our watch on the socket before any reply: the peer closed (EV_CLOSED,
 * or a peek reads the end or an error). Bytes waiting (a pipelined
 * request) say nothing: the watch stops, evhttp reads them later.
 */
static void
req_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server_req *r = arg;
	struct evhttp_connection *evcon;
	ssize_t n;
	char c;

	if (!(what & EV_CLOSED)) {
		n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0) {
			req_unwatch(r);
			return;
		}
		if (n == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
	}
	/* Gone: drop the connection (and the request with it). */
	req_unwatch(r);
	if (r->h != NULL &&
	    (evcon = evhttp_request_get_connection(r->h)) != NULL) {
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		evhttp_connection_free(evcon);
	}
	r->h = NULL;
	req_gone(r);
	req_step(r);
}

static void
req_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	req_step(arg);
}

/* A request object for evhttp's request h, watched from now on. */
struct server_req *
req_new(struct server *s, struct evhttp_request *h, const struct req_ops *ops,
    void *kind)
{
	struct server_req *r = xcalloc(1, sizeof *r);
	struct evhttp_connection *evcon = evhttp_request_get_connection(h);
	evutil_socket_t fd;

	r->s = s;
	r->ops = ops;
	r->kind = kind;
	r->h = h;
	r->id = ++s->next_run_id;
	r->t0 = now_ms();
	r->state = REQ_QUEUED;
	r->conn = conn_find(s, evcon);
	r->wake = event_new(s->base, -1, 0, req_wake_cb, r);
	evhttp_connection_set_closecb(evcon, req_closecb, r);
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd != -1) {
		r->watch = event_new(s->base, fd,
		    EV_READ | EV_CLOSED | EV_PERSIST, req_watch_cb, r);
		event_add(r->watch, NULL);
	}
	TAILQ_INSERT_TAIL(&s->reqs, r, entry);
	s->nreqs++;
	return r;
}

/* A step on a later turn (from inside evhttp or engine callbacks). */
void
req_defer_step(struct server_req *r)
{
	event_active(r->wake, EV_TIMEOUT, 0);
}

/* Common headers of every answer. */
static void
req_headers(struct evhttp_request *h, const char *type)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(h);

	evhttp_add_header(hd, "Content-Type", type);
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "Server", "isol8/" ISOL8_VERSION);
}

/* A whole reply (body may be NULL); the request is then evhttp's. */
void
req_reply(struct server_req *r, int status, const char *type, struct buf *body)
{
	struct evbuffer *out;

	if (r->h == NULL || r->streaming)
		return;
	req_metric_status(r->s, status);
	req_detach(r);
	req_headers(r->h, type != NULL ? type : "application/json");
	if (r->s->state != SERVER_RUNNING)
		evhttp_add_header(evhttp_request_get_output_headers(r->h),
		    "Connection", "close");
	out = evbuffer_new();
	if (body != NULL && body->len > 0)
		evbuffer_add(out, body->data, body->len);
	evhttp_send_reply(r->h, status, NULL, out);
	evbuffer_free(out);
	r->h = NULL;
}

/* {"error": "...", "errorCode": "..."} with its status. */
static void
error_body(struct buf *b, enum isol8_code code, const char *msg)
{
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	json_kstr(g, "error", msg);
	json_kstr(g, "errorCode", isol8_code_name(code));
	yajl_gen_map_close(g);
	json_gen_take(g, b);
	buf_addstr(b, "\n");
}

void
req_error(struct server_req *r, int status, enum isol8_code code,
    const char *fmt, ...)
{
	struct buf b = { 0 };
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	error_body(&b, code, msg);
	req_reply(r, status, NULL, &b);
	free(msg);
	buf_free(&b);
}

/*
 * An error answer to a request that never became an object (a bad route,
 * auth, a bad body): the request is evhttp's again at once.
 */
void
req_refuse(struct server *s, struct evhttp_request *h, int status,
    enum isol8_code code, const char *msg)
{
	struct evbuffer *out = evbuffer_new();
	struct buf b = { 0 };

	error_body(&b, code, msg);
	req_metric_status(s, status);
	req_headers(h, "application/json");
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(h),
		    "WWW-Authenticate", "Bearer realm=\"isol8\"");
	if (status == 429 || status == 503)
		evhttp_add_header(
		    evhttp_request_get_output_headers(h), "Retry-After", "1");
	if (s->state != SERVER_RUNNING)
		evhttp_add_header(evhttp_request_get_output_headers(h),
		    "Connection", "close");
	evbuffer_add(out, b.data, b.len);
	evhttp_send_reply(h, status, NULL, out);
	evbuffer_free(out);
	buf_free(&b);
}

/*
 * A streamed reply starts (SSE, JSON lines): 200 now, the body as it
 * comes. evhttp watches the connection from here on (it reads for the
 * close while it writes), so our watch stops; its close callback stays.
 */
void
req_stream_start(struct server_req *r, const char *type)
{
	if (r->h == NULL || r->streaming)
		return;
	req_metric_status(r->s, 200);
	req_unwatch(r);
	req_headers(r->h, type);
	evhttp_add_header(
	    evhttp_request_get_output_headers(r->h), "X-Accel-Buffering", "no");
	evhttp_send_reply_start(r->h, 200, "OK");
	r->streaming = 1;
}

void
req_stream_write(struct server_req *r, const void *data, size_t len)
{
	struct evbuffer *b;

	if (r->h == NULL || !r->streaming || len == 0)
		return;
	b = evbuffer_new();
	evbuffer_add(b, data, len);
	evhttp_send_reply_chunk(r->h, b);
	evbuffer_free(b);
}

/* Bytes written but not yet taken by the client (for backpressure). */
size_t
req_stream_pending(struct server_req *r)
{
	struct evhttp_connection *evcon;

	if (r->h == NULL ||
	    (evcon = evhttp_request_get_connection(r->h)) == NULL)
		return 0;
	return evbuffer_get_length(
	    bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)));
}

void
req_stream_end(struct server_req *r)
{
	if (r->h == NULL || !r->streaming)
		return;
	req_detach(r);
	evhttp_send_reply_end(r->h);
	r->h = NULL;
}

/* A run (or engine call) of the request ended: its slot goes back. */
void
req_run_done(struct server_req *r)
{
	r->runs--;
	admit_release(r);
}

/*
 * The one place a request moves: cancel once when its client went or the
 * server's grace is over, start runs for the slots granted, and close when
 * nothing is in flight and nothing more will start.
 */
void
req_step(struct server_req *r)
{
	if (r->state == REQ_CLOSED)
		return;
	if ((r->gone || r->s->grace_over) && !r->cancelled) {
		r->cancelled = 1;
		if (r->queued)
			admit_leave(r);
		if (r->ops->cancel != NULL)
			r->ops->cancel(r);
	}
	while (r->granted > 0) {
		r->granted--;
		if (r->cancelled || r->finished) {
			admit_release(r);
			continue;
		}
		r->state = REQ_WORKING;
		if (r->ops->start(r) == 0)
			r->runs++;
		else
			admit_release(r);
	}
	if (!r->cancelled && !r->finished && !r->queued &&
	    r->ops->wants != NULL && r->ops->wants(r))
		admit_want(r, 1);
	if (r->runs > 0 || r->queued || (!r->finished && !r->cancelled))
		return;
	if (r->ops->finish != NULL)
		r->ops->finish(r);
	req_close(r, r->gone ? REQ_END_GONE : REQ_END_DONE);
}

/* The one end of a request: answer what was not answered, free. */
static void
req_close(struct server_req *r, enum req_end why)
{
	struct server *s = r->s;

	r->state = REQ_CLOSED;
	req_unwatch(r);
	if (r->h != NULL && r->streaming)
		req_stream_end(r);
	else if (r->h != NULL)
		req_error(r, 500, ISOL8_EINTERNAL,
		    "the request ended without an answer");
	if (r->conn != NULL && why != REQ_END_GONE)
		r->conn = NULL;
	log_debug(s->o.log, "request %llu (%s): %s after %llu ms",
	    (unsigned long long)r->id, r->ops->name,
	    why == REQ_END_GONE ? "client gone" : "done",
	    (unsigned long long)(now_ms() - r->t0));
	if (r->ops->free != NULL)
		r->ops->free(r);
	if (r->key != NULL)
		key_unref(&s->keys, r->key);
	free(r->fail_msg);
	event_free(r->wake);
	TAILQ_REMOVE(&s->reqs, r, entry);
	s->nreqs--;
	free(r);
	if (s->state == SERVER_DRAINING && s->nreqs == 0)
		server_drained(s);
}
