/*
 * A stream socket on the loop -- the hijacked connection of an attach to
 * dockerd, a filtered-network connection upstream -- read and written
 * without blocking. Every write goes out with send(MSG_NOSIGNAL): a peer
 * that went away is an error for this stream, never a SIGPIPE for the
 * program that embeds the library.
 *
 *	CONNECTING -> OPEN -> CLOSED (closed() called, once) -> FREED
 *
 * Invariants: callbacks run from the loop, never inside a stream_*() call;
 * after stream_free() none runs, and the memory goes on a later turn, so
 * stream_free() is safe inside any callback; input is read only while
 * reading is enabled (backpressure), into a buffer the read callback
 * drains.
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "loop.h"

#define STREAM_READ_MAX (64 << 10) /* per readiness event */

enum stream_state {
	STREAM_CONNECTING,
	STREAM_OPEN,
	STREAM_CLOSED,
	STREAM_FREED,
};

struct stream {
	struct loop *loop;
	enum stream_state state;
	int fd;
	struct event *rd, *wr;
	struct evbuffer *in, *out;
	int reading; /* the caller wants input */
	struct stream_cbs cbs;
	void *arg;
};

static void stream_rd_cb(evutil_socket_t, short, void *);
static void stream_wr_cb(evutil_socket_t, short, void *);

/* Watch the socket for what the state and the caller need now. */
static void
stream_arm(struct stream *s)
{
	if (s->state == STREAM_OPEN && s->reading)
		event_add(s->rd, NULL);
	else
		event_del(s->rd);
	if (s->state == STREAM_CONNECTING ||
	    (s->state == STREAM_OPEN && evbuffer_get_length(s->out) > 0))
		event_add(s->wr, NULL);
	else
		event_del(s->wr);
}

/* The end: no more events; the closed callback, once. */
static void
stream_close(struct stream *s, struct err *e)
{
	if (s->state == STREAM_CLOSED || s->state == STREAM_FREED) {
		err_free(&e);
		return;
	}
	s->state = STREAM_CLOSED;
	stream_arm(s);
	if (s->cbs.closed != NULL)
		s->cbs.closed(e, s->arg);
	err_free(&e);
}

struct stream *
stream_connect(struct loop *l, const struct sockaddr *sa, unsigned len,
    const struct stream_cbs *cbs, void *arg, struct err **errp)
{
	struct stream *s;
	int fd;

	fd = socket(
	    sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err_set(errp, ERR_SYS, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, sa, (socklen_t)len) == -1 && errno != EINPROGRESS) {
		err_set(errp,
		    errno == ECONNREFUSED || errno == ENOENT ? ERR_UNAVAILABLE
		                                             : ERR_SYS,
		    "connect: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->loop = l;
	s->fd = fd;
	s->cbs = *cbs;
	s->arg = arg;
	s->reading = 1;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->rd =
	    event_new(loop_base(l), fd, EV_READ | EV_PERSIST, stream_rd_cb, s);
	s->wr =
	    event_new(loop_base(l), fd, EV_WRITE | EV_PERSIST, stream_wr_cb, s);
	if (s->in == NULL || s->out == NULL || s->rd == NULL || s->wr == NULL)
		fatalx("stream: out of memory");
	s->state = STREAM_CONNECTING;
	stream_arm(s);
	return s;
}

/* Send what is queued, as far as the socket takes it; -1: gone. */
static int
stream_flush(struct stream *s)
{
	struct evbuffer_iovec v[8];
	struct iovec iov[8];
	struct msghdr msg;
	ssize_t n;
	int i, k;

	while (evbuffer_get_length(s->out) > 0) {
		k = evbuffer_peek(s->out, -1, NULL, v, 8);
		if (k > 8)
			k = 8;
		for (i = 0; i < k; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)k;
		n = sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1)
			return -1;
		evbuffer_drain(s->out, (size_t)n);
	}
	return 0;
}

static void
stream_wr_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	socklen_t len = sizeof(int);
	int soerr = 0;

	(void)what;
	if (s->state == STREAM_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			soerr = errno;
		if (soerr != 0) {
			stream_close(s,
			    err_new(soerr == ECONNREFUSED || soerr == ENOENT
			            ? ERR_UNAVAILABLE
			            : ERR_SYS,
			        "connect: %s", strerror(soerr)));
			return;
		}
		s->state = STREAM_OPEN;
		stream_arm(s);
		if (s->cbs.connected != NULL)
			s->cbs.connected(s->arg);
		if (s->state != STREAM_OPEN)
			return;
	}
	if (stream_flush(s) == -1) {
		stream_close(s, err_new(ERR_SYS, "write: %s", strerror(errno)));
		return;
	}
	stream_arm(s);
}

static void
stream_rd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	int n;

	(void)fd, (void)what;
	n = evbuffer_read(s->in, s->fd, STREAM_READ_MAX);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		s->cbs.read(s->in, s->arg);
		return;
	}
	if (n == 0)
		stream_close(s, NULL);
	else
		stream_close(s, err_new(ERR_SYS, "read: %s", strerror(errno)));
}

/* Queue bytes for the peer (sent once connected). */
void
stream_write(struct stream *s, const void *data, size_t len)
{
	if (s->state != STREAM_CONNECTING && s->state != STREAM_OPEN)
		return;
	evbuffer_add(s->out, data, len);
	stream_arm(s);
}

/* Bytes queued and not yet taken by the kernel. */
size_t
stream_pending(const struct stream *s)
{
	return evbuffer_get_length(s->out);
}

/* Read (1) or stop reading (0): backpressure towards the peer. */
void
stream_read(struct stream *s, int on)
{
	s->reading = on;
	if (s->state == STREAM_OPEN)
		stream_arm(s);
}

/* Bytes received and not yet consumed (the read callback's buffer). */
struct evbuffer *
stream_input(struct stream *s)
{
	return s->in;
}

static void
stream_free_cb(void *arg)
{
	struct stream *s = arg;

	event_free(s->rd);
	event_free(s->wr);
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	close(s->fd);
	free(s);
}

/*
 * No more callbacks; what is still queued gets one last non-blocking
 * write (a final frame of a few bytes fits an empty socket buffer), then
 * the socket closes and the memory goes on a later turn.
 */
void
stream_free(struct stream *s)
{
	if (s == NULL || s->state == STREAM_FREED)
		return;
	if (s->state == STREAM_OPEN)
		(void)stream_flush(s);
	s->state = STREAM_FREED;
	event_del(s->rd);
	event_del(s->wr);
	loop_defer(s->loop, stream_free_cb, s);
}
