/*
 * The fake dockerd: a libevent listener on a Unix socket in a private
 * temporary directory, plain bufferevents per connection (evhttp over
 * AF_UNIX has had bugs in 2.1). A request is read up to its blank line
 * (and its Content-Length body), then answered as the mode says. Every
 * connection is a struct fake_conn on a list, so that fake_dockerd_down()
 * can close them all at once, as a killed dockerd does.
 */
#include <sys/queue.h>
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

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST(head);                                        \
	     (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif

struct fake_conn {
	struct fake_dockerd *f;
	struct bufferevent *bev;
	int agent; /* attached: frames from the host, answered */
	int busy;  /* the agent of a warm container someone else has */
	int closing;
	TAILQ_ENTRY(fake_conn) entry;
};

struct fake_dockerd {
	struct event_base *base;
	struct evconnlistener *l;
	enum fake_mode mode;
	char dir[48];
	char path[96];
	char host[160];
	int requests;
	struct fake_sim sim;
	int renamed[8];
	int next_id;
	TAILQ_HEAD(, fake_conn) conns;
};

/* A delayed create answer. */
struct fake_later {
	struct fake_conn *c;
	int ok;
	struct event *ev;
	TAILQ_ENTRY(fake_later) entry;
};

static TAILQ_HEAD(, fake_later) laters = TAILQ_HEAD_INITIALIZER(laters);

static void fake_read_cb(struct bufferevent *, void *);
static void fake_event_cb(struct bufferevent *, short, void *);
static void fake_sim_request(struct fake_conn *, const char *);
static void fake_agent_read(struct fake_conn *);

static void
fake_conn_free(struct fake_conn *c)
{
	struct fake_later *l, *tl;

	TAILQ_FOREACH_SAFE (l, &laters, entry, tl)
		if (l->c == c) {
			TAILQ_REMOVE(&laters, l, entry);
			event_free(l->ev);
			free(l);
		}
	TAILQ_REMOVE(&c->f->conns, c, entry);
	bufferevent_free(c->bev);
	free(c);
}

static void
fake_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	fake_conn_free(arg);
}

static void
fake_write_done(struct bufferevent *bev, void *arg)
{
	struct fake_conn *c = arg;

	(void)bev;
	if (c->closing)
		fake_conn_free(c);
}

static void
fake_send_and_close(struct fake_conn *c, const void *data, size_t len)
{
	bufferevent_write(c->bev, data, len);
	c->closing = 1;
}

static void
fake_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_conn *c = arg;
	struct fake_dockerd *f = c->f;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
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
	const char *cl;
	size_t hlen, clen = 0;

	if (c->agent) {
		fake_agent_read(c);
		return;
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1 || c->closing)
		return;
	/* Requests one after the other on a kept-alive connection. */
	while (f->mode == FAKE_SIM && end.pos != -1 && !c->agent) {
		hlen = (size_t)end.pos + 4;
		if (hlen >= sizeof head) {
			fake_conn_free(c);
			return;
		}
		evbuffer_copyout(in, head, hlen);
		head[hlen] = '\0';
		clen = 0;
		if ((cl = strstr(head, "Content-Length: ")) != NULL)
			clen = strtoul(cl + 16, NULL, 10);
		if (evbuffer_get_length(in) < hlen + clen)
			return; /* the body is still coming */
		f->requests++;
		evbuffer_drain(in, hlen + clen);
		fake_sim_request(c, head);
		end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	}
	if (f->mode == FAKE_SIM) {
		if (c->agent && evbuffer_get_length(in) > 0)
			fake_agent_read(c); /* HELLO came with the upgrade */
		return;
	}
	f->requests++;
	evbuffer_drain(in, evbuffer_get_length(in));
	switch (f->mode) {
	case FAKE_OK:
		fake_send_and_close(c, ok, sizeof ok - 1);
		break;
	case FAKE_500:
		fake_send_and_close(c, e500, sizeof e500 - 1);
		break;
	case FAKE_STALL:
		/* Held until the fake goes down or is freed. */
		bufferevent_disable(bev, EV_READ);
		break;
	case FAKE_RESET:
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof lg);
		fake_conn_free(c);
		break;
	case FAKE_ATTACH_TRUNCATED:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(c, "\x01\0\0\0\0\0\0\x0ahel", 11);
		break;
	case FAKE_ATTACH_BAD_FRAME:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(c, "\x09\x09\0\0\0\0\0\x02hi", 10);
		break;
	case FAKE_ATTACH_OK:
		bufferevent_write(bev, up, sizeof up - 1);
		fake_send_and_close(c, "\x01\0\0\0\0\0\0\x02hi", 10);
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
	struct fake_conn *c = calloc(1, sizeof *c);

	(void)l;
	(void)sa;
	(void)len;
	c->f = f;
	c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	TAILQ_INSERT_TAIL(&f->conns, c, entry);
	bufferevent_setcb(
	    c->bev, fake_read_cb, fake_write_done, fake_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
fake_listen(struct fake_dockerd *f)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	unlink(f->path);
	f->l = evconnlistener_new_bind(f->base, fake_accept_cb, f,
	    LEV_OPT_CLOSE_ON_FREE, 64, (struct sockaddr *)&sun, sizeof sun);
	if (f->l == NULL)
		abort();
}

