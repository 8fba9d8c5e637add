/*
 * The library's boundary, without Docker: what an embedding program can
 * rely on. The blocking calls refuse an engine on the caller's event_base
 * and freeing one never dispatches it (the caller's callbacks must not run
 * inside isol8 calls); log lines go to the engine's callback, not stderr;
 * random names differ from one process to the next.
 */
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "engine/engine.h"
#include "fake/fake_dockerd.h"

static struct event_base *base;
static int caller_cb_ran;

/* Turn our base for ms, as the embedding program's loop would. */
static void
turn(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
caller_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	caller_cb_ran++;
}

/* An engine on our base, with a callback of ours already due on it. */
static struct isol8_engine *
borrowed_engine(struct fake_dockerd *f, struct event **ev,
    const struct isol8_engine_opts *o)
{
	struct isol8_engine_opts opts;
	struct isol8_error err;
	struct timeval now = { 0, 0 };

	if (o != NULL)
		opts = *o;
	else
		isol8_engine_opts_init(&opts);
	opts.docker_host = fake_dockerd_host(f);
	caller_cb_ran = 0;
	*ev = evtimer_new(base, caller_cb, NULL);
	evtimer_add(*ev, &now);
	return isol8_engine_new(base, &opts, &err);
}

static int
test_sync_refuses_a_borrowed_base(void)
{
	struct fake_dockerd *f = fake_dockerd_new(base, FAKE_SIM);
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_output out;
	struct isol8_error err;
	struct isol8_session_info *list;
	struct event *ev;
	size_t n;
	unsigned removed;

	CHECK((e = borrowed_engine(f, &ev, NULL)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "print(1)";
	memset(&err, 0, sizeof err);
	CHECK(isol8_run_sync(e, &req, &out, &err) == -1);
	CHECK(err.code == ISOL8_EINVAL);
	CHECK(strstr(err.message, "own loop") != NULL);
	CHECK(out.stdout_data == NULL);
	CHECK(isol8_session_list(e, &list, &n, &err) == -1);
	CHECK(isol8_session_remove(e, "x", &err) == -1);
	CHECK(isol8_cleanup(e, 0, &removed, &err) == -1);
	CHECK(isol8_setup_sync(e, NULL, &err) == -1);
	CHECK(isol8_engine_drain(e, 1000) == -1);
	CHECK(caller_cb_ran == 0);
	isol8_engine_free(e);
	CHECK(caller_cb_ran == 0); /* free did not dispatch our base */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK(caller_cb_ran == 1);
	event_free(ev);
	fake_dockerd_free(f);
	return 0;
}

/*
 * Freed with a run in flight on the caller's base: on_done comes at once
 * (cancelled), free returns without dispatching the base, and what the
 * engine still removes finishes when the caller's loop turns.
 */
static void
on_done(const struct isol8_result *r, const struct isol8_error *e, void *a)
{
	(void)r;
	*(int *)a = e != NULL && e->code == ISOL8_ECANCELLED ? 1 : 2;
}

static int
test_free_with_a_run_never_dispatches(void)
{
	static const struct isol8_callbacks cbs = { NULL, NULL, on_done };
	struct fake_dockerd *f = fake_dockerd_new(base, FAKE_SIM);
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_error err;
	struct event *ev;
	int done = 0;

	CHECK((e = borrowed_engine(f, &ev, NULL)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "print(1)";
	CHECK(isol8_run_start(e, &req, &cbs, &done, &err) != NULL);
	isol8_engine_free(e);
	CHECK(done == 1);
	CHECK(caller_cb_ran == 0);
	turn(300); /* the engine finishes its removals here, then frees */
	CHECK(caller_cb_ran == 1);
	event_free(ev);
	fake_dockerd_free(f);
	return 0;
}

struct lines {
	int n;
	int debug;
};

static void
log_cb(enum isol8_log_level level, const char *line, void *arg)
{
	struct lines *l = arg;

	l->n++;
	l->debug += level == ISOL8_LOG_DEBUG && strstr(line, "run ") != NULL;
}

/* Two engines, two loggers: each gets its own lines, stderr none. */
static int
test_log_callback_per_engine(void)
{
	static const struct isol8_callbacks cbs = { NULL, NULL, on_done };
	struct fake_dockerd *f = fake_dockerd_new(base, FAKE_SIM);
	struct isol8_engine_opts o;
	struct isol8_engine *e1, *e2;
	struct isol8_request req;
	struct isol8_error err;
	struct lines l1 = { 0 }, l2 = { 0 };
	struct event *ev1, *ev2;
	struct isol8_run *run;
	int done = 0;

	isol8_engine_opts_init(&o);
	o.verbose = 2;
	o.log = log_cb;
	o.log_arg = &l1;
	CHECK((e1 = borrowed_engine(f, &ev1, &o)) != NULL);
	o.verbose = 0;
	o.log_arg = &l2;
	CHECK((e2 = borrowed_engine(f, &ev2, &o)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "print(1)";
	CHECK((run = isol8_run_start(e1, &req, &cbs, &done, &err)) != NULL);
	turn(50);
	isol8_run_cancel(run);
	turn(50);
	CHECK(done == 1);
	CHECK(l1.debug > 0); /* "run 0x...: queued -> acquire" */
	CHECK(l2.n == 0);    /* quiet at verbose 0, and not e1's */
	isol8_engine_free(e1);
	isol8_engine_free(e2);
	turn(300);
	event_free(ev1);
	event_free(ev2);
	fake_dockerd_free(f);
	return 0;
}

/*
 * Where a claimant starts in the list of warm containers comes from the
 * kernel: processes that start alike (an unseeded random() gave every CLI
 * process the same first number) still spread out.
 */
static int
test_random_differs_between_processes(void)
{
	uint32_t first[8];
	int fds[2], i, same = 1;
	pid_t pid;

	for (i = 0; i < 8; i++) {
		CHECK(pipe(fds) == 0);
		if ((pid = fork()) == 0) {
			uint32_t r = random_below(1u << 30);

			_exit(write(fds[1], &r, sizeof r) == sizeof r ? 0 : 1);
		}
		close(fds[1]);
		CHECK(read(fds[0], &first[i], sizeof first[i]) ==
		    sizeof first[i]);
		close(fds[0]);
		waitpid(pid, NULL, 0);
		if (i > 0 && first[i] != first[0])
			same = 0;
	}
	CHECK(!same);
	for (i = 0; i < 100; i++)
		CHECK(random_below(7) < 7);
	return 0;
}

int
main(void)
{
	int rc;

	base = event_base_new();
	RUN_TEST(test_sync_refuses_a_borrowed_base);
	RUN_TEST(test_free_with_a_run_never_dispatches);
	RUN_TEST(test_log_callback_per_engine);
	RUN_TEST(test_random_differs_between_processes);
	rc = TAP_DONE();
	event_base_free(base);
	return rc;
}
