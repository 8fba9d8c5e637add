/*
 * The pool hands the engine ready boxes by pool key (struct pool_spec:
 * everything fixed at container creation) and keeps warm containers so that
 * most acquires cost a few milliseconds instead of a container start.
 *
 * An acquire tries, in order:
 *   1. a box this engine holds ready (local mode): no round trip;
 *   2. a warm container in dockerd, unclaimed, of this key: list (label +
 *      name ^/isol8-warm-), rename it to a claimed name *by its old name*
 *      (only one renamer can find it), attach and HELLO. The agent's nonce
 *      answer is the real arbiter: a loser is told "busy" and moves on;
 *   3. a new container (create, attach, start, HELLO), at most
 *      max_creating at a time across keys; beyond that the acquire waits
 *      in its slot's queue for the next box that becomes ready.
 *
 * Refills are background events after each acquire. In local mode (a
 * long-lived engine) the pool keeps `size` boxes attached and claimed; in
 * shared mode (the CLI, whose process ends after one run) it keeps `size`
 * unclaimed warm containers in dockerd for the next process. Warm agents
 * run with --idle: a container nobody claims removes itself (AutoRemove).
 *
 * Claimed containers are named isol8-run-<pid>-<starttime>-<rand>: a sweep
 * (shared mode, once per engine) removes those whose process is gone.
 * `inflight` counts background requests so that shutdown waits for them.
 *
 * A box's callbacks always point at its current owner -- a ready-list
 * entry, an acquire whose hand-over is deferred, a scrub, the run -- and
 * are moved before that owner is freed: streams end at any time (dockerd
 * going away ends them all in one loop turn).
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

struct ready {
	struct box *box;
	struct pool_slot *slot;
	TAILQ_ENTRY(ready) entry;
};

struct pool_slot {
	struct pool *p;
	char key[17];
	struct pool_spec spec;
	char *image;
	char *network;
	TAILQ_HEAD(, ready) ready;
	TAILQ_HEAD(, pool_wait) waiters; /* waiting for a created box */
	int nready;
	int nwaiters;
	int creating_boxes; /* boxes being created for this slot */
	int scrubbing;      /* boxes coming back after a scrub */
	int lent; /* boxes out with a run (they come back with reuse) */
	int creating_warm;      /* shared warm containers being created */
	int warm_known;         /* unclaimed warm containers seen in dockerd */
	int hot;                /* a run of this key found a warm container */
	uint64_t backoff_until; /* a refill failed: no retry before then */
	TAILQ_ENTRY(pool_slot) entry;
};

enum wait_state {
	WAIT_LIST,
	WAIT_RENAME,
	WAIT_CLAIM,
	WAIT_QUEUED,
	WAIT_DELIVER,
};

struct pool_wait {
	struct pool *p;
	struct pool_slot *slot;
	enum wait_state state;
	pool_acquire_cb cb;
	void *arg;
	struct http_req *req;
	struct box *box;
	char **cands; /* names of unclaimed warm containers */
	char **ids;   /* and their ids */
	size_t ncands;
	size_t next;
	char *claim_name;
	struct err *err;
	struct event *deliver; /* a ready box, handed over on the next turn */
	int box_lost; /* WAIT_DELIVER: the box's stream ended meanwhile */
	TAILQ_ENTRY(pool_wait) entry; /* p->waits, or slot->waiters */
};

struct warm {
	struct pool *p;
	struct pool_slot *slot;
	char *id;
};

struct pool {
	struct docker *d;
	struct pool_opts o;
	int inflight;
	int creating;
	int swept;
	int draining; /* shutting down: boxes that arrive now go away */
	TAILQ_HEAD(, pool_slot) slots;
	TAILQ_HEAD(, pool_wait) waits; /* listing or claiming */
};

static void wait_claim_next(struct pool_wait *);
static void wait_box_lost(const struct err *, void *);
static const struct box_cbs wait_box_cbs = { NULL, wait_box_lost };
static const struct box_cbs no_cbs = { NULL, NULL };
static void wait_queue(struct pool_wait *);
static void pool_pump(struct pool *);
static void pool_refill(struct pool *, struct pool_slot *);
static void slot_offer(struct pool_slot *, struct pool *, struct box *);
static void pool_sweep(struct pool *);
static void pool_bg_done(
    const struct docker_reply *, const struct err *, void *);
