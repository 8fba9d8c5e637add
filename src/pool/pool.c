/*
 * The pool hands the engine ready boxes by pool key (struct pool_spec:
 * everything fixed at container creation) and keeps warm containers so that
 * most acquires cost a few milliseconds instead of a container start.
 *
 * An acquire (a struct pool_wait) tries, in order:
 *   1. a box this engine holds ready (local mode): no round trip;
 *   2. a warm container in dockerd, unclaimed, of this key: list (label +
 *      name ^/isol8-warm-), rename it to a claimed name *by its old name*
 *      (only one renamer can find it), attach and HELLO. The agent's nonce
 *      answer is the real arbiter: a loser is told "busy" and moves on;
 *   3. a new container (create, attach, start, HELLO), at most
 *      max_creating at a time across keys; beyond that the acquire waits
 *      in its key's queue for the next box that becomes ready.
 *
 *   NEW -> LISTING -> (RENAMING -> CLAIMING)* -> QUEUED -> HANDOVER -> DONE
 *   NEW -> HANDOVER (a box held ready)     HANDOVER -> QUEUED (it died)
 *   LISTING, CLAIMING -> HANDOVER (dockerd unreachable; a claimed box)
 *
 * Every box (or error) reaches its acquire through HANDOVER, on a later
 * loop turn (w->deliver): the acquire's callback runs from that event
 * only, never inside a pool function, and a box whose stream ends before
 * then is replaced, not delivered dead (dockerd going away ends every
 * stream in one loop turn). wait_step() is the only place a wait's state
 * moves; wait_close() its one end, delivered or cancelled.
 *
 * Background work is a list of operations the pool owns (struct pool_op):
 * a box being made for a key's queued acquires (MAKE) or to keep ready
 * (REFILL), an unclaimed warm container being created and started (WARM,
 * shared mode), a lent box being scrubbed to come back (SCRUB, reuse), a
 * listing to count a key's warm containers (PREWARM) or to find containers
 * of processes now gone (SWEEP). Each has a state moved by op_step() only
 * and one end, op_close(op, abort). What a key has -- boxes being made,
 * scrubbing, queued acquires -- is counted from these lists, never kept
 * apart. pool_busy() is "an acquire, an opener or an operation is left";
 * pool_drain() ends all of them but the warm containers being made (those
 * are for the next process: they finish), and pool_free() aborts what is
 * left: a box being made is closed with BOX_REMOVE (a create still in
 * flight goes to the Docker client, which removes what it makes), a
 * listing is cancelled (a cancelled request never calls back), so nothing
 * calls back into a freed pool. Removals are the Docker client's
 * (docker_busy() counts them).
 *
 * Refills follow each acquire. In local mode (a long-lived engine) the
 * pool keeps `size` boxes attached and claimed; in shared mode (the CLI,
 * whose process ends after one run) it keeps `size` unclaimed warm
 * containers in dockerd for the next process. Warm agents run with --idle:
 * a container nobody claims removes itself (AutoRemove).
 *
 * Claimed containers are named isol8-run-<pid>-<starttime>-<rand>: a sweep
 * (shared mode, once per engine) removes those whose process is gone.
 *
 * A box's callbacks always point at its current owner -- a ready-list
 * entry, an acquire until its hand-over, a scrub, the run -- and are moved
 * before that owner is freed: streams end at any time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#define POOL_RUN_IDLE_MS 60000 /* a claimed box idle this long exits */
#define POOL_BACKOFF_MS 5000   /* after a failed refill of a key */
#define POOL_WARM_PREFIX "isol8-warm-"
#define POOL_RUN_PREFIX "isol8-run-"

/* A box held ready (local mode), owned by its slot. */
struct ready {
	struct box *box;
	struct pool_slot *slot;
	TAILQ_ENTRY(ready) entry;
};

/* A pool key: its ready boxes and what the pool knows of it in dockerd. */
struct pool_slot {
	struct pool *p;
	char key[17];
	struct pool_spec spec;
	char *image;
	char *network;
	TAILQ_HEAD(, ready) ready;
	int lent;               /* boxes out with a run (back with reuse) */
	int warm_known;         /* unclaimed warm containers seen in dockerd */
	int hot;                /* a run of this key found a warm container */
	uint64_t backoff_until; /* a refill failed: no retry before then */
	TAILQ_ENTRY(pool_slot) entry;
};

enum wait_state {
	WAIT_NEW,      /* pool_acquire(): a ready box, or a listing */
	WAIT_LISTING,  /* dockerd's list of unclaimed warm containers is due */
	WAIT_RENAMING, /* our claim on a candidate (its rename) is due */
	WAIT_CLAIMING, /* attached to it: its agent's READY is due */
	WAIT_QUEUED,   /* in its key's queue: the next box made or back */
	WAIT_HANDOVER, /* a box (or the error) goes to the acquire next turn */
	WAIT_DONE,     /* its turn came: handed over, the wait ends */
};

