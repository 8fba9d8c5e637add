/*
 * Attached container streams: POST /containers/{id}/attach as a raw HTTP
 * upgrade on the Unix socket (a loop stream: writes never raise SIGPIPE).
 * After dockerd's `101 UPGRADED` the connection carries stdin one way and
 * stdcopy frames the other way.
 *
 *	CONNECTING -> UPGRADED -> CLOSED -> FREED
 *
 * Invariants:
 * - nothing is written before the status line arrives: dockerd drops stdin
 *   bytes buffered before the hijack (measured, spike-findings §3b); earlier
 *   writes wait in `early`;
 * - the stream is read until EOF whatever the consumer decides, because a
 *   container whose attached output is not read cannot be killed promptly;
 * - `closed` is called exactly once, unless docker_attach_free() came
 *   first; docker_attach_free() may be called from any callback: no
 *   callback follows, and the memory goes on a later turn.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "docker.h"

#define ATTACH_MAX_HEADER (16u << 10)

enum attach_state {
	ATTACH_CONNECTING,
	ATTACH_UPGRADED,
	ATTACH_CLOSED,
	ATTACH_FREED,
};

struct docker_attach {
	struct docker *d;
	struct stream *s;
	enum attach_state state;
	struct docker_attach_cbs cbs;
	void *arg;
	struct stdcopy sc;
	struct buf early;
};

static void attach_read_cb(struct evbuffer *, void *);
static void attach_closed_cb(const struct err *, void *);

/* Connect and send the upgrade request; cbs run later from the loop. */
struct docker_attach *
docker_attach_start(struct docker *d, const char *id,
    const struct docker_attach_cbs *cbs, void *arg, struct err **errp)
{
	static const struct stream_cbs scbs = { NULL, attach_read_cb,
		attach_closed_cb };
	struct docker_attach *a;
	struct sockaddr_un sun;
	const char *path = docker_socket(d);
	cleanup_free char *req = NULL;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return err_set(errp, ERR_INVALID,
		           "socket path `%s` is too long", path),
		       NULL;
	strcpy(sun.sun_path, path);
	a = xcalloc(1, sizeof *a);
	a->d = d;
	a->cbs = *cbs;
	a->arg = arg;
	stdcopy_init(&a->sc);
	buf_init(&a->early);
	if ((a->s = stream_connect(docker_loop(d), (struct sockaddr *)&sun,
	         sizeof sun, &scbs, a, errp)) == NULL) {
		docker_note_unreachable(d);
		err_wrap(errp, "cannot reach dockerd at %s", path);
		free(a);
		return NULL;
	}
	req = xasprintf(
	    "POST /" DOCKER_API
	    "/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
	    "Host: docker\r\n"
	    "Content-Type: application/vnd.docker.raw-stream\r\n"
	    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
	    id);
	stream_write(a->s, req, strlen(req));
	return a;
}

/* Queue bytes for the container's stdin. */
void
docker_attach_write(struct docker_attach *a, const void *data, size_t len)
{
	if (a->state == ATTACH_CONNECTING)
		buf_add(&a->early, data, len);
	else if (a->state == ATTACH_UPGRADED)
		stream_write(a->s, data, len);
}

/* Bytes queued for stdin and not yet taken by the kernel. */
size_t
docker_attach_pending(struct docker_attach *a)
{
	if (a->state != ATTACH_CONNECTING && a->state != ATTACH_UPGRADED)
		return 0;
	return a->early.len + stream_pending(a->s);
}

/*
 * Drop the stream without further callbacks; safe inside a callback. What
 * is still queued for stdin gets one non-blocking write first.
 */
static void
attach_free_cb(void *arg)
{
	struct docker_attach *a = arg;

	buf_free(&a->early);
	free(a);
}

void
docker_attach_free(struct docker_attach *a)
{
	if (a == NULL || a->state == ATTACH_FREED)
		return;
	a->state = ATTACH_FREED;
	stream_free(a->s);
	loop_defer(docker_loop(a->d), attach_free_cb, a);
}

