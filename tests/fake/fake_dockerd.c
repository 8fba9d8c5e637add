/*
 * The fake dockerd: a libevent listener on a Unix socket in a private
 * temporary directory. A connection reads through a bufferevent (evhttp
 * over AF_UNIX has had bugs in 2.1) and writes through its own queue with
 * send(MSG_NOSIGNAL), so that a client that hangs up costs the fake an
 * EPIPE, never the test a SIGPIPE. A request is read up to its blank line
 * (and its Content-Length body), then answered as the mode says.
 *
 * FAKE_SIM simulates the container API and, after an attach, isol8-agent
 * (docs/agent-protocol.md): frames from the host are raw, frames back are
 * wrapped in stdcopy stdout frames as a real attach carries them.
 *
 * fake_dockerd_down() is dockerd killed: the listener goes but the socket
 * file stays (connect() is refused), every connection closes at once
 * without what it had queued; fake_dockerd_up() listens again on the same
 * path. The containers stay, as their shims outlive dockerd; only the
 * streams to their agents are gone.
 *
 * Invariants: every connection is on `conns` and freed once -- when its
 * peer goes, when it has written what it was closing with, or by
 * fake_dockerd_down() (so by fake_dockerd_free() too) -- never inside a
 * loop over its own input (closing is deferred to the write event);
 * every size read from the client is bounded (request heads, bodies,
 * frames), and so is every answer.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "agent/proto.h"
#include "docker/docker.h"
#include "fake_dockerd.h"

#define FAKE_MAX_HEAD 2048
#define FAKE_MAX_BODY (64u << 10)
#define FAKE_MAX_CTRS 32
#define FAKE_CHUNK (64u << 10) /* of an endless body */
#define FAKE_FLOOD_FRAME 4096

static const char up[] = "HTTP/1.1 101 UPGRADED\r\n"
                         "Content-Type: application/vnd.docker.raw-stream\r\n"
                         "Connection: Upgrade\r\n"
                         "Upgrade: tcp\r\n"
                         "\r\n";

/* A container the simulated dockerd created (the first FAKE_MAX_CTRS). */
struct fake_ctr {
	char id[16];
	char name[96];
	char limits[17];
	int session;
	enum {
		CTR_LIVE,
		CTR_DELETED,
		CTR_EXITED, /* its agent exited: AutoRemove took it */
	} state;
};

enum conn_kind {
	CONN_HTTP,
	CONN_ENDLESS, /* writing an endless body */
	CONN_AGENT,   /* attached: speaks the agent protocol */
};

struct fake_conn {
	struct fake_dockerd *f;
	enum conn_kind kind;
	struct bufferevent *bev; /* reads only */
	struct evbuffer *out;    /* written by `wr` */
	struct event *wr;
	int closing;         /* freed once `out` is written */
	struct event *later; /* a delayed answer (or attach) */
	int later_status;
	char *later_body;   /* NULL: an attach's upgrade */
	int later_create;   /* it answers a create (creates_inflight) */
	char later_ref[96]; /* an attach's container */
	size_t sent;        /* of an endless body */
	/* CONN_AGENT */
	char id[96];
	int busy;
	const struct fake_script *run; /* the RUN going on, or NULL */
	int oneshot;
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
	size_t sent; /* endless body bytes, all connections */
	struct fake_sim sim;
	int renamed[8];
	int next_id;
	struct fake_ctr ctrs[FAKE_MAX_CTRS];
	int nctrs;
	TAILQ_HEAD(, fake_conn) conns;
};

static const struct fake_script fake_default = { NULL, FAKE_RUN_HANG, NULL,
	NULL, 0, 0, 0, 0 };

static void conn_read_cb(struct bufferevent *, void *);
static void agent_read_cb(struct bufferevent *, void *);
static struct fake_ctr *ctr_find(struct fake_dockerd *, const char *);