static void prewarm_listed(
    const struct docker_reply *, const struct err *, void *);

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
	TAILQ_INIT(&s->waiters);
	TAILQ_INSERT_TAIL(&p->slots, s, entry);
	return s;
}

/* Unclaimed warm containers of a key, started or about to be. */
static void
warm_filter(struct pool_slot *slot, struct buf *f)
{
	buf_printf(f,
	    "{\"label\":[\"" LABEL_KEY "=%s\"],\"name\":"
	    "[\"^/" POOL_WARM_PREFIX "\"],\"status\":[\"created\","
	    "\"running\"]}",
	    slot->key);
}

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
		event_free(w->deliver); /* a cancelled delivery never runs */
	free(w);
}

/* Hand the acquire its box (or error): the one way an acquire ends. */
static void
wait_deliver(struct pool_wait *w, struct box *b, struct err *e)
{
	struct pool *p = w->p;
	struct pool_slot *slot = w->slot;

	if (w->state == WAIT_QUEUED) {
		TAILQ_REMOVE(&slot->waiters, w, entry);
		slot->nwaiters--;
	} else
		TAILQ_REMOVE(&p->waits, w, entry);
	if (b != NULL)
		slot->lent++;
	w->cb(b, e, w->arg);
	err_free(&e);
	wait_free(w);
	pool_refill(p, slot);
	/* Off the claim path: the sweep runs while the box is in use. */
	if (p->o.shared && !p->swept)
		pool_sweep(p);
}

/*
 * The deferred hand-over of a ready box. It may have died meanwhile (its
 * stream ended: dockerd going away closes them all at once): then the
 * acquire waits for a new box instead of getting a dead one.
 */
static void
wait_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_wait *w = arg;

	(void)fd, (void)what;
	if (w->box_lost) {
		box_discard(w->box, &w->p->inflight);
		w->box = NULL;
		w->box_lost = 0;
		wait_queue(w);
		return;
	}
	/* The new owner sets its own callbacks (w is gone after this). */
	box_set_cbs(w->box, &no_cbs, NULL);
	wait_deliver(w, w->box, NULL);
}

/* A ready box's stream ended before its hand-over: record it. */
static void
wait_box_lost(const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	log_debug(docker_log(w->p->d),
	    "pool: a ready container went away before use: %s", e->msg);
	w->box_lost = 1;
}

static void
wait_claimed(struct box *b, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	w->box = NULL;
	if (e != NULL) {
		log_debug(
		    docker_log(w->p->d), "pool: claim failed: %s", e->msg);
		wait_claim_next(w);
		return;
	}
	if (w->slot->warm_known > 0)
		w->slot->warm_known--;
	w->slot->hot = 1;
	wait_deliver(w, b, NULL);
}

static void
wait_renamed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	(void)r;
	w->req = NULL;
	if (e != NULL) {
		/* Another process renamed it first (404), or it is gone. */
		wait_claim_next(w);
		return;
	}
	w->state = WAIT_CLAIM;
	w->box = box_claim(w->p->d, w->ids[w->next - 1], wait_claimed, w);
}

/* Try the next unclaimed warm container; none left: create one. */
static void
wait_claim_next(struct pool_wait *w)
{
	const char *name;

	if (w->next >= w->ncands) {
		wait_queue(w);
		return;
	}
	name = w->cands[w->next++];
	free(w->claim_name);
	w->claim_name = pool_run_name();
	w->state = WAIT_RENAME;
	w->req = docker_container_rename(
	    w->p->d, name, w->claim_name, wait_renamed, w);
}

static void
wait_listed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;
	yajl_val list = r->json, names, v;
	size_t k, n, start;
	const char *name, *state, *id;

	w->req = NULL;
	if (e != NULL) {
		/* dockerd unreachable: a create would fail the same way. */
		if (e->kind == ERR_UNAVAILABLE) {
			wait_deliver(w, NULL, err_dup(e));
			return;
		}
		log_warnx(docker_log(w->p->d),
		    "pool: listing warm containers: %s", e->msg);
		wait_queue(w);
		return;
	}
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
	wait_claim_next(w);
}