struct pool_wait {
	struct pool *p;
	struct pool_slot *slot;
	enum wait_state state; /* moved by wait_step() only */
	pool_acquire_cb cb;
	void *arg;
	struct http_req *req; /* the listing or the rename in flight */
	struct box *claim;    /* the claim in flight */
	char **cands;         /* names of unclaimed warm containers */
	char **ids;           /* and their ids */
	size_t ncands;
	size_t next;
	char *claim_name;
	struct event *deliver;        /* the hand-over, freed with the wait */
	TAILQ_ENTRY(pool_wait) entry; /* p->waits, in arrival order */

	/* Facts: recorded by the callbacks, read by wait_step(). */
	struct box *box; /* claimed or given: ours until handed over */
	struct err *err; /* the acquire fails with this */
	int missed;      /* the candidate at hand is someone else's or gone */
	int lost;        /* the box at hand died before its hand-over */
	int due;         /* the hand-over's turn came */
};

enum op_kind {
	OP_MAKE,    /* a box for the key's queued acquires */
	OP_REFILL,  /* a box to keep ready (local mode) */
	OP_WARM,    /* an unclaimed warm container for others (shared) */
	OP_SCRUB,   /* a lent box scrubbing, to come back ready (reuse) */
	OP_PREWARM, /* counting the key's warm containers in dockerd */
	OP_SWEEP,   /* finding containers claimed by processes now gone */
};
#define OPS_BOX ((1u << OP_MAKE) | (1u << OP_REFILL))
#define OPS_CREATING (OPS_BOX | (1u << OP_WARM))

enum op_state {
	OP_MAKING,    /* MAKE, REFILL: the box is being made (box.c) */
	OP_CREATING,  /* WARM: dockerd's answer to the create is due */
	OP_STARTING,  /* WARM: dockerd's answer to the start is due */
	OP_SCRUBBING, /* SCRUB: the agent's OK (or ERROR) is due */
	OP_LISTING,   /* PREWARM, SWEEP: dockerd's list is due */
	OP_DONE,      /* over: op_close() unlinks and frees it */
};

struct pool_op {
	struct pool *p;
	struct pool_slot *slot; /* NULL: a SWEEP */
	enum op_kind kind;
	enum op_state state; /* moved by op_step() only */
	struct http_req *req;
	struct box *box; /* MAKING, SCRUBBING */
	char *name;      /* WARM: its container's name, then its id */
	char *id;
	TAILQ_ENTRY(pool_op) entry;

	/* Facts: recorded by the callbacks, read by op_step(). */
	int answered;    /* the box is made, or scrubbed */
	struct err *err; /* what failed */
	int count;       /* PREWARM: warm containers listed */
	char **gone;     /* SWEEP: containers of processes now gone */
	size_t ngone;
};

struct pool {
	struct docker *d;
	struct pool_opts o;
	int swept;
	int draining; /* shutting down: boxes that arrive now go away */
	TAILQ_HEAD(, pool_slot) slots;
	TAILQ_HEAD(, pool_wait) waits; /* every acquire not ended yet */
	TAILQ_HEAD(, pool_op) ops;     /* background operations */
	struct session_opens opens;    /* session.c's openers */
};

static void wait_step(struct pool_wait *);
static void wait_close(struct pool_wait *, int);
static void op_step(struct pool_op *);
static void op_close(struct pool_op *, int);
static void pool_pump(struct pool *);
static void pool_refill(struct pool *, struct pool_slot *);
static void pool_sweep(struct pool *);

static const struct box_cbs no_cbs = { NULL, NULL };

void
pool_opts_init(struct pool_opts *o)
{
	memset(o, 0, sizeof *o);
	o->size = 2;
	o->idle_ms = 10 * 60 * 1000;
	o->max_creating = 4;
}

struct pool *
pool_new(struct docker *d, const struct pool_opts *o)
{
	struct pool *p = xcalloc(1, sizeof *p);

	p->d = d;
	if (o != NULL)
		p->o = *o;
	else
		pool_opts_init(&p->o);
	if (p->o.max_creating == 0)
		p->o.max_creating = 1;
	TAILQ_INIT(&p->slots);
	TAILQ_INIT(&p->waits);
	TAILQ_INIT(&p->ops);
	TAILQ_INIT(&p->opens);
	return p;
}

