/*
 * Attached container streams: POST /containers/{id}/attach as a raw HTTP
 * upgrade on the Unix socket, on a libevent bufferevent. After dockerd's
 * `101 UPGRADED` the connection carries stdin one way and stdcopy frames the
 * other way.
 *
 * Invariants:
 * - nothing is written before the status line arrives: dockerd drops stdin
 *   bytes buffered before the hijack (measured, spike-findings §3b); earlier
 *   writes wait in `early`;
 * - the stream is read until EOF whatever the consumer decides, because a
 *   container whose attached output is not read cannot be killed promptly;
 * - `closed` is called exactly once; docker_attach_free() may be called from
 *   any callback: the memory goes on the next loop turn.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "docker.h"

#define ATTACH_MAX_HEADER (16u << 10)

struct docker_attach {
	struct docker *d;
	struct bufferevent *bev;
	struct docker_attach_cbs cbs;
	void *arg;
	enum {
		ATTACH_CONNECTING,
		ATTACH_UPGRADED,
		ATTACH_CLOSED,
	} state;
	struct stdcopy sc;
	struct buf early;
	int shut_wr_pending;
	int freed;
};

static void attach_read_cb(struct bufferevent *, void *);
static void attach_write_cb(struct bufferevent *, void *);
static void attach_event_cb(struct bufferevent *, short, void *);
static void attach_close(struct docker_attach *, struct err *);

/* Connect and send the upgrade request; cbs run later from the loop. */
struct docker_attach *
docker_attach_start(struct docker *d, const char *id,
    const struct docker_attach_cbs *cbs, void *arg, struct err **errp)
{
	struct docker_attach *a;
	struct sockaddr_un sun;
	const char *path = docker_socket(d);

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		err_set(
		    errp, ERR_INVALID, "socket path `%s` is too long", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	a = xcalloc(1, sizeof *a);
	a->d = d;
	a->cbs = *cbs;
	a->arg = arg;
	stdcopy_init(&a->sc);
	buf_init(&a->early);
	a->bev = bufferevent_socket_new(
	    loop_base(docker_loop(d)), -1, BEV_OPT_CLOSE_ON_FREE);
	if (a->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(
	    a->bev, attach_read_cb, attach_write_cb, attach_event_cb, a);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
	evbuffer_add_printf(bufferevent_get_output(a->bev),
	    "POST /" DOCKER_API "/containers/%s/attach?stream=1&stdin=1"
	    "&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n"
	    "Content-Type: application/vnd.docker.raw-stream\r\n"
	    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
	    id);
	if (bufferevent_socket_connect(
	        a->bev, (struct sockaddr *)&sun, sizeof sun) == -1) {
		docker_note_unreachable(d);
		err_set(errp, ERR_UNAVAILABLE, "cannot reach dockerd at %s: %s",
		    path, strerror(errno));
		bufferevent_free(a->bev);
		buf_free(&a->early);
		free(a);
		return NULL;
	}
	return a;
}

/* Queue bytes for the container's stdin. */
void
docker_attach_write(struct docker_attach *a, const void *data, size_t len)
{
	if (a->state == ATTACH_CLOSED || a->shut_wr_pending)
		return;
	if (a->state == ATTACH_CONNECTING) {
		buf_add(&a->early, data, len);
		return;
	}
	bufferevent_write(a->bev, data, len);
}

/* Bytes queued for stdin and not yet taken by the kernel. */
size_t
docker_attach_pending(struct docker_attach *a)
{
	if (a->state == ATTACH_CLOSED)
		return 0;
	return a->early.len +
	    evbuffer_get_length(bufferevent_get_output(a->bev));
}

static void
attach_shutdown(struct docker_attach *a)
{
	if (a->state == ATTACH_UPGRADED &&
	    evbuffer_get_length(bufferevent_get_output(a->bev)) == 0) {
		shutdown(bufferevent_getfd(a->bev), SHUT_WR);
		a->shut_wr_pending = 2;
	}
}

/* Close stdin (after what is queued): the container reads EOF. */
void
docker_attach_close_write(struct docker_attach *a)
{
	if (a->shut_wr_pending)
		return;
	a->shut_wr_pending = 1;
	attach_shutdown(a);
}

static void
attach_free_cb(void *arg)
{
	struct docker_attach *a = arg;

	if (a->bev != NULL)
		bufferevent_free(a->bev);
	buf_free(&a->early);
	free(a);
}

/*
 * Drop the stream without further callbacks; safe inside a callback. What
 * is still queued for stdin gets one non-blocking write first (a final
 * frame of a few bytes fits in an empty socket buffer).
 */
void
docker_attach_free(struct docker_attach *a)
{
	struct evbuffer *out;
	struct evbuffer_iovec v[4];
	struct iovec iov[4];
	struct msghdr msg;
	int i, n;

	if (a == NULL || a->freed)
		return;
	/*
	 * The bufferevent owns its output (frozen for everyone else): peek
	 * at what is queued and write it ourselves, once, without blocking.
	 */
	out = bufferevent_get_output(a->bev);
	if (a->state == ATTACH_UPGRADED && evbuffer_get_length(out) > 0) {
		n = evbuffer_peek(out, -1, NULL, v, 4);
		for (i = 0; i < n && i < 4; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)(n < 4 ? n : 4);
		if (sendmsg(bufferevent_getfd(a->bev), &msg,
		        MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_debug("attach: final write: %s", strerror(errno));
	}
	a->freed = 1;
	a->state = ATTACH_CLOSED;
	memset(&a->cbs, 0, sizeof a->cbs);
	bufferevent_disable(a->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(a->bev, NULL, NULL, NULL, NULL);
	loop_defer(docker_loop(a->d), attach_free_cb, a);
}

static void
attach_close(struct docker_attach *a, struct err *e)
{
	if (a->state == ATTACH_CLOSED)
		goto out;
	a->state = ATTACH_CLOSED;
	bufferevent_disable(a->bev, EV_READ | EV_WRITE);
	if (a->cbs.closed != NULL)
		a->cbs.closed(e, a->arg);
out:
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
			        "attach: response "
			        "header over %u bytes",
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
		free(head);
		return -1;
	}
	free(head);
	a->state = ATTACH_UPGRADED;
	if (a->early.len > 0) {
		bufferevent_write(a->bev, a->early.data, a->early.len);
		buf_free(&a->early);
	}
	if (a->shut_wr_pending == 1)
		attach_shutdown(a);
	if (a->cbs.ready != NULL)
		a->cbs.ready(a->arg);
	return a->freed ? -1 : 1;
}

static void
attach_output(int stream, const char *data, size_t len, void *arg)
{
	struct docker_attach *a = arg;

	if (a->cbs.data != NULL)
		a->cbs.data(stream, data, len, a->arg);
}

static void
attach_read_cb(struct bufferevent *bev, void *arg)
{
	struct docker_attach *a = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[8];
	struct err *e = NULL;
	int i, n;

	if (a->state == ATTACH_CONNECTING && attach_upgrade(a, in) != 1)
		return;
	while (!a->freed && a->state == ATTACH_UPGRADED &&
	    evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, nitems(v));
		if (n > (int)nitems(v))
			n = nitems(v);
		for (i = 0; i < n && !a->freed; i++) {
			if (stdcopy_feed(&a->sc, v[i].iov_base, v[i].iov_len,
			        attach_output, a, &e) == -1) {
				attach_close(a, e);
				return;
			}
			evbuffer_drain(in, v[i].iov_len);
		}
	}
}

static void
attach_write_cb(struct bufferevent *bev, void *arg)
{
	struct docker_attach *a = arg;

	(void)bev;
	if (a->shut_wr_pending == 1)
		attach_shutdown(a);
}

static void
attach_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct docker_attach *a = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		attach_read_cb(bev, a);
		if (a->freed)
			return;
		if (a->state == ATTACH_CONNECTING) {
			/* dockerd went away (a restart, a crash). */
			docker_note_unreachable(a->d);
			attach_close(a,
			    err_new(ERR_UNAVAILABLE,
			        "attach: dockerd "
			        "closed the connection before answering"));
		} else if (a->sc.hlen != 0 || a->sc.left != 0)
			attach_close(a,
			    err_new(ERR_PROTO,
			        "attach: stream "
			        "ended inside a frame"));
		else
			attach_close(a, NULL);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && a->state == ATTACH_CONNECTING)
		docker_note_unreachable(a->d);
	if (what & BEV_EVENT_ERROR)
		attach_close(a,
		    err_new(a->state == ATTACH_CONNECTING ? ERR_UNAVAILABLE
		                                          : ERR_SYS,
		        "attach: %s",
		        evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())));
}
