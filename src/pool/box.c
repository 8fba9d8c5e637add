/*
 * A box: one hardened container running isol8-agent as PID 1, attached,
 * claimed with a HELLO nonce. Creation is a small state machine --
 * CREATE, then ATTACH, then START with the HELLO already queued, then
 * READY when the agent answers with our nonce -- and on any failure the
 * container is removed again (the first error is the one reported).
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
	BOX_CREATE,
	BOX_ATTACH,
	BOX_START,
	BOX_READY,
	BOX_CLOSED,
};

struct box {
	struct docker *d;
	enum box_state state;
	char *id;
	char *name; /* given at creation: how to find it without its id */
	struct http_req *req;
	struct docker_attach *attach;
	int started;
	int hello_ok;
	struct buf rx;
	struct buf log;
	char nonce[33];
	struct event *timer;
	box_ready_cb ready_cb;
	void *ready_arg;
	struct box_cbs cbs;
	void *arg;
	int discarding;
	int owned; /* we created it: on failure, we remove it */
	int *inflight;
};

static void box_created(
    const struct docker_reply *, const struct err *, void *);
static void box_started(
    const struct docker_reply *, const struct err *, void *);
static void box_attach_ready(void *);
static void box_attach_data(int, const char *, size_t, void *);
static void box_attach_closed(const struct err *, void *);
static void box_step(struct box *);
static void box_fail(struct box *, struct err *);
static void box_free_cb(void *);
static void box_remove(struct box *);
static void box_removed(
    const struct docker_reply *, const struct err *, void *);

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

static void
box_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct box *b = arg;

	(void)fd;
	(void)what;
	box_fail(b,
	    err_new(ERR_TIMEOUT,
	        "container did not become ready "
	        "within %d s",
	        BOX_CREATE_TIMEOUT_MS / 1000));
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
 * Create, attach and start a container named `name` (NULL: dockerd picks);
 * cb gets the ready box, once.
 */
struct box *
box_create(struct docker *d, const struct pool_spec *spec, const char *name,
    uint64_t idle_ms, const char *session, box_ready_cb cb, void *arg)
{
	struct box *b = box_new(d, cb, arg);
	struct box_conf bc;

	box_config(spec, "run", idle_ms, session, &bc);
	bc.c.name = name;
	b->name = name != NULL ? xstrdup(name) : NULL;
	b->owned = 1;
	b->state = BOX_CREATE;
	b->req = docker_container_create(d, &bc.c, box_created, b);
	return b;
}

/*
 * Claim a running warm container: attach and HELLO. Its agent answers
 * busy if another process got there first; the container is never
 * removed here, whatever happens, since it is not ours until READY.
 */
struct box *
box_claim(struct docker *d, const char *id, box_ready_cb cb, void *arg)
{
	struct box *b = box_new(d, cb, arg);

	b->id = xstrdup(id);
	b->started = 1;
	b->state = BOX_CREATE;
	loop_defer(docker_loop(d), (loop_defer_cb)box_step, b);
	return b;
}

static void
box_created(const struct docker_reply *rep, const struct err *e, void *arg)
{
	struct box *b = arg;
	const char *id;

	b->req = NULL;
	if (b->discarding) {
		if (e == NULL && (id = json_str(rep->json, "Id", NULL)) != NULL)
			b->id = xstrdup(id);
		else if (e != NULL && e->kind == ERR_UNAVAILABLE &&
		    b->name != NULL)
			docker_container_remove(
			    b->d, b->name, 1, box_removed, NULL);
		box_remove(b);
		return;
	}
	if (e != NULL) {
		struct err *ce = err_dup(e);

		if (ce->kind == ERR_NOTFOUND)
			ce->kind = ERR_IMAGE;
		/*
		 * dockerd went away during the create: it may have made the
		 * container all the same. Removed by name once it is back.
		 */
		if (ce->kind == ERR_UNAVAILABLE && b->name != NULL)
			docker_container_remove(
			    b->d, b->name, 1, box_removed, NULL);
		box_fail(b, ce);
		return;
	}
	if ((id = json_str(rep->json, "Id", NULL)) == NULL) {
		box_fail(b, err_new(ERR_PROTO, "dockerd: create gave no Id"));
		return;
	}
	b->id = xstrdup(id);
	box_step(b);
}

static void
box_started(const struct docker_reply *rep, const struct err *e, void *arg)
{
	struct box *b = arg;

	(void)rep;
	b->req = NULL;
	if (e != NULL) {
		box_fail(b, err_dup(e));
		return;
	}
	b->started = 1;
	box_step(b);
}

