/*
 * The filtered network's in-container end (docs/security.md, network). A
 * filtered run's container has no network at all -- only loopback -- and
 * the agent listens on 127.0.0.1:PROXY for the run; HTTP(S)_PROXY points
 * the program there. Each connection becomes CONN_OPEN, CONN_DATA and
 * CONN_CLOSE frames on the attach stream, and the host (engine/egress.c)
 * decides: it parses the proxy request, applies the allow/deny rules,
 * resolves, refuses private addresses and connects -- or answers 403.
 *
 * Invariants: the agent never connects anywhere itself; connections live
 * only as long as their run; bytes towards a program are queued up to
 * RELAY_QUEUE_HIGH, beyond which the agent stops reading the host (the
 * stdin rule), and bytes from a program are read only while the queue
 * towards the host is short.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define RELAY_MAX 64
#define RELAY_QUEUE_HIGH (256u << 10)

struct relay_conn {
	int fd; /* -1: slot free */
	uint32_t id;
	struct proto_buf q; /* towards the program */
	int closing;        /* the host closed: close once q is written */
};

static struct {
	int listen_fd;
	uint32_t next_id;
	struct relay_conn c[RELAY_MAX];
} R = { .listen_fd = -1 };

static void
conn_close(struct relay_conn *c)
{
	close_fd(&c->fd);
	proto_buf_free(&c->q);
	c->closing = 0;
}

void
relay_init(void)
{
	int i;

	for (i = 0; i < RELAY_MAX; i++)
		R.c[i].fd = -1;
}

/* Listen on 127.0.0.1:port for this run; -1 with errno on failure. */
int
relay_listen(unsigned port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(
	         AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(fd, RELAY_MAX) == -1) {
		close(fd);
		return -1;
	}
	R.listen_fd = fd;
	return 0;
}

/* The run is over: every connection and the listener go. */
void
relay_stop(void)
{
	int i;

	for (i = 0; i < RELAY_MAX; i++)
		if (R.c[i].fd >= 0)
			conn_close(&R.c[i]);
	close_fd(&R.listen_fd);
}

/* Whether some connection's queue is full (stop reading the host). */
int
relay_full(void)
{
	int i;

	for (i = 0; i < RELAY_MAX; i++)
		if (R.c[i].fd >= 0 && R.c[i].q.len >= RELAY_QUEUE_HIGH)
			return 1;
	return 0;
}

/* Add the listener and the connections to a poll set; returns the count. */
int
relay_poll(struct pollfd *pfd, int out_full)
{
	int i, n = 0;

	if (R.listen_fd < 0)
		return 0;
	pfd[n++] = (struct pollfd){ R.listen_fd, POLLIN, 0 };
	for (i = 0; i < RELAY_MAX; i++)
		pfd[n++] = (struct pollfd){ R.c[i].fd,
			(short)((out_full || R.c[i].closing ? 0 : POLLIN) |
			    (R.c[i].q.len > 0 ? POLLOUT : 0)),
			0 };
	return n;
}

static void
conn_read(struct relay_conn *c, struct proto_buf *out)
{
	unsigned char chunk[64 << 10];
	ssize_t n = read(c->fd, chunk, sizeof chunk);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		proto_conn_frame(out, PROTO_CONN_CLOSE, c->id, NULL, 0);
		conn_close(c);
		return;
	}
	proto_conn_frame(out, PROTO_CONN_DATA, c->id, chunk, (size_t)n);
}

static void
conn_write(struct relay_conn *c, struct proto_buf *out)
{
	ssize_t n = write(c->fd, c->q.data, c->q.len);

	if (n > 0)
		proto_buf_drain(&c->q, (size_t)n);
	else if (n == -1 && errno != EAGAIN && errno != EINTR) {
		proto_conn_frame(out, PROTO_CONN_CLOSE, c->id, NULL, 0);
		conn_close(c);
		return;
	}
	if (c->closing && c->q.len == 0)
		conn_close(c);
}

/* Act on what poll() found; `out` is the queue of frames to the host. */
void
relay_events(const struct pollfd *pfd, struct proto_buf *out)
{
	struct relay_conn *c;
	int i, fd;

	if (R.listen_fd < 0)
		return;
	for (i = 0; i < RELAY_MAX; i++) {
		c = &R.c[i];
		if (c->fd < 0 || pfd[1 + i].fd != c->fd)
			continue;
		if (pfd[1 + i].revents & POLLOUT)
			conn_write(c, out);
		if (c->fd >= 0 &&
		    (pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
			conn_read(c, out);
	}
	if (!(pfd[0].revents & POLLIN))
		return;
	while ((fd = accept4(R.listen_fd, NULL, NULL,
	            SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0; i < RELAY_MAX && R.c[i].fd >= 0; i++)
			;
		if (i == RELAY_MAX) {
			close(fd); /* bounded: the program retries or fails */
			continue;
		}
		R.c[i].fd = fd;
		R.c[i].id = ++R.next_id;
		proto_conn_frame(out, PROTO_CONN_OPEN, R.c[i].id, NULL, 0);
	}
}

/* A CONN_DATA or CONN_CLOSE frame from the host. */
void
relay_frame(int type, const unsigned char *p, uint32_t len)
{
	uint32_t id;
	int i;

	if (proto_conn_decode(p, len, &id) == -1)
		return;
	for (i = 0; i < RELAY_MAX; i++)
		if (R.c[i].fd >= 0 && R.c[i].id == id)
			break;
	if (i == RELAY_MAX)
		return; /* already closed here: the host learns from our CLOSE */
	if (type == PROTO_CONN_DATA && !R.c[i].closing)
		proto_buf_add(&R.c[i].q, p + 4, len - 4);
	else if (type == PROTO_CONN_CLOSE) {
		R.c[i].closing = 1;
		if (R.c[i].q.len == 0)
			conn_close(&R.c[i]);
	}
}