/* The one end of an attach: closed() once, with the reason. */
static void
attach_close(struct docker_attach *a, struct err *e)
{
	if (a->state == ATTACH_CONNECTING || a->state == ATTACH_UPGRADED) {
		a->state = ATTACH_CLOSED;
		stream_read(a->s, 0);
		if (a->cbs.closed != NULL)
			a->cbs.closed(e, a->arg);
	}
	err_free(&e);
}

/* Parse the status line and headers; 1 when upgraded, 0 to wait, -1 gone. */
static int
attach_upgrade(struct docker_attach *a, struct evbuffer *in)
{
	struct evbuffer_ptr end;
	size_t hlen;
	int status = 0;
	char *head, *body, *json;
	cleanup_yajl yajl_val v = NULL;
	const char *msg;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > ATTACH_MAX_HEADER) {
			attach_close(a,
			    err_new(ERR_PROTO,
			        "attach: response header over %u bytes",
			        ATTACH_MAX_HEADER));
			return -1;
		}
		return 0;
	}
	hlen = (size_t)end.pos + 4;
	head = xmalloc(hlen + 1);
	evbuffer_remove(in, head, hlen);
	head[hlen] = '\0';
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	free(head);
	if (status != 101 && status != 200) {
		/* An error: the body (if any) is dockerd's JSON message. */
		body = xstrndup((const char *)evbuffer_pullup(in, -1),
		    evbuffer_get_length(in));
		if ((json = strchr(body, '{')) != NULL)
			v = json_parse(json, strlen(json), NULL);
		msg = json_str(v, "message", NULL);
		attach_close(a,
		    err_new(status == 404 ? ERR_NOTFOUND : ERR_DOCKER,
		        "dockerd: attach: %s (HTTP %d)",
		        msg ? msg : "request failed", status));
		free(body);
		return -1;
	}
	a->state = ATTACH_UPGRADED;
	if (a->early.len > 0) {
		stream_write(a->s, a->early.data, a->early.len);
		buf_free(&a->early);
	}
	return 1;
}

static void
attach_output(int stream, const char *data, size_t len, void *arg)
{
	struct docker_attach *a = arg;

	if (a->cbs.data != NULL)
		a->cbs.data(stream, data, len, a->arg);
}

/*
 * Frames as they arrive. A callback may free the attach (its memory stays
 * until a later turn): the state says whether to go on.
 */
static void
attach_read_cb(struct evbuffer *in, void *arg)
{
	struct docker_attach *a = arg;
	struct evbuffer_iovec v;
	struct err *e = NULL;

	if (a->state == ATTACH_CONNECTING) {
		if (attach_upgrade(a, in) != 1)
			return;
		if (a->cbs.ready != NULL)
			a->cbs.ready(a->arg);
	}
	while (a->state == ATTACH_UPGRADED &&
	    evbuffer_peek(in, -1, NULL, &v, 1) > 0) {
		if (stdcopy_feed(&a->sc, v.iov_base, v.iov_len, attach_output,
		        a, &e) == -1) {
			attach_close(a, e);
			return;
		}
		if (a->state != ATTACH_FREED)
			evbuffer_drain(in, v.iov_len);
	}
}

static void
attach_closed_cb(const struct err *e, void *arg)
{
	struct docker_attach *a = arg;

	/* Gone before it answered: dockerd went away (a restart, a crash). */
	if (a->state == ATTACH_CONNECTING) {
		docker_note_unreachable(a->d);
		attach_close(a,
		    err_new(ERR_UNAVAILABLE, "attach: %s",
		        e != NULL
		            ? e->msg
		            : "dockerd closed the connection before answering"));
	} else if (e != NULL)
		attach_close(a, err_new(ERR_SYS, "attach: %s", e->msg));
	else if (a->sc.hlen != 0 || a->sc.left != 0)
		attach_close(a,
		    err_new(ERR_PROTO, "attach: stream ended inside a frame"));
	else
		attach_close(a, NULL);
}
