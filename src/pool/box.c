/*
 * A box: one hardened container running isol8-agent as PID 1, attached,
 * claimed with a HELLO nonce. Its state moves in box_step() only:
 *
 *   box_create   CREATING -> ATTACHING -> STARTING -> HELLO -> READY
 *   box_claim                ATTACHING -> HELLO -> READY (running already)
 *   any state    -> CLOSED   (a failure before READY, or box_close())
 *
 * CREATING waits for dockerd's answer to the create, ATTACHING for the
 * attach's upgrade (then HELLO is queued and the start asked for, so that
 * no early frame is lost), STARTING for the start's answer, HELLO for the
 * agent's READY with our nonce -- which may come before the start's
 * answer: it is a fact recorded until then. Callbacks (dockerd's answers,
 * the attach, the agent's frames, the timer) only record what happened in
 * the box's facts and call box_step().
 *
 * box_close(box, end) is the one teardown, the owner's or a failure's:
 * DETACH lets the container be (a one-shot agent exits by itself, a
 * session stays), BYE tells the agent to exit first (AutoRemove removes
 * it), REMOVE kills and removes the container -- a container whose create
 * has not answered yet is removed when it answers: the create is handed
 * over to the Docker client (docker_container_create_abandon()), so a
 * closed box holds nothing and calls nobody back. A failure before READY
 * removes what we created (unless its agent answered busy: then it is a
 * session another process holds), never a container we only claimed; the
 * first error is the one reported. A closed box's memory goes on a later
 * loop turn (it may be closed from inside its own callbacks).
 *
 * The container's stdout carries agent frames, its stderr the agent's own
 * log lines. Frames are parsed here; READY frames are consumed, the rest go
 * to the box's owner.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#define BOX_CREATE_TIMEOUT_MS 60000
#define BOX_NOFILE 1024           /* open files per sandbox process */
#define BOX_SHM_SIZE (16ll << 20) /* /dev/shm */
#define BOX_MAX_LOG_LINE 4096

enum box_state {
	BOX_CREATING,  /* dockerd's answer to the create is due */
	BOX_ATTACHING, /* the attach's upgrade is due */
	BOX_STARTING,  /* dockerd's answer to the start is due */
	BOX_HELLO,     /* running: the agent's READY is due */
	BOX_READY,     /* the owner's: frames go to its callbacks */
	BOX_CLOSED,    /* nothing in flight; freed on a later turn */
};

struct box {
	struct docker *d;
	enum box_state state; /* moved by box_step() only */
	char *id;
	char *name;           /* we created it under this name; NULL: claimed */
	struct http_req *req; /* the create or the start in flight */
	struct docker_attach *attach;
	struct buf rx;
	struct buf log;
	char nonce[33];
	struct event *timer;
	box_ready_cb ready_cb;
	void *ready_arg;
	struct box_cbs cbs;
	void *arg;

	/* Facts: recorded by the callbacks, read by box_step(). */
	int attached;    /* the attach is upgraded */
	int answered;    /* the agent's READY: our nonce, status 0 */
	struct err *err; /* the first failure before READY */
	int closing;     /* box_close() was called, with `end` */
	enum box_end end;
};

static void box_created(
    const struct docker_reply *, const struct err *, void *);
static void box_started(
    const struct docker_reply *, const struct err *, void *);
static void box_attach_ready(void *);
static void box_attach_data(int, const char *, size_t, void *);
static void box_attach_closed(const struct err *, void *);
static void box_attach(struct box *);
static void box_step(struct box *);
static void box_free_cb(void *);

/* A short stable name for a pool key (a label value). */
void
pool_spec_key(const struct pool_spec *s, char key[17])
{
	struct sha256 h;
	char hex[65], *text;

	text = xasprintf("%s|%lld|%lld|%lld|%lld|%lld|%s", s->image,
	    (long long)s->memory, (long long)s->nano_cpus, (long long)s->pids,
	    (long long)s->sandbox_size, (long long)s->tmp_size, s->network);
	sha256_init(&h);
	sha256_add(&h, text, strlen(text));
	sha256_hex(&h, hex);
	memcpy(key, hex, 16);
	key[16] = '\0';
	free(text);
}