struct fake_dockerd *
fake_dockerd_new(struct event_base *base, enum fake_mode mode)
{
	struct fake_dockerd *f = calloc(1, sizeof *f);

	f->base = base;
	f->mode = mode;
	TAILQ_INIT(&f->conns);
	snprintf(f->dir, sizeof f->dir, "/tmp/isol8-fake-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	snprintf(f->path, sizeof f->path, "%s/docker.sock", f->dir);
	snprintf(f->host, sizeof f->host, "unix://%s", f->path);
	fake_listen(f);
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

/* Killed: no listener (the socket file stays: connections are refused),
 * every connection -- REST and attached streams -- closed. */
void
fake_dockerd_down(struct fake_dockerd *f)
{
	struct fake_conn *c;

	if (f->l != NULL)
		evconnlistener_free(f->l);
	f->l = NULL;
	while ((c = TAILQ_FIRST(&f->conns)) != NULL)
		fake_conn_free(c);
}

void
fake_dockerd_up(struct fake_dockerd *f)
{
	if (f->l == NULL)
		fake_listen(f);
}

void
fake_dockerd_free(struct fake_dockerd *f)
{
	fake_dockerd_down(f);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}

static void
fake_reply(struct fake_conn *c, int status, const char *body)
{
	char head[256];

	snprintf(head, sizeof head,
	    "HTTP/1.1 %d X\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n",
	    status, strlen(body));
	bufferevent_write(c->bev, head, strlen(head));
	bufferevent_write(c->bev, body, strlen(body));
}

static void
fake_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_later *l = arg;
	struct fake_dockerd *f = l->c->f;
	char body[64];

	(void)fd;
	(void)what;
	f->sim.creates_inflight--;
	if (l->ok) {
		snprintf(
		    body, sizeof body, "{\"Id\":\"sim%08d\"}", ++f->next_id);
		fake_reply(l->c, 201, body);
	} else
		fake_reply(l->c, 500, "{\"message\":\"boom\"}");
	TAILQ_REMOVE(&laters, l, entry);
	event_free(l->ev);
	free(l);
}

/* One request of the simulated dockerd (connections are kept alive). */
static void
fake_sim_request(struct fake_conn *c, const char *head)
{
	struct fake_dockerd *f = c->f;
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
		l->c = c;
		l->ok = !s->fail_creates;
		l->ev = evtimer_new(f->base, fake_later_cb, l);
		TAILQ_INSERT_TAIL(&laters, l, entry);
		tv.tv_sec = 0;
		tv.tv_usec = s->create_delay_ms * 1000;
		evtimer_add(l->ev, &tv);
		return;
	}
	if (strstr(path, "/attach?") != NULL) {
		s->attaches++;
		bufferevent_write(c->bev, up, sizeof up - 1);
		c->agent = 1;
		/* Only warm containers (ids warmN) can be someone else's. */
		c->busy = s->agent_busy && strstr(path, "/containers/warm");
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
			fake_reply(c, 204, "");
		} else {
			s->renames_404++;
			fake_reply(
			    c, 404, "{\"message\":\"No such container\"}");
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
		fake_reply(c, 200, body);
		return;
	}
	if (strstr(path, "/_ping") != NULL) {
		s->pings++;
		fake_reply(c, 200, "OK");
		return;
	}
	if (strncmp(head, "DELETE", 6) == 0)
		s->deletes++;
	/* start, delete, kill: nothing to say. */
	fake_reply(c, 204, "");
}

