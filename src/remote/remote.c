/*
 * The remote backend (remote.h): one struct remote per engine (its HTTP
 * client and the server's URL and key), one struct remote_run per run.
 *
 * A run is one POST /execute/stream. Its states:
 *
 *	RR_WAITING    the transfer is under way and no answer came yet:
 *	              connecting, sending the request, the server deciding
 *	RR_STREAMING  the answer's status came: events are read as they come,
 *	              output goes to the callbacks, the `exit` event is kept
 *	RR_DONE       on_done was called; the run is freed
 *
 * Callbacks (the transfer's data, progress and end, the stall timer, a
 * cancel) record what happened and call remote_step(), which alone
 * decides; remote_run_close() is the one teardown. A server that stops
 * answering cannot hold a run forever: libcurl bounds the connection
 * (connect_ms), and from then on nothing received or sent for stall_ms
 * ends the run (ISOL8_EUNAVAILABLE, "stalled") -- a server sends an SSE
 * heartbeat at least every two of its heartbeatMs, so 3 x 15 s is a
 * silence no live server makes. The stall timer is one event, armed for
 * the deadline and re-armed by the step for what is left: data only
 * moves `quiet_since`, it never touches the timer. The judgement when
 * the transfer ends: a transport error before any answer is
 * ISOL8_EUNAVAILABLE (the server cannot be reached); a status other than
 * 200 is the server's refusal (its JSON error, with the status); a
 * stream that ends without `exit` is ISOL8_ELOST; else the `exit`
 * event's result, or its error.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "sse.h"

enum rr_state {
	RR_WAITING,
	RR_STREAMING,
	RR_DONE,
};

struct remote_run {
	struct remote *rm;
	enum rr_state state;
	struct http_req *http; /* NULL once the transfer ended */
	struct sse sse;
	struct isol8_callbacks cbs;
	void *arg;
	struct event *wake;  /* a step on a later turn (a cancel) */
	struct event *stall; /* the step at the stall deadline */
	uint64_t t_start;
	uint64_t quiet_since; /* the last byte either way (ms), 0: none */

	/* What happened: recorded by callbacks, judged by remote_step(). */
	long status;           /* the HTTP status, once known */
	struct buf errbody;    /* a refusal's JSON (at most REMOTE_MAX_ERROR) */
	struct buf exit_json;  /* the `exit` event's data */
	int started;           /* the `start` event came: it may have run */
	int exited;            /* ... and `exit` */
	struct err *xfer_err;  /* the transfer failed */
	struct err *event_err; /* an event was malformed or over its bound */
	int cancel;            /* 1: cancelled; 2: the engine shuts down */

	TAILQ_ENTRY(remote_run) entry;
};

static void remote_step(struct remote_run *);

/*
 * The backend for the server at url (http:// or https://; TLS verified
 * against the system's CA bundle) with an API key, and its bounds on a
 * server that does not answer (the engine's options, checked: not 0).
 */
