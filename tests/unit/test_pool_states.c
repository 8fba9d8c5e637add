/*
 * What the pool's shape guarantees, against the simulated dockerd
 * (tests/fake), each state held by a delay of the fake's answer:
 *
 * - drained (and freed at once, or once idle) with a box in every state of
 *   its making (CREATING, ATTACHING, STARTING, HELLO), for a queued
 *   acquire or a refill, a box scrubbing, a listing, a warm container
 *   being made: no container is left behind, no callback comes, the pool
 *   is idle right after the drain (warm ones aside) and nothing calls
 *   into the freed pool (ASan: no use after free);
 * - an acquire cancelled in every state (LISTING, RENAMING, CLAIMING,
 *   QUEUED, HANDOVER) never calls back and leaves no container of ours;
 * - a session opener cancelled in every state (CREATING, INSPECTING,
 *   CLAIMING, RETRYING), or drained, never calls back, removes a session
 *   it was making and never one it was joining;
 * - with reuse, a run that fails frees its key for the next acquire;
 * - the Docker client freed with an abandoned create in flight frees what
 *   it held for it.
 */
#include <string.h>

#include "tap.h"
#include "pool/pool.h"
#include "fake/fake_dockerd.h"
#include "support.h"

#define HOLD_MS 400 /* a held answer: long enough to act in the state */

static struct loop *loop;
static const struct pool_spec spec = { "img", 64ll << 20, 1000000000, 16,
	16ll << 20, 16ll << 20, "none" };

/* Every call an acquire or an opener makes. */
struct calls {
	int n;
	struct box *box;
	struct err *err;
};

static void
calls_cb(struct box *b, const struct err *e, void *arg)
{
	struct calls *c = arg;

	c->n++;
	c->box = b;
	err_free(&c->err);
	if (e != NULL)
		c->err = err_dup(e);
}

#define WAIT_FOR(cond, ms)                                                     \
	do {                                                                   \
		uint64_t t0_ = now_ms();                                       \
		while (!(cond) && now_ms() - t0_ < (ms))                       \
			event_base_loop(loop_base(loop), EVLOOP_ONCE);         \
	} while (0)

static void
turn(int ms)
{
	uint64_t t0 = now_ms();

	while (now_ms() - t0 < (uint64_t)ms)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
}

struct fixture {
	struct fake_dockerd *f;
	struct fake_sim *sim;
	struct docker *d;
	struct pool *p;
	struct fake_sim end; /* the fake's counters at the end */
	int live;            /* and its containers left */
};

static void
setup(struct fixture *x, const struct pool_opts *o)
{
	x->f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	x->sim = fake_dockerd_sim(x->f);
	x->d = docker_new(loop, fake_dockerd_host(x->f), NULL);
	x->p = pool_new(x->d, o);
}

static struct pool_opts
opts(unsigned size, int shared, int reuse)
{
	struct pool_opts o;

	pool_opts_init(&o);
	o.size = size;
	o.max_creating = 2;
	o.shared = shared;
	o.reuse = reuse;
	return o;
}

/*
 * After the pool: the Docker client's removals end, then it goes, and the
 * fake with it (what it saw is kept in x->end and x->live).
 */
static int
finish(struct fixture *x)
{
	WAIT_FOR(!docker_busy(x->d), 3000);
	CHECK(!docker_busy(x->d));
	docker_free(x->d);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	x->end = *x->sim;
	x->live = fake_dockerd_live(x->f);
	fake_dockerd_free(x->f);
	return 0;
}

enum stage { AT_CREATE, AT_ATTACH, AT_START, AT_HELLO };
static const char *const stage_names[] = { "create", "attach", "start",
	"hello" };