static void
conn_free(struct fake_conn *c)
{
	TAILQ_REMOVE(&c->f->conns, c, entry);
	if (c->later != NULL) {
		event_free(c->later);
		if (c->later_create)
			c->f->sim.creates_inflight--;
	}
	free(c->later_body);
	event_free(c->wr);
	evbuffer_free(c->out);
	bufferevent_free(c->bev);
	free(c);
}

/* End the connection once what is queued is written; nothing more read. */
static void
conn_close(struct fake_conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	event_active(c->wr, EV_WRITE, 0);
}

static void
conn_write(struct fake_conn *c, const void *data, size_t len)
{
	evbuffer_add(c->out, data, len);
	event_add(c->wr, NULL);
}

/* The next piece of an endless body; its end after FAKE_ENDLESS_MAX. */
static void
conn_endless_more(struct fake_conn *c)
{
	static char chunk[FAKE_CHUNK];
	char size[16];

	if (c->sent >= FAKE_ENDLESS_MAX) {
		conn_write(c, "0\r\n\r\n", 5);
		c->kind = CONN_HTTP;
		conn_close(c);
		return;
	}
	memset(chunk, 'z', sizeof chunk);
	snprintf(size, sizeof size, "%x\r\n", (unsigned)sizeof chunk);
	conn_write(c, size, strlen(size));
	conn_write(c, chunk, sizeof chunk);
	conn_write(c, "\r\n", 2);
	c->sent += sizeof chunk;
	c->f->sent += sizeof chunk;
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_conn *c = arg;
	struct evbuffer_iovec v;
	ssize_t n;

	(void)what;
	while (evbuffer_peek(c->out, -1, NULL, &v, 1) > 0) {
		n = send(fd, v.iov_base, v.iov_len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			event_add(c->wr, NULL);
			return;
		}
		if (n == -1) {
			conn_free(c); /* the client went away */
			return;
		}
		evbuffer_drain(c->out, (size_t)n);
	}
	if (c->kind == CONN_ENDLESS && !c->closing)
		conn_endless_more(c);
	else if (c->closing)
		conn_free(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg); /* EOF or an error: the client is gone */
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
	c->out = evbuffer_new();
	c->wr = event_new(f->base, fd, EV_WRITE, conn_write_cb, c);
	TAILQ_INSERT_TAIL(&f->conns, c, entry);
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
}

/* Listen on f->path, replacing the socket file a previous listener left. */
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

const char *
fake_dockerd_path(struct fake_dockerd *f)
{
	return f->path;
}

int
fake_dockerd_requests(struct fake_dockerd *f)
{
	return f->requests;
}

size_t
fake_dockerd_sent(struct fake_dockerd *f)
{
	return f->sent;
}

struct fake_sim *
fake_dockerd_sim(struct fake_dockerd *f)
{
	return &f->sim;
}

/* Containers created and neither deleted nor exited (AutoRemove). */
int
fake_dockerd_live(struct fake_dockerd *f)
{
	int i, n = 0;

	for (i = 0; i < f->nctrs; i++)
		n += f->ctrs[i].state == CTR_LIVE;
	return n;
}

/* Whether a DELETE removed the container `id`. */
int
fake_dockerd_deleted(struct fake_dockerd *f, const char *id)
{
	int i;

	for (i = 0; i < f->nctrs; i++)
		if (strcmp(f->ctrs[i].id, id) == 0)
			return f->ctrs[i].state == CTR_DELETED;
	return 0;
}

/*
 * Killed: no listener, the socket file kept (connections are refused),
 * every connection -- REST and attached streams -- closed now, what it
 * had queued unsent. Called by the test, never from a fake callback.
 */
void
fake_dockerd_down(struct fake_dockerd *f)
{
	struct fake_conn *c;

	if (f->l != NULL)
		evconnlistener_free(f->l);
	f->l = NULL;
	while ((c = TAILQ_FIRST(&f->conns)) != NULL)
		conn_free(c);
}

