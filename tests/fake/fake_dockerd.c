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

#include "agent/proto.h"
#include "fake_dockerd.h"

static int busy_marker; /* the attach of a busy agent */

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
	struct fake_sim sim;
	int renamed[8];
	int next_id;
};

/* A delayed create answer. */
struct fake_later {
	struct fake_dockerd *f;
	struct bufferevent *bev;
	int ok;
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

static void fake_sim_request(
    struct fake_dockerd *, struct bufferevent *, const char *);
static void fake_agent_cb(struct bufferevent *, void *);
static void fake_close_cb(struct bufferevent *, short, void *);

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

	char head[2048];
	size_t hlen;

	if (end.pos == -1)
		return;
	f->requests++;
	if (f->mode == FAKE_SIM) {
		const char *cl;
		size_t clen = 0;

		hlen = (size_t)end.pos + 4;
		if (hlen >= sizeof head) {
			bufferevent_free(bev);
			return;
		}
		evbuffer_copyout(in, head, hlen);
		head[hlen] = '\0';
		if ((cl = strstr(head, "Content-Length: ")) != NULL)
			clen = strtoul(cl + 16, NULL, 10);
		if (evbuffer_get_length(in) < hlen + clen) {
			f->requests--;
			return; /* the body is still coming */
		}
		evbuffer_drain(in, hlen + clen);
		fake_sim_request(f, bev, head);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
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
	case FAKE_SIM:
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

static void
fake_reply(struct bufferevent *bev, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof head,
	    "HTTP/1.1 %d X\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n",
	    status, strlen(body));
	bufferevent_write(bev, head, strlen(head));
	bufferevent_write(bev, body, strlen(body));
}

static void
fake_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_later *l = arg;
	char body[64];

	(void)fd;
	(void)what;
	l->f->sim.creates_inflight--;
	if (l->ok) {
		snprintf(
		    body, sizeof body, "{\"Id\":\"sim%08d\"}", ++l->f->next_id);
		fake_reply(l->bev, 201, body);
	} else
		fake_reply(l->bev, 500, "{\"message\":\"boom\"}");
	free(l);
}

/* One request of the simulated dockerd (connections are kept alive). */
static void
fake_sim_request(
    struct fake_dockerd *f, struct bufferevent *bev, const char *head)
{
	struct fake_sim *s = &f->sim;
	struct timeval tv;
	struct fake_later *l;
	char body[1024], path[512];
	static const char up[] =
	    "HTTP/1.1 101 UPGRADED\r\nContent-Type: "
	    "application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n"
	    "Upgrade: tcp\r\n\r\n";
	size_t i, off;

	if (sscanf(head, "%*s %511s", path) != 1)
		path[0] = '\0';
	if (strstr(path, "/containers/create") != NULL) {
		s->creates++;
		if (++s->creates_inflight > s->max_creates_inflight)
			s->max_creates_inflight = s->creates_inflight;
		l = calloc(1, sizeof *l);
		l->f = f;
		l->bev = bev;
		l->ok = !s->fail_creates;
		tv.tv_sec = 0;
		tv.tv_usec = s->create_delay_ms * 1000;
		event_base_once(f->base, -1, EV_TIMEOUT, fake_later_cb, l, &tv);
		/* The JSON body follows the header: read and dropped later. */
		return;
	}
	if (strstr(path, "/attach?") != NULL) {
		s->attaches++;
		bufferevent_write(bev, up, sizeof up - 1);
		/* Only warm containers (ids warmN) can be someone else's. */
		bufferevent_setcb(bev, fake_agent_cb, NULL, fake_close_cb,
		    s->agent_busy && strstr(path, "/containers/warm")
		        ? (void *)&busy_marker
		        : f);
		return;
	}
	if (strstr(path, "/rename?") != NULL) {
		for (i = 0; i < 8 && s->warm[i] != NULL; i++)
			if (strstr(path, s->warm[i]) != NULL &&
			    strstr(path, s->warm[i]) < strstr(path, "/rename"))
				break;
		if (i < 8 && s->warm[i] != NULL && !f->renamed[i]) {
			f->renamed[i] = 1;
			s->renames_ok++;
			fake_reply(bev, 204, "");
		} else {
			s->renames_404++;
			fake_reply(
			    bev, 404, "{\"message\":\"No such container\"}");
		}
		return;
	}
	if (strstr(path, "/containers/json") != NULL) {
		off = (size_t)snprintf(body, sizeof body, "[");
		for (i = 0; i < 8 && s->warm[i] != NULL; i++)
			off += (size_t)snprintf(body + off, sizeof body - off,
			    "%s{\"Id\":\"warm%zu\",\"Names\":[\"/%s\"],"
			    "\"State\":\"running\"}",
			    i ? "," : "", i, s->warm[i]);
		snprintf(body + off, sizeof body - off, "]");
		fake_reply(bev, 200, body);
		return;
	}
	if (strncmp(head, "DELETE", 6) == 0)
		s->deletes++;
	/* start, delete, kill: nothing to say. */
	fake_reply(bev, 204, "");
}

/* After an attach: answer HELLO frames like an agent would. */
static void
fake_agent_cb(struct bufferevent *bev, void *arg)
{
	int busy = arg == (void *)&busy_marker;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[8], frame[128], sc[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	struct proto_buf pb = { 0 };
	uint32_t len;
	size_t at;

	while (evbuffer_get_length(in) >= 8) {
		evbuffer_copyout(in, h, 8);
		len = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
		    (uint32_t)h[6] << 8 | h[7];
		if (len > sizeof frame || evbuffer_get_length(in) < 8 + len)
			return;
		evbuffer_drain(in, 8);
		evbuffer_remove(in, frame, len);
		if (h[0] != 0x01 || len != 38)
			continue;
		/* READY{NONCE (the 32 bytes sent), VERSION, STATUS}. */
		at = proto_frame_begin(&pb, PROTO_READY);
		proto_tlv(&pb, PROTO_T_NONCE, frame + 6, 32);
		proto_tlv_u64(&pb, PROTO_T_VERSION, PROTO_VERSION);
		proto_tlv_u64(&pb, PROTO_T_STATUS, (uint64_t)busy);
		proto_frame_end(&pb, at);
		/* Wrapped in a stdcopy stdout frame. */
		sc[7] = (unsigned char)pb.len;
		bufferevent_write(bev, sc, 8);
		bufferevent_write(bev, pb.data, pb.len);
		proto_buf_free(&pb);
	}
}

struct fake_sim *
fake_dockerd_sim(struct fake_dockerd *f)
{
	return &f->sim;
}