/* Hold the box's making at `st`: the fake keeps that answer back. */
static void
hold(struct fake_sim *s, enum stage st)
{
	switch (st) {
	case AT_CREATE:
		s->create_delay_ms = HOLD_MS;
		break;
	case AT_ATTACH:
		s->attach_delay_ms = HOLD_MS;
		break;
	case AT_START:
		/* The fake's agent answers HELLO before the start: a fact. */
		s->start_delay_ms = HOLD_MS;
		break;
	case AT_HELLO:
		s->agent_silent = 1;
		break;
	}
}

static int
reached(const struct fake_sim *s, enum stage st)
{
	switch (st) {
	case AT_CREATE:
		return s->creates >= 1;
	case AT_ATTACH:
		return s->attaches >= 1;
	case AT_START:
		return s->starts >= 1 && s->hellos >= 1;
	case AT_HELLO:
		return s->hellos >= 1;
	}
	return 0;
}

/*
 * One box being made -- for a queued acquire (refill 0) or to keep ready
 * (refill 1) -- held at `st`, then the pool drained and freed (at once,
 * or when idle). Idle right after the drain; no call; nothing left.
 */
static int
drain_while_making(enum stage st, int refill, int free_at_once)
{
	struct pool_opts o = opts(refill ? 1 : 0, 0, 0);
	struct fixture x;
	struct calls c = { 0 };

	setup(&x, &o);
	hold(x.sim, st);
	if (refill)
		pool_prewarm(x.p, &spec);
	else
		pool_acquire(x.p, &spec, calls_cb, &c);
	WAIT_FOR(reached(x.sim, st), 3000);
	CHECK(reached(x.sim, st));
	CHECK(pool_busy(x.p));
	pool_drain(x.p);
	CHECK(!pool_busy(x.p));
	if (!free_at_once)
		turn(50);
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(c.n == 0);
	CHECK(x.end.creates == 1);
	CHECK(x.live == 0);
	return 0;
}

static int
test_drain_in_every_making_state(void)
{
	enum stage st;
	int refill, at_once;

	for (st = AT_CREATE; st <= AT_HELLO; st++)
		for (refill = 0; refill < 2; refill++)
			for (at_once = 0; at_once < 2; at_once++)
				if (drain_while_making(st, refill, at_once)) {
					fprintf(stderr,
					    "  at %s, %s, freed %s\n",
					    stage_names[st],
					    refill ? "refill" : "acquire",
					    at_once ? "at once" : "later");
					return 1;
				}
	return 0;
}

/* A lent box scrubbing (reuse) when the pool drains: it is removed. */
static int
test_drain_while_scrubbing(void)
{
	struct pool_opts o = opts(1, 0, 1);
	struct fixture x;
	struct calls c = { 0 };

	setup(&x, &o);
	x.sim->scrub_silent = 1;
	pool_acquire(x.p, &spec, calls_cb, &c);
	WAIT_FOR(c.n == 1, 3000);
	CHECK(c.box != NULL);
	pool_release(x.p, &spec, c.box, 1);
	WAIT_FOR(x.sim->scrubs == 1, 3000);
	CHECK(x.sim->scrubs == 1 && pool_busy(x.p));
	pool_drain(x.p);
	CHECK(!pool_busy(x.p));
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(c.n == 1 && x.end.deletes == 1);
	CHECK(x.live == 0);
	return 0;
}

/* A prewarm's listing (shared mode) when the pool drains: cancelled. */
static int
test_drain_while_listing(void)
{
	struct pool_opts o = opts(1, 1, 0);
	struct fixture x;

	setup(&x, &o);
	x.sim->list_delay_ms = HOLD_MS;
	pool_prewarm(x.p, &spec);
	WAIT_FOR(x.sim->lists == 1, 3000);
	CHECK(pool_busy(x.p));
	pool_drain(x.p);
	CHECK(!pool_busy(x.p));
	pool_free(x.p);
	turn(HOLD_MS + 100); /* the answer comes to nobody */
	CHECK(finish(&x) == 0);
	CHECK(x.end.creates == 0);
	return 0;
}

