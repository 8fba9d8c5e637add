/*
 * HTTP over libcurl's multi_socket interface, driven by libevent (the
 * hiperfifo pattern, research/style-anchors.md §6). This is the only file
 * that touches curl_multi_*.
 *
 * Invariants:
 * - a submitted request ends exactly once: its done callback runs from
 *   http_check_done(), never from inside a libcurl callback, so it may
 *   submit or cancel other requests -- or it is cancelled, and then the
 *   callback never runs (the one cancel contract of every layer above);
 * - a cancelled request's handle is taken out of libcurl and freed on a
 *   later turn (the `reap` event), never inside a libcurl callback;
 * - nothing here exits the process: a libcurl failure fails the request;
 * - the timer is never deleted because the running count fell to zero: a
 *   completion callback may just have queued the next request, whose 0 ms
 *   timeout would otherwise be lost (seen in curl's own example);
 * - response bodies are capped (max_body) or streamed to a callback, never
 *   grown without bound;
 * - the data and progress callbacks run inside libcurl: they only record
 *   (their callers act on a later turn of the loop);
 * - a request to the outside world (http_req_outside; the client made
 *   without a unix socket) uses only the protocols it names, no proxy,
 *   follows no redirect, and connects only to addresses its caller's check
 *   lets through -- checked at connect time, so a name that resolves
 *   differently later (DNS rebinding) is checked again.
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "loop.h"

#define HTTP_DEFAULT_MAX_BODY (4u << 20)

struct http {
	struct loop *loop;
	CURLM *multi;
	struct event *timer;
	struct event *reap; /* active while cancelled requests wait */
	char *unix_path;
	TAILQ_HEAD(, http_req) reqs;  /* submitted, running */
	TAILQ_HEAD(, http_req) dying; /* cancelled, to be freed */
};

struct http_sock {
	struct http *h;
	curl_socket_t fd;
	struct event *ev;
};

struct http_req {
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	enum {
		HTTP_REQ_NEW,
		HTTP_REQ_RUNNING,
		HTTP_REQ_FAILED, /* could not start: fails on the next turn */
		HTTP_REQ_CANCELLED,
	} state;
	char *body;
	size_t body_len;
	int body_fd;
	struct buf resp;
	size_t max_body;
	int overflow;
	http_data_cb data_cb;
	void *data_arg;
	http_addr_cb addr_cb; /* http_req_outside: may this address be used */
	void *addr_arg;
	http_progress_cb progress_cb; /* bytes moved, either way */
	void *progress_arg;
	curl_off_t sent, received; /* what progress_cb saw last */
	int data_aborted;
	http_done_cb done_cb;
	void *done_arg;
	long status;
	char errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(http_req) entry;
};

static int http_socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int http_timer_cb(CURLM *, long, void *);
static void http_event_cb(evutil_socket_t, short, void *);
static void http_timeout_cb(evutil_socket_t, short, void *);
static void http_check_done(struct http *);
static void http_req_free(struct http_req *);
static void http_reap_cb(evutil_socket_t, short, void *);

struct http *
http_new(
    struct loop *loop, const char *unix_path, long max_conns, struct err **errp)
{
	struct http *h = xcalloc(1, sizeof *h);

	h->loop = loop;
	/* NULL: each URL's own host (http_req_outside), not dockerd's. */
	h->unix_path = unix_path != NULL ? xstrdup(unix_path) : NULL;
	TAILQ_INIT(&h->reqs);
	TAILQ_INIT(&h->dying);
	h->timer = evtimer_new(loop_base(loop), http_timeout_cb, h);
	h->reap = event_new(loop_base(loop), -1, 0, http_reap_cb, h);
	if ((h->multi = curl_multi_init()) == NULL || h->timer == NULL ||
	    h->reap == NULL) {
		http_free(h);
		err_set(errp, ERR_SYS, "cannot set up libcurl");
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* Bounded connections to dockerd; idle ones are kept for reuse. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, max_conns);
	return h;
}

/* Take cancelled and failed requests out of libcurl and free them. */
static void
http_reap(struct http *h)
{
	struct http_req *r;

	while ((r = TAILQ_FIRST(&h->dying)) != NULL) {
		TAILQ_REMOVE(&h->dying, r, entry);
		if (r->easy != NULL)
			curl_multi_remove_handle(h->multi, r->easy);
		http_req_free(r);
	}
}

/* Cancel what is in flight (without callbacks) and free everything. */
void
http_free(struct http *h)
{
	struct http_req *r;

	if (h == NULL)
		return;
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL) {
		TAILQ_REMOVE(&h->reqs, r, entry);
		TAILQ_INSERT_TAIL(&h->dying, r, entry);
	}
	if (h->multi != NULL) {
		http_reap(h);
		/* This may still call http_socket_cb with CURL_POLL_REMOVE. */
		curl_multi_cleanup(h->multi);
	}
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->reap != NULL)
		event_free(h->reap);
	free(h->unix_path);
	free(h);
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * nmemb;

	if (r->state == HTTP_REQ_CANCELLED)
		return 0;
	if (r->data_cb != NULL) {
		if (r->data_cb(data, len, r->data_arg) == -1) {
			r->data_aborted = 1;
			return 0;
		}
		return len;
	}
	if (r->resp.len + len > r->max_body) {
		r->overflow = 1;
		return 0;
	}
	buf_add(&r->resp, data, len);
	return len;
}