/*
 * The limits part of a key (not the image: every runtime image carries
 * every interpreter, so a session serves any runtime).
 */
void
pool_limits_key(const struct pool_spec *s, char key[17])
{
	struct pool_spec l = *s;

	l.image = "*";
	pool_spec_key(&l, key);
}

/*
 * The hardened configuration of every sandbox container (DESIGN.md
 * "Containers and pool"). The agent keeps SETUID/SETGID/KILL; user code
 * runs as uid 1000 with none.
 */
void
box_config(const struct pool_spec *s, const char *kind, uint64_t idle_ms,
    const char *session, struct box_conf *bc)
{
	static const char *cap_drop[] = { "ALL", NULL };
	static const char *cap_add[] = { "SETUID", "SETGID", "KILL", NULL };
	static const char *secopt[] = { "no-new-privileges", NULL };
	struct docker_create *c = &bc->c;

	memset(bc, 0, sizeof *bc);
	pool_spec_key(s, bc->key);
	snprintf(
	    bc->idle, sizeof bc->idle, "%llu", (unsigned long long)idle_ms);
	bc->cmd[0] = "/isol8-agent";
	bc->cmd[1] = "--idle";
	bc->cmd[2] = bc->idle;
	bc->cmd[3] = session != NULL ? "--session" : NULL;
	snprintf(bc->tmpfs_sandbox, sizeof bc->tmpfs_sandbox,
	    "rw,exec,nosuid,nodev,size=%lld,uid=1000,gid=1000,mode=0755",
	    (long long)s->sandbox_size);
	snprintf(bc->tmpfs_tmp, sizeof bc->tmpfs_tmp,
	    "rw,noexec,nosuid,nodev,size=%lld,mode=1777",
	    (long long)s->tmp_size);
	bc->tmpfs[0] = "/sandbox";
	bc->tmpfs[1] = bc->tmpfs_sandbox;
	bc->tmpfs[2] = "/tmp";
	bc->tmpfs[3] = bc->tmpfs_tmp;
	bc->labels[0] = LABEL_MANAGED;
	bc->labels[1] = "true";
	bc->labels[2] = LABEL_KEY;
	bc->labels[3] = bc->key;
	bc->labels[4] = LABEL_KIND;
	bc->labels[5] = session != NULL ? "session" : kind;
	if (session != NULL) {
		bc->labels[6] = LABEL_SESSION;
		bc->labels[7] = session;
		pool_limits_key(s, bc->limits);
		bc->labels[8] = LABEL_LIMITS;
		bc->labels[9] = bc->limits;
	}
	/* No core files; a file may not outgrow the sandbox. */
	bc->ulimits[0] = (struct docker_ulimit){ "core", 0, 0 };
	bc->ulimits[1] =
	    (struct docker_ulimit){ "nofile", BOX_NOFILE, BOX_NOFILE };
	bc->ulimits[2] =
	    (struct docker_ulimit){ "fsize", s->sandbox_size, s->sandbox_size };

	c->image = s->image;
	c->cmd = bc->cmd;
	c->labels = bc->labels;
	c->user = "0:0";
	c->workdir = "/sandbox";
	c->open_stdin = 1;
	c->memory = s->memory;
	c->nano_cpus = s->nano_cpus;
	c->pids_limit = s->pids;
	c->readonly_rootfs = 1;
	c->tmpfs = bc->tmpfs;
	c->cap_drop = cap_drop;
	c->cap_add = cap_add;
	c->security_opt = secopt;
	c->ulimits = bc->ulimits;
	c->network_mode = s->network;
	c->auto_remove = 1;
	c->log_none = 1;
	c->shm_size = BOX_SHM_SIZE;
}

/* Record the first failure before READY (later ones say less). */
static void
box_record_err(struct box *b, struct err *e)
{
	if (b->state < BOX_READY && b->err == NULL)
		b->err = e;
	else
		err_free(&e);
}

static void
box_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct box *b = arg;

	(void)fd;
	(void)what;
	box_record_err(b,
	    err_new(ERR_TIMEOUT, "container did not become ready within %d s",
	        BOX_CREATE_TIMEOUT_MS / 1000));
	box_step(b);
}