/* Get a ready box for spec; cb runs once, later, unless cancelled. */
struct pool_wait *
pool_acquire(
    struct pool *p, const struct pool_spec *spec, pool_acquire_cb cb, void *arg)
{
	struct pool_wait *w = xcalloc(1, sizeof *w);
	struct ready *r;
	cleanup_buf struct buf f = { 0 };

	w->p = p;
	w->slot = slot_get(p, spec);
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&p->waits, w, entry);
	if ((r = TAILQ_FIRST(&w->slot->ready)) != NULL) {
		TAILQ_REMOVE(&w->slot->ready, r, entry);
		w->slot->nready--;
		w->box = r->box;
		free(r);
		/* Its callbacks pointed at r: now at w, until the hand-over. */
		box_set_cbs(w->box, &wait_box_cbs, w);
		w->state = WAIT_DELIVER;
		w->deliver =
		    evtimer_new(loop_base(docker_loop(p->d)), wait_ready_cb, w);
		event_active(w->deliver, EV_TIMEOUT, 0);
		return w;
	}
	warm_filter(w->slot, &f);
	w->state = WAIT_LIST;
	w->req = docker_container_list(p->d, f.data, 1, wait_listed, w);
	return w;
}

/* No warm container to claim: wait in the slot for a created box. */
static void
wait_queue(struct pool_wait *w)
{
	TAILQ_REMOVE(&w->p->waits, w, entry);
	w->state = WAIT_QUEUED;
	TAILQ_INSERT_TAIL(&w->slot->waiters, w, entry);
	w->slot->nwaiters++;
	pool_pump(w->p);
}

static void
created_box(struct box *b, const struct err *e, void *arg)
{
	struct pool_slot *slot = arg;
	struct pool *p = slot->p;
	struct pool_wait *w;

	slot->creating_boxes--;
	p->creating--;
	if (e != NULL) {
		/* The first waiter gets the error; the rest try again. */
		if ((w = TAILQ_FIRST(&slot->waiters)) != NULL)
			wait_deliver(w, NULL, err_dup(e));
		else
			log_warnx(docker_log(p->d),
			    "pool: creating a container: %s", e->msg);
	} else
		slot_offer(slot, p, b);
	pool_pump(p);
}

static void
ready_lost(const struct err *e, void *arg)
{
	struct ready *r = arg;
	struct pool_slot *slot = r->slot;

	/* Its agent expired (idle) or died: forget it, keep the level. */
	log_debug(docker_log(slot->p->d),
	    "pool: a ready container went away: %s", e->msg);
	TAILQ_REMOVE(&slot->ready, r, entry);
	slot->nready--;
	box_discard(r->box, &slot->p->inflight);
	free(r);
	pool_refill(slot->p, slot);
}

