/*
 * The fake dockerd: a libevent listener on a Unix socket in a private
 * temporary directory, plain bufferevents per connection (evhttp over
 * AF_UNIX has had bugs in 2.1). A request is read up to its blank line
 * (and its Content-Length body), then answered as the mode says.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "fake_dockerd.h"

struct fake_dockerd {
	struct event_base *base;
	struct evconnlistener *l;
	enum fake_mode mode;
	char dir[48];
	char path[96];
	char host[160];
	int requests;
	struct bufferevent *stalled[64];
	int nstalled;
};

static void
fake_close_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

static void
fake_write_done(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_free(bev);
}

static void
fake_send_and_close(struct bufferevent *bev, const void *data, size_t len)
{
	bufferevent_write(bev, data, len);
	bufferevent_setcb(bev, NULL, fake_write_done, fake_close_cb, NULL);
}

static void
fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_dockerd *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	static const char ok[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\n\r\n{}";
	static const char e500[] =
	    "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: application/json\r\nContent-Length: 19\r\n\r\n"
	    "{\"message\":\"boom\"}\n";
	static const char up[] =
	    "HTTP/1.1 101 UPGRADED\r\nContent-Type: "
	    "application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n"
	    "Upgrade: tcp\r\n\r\n";
	struct linger lg = { 1, 0 };

	if (end.pos == -1)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	f->requests++;
	switch (f->mode) {
	case FAKE_OK:
		fake_send_and_close(bev, ok, sizeof ok - 1);
		break;
	case FAKE_500:
		fake_send_and_close(bev, e500, sizeof e500 - 1);
		break;
	case FAKE_STALL:
		/* Held until fake_dockerd_free(). */
		bufferevent_disable(bev, EV_READ);
		if (f->nstalled <
		    (int)(sizeof f->stalled / sizeof f->stalled[0]))
			f->stalled[f->nstalled++] = bev;
		break;
	case FAKE_RESET:
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof lg);
		bufferevent_free(bev);
		break;
	case FAKE_ATTACH_TRUNCATED:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(bev, "\x01\0\0\0\0\0\0\x0ahel", 11);
		break;
	case FAKE_ATTACH_BAD_FRAME:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(bev, "\x09\x09\0\0\0\0\0\x02hi", 10);
		break;
	case FAKE_ATTACH_OK:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(bev, "\x01\0\0\0\0\0\0\x02hi", 10);
		break;
	}
}

static void
fake_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct fake_dockerd *f = arg;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)len;
	bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, fake_read_cb, NULL, fake_close_cb, f);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct fake_dockerd *
fake_dockerd_new(struct event_base *base, enum fake_mode mode)
{
	struct fake_dockerd *f = calloc(1, sizeof *f);
	struct sockaddr_un sun;

	f->base = base;
	f->mode = mode;
	snprintf(f->dir, sizeof f->dir, "/tmp/isol8-fake-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	snprintf(f->path, sizeof f->path, "%s/docker.sock", f->dir);
	snprintf(f->host, sizeof f->host, "unix://%s", f->path);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	f->l = evconnlistener_new_bind(base, fake_accept_cb, f,
	    LEV_OPT_CLOSE_ON_FREE, 16, (struct sockaddr *)&sun, sizeof sun);
	if (f->l == NULL)
		abort();
	return f;
}

void
fake_dockerd_mode(struct fake_dockerd *f, enum fake_mode mode)
{
	f->mode = mode;
}

const char *
fake_dockerd_host(struct fake_dockerd *f)
{
	return f->host;
}

int
fake_dockerd_requests(struct fake_dockerd *f)
{
	return f->requests;
}

void
fake_dockerd_free(struct fake_dockerd *f)
{
	int i;

	for (i = 0; i < f->nstalled; i++)
		bufferevent_free(f->stalled[i]);
	evconnlistener_free(f->l);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}