static struct box *
box_new(struct docker *d, box_ready_cb cb, void *arg)
{
	struct box *b = xcalloc(1, sizeof *b);
	struct timeval tv = { BOX_CREATE_TIMEOUT_MS / 1000, 0 };

	b->d = d;
	b->ready_cb = cb;
	b->ready_arg = arg;
	buf_init(&b->rx);
	buf_init(&b->log);
	random_hex(b->nonce, 16);
	b->timer = evtimer_new(loop_base(docker_loop(d)), box_timeout_cb, b);
	evtimer_add(b->timer, &tv);
	return b;
}

/*
 * Create, attach and start a container named `name` (NULL: a random
 * isol8-box- name; a name finds the container after an outage); cb gets
 * the ready box or the error, once, later -- unless box_close() first.
 */
struct box *
box_create(struct docker *d, const struct pool_spec *spec, const char *name,
    uint64_t idle_ms, const char *session, box_ready_cb cb, void *arg)
{
	struct box *b = box_new(d, cb, arg);
	struct box_conf bc;
	char r[17];

	if (name == NULL) {
		random_hex(r, 8);
		b->name = xasprintf("isol8-box-%s", r);
	} else
		b->name = xstrdup(name);
	box_config(spec, "run", idle_ms, session, &bc);
	bc.c.name = b->name;
	b->state = BOX_CREATING;
	b->req = docker_container_create(d, &bc.c, box_created, b);
	return b;
}

/* A claim's first step, on the loop's next turn. */
static void
box_claim_cb(void *arg)
{
	struct box *b = arg;

	if (b->state == BOX_CLOSED)
		return;
	box_attach(b);
	box_step(b);
}

/*
 * Claim a running container: attach and HELLO. Its agent answers busy if
 * another process got there first; a failure never removes it, since it
 * is not ours until READY. The first step is on the next turn: cb never
 * runs inside this call.
 */
struct box *
box_claim(struct docker *d, const char *id, box_ready_cb cb, void *arg)
{
	struct box *b = box_new(d, cb, arg);

	b->id = xstrdup(id);
	b->state = BOX_ATTACHING;
	loop_defer(docker_loop(d), box_claim_cb, b);
	return b;
}

static void
box_created(const struct docker_reply *rep, const struct err *e, void *arg)
{
	struct box *b = arg;
	const char *id;
	struct err *ce;

	b->req = NULL;
	if (e != NULL) {
		ce = err_dup(e);
		if (ce->kind == ERR_NOTFOUND)
			ce->kind = ERR_IMAGE;
		box_record_err(b, ce);
	} else if ((id = json_str(rep->json, "Id", NULL)) == NULL)
		box_record_err(
		    b, err_new(ERR_PROTO, "dockerd: create gave no Id"));
	else
		b->id = xstrdup(id);
	box_step(b);
}

static void
box_started(const struct docker_reply *rep, const struct err *e, void *arg)
{
	struct box *b = arg;

	(void)rep;
	b->req = NULL;
	if (e != NULL)
		box_record_err(b, err_dup(e));
	box_step(b);
}

static void
box_attach_ready(void *arg)
{
	struct box *b = arg;

	b->attached = 1;
	box_step(b);
}

/* A READY frame: ours (claimed, or busy) or another claimant's. */
static void
box_ready_frame(struct box *b, const unsigned char *p, uint32_t len)
{
	const unsigned char *val, *nonce = NULL;
	uint32_t vlen, nlen = 0;
	uint64_t status = 1, version = 0;
	size_t left = len;
	int tag;

	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1) {
		if (tag == PROTO_T_NONCE)
			nonce = val, nlen = vlen;
		else if (tag == PROTO_T_STATUS)
			proto_u64_decode(val, vlen, tag, &status);
		else if (tag == PROTO_T_VERSION)
			proto_u64_decode(val, vlen, tag, &version);
	}
	if (nonce == NULL || nlen != 32 || memcmp(nonce, b->nonce, 32) != 0 ||
	    b->state == BOX_READY)
		return;
	if (version != PROTO_VERSION)
		box_record_err(b,
		    err_new(ERR_IMAGE,
		        "the image's agent speaks protocol %llu, this isol8 speaks %d",
		        (unsigned long long)version, PROTO_VERSION));
	else if (status != 0)
		/*
		 * Busy: healthy and in another claimant's hands (a session
		 * joined between our create and our HELLO). ERR_CONFLICT
		 * says: never remove it.
		 */
		box_record_err(b,
		    err_new(ERR_CONFLICT,
		        "container is claimed by another process"));
	else
		b->answered = 1;
	box_step(b);
}