/* Back: listening again on the same path. */
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
	    "HTTP/1.1 %d X\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "\r\n",
	    status, strlen(body));
	conn_write(c, head, strlen(head));
	conn_write(c, body, strlen(body));
}

/* ---- the agent behind an attach ---- */

/* The agent exits: so does its container, which AutoRemove removes. */
static void
agent_gone(struct fake_conn *c)
{
	struct fake_ctr *ctr = ctr_find(c->f, c->id);

	if (ctr != NULL)
		ctr->state = CTR_EXITED;
	c->run = NULL;
	conn_close(c);
}

/* One agent frame to the host, inside a stdcopy stdout frame. */
static void
agent_send(struct fake_conn *c, const void *frame, size_t len)
{
	unsigned char sc[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };

	sc[4] = (unsigned char)(len >> 24);
	sc[5] = (unsigned char)(len >> 16);
	sc[6] = (unsigned char)(len >> 8);
	sc[7] = (unsigned char)len;
	conn_write(c, sc, sizeof sc);
	conn_write(c, frame, len);
}

static void
agent_frame_send(struct fake_conn *c, int type, const void *p, size_t len)
{
	struct proto_buf pb = { 0 };

	proto_frame(&pb, type, p, len);
	agent_send(c, pb.data, pb.len);
	proto_buf_free(&pb);
}

static void
agent_str_send(struct fake_conn *c, int type, const char *s)
{
	if (s != NULL)
		agent_frame_send(c, type, s, strlen(s));
}

/* EXIT as the script says; a one-shot agent then exits. */
static void
agent_exit(struct fake_conn *c, const struct fake_script *sc)
{
	struct proto_buf pb = { 0 };
	size_t at;

	at = proto_frame_begin(&pb, PROTO_EXIT);
	proto_tlv_u64(&pb, PROTO_T_EXIT_CODE, (uint64_t)sc->exit_code);
	proto_tlv_u64(&pb, PROTO_T_SIGNAL, (uint64_t)sc->signal);
	proto_tlv_u64(&pb, PROTO_T_WALL_MS, FAKE_WALL_MS);
	proto_tlv_u64(&pb, PROTO_T_CPU_MS, FAKE_CPU_MS);
	proto_tlv_u64(&pb, PROTO_T_MAXRSS_KB, FAKE_RSS_KB);
	proto_tlv_u64(&pb, PROTO_T_FLAGS, sc->flags);
	proto_frame_end(&pb, at);
	agent_send(c, pb.data, pb.len);
	proto_buf_free(&pb);
	c->run = NULL;
	if (c->oneshot)
		agent_gone(c);
}

/* A RUN's script, played as far as it goes without the host. */
static void
agent_play(struct fake_conn *c, const struct fake_script *sc)
{
	static const unsigned char bad_header[8] = { PROTO_OUT, 1, 0, 0, 0, 0,
		0, 0 };
	static char flood[FAKE_FLOOD_FRAME];
	struct proto_buf pb = { 0 };
	size_t at, n, off;

	switch (sc->act) {
	case FAKE_RUN_ECHO:
	case FAKE_RUN_HANG:
		return;
	case FAKE_RUN_FLOOD:
		memset(flood, 'f', sizeof flood);
		for (off = 0; off < sc->flood; off += n) {
			n = sc->flood - off < sizeof flood ? sc->flood - off
			                                   : sizeof flood;
			agent_frame_send(c,
			    (off / sizeof flood) % 2 ? PROTO_ERR : PROTO_OUT,
			    flood, n);
		}
		break;
	case FAKE_RUN_CLOSE:
		agent_str_send(c, PROTO_OUT, sc->out);
		agent_gone(c);
		return;
	case FAKE_RUN_BAD_EXIT:
		at = proto_frame_begin(&pb, PROTO_EXIT);
		proto_tlv(&pb, PROTO_T_EXIT_CODE, "\0\0\0\0", 4);
		proto_frame_end(&pb, at);
		agent_send(c, pb.data, pb.len);
		proto_buf_free(&pb);
		return;
	case FAKE_RUN_BAD_HEADER:
		agent_send(c, bad_header, sizeof bad_header);
		return;
	case FAKE_RUN_FILE:
		at = proto_frame_begin(&pb, PROTO_FILE);
		proto_tlv_str(&pb, PROTO_T_PATH, "/sandbox/unasked");
		proto_tlv(&pb, PROTO_T_DATA, "x", 1);
		proto_tlv_u64(&pb, PROTO_T_END, 1);
		proto_frame_end(&pb, at);
		agent_send(c, pb.data, pb.len);
		proto_buf_free(&pb);
		return;
	case FAKE_RUN_ERROR:
		at = proto_frame_begin(&pb, PROTO_ERROR);
		proto_tlv_str(&pb, PROTO_T_MSG, sc->err ? sc->err : "");
		proto_frame_end(&pb, at);
		agent_send(c, pb.data, pb.len);
		proto_buf_free(&pb);
		return;
	case FAKE_RUN_UNKNOWN:
		agent_frame_send(c, 0x7e, "??", 2);
		/* FALLTHROUGH */
	case FAKE_RUN_EXIT:
		agent_str_send(c, PROTO_OUT, sc->out);
		agent_str_send(c, PROTO_ERR, sc->err);
		break;
	}
	agent_exit(c, sc);
}