/* A frame to the host, in a stdcopy stdout frame. */
static void
fake_agent_send(struct fake_conn *c, const struct proto_buf *pb)
{
	unsigned char sc[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };

	sc[4] = (unsigned char)(pb->len >> 24);
	sc[5] = (unsigned char)(pb->len >> 16);
	sc[6] = (unsigned char)(pb->len >> 8);
	sc[7] = (unsigned char)pb->len;
	bufferevent_write(c->bev, sc, 8);
	bufferevent_write(c->bev, pb->data, pb->len);
}

/* One frame from the host, as an agent would answer it; 1: c is gone. */
static int
fake_agent_frame(
    struct fake_conn *c, int type, const unsigned char *p, uint32_t len)
{
	struct proto_buf pb = { 0 };
	size_t at;

	switch (type) {
	case PROTO_HELLO:
		if (c->f->sim.vanish_on_hello > 0) {
			c->f->sim.vanish_on_hello--;
			fake_conn_free(c);
			return 1;
		}
		/* READY{NONCE (the 32 bytes sent), VERSION, STATUS}. */
		if (len != 38)
			return 0;
		at = proto_frame_begin(&pb, PROTO_READY);
		proto_tlv(&pb, PROTO_T_NONCE, p + 6, 32);
		proto_tlv_u64(&pb, PROTO_T_VERSION, PROTO_VERSION);
		proto_tlv_u64(&pb, PROTO_T_STATUS, (uint64_t)c->busy);
		proto_frame_end(&pb, at);
		break;
	case PROTO_PUT_FILE:
		proto_frame(&pb, PROTO_OK, NULL, 0);
		break;
	case PROTO_RUN:
		c->f->sim.runs++;
		if (c->f->sim.vanish_on_run) {
			fake_conn_free(c);
			return 1;
		}
		proto_frame(&pb, PROTO_OUT, "ok\n", 3);
		at = proto_frame_begin(&pb, PROTO_EXIT);
		proto_tlv_u64(&pb, PROTO_T_EXIT_CODE, 0);
		proto_tlv_u64(&pb, PROTO_T_SIGNAL, 0);
		proto_tlv_u64(&pb, PROTO_T_WALL_MS, 1);
		proto_tlv_u64(&pb, PROTO_T_CPU_MS, 1);
		proto_tlv_u64(&pb, PROTO_T_MAXRSS_KB, 1);
		proto_tlv_u64(&pb, PROTO_T_FLAGS, 0);
		proto_frame_end(&pb, at);
		break;
	default:
		return 0;
	}
	fake_agent_send(c, &pb);
	proto_buf_free(&pb);
	return 0;
}

/* After an attach: the host's frames, whole ones only. */
static void
fake_agent_read(struct fake_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	unsigned char h[PROTO_HDR_LEN], *frame;
	uint32_t len;
	int type, gone;

	while (evbuffer_get_length(in) >= PROTO_HDR_LEN) {
		evbuffer_copyout(in, h, PROTO_HDR_LEN);
		if (proto_header(h, &type, &len) == -1) {
			fake_conn_free(c);
			return;
		}
		if (evbuffer_get_length(in) < PROTO_HDR_LEN + len)
			return;
		evbuffer_drain(in, PROTO_HDR_LEN);
		frame = malloc(len + 1);
		evbuffer_remove(in, frame, len);
		gone = fake_agent_frame(c, type, frame, len);
		free(frame);
		if (gone)
			return;
	}
}

struct fake_sim *
fake_dockerd_sim(struct fake_dockerd *f)
{
	return &f->sim;
}