/*
 * Warm containers being made (shared mode) are for the next process: a
 * drain lets them finish (they stay), a free aborts them -- a create not
 * answered yet is removed once it answers, a start's container at once.
 */
static int
warm_while_draining(int held_create, int free_at_once)
{
	struct pool_opts o = opts(1, 1, 0);
	struct fixture x;

	setup(&x, &o);
	if (held_create)
		x.sim->create_delay_ms = HOLD_MS;
	else
		x.sim->start_delay_ms = HOLD_MS;
	pool_prewarm(x.p, &spec);
	WAIT_FOR(held_create ? x.sim->creates == 1 : x.sim->starts == 1, 3000);
	CHECK(held_create ? x.sim->creates == 1 : x.sim->starts == 1);
	pool_drain(x.p);
	CHECK(pool_busy(x.p)); /* the warm container is still being made */
	if (!free_at_once) {
		WAIT_FOR(!pool_busy(x.p), 3000);
		CHECK(!pool_busy(x.p));
	}
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(x.live == (free_at_once ? 0 : 1));
	return 0;
}

static int
test_drain_with_warm_being_made(void)
{
	CHECK(warm_while_draining(1, 0) == 0);
	CHECK(warm_while_draining(0, 0) == 0);
	CHECK(warm_while_draining(1, 1) == 0);
	CHECK(warm_while_draining(0, 1) == 0);
	return 0;
}

enum wait_at { W_LISTING, W_RENAMING, W_CLAIMING, W_QUEUED, W_HANDOVER };

/*
 * An acquire cancelled in a state: no callback, then or later; what it
 * held goes (a claimed warm container is ours: removed); nothing is left.
 */
static int
cancel_wait_at(enum wait_at at)
{
	struct pool_opts o = opts(
	    at == W_HANDOVER ? 1 : 0, at == W_RENAMING || at == W_CLAIMING, 0);
	struct fixture x;
	struct calls c = { 0 };
	struct pool_wait *w;

	setup(&x, &o);
	x.sim->warm[0] = "isol8-warm-k-1";
	switch (at) {
	case W_LISTING:
		x.sim->list_delay_ms = HOLD_MS;
		break;
	case W_RENAMING:
		x.sim->rename_delay_ms = HOLD_MS;
		break;
	case W_CLAIMING:
		x.sim->agent_silent = 1;
		break;
	case W_QUEUED:
		x.sim->warm[0] = NULL;
		x.sim->create_delay_ms = HOLD_MS;
		break;
	case W_HANDOVER:
		x.sim->warm[0] = NULL;
		pool_prewarm(x.p, &spec);
		WAIT_FOR(!pool_busy(x.p), 3000);
		break;
	}
	w = pool_acquire(x.p, &spec, calls_cb, &c);
	switch (at) {
	case W_LISTING:
		WAIT_FOR(x.sim->lists == 1, 3000);
		break;
	case W_RENAMING:
		WAIT_FOR(x.sim->renames_ok == 1, 3000);
		break;
	case W_CLAIMING:
		WAIT_FOR(x.sim->hellos == 1, 3000);
		break;
	case W_QUEUED:
		WAIT_FOR(x.sim->creates == 1, 3000);
		break;
	case W_HANDOVER:
		break; /* the hand-over is on the next turn */
	}
	CHECK(c.n == 0);
	pool_acquire_cancel(w);
	turn(HOLD_MS + 100);
	CHECK(c.n == 0);
	if (at == W_CLAIMING)
		CHECK(x.sim->deletes == 1); /* renamed, so ours: removed */
	pool_drain(x.p);
	CHECK(!pool_busy(x.p));
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(c.n == 0);
	CHECK(x.live == 0);
	return 0;
}

static int
test_cancel_acquire_in_every_state(void)
{
	enum wait_at at;

	for (at = W_LISTING; at <= W_HANDOVER; at++)
		if (cancel_wait_at(at)) {
			fprintf(stderr, "  cancelled in state %d\n", (int)at);
			return 1;
		}
	return 0;
}

