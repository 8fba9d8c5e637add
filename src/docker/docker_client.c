/*
 * The client: where dockerd is (DOCKER_HOST, unix:// only for now), the one
 * request path every REST operation takes, and the translation of HTTP
 * statuses and dockerd's JSON `message` into struct err.
 *
 * dockerd may go away and come back (a restart, a crash). The client
 * counts the requests that found it unreachable (docker_unreachable(), so
 * that a caller can tell that a failure overlapped an outage), and keeps
 * the containers whose removal failed that way ("graves"): they are removed
 * again as soon as dockerd answers a request, so that an outage leaves no
 * container of ours behind. At most DOCKER_MAX_GRAVES are kept.
 *
 * Every call in flight is on `calls`: a caller that goes away may hand its
 * call over to the client (docker_call_adopt(): an abandoned create whose
 * container is removed when it answers), and docker_free() frees what the
 * calls it drops unanswered still hold.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "docker.h"

#define DOCKER_MAX_CONNS 64
#define DOCKER_TIMEOUT_MS 120000
#define DOCKER_MAX_GRAVES 4096

/* A container to remove once dockerd answers again (id or name). */
struct docker_grave {
	char *target;
	TAILQ_ENTRY(docker_grave) entry;
};

/* A REST call in flight; `arg_free` set: the argument is the client's. */
struct docker_call {
	struct docker *d;
	struct http_req *req;
	docker_cb cb;
	void *arg;
	void (*arg_free)(void *);
	TAILQ_ENTRY(docker_call) entry;
};

struct docker {
	struct loop *loop;
	struct http *http;
	char *sock;
	long timeout_ms;
	unsigned unreachable; /* requests that found dockerd unreachable */
	TAILQ_HEAD(, docker_grave) graves;
	size_t ngraves;
	unsigned removals; /* container removals in flight */
	TAILQ_HEAD(, docker_call) calls;
};

static void docker_graves_flush(struct docker *);

struct docker *
docker_new(struct loop *loop, const char *host, struct err **errp)
{
	struct docker *d;

	if (host == NULL)
		host = getenv("DOCKER_HOST");
	if (host == NULL || *host == '\0')
		host = "unix://" DOCKER_DEFAULT_SOCK;
	if (strncmp(host, "unix://", 7) != 0 || host[7] != '/') {
		err_set(errp, ERR_INVALID,
		    "DOCKER_HOST `%s` is not supported: isol8 talks to dockerd over a unix:// socket",
		    host);
		return NULL;
	}
	d = xcalloc(1, sizeof *d);
	d->loop = loop;
	d->sock = xstrdup(host + 7);
	d->timeout_ms = DOCKER_TIMEOUT_MS;
	TAILQ_INIT(&d->graves);
	TAILQ_INIT(&d->calls);
	if ((d->http = http_new(loop, d->sock, DOCKER_MAX_CONNS, errp)) ==
	    NULL) {
		docker_free(d);
		return NULL;
	}
	return d;
}

/*
 * Free the client. Calls still in flight are dropped unanswered (their
 * callers were told nothing: an engine frees its client only once idle,
 * or after its bounded drain); what the client owned of them goes too.
 */
void
docker_free(struct docker *d)
{
	struct docker_grave *g;
	struct docker_call *c;
	unsigned dropped = 0;

	if (d == NULL)
		return;
	if (d->ngraves > 0)
		log_warnx(docker_log(d),
		    "%zu container(s) could not be removed: dockerd at %s is unreachable; `isol8 cleanup` removes them once it is back",
		    d->ngraves, d->sock);
	while ((g = TAILQ_FIRST(&d->graves)) != NULL) {
		TAILQ_REMOVE(&d->graves, g, entry);
		free(g->target);
		free(g);
	}
	http_free(d->http);
	while ((c = TAILQ_FIRST(&d->calls)) != NULL) {
		TAILQ_REMOVE(&d->calls, c, entry);
		if (c->arg_free != NULL)
			c->arg_free(c->arg);
		free(c);
		dropped++;
	}
	if (dropped > 0)
		log_debug(docker_log(d),
		    "%u dockerd request(s) dropped unanswered", dropped);
	free(d->sock);
	free(d);
}