struct remote *
remote_new(struct loop *loop, const char *url, const char *key,
    uint64_t connect_ms, uint64_t stall_ms, struct err **errp)
{
	struct remote *rm;
	size_t n;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return err_set(errp, ERR_INVALID,
		           "remote_url must start with http:// or https://, got `%.64s`",
		           url),
		       NULL;
	if (key == NULL || key[0] == '\0')
		return err_set(errp, ERR_INVALID,
		           "an API key is required with remote_url (the server's --key or --keys)"),
		       NULL;
	if (strpbrk(key, "\r\n") != NULL || strpbrk(url, "\r\n ") != NULL)
		return err_set(errp, ERR_INVALID,
		           "the API key or URL holds a line break or a space"),
		       NULL;
	rm = xcalloc(1, sizeof *rm);
	rm->loop = loop;
	rm->connect_ms = connect_ms;
	rm->stall_ms = stall_ms;
	TAILQ_INIT(&rm->runs);
	TAILQ_INIT(&rm->ops);
	if ((rm->http = http_new(loop, NULL, 64, errp)) == NULL) {
		free(rm);
		return NULL;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--; /* "http://h:3000/" and "http://h:3000" alike */
	rm->base = xasprintf("%.*s", (int)n, url);
	rm->url = xasprintf("%s/execute/stream", rm->base);
	rm->auth = xasprintf("Authorization: Bearer %s", key);
	return rm;
}

/* Engine shutdown: every run ends now (ISOL8_ECANCELLED), then the rest. */
void
remote_free(struct remote *rm)
{
	struct remote_run *rr;

	if (rm == NULL)
		return;
	while ((rr = TAILQ_FIRST(&rm->runs)) != NULL) {
		rr->cancel = 2;
		remote_step(rr);
	}
	remote_session_abort(rm);
	http_free(rm->http);
	free(rm->base);
	free(rm->url);
	explicit_bzero(rm->auth, strlen(rm->auth));
	free(rm->auth);
	free(rm);
}

/* The one teardown: the transfer stopped, on_done once, the run freed. */
static void
remote_run_close(struct remote_run *rr, const struct isol8_result *res,
    const struct isol8_error *why)
{
	struct isol8_result none;

	if (rr->http != NULL)
		http_req_cancel(rr->http);
	rr->http = NULL;
	rr->state = RR_DONE;
	TAILQ_REMOVE(&rr->rm->runs, rr, entry);
	if (res == NULL) {
		memset(&none, 0, sizeof none);
		none.total_ms = now_ms() - rr->t_start;
		none.may_have_run = rr->started;
		res = &none;
	}
	rr->cbs.on_done(res, why, rr->arg);
	event_free(rr->wake);
	event_free(rr->stall);
	sse_free(&rr->sse);
	buf_free(&rr->errbody);
	buf_free(&rr->exit_json);
	err_free(&rr->xfer_err);
	err_free(&rr->event_err);
	free(rr);
}

/* End with an error of this code and message. */
static void remote_fail(struct remote_run *rr, enum isol8_code code,
    const char *fmt, ...) PRINTFLIKE(3, 4);
static void
remote_fail(struct remote_run *rr, enum isol8_code code, const char *fmt, ...)
{
	struct isol8_error e;
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof e.message, fmt, ap);
	va_end(ap);
	remote_run_close(rr, NULL, &e);
}

/*
 * A refusal (a status other than 200) as an error: its status and the
 * server's word (the body's JSON error, at most REMOTE_MAX_ERROR bytes).
 */
void
remote_refusal(long status, const struct buf *body, struct isol8_error *out)
{
	struct err *e = NULL;
	const char *msg = NULL, *name = NULL;
	yajl_val v = NULL;

	if (body->len > 0 && body->len <= REMOTE_MAX_ERROR &&
	    (v = json_parse(body->data, body->len, &e)) != NULL) {
		msg = json_str(v, "error", NULL);
		name = json_str(v, "errorCode", NULL);
	}
	err_free(&e);
	/* What the request or its key may not do: a usage error. */
	if (status == 400 || status == 401 || status == 403 || status == 413)
		out->code = ISOL8_EINVAL;
	else
		out->code = isol8_code_from_name(name);
	snprintf(out->message, sizeof out->message,
	    "the isol8 server answered %ld: %s", status,
	    msg != NULL         ? msg
	        : status == 401 ? "a wrong or missing API key"
	        : status == 431 ? "request headers too large"
	                        : "no error message");
	yajl_tree_free(v);
}