/* Open session "s" and let its run end: it stays, idle, for a joiner. */
static int
session_made(struct fixture *x)
{
	struct calls c = { 0 };

	pool_session_open(x->p, &spec, "s", 0, 60000, calls_cb, &c);
	WAIT_FOR(c.n == 1, 3000);
	CHECK(c.n == 1 && c.box != NULL);
	pool_session_release(c.box, 1);
	return 0;
}

enum open_at { O_CREATING, O_INSPECTING, O_CLAIMING, O_RETRYING };

/*
 * A session opener cancelled (or drained) in a state: no callback; a
 * session it was making is removed, one it was joining stays.
 */
static int
cancel_open_at(enum open_at at, int drain)
{
	struct pool_opts o = opts(0, 0, 0);
	struct fixture x;
	struct calls c = { 0 };
	struct session_open *so;

	setup(&x, &o);
	if (at == O_CREATING)
		x.sim->create_delay_ms = HOLD_MS;
	else
		CHECK(session_made(&x) == 0);
	if (at == O_INSPECTING)
		x.sim->inspect_delay_ms = HOLD_MS;
	if (at == O_CLAIMING)
		x.sim->agent_silent = 1;
	if (at == O_RETRYING)
		x.sim->busy_sessions = 1;
	so = pool_session_open(x.p, &spec, "s", 0, 60000, calls_cb, &c);
	CHECK(pool_busy(x.p));
	switch (at) {
	case O_CREATING:
		WAIT_FOR(x.sim->creates == 1, 3000);
		break;
	case O_INSPECTING:
		WAIT_FOR(x.sim->inspects == 1, 3000);
		break;
	case O_CLAIMING:
		WAIT_FOR(x.sim->hellos == 2, 3000);
		break;
	case O_RETRYING:
		WAIT_FOR(x.sim->hellos >= 3, 3000); /* it tried again */
		break;
	}
	CHECK(c.n == 0);
	if (drain)
		pool_drain(x.p);
	else
		pool_session_cancel(so);
	CHECK(!pool_busy(x.p));
	turn(HOLD_MS + 100);
	CHECK(c.n == 0);
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(c.n == 0);
	/* Being made: removed; being joined: the session stays. */
	CHECK(x.live == (at == O_CREATING ? 0 : 1));
	CHECK(x.end.deletes == (at == O_CREATING ? 1 : 0));
	return 0;
}

static int
test_cancel_session_open_in_every_state(void)
{
	enum open_at at;
	int drain;

	for (at = O_CREATING; at <= O_RETRYING; at++)
		for (drain = 0; drain < 2; drain++)
			if (cancel_open_at(at, drain)) {
				fprintf(stderr, "  %s in state %d\n",
				    drain ? "drained" : "cancelled", (int)at);
				return 1;
			}
	return 0;
}

/*
 * Join only (reading a session's files back): a session that does not
 * exist is ENOTFOUND and nothing is made; one that exists is joined.
 */
static int
test_session_must_exist(void)
{
	struct pool_opts o = opts(0, 0, 0);
	struct fixture x;
	struct calls c = { 0 };

	setup(&x, &o);
	pool_session_open(x.p, &spec, "s", 1, 60000, calls_cb, &c);
	WAIT_FOR(c.n == 1, 3000);
	CHECK(c.n == 1 && c.box == NULL && c.err != NULL &&
	    c.err->kind == ERR_NOTFOUND &&
	    strstr(c.err->msg, "no session `s`"));
	CHECK(x.sim->creates == 0 && x.sim->inspects == 1);
	err_free(&c.err);
	CHECK(session_made(&x) == 0);
	memset(&c, 0, sizeof c);
	pool_session_open(x.p, &spec, "s", 1, 60000, calls_cb, &c);
	WAIT_FOR(c.n == 1, 3000);
	CHECK(c.n == 1 && c.box != NULL && x.sim->creates == 1);
	pool_session_release(c.box, 1);
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(x.live == 1); /* the session stays */
	return 0;
}

