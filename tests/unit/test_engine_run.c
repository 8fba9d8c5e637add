/*
 * The run state machine (src/engine/engine_run.c) through the public API
 * only, without Docker: an engine on our event_base talks to the fake
 * dockerd (tests/fake), whose agent plays a script per run (chosen by the
 * request's cmd). What is proven: output and results arrive as the agent
 * reports them; stdin reaches the agent; the host's own output cap and
 * hard deadline hold when the agent does not keep them; a lost or lying
 * agent is an ISOL8_EAGENT error, a lost one ISOL8_ELOST; cancel and engine
 * free work in every state. In every test on_done comes exactly once and
 * never from inside an isol8 call, a container whose run did not end
 * cleanly is deleted, and none outlives its engine but a session's.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "engine/engine.h"
#include "fake/fake_dockerd.h"

#define SETTLE_MS 30 /* after on_done: time for a second call to come */

static struct event_base *base;
static int in_isol8; /* inside isol8_run_start/cancel: no on_done here */

static const struct fake_script scripts[] = {
	{ "hello", FAKE_RUN_EXIT, "hello\n", "oops\n", 3, 0, 0, 0 },
	{ "ok", FAKE_RUN_EXIT, NULL, NULL, 0, 0, 0, 0 },
	{ "timedout", FAKE_RUN_EXIT, NULL, NULL, 137, 9, PROTO_F_TIMEDOUT, 0 },
	{ "oom", FAKE_RUN_EXIT, NULL, NULL, 137, 9, PROTO_F_OOM, 0 },
	{ "truncated", FAKE_RUN_EXIT, "x", NULL, 0, 0, PROTO_F_TRUNCATED, 0 },
	{ "lost", FAKE_RUN_EXIT, NULL, NULL, 1, 0, PROTO_F_STATE_LOST, 0 },
	{ "fresh", FAKE_RUN_EXIT, NULL, NULL, 0, 0, PROTO_F_FRESH, 0 },
	{ "echo", FAKE_RUN_ECHO, NULL, NULL, 0, 0, 0, 0 },
	{ "hang", FAKE_RUN_HANG, NULL, NULL, 0, 0, 0, 0 },
	{ "flood", FAKE_RUN_FLOOD, NULL, NULL, 0, 0, 0, 200000 },
	{ "die", FAKE_RUN_CLOSE, "partial", NULL, 0, 0, 0, 0 },
	{ "badexit", FAKE_RUN_BAD_EXIT, NULL, NULL, 0, 0, 0, 0 },
	{ "badheader", FAKE_RUN_BAD_HEADER, NULL, NULL, 0, 0, 0, 0 },
	{ "unknown", FAKE_RUN_UNKNOWN, "still here", NULL, 5, 0, 0, 0 },
	{ "file", FAKE_RUN_FILE, NULL, NULL, 0, 0, 0, 0 },
	{ "error", FAKE_RUN_ERROR, NULL, "cannot exec", 0, 0, 0, 0 },
	{ NULL, FAKE_RUN_EXIT, NULL, NULL, 0, 0, 0, 0 },
};

/* What one run delivered. */
struct rec {
	int done;      /* on_done calls */
	int reentered; /* ... made from inside an isol8 call */
	int failed;    /* with an error */
	struct isol8_error err;
	struct isol8_result r; /* its pointers cleared */
	char cid[64];
	struct buf out;
	struct buf errout;
};

static void
on_stdout(const char *p, size_t len, void *arg)
{
	buf_add(&((struct rec *)arg)->out, p, len);
}

static void
on_stderr(const char *p, size_t len, void *arg)
{
	buf_add(&((struct rec *)arg)->errout, p, len);
}

static void
on_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct rec *rc = arg;

	rc->done++;
	rc->reentered += in_isol8;
	rc->r = *r;
	snprintf(rc->cid, sizeof rc->cid, "%s",
	    r->container_id ? r->container_id : "");
	rc->r.container_id = NULL;
	rc->r.outputs = NULL;
	rc->r.net_events = NULL;
	if (e != NULL) {
		rc->failed = 1;
		rc->err = *e;
	}
}

