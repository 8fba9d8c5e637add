/*
 * The pool against the simulated dockerd (tests/fake): creations stay
 * within max_creating however many acquires wait; a failing create is
 * reported to its acquire and the pool goes on; a warm container is
 * claimed once (rename 404 for the loser); an agent that answers busy
 * sends the acquire on to a fresh container; a ready box that dies between
 * its acquire and its hand-over (dockerd going away) is not handed over,
 * and a cancelled hand-over frees nothing twice.
 */
#include <signal.h>
#include <string.h>

#include "tap.h"
#include "pool/pool.h"
#include "fake/fake_dockerd.h"
#include "support.h"

static struct loop *loop;
static const struct pool_spec spec = { "img", 64ll << 20, 1000000000, 16,
	16ll << 20, 16ll << 20, "none" };

static int
all_done(struct got *g, int n)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		k += g[i].done;
	return k == n;
}

struct fixture {
	struct fake_dockerd *f;
	struct fake_sim *sim;
	struct docker *d;
	struct pool *p;
};

static void
setup(struct fixture *x, unsigned size, unsigned max_creating, int shared)
{
	struct pool_opts o;

	x->f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	x->sim = fake_dockerd_sim(x->f);
	x->sim->create_delay_ms = 20;
	x->d = docker_new(loop, fake_dockerd_host(x->f), NULL);
	pool_opts_init(&o);
	o.size = size;
	o.max_creating = max_creating;
	o.shared = shared;
	x->p = pool_new(x->d, &o);
}