/* A ready box: to the first waiter, else kept ready. */
static void
slot_offer(struct pool_slot *slot, struct pool *p, struct box *b)
{
	static const struct box_cbs cbs = { NULL, ready_lost };
	struct pool_wait *w;
	struct ready *r;

	if (p->draining) {
		box_bye(b);
		return;
	}
	if ((w = TAILQ_FIRST(&slot->waiters)) != NULL) {
		wait_deliver(w, b, NULL);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->box = b;
	r->slot = slot;
	box_set_cbs(b, &cbs, r);
	TAILQ_INSERT_TAIL(&slot->ready, r, entry);
	slot->nready++;
	(void)p;
}

/*
 * Use the creation slots that are free: first for waiters that have no
 * box coming, then for refills the bound had held back.
 */
static void
pool_pump(struct pool *p)
{
	struct pool_slot *s;
	struct pool_wait *w;
	struct ready *r;
	cleanup_free char *name = NULL;

	/*
	 * A box may have become ready while a waiter was still listing
	 * dockerd: waiters take ready boxes before anything is created.
	 */
	TAILQ_FOREACH (s, &p->slots, entry) {
		while ((w = TAILQ_FIRST(&s->waiters)) != NULL &&
		    (r = TAILQ_FIRST(&s->ready)) != NULL) {
			TAILQ_REMOVE(&s->ready, r, entry);
			s->nready--;
			box_set_cbs(r->box,
			    &(const struct box_cbs){ NULL, NULL }, NULL);
			wait_deliver(w, r->box, NULL);
			free(r);
		}
	}
	TAILQ_FOREACH (s, &p->slots, entry) {
		for (;;) {
			/* Boxes being scrubbed are coming too: no new ones. */
			if (s->nwaiters <= s->creating_boxes + s->scrubbing ||
			    p->creating >= (int)p->o.max_creating)
				break;
			/*
			 * With reuse, pool.size is how many containers a key
			 * has; lent ones come back, so waiters wait for them.
			 */
			if (p->o.reuse &&
			    s->lent + s->scrubbing + s->creating_boxes +
			            s->nready >=
			        (int)(p->o.size > 0 ? p->o.size : 1))
				break;
			free(name);
			name = pool_run_name();
			s->creating_boxes++;
			p->creating++;
			box_create(p->d, &s->spec, name, POOL_RUN_IDLE_MS, NULL,
			    created_box, s);
		}
	}
	TAILQ_FOREACH (s, &p->slots, entry)
		pool_refill(p, s);
}

static void
warm_started(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct warm *wm = arg;
	struct pool *p = wm->p;

	(void)r;
	wm->p->creating--;
	wm->p->inflight--;
	wm->slot->creating_warm--;
	if (e != NULL) {
		log_warnx(docker_log(p->d),
		    "pool: starting a warm container: %s", e->msg);
		wm->slot->backoff_until = now_ms() + POOL_BACKOFF_MS;
		wm->p->inflight++;
		docker_container_remove(
		    wm->p->d, wm->id, 1, pool_bg_done, wm->p);
	} else
		wm->slot->warm_known++;
	free(wm->id);
	free(wm);
	pool_pump(p);
}

static void
warm_created(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct warm *wm = arg;
	const char *id;

	if (e != NULL || (id = json_str(r->json, "Id", NULL)) == NULL) {
		log_warnx(docker_log(wm->p->d),
		    "pool: creating a warm container: %s",
		    e ? e->msg : "no Id");
		wm->slot->backoff_until = now_ms() + POOL_BACKOFF_MS;
		wm->p->creating--;
		wm->p->inflight--;
		wm->slot->creating_warm--;
		free(wm);
		return;
	}
	wm->id = xstrdup(id);
	docker_container_start(wm->p->d, wm->id, warm_started, wm);
}

/* Create and start an unclaimed warm container (shared mode). */
static void
warm_create(struct pool *p, struct pool_slot *slot)
{
	struct warm *wm = xcalloc(1, sizeof *wm);
	struct box_conf bc;
	char r[9], *name;

	wm->p = p;
	wm->slot = slot;
	random_hex(r, 4);
	name = xasprintf(POOL_WARM_PREFIX "%s-%s", slot->key, r);
	box_config(&slot->spec, "warm", p->o.idle_ms, NULL, &bc);
	bc.c.name = name;
	p->creating++;
	p->inflight++;
	slot->creating_warm++;
	docker_container_create(p->d, &bc.c, warm_created, wm);
	free(name);
}

static void
refill_box(struct box *b, const struct err *e, void *arg)
{
	struct pool_slot *slot = arg;
	struct pool *p = slot->p;

	slot->creating_boxes--;
	p->creating--;
	if (e != NULL) {
		log_warnx(docker_log(p->d), "pool: refilling: %s", e->msg);
		slot->backoff_until = now_ms() + POOL_BACKOFF_MS;
	} else
		slot_offer(slot, p, b);
	pool_pump(p);
}

/* Bring the slot back to its target, in the background, within bounds. */
static void
pool_refill(struct pool *p, struct pool_slot *slot)
{
	cleanup_free char *name = NULL;
	int target;

	if (now_ms() < slot->backoff_until)
		return;
	while (p->creating < (int)p->o.max_creating) {
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
			if (slot->warm_known + slot->creating_warm >= target)
				break;
			warm_create(p, slot);
			continue;
		}
		/*
		 * One-use: keep `size` ready beyond what waiters will take.
		 * Reuse: `size` boxes in all, lent and scrubbing included.
		 */
		if (p->o.reuse ? slot->nready + slot->creating_boxes +
		                slot->scrubbing + slot->lent >=
		            (int)p->o.size
		               : slot->nready + slot->creating_boxes -
		                slot->nwaiters >=
		            (int)p->o.size)
			break;
		free(name);
		name = pool_run_name();
		slot->creating_boxes++;
		p->creating++;
		box_create(p->d, &slot->spec, name, p->o.idle_ms, NULL,
		    refill_box, slot);
	}
}