struct loop *
docker_loop(struct docker *d)
{
	return d->loop;
}

/* The limit for each REST call (builds and imports have none). */
void
docker_set_timeout(struct docker *d, long ms)
{
	d->timeout_ms = ms;
}

const struct log *
docker_log(struct docker *d)
{
	return loop_log(d->loop);
}

const char *
docker_socket(struct docker *d)
{
	return d->sock;
}

/* A query-string value, percent-encoded (RFC 3986 unreserved kept). */
char *
docker_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = { 0 };
	unsigned char c;

	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			buf_add(&b, s, 1);
		else {
			char pct[3] = { '%', hex[c >> 4], hex[c & 15] };

			buf_add(&b, pct, 3);
		}
	}
	buf_cstr(&b);
	return b.data != NULL ? b.data : xstrdup(""); /* the buffer's, ours */
}

static void
docker_call_done(struct http_req *r, const struct err *herr, void *arg)
{
	struct docker_call *c = arg;
	const struct buf *body = http_req_response(r);
	struct docker_reply reply;
	struct err *e = NULL;
	const char *msg;
	cleanup_yajl yajl_val json = NULL;

	memset(&reply, 0, sizeof reply);
	reply.status = http_req_status(r);
	reply.body = body->data ? body->data : "";
	reply.len = body->len;
	if (herr != NULL) {
		e = err_dup(herr);
		if (e->kind == ERR_UNAVAILABLE) {
			c->d->unreachable++;
			err_wrap(&e, "cannot reach dockerd at %s", c->d->sock);
		}
	} else if (body->len > 0 &&
	    (body->data[0] == '{' || body->data[0] == '[')) {
		json = json_parse(body->data, body->len, &e);
		reply.json = json;
	}
	if (e == NULL && reply.status >= 400) {
		msg = json_str(json, "message", NULL);
		e = err_new(reply.status == 404 ? ERR_NOTFOUND
		        : reply.status == 409   ? ERR_CONFLICT
		                                : ERR_DOCKER,
		    "dockerd: %s (HTTP %ld)", msg ? msg : "request failed",
		    reply.status);
		e->http_status = reply.status;
	}
	TAILQ_REMOVE(&c->d->calls, c, entry);
	c->cb(&reply, e, c->arg);
	/* It answers: what an outage left behind can go now. */
	if (herr == NULL && !TAILQ_EMPTY(&c->d->graves))
		docker_graves_flush(c->d);
	err_free(&e);
	free(c);
}

/* A request to an API path, not yet submitted (for streamed bodies). */
struct http_req *
docker_req_new(struct docker *d, const char *method, const char *path)
{
	cleanup_free char *url = NULL;

	/* Only /_ping is unversioned. */
	url = xasprintf("http://docker%s%s",
	    strncmp(path, "/_ping", 6) == 0 ? "" : "/" DOCKER_API, path);
	return http_req_new(d->http, method, url);
}

/* Submit r; cb runs exactly once, later, through docker_call_done(). */
static struct http_req *
docker_submit(struct docker *d, struct http_req *r, docker_cb cb, void *arg)
{
	struct docker_call *c = xcalloc(1, sizeof *c);

	c->d = d;
	c->req = r;
	c->cb = cb;
	c->arg = arg;
	TAILQ_INSERT_TAIL(&d->calls, c, entry);
	http_req_submit(r, docker_call_done, c);
	return r;
}

/*
 * The one REST path: method, an API path ("/containers/create?..."), an
 * optional JSON body. cb runs exactly once, later.
 */
struct http_req *
docker_call(struct docker *d, const char *method, const char *path,
    const struct buf *body, docker_cb cb, void *arg)
{
	struct http_req *r;

	r = docker_req_new(d, method, path);
	http_req_timeout(r, d->timeout_ms);
	if (body != NULL) {
		http_req_header(r, "Content-Type: application/json");
		http_req_body(r, body->data, body->len);
	}
	return docker_submit(d, r, cb, arg);
}

/*
 * Stop a docker_call() request (not a build, import or exec start: those
 * are not docker_calls). Its callback never runs: the caller may free
 * what the callback would have used as soon as this returns.
 */