static void
box_agent_log(struct box *b, const char *data, size_t len)
{
	const char *nl;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		if (b->log.len < BOX_MAX_LOG_LINE)
			buf_add(&b->log, data, nl ? (size_t)(nl - data) : len);
		if (nl == NULL)
			return;
		log_info(docker_log(b->d), "container %.12s: %s",
		    b->id ? b->id : "?", buf_cstr(&b->log));
		buf_drain(&b->log, b->log.len);
		len -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
}

/* The stream failed: the owner's to know once READY, else a failure. */
static void
box_broken(struct box *b, struct err *e)
{
	if (b->state == BOX_READY) {
		if (b->cbs.lost != NULL)
			b->cbs.lost(e, b->arg);
		err_free(&e);
		return;
	}
	box_record_err(b, e);
	box_step(b);
}

static void
box_attach_data(int stream, const char *data, size_t len, void *arg)
{
	struct box *b = arg;
	uint32_t plen;
	size_t off = 0;
	int type;

	if (b->state == BOX_CLOSED)
		return;
	if (stream != 1) {
		box_agent_log(b, data, len);
		return;
	}
	buf_add(&b->rx, data, len);
	while (b->state != BOX_CLOSED && b->rx.len - off >= PROTO_HDR_LEN) {
		if (proto_header((unsigned char *)b->rx.data + off, &type,
		        &plen) == -1) {
			box_broken(b,
			    err_new(
			        ERR_PROTO, "agent sent a bad frame header"));
			return;
		}
		if (b->rx.len - off - PROTO_HDR_LEN < plen)
			break;
		const unsigned char *payload =
		    (unsigned char *)b->rx.data + off + PROTO_HDR_LEN;
		off += PROTO_HDR_LEN + plen;
		if (type == PROTO_READY)
			box_ready_frame(b, payload, plen);
		else if (b->state == BOX_READY && b->cbs.frame != NULL)
			b->cbs.frame(type, payload, plen, b->arg);
	}
	if (b->state != BOX_CLOSED)
		buf_drain(&b->rx, off);
}

static void
box_attach_closed(const struct err *e, void *arg)
{
	struct box *b = arg;
	struct err *le;

	if (b->state == BOX_CLOSED)
		return;
	le = e ? err_dup(e)
	       : err_new(ERR_PROTO, "the container's agent exited%s%s",
	             b->log.len ? ": " : "", buf_cstr(&b->log));
	/* In use: the sandbox is gone (its container, or dockerd). */
	if (b->state == BOX_READY)
		le->kind = ERR_LOST;
	box_broken(b, le);
}

/* Remove the container: made, being made, or possibly made (e). */
static void
box_remove(struct box *b, const struct err *e)
{
	if (b->state == BOX_CREATING && b->req != NULL) {
		/* Removed when the create answers; nobody is called. */
		docker_container_create_abandon(b->d, b->req, b->name);
		b->req = NULL;
	} else if (b->id != NULL)
		docker_container_remove(b->d, b->id, 1, NULL, NULL);
	else if (b->name != NULL && e != NULL && e->kind == ERR_UNAVAILABLE)
		/*
		 * dockerd went away during the create: it may have made the
		 * container all the same. Removed by name once it is back.
		 */
		docker_container_remove(b->d, b->name, 1, NULL, NULL);
}

/*
 * The one teardown: end as `end` says (e: the failure, if one ends it),
 * stop everything, free later.
 */
static void
box_end(struct box *b, enum box_end end, const struct err *e)
{
	struct proto_buf pb = { 0 };

	if (end == BOX_BYE && b->state == BOX_READY) {
		proto_frame(&pb, PROTO_BYE, NULL, 0);
		docker_attach_write(b->attach, pb.data, pb.len);
		proto_buf_free(&pb);
	}
	if (end == BOX_REMOVE)
		box_remove(b, e);
	if (b->req != NULL)
		docker_cancel(b->req);
	b->req = NULL;
	evtimer_del(b->timer);
	if (b->attach != NULL)
		docker_attach_free(b->attach);
	b->attach = NULL;
	loop_defer(docker_loop(b->d), box_free_cb, b);
}