/* RUN: record what the host asked for, find the script, play it. */
static void
agent_run(struct fake_conn *c, const unsigned char *p, uint32_t len)
{
	struct fake_sim *s = &c->f->sim;
	struct proto_run *r = malloc(sizeof *r);
	const struct fake_script *sc;
	const char *cmd;

	if (r == NULL || proto_run_decode(p, len, r) == -1 || r->argc == 0) {
		free(r);
		s->bad_frames++;
		conn_close(c);
		return;
	}
	s->runs++;
	s->run_timeout_ms = r->timeout_ms;
	s->run_output_cap = r->output_cap;
	s->run_oneshot = (uint64_t)r->oneshot;
	s->run_stdin = (uint64_t)r->stdin_pipe;
	c->oneshot = r->oneshot;
	cmd = r->argv[r->argc - 1];
	for (sc = s->scripts; sc != NULL && sc->cmd != NULL; sc++)
		if (strcmp(sc->cmd, cmd) == 0)
			break;
	if (sc == NULL || sc->cmd == NULL)
		sc = &fake_default;
	free(r);
	c->run = sc;
	agent_play(c, sc);
}

/* READY to a HELLO: its nonce back, our version, claimed or busy. */
static void
agent_hello(struct fake_conn *c, const unsigned char *p, uint32_t len)
{
	const unsigned char *val, *nonce = NULL;
	struct proto_buf pb = { 0 };
	size_t left = len, at;
	uint32_t vlen;
	int tag;

	c->f->sim.hellos++;
	if (c->f->sim.vanish_on_hello > 0) {
		/* dockerd died while the container started: the stream ends. */
		c->f->sim.vanish_on_hello--;
		conn_close(c);
		return;
	}
	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
		if (tag == PROTO_T_NONCE && vlen == 32)
			nonce = val;
	if (nonce == NULL || c->f->sim.agent_silent)
		return;
	at = proto_frame_begin(&pb, PROTO_READY);
	proto_tlv(&pb, PROTO_T_NONCE, nonce, 32);
	proto_tlv_u64(&pb, PROTO_T_VERSION, PROTO_VERSION);
	proto_tlv_u64(&pb, PROTO_T_STATUS, (uint64_t)c->busy);
	proto_frame_end(&pb, at);
	agent_send(c, pb.data, pb.len);
	proto_buf_free(&pb);
}