static size_t
http_read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	ssize_t n;

	/* A regular file: reads do not block on the network. */
	do
		n = read(r->body_fd, dst, size * nmemb);
	while (n == -1 && errno == EINTR);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/*
 * A request, not yet submitted. It cannot fail here: if libcurl cannot
 * make a handle, the request fails when submitted, from the loop.
 */
struct http_req *
http_req_new(struct http *h, const char *method, const char *url)
{
	struct http_req *r = xcalloc(1, sizeof *r);

	r->h = h;
	r->body_fd = -1;
	r->max_body = HTTP_DEFAULT_MAX_BODY;
	buf_init(&r->resp);
	r->headers = curl_slist_append(NULL, "Expect:");
	if ((r->easy = curl_easy_init()) == NULL || r->headers == NULL) {
		r->state = HTTP_REQ_FAILED;
		return r;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	if (h->unix_path != NULL)
		curl_easy_setopt(
		    r->easy, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	/* (The "Expect:" header above: no 100-continue round trip.) */
	return r;
}

void
http_req_header(struct http_req *r, const char *line)
{
	struct curl_slist *l;

	if (r->state == HTTP_REQ_FAILED)
		return;
	if ((l = curl_slist_append(r->headers, line)) == NULL)
		r->state = HTTP_REQ_FAILED;
	else
		r->headers = l;
}

/* A request body, copied. */
void
http_req_body(struct http_req *r, const void *data, size_t len)
{
	free(r->body);
	r->body = xmemdup(data, len);
	r->body_len = len;
	if (r->easy == NULL)
		return;
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
}

/* A request body read from a regular file; the request closes fd. */
void
http_req_body_fd(struct http_req *r, int fd, off_t size)
{
	r->body_fd = fd;
	if (r->easy == NULL)
		return;
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(
	    r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, http_read_cb);
	curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
}

/* Hand the response body to cb as it arrives; cb returns -1 to abort. */
void
http_req_stream(struct http_req *r, http_data_cb cb, void *arg)
{
	r->data_cb = cb;
	r->data_arg = arg;
}

/* The outside world's connections: only where addr_cb lets them go. */
static curl_socket_t
http_opensocket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_req *r = arg;

	if (purpose != CURLSOCKTYPE_IPCXN || !r->addr_cb(&a->addr, r->addr_arg))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/*
 * A request to a URL of the outside world, not to dockerd: only these
 * protocols ("https", "http,https"), no proxy, no redirect followed (the
 * caller reads http_req_redirect() when it is done, and decides), and each
 * address it would connect to is shown to addr_cb first, which refuses it
 * by returning 0: that connection is not made.
 */
void
http_req_outside(
    struct http_req *r, const char *protocols, http_addr_cb cb, void *arg)
{
	r->addr_cb = cb;
	r->addr_arg = arg;
	if (r->easy == NULL)
		return;
	if (curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, protocols) !=
	    CURLE_OK)
		r->state = HTTP_REQ_FAILED;
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(
	    r->easy, CURLOPT_OPENSOCKETFUNCTION, http_opensocket_cb);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r);
}

/* Where a 3xx answer points, during the done callback only; or NULL. */
const char *
http_req_redirect(const struct http_req *r)
{
	char *url = NULL;

	if (r->easy == NULL ||
	    curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &url) != CURLE_OK)
		return NULL;
	return url;
}

void
http_req_timeout(struct http_req *r, long ms)
{
	if (r->easy != NULL)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ms);
}

/* How long name resolution, connect and TLS handshake may take (5 s). */
void
http_req_connect_timeout(struct http_req *r, long ms)
{
	if (r->easy != NULL)
		curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
}

/* libcurl's progress meter: a call to cb whenever a count moved. */
static int
http_xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_req *r = arg;

	(void)dltotal, (void)ultotal;
	if (r->state == HTTP_REQ_CANCELLED ||
	    (dlnow == r->received && ulnow == r->sent))
		return 0;
	r->received = dlnow;
	r->sent = ulnow;
	r->progress_cb(r->progress_arg);
	return 0;
}

/*
 * Tell cb (inside libcurl: it records only) each time bytes of the
 * request went out or bytes of the response came in: how a caller sees a
 * transfer that makes no progress at all.
 */
void
http_req_progress(struct http_req *r, http_progress_cb cb, void *arg)
{
	r->progress_cb = cb;
	r->progress_arg = arg;
	if (r->easy == NULL)
		return;
	curl_easy_setopt(r->easy, CURLOPT_XFERINFOFUNCTION, http_xferinfo_cb);
	curl_easy_setopt(r->easy, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOPROGRESS, 0L);
}