/* Connect the attach; it is upgraded (or fails) later. */
static void
box_attach(struct box *b)
{
	static const struct docker_attach_cbs cbs = { box_attach_ready,
		box_attach_data, box_attach_closed };
	struct err *e = NULL;

	b->attach = docker_attach_start(b->d, b->id, &cbs, b, &e);
	if (b->attach == NULL)
		box_record_err(b, e);
}

/*
 * Attached: queue HELLO now -- the agent reads it as soon as it starts --
 * then start the container we made (a claimed one runs already).
 */
static enum box_state
box_hello(struct box *b)
{
	struct proto_buf pb = { 0 };
	size_t at;

	at = proto_frame_begin(&pb, PROTO_HELLO);
	proto_tlv(&pb, PROTO_T_NONCE, b->nonce, 32);
	proto_frame_end(&pb, at);
	docker_attach_write(b->attach, pb.data, pb.len);
	proto_buf_free(&pb);
	if (b->name == NULL)
		return BOX_HELLO;
	b->req = docker_container_start(b->d, b->id, box_started, b);
	return BOX_STARTING;
}

/* How a box that failed before READY goes: we remove what we made. */
static enum box_end
box_fail_end(const struct box *b, const struct err *e)
{
	/* Busy: a session another process holds; claimed: not ours. */
	if (b->name == NULL || e->kind == ERR_CONFLICT)
		return BOX_DETACH;
	return BOX_REMOVE;
}

/*
 * Move the box on from its facts until it rests: the only place its state
 * changes. A failure before READY closes it and tells the creator; a
 * close tells nobody.
 */
static void
box_step(struct box *b)
{
	enum box_state was;
	struct err *e;

	do {
		was = b->state;
		if (b->state == BOX_CLOSED)
			return;
		if (b->closing || b->err != NULL) {
			e = b->err;
			b->err = NULL;
			box_end(b, b->closing ? b->end : box_fail_end(b, e), e);
			b->state = BOX_CLOSED;
			if (!b->closing)
				b->ready_cb(NULL, e, b->ready_arg);
			err_free(&e);
			return;
		}
		switch (b->state) {
		case BOX_CREATING:
			if (b->req != NULL)
				break;
			box_attach(b);
			b->state = BOX_ATTACHING;
			break;
		case BOX_ATTACHING:
			if (b->attached)
				b->state = box_hello(b);
			break;
		case BOX_STARTING:
			if (b->req == NULL)
				b->state = BOX_HELLO;
			break;
		case BOX_HELLO:
			if (!b->answered)
				break;
			b->state = BOX_READY;
			evtimer_del(b->timer);
			b->ready_cb(b, NULL, b->ready_arg);
			break;
		case BOX_READY:
		case BOX_CLOSED:
			break;
		}
	} while (b->state != was);
}

static void
box_free_cb(void *arg)
{
	struct box *b = arg;

	event_free(b->timer);
	buf_free(&b->rx);
	buf_free(&b->log);
	err_free(&b->err);
	free(b->id);
	free(b->name);
	free(b);
}

void
box_set_cbs(struct box *b, const struct box_cbs *cbs, void *arg)
{
	b->cbs = *cbs;
	b->arg = arg;
}

const char *
box_id(const struct box *b)
{
	return b->id;
}

/* Queue frames for the agent. */
void
box_send(struct box *b, const struct proto_buf *pb)
{
	if (b->state == BOX_READY && pb->len > 0)
		docker_attach_write(b->attach, pb->data, pb->len);
}

/* Bytes queued towards the agent and not yet sent (for backpressure). */
size_t
box_pending(struct box *b)
{
	return b->attach ? docker_attach_pending(b->attach) : 0;
}

/*
 * Let the box go, as `end` says; no callback of it runs afterwards (its
 * creator's neither). Safe inside any of its callbacks.
 */
void
box_close(struct box *b, enum box_end end)
{
	if (b->state == BOX_CLOSED || b->closing)
		return;
	b->closing = 1;
	b->end = end;
	box_step(b);
}