static void
agent_signal(struct fake_conn *c, const unsigned char *p, uint32_t len)
{
	struct fake_sim *s = &c->f->sim;
	const unsigned char *val;
	size_t left = len;
	uint32_t vlen;
	int tag;

	s->signals++;
	s->last_signo = s->last_grace_ms = 0;
	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
		if (tag == PROTO_T_SIGNO)
			proto_u64_decode(val, vlen, tag, &s->last_signo);
		else if (tag == PROTO_T_GRACE_MS)
			proto_u64_decode(val, vlen, tag, &s->last_grace_ms);
}

static void
agent_frame(struct fake_conn *c, int type, const unsigned char *p, uint32_t len)
{
	struct fake_sim *s = &c->f->sim;
	struct proto_file pf;

	switch (type) {
	case PROTO_HELLO:
		agent_hello(c, p, len);
		break;
	case PROTO_PUT_FILE:
		s->put_files++;
		if (proto_file_decode(p, len, &pf) == 0 && pf.end &&
		    !s->put_file_silent)
			agent_frame_send(c, PROTO_OK, NULL, 0);
		break;
	case PROTO_RUN:
		agent_run(c, p, len);
		break;
	case PROTO_STDIN:
		s->stdin_bytes += len;
		if (c->run != NULL && c->run->act == FAKE_RUN_ECHO)
			agent_frame_send(c, PROTO_OUT, p, len);
		break;
	case PROTO_STDIN_EOF:
		s->stdin_eofs++;
		if (c->run != NULL && c->run->act == FAKE_RUN_ECHO)
			agent_exit(c, c->run);
		break;
	case PROTO_SIGNAL:
		agent_signal(c, p, len);
		break;
	case PROTO_SCRUB:
		s->scrubs++;
		if (!s->scrub_silent)
			agent_frame_send(c, PROTO_OK, NULL, 0);
		break;
	case PROTO_BYE:
		s->byes++;
		agent_gone(c);
		break;
	default:
		break;
	}
}

/* Frames from the host, each whole before it is handled. */
static void
agent_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[PROTO_HDR_LEN], *p;
	uint32_t len;
	int type;

	while (!c->closing && evbuffer_get_length(in) >= PROTO_HDR_LEN) {
		evbuffer_copyout(in, h, sizeof h);
		if (proto_header(h, &type, &len) == -1) {
			c->f->sim.bad_frames++;
			conn_close(c);
			return;
		}
		if (evbuffer_get_length(in) < PROTO_HDR_LEN + len)
			return;
		p = evbuffer_pullup(in, PROTO_HDR_LEN + len);
		agent_frame(c, type, p + PROTO_HDR_LEN, len);
		evbuffer_drain(in, PROTO_HDR_LEN + len);
	}
}

/* ---- the container API ---- */

/* The path segment after /containers/: an id or a name. */
static void
path_ctr(const char *path, char *out, size_t size)
{
	const char *p = strstr(path, "/containers/");
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("/containers/");
	n = strcspn(p, "/?");
	if (n < size)
		snprintf(out, size, "%.*s", (int)n, p);
}

/* A live container by id or name. */
static struct fake_ctr *
ctr_find(struct fake_dockerd *f, const char *ref)
{
	int i;

	for (i = 0; i < f->nctrs; i++)
		if (f->ctrs[i].state == CTR_LIVE &&
		    (strcmp(f->ctrs[i].id, ref) == 0 ||
		        strcmp(f->ctrs[i].name, ref) == 0))
			return &f->ctrs[i];
	return NULL;
}

static void sim_attach_now(struct fake_conn *, const char *);

static void
sim_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_conn *c = arg;

	(void)fd;
	(void)what;
	event_free(c->later);
	c->later = NULL;
	if (c->later_create)
		c->f->sim.creates_inflight--;
	c->later_create = 0;
	if (c->later_body == NULL) {
		sim_attach_now(c, c->later_ref);
		return;
	}
	fake_reply(c, c->later_status, c->later_body);
	free(c->later_body);
	c->later_body = NULL;
}

/*
 * Answer after ms (0: on the next turn; negative: now); body NULL: upgrade
 * the attach to container `ref` then.
 */