/* The transfer is over: what it amounted to (see the top of the file). */
static void
remote_judge(struct remote_run *rr)
{
	struct remote_result res;
	struct isol8_error e;
	struct err *err = NULL;

	if (rr->event_err != NULL)
		remote_fail(rr, ISOL8_EINTERNAL,
		    "the isol8 server's event stream: %s", rr->event_err->msg);
	else if (rr->status != 200 && rr->status != 0) {
		remote_refusal(rr->status, &rr->errbody, &e);
		remote_run_close(rr, NULL, &e);
	} else if (rr->xfer_err != NULL && rr->status == 0 &&
	    rr->xfer_err->kind == ERR_TIMEOUT) /* the only timeout set */
		remote_fail(rr, ISOL8_EUNAVAILABLE,
		    "cannot reach the isol8 server at %s: no connection within %llu ms (remote.connectTimeoutMs, remote_connect_ms)",
		    rr->rm->url, (unsigned long long)rr->rm->connect_ms);
	else if (rr->xfer_err != NULL && rr->status == 0)
		remote_fail(rr, ISOL8_EUNAVAILABLE,
		    "cannot reach the isol8 server at %s: %s", rr->rm->url,
		    rr->xfer_err->msg);
	else if (!rr->exited)
		remote_fail(rr, ISOL8_ELOST,
		    "the isol8 server's stream ended before the run did%s%s",
		    rr->xfer_err != NULL ? ": " : "",
		    rr->xfer_err != NULL ? rr->xfer_err->msg : "");
	else if (remote_result_read(
	             rr->exit_json.data, rr->exit_json.len, &res, &err) == -1) {
		remote_fail(rr, ISOL8_EINTERNAL,
		    "the isol8 server's result: %s", err->msg);
		remote_result_free(&res);
		err_free(&err);
	} else {
		if (res.error != NULL) {
			e.code = res.code;
			snprintf(e.message, sizeof e.message, "%s", res.error);
		}
		remote_run_close(rr, &res.res, res.error != NULL ? &e : NULL);
		remote_result_free(&res);
	}
}

/* Nothing either way for stall_ms: the server is hung, or the path to it. */
static void
remote_stalled(struct remote_run *rr)
{
	unsigned long long ms = (unsigned long long)rr->rm->stall_ms;

	if (rr->state == RR_WAITING)
		remote_fail(rr, ISOL8_EUNAVAILABLE,
		    "the isol8 server at %s did not answer: nothing came for %llu ms (the bound: --stall-timeout, remote.stallTimeoutMs, remote_stall_ms)",
		    rr->rm->base, ms);
	else
		remote_fail(rr, ISOL8_EUNAVAILABLE,
		    "the isol8 server at %s stalled: nothing came for %llu ms mid-run, where a server sends a heartbeat every 15 s by default (server.heartbeatMs)%s (the bound: --stall-timeout, remote.stallTimeoutMs, remote_stall_ms)",
		    rr->rm->base, ms,
		    rr->started ? "; the run may have run" : "");
}

/* The stall timer: a step in ms. */
static void
remote_arm(struct remote_run *rr, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(rr->stall, &tv);
}

/* The only place a run's fate is decided. */
static void
remote_step(struct remote_run *rr)
{
	uint64_t now, deadline;

	if (rr->state == RR_DONE)
		return;
	if (rr->cancel) {
		remote_fail(rr, ISOL8_ECANCELLED, "%s",
		    rr->cancel == 2 ? "the engine is shutting down"
		                    : "cancelled");
		return;
	}
	if (rr->http == NULL) {
		remote_judge(rr);
		return;
	}
	/* Still under way: the answer's status came, or not yet. */
	if (rr->state == RR_WAITING && http_req_status(rr->http) != 0)
		rr->state = RR_STREAMING;
	now = now_ms();
	/* Before any byte moved, the connection may take connect_ms
	 * (libcurl bounds it): the silence counts from there. */
	deadline = rr->quiet_since != 0
	    ? rr->quiet_since + rr->rm->stall_ms
	    : rr->t_start + rr->rm->connect_ms + rr->rm->stall_ms;
	if (now >= deadline) {
		remote_stalled(rr);
		return;
	}
	remote_arm(rr, deadline - now);
}

static void
remote_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	remote_step(arg);
}

/* A chunk of output: {"data": "..."} or {"base64": "..."}. */
static int
remote_output(struct remote_run *rr, int stream, const char *data, size_t len)
{
	struct err *e = NULL;
	struct buf b = { 0 };
	const char *s;
	yajl_val v;

	if ((v = json_parse(data, len, &e)) == NULL) {
		rr->event_err = e;
		return -1;
	}
	if ((s = json_str(v, "data", NULL)) != NULL)
		buf_add(&b, s, strlen(s));
	else if ((s = json_str(v, "base64", NULL)) == NULL ||
	    base64_decode(&b, s, strlen(s)) == -1) {
		rr->event_err = err_new(ERR_PROTO, "malformed output event");
		yajl_tree_free(v);
		buf_free(&b);
		return -1;
	}
	yajl_tree_free(v);
	if (b.len > 0)
		(stream == 1 ? rr->cbs.on_stdout : rr->cbs.on_stderr)(
		    b.data, b.len, rr->arg);
	buf_free(&b);
	/* A callback may have cancelled the run: read no further. */
	return rr->cancel ? -1 : 0;
}