/* This process's start time (clock ticks since boot), for claimed names. */
static unsigned long long
proc_starttime(pid_t pid)
{
	char path[64], text[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	/* Field 22, counted after the command name's closing parenthesis. */
	if ((p = strrchr(text, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

/* isol8-run-<pid>-<starttime>-<rand>: who claimed the container. */
static char *
pool_run_name(void)
{
	char r[9];

	random_hex(r, 4);
	return xasprintf(POOL_RUN_PREFIX "%d-%llu-%s", (int)getpid(),
	    proc_starttime(getpid()), r);
}

static struct pool_slot *
slot_get(struct pool *p, const struct pool_spec *spec)
{
	struct pool_slot *s;
	char key[17];

	pool_spec_key(spec, key);
	TAILQ_FOREACH (s, &p->slots, entry)
		if (strcmp(s->key, key) == 0)
			return s;
	s = xcalloc(1, sizeof *s);
	s->p = p;
	memcpy(s->key, key, sizeof key);
	s->spec = *spec;
	s->image = xstrdup(spec->image);
	s->network = xstrdup(spec->network);
	s->spec.image = s->image;
	s->spec.network = s->network;
	TAILQ_INIT(&s->ready);
	TAILQ_INSERT_TAIL(&p->slots, s, entry);
	return s;
}

/* Operations of one slot (NULL: of any) whose kind is in mask. */
static int
pool_ops(const struct pool *p, const struct pool_slot *slot, unsigned mask)
{
	const struct pool_op *op;
	int n = 0;

	TAILQ_FOREACH (op, &p->ops, entry)
		if ((slot == NULL || op->slot == slot) &&
		    (mask & (1u << op->kind)) != 0)
			n++;
	return n;
}

/* Acquires of the slot waiting in its queue. */
static int
slot_queued(const struct pool_slot *slot)
{
	const struct pool_wait *w;
	int n = 0;

	TAILQ_FOREACH (w, &slot->p->waits, entry)
		n += w->slot == slot && w->state == WAIT_QUEUED;
	return n;
}

/* Boxes of the slot at hand in acquires, not handed over yet. */
static int
slot_handing(const struct pool_slot *slot)
{
	const struct pool_wait *w;
	int n = 0;

	TAILQ_FOREACH (w, &slot->p->waits, entry)
		n += w->slot == slot && w->box != NULL;
	return n;
}

static struct pool_wait *
slot_first_queued(const struct pool_slot *slot)
{
	struct pool_wait *w;

	TAILQ_FOREACH (w, &slot->p->waits, entry)
		if (w->slot == slot && w->state == WAIT_QUEUED &&
		    w->box == NULL && w->err == NULL)
			return w;
	return NULL;
}

static int
slot_nready(const struct pool_slot *slot)
{
	const struct ready *r;
	int n = 0;

	TAILQ_FOREACH (r, &slot->ready, entry)
		n++;
	return n;
}

/* Unclaimed warm containers of a key, started or about to be. */
static void
warm_filter(struct pool_slot *slot, struct buf *f)
{
	buf_printf(f,
	    "{\"label\":[\"" LABEL_KEY "=%s\"],"
	    "\"name\":[\"^/" POOL_WARM_PREFIX "\"],"
	    "\"status\":[\"created\",\"running\"]}",
	    slot->key);
}

/* ---- acquires ---- */

static void
wait_free(struct pool_wait *w)
{
	size_t i;

	for (i = 0; i < w->ncands; i++) {
		free(w->cands[i]);
		free(w->ids[i]);
	}
	free(w->cands);
	free(w->ids);
	free(w->claim_name);
	err_free(&w->err);
	if (w->deliver != NULL)
		event_free(w->deliver); /* a cancelled hand-over never runs */
	free(w);
}

/* A box at hand died before its hand-over: record it. */
static void
wait_box_lost(const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	log_debug(docker_log(w->p->d),
	    "pool: a ready container went away before use: %s", e->msg);
	w->lost = 1;
}

static const struct box_cbs wait_box_cbs = { NULL, wait_box_lost };

static void
wait_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_wait *w = arg;

	(void)fd, (void)what;
	w->due = 1;
	wait_step(w);
}

/* Give a queued acquire a box, or the error of its key's creation. */
static void
wait_give(struct pool_wait *w, struct box *b, struct err *e)
{
	w->box = b;
	w->err = e;
	if (b != NULL)
		box_set_cbs(b, &wait_box_cbs, w);
	wait_step(w);
}

static void
wait_claimed(struct box *b, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	w->claim = NULL;
	if (e != NULL) {
		log_debug(
		    docker_log(w->p->d), "pool: claim failed: %s", e->msg);
		w->missed = 1;
	} else {
		if (w->slot->warm_known > 0)
			w->slot->warm_known--;
		w->slot->hot = 1;
		w->box = b;
		box_set_cbs(b, &wait_box_cbs, w);
	}
	wait_step(w);
}

static void
wait_renamed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	(void)r;
	w->req = NULL;
	/* Another process renamed it first (404), or it is gone. */
	w->missed = e != NULL;
	wait_step(w);
}

/* The candidates: running unclaimed warm containers, from a random one. */
static void
wait_candidates(struct pool_wait *w, yajl_val list)
{
	yajl_val names, v;
	size_t k, n, start;
	const char *name, *state, *id;

	n = YAJL_IS_ARRAY(list) ? list->u.array.len : 0;
	if (n > 0) {
		w->cands = xcalloc(n, sizeof *w->cands);
		w->ids = xcalloc(n, sizeof *w->ids);
	}
	/* Created ones are being started by someone: count, don't claim. */
	w->slot->warm_known = (int)n;
	/* Start at a random entry: concurrent claimants spread out. */
	start = n > 1 ? random_below((uint32_t)n) : 0;
	for (k = 0; k < n; k++) {
		v = list->u.array.values[(start + k) % n];
		state = json_str(v, "State", NULL);
		id = json_str(v, "Id", NULL);
		names = json_get(v, "Names", NULL);
		if (state == NULL || strcmp(state, "running") != 0 ||
		    id == NULL || !YAJL_IS_ARRAY(names) ||
		    names->u.array.len == 0 ||
		    !YAJL_IS_STRING(names->u.array.values[0]))
			continue;
		name = names->u.array.values[0]->u.string;
		if (*name == '/')
			name++;
		if (strncmp(name, POOL_WARM_PREFIX, strlen(POOL_WARM_PREFIX)))
			continue;
		w->cands[w->ncands] = xstrdup(name);
		w->ids[w->ncands++] = xstrdup(id);
	}
}

static void
wait_listed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	w->req = NULL;
	/* dockerd unreachable: a create would fail the same way. */
	if (e != NULL && e->kind == ERR_UNAVAILABLE)
		w->err = err_dup(e);
	else if (e != NULL)
		log_warnx(docker_log(w->p->d),
		    "pool: listing warm containers: %s", e->msg);
	else
		wait_candidates(w, r->json);
	wait_step(w);
}

static enum wait_state wait_handover(struct pool_wait *);

/* NEW: a box held ready goes at once; else ask dockerd for warm ones. */
static enum wait_state
wait_begin(struct pool_wait *w)
{
	cleanup_buf struct buf f = { 0 };
	struct ready *r;

	if ((r = TAILQ_FIRST(&w->slot->ready)) != NULL) {
		TAILQ_REMOVE(&w->slot->ready, r, entry);
		w->box = r->box;
		free(r);
		/* Its callbacks pointed at r: now at w, until the hand-over. */
		box_set_cbs(w->box, &wait_box_cbs, w);
		return wait_handover(w);
	}
	warm_filter(w->slot, &f);
	w->req = docker_container_list(w->p->d, f.data, 1, wait_listed, w);
	return WAIT_LISTING;
}

/* The next warm candidate: rename it to our claimed name; none: queue. */
static enum wait_state
wait_next(struct pool_wait *w)
{
	const char *name;

	if (w->next >= w->ncands)
		return WAIT_QUEUED;
	name = w->cands[w->next++];
	free(w->claim_name);
	w->claim_name = pool_run_name();
	w->missed = 0;
	w->req = docker_container_rename(
	    w->p->d, name, w->claim_name, wait_renamed, w);
	return WAIT_RENAMING;
}

/* Renamed: it is ours by name; attach and HELLO (the agent arbitrates). */
static enum wait_state
wait_claim(struct pool_wait *w)
{
	w->claim = box_claim(w->p->d, w->ids[w->next - 1], wait_claimed, w);
	return WAIT_CLAIMING;
}

/* A box or an error at hand: to the acquire on the next turn. */
static enum wait_state
wait_handover(struct pool_wait *w)
{
	w->due = 0;
	if (w->deliver == NULL)
		w->deliver = evtimer_new(
		    loop_base(docker_loop(w->p->d)), wait_deliver_cb, w);
	event_active(w->deliver, EV_TIMEOUT, 0);
	return WAIT_HANDOVER;
}

/*
 * HANDOVER's turn: the box goes to the acquire -- unless it died
 * meanwhile: then the acquire queues for another one.
 */
static enum wait_state
wait_due(struct pool_wait *w)
{
	w->due = 0;
	if (!w->lost)
		return WAIT_DONE;
	box_close(w->box, BOX_REMOVE);
	w->box = NULL;
	w->lost = 0;
	return WAIT_QUEUED;
}

/*
 * Move the acquire on from its facts until it rests: the only place its
 * state changes. An acquire that enters the queue starts the pump (a box
 * may be made for it); one whose hand-over came ends.
 */
static void
wait_step(struct pool_wait *w)
{
	enum wait_state was, entered = w->state;
	struct pool *p = w->p;

	do {
		was = w->state;
		switch (w->state) {
		case WAIT_NEW:
			w->state = wait_begin(w);
			break;
		case WAIT_LISTING:
			if (w->req == NULL)
				w->state = w->err != NULL ? wait_handover(w)
				                          : wait_next(w);
			break;
		case WAIT_RENAMING:
			if (w->req == NULL)
				w->state =
				    w->missed ? wait_next(w) : wait_claim(w);
			break;
		case WAIT_CLAIMING:
			if (w->claim == NULL)
				w->state = w->box != NULL ? wait_handover(w)
				                          : wait_next(w);
			break;
		case WAIT_QUEUED:
			if (w->box != NULL || w->err != NULL)
				w->state = wait_handover(w);
			break;
		case WAIT_HANDOVER:
			if (w->due)
				w->state = wait_due(w);
			break;
		case WAIT_DONE:
			wait_close(w, 0);
			return;
		}
	} while (w->state != was);
	if (w->state == WAIT_QUEUED && entered != WAIT_QUEUED)
		pool_pump(p);
}

/*
 * The one end of an acquire: unlinked, what it holds let go (cancelled:
 * a claimed or given box is removed) or handed over; its callback comes
 * last, when nothing of the pool is touched any more.
 */
static void
wait_close(struct pool_wait *w, int cancelled)
{
	struct pool *p = w->p;
	struct pool_slot *slot = w->slot;
	pool_acquire_cb cb = w->cb;
	void *arg = w->arg;
	struct box *b = w->box;
	struct err *e = w->err;

	TAILQ_REMOVE(&p->waits, w, entry);
	if (w->req != NULL)
		docker_cancel(w->req);
	if (w->claim != NULL)
		box_close(w->claim, BOX_REMOVE); /* renamed: ours */
	w->box = NULL;
	w->err = NULL;
	wait_free(w);
	if (cancelled) {
		if (b != NULL)
			box_close(b, BOX_REMOVE);
		err_free(&e);
		return;
	}
	if (b != NULL) {
		/* The new owner sets its own callbacks. */
		box_set_cbs(b, &no_cbs, NULL);
		slot->lent++;
	}
	pool_refill(p, slot);
	/* Off the claim path: the sweep runs while the box is in use. */
	if (p->o.shared && !p->swept)
		pool_sweep(p);
	cb(e != NULL ? NULL : b, e, arg);
	err_free(&e);
}

/* Get a ready box for spec; cb runs once, later, unless cancelled. */
struct pool_wait *
pool_acquire(
    struct pool *p, const struct pool_spec *spec, pool_acquire_cb cb, void *arg)
{
	struct pool_wait *w = xcalloc(1, sizeof *w);

	w->p = p;
	w->slot = slot_get(p, spec);
	w->cb = cb;
	w->arg = arg;
	w->state = WAIT_NEW;
	TAILQ_INSERT_TAIL(&p->waits, w, entry);
	wait_step(w);
	return w;
}

/*
 * Stop an acquire, in any state; its callback never runs. What it holds
 * goes: a listing or a rename is cancelled, a claim or a box at hand is
 * removed, a deferred hand-over is freed with it.
 */
void
pool_acquire_cancel(struct pool_wait *w)
{
	wait_close(w, 1);
}

/* ---- background operations ---- */

static struct pool_op *
op_new(struct pool *p, struct pool_slot *slot, enum op_kind kind,
    enum op_state state)
{
	struct pool_op *op = xcalloc(1, sizeof *op);

	op->p = p;
	op->slot = slot;
	op->kind = kind;
	op->state = state;
	TAILQ_INSERT_TAIL(&p->ops, op, entry);
	return op;
}

/* A box made (or not) for a MAKE or a REFILL. */
static void
op_made(struct box *b, const struct err *e, void *arg)
{
	struct pool_op *op = arg;

	op->answered = 1;
	op->box = b;
	if (e != NULL)
		op->err = err_dup(e);
	op_step(op);
}

/* Make a box for the slot: for its queued acquires, or to keep ready. */
static void
op_make(struct pool *p, struct pool_slot *slot, enum op_kind kind)
{
	struct pool_op *op = op_new(p, slot, kind, OP_MAKING);
	cleanup_free char *name = pool_run_name();

	op->box = box_create(p->d, &slot->spec, name,
	    kind == OP_MAKE ? POOL_RUN_IDLE_MS : p->o.idle_ms, NULL, op_made,
	    op);
}

/* dockerd's answer to a WARM's create or start, or to a listing. */
static void
op_answered(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_op *op = arg;
	const char *id;

	op->req = NULL;
	if (e != NULL)
		op->err = err_dup(e);
	else if (op->state == OP_CREATING) {
		if ((id = json_str(r->json, "Id", NULL)) != NULL)
			op->id = xstrdup(id);
		else
			op->err =
			    err_new(ERR_PROTO, "dockerd: create gave no Id");
	}
	op_step(op);
}

/* Create and start an unclaimed warm container (shared mode). */
static void
op_warm(struct pool *p, struct pool_slot *slot)
{
	struct pool_op *op = op_new(p, slot, OP_WARM, OP_CREATING);
	struct box_conf bc;
	char r[9];

	random_hex(r, 4);
	op->name = xasprintf(POOL_WARM_PREFIX "%s-%s", slot->key, r);
	box_config(&slot->spec, "warm", p->o.idle_ms, NULL, &bc);
	bc.c.name = op->name;
	op->req = docker_container_create(p->d, &bc.c, op_answered, op);
}

/* The agent's answer to SCRUB: OK, or ERROR (it could not verify). */
static void
scrub_frame(int type, const unsigned char *pl, uint32_t len, void *arg)
{
	struct pool_op *op = arg;

	(void)pl;
	(void)len;
	if (type != PROTO_OK && type != PROTO_ERROR)
		return;
	op->answered = 1;
	if (type == PROTO_ERROR)
		op->err = err_new(ERR_PROTO, "a container failed its scrub");
	op_step(op);
}

static void
scrub_lost(const struct err *e, void *arg)
{
	struct pool_op *op = arg;

	op->answered = 1;
	op->err =
	    err_new(e->kind, "lost a container while scrubbing: %s", e->msg);
	op_step(op);
}

/* The containers of a sweep's listing whose claimant is gone. */
static void
sweep_gone(struct pool_op *op, yajl_val list)
{
	yajl_val names;
	const char *name, *id;
	unsigned long long start;
	size_t i;
	int pid;

	if (!YAJL_IS_ARRAY(list) || list->u.array.len == 0)
		return;
	op->gone = xcalloc(list->u.array.len, sizeof *op->gone);
	for (i = 0; i < list->u.array.len; i++) {
		names = json_get(list->u.array.values[i], "Names", NULL);
		id = json_str(list->u.array.values[i], "Id", NULL);
		if (id == NULL || !YAJL_IS_ARRAY(names) ||
		    names->u.array.len == 0 ||
		    !YAJL_IS_STRING(names->u.array.values[0]))
			continue;
		name = names->u.array.values[0]->u.string;
		if (sscanf(name, "/" POOL_RUN_PREFIX "%d-%llu-", &pid,
		        &start) != 2)
			continue;
		/* Alive (and the same process, not a reused pid): leave it. */
		if (proc_starttime(pid) == start && start != 0)
			continue;
		log_info(docker_log(op->p->d),
		    "pool: removing %s, claimed by gone process %d", name + 1,
		    pid);
		op->gone[op->ngone++] = xstrdup(id);
	}
}

static void
op_listed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_op *op = arg;

	op->req = NULL;
	if (e != NULL)
		op->err = err_dup(e);
	else if (op->kind == OP_PREWARM)
		op->count =
		    YAJL_IS_ARRAY(r->json) ? (int)r->json->u.array.len : 0;
	else
		sweep_gone(op, r->json);
	op_step(op);
}

/* A box held ready died (its agent's idle time, or dockerd): replace it. */
static void
ready_lost(const struct err *e, void *arg)
{
	struct ready *r = arg;
	struct pool_slot *slot = r->slot;

	log_debug(docker_log(slot->p->d),
	    "pool: a ready container went away: %s", e->msg);
	TAILQ_REMOVE(&slot->ready, r, entry);
	box_close(r->box, BOX_REMOVE);
	free(r);
	pool_refill(slot->p, slot);
}

/* A box ready for the slot: to its first queued acquire, else kept. */
static void
slot_offer(struct pool_slot *slot, struct box *b)
{
	static const struct box_cbs cbs = { NULL, ready_lost };
	struct pool_wait *w;
	struct ready *r;

	if (slot->p->draining) {
		box_close(b, BOX_BYE);
		return;
	}
	if ((w = slot_first_queued(slot)) != NULL) {
		wait_give(w, b, NULL);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->box = b;
	r->slot = slot;
	box_set_cbs(b, &cbs, r);
	TAILQ_INSERT_TAIL(&slot->ready, r, entry);
}

/*
 * MAKING is over: the box goes to the key. A failure goes to the key's
 * first queued acquire (MAKE: the rest try again), or to the log (REFILL:
 * the key backs off).
 */
static void
op_made_step(struct pool_op *op)
{
	struct pool_slot *slot = op->slot;
	struct pool_wait *w;
	struct box *b = op->box;

	op->box = NULL;
	if (op->err == NULL) {
		slot_offer(slot, b);
		return;
	}
	if (op->kind == OP_MAKE && (w = slot_first_queued(slot)) != NULL) {
		wait_give(w, NULL, op->err);
		op->err = NULL;
		return;
	}
	log_warnx(docker_log(op->p->d), "pool: %s: %s",
	    op->kind == OP_MAKE ? "creating a container" : "refilling",
	    op->err->msg);
	if (op->kind == OP_REFILL)
		slot->backoff_until = now_ms() + POOL_BACKOFF_MS;
}

/* WARM: created, then started; a failure backs the key off. */
static enum op_state
op_warm_step(struct pool_op *op)
{
	struct pool *p = op->p;

	if (op->req != NULL)
		return op->state;
	if (op->err != NULL) {
		log_warnx(docker_log(p->d), "pool: %s a warm container: %s",
		    op->state == OP_CREATING ? "creating" : "starting",
		    op->err->msg);
		op->slot->backoff_until = now_ms() + POOL_BACKOFF_MS;
		if (op->state == OP_STARTING)
			docker_container_remove(p->d, op->id, 1, NULL, NULL);
		return OP_DONE;
	}
	if (op->state == OP_CREATING) {
		op->req = docker_container_start(p->d, op->id, op_answered, op);
		return OP_STARTING;
	}
	op->slot->warm_known++;
	return OP_DONE;
}

/* SCRUBBING is over: a clean box comes back to its own key only. */
static void
op_scrubbed_step(struct pool_op *op)
{
	struct pool *p = op->p;
	struct box *b = op->box;

	op->box = NULL;
	log_debug(docker_log(p->d), "pool: scrub of %.12s: %s", box_id(b),
	    op->err == NULL ? "ok" : op->err->msg);
	if (op->err == NULL && !p->draining) {
		slot_offer(op->slot, b);
		return;
	}
	if (op->err != NULL)
		log_warnx(
		    docker_log(p->d), "pool: %s: discarded", op->err->msg);
	box_close(b, BOX_REMOVE);
}

/* LISTING is over: count a key's warm containers, or remove the gone. */
static void
op_listed_step(struct pool_op *op)
{
	struct pool *p = op->p;
	size_t i;

	if (op->kind == OP_PREWARM && op->err != NULL)
		log_warnx(docker_log(p->d), "pool: prewarm: %s", op->err->msg);
	else if (op->kind == OP_PREWARM)
		op->slot->warm_known = op->count;
	for (i = 0; i < op->ngone; i++)
		docker_container_remove(p->d, op->gone[i], 1, NULL, NULL);
}

/*
 * Move the operation on from its facts: the only place its state changes.
 * One that is over is closed, and the pool pumped (it freed a creation,
 * or brought a box).
 */
static void
op_step(struct pool_op *op)
{
	struct pool *p = op->p;

	switch (op->state) {
	case OP_MAKING:
		if (!op->answered)
			return;
		op_made_step(op);
		op->state = OP_DONE;
		break;
	case OP_CREATING:
	case OP_STARTING:
		op->state = op_warm_step(op);
		break;
	case OP_SCRUBBING:
		if (!op->answered)
			return;
		op_scrubbed_step(op);
		op->state = OP_DONE;
		break;
	case OP_LISTING:
		if (op->req != NULL)
			return;
		op_listed_step(op);
		op->state = OP_DONE;
		break;
	case OP_DONE:
		return;
	}
	if (op->state != OP_DONE)
		return;
	op_close(op, 0);
	pool_pump(p);
}

/*
 * The one end of an operation: unlinked and freed. Aborted (drain, free):
 * nothing of it may call back -- a listing is cancelled, a box being made
 * or scrubbed is removed, a warm container's create goes to the Docker
 * client (removed when it answers) and a started one is removed.
 */
static void
op_close(struct pool_op *op, int abort)
{
	struct pool *p = op->p;
	size_t i;

	TAILQ_REMOVE(&p->ops, op, entry);
	if (abort && op->state == OP_CREATING && op->req != NULL)
		docker_container_create_abandon(p->d, op->req, op->name);
	else if (abort && op->req != NULL)
		docker_cancel(op->req);
	if (abort && op->state == OP_STARTING)
		docker_container_remove(p->d, op->id, 1, NULL, NULL);
	if (abort && op->box != NULL)
		box_close(op->box, BOX_REMOVE);
	for (i = 0; i < op->ngone; i++)
		free(op->gone[i]);
	free(op->gone);
	free(op->name);
	free(op->id);
	err_free(&op->err);
	free(op);
}

/* ---- keeping keys filled ---- */

/* Whether a key may get another box made (reuse: `size` in all). */
static int
slot_may_make(struct pool *p, struct pool_slot *slot)
{
	if (pool_ops(p, NULL, OPS_CREATING) >= (int)p->o.max_creating)
		return 0;
	/* With reuse, lent ones come back: waiters wait for them. */
	return !p->o.reuse ||
	    slot->lent + slot_handing(slot) +
	        pool_ops(p, slot, OPS_BOX | (1u << OP_SCRUB)) +
	        slot_nready(slot) <
	    (int)(p->o.size > 0 ? p->o.size : 1);
}

/*
 * Use the creation slots that are free: first for acquires that have no
 * box coming, then for refills the bound had held back.
 */
static void
pool_pump(struct pool *p)
{
	struct pool_slot *s;
	struct pool_wait *w;
	struct ready *r;

	if (p->draining)
		return;
	/*
	 * A box may have become ready while an acquire was still listing
	 * dockerd: queued acquires take ready boxes before anything is made.
	 */
	TAILQ_FOREACH (s, &p->slots, entry) {
		while ((w = slot_first_queued(s)) != NULL &&
		    (r = TAILQ_FIRST(&s->ready)) != NULL) {
			TAILQ_REMOVE(&s->ready, r, entry);
			wait_give(w, r->box, NULL);
			free(r);
		}
	}
	/* Boxes being made or scrubbed are coming too: no more for them. */
	TAILQ_FOREACH (s, &p->slots, entry)
		while (slot_queued(s) >
		        pool_ops(p, s, OPS_BOX | (1u << OP_SCRUB)) &&
		    slot_may_make(p, s))
			op_make(p, s, OP_MAKE);
	TAILQ_FOREACH (s, &p->slots, entry)
		pool_refill(p, s);
}

/* Bring the slot back to its target, in the background, within bounds. */
static void
pool_refill(struct pool *p, struct pool_slot *slot)
{
	int target, have;

	if (p->draining || now_ms() < slot->backoff_until)
		return;
	while (pool_ops(p, NULL, OPS_CREATING) < (int)p->o.max_creating) {
		if (p->o.shared) {
			/*
			 * A key seen once gets one warm container (the next
			 * run is fast); a key whose runs keep finding warm
			 * ones gets the full size. One-off limits do not
			 * leave a crowd of idle containers behind.
			 */
			target = slot->hot  ? (int)p->o.size
			    : p->o.size > 0 ? 1
			                    : 0;
			if (slot->warm_known +
			        pool_ops(p, slot, 1u << OP_WARM) >=
			    target)
				break;
			op_warm(p, slot);
			continue;
		}
		/*
		 * One-use: keep `size` ready beyond what waiters will take.
		 * Reuse: `size` boxes in all, lent and scrubbing included.
		 */
		have = slot_nready(slot) + pool_ops(p, slot, OPS_BOX);
		if (p->o.reuse)
			have += pool_ops(p, slot, 1u << OP_SCRUB) + slot->lent +
			    slot_handing(slot);
		else
			have -= slot_queued(slot);
		if (have >= (int)p->o.size)
			break;
		op_make(p, slot, OP_REFILL);
	}
}

/* Fill the pool for spec now (isol8 setup --prewarm, library prewarm). */
void
pool_prewarm(struct pool *p, const struct pool_spec *spec)
{
	struct pool_slot *slot = slot_get(p, spec);
	cleanup_buf struct buf f = { 0 };
	struct pool_op *op;

	slot->hot = 1;
	if (!p->o.shared) {
		pool_refill(p, slot);
		return;
	}
	/* Count what dockerd already has first, then top it up. */
	warm_filter(slot, &f);
	op = op_new(p, slot, OP_PREWARM, OP_LISTING);
	op->req = docker_container_list(p->d, f.data, 1, op_listed, op);
}

/* Remove containers claimed by processes that no longer exist. */
static void
pool_sweep(struct pool *p)
{
	struct pool_op *op = op_new(p, NULL, OP_SWEEP, OP_LISTING);

	p->swept = 1;
	op->req = docker_container_list(p->d,
	    "{\"label\":[\"" LABEL_MANAGED
	    "=true\"],\"name\":[\"^/" POOL_RUN_PREFIX "\"]}",
	    1, op_listed, op);
}

/*
 * Take a box back. `clean`: its agent reported the end of the run. One-use
 * (the default): the agent has exited by itself, nothing to do. With
 * reuse, the agent scrubs and verifies the sandbox, and the box returns to
 * its own key's slot -- never to another key. Anything else: removed.
 * Either way the key may make a box for its queued acquires now.
 */
void
pool_release(
    struct pool *p, const struct pool_spec *spec, struct box *b, int clean)
{
	static const struct box_cbs cbs = { scrub_frame, scrub_lost };
	struct pool_slot *slot = slot_get(p, spec);
	struct proto_buf pb = { 0 };
	struct pool_op *op;

	if (slot->lent > 0)
		slot->lent--;
	log_debug(docker_log(p->d), "pool: release %.12s clean=%d reuse=%d",
	    box_id(b), clean, p->o.reuse);
	if (!clean)
		box_close(b, BOX_REMOVE);
	else if (!p->o.reuse || p->draining)
		box_close(b, p->o.reuse ? BOX_BYE : BOX_DETACH);
	else {
		op = op_new(p, slot, OP_SCRUB, OP_SCRUBBING);
		op->box = b;
		box_set_cbs(b, &cbs, op);
		proto_frame(&pb, PROTO_SCRUB, NULL, 0);
		box_send(b, &pb);
		proto_buf_free(&pb);
	}
	pool_pump(p);
}

/* Whether anything is under way: an acquire, an opener, an operation. */
int
pool_busy(const struct pool *p)
{
	return !TAILQ_EMPTY(&p->waits) || !TAILQ_EMPTY(&p->opens) ||
	    !TAILQ_EMPTY(&p->ops);
}

/*
 * Shutdown: cancel acquires and session openers, let ready boxes go (BYE:
 * their agents exit and AutoRemove removes them), end every operation but
 * the warm containers being made for the next process, which finish. Then
 * wait until !pool_busy() -- or pool_free() aborts them.
 */
void
pool_drain(struct pool *p)
{
	struct pool_op *op, *top;
	struct pool_slot *s;
	struct ready *r;

	p->o.size = 0; /* no more refills */
	p->draining = 1;
	while (!TAILQ_EMPTY(&p->waits))
		wait_close(TAILQ_FIRST(&p->waits), 1);
	while (!TAILQ_EMPTY(&p->opens))
		pool_session_cancel(TAILQ_FIRST(&p->opens));
	TAILQ_FOREACH (s, &p->slots, entry) {
		while ((r = TAILQ_FIRST(&s->ready)) != NULL) {
			TAILQ_REMOVE(&s->ready, r, entry);
			box_close(r->box, BOX_BYE);
			free(r);
		}
	}
	TAILQ_FOREACH_SAFE (op, &p->ops, entry, top)
		if (op->kind != OP_WARM)
			op_close(op, 1);
}

/* Free the pool; what is still under way is aborted first. */
void
pool_free(struct pool *p)
{
	struct pool_slot *s;

	if (p == NULL)
		return;
	pool_drain(p);
	if (!TAILQ_EMPTY(&p->ops))
		log_warnx(docker_log(p->d),
		    "pool freed with warm containers still being made: they are removed");
	while (!TAILQ_EMPTY(&p->ops))
		op_close(TAILQ_FIRST(&p->ops), 1);
	while ((s = TAILQ_FIRST(&p->slots)) != NULL) {
		TAILQ_REMOVE(&p->slots, s, entry);
		free(s->image);
		free(s->network);
		free(s);
	}
	free(p);
}

struct docker *
pool_docker(struct pool *p)
{
	return p->d;
}

/* The session openers the pool holds (session.c links them). */
struct session_opens *
pool_opens(struct pool *p)
{
	return &p->opens;
}

/*
 * What each key holds, for a server's metrics: up to max keys into out;
 * returns how many keys there are.
 */
size_t
pool_stats(const struct pool *p, struct pool_stat *out, size_t max)
{
	const struct pool_slot *s;
	size_t n = 0;

	TAILQ_FOREACH (s, &p->slots, entry) {
		if (n < max) {
			memcpy(out[n].key, s->key, sizeof out[n].key);
			snprintf(
			    out[n].image, sizeof out[n].image, "%s", s->image);
			out[n].ready =
			    (unsigned)(slot_nready(s) + s->warm_known);
			out[n].creating =
			    (unsigned)pool_ops(p, s, OPS_CREATING);
		}
		n++;
	}
	return n;
}
