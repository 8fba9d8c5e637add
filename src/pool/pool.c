/*
 * The pool hands the engine ready boxes by pool key and takes them back.
 * Every acquire starts a fresh, one-use container (create, attach, start:
 * ~90 ms); a returned box whose agent exited by itself after its one run
 * (AutoRemove) is simply let go, any other is killed and removed in the
 * background. `inflight` counts those removals so that shutdown can wait
 * for them and leave no container behind.
 */
#include <stdlib.h>

#include "pool.h"

#define POOL_IDLE_MS 60000 /* a box nobody sends a RUN exits by itself */

struct pool_wait {
	struct pool *p;
	struct box *box;
	pool_acquire_cb cb;
	void *arg;
	TAILQ_ENTRY(pool_wait) entry;
};

struct pool {
	struct docker *d;
	int inflight;
	TAILQ_HEAD(, pool_wait) waits;
};

static void pool_box_ready(struct box *, const struct err *, void *);

struct pool *
pool_new(struct docker *d)
{
	struct pool *p = xcalloc(1, sizeof *p);

	p->d = d;
	TAILQ_INIT(&p->waits);
	return p;
}

/* Drop pending acquires (their containers are removed); no callbacks. */
void
pool_drain(struct pool *p)
{
	struct pool_wait *w, *tw;

	TAILQ_FOREACH_SAFE(w, &p->waits, entry, tw)
	pool_acquire_cancel(w);
}

/* Free the pool; drain it and wait until !pool_busy() first. */
void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	if (pool_busy(p))
		log_warnx("pool freed with %d container removals pending",
		    p->inflight);
	free(p);
}

/* Whether background work (creations, removals) is still under way. */
int
pool_busy(const struct pool *p)
{
	return p->inflight > 0 || !TAILQ_EMPTY(&p->waits);
}

/* Get a ready box for spec; cb runs once, later, unless cancelled. */
struct pool_wait *
pool_acquire(
    struct pool *p, const struct pool_spec *spec, pool_acquire_cb cb, void *arg)
{
	struct pool_wait *w = xcalloc(1, sizeof *w);

	w->p = p;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&p->waits, w, entry);
	w->box = box_create(p->d, spec, POOL_IDLE_MS, pool_box_ready, w);
	return w;
}

static void
pool_box_ready(struct box *b, const struct err *e, void *arg)
{
	struct pool_wait *w = arg;

	TAILQ_REMOVE(&w->p->waits, w, entry);
	w->cb(b, e, w->arg);
	free(w);
}

void
pool_acquire_cancel(struct pool_wait *w)
{
	TAILQ_REMOVE(&w->p->waits, w, entry);
	box_discard(w->box, &w->p->inflight);
	free(w);
}

/* Take a box back: `clean` when its agent finished a one-shot run. */
void
pool_release(struct pool *p, struct box *b, int clean)
{
	if (clean)
		box_close(b);
	else
		box_discard(b, &p->inflight);
}