void
docker_cancel(struct http_req *r)
{
	struct docker_call *c;

	if (r == NULL || (c = http_req_cancel(r)) == NULL)
		return;
	TAILQ_REMOVE(&c->d->calls, c, entry);
	if (c->arg_free != NULL)
		c->arg_free(c->arg);
	free(c);
}

/*
 * Take over the answer of a call in flight: cb gets it, with arg, instead
 * of the caller's callback (which never runs). With arg_free, arg is the
 * client's from now on: freed if the call is dropped or cancelled.
 */
void
docker_call_adopt(struct docker *d, struct http_req *r, docker_cb cb, void *arg,
    void (*arg_free)(void *))
{
	struct docker_call *c;

	TAILQ_FOREACH (c, &d->calls, entry)
		if (c->req == r)
			break;
	if (c == NULL) {
		/* Not in flight (a caller's bug): nothing will answer. */
		log_warnx(
		    docker_log(d), "dockerd call to adopt is not in flight");
		if (arg_free != NULL)
			arg_free(arg);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	c->arg_free = arg_free;
}

void
docker_ping(struct docker *d, docker_cb cb, void *arg)
{
	docker_call(d, "GET", "/_ping", NULL, cb, arg);
}

/* Whether dockerd answers now: a ping with its own time limit. */
struct http_req *
docker_probe(struct docker *d, long timeout_ms, docker_cb cb, void *arg)
{
	struct http_req *r = docker_req_new(d, "GET", "/_ping");

	http_req_timeout(r, timeout_ms);
	return docker_submit(d, r, cb, arg);
}

/* How many requests so far found dockerd unreachable. */
unsigned
docker_unreachable(struct docker *d)
{
	return d->unreachable;
}

/* Count a failure to reach dockerd seen outside docker_call (attach). */
void
docker_note_unreachable(struct docker *d)
{
	d->unreachable++;
}

/*
 * Container removals still under way -- every one, whoever asked: an
 * engine that shuts down waits for them, so that none is cut off.
 */
int
docker_busy(const struct docker *d)
{
	return d->removals > 0;
}

/* docker_container_remove() counts what it has in flight. */
void
docker_removals(struct docker *d, int delta)
{
	d->removals += (unsigned)delta;
}

/* Remember a container to remove once dockerd answers again. */
void
docker_grave_add(struct docker *d, const char *target)
{
	struct docker_grave *g;

	TAILQ_FOREACH (g, &d->graves, entry)
		if (strcmp(g->target, target) == 0)
			return;
	if (d->ngraves >= DOCKER_MAX_GRAVES) {
		log_warnx(docker_log(d),
		    "dockerd unreachable: container %.12s is left behind (`isol8 cleanup` removes it)",
		    target);
		return;
	}
	g = xcalloc(1, sizeof *g);
	g->target = xstrdup(target);
	TAILQ_INSERT_TAIL(&d->graves, g, entry);
	d->ngraves++;
}

/* A grave's removal: with dockerd unreachable again, it is a grave again. */
static void
docker_burial_done(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct docker *d = arg;

	(void)r;
	if (e != NULL && e->kind != ERR_NOTFOUND && e->kind != ERR_UNAVAILABLE)
		log_warnx(docker_log(d),
		    "removing a container left by an outage: %s", e->msg);
}

/* Remove every grave now (docker_container_remove keeps a failed one). */
static void
docker_graves_flush(struct docker *d)
{
	struct docker_grave *g;

	while ((g = TAILQ_FIRST(&d->graves)) != NULL) {
		TAILQ_REMOVE(&d->graves, g, entry);
		d->ngraves--;
		log_info(docker_log(d),
		    "removing container %.12s, left by a dockerd outage",
		    g->target);
		docker_container_remove(d, g->target, 1, docker_burial_done, d);
		free(g->target);
		free(g);
	}
}

/* At shutdown: try once more to remove what an outage left behind. */
void
docker_graves_retry(struct docker *d)
{
	if (!TAILQ_EMPTY(&d->graves))
		docker_graves_flush(d);
}