static void
sim_later(
    struct fake_conn *c, int ms, int status, const char *body, const char *ref)
{
	struct timeval tv = { ms > 0 ? ms / 1000 : 0,
		ms > 0 ? (ms % 1000) * 1000 : 0 };

	if (ms < 0 && body != NULL) {
		fake_reply(c, status, body);
		return;
	}
	if (ms < 0) {
		sim_attach_now(c, ref);
		return;
	}
	c->later_status = status;
	c->later_body = body != NULL ? strdup(body) : NULL;
	snprintf(c->later_ref, sizeof c->later_ref, "%s", ref ? ref : "");
	c->later = evtimer_new(c->f->base, sim_later_cb, c);
	evtimer_add(c->later, &tv);
}

/* A create: registered now, answered after create_delay_ms. */
static void
sim_create(struct fake_conn *c, const char *path, const char *body)
{
	struct fake_dockerd *f = c->f;
	struct fake_sim *s = &f->sim;
	struct fake_ctr *ctr;
	const char *q, *lim;
	char name[96] = "", answer[96];
	int status;

	s->creates++;
	if (++s->creates_inflight > s->max_creates_inflight)
		s->max_creates_inflight = s->creates_inflight;
	if ((q = strstr(path, "?name=")) != NULL)
		snprintf(
		    name, sizeof name, "%.*s", (int)strcspn(q + 6, "&"), q + 6);
	if (s->fail_creates) {
		status = 500;
		snprintf(answer, sizeof answer, "{\"message\":\"boom\"}");
	} else if (name[0] != '\0' && ctr_find(f, name) != NULL) {
		s->conflicts++;
		status = 409;
		snprintf(answer, sizeof answer,
		    "{\"message\":\"Conflict: name in use\"}");
	} else {
		status = 201;
		snprintf(answer, sizeof answer, "{\"Id\":\"sim%08d\"}",
		    ++f->next_id);
		if (f->nctrs < FAKE_MAX_CTRS) { /* beyond: not known */
			ctr = &f->ctrs[f->nctrs++];
			snprintf(
			    ctr->id, sizeof ctr->id, "sim%08d", f->next_id);
			snprintf(ctr->name, sizeof ctr->name, "%s", name);
			lim = strstr(body, "\"" LABEL_LIMITS "\":\"");
			if (lim != NULL)
				snprintf(ctr->limits, sizeof ctr->limits, "%s",
				    lim + strlen("\"" LABEL_LIMITS "\":\""));
			ctr->session =
			    strstr(body, "\"" LABEL_KIND "\":\"session\"") !=
			    NULL;
		}
	}
	sim_later(c, s->create_delay_ms, status, answer, NULL);
	c->later_create = 1;
}

static void
sim_inspect(struct fake_conn *c, const char *ref)
{
	struct fake_ctr *ctr = ctr_find(c->f, ref);
	char body[512];

	c->f->sim.inspects++;
	if (ctr == NULL) {
		sim_later(c, c->f->sim.inspect_delay_ms - 1, 404,
		    "{\"message\":\"No such container\"}", NULL);
		return;
	}
	snprintf(body, sizeof body,
	    "{\"Id\":\"%s\",\"Name\":\"/%s\","
	    "\"State\":{\"Status\":\"running\",\"Running\":true},"
	    "\"Config\":{\"Labels\":{"
	    "\"" LABEL_KIND "\":\"%s\",\"" LABEL_LIMITS "\":\"%s\"}}}",
	    ctr->id, ctr->name, ctr->session ? "session" : "run", ctr->limits);
	sim_later(c, c->f->sim.inspect_delay_ms - 1, 200, body, NULL);
}