/*
 * Reuse, one container per key: the second acquire waits for the first's
 * box. That run fails (released unclean: its container is removed), so
 * the key may make a new box -- and must, or the acquire waits for ever.
 */
static int
test_reuse_failed_run_frees_the_key(void)
{
	struct pool_opts o = opts(1, 0, 1);
	struct fixture x;
	struct calls a = { 0 }, b = { 0 };

	setup(&x, &o);
	pool_acquire(x.p, &spec, calls_cb, &a);
	WAIT_FOR(a.n == 1, 3000);
	CHECK(a.box != NULL);
	pool_acquire(x.p, &spec, calls_cb, &b);
	turn(100);
	CHECK(b.n == 0 && x.sim->creates == 1); /* it waits: the bound */
	pool_release(x.p, &spec, a.box, 0);
	WAIT_FOR(b.n == 1, 3000);
	CHECK(b.n == 1 && b.box != NULL);
	pool_release(x.p, &spec, b.box, 0);
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(x.live == 0);
	return 0;
}

/*
 * The agent's READY may come before dockerd's answer to the start: it is
 * kept, and the box is ready once both came -- not before, not never.
 */
static int
test_ready_before_the_start_answers(void)
{
	struct pool_opts o = opts(0, 0, 0);
	struct fixture x;
	struct calls c = { 0 };

	setup(&x, &o);
	x.sim->start_delay_ms = HOLD_MS;
	pool_acquire(x.p, &spec, calls_cb, &c);
	WAIT_FOR(x.sim->hellos == 1, 3000);
	turn(HOLD_MS / 4);
	CHECK(c.n == 0); /* READY came; the start has not answered */
	WAIT_FOR(c.n == 1, 3000);
	CHECK(c.n == 1 && c.box != NULL && c.err == NULL);
	pool_release(x.p, &spec, c.box, 0);
	pool_free(x.p);
	CHECK(finish(&x) == 0);
	CHECK(x.live == 0);
	return 0;
}

/*
 * The Docker client freed while a create it adopted (a box closed during
 * its create) is still unanswered -- an engine's drain ran out of time:
 * the call is dropped, what the client held for it freed (ASan: no leak),
 * nobody is called.
 */
static int
test_docker_free_drops_an_abandoned_create(void)
{
	struct pool_opts o = opts(0, 0, 0);
	struct fixture x;
	struct calls c = { 0 };

	setup(&x, &o);
	x.sim->create_delay_ms = 5000;
	pool_acquire(x.p, &spec, calls_cb, &c);
	WAIT_FOR(x.sim->creates == 1, 3000);
	pool_free(x.p); /* the box is closed: its create goes to the client */
	CHECK(docker_busy(x.d)); /* a removal to come */
	docker_free(x.d);
	turn(50);
	CHECK(c.n == 0);
	fake_dockerd_free(x.f);
	return 0;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

int
main(void)
{
	struct timeval tv = { 0, 10 * 1000 };
	struct event *tick;
	int rc;

	loop = loop_new(NULL, NULL, NULL);
	/* EVLOOP_ONCE never sleeps longer than this: waits are bounded. */
	tick = event_new(loop_base(loop), -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	RUN_TEST(test_drain_in_every_making_state);
	RUN_TEST(test_drain_while_scrubbing);
	RUN_TEST(test_drain_while_listing);
	RUN_TEST(test_drain_with_warm_being_made);
	RUN_TEST(test_cancel_acquire_in_every_state);
	RUN_TEST(test_cancel_session_open_in_every_state);
	RUN_TEST(test_session_must_exist);
	RUN_TEST(test_reuse_failed_run_frees_the_key);
	RUN_TEST(test_ready_before_the_start_answers);
	RUN_TEST(test_docker_free_drops_an_abandoned_create);
	rc = TAP_DONE();
	event_free(tick);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