static const struct isol8_callbacks cbs = { on_stdout, on_stderr, on_done };

static void
rec_free(struct rec *rc)
{
	buf_free(&rc->out);
	buf_free(&rc->errout);
}

/* Turn our base for ms, as the embedding program's loop would. */
static void
turn(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Turn the base until cond holds or ms have passed. */
#define WAIT_FOR(cond, ms)                                                     \
	do {                                                                   \
		uint64_t until_ = now_ms() + (ms);                             \
		while (!(cond) && now_ms() < until_)                           \
			turn(5);                                               \
	} while (0)

struct fx {
	struct fake_dockerd *f;
	struct fake_sim *sim;
	struct isol8_engine *e;
};

/* The engine's warnings (a hard deadline says so): not for the TAP. */
static void
quiet_log(enum isol8_log_level level, const char *line, void *arg)
{
	(void)level, (void)line, (void)arg;
}

/* A fake dockerd and an engine on our base that keeps no warm boxes. */
static int
fx_new(struct fx *x, unsigned max_concurrent)
{
	struct isol8_engine_opts o;
	struct isol8_error err;

	x->f = fake_dockerd_new(base, FAKE_SIM);
	x->sim = fake_dockerd_sim(x->f);
	x->sim->scripts = scripts;
	isol8_engine_opts_init(&o);
	o.docker_host = fake_dockerd_host(x->f);
	o.pool_size = 0; /* every container is one a run asked for */
	o.max_concurrent = max_concurrent;
	o.log = quiet_log;
	x->e = isol8_engine_new(base, &o, &err);
	return x->e != NULL ? 0 : -1;
}

/*
 * Free the engine (its removals finish on our base), then the fake; -1 if
 * containers other than the `sessions` kept ones outlived the engine.
 */
static int
fx_free(struct fx *x, int sessions)
{
	int live;

	if (x->e != NULL) {
		WAIT_FOR(!isol8_engine_busy(x->e), 3000);
		isol8_engine_free(x->e);
	}
	WAIT_FOR(fake_dockerd_live(x->f) == sessions, 3000);
	turn(20); /* the engine's last step runs on our base */
	live = fake_dockerd_live(x->f);
	fake_dockerd_free(x->f);
	return live == sessions ? 0 : -1;
}

static struct isol8_run *
start(struct fx *x, const char *cmd, struct isol8_request *req, struct rec *rc)
{
	struct isol8_request def;
	struct isol8_error err;
	struct isol8_run *run;

	if (req == NULL) {
		isol8_request_init(&def);
		req = &def;
	}
	req->cmd = cmd;
	in_isol8 = 1;
	run = isol8_run_start(x->e, req, &cbs, rc, &err);
	in_isol8 = 0;
	return run;
}

static void
cancel(struct isol8_run *run)
{
	in_isol8 = 1;
	isol8_run_cancel(run);
	in_isol8 = 0;
}

/* on_done came once, not from inside isol8, and no second one follows. */
static int
done_once(struct rec *rc)
{
	WAIT_FOR(rc->done > 0, 3000);
	turn(SETTLE_MS);
	return rc->done == 1 && rc->reentered == 0;
}

/*
 * Output and the exit code as the agent sent them, stdout and stderr
 * apart; the RUN carried the request's timeout, cap and one-shot mode;
 * the request's file went over (PUT_FILE, acknowledged) and, the run
 * having ended cleanly, the container is left to remove itself.
 */
static int
test_exit_code_and_output(void)
{
	static const struct isol8_file file = { "data.txt", "abc", 3 };
	struct isol8_request req;
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.timeout_ms = 4321;
	req.max_output = 5555;
	req.files = &file;
	req.files_len = 1;
	CHECK(start(&x, "hello", &req, &rc) != NULL);
	CHECK(done_once(&rc));
	CHECK(!rc.failed);
	CHECK(strcmp(buf_cstr(&rc.out), "hello\n") == 0);
	CHECK(strcmp(buf_cstr(&rc.errout), "oops\n") == 0);
	CHECK(rc.r.exit_code == 3 && rc.r.signal == 0);
	CHECK(!rc.r.timed_out && !rc.r.oom_killed && !rc.r.truncated);
	CHECK(rc.r.stdout_bytes == 6 && rc.r.stderr_bytes == 5);
	CHECK(rc.r.run_ms == FAKE_WALL_MS && rc.r.cpu_ms == FAKE_CPU_MS);
	CHECK(rc.r.peak_rss_kb == FAKE_RSS_KB);
	CHECK(rc.r.state_lost == ISOL8_STATE_KEPT);
	CHECK(strncmp(rc.cid, "sim", 3) == 0);
	CHECK(x.sim->runs == 1 && x.sim->put_files == 1);
	CHECK(x.sim->run_timeout_ms == 4321 && x.sim->run_output_cap == 5555);
	CHECK(x.sim->run_oneshot == 1 && x.sim->run_stdin == 0);
	CHECK(x.sim->deletes == 0);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* A PUT_FILE the agent never acknowledged: the box is not trusted. */
static int
test_unacknowledged_file_removes_the_container(void)
{
	static const struct isol8_file file = { "data.txt", "abc", 3 };
	struct isol8_request req;
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	x.sim->put_file_silent = 1;
	isol8_request_init(&req);
	req.files = &file;
	req.files_len = 1;
	CHECK(start(&x, "ok", &req, &rc) != NULL);
	CHECK(done_once(&rc));
	CHECK(!rc.failed && rc.r.exit_code == 0);
	/* (A one-shot agent exits at EXIT: the DELETE finds it gone.) */
	WAIT_FOR(x.sim->deletes == 1, 3000);
	CHECK(x.sim->deletes == 1);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* Every EXIT flag maps to its result field; several runs at once. */
static int
test_result_fields(void)
{
	static const struct {
		const char *cmd;
		int exit_code, signal, timed_out, oom, truncated;
		enum isol8_state state;
	} want[] = {
		{ "timedout", 137, 9, 1, 0, 0, ISOL8_STATE_KEPT },
		{ "oom", 137, 9, 0, 1, 0, ISOL8_STATE_KEPT },
		{ "truncated", 0, 0, 0, 0, 1, ISOL8_STATE_KEPT },
		{ "lost", 1, 0, 0, 0, 0, ISOL8_STATE_LOST },
		{ "fresh", 0, 0, 0, 0, 0, ISOL8_STATE_FRESH },
	};
	struct rec rc[nitems(want)];
	struct fx x;
	size_t i;

	memset(rc, 0, sizeof rc);
	CHECK(fx_new(&x, 8) == 0);
	for (i = 0; i < nitems(want); i++)
		CHECK(start(&x, want[i].cmd, NULL, &rc[i]) != NULL);
	for (i = 0; i < nitems(want); i++) {
		CHECK(done_once(&rc[i]));
		CHECK(!rc[i].failed);
		CHECK(rc[i].r.exit_code == want[i].exit_code);
		CHECK(rc[i].r.signal == want[i].signal);
		CHECK(rc[i].r.timed_out == want[i].timed_out);
		CHECK(rc[i].r.oom_killed == want[i].oom);
		CHECK(rc[i].r.truncated == want[i].truncated);
		CHECK(rc[i].r.state_lost == want[i].state);
		rec_free(&rc[i]);
	}
	CHECK(x.sim->runs == (int)nitems(want));
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* stdin_data, NUL bytes and all, reaches the agent, then its EOF. */
static int
test_stdin_data(void)
{
	static const char in[] = "line\0two\n";
	struct isol8_request req;
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.stdin_data = in;
	req.stdin_len = sizeof in - 1;
	CHECK(start(&x, "echo", &req, &rc) != NULL);
	CHECK(done_once(&rc));
	CHECK(!rc.failed && rc.r.exit_code == 0);
	CHECK(rc.out.len == sizeof in - 1);
	CHECK(memcmp(rc.out.data, in, sizeof in - 1) == 0);
	CHECK(x.sim->run_stdin == 1);
	CHECK(x.sim->stdin_bytes == sizeof in - 1 && x.sim->stdin_eofs == 1);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* Streamed stdin: written before the box is ready and after, then EOF. */
static int
test_stdin_stream(void)
{
	struct isol8_request req;
	struct rec rc = { 0 };
	struct isol8_run *run;
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.stdin_stream = 1;
	CHECK((run = start(&x, "echo", &req, &rc)) != NULL);
	CHECK(isol8_run_write_stdin(run, "early ", 6) == 0);
	WAIT_FOR(x.sim->runs == 1, 3000);
	CHECK(x.sim->runs == 1 && x.sim->run_stdin == 1);
	CHECK(isol8_run_write_stdin(run, "late", 4) == 0);
	isol8_run_close_stdin(run);
	CHECK(isol8_run_write_stdin(run, "closed", 6) == -1);
	CHECK(done_once(&rc));
	CHECK(!rc.failed);
	CHECK(strcmp(buf_cstr(&rc.out), "early late") == 0);
	CHECK(x.sim->stdin_bytes == 10 && x.sim->stdin_eofs == 1);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * The agent never answers: at timeout + 5 s the host ends the run as
 * timed out (137, SIGKILL) and deletes the container -- a one-shot one,
 * and a session's too, since its agent is stuck.
 */
static int
test_hard_deadline(void)
{
	struct isol8_request req, sreq;
	struct rec rc = { 0 }, src = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.timeout_ms = 100;
	sreq = req;
	sreq.session = "stuck";
	CHECK(start(&x, "hang", &req, &rc) != NULL);
	CHECK(start(&x, "hang", &sreq, &src) != NULL);
	WAIT_FOR(x.sim->runs == 2, 3000);
	CHECK(x.sim->runs == 2);
	WAIT_FOR(rc.done && src.done, 15000);
	CHECK(done_once(&rc) && done_once(&src));
	CHECK(!rc.failed && !src.failed);
	CHECK(rc.r.timed_out && rc.r.exit_code == 137 && rc.r.signal == 9);
	CHECK(src.r.timed_out && src.r.exit_code == 137);
	/* A lower bound only: not before the agent's time was up (less the
	 * few ms of libevent's coarse clock). */
	CHECK(rc.r.total_ms + 50 >= 100 + ENGINE_HARD_GRACE_MS);
	WAIT_FOR(x.sim->deletes == 2, 3000);
	CHECK(x.sim->deletes == 2);
	rec_free(&rc);
	rec_free(&src);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * An agent that floods past max_output and does not say so: the host
 * delivers exactly max_output bytes (stdout and stderr together) and sets
 * truncated itself.
 */
static int
test_output_cap(void)
{
	struct isol8_request req;
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.max_output = 10000; /* mid-frame: frames are 4096 bytes */
	CHECK(start(&x, "flood", &req, &rc) != NULL);
	CHECK(done_once(&rc));
	CHECK(!rc.failed && rc.r.truncated);
	CHECK(rc.r.stdout_bytes + rc.r.stderr_bytes == 10000);
	CHECK(rc.out.len + rc.errout.len == 10000);
	CHECK(rc.out.len == rc.r.stdout_bytes && rc.errout.len > 0);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* The attach ends mid-run: ISOL8_ELOST, output so far kept, deleted. */
static int
test_lost_sandbox(void)
{
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	CHECK(start(&x, "die", NULL, &rc) != NULL);
	CHECK(done_once(&rc));
	CHECK(rc.failed && rc.err.code == ISOL8_ELOST);
	CHECK(strstr(rc.err.message, "lost the sandbox") != NULL);
	CHECK(strcmp(buf_cstr(&rc.out), "partial") == 0);
	/* It died, so it is gone; the host asks anyway, trusting nothing. */
	WAIT_FOR(x.sim->deletes == 1, 3000);
	CHECK(x.sim->deletes == 1);
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * Frames an agent should never send: each is an ISOL8_EAGENT error naming
 * it and the container is deleted. A frame of an unknown type is skipped
 * (newer agents may add some) and the run ends normally.
 */
static int
test_malformed_frames(void)
{
	static const struct {
		const char *cmd;
		const char *msg;
	} bad[] = {
		{ "badexit", "malformed EXIT" },
		{ "badheader", "bad frame header" },
		{ "file", "FILE frame" },
		{ "error", "sandbox agent: cannot exec" },
	};
	struct rec rc[nitems(bad)], ok = { 0 };
	struct fx x;
	size_t i;

	memset(rc, 0, sizeof rc);
	CHECK(fx_new(&x, 8) == 0);
	for (i = 0; i < nitems(bad); i++)
		CHECK(start(&x, bad[i].cmd, NULL, &rc[i]) != NULL);
	CHECK(start(&x, "unknown", NULL, &ok) != NULL);
	for (i = 0; i < nitems(bad); i++) {
		CHECK(done_once(&rc[i]));
		CHECK(rc[i].failed && rc[i].err.code == ISOL8_EAGENT);
		if (strstr(rc[i].err.message, bad[i].msg) == NULL)
			fprintf(
			    stderr, "%s: %s\n", bad[i].cmd, rc[i].err.message);
		CHECK(strstr(rc[i].err.message, bad[i].msg) != NULL);
		rec_free(&rc[i]);
	}
	CHECK(done_once(&ok));
	CHECK(!ok.failed && ok.r.exit_code == 5);
	CHECK(strcmp(buf_cstr(&ok.out), "still here") == 0);
	WAIT_FOR(x.sim->deletes == (int)nitems(bad), 3000);
	CHECK(x.sim->deletes == (int)nitems(bad));
	rec_free(&ok);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* Cancelled while QUEUED behind a run that holds the only slot. */
static int
test_cancel_queued(void)
{
	struct rec first = { 0 }, queued = { 0 };
	struct isol8_run *r1, *r2;
	struct fx x;

	CHECK(fx_new(&x, 1) == 0);
	CHECK((r1 = start(&x, "hang", NULL, &first)) != NULL);
	WAIT_FOR(x.sim->runs == 1, 3000);
	CHECK((r2 = start(&x, "ok", NULL, &queued)) != NULL);
	turn(50);
	CHECK(x.sim->creates == 1); /* still queued */
	cancel(r2);
	CHECK(queued.done == 0); /* never from inside the cancel */
	CHECK(done_once(&queued));
	CHECK(queued.failed && queued.err.code == ISOL8_ECANCELLED);
	CHECK(queued.cid[0] == '\0');
	/* Then the first, RUNNING: cancelled, its container deleted. */
	cancel(r1);
	cancel(r1); /* twice: still one on_done */
	CHECK(first.done == 0);
	CHECK(done_once(&first));
	CHECK(first.failed && first.err.code == ISOL8_ECANCELLED);
	WAIT_FOR(x.sim->deletes == 1, 3000);
	CHECK(x.sim->deletes == 1 && fake_dockerd_deleted(x.f, first.cid));
	CHECK(x.sim->creates == 1 && x.sim->runs == 1);
	rec_free(&first);
	rec_free(&queued);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * The slot frees while a cancelled run still waits in the queue for its
 * cancellation to take effect: the run that held the slot and the queued
 * one cancelled in the same turn. Both end, cancelled, once each; the
 * queued one never gets a container, and the engine goes on. (It used to
 * spin: engine_kick() took the cancelled head of the queue for ever.)
 */
static int
test_cancel_queued_as_the_slot_frees(void)
{
	struct rec first = { 0 }, queued = { 0 }, after = { 0 };
	struct isol8_run *r1, *r2;
	struct fx x;

	CHECK(fx_new(&x, 1) == 0);
	CHECK((r1 = start(&x, "hang", NULL, &first)) != NULL);
	WAIT_FOR(x.sim->runs == 1, 3000);
	CHECK((r2 = start(&x, "ok", NULL, &queued)) != NULL);
	turn(20);
	cancel(r1);
	cancel(r2);
	CHECK(done_once(&first) && done_once(&queued));
	CHECK(first.err.code == ISOL8_ECANCELLED);
	CHECK(queued.err.code == ISOL8_ECANCELLED);
	CHECK(start(&x, "ok", NULL, &after) != NULL);
	CHECK(done_once(&after));
	CHECK(!after.failed);
	CHECK(x.sim->creates == 2 && x.sim->runs == 2);
	rec_free(&first);
	rec_free(&queued);
	rec_free(&after);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * Cancelled while ACQUIRE, during the create: on_done comes (cancelled,
 * no container). The container dockerd then makes is not lost: today it
 * becomes a ready box that the next run gets; deleting it would do too.
 * Either way none outlives the engine (fx_free checks).
 */
static int
test_cancel_acquire(void)
{
	struct rec creating = { 0 }, next = { 0 };
	struct isol8_run *run;
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	x.sim->create_delay_ms = 300;
	CHECK((run = start(&x, "ok", NULL, &creating)) != NULL);
	WAIT_FOR(x.sim->creates == 1, 3000);
	CHECK(x.sim->creates_inflight == 1);
	cancel(run);
	CHECK(creating.done == 0);
	CHECK(done_once(&creating));
	CHECK(creating.failed && creating.err.code == ISOL8_ECANCELLED);
	CHECK(creating.cid[0] == '\0');
	CHECK(x.sim->runs == 0);
	WAIT_FOR(x.sim->hellos == 1 || x.sim->deletes == 1, 3000);
	CHECK(start(&x, "ok", NULL, &next) != NULL);
	CHECK(done_once(&next));
	CHECK(!next.failed && next.r.exit_code == 0 && x.sim->runs == 1);
	rec_free(&creating);
	rec_free(&next);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/* Cancelled while RUNNING: on_done later, the container deleted. */
static int
test_cancel_running(void)
{
	struct rec rc = { 0 };
	struct isol8_run *run;
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	CHECK((run = start(&x, "hang", NULL, &rc)) != NULL);
	WAIT_FOR(x.sim->runs == 1, 3000);
	CHECK(x.sim->runs == 1);
	cancel(run);
	CHECK(rc.done == 0);
	CHECK(done_once(&rc));
	CHECK(rc.failed && rc.err.code == ISOL8_ECANCELLED);
	CHECK(strncmp(rc.cid, "sim", 3) == 0);
	WAIT_FOR(x.sim->deletes == 1, 3000);
	CHECK(x.sim->deletes == 1 && fake_dockerd_deleted(x.f, rc.cid));
	rec_free(&rc);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * The engine freed with a run RUNNING, one in ACQUIRE and one QUEUED:
 * each gets on_done once, cancelled, during the free (as documented).
 * On our base afterwards, the running one's container is deleted, the
 * one being created goes too (today: told BYE once ready, so its agent
 * exits and AutoRemove takes it); the queued run never had one.
 */
static int
test_free_in_every_state(void)
{
	struct rec running = { 0 }, acquiring = { 0 }, queued = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 2) == 0);
	CHECK(start(&x, "hang", NULL, &running) != NULL);
	WAIT_FOR(x.sim->runs == 1, 3000);
	x.sim->create_delay_ms = 300;
	CHECK(start(&x, "ok", NULL, &acquiring) != NULL);
	WAIT_FOR(x.sim->creates == 2, 3000);
	CHECK(start(&x, "ok", NULL, &queued) != NULL);
	turn(20);
	CHECK(x.sim->creates == 2 && x.sim->creates_inflight == 1);
	CHECK(running.done + acquiring.done + queued.done == 0);
	isol8_engine_free(x.e);
	x.e = NULL;
	CHECK(running.done == 1 && acquiring.done == 1 && queued.done == 1);
	CHECK(running.err.code == ISOL8_ECANCELLED);
	CHECK(acquiring.err.code == ISOL8_ECANCELLED);
	CHECK(queued.err.code == ISOL8_ECANCELLED);
	WAIT_FOR(fake_dockerd_live(x.f) == 0, 3000);
	turn(300); /* the engine checks every 100 ms whether it may go */
	CHECK(running.done == 1 && acquiring.done == 1 && queued.done == 1);
	CHECK(fake_dockerd_deleted(x.f, running.cid));
	CHECK(fake_dockerd_live(x.f) == 0);
	CHECK(x.sim->creates == 2 && x.sim->runs == 1);
	rec_free(&running);
	rec_free(&acquiring);
	rec_free(&queued);
	CHECK(fx_free(&x, 0) == 0);
	return 0;
}

/*
 * Freed while the agent of the box being made for a run has not answered
 * HELLO yet: the run ends (cancelled) at once, the box is given up and its
 * container deleted promptly, and nothing of the engine runs afterwards --
 * not when the container's attach ends (here: the fake goes away). (It
 * was a known bug: pool_drain() left boxes being made alone, and their
 * attach's end later removed the container on a freed Docker client.)
 */
static int
test_free_with_an_agent_not_ready(void)
{
	struct rec rc = { 0 };
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	x.sim->agent_silent = 1;
	CHECK(start(&x, "ok", NULL, &rc) != NULL);
	WAIT_FOR(x.sim->hellos == 1, 3000);
	CHECK(x.sim->hellos == 1);
	isol8_engine_free(x.e);
	CHECK(rc.done == 1 && rc.err.code == ISOL8_ECANCELLED);
	WAIT_FOR(fake_dockerd_live(x.f) == 0, 1500);
	CHECK(fake_dockerd_deleted(x.f, "sim00000001"));
	turn(300); /* the engine goes */
	fake_dockerd_free(x.f);
	turn(100); /* the attach's end reaches nobody */
	CHECK(rc.done == 1);
	rec_free(&rc);
	return 0;
}

/*
 * Sessions: the first run creates the named container, the second finds
 * it (409, inspect, claim); runs are not one-shot and leave it in place.
 * A run cancelled in a session interrupts the program (SIGINT, with a
 * grace before the agent kills it) and keeps the container.
 */
static int
test_session_runs(void)
{
	struct isol8_request req;
	struct rec a = { 0 }, b = { 0 }, c = { 0 };
	struct isol8_run *run;
	struct fx x;

	CHECK(fx_new(&x, 4) == 0);
	isol8_request_init(&req);
	req.session = "s1";
	CHECK(start(&x, "hello", &req, &a) != NULL);
	CHECK(done_once(&a));
	CHECK(!a.failed && a.r.exit_code == 3);
	CHECK(strcmp(buf_cstr(&a.out), "hello\n") == 0);
	CHECK(x.sim->run_oneshot == 0);
	CHECK(start(&x, "hello", &req, &b) != NULL);
	CHECK(done_once(&b));
	CHECK(!b.failed && b.r.exit_code == 3);
	CHECK(strcmp(a.cid, b.cid) == 0);
	CHECK(x.sim->creates == 2 && x.sim->conflicts == 1);
	CHECK(x.sim->inspects == 1 && x.sim->runs == 2);
	CHECK(x.sim->signals == 0);
	CHECK((run = start(&x, "hang", &req, &c)) != NULL);
	WAIT_FOR(x.sim->runs == 3, 3000);
	cancel(run);
	CHECK(done_once(&c));
	CHECK(c.failed && c.err.code == ISOL8_ECANCELLED);
	WAIT_FOR(x.sim->signals == 1, 3000);
	CHECK(x.sim->signals == 1 && x.sim->last_signo == SIGINT);
	CHECK(x.sim->last_grace_ms > 0);
	CHECK(x.sim->deletes == 0);
	rec_free(&a);
	rec_free(&b);
	rec_free(&c);
	CHECK(fx_free(&x, 1) == 0); /* the session stays */
	return 0;
}

int
main(void)
{
	int rc;

	base = event_base_new();
	RUN_TEST(test_exit_code_and_output);
	RUN_TEST(test_unacknowledged_file_removes_the_container);
	RUN_TEST(test_result_fields);
	RUN_TEST(test_stdin_data);
	RUN_TEST(test_stdin_stream);
	RUN_TEST(test_output_cap);
	RUN_TEST(test_lost_sandbox);
	RUN_TEST(test_malformed_frames);
	RUN_TEST(test_cancel_queued);
	RUN_TEST(test_cancel_queued_as_the_slot_frees);
	RUN_TEST(test_cancel_acquire);
	RUN_TEST(test_cancel_running);
	RUN_TEST(test_free_in_every_state);
	RUN_TEST(test_free_with_an_agent_not_ready);
	RUN_TEST(test_session_runs);
	RUN_TEST(test_hard_deadline);
	rc = TAP_DONE();
	event_base_free(base);
	return rc;
}
