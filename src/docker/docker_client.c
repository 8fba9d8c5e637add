/*
 * The client: where dockerd is (DOCKER_HOST, unix:// only for now), the one
 * request path every REST operation takes, and the translation of HTTP
 * statuses and dockerd's JSON `message` into struct err.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "docker.h"

#define DOCKER_MAX_CONNS 64
#define DOCKER_TIMEOUT_MS 120000

struct docker {
	struct loop *loop;
	struct http *http;
	char *sock;
	long timeout_ms;
};

struct docker_call {
	struct docker *d;
	docker_cb cb;
	void *arg;
};

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
		    "DOCKER_HOST `%s` is not supported: "
		    "isol8 talks to dockerd over a unix:// socket",
		    host);
		return NULL;
	}
	d = xcalloc(1, sizeof *d);
	d->loop = loop;
	d->sock = xstrdup(host + 7);
	d->timeout_ms = DOCKER_TIMEOUT_MS;
	if ((d->http = http_new(loop, d->sock, DOCKER_MAX_CONNS, errp)) ==
	    NULL) {
		docker_free(d);
		return NULL;
	}
	return d;
}

void
docker_free(struct docker *d)
{
	if (d == NULL)
		return;
	http_free(d->http);
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
		if (e->kind == ERR_UNAVAILABLE)
			err_wrap(&e, "cannot reach dockerd at %s", c->d->sock);
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
	c->cb(&reply, e, c->arg);
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

/*
 * The one REST path: method, an API path ("/containers/create?..."), an
 * optional JSON body. cb runs exactly once, later.
 */
struct http_req *
docker_call(struct docker *d, const char *method, const char *path,
    const struct buf *body, docker_cb cb, void *arg)
{
	struct docker_call *c = xcalloc(1, sizeof *c);
	struct http_req *r;

	c->d = d;
	c->cb = cb;
	c->arg = arg;
	r = docker_req_new(d, method, path);
	http_req_timeout(r, d->timeout_ms);
	if (body != NULL) {
		http_req_header(r, "Content-Type: application/json");
		http_req_body(r, body->data, body->len);
	}
	http_req_submit(r, docker_call_done, c);
	return r;
}

/*
 * Stop a docker_call() request. Its callback never runs: the caller may
 * free what the callback would have used as soon as this returns.
 */
void
docker_cancel(struct http_req *r)
{
	if (r != NULL)
		free(http_req_cancel(r)); /* the struct docker_call */
}

void
docker_ping(struct docker *d, docker_cb cb, void *arg)
{
	docker_call(d, "GET", "/_ping", NULL, cb, arg);
}