/* Fill the pool for spec now (isol8 setup --prewarm, library prewarm). */
void
pool_prewarm(struct pool *p, const struct pool_spec *spec)
{
	struct pool_slot *slot = slot_get(p, spec);
	cleanup_buf struct buf f = { 0 };

	slot->hot = 1;
	if (!p->o.shared) {
		pool_refill(p, slot);
		return;
	}
	/* Count what dockerd already has first, then top it up. */
	warm_filter(slot, &f);
	p->inflight++;
	docker_container_list(p->d, f.data, 1, prewarm_listed, slot);
}

static void
prewarm_listed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool_slot *slot = arg;

	slot->p->inflight--;
	if (e != NULL) {
		log_warnx(docker_log(slot->p->d), "pool: prewarm: %s", e->msg);
		return;
	}
	slot->warm_known =
	    YAJL_IS_ARRAY(r->json) ? (int)r->json->u.array.len : 0;
	pool_refill(slot->p, slot);
}

static void
pool_bg_done(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool *p = arg;

	(void)r;
	if (e != NULL && e->kind != ERR_NOTFOUND && e->kind != ERR_CONFLICT)
		log_warnx(docker_log(p->d), "pool: %s", e->msg);
	p->inflight--;
}

static void
sweep_listed(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct pool *p = arg;
	yajl_val list = r->json, names;
	const char *name, *id;
	unsigned long long start;
	size_t i;
	int pid;

	p->inflight--;
	if (e != NULL || !YAJL_IS_ARRAY(list))
		return;
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
		log_info(docker_log(p->d),
		    "pool: removing %s, claimed by gone process %d", name + 1,
		    pid);
		p->inflight++;
		docker_container_remove(p->d, id, 1, pool_bg_done, p);
	}
}

/* Remove containers claimed by processes that no longer exist. */
static void
pool_sweep(struct pool *p)
{
	p->swept = 1;
	p->inflight++;
	docker_container_list(p->d,
	    "{\"label\":[\"" LABEL_MANAGED
	    "=true\"],\"name\":[\"^/" POOL_RUN_PREFIX "\"]}",
	    1, sweep_listed, p);
}

/*
 * Stop an acquire; its callback never runs. A hand-over already deferred
 * (WAIT_DELIVER) goes with the wait: its event is freed.
 */
void
pool_acquire_cancel(struct pool_wait *w)
{
	if (w->state == WAIT_QUEUED) {
		TAILQ_REMOVE(&w->slot->waiters, w, entry);
		w->slot->nwaiters--;
	} else
		TAILQ_REMOVE(&w->p->waits, w, entry);
	if (w->req != NULL)
		docker_cancel(w->req);
	if (w->box != NULL) {
		/* Claimed or ready: ours, so it goes. */
		box_discard(w->box, &w->p->inflight);
	}
	wait_free(w);
}

struct scrub {
	struct pool *p;
	struct pool_slot *slot;
	struct box *box;
};