static void
box_attach_ready(void *arg)
{
	struct box *b = arg;
	struct proto_buf pb = { 0 };
	size_t at;

	/* Queued now, read by the agent as soon as it starts. */
	at = proto_frame_begin(&pb, PROTO_HELLO);
	proto_tlv(&pb, PROTO_T_NONCE, b->nonce, 32);
	proto_frame_end(&pb, at);
	docker_attach_write(b->attach, pb.data, pb.len);
	proto_buf_free(&pb);
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
	if (nonce == NULL || nlen != 32 || memcmp(nonce, b->nonce, 32) != 0)
		return;
	if (b->state == BOX_READY)
		return;
	if (version != PROTO_VERSION) {
		box_fail(b,
		    err_new(ERR_IMAGE,
		        "the image's agent speaks protocol %llu, this "
		        "isol8 speaks %d",
		        (unsigned long long)version, PROTO_VERSION));
		return;
	}
	if (status != 0) {
		/*
		 * Busy: healthy and in another claimant's hands (a session
		 * joined between our create and our HELLO). Never remove it.
		 */
		b->owned = 0;
		box_fail(b,
		    err_new(ERR_CONFLICT,
		        "container is claimed by "
		        "another process"));
		return;
	}
	b->hello_ok = 1;
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
			struct err *e = err_new(ERR_PROTO,
			    "agent sent a bad "
			    "frame header");

			if (b->state == BOX_READY && b->cbs.lost != NULL)
				b->cbs.lost(e, b->arg);
			else
				box_fail(b, err_dup(e));
			err_free(&e);
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
	       : err_new(ERR_PROTO,
	             "the container's agent "
	             "exited%s%s",
	             b->log.len ? ": " : "", buf_cstr(&b->log));
	if (b->state != BOX_READY) {
		box_fail(b, le);
		return;
	}
	/* In use: the sandbox is gone (its container, or dockerd). */
	le->kind = ERR_LOST;
	if (b->cbs.lost != NULL)
		b->cbs.lost(le, b->arg);
	err_free(&le);
}

/* Advance creation: each step starts when the previous one is done. */
static void
box_step(struct box *b)
{
	struct err *e = NULL;
	static const struct docker_attach_cbs cbs = { box_attach_ready,
		box_attach_data, box_attach_closed };

	if (b->state == BOX_CLOSED)
		return;
	switch (b->state) {
	case BOX_CREATE:
		b->state = BOX_ATTACH;
		b->attach = docker_attach_start(b->d, b->id, &cbs, b, &e);
		if (b->attach == NULL)
			box_fail(b, e);
		break;
	case BOX_ATTACH:
		/* Attached before start, so no early frame is lost. */
		b->state = BOX_START;
		if (!b->started)
			b->req =
			    docker_container_start(b->d, b->id, box_started, b);
		break;
	case BOX_START:
		if (!b->started || !b->hello_ok)
			break;
		b->state = BOX_READY;
		evtimer_del(b->timer);
		b->ready_cb(b, NULL, b->ready_arg);
		break;
	case BOX_READY:
	case BOX_CLOSED:
		break;
	}
}

static void
box_removed(const struct docker_reply *rep, const struct err *e, void *arg)
{
	int *inflight = arg;

	(void)rep;
	/* Unreachable: removed once dockerd is back (docker_client.c). */
	if (e != NULL && e->kind != ERR_NOTFOUND && e->kind != ERR_CANCELLED &&
	    e->kind != ERR_UNAVAILABLE)
		log_warnx(NULL, "removing a container: %s", e->msg);
	if (inflight != NULL)
		(*inflight)--;
}

/* Stop everything of b; its memory goes on the next loop turn. */
static void
box_teardown(struct box *b)
{
	b->state = BOX_CLOSED;
	if (b->req != NULL)
		docker_cancel(b->req);
	b->req = NULL;
	evtimer_del(b->timer);
	if (b->attach != NULL)
		docker_attach_free(b->attach);
	b->attach = NULL;
	loop_defer(docker_loop(b->d), box_free_cb, b);
}

static void
box_fail(struct box *b, struct err *e)
{
	box_ready_cb cb = b->ready_cb;
	void *arg = b->ready_arg;

	if (b->state == BOX_CLOSED) {
		err_free(&e);
		return;
	}
	if (b->id != NULL && b->owned)
		docker_container_remove(b->d, b->id, 1, box_removed, NULL);
	box_teardown(b);
	cb(NULL, e, arg);
	err_free(&e);
}

static void
box_free_cb(void *arg)
{
	struct box *b = arg;

	event_free(b->timer);
	buf_free(&b->rx);
	buf_free(&b->log);
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

/* Tell the agent to exit (AutoRemove removes the container), detach. */
void
box_bye(struct box *b)
{
	struct proto_buf pb = { 0 };

	proto_frame(&pb, PROTO_BYE, NULL, 0);
	box_send(b, &pb);
	proto_buf_free(&pb);
	box_close(b);
}

/* Detach: the agent is one-shot and exits by itself (AutoRemove). */
void
box_close(struct box *b)
{
	if (b->state != BOX_CLOSED)
		box_teardown(b);
}

/* Give up on a box: remove it if we created it, else just let go. */
void
box_abandon(struct box *b, int *inflight)
{
	if (b->owned)
		box_discard(b, inflight);
	else
		box_close(b);
}

/* Remove the container (if any) in the background and tear b down. */
static void
box_remove(struct box *b)
{
	if (b->id != NULL)
		docker_container_remove(
		    b->d, b->id, 1, box_removed, b->inflight);
	else if (b->inflight != NULL)
		(*b->inflight)--;
	box_teardown(b);
}

/*
 * Kill and remove the container now, in the background, with no further
 * callback; *inflight counts removals not yet answered. A box still being
 * created waits for its create to answer, then removes what it made.
 */
void
box_discard(struct box *b, int *inflight)
{
	if (b->state == BOX_CLOSED || b->discarding)
		return;
	b->discarding = 1;
	b->inflight = inflight;
	if (inflight != NULL)
		(*inflight)++;
	evtimer_del(b->timer);
	if (b->state == BOX_CREATE && b->req != NULL)
		return;
	box_remove(b);
}