/* A delete: the container goes, and with it what is attached to it. */
static void
sim_delete(struct fake_conn *c, const char *ref)
{
	struct fake_dockerd *f = c->f;
	struct fake_ctr *ctr = ctr_find(f, ref);
	struct fake_conn *a;
	int i;

	f->sim.deletes++;
	for (i = 0; i < f->nctrs && ctr == NULL; i++)
		if (strcmp(f->ctrs[i].id, ref) == 0) {
			fake_reply(
			    c, 404, "{\"message\":\"No such container\"}");
			return; /* gone already (AutoRemove) */
		}
	TAILQ_FOREACH (a, &f->conns, entry)
		if (a->kind == CONN_AGENT && !a->closing &&
		    (strcmp(a->id, ref) == 0 ||
		        (ctr != NULL && strcmp(a->id, ctr->id) == 0)))
			conn_close(a);
	if (ctr != NULL)
		ctr->state = CTR_DELETED;
	fake_reply(c, 204, "");
}

/* The attach's upgrade: from now on the connection is the agent's. */
static void
sim_attach_now(struct fake_conn *c, const char *ref)
{
	struct fake_sim *s = &c->f->sim;
	struct fake_ctr *ctr = ctr_find(c->f, ref);

	conn_write(c, up, sizeof up - 1);
	c->kind = CONN_AGENT;
	snprintf(c->id, sizeof c->id, "%s", ref);
	/* Warm containers (ids warmN) can be someone else's; sessions too. */
	c->busy = (s->agent_busy && strncmp(ref, "warm", 4) == 0) ||
	    (s->busy_sessions && ctr != NULL && ctr->session);
	bufferevent_setcb(c->bev, agent_read_cb, NULL, conn_event_cb, c);
	agent_read_cb(c->bev, c);
}

static void
sim_attach(struct fake_conn *c, const char *ref)
{
	c->f->sim.attaches++;
	sim_later(c, c->f->sim.attach_delay_ms - 1, 0, NULL, ref);
}

static void
sim_rename(struct fake_conn *c, const char *path)
{
	struct fake_sim *s = &c->f->sim;
	size_t i;

	for (i = 0; i < 8 && s->warm[i] != NULL; i++)
		if (strstr(path, s->warm[i]) != NULL &&
		    strstr(path, s->warm[i]) < strstr(path, "/rename"))
			break;
	if (i < 8 && s->warm[i] != NULL && !c->f->renamed[i]) {
		c->f->renamed[i] = 1;
		s->renames_ok++;
		sim_later(c, s->rename_delay_ms - 1, 204, "", NULL);
	} else {
		s->renames_404++;
		sim_later(c, s->rename_delay_ms - 1, 404,
		    "{\"message\":\"No such container\"}", NULL);
	}
}

static void
sim_list(struct fake_conn *c)
{
	struct fake_sim *s = &c->f->sim;
	char body[1024];
	size_t i, off;

	off = (size_t)snprintf(body, sizeof body, "[");
	for (i = 0; i < 8 && s->warm[i] != NULL && off < sizeof body; i++)
		off += (size_t)snprintf(body + off, sizeof body - off,
		    "%s{\"Id\":\"warm%zu\",\"Names\":[\"/%s\"],"
		    "\"State\":\"running\"}",
		    i ? "," : "", i, s->warm[i]);
	if (off < sizeof body)
		snprintf(body + off, sizeof body - off, "]");
	s->lists++;
	sim_later(c, s->list_delay_ms - 1, 200, body, NULL);
}

static void
sim_ping(struct fake_conn *c)
{
	c->f->sim.pings++;
	fake_reply(c, 200, "OK");
}

/* One request of the simulated dockerd (connections are kept alive). */
static void
sim_request(struct fake_conn *c, const char *head, const char *body)
{
	char method[16], path[512], ref[96];

	if (sscanf(head, "%15s %511s", method, path) != 2) {
		conn_close(c);
		return;
	}
	path_ctr(path, ref, sizeof ref);
	if (strstr(path, "/containers/create") != NULL)
		sim_create(c, path, body);
	else if (strstr(path, "/attach?") != NULL)
		sim_attach(c, ref);
	else if (strstr(path, "/rename?") != NULL)
		sim_rename(c, path);
	else if (strstr(path, "/containers/json") != NULL)
		sim_list(c);
	else if (strcmp(path, "/_ping") == 0)
		sim_ping(c);
	else if (strcmp(method, "DELETE") == 0)
		sim_delete(c, ref);
	else if (strcmp(method, "GET") == 0 && ref[0] != '\0')
		sim_inspect(c, ref);
	else if (strstr(path, "/start") != NULL) {
		c->f->sim.starts++;
		sim_later(c, c->f->sim.start_delay_ms - 1, 204, "", NULL);
	} else
		fake_reply(c, 204, ""); /* kill: nothing to say */
}