static void
scrub_frame(int type, const unsigned char *pl, uint32_t len, void *arg)
{
	struct scrub *sc = arg;
	struct pool *p = sc->p;

	(void)pl;
	(void)len;
	if (type != PROTO_OK && type != PROTO_ERROR)
		return;
	p->inflight--;
	sc->slot->scrubbing--;
	log_debug(docker_log(p->d), "pool: scrub of %.12s: %s", box_id(sc->box),
	    type == PROTO_OK ? "ok" : "failed");
	if (type == PROTO_OK && !p->draining)
		slot_offer(sc->slot, p, sc->box);
	else {
		if (type == PROTO_ERROR)
			log_warnx(docker_log(p->d),
			    "pool: a container failed its scrub: "
			    "discarded");
		box_discard(sc->box, &p->inflight);
	}
	free(sc);
	pool_pump(p);
}

static void
scrub_lost(const struct err *e, void *arg)
{
	struct scrub *sc = arg;

	log_warnx(docker_log(sc->p->d),
	    "pool: lost a container while scrubbing: %s", e->msg);
	sc->p->inflight--;
	sc->slot->scrubbing--;
	box_discard(sc->box, &sc->p->inflight);
	free(sc);
}

/*
 * Take a box back. `clean`: its agent reported the end of the run. One-use
 * (the default): the agent has exited by itself, nothing to do. With
 * reuse, the agent scrubs and verifies the sandbox, and the box returns to
 * its own key's slot -- never to another key. Anything else: removed.
 */
void
pool_release(
    struct pool *p, const struct pool_spec *spec, struct box *b, int clean)
{
	static const struct box_cbs cbs = { scrub_frame, scrub_lost };
	struct pool_slot *slot = slot_get(p, spec);
	struct proto_buf pb = { 0 };
	struct scrub *sc;

	if (slot->lent > 0)
		slot->lent--;
	log_debug(docker_log(p->d), "pool: release %.12s clean=%d reuse=%d",
	    box_id(b), clean, p->o.reuse);
	if (!clean) {
		box_discard(b, &p->inflight);
		return;
	}
	if (!p->o.reuse || p->draining) {
		if (p->o.reuse)
			box_bye(b);
		else
			box_close(b);
		return;
	}
	sc = xcalloc(1, sizeof *sc);
	sc->p = p;
	sc->slot = slot;
	sc->box = b;
	p->inflight++;
	sc->slot->scrubbing++;
	box_set_cbs(b, &cbs, sc);
	proto_frame(&pb, PROTO_SCRUB, NULL, 0);
	box_send(b, &pb);
	proto_buf_free(&pb);
}

/* Whether background work (creations, removals, listings) is under way. */
int
pool_busy(const struct pool *p)
{
	return p->inflight > 0 || p->creating > 0 || !TAILQ_EMPTY(&p->waits);
}

/*
 * Shutdown: cancel acquires and let ready boxes go (BYE: their agents exit
 * and AutoRemove removes them). Then wait until !pool_busy().
 */
void
pool_drain(struct pool *p)
{
	struct pool_wait *w, *tw;
	struct pool_slot *s;
	struct ready *r;

	TAILQ_FOREACH_SAFE (w, &p->waits, entry, tw)
		pool_acquire_cancel(w);
	TAILQ_FOREACH (s, &p->slots, entry) {
		TAILQ_FOREACH_SAFE (w, &s->waiters, entry, tw)
			pool_acquire_cancel(w);
		while ((r = TAILQ_FIRST(&s->ready)) != NULL) {
			TAILQ_REMOVE(&s->ready, r, entry);
			s->nready--;
			box_bye(r->box);
			free(r);
		}
	}
	p->o.size = 0; /* no more refills */
	p->draining = 1;
}

void
pool_free(struct pool *p)
{
	struct pool_slot *s;

	if (p == NULL)
		return;
	if (pool_busy(p))
		log_warnx(docker_log(p->d),
		    "pool freed with background work pending");
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

/* The counter of background removals that shutdown waits for. */
int *
pool_inflight(struct pool *p)
{
	return &p->inflight;
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
			snprintf(out[n].image, sizeof out[n].image, "%s",
			    s->image);
			out[n].ready = (unsigned)(s->nready + s->warm_known);
			out[n].creating =
			    (unsigned)(s->creating_boxes + s->creating_warm);
		}
		n++;
	}
	return n;
}
