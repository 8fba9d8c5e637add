/*
 * Image operations. Build and import answer with a stream of JSON lines
 * (progress, then `error` on failure, still with HTTP 200): the stream is
 * split into lines here, each capped, progress handed to a line callback,
 * and a failure line turned into the operation's error.
 */
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define PROGRESS_MAX_LINE (64u << 10)

struct progress {
	docker_line_cb line_cb;
	docker_cb cb;
	void *arg;
	struct buf line;
	char *error;
	char *last_id; /* import: the image id in the last status line */
};

static void
progress_line(struct progress *p, const char *line, size_t len)
{
	cleanup_yajl yajl_val v = NULL;
	cleanup_err struct err *e = NULL;
	const char *s;

	if (len == 0 || (v = json_parse(line, len, &e)) == NULL)
		return;
	if ((s = json_str(v, "error", NULL)) != NULL) {
		if (p->error == NULL)
			p->error = xstrdup(s);
		return;
	}
	if ((s = json_str(v, "status", NULL)) != NULL &&
	    strncmp(s, "sha256:", 7) == 0) {
		free(p->last_id);
		p->last_id = xstrdup(s);
	}
	if ((s = json_str(v, "stream", NULL)) != NULL ||
	    (s = json_str(v, "status", NULL)) != NULL) {
		if (p->line_cb != NULL && *s != '\0')
			p->line_cb(s, p->arg);
	}
}

static int
progress_data(const char *data, size_t len, void *arg)
{
	struct progress *p = arg;
	const char *nl;
	size_t take;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		take = nl ? (size_t)(nl - data) : len;
		if (p->line.len + take > PROGRESS_MAX_LINE)
			return -1;
		buf_add(&p->line, data, take);
		if (nl == NULL)
			break;
		progress_line(p, p->line.data, p->line.len);
		buf_drain(&p->line, p->line.len);
		data += take + 1;
		len -= take + 1;
	}
	return 0;
}

static void
progress_done(struct http_req *r, const struct err *herr, void *arg)
{
	struct progress *p = arg;
	struct docker_reply reply;
	struct err *e = NULL;
	const struct buf *body = http_req_response(r);

	memset(&reply, 0, sizeof reply);
	reply.status = http_req_status(r);
	if (p->line.len > 0)
		progress_line(p, p->line.data, p->line.len);
	if (herr != NULL)
		e = err_dup(herr);
	else if (reply.status >= 400) {
		cleanup_yajl yajl_val v =
		    json_parse(body->data ? body->data : "", body->len, NULL);
		const char *msg = json_str(v, "message", NULL);

		e = err_new(reply.status == 404 ? ERR_NOTFOUND : ERR_DOCKER,
		    "dockerd: %s (HTTP %ld)", msg ? msg : "request failed",
		    reply.status);
	} else if (p->error != NULL)
		e = err_new(ERR_DOCKER, "dockerd: %s", p->error);
	reply.body = p->last_id ? p->last_id : "";
	reply.len = strlen(reply.body);
	p->cb(&reply, e, p->arg);
	err_free(&e);
	buf_free(&p->line);
	free(p->error);
	free(p->last_id);
	free(p);
}

/* Submit r with its body streamed through the progress line parser. */
static struct http_req *
progress_submit(
    struct http_req *r, docker_line_cb line_cb, docker_cb cb, void *arg)
{
	struct progress *p = xcalloc(1, sizeof *p);

	p->line_cb = line_cb;
	p->cb = cb;
	p->arg = arg;
	http_req_stream(r, progress_data, p);
	http_req_submit(r, progress_done, p);
	return r;
}

/*
 * Build an image from an in-memory tar context holding a Dockerfile. Its
 * RUN steps use the network named by networkmode ("host": the host's own,
 * loopback included), or dockerd's default when NULL.
 */
struct http_req *
docker_image_build(struct docker *d, const struct buf *context, const char *tag,
    const char *networkmode, docker_line_cb line_cb, docker_cb cb, void *arg)
{
	cleanup_free char *esc = docker_escape(tag), *path = NULL;
	cleanup_free char *net =
	    networkmode ? docker_escape(networkmode) : NULL;
	struct http_req *r;

	path = xasprintf("/build?t=%s&rm=1&forcerm=1%s%s", esc,
	    net ? "&networkmode=" : "", net ? net : "");
	r = docker_req_new(d, "POST", path);
	http_req_header(r, "Content-Type: application/x-tar");
	http_req_body(r, context->data, context->len);
	return progress_submit(r, line_cb, cb, arg);
}

/*
 * Import a root filesystem tar read from fd (which the request closes) as
 * repo:tag. The reply body is the new image id.
 */
struct http_req *
docker_image_import(struct docker *d, int fd, off_t size, const char *repo,
    const char *tag, docker_line_cb line_cb, docker_cb cb, void *arg)
{
	cleanup_free char *erepo = docker_escape(repo), *etag = NULL;
	cleanup_free char *path = NULL;
	struct http_req *r;

	etag = docker_escape(tag);
	path =
	    xasprintf("/images/create?fromSrc=-&repo=%s&tag=%s", erepo, etag);
	r = docker_req_new(d, "POST", path);
	http_req_header(r, "Content-Type: application/x-tar");
	http_req_body_fd(r, fd, size);
	return progress_submit(r, line_cb, cb, arg);
}

struct http_req *
docker_image_inspect(
    struct docker *d, const char *name, docker_cb cb, void *arg)
{
	cleanup_free char *path = xasprintf("/images/%s/json", name);

	return docker_call(d, "GET", path, NULL, cb, arg);
}

/* List images matching a filters document ({"label":[...],...}). */
struct http_req *
docker_image_list(
    struct docker *d, const char *filters, docker_cb cb, void *arg)
{
	cleanup_free char *esc = docker_escape(filters), *path = NULL;

	path = xasprintf("/images/json?filters=%s", esc);
	return docker_call(d, "GET", path, NULL, cb, arg);
}

struct http_req *
docker_image_remove(
    struct docker *d, const char *name, int force, docker_cb cb, void *arg)
{
	cleanup_free char *path =
	    xasprintf("/images/%s?force=%d", name, force ? 1 : 0);

	return docker_call(d, "DELETE", path, NULL, cb, arg);
}