/* Start the request; done_cb runs exactly once, later, from the loop. */
void
http_req_submit(struct http_req *r, http_done_cb cb, void *arg)
{
	struct http *h = r->h;

	r->done_cb = cb;
	r->done_arg = arg;
	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	if (r->state == HTTP_REQ_NEW) {
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
		r->state = HTTP_REQ_RUNNING;
		/* libcurl answers by arming our timer: the transfer starts
		 * later. */
		if (curl_multi_add_handle(h->multi, r->easy) == CURLM_OK)
			return;
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		r->state = HTTP_REQ_FAILED;
	}
	event_active(h->reap, EV_TIMEOUT, 0);
}

/* Fail the requests libcurl would not take, then free the cancelled. */
static void
http_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct http_req *r;
	struct err *e;

	(void)fd, (void)what;
	for (;;) {
		/* From the head each time: a callback may cancel others. */
		TAILQ_FOREACH (r, &h->reqs, entry)
			if (r->state == HTTP_REQ_FAILED)
				break;
		if (r == NULL)
			break;
		TAILQ_REMOVE(&h->reqs, r, entry);
		e = err_new(ERR_SYS, "cannot start an HTTP request (libcurl)");
		r->done_cb(r, e, r->done_arg);
		err_free(&e);
		http_req_free(r);
	}
	http_reap(h);
}

/*
 * Stop a submitted request. Its done_cb never runs: the caller may free
 * what it would have used as soon as this returns. Returns the done_cb's
 * argument, for the caller to free. Safe inside any callback.
 */
void *
http_req_cancel(struct http_req *r)
{
	struct http *h = r->h;

	if (r->state == HTTP_REQ_CANCELLED || r->done_cb == NULL)
		return NULL;
	r->state = HTTP_REQ_CANCELLED;
	TAILQ_REMOVE(&h->reqs, r, entry);
	TAILQ_INSERT_TAIL(&h->dying, r, entry);
	event_active(h->reap, EV_TIMEOUT, 0);
	return r->done_arg;
}

/* The response's status: in the done callback, or in a data callback
 * once the headers came (0 before). */
long
http_req_status(const struct http_req *r)
{
	long status = 0;

	if (r->status == 0 && r->easy != NULL &&
	    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status) ==
	        CURLE_OK)
		return status;
	return r->status;
}

const struct buf *
http_req_response(const struct http_req *r)
{
	return &r->resp;
}

static void
http_req_free(struct http_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	if (r->body_fd != -1)
		close(r->body_fd);
	free(r->body);
	buf_free(&r->resp);
	free(r);
}

/* libcurl tells us which fds to watch; translate and nothing more. */
static int
http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct http *h = arg;
	struct http_sock *s = sockp;
	short events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	events = EV_PERSIST;
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->h = h;
		s->fd = fd;
		curl_multi_assign(h->multi, fd, s);
	} else
		event_free(s->ev);
	s->ev = event_new(loop_base(h->loop), fd, events, http_event_cb, s);
	event_add(s->ev, NULL);
	return 0;
}

static int
http_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct http *h = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

static void
http_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_sock *s = arg;
	struct http *h = s->h;
	int mask = 0, running;

	if (what & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (curl_multi_socket_action(h->multi, fd, mask, &running) != CURLM_OK)
		log_warnx(loop_log(h->loop), "libcurl: socket action failed");
	http_check_done(h);
}

static void
http_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int running;

	(void)fd;
	(void)what;
	if (curl_multi_socket_action(
	        h->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
		log_warnx(loop_log(h->loop), "libcurl: timeout action failed");
	http_check_done(h);
}

/*
 * Transport failures that mean the server is gone: nobody listens, or the
 * connection broke before a whole answer came (a daemon killed or
 * restarting). The request may or may not have been carried out.
 */
static int
http_rc_unavailable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
	    rc == CURLE_PARTIAL_FILE;
}

/* The only place a transfer ends. */
static void
http_check_done(struct http *h)
{
	struct http_req *r;
	struct err *e = NULL;
	CURLMsg *msg;
	CURLcode rc;
	int left;
	void *priv;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = priv;
		if (r->state == HTTP_REQ_CANCELLED)
			continue; /* reaped on its own turn */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->reqs, r, entry);
		if (r->overflow)
			e = err_new(ERR_LIMIT, "response body over %zu bytes",
			    r->max_body);
		else if (r->data_aborted)
			e = err_new(ERR_CANCELLED, "response stream aborted");
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			e = err_new(ERR_TIMEOUT, "request timed out: %s",
			    r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		else if (http_rc_unavailable(rc))
			e = err_new(ERR_UNAVAILABLE, "%s",
			    r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		else if (rc != CURLE_OK)
			e = err_new(ERR_SYS, "%s",
			    r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		r->done_cb(r, e, r->done_arg);
		err_free(&e);
		http_req_free(r);
	}
}