static void
teardown(struct fixture *x)
{
	uint64_t t0 = now_ms();

	pool_drain(x->p);
	while ((pool_busy(x->p) || docker_busy(x->d)) && now_ms() - t0 < 3000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	pool_free(x->p);
	docker_free(x->d);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	fake_dockerd_free(x->f);
}

static int
test_creations_are_bounded(void)
{
	struct fixture x;
	struct got g[10];
	int i;

	memset(g, 0, sizeof g);
	setup(&x, 0, 3, 0);
	for (i = 0; i < 10; i++)
		pool_acquire(x.p, &spec, got_cb, &g[i]);
	while (!all_done(g, 10))
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	for (i = 0; i < 10; i++) {
		CHECK(g[i].box != NULL && g[i].err == NULL);
		pool_release(x.p, &spec, g[i].box, 1);
	}
	CHECK(x.sim->creates == 10);
	CHECK(x.sim->max_creates_inflight <= 3);
	CHECK(x.sim->max_creates_inflight >= 2);
	teardown(&x);
	return 0;
}

static int
test_failed_create_is_reported(void)
{
	struct fixture x;
	struct got g = { 0 }, h = { 0 };

	setup(&x, 0, 2, 0);
	x.sim->fail_creates = 1;
	pool_acquire(x.p, &spec, got_cb, &g);
	while (!g.done)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	CHECK(g.box == NULL && g.err != NULL);
	CHECK(strstr(g.err->msg, "boom") != NULL);
	err_free(&g.err);
	/* The pool goes on. */
	x.sim->fail_creates = 0;
	pool_acquire(x.p, &spec, got_cb, &h);
	while (!h.done)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	CHECK(h.box != NULL);
	pool_release(x.p, &spec, h.box, 1);
	teardown(&x);
	return 0;
}

static int
test_warm_claimed_once(void)
{
	struct fixture x;
	struct got g[2];

	memset(g, 0, sizeof g);
	setup(&x, 0, 2, 1);
	x.sim->warm[0] = "isol8-warm-k-1";
	pool_acquire(x.p, &spec, got_cb, &g[0]);
	pool_acquire(x.p, &spec, got_cb, &g[1]);
	while (!all_done(g, 2))
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	CHECK(g[0].box != NULL && g[1].box != NULL);
	CHECK(x.sim->renames_ok == 1 && x.sim->renames_404 == 1);
	CHECK(x.sim->creates == 1);
	CHECK(strcmp(box_id(g[0].box), "warm0") == 0 ||
	    strcmp(box_id(g[1].box), "warm0") == 0);
	pool_release(x.p, &spec, g[0].box, 1);
	pool_release(x.p, &spec, g[1].box, 1);
	teardown(&x);
	return 0;
}

static int
test_busy_agent_falls_back(void)
{
	struct fixture x;
	struct got g = { 0 };

	setup(&x, 0, 2, 1);
	x.sim->warm[0] = "isol8-warm-k-2";
	x.sim->agent_busy = 1;
	pool_acquire(x.p, &spec, got_cb, &g);
	while (!g.done)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	/* The busy warm one was skipped for a fresh container. */
	CHECK(x.sim->renames_ok == 1 && x.sim->creates == 1);
	CHECK(g.box != NULL && strncmp(box_id(g.box), "sim", 3) == 0);
	pool_release(x.p, &spec, g.box, 1);
	teardown(&x);
	return 0;
}

struct lost_then_acquire {
	struct pool *p;
	struct got *g;
	int lost;
};

/* A run's box died: the next run (its pool took the lost one's place)
 * acquires at once -- as run_finish() admits queued runs. */
static void
lost_then_acquire(const struct err *e, void *arg)
{
	struct lost_then_acquire *la = arg;

	(void)e;
	la->lost = 1;
	pool_acquire(la->p, &spec, got_cb, la->g);
}

/*
 * dockerd dies: every stream ends, and their ends are handled in one loop
 * turn. A run's box ends first; its end admits the next run, which takes
 * the ready box whose own end comes later in that turn. That box must not
 * be handed over dead, and its old owner (the ready-list entry, freed by
 * the acquire) must not be called: it was (use after free, the segfault
 * of a batch whose dockerd was killed).
 */
static int
test_ready_box_dies_before_handover(void)
{
	static const struct box_cbs cbs = { NULL, lost_then_acquire };
	struct fixture x;
	struct got first = { 0 }, g = { 0 };
	struct lost_then_acquire la = { 0 };
	uint64_t t0;

	setup(&x, 1, 2, 0);
	pool_acquire(x.p, &spec, got_cb, &first);
	t0 = now_ms();
	while ((!first.done || pool_busy(x.p) || x.sim->attaches < 2) &&
	    now_ms() - t0 < 3000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	/* first holds a box; the refill made a second one, ready. */
	CHECK(first.box != NULL && x.sim->attaches == 2 && !pool_busy(x.p));
	la.p = x.p;
	la.g = &g;
	box_set_cbs(first.box, &cbs, &la);
	fake_dockerd_down(x.f);
	t0 = now_ms();
	while (!g.done && now_ms() - t0 < 5000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	/* No dead box: a new one was asked for, and dockerd is down. */
	if (!g.done || g.box != NULL)
		fprintf(stderr, "done %d box %p err %s\n", g.done,
		    (void *)g.box, g.err ? g.err->msg : "-");
	CHECK(la.lost && g.done && g.box == NULL && g.err != NULL);
	err_free(&g.err);
	pool_release(x.p, &spec, first.box, 0);
	fake_dockerd_up(x.f);
	teardown(&x);
	return 0;
}

/* An acquire cancelled while its hand-over is deferred: freed once. */
static int
test_cancel_during_handover(void)
{
	struct fixture x;
	struct got g = { 0 };
	struct pool_wait *w;
	uint64_t t0;

	setup(&x, 1, 1, 0);
	pool_prewarm(x.p, &spec);
	t0 = now_ms();
	while ((pool_busy(x.p) || x.sim->attaches < 1) && now_ms() - t0 < 3000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	w = pool_acquire(x.p, &spec, got_cb, &g);
	pool_acquire_cancel(w);
	t0 = now_ms();
	while (now_ms() - t0 < 200)
		event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	CHECK(!g.done);
	teardown(&x);
	return 0;
}

int
main(void)
{
	int rc;

	loop = loop_new(NULL, NULL, NULL);
	RUN_TEST(test_creations_are_bounded);
	RUN_TEST(test_failed_create_is_reported);
	RUN_TEST(test_warm_claimed_once);
	RUN_TEST(test_busy_agent_falls_back);
	RUN_TEST(test_ready_box_dies_before_handover);
	RUN_TEST(test_cancel_during_handover);
	rc = TAP_DONE();
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