/* One event of the stream (sse.h); -1 stops reading it. */
static int
remote_event(const char *name, const char *data, size_t len, void *arg)
{
	struct remote_run *rr = arg;

	if (strcmp(name, "stdout") == 0 || strcmp(name, "stderr") == 0) {
		if ((name[3] == 'o' ? rr->cbs.on_stdout : rr->cbs.on_stderr) ==
		    NULL)
			return 0;
		return remote_output(rr, name[3] == 'o' ? 1 : 2, data, len);
	}
	if (strcmp(name, "start") == 0)
		rr->started = 1;
	else if (strcmp(name, "exit") == 0 && !rr->exited) {
		buf_add(&rr->exit_json, data, len);
		rr->exited = 1;
	}
	return 0; /* unknown events: a later server's, skipped */
}

/* The response body as it arrives (inside libcurl: record only). */
static int
remote_data(const char *data, size_t len, void *arg)
{
	struct remote_run *rr = arg;

	if (rr->cancel)
		return -1;
	rr->quiet_since = now_ms();
	rr->status = http_req_status(rr->http);
	if (rr->status != 200) {
		if (rr->errbody.len + len <= REMOTE_MAX_ERROR)
			buf_add(&rr->errbody, data, len);
		return 0;
	}
	return sse_feed(&rr->sse, data, len, remote_event, rr, &rr->event_err);
}

/* Bytes moved, either way (inside libcurl: record only). */
static void
remote_progress(void *arg)
{
	struct remote_run *rr = arg;

	rr->quiet_since = now_ms();
}

static void
remote_done(struct http_req *req, const struct err *e, void *arg)
{
	struct remote_run *rr = arg;

	rr->status = http_req_status(req);
	rr->http = NULL;
	if (e != NULL)
		rr->xfer_err = err_dup(e);
	remote_step(rr);
}

/* Every address is fine: the caller chose the server. */
static int
remote_addr_ok(const struct sockaddr *sa, void *arg)
{
	(void)sa, (void)arg;
	return 1;
}

/*
 * Start a run on the server; NULL (errp) for what the API cannot carry.
 * The transfer starts from the loop: on_done never runs inside this call.
 */
struct remote_run *
remote_run_start(struct remote *rm, const struct isol8_request *req,
    const struct isol8_callbacks *cbs, void *arg, struct err **errp)
{
	struct remote_run *rr;
	struct buf body = { 0 };

	if (remote_request_write(req, &body, errp) == -1)
		return NULL;
	rr = xcalloc(1, sizeof *rr);
	rr->rm = rm;
	rr->cbs = *cbs;
	rr->arg = arg;
	rr->t_start = now_ms();
	sse_init(&rr->sse, REMOTE_MAX_EVENT);
	rr->wake = event_new(loop_base(rm->loop), -1, 0, remote_wake_cb, rr);
	rr->stall = evtimer_new(loop_base(rm->loop), remote_wake_cb, rr);
	rr->http = http_req_new(rm->http, "POST", rm->url);
	http_req_header(rr->http, rm->auth);
	http_req_header(rr->http, "Content-Type: application/json");
	http_req_header(rr->http, "Accept: text/event-stream");
	http_req_body(rr->http, body.data, body.len);
	http_req_outside(rr->http, "http,https", remote_addr_ok, NULL);
	http_req_connect_timeout(rr->http, (long)rm->connect_ms);
	http_req_stream(rr->http, remote_data, rr);
	http_req_progress(rr->http, remote_progress, rr);
	TAILQ_INSERT_TAIL(&rm->runs, rr, entry);
	http_req_submit(rr->http, remote_done, rr);
	buf_free(&body);
	remote_arm(rr, rm->stall_ms); /* the step re-arms for what is left */
	return rr;
}

/* Abort the transfer (the server cancels the run); on_done follows. */
void
remote_run_cancel(struct remote_run *rr)
{
	if (rr->state == RR_DONE || rr->cancel)
		return;
	rr->cancel = 1;
	event_active(rr->wake, EV_TIMEOUT, 0);
}