/* ---- requests ---- */

/* FAKE_SIM: a whole request (head and body), bounded. */
static void
conn_sim_read(struct fake_conn *c, struct evbuffer *in, size_t hlen)
{
	char head[FAKE_MAX_HEAD + 1], *body;
	const char *cl;
	size_t clen = 0;

	if (hlen > FAKE_MAX_HEAD) {
		conn_close(c);
		return;
	}
	evbuffer_copyout(in, head, hlen);
	head[hlen] = '\0';
	if ((cl = strstr(head, "Content-Length: ")) != NULL)
		clen = strtoul(cl + 16, NULL, 10);
	if (clen > FAKE_MAX_BODY) {
		conn_close(c);
		return;
	}
	if (evbuffer_get_length(in) < hlen + clen)
		return; /* the body is still coming */
	c->f->requests++;
	body = calloc(1, clen + 1);
	evbuffer_drain(in, hlen);
	evbuffer_remove(in, body, clen);
	sim_request(c, head, body);
	free(body);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct fake_conn *c = arg;
	struct fake_dockerd *f = c->f;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 2\r\n"
	                         "\r\n"
	                         "{}";
	static const char e500[] =
	    "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: application/json\r\nContent-Length: 19\r\n\r\n"
	    "{\"message\":\"boom\"}\n";
	static const char chunked[] = "HTTP/1.1 200 OK\r\n"
	                              "Transfer-Encoding: chunked\r\n\r\n";
	static const char half[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Length: 100\r\n\r\n0123456789";
	struct linger lg = { 1, 0 };

	if (end.pos == -1) {
		if (evbuffer_get_length(in) > FAKE_MAX_HEAD)
			conn_close(c);
		return;
	}
	if (f->mode == FAKE_SIM) {
		conn_sim_read(c, in, (size_t)end.pos + 4);
		return;
	}
	f->requests++;
	evbuffer_drain(in, evbuffer_get_length(in));
	switch (f->mode) {
	case FAKE_OK:
		conn_write(c, ok, sizeof ok - 1);
		conn_close(c);
		break;
	case FAKE_500:
		conn_write(c, e500, sizeof e500 - 1);
		conn_close(c);
		break;
	case FAKE_STALL:
		/* Held until the client goes or fake_dockerd_free(). */
		break;
	case FAKE_RESET:
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &lg,
		    sizeof lg);
		conn_free(c);
		break;
	case FAKE_ATTACH_TRUNCATED:
		conn_write(c, up, sizeof up - 1);
		conn_write(c, "\x01\0\0\0\0\0\0\x0ahel", 11);
		conn_close(c);
		break;
	case FAKE_ATTACH_BAD_FRAME:
		conn_write(c, up, sizeof up - 1);
		conn_write(c, "\x09\x09\0\0\0\0\0\x02hi", 10);
		conn_close(c);
		break;
	case FAKE_ATTACH_OK:
		conn_write(c, up, sizeof up - 1);
		conn_write(c, "\x01\0\0\0\0\0\0\x02hi", 10);
		conn_close(c);
		break;
	case FAKE_ENDLESS:
		c->kind = CONN_ENDLESS;
		conn_write(c, chunked, sizeof chunked - 1);
		break;
	case FAKE_HALF_BODY:
		conn_write(c, half, sizeof half - 1);
		break;
	case FAKE_SIM:
		break;
	}
}
