/*
 * One execution as a state machine on the loop:
 *
 *	QUEUED -> ACQUIRE -> INSTALL -> RUNNING -> DONE
 *	   ^         |
 *	   +---------+  (its acquire failed because dockerd went away)
 *
 * QUEUED waits for an admission slot (engine_kick), ACQUIRE for a box from
 * the pool or the session. INSTALL waits for what the image has baked and
 * installs the request's other packages (engine_install.c); it passes at
 * once when there are none. RUNNING has sent the plan's frames (the code
 * as PUT_FILE, the RUN frame with the time left, stdin) and streams
 * OUT/ERR frames through the secret mask to the caller until the agent's
 * EXIT. The deadline counts from the box's arrival. Any state may end
 * (run_close), for one of these reasons:
 *
 *	EXITED     the agent's EXIT: the program ran, the result is its own
 *	FAILED     an error: Docker, the agent, the sandbox lost (run->err)
 *	DEADLINE   the agent did not answer by timeout + ENGINE_HARD_GRACE_MS
 *	CANCELLED  isol8_run_cancel() or engine shutdown
 *
 * Callbacks (the box, the pool, timers, frames) only record what happened
 * in the run's facts and call run_step(); run_step() is the one place the
 * state moves and the end is decided, and run_close() the one teardown:
 * it collects the result (mask flushed, output files, network events),
 * delivers on_done exactly once, and releases the box -- clean only after
 * an EXIT with every PUT_FILE acknowledged; a box whose agent did not
 * answer is removed. on_done is never called from inside a call the
 * caller made, but for isol8_engine_free() (documented).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

enum run_state {
	RUN_QUEUED,
	RUN_ACQUIRE,
	RUN_INSTALL,
	RUN_RUNNING,
	RUN_DONE,
};

static const char *const run_state_names[] = { "queued", "acquire", "install",
	"running", "done" };

enum run_end {
	END_NONE,
	END_EXITED,
	END_FAILED,
	END_DEADLINE,
	END_CANCELLED,
};

/* An output file being received. */
struct run_output {
	char *path;
	struct buf data;
	char *error;
	int done;
};

struct isol8_run {
	struct isol8_engine *e;
	enum run_state state;
	struct plan plan;
	struct proto_buf stdin_q; /* STDIN frames before the box is ready */
	int stdin_stream;
	int stdin_closed;
	struct mask *mask;
	struct egress *egress; /* the filtered network's proxy, or NULL */
	struct install inst;   /* its packages (INSTALL) */
	struct pool_wait *wait;
	struct session_open *sopen;
	struct box *box;
	struct event *deadline;
	struct event *wake; /* a step on a later turn (a cancel) */
	struct isol8_callbacks cbs;
	void *arg;
	struct isol8_result result;
	struct run_output *outs;
	uint64_t t_start;
	uint64_t t_box; /* the box came: the deadline counts from here */
	unsigned unreachable_at; /* docker_unreachable() at the acquire */
	int holds;               /* back in the queue for dockerd, so often */

	/* What happened: recorded by callbacks, judged by run_step(). */
	int admitted;            /* engine_kick gave it a slot */
	struct err *acquire_err; /* the acquire failed */
	struct proto_exit exit;  /* the agent's EXIT ... */
	int exited;              /* ... arrived */
	unsigned acks;           /* PUT_FILEs not yet acknowledged */
	struct err *err;         /* the run failed */
	int deadline_hit;
	int cancel;                /* 1: cancelled; 2: the engine shuts down */
	struct remote_run *remote; /* a remote engine's: all the run is */

	TAILQ_ENTRY(isol8_run) entry;
	TAILQ_ENTRY(isol8_run) qentry;
};

static void run_step(struct isol8_run *);
static void run_acquired(struct box *, const struct err *, void *);
static void run_frame(int, const unsigned char *, uint32_t, void *);
static void run_lost(const struct err *, void *);

/* The filtered network's frames go to the run's agent, when it has one. */
static void
run_egress_send(const struct proto_buf *pb, void *arg)
{
	struct isol8_run *run = arg;

	if (run->box != NULL)
		box_send(run->box, pb);
}

static size_t
run_egress_pending(void *arg)
{
	struct isol8_run *run = arg;

	return run->box != NULL ? box_pending(run->box) : 0;
}

static void
run_free(struct isol8_run *run)
{
	size_t i;

	for (i = 0; run->outs != NULL && i < run->plan.noutputs; i++) {
		buf_free(&run->outs[i].data);
		free(run->outs[i].error);
	}
	free(run->outs);
	if (run->deadline != NULL)
		event_free(run->deadline);
	if (run->wake != NULL)
		event_free(run->wake);
	install_free(&run->inst);
	plan_free(&run->plan);
	proto_buf_free(&run->stdin_q);
	mask_free(run->mask);
	egress_free(run->egress);
	err_free(&run->acquire_err);
	err_free(&run->err);
	free(run);
}

/* Record the first error of a run and let the step decide. */
static void
run_fail(struct isol8_run *run, struct err *e)
{
	if (run->err == NULL)
		run->err = e;
	else
		err_free(&e);
	run_step(run);
}

/* Queue stdin bytes as STDIN frames (before the box: held in stdin_q). */
static void
run_stdin(struct isol8_run *run, const void *data, size_t len, int eof)
{
	struct proto_buf pb = { 0 };
	const char *p = data;
	size_t n;

	while (len > 0) {
		n = len < PROTO_CHUNK ? len : PROTO_CHUNK;
		proto_frame(&pb, PROTO_STDIN, p, n);
		p += n, len -= n;
	}
	if (eof)
		proto_frame(&pb, PROTO_STDIN_EOF, NULL, 0);
	if (run->state == RUN_RUNNING)
		box_send(run->box, &pb);
	else /* sent after the code's RUN */
		proto_buf_add(&run->stdin_q, pb.data, pb.len);
	proto_buf_free(&pb);
}

static void
run_step_cb(void *arg)
{
	run_step(arg);
}

static void
run_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	run_step(arg);
}

static void
run_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct isol8_run *run = arg;

	(void)fd, (void)what;
	run->deadline_hit = 1;
	run_step(run);
}

/* What the run starts with, besides the plan: mask, proxy, output slots. */
static int
run_new(
    struct isol8_run *run, const struct isol8_request *req, struct err **errp)
{
	struct isol8_engine *e = run->e;
	struct egress_rules rules = { req->net_allow, req->net_allow_len,
		req->net_deny, req->net_deny_len, req->net_allow_private, 0 };
	size_t i;

	if (plan_make(req, e->opts.pool_reuse, &e->reg, &run->plan, errp) == -1)
		return -1;
	if (run->plan.filtered &&
	    (run->egress = egress_new(e->loop, e->resolver, &rules,
	         run_egress_send, run_egress_pending, run, errp)) == NULL)
		return -1;
	if (run->plan.noutputs > 0)
		run->outs = xcalloc(run->plan.noutputs, sizeof *run->outs);
	for (i = 0; i < run->plan.noutputs; i++)
		run->outs[i].path = run->plan.outputs[i];
	run->acks = run->plan.acks;
	run->stdin_stream = req->stdin_stream;
	run->mask = mask_new(req->secrets, req->secrets_len);
	run->deadline = evtimer_new(loop_base(e->loop), run_deadline_cb, run);
	run->wake = event_new(loop_base(e->loop), -1, 0, run_wake_cb, run);
	if (req->stdin_data != NULL)
		run_stdin(run, req->stdin_data, req->stdin_len, 1);
	return 0;
}

/* A remote run's callbacks: the caller's, then the wrapper goes. */
static void
run_remote_stdout(const char *data, size_t len, void *arg)
{
	struct isol8_run *run = arg;

	if (run->cbs.on_stdout != NULL)
		run->cbs.on_stdout(data, len, run->arg);
}

static void
run_remote_stderr(const char *data, size_t len, void *arg)
{
	struct isol8_run *run = arg;

	if (run->cbs.on_stderr != NULL)
		run->cbs.on_stderr(data, len, run->arg);
}

static void
run_remote_done(
    const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct isol8_run *run = arg;

	run->state = RUN_DONE;
	run->cbs.on_done(res, e, run->arg);
	free(run);
}

struct isol8_run *
isol8_run_start(struct isol8_engine *e, const struct isol8_request *req,
    const struct isol8_callbacks *cbs, void *arg, struct isol8_error *errp)
{
	static const struct isol8_callbacks remote_cbs = { run_remote_stdout,
		run_remote_stderr, run_remote_done };
	struct isol8_run *run = xcalloc(1, sizeof *run);
	struct err *err = NULL;

	run->e = e;
	if (cbs == NULL || cbs->on_done == NULL) {
		err_set(&err, ERR_INVALID, "on_done callback is required");
		goto fail;
	}
	if (e->remote != NULL) {
		/* A remote engine: the run is the server's (src/remote). */
		run->cbs = *cbs;
		run->arg = arg;
		if ((run->remote = remote_run_start(
		         e->remote, req, &remote_cbs, run, &err)) == NULL)
			goto fail;
		return run;
	}
	if (run_new(run, req, &err) == -1)
		goto fail;
	run->cbs = *cbs;
	run->arg = arg;
	run->t_start = now_ms();
	run->state = RUN_QUEUED;
	TAILQ_INSERT_TAIL(&e->runs, run, entry);
	TAILQ_INSERT_TAIL(&e->queue, run, qentry);
	/* Admission happens from the loop, never inside this call. */
	loop_defer(e->loop, (loop_defer_cb)engine_kick, e);
	return run;
fail:
	engine_error(errp, err);
	err_free(&err);
	run_free(run);
	return NULL;
}

int
isol8_run_write_stdin(struct isol8_run *run, const void *data, size_t len)
{
	if (!run->stdin_stream || run->stdin_closed || run->state == RUN_DONE)
		return -1;
	run_stdin(run, data, len, 0);
	return 0;
}

size_t
isol8_run_stdin_pending(struct isol8_run *run)
{
	return run->stdin_q.len + (run->box ? box_pending(run->box) : 0);
}

void
isol8_run_close_stdin(struct isol8_run *run)
{
	if (!run->stdin_stream || run->stdin_closed || run->state == RUN_DONE)
		return;
	run->stdin_closed = 1;
	run_stdin(run, NULL, 0, 1);
}

/* Stop a run; on_done follows from the loop with ISOL8_ECANCELLED. */
void
isol8_run_cancel(struct isol8_run *run)
{
	if (run->state == RUN_DONE || run->cancel)
		return;
	run->cancel = 1;
	if (run->remote != NULL) {
		remote_run_cancel(run->remote);
		return;
	}
	event_active(run->wake, EV_TIMEOUT, 0);
}

/* Engine shutdown: the run ends now, with ISOL8_ECANCELLED. */
void
engine_run_abort(struct isol8_run *run)
{
	run->cancel = 2;
	run_step(run);
}

/*
 * Admit queued runs, in order, while there is room -- none while dockerd
 * is away. A cancelled run ends when it is its turn, without a slot.
 */
void
engine_kick(struct isol8_engine *e)
{
	struct isol8_run *r, *next;

	if (!engine_docker_admits(e))
		return; /* resumed when a probe gets an answer */
	for (r = TAILQ_FIRST(&e->queue);
	     r != NULL && e->active < e->opts.max_concurrent; r = next) {
		/* on_done may start runs (appended) or cancel others (a
		 * flag): next stays valid. */
		next = TAILQ_NEXT(r, qentry);
		r->admitted = 1;
		run_step(r);
	}
}

/*
 * Finish the runs queued now (not those their on_done queues) with copies
 * of err: the engine gave up waiting for dockerd. How many.
 */
unsigned
engine_fail_queued(struct isol8_engine *e, const struct err *err)
{
	struct isol8_run *r;
	unsigned n = 0, i;

	TAILQ_FOREACH (r, &e->queue, qentry)
		n++;
	for (i = 0; i < n && (r = TAILQ_FIRST(&e->queue)) != NULL; i++)
		run_fail(r, err_dup(err));
	return n;
}

/* The result's copy of the agent's EXIT. */
static void
run_exit_result(struct isol8_run *run)
{
	const struct proto_exit *ex = &run->exit;

	run->result.exit_code = (int)ex->exit_code;
	run->result.signal = (int)ex->signal;
	run->result.run_ms = ex->wall_ms;
	run->result.cpu_ms = ex->cpu_ms;
	run->result.peak_rss_kb = ex->maxrss_kb;
	run->result.timed_out = (ex->flags & PROTO_F_TIMEDOUT) != 0;
	run->result.oom_killed = (ex->flags & PROTO_F_OOM) != 0;
	if (ex->flags & PROTO_F_TRUNCATED)
		run->result.truncated = 1;
	run->result.state_lost = ex->flags & PROTO_F_STATE_LOST
	    ? ISOL8_STATE_LOST
	    : ex->flags & PROTO_F_FRESH ? ISOL8_STATE_FRESH
	                                : ISOL8_STATE_KEPT;
}

static void
run_emit(int stream, const char *data, size_t len, void *arg)
{
	struct isol8_run *run = arg;

	if (len == 0)
		return;
	if (stream == 1 && run->cbs.on_stdout != NULL)
		run->cbs.on_stdout(data, len, run->arg);
	else if (stream == 2 && run->cbs.on_stderr != NULL)
		run->cbs.on_stderr(data, len, run->arg);
}

/* The network events: the installer's first, then the code's. */
static void
run_events(struct isol8_run *run)
{
	struct isol8_net_event *ev = NULL, *all;
	size_t n = 0;
	uint64_t dropped = 0;

	install_stop(&run->inst);
	if (run->egress != NULL)
		ev = egress_events(run->egress, &n, &dropped);
	run->result.net_events_dropped = dropped + run->inst.dropped;
	if (run->inst.nevents == 0) {
		run->result.net_events = ev;
		run->result.net_events_len = n;
		return;
	}
	/* The strings move; the arrays go. */
	all = xcalloc(run->inst.nevents + n, sizeof *all);
	memcpy(all, run->inst.events, run->inst.nevents * sizeof *all);
	if (n > 0)
		memcpy(all + run->inst.nevents, ev, n * sizeof *all);
	run->result.net_events = all;
	run->result.net_events_len = run->inst.nevents + n;
	free(run->inst.events);
	free(ev);
	run->inst.events = NULL;
	run->inst.nevents = 0;
}

/*
 * The result, complete: the program's own after an EXIT; after the
 * deadline, what a kill at the timeout says (the agent never did); the
 * output that came before the end, flushed through the mask.
 */
static void
run_collect(
    struct isol8_run *run, enum run_end why, struct isol8_output_file **files)
{
	struct isol8_output_file *f = NULL;
	size_t i;

	if (why == END_EXITED)
		run_exit_result(run);
	else if (why == END_DEADLINE) {
		run->result.timed_out = 1;
		run->result.exit_code = 128 + 9;
		run->result.signal = 9;
		run->result.run_ms = run->plan.timeout_ms;
	}
	if (run->box != NULL)
		run->result.container_id = box_id(run->box);
	mask_flush(run->mask, 1, run_emit, run);
	mask_flush(run->mask, 2, run_emit, run);
	run_events(run);
	if (run->plan.noutputs > 0)
		f = xcalloc(run->plan.noutputs, sizeof *f);
	for (i = 0; i < run->plan.noutputs; i++) {
		f[i].path = run->outs[i].path;
		f[i].error = run->outs[i].error ? run->outs[i].error
		    : run->outs[i].done         ? NULL
		                                : "not received";
		if (f[i].error == NULL) {
			f[i].data = buf_cstr(&run->outs[i].data);
			f[i].len = run->outs[i].data.len;
		}
	}
	run->result.outputs = f;
	run->result.outputs_len = run->plan.noutputs;
	run->result.total_ms = now_ms() - run->t_start;
	*files = f;
}

/*
 * The box goes back: clean only after an EXIT with every file
 * acknowledged. A session keeps its container unless its agent did not
 * answer; any other box that is not clean is removed.
 */
static void
run_release(struct isol8_run *run, enum run_end why)
{
	/* An install that failed (or never began) leaves its agent waiting
	 * for the next RUN: a session or a reused box goes on; a one-use one
	 * is removed (its agent would not exit by itself). */
	int after_install = why == END_FAILED && !run->result.may_have_run &&
	    !run->deadline_hit &&
	    (!run->inst.sent || (run->inst.exited && !run->inst.bad_exit));
	int clean = (why == END_EXITED && run->acks == 0) ||
	    (after_install &&
	        (run->plan.session != NULL || run->e->opts.pool_reuse));

	if (run->box == NULL)
		return;
	if (run->plan.session == NULL)
		pool_release(run->e->pool, &run->plan.spec, run->box, clean);
	else if (run->deadline_hit) /* its agent is stuck: it goes */
		box_close(run->box, BOX_REMOVE);
	else
		pool_session_release(run->box, clean);
	run->box = NULL;
}

/* The one way a run ends: stop, collect, deliver, release, free. */
static void
run_close(struct isol8_run *run, enum run_end why)
{
	struct isol8_engine *e = run->e;
	struct isol8_output_file *files;
	struct isol8_error pub, *perr = NULL;
	enum run_state old = run->state;

	run->state = RUN_DONE;
	log_debug(loop_log(e->loop), "run %p: %s -> done (%s)%s%s", (void *)run,
	    run_state_names[old],
	    why == END_EXITED          ? "exited"
	        : why == END_DEADLINE  ? "no answer by the deadline"
	        : why == END_CANCELLED ? "cancelled"
	                               : "failed",
	    run->err ? ": " : "", run->err ? run->err->msg : "");
	evtimer_del(run->deadline);
	event_del(run->wake);
	if (old == RUN_QUEUED)
		TAILQ_REMOVE(&e->queue, run, qentry);
	else
		e->active--;
	TAILQ_REMOVE(&e->runs, run, entry);
	if (run->wait != NULL)
		pool_acquire_cancel(run->wait);
	if (run->sopen != NULL)
		pool_session_cancel(run->sopen);
	run->wait = NULL;
	run->sopen = NULL;

	run_collect(run, why, &files);
	if (why == END_CANCELLED)
		err_set(&run->err, ERR_CANCELLED,
		    run->cancel == 2 ? "engine shut down" : "run cancelled");
	if (why == END_FAILED || why == END_CANCELLED) {
		memset(&pub, 0, sizeof pub);
		engine_error(&pub, run->err);
		perr = &pub;
	}
	/* Its connections end before the box is let go. */
	egress_free(run->egress);
	run->egress = NULL;
	if (run->inst.sent && !run->inst.exited)
		run->result.install_ms = now_ms() - run->inst.t0;
	run->cbs.on_done(&run->result, perr, run->arg);
	free(files);
	egress_events_free(
	    (struct isol8_net_event *)(uintptr_t)run->result.net_events,
	    run->result.net_events_len);
	run_release(run, why);
	run_free(run);
	engine_kick(e);
}

/* Why a run ends now, from what was recorded; END_NONE: it goes on. */
static enum run_end
run_judge(const struct isol8_run *run)
{
	if (run->err != NULL)
		return END_FAILED;
	if (run->exited)
		return END_EXITED;
	if (run->deadline_hit)
		return END_DEADLINE;
	if (run->cancel)
		return END_CANCELLED;
	return END_NONE;
}

/* ACQUIRE: the box came (RUNNING), or dockerd went away (QUEUED again). */
static enum run_state
run_acquire_step(struct isol8_run *run)
{
	struct isol8_engine *e = run->e;
	struct timeval tv;
	uint64_t ms;

	if (run->acquire_err != NULL) {
		/* dockerd went away: nothing ran, wait for it to come back. */
		if (!engine_docker_hold(
		        e, run->acquire_err, run->unreachable_at, run->holds)) {
			run->err = run->acquire_err;
			run->acquire_err = NULL;
			return RUN_ACQUIRE; /* judged FAILED next */
		}
		err_free(&run->acquire_err);
		run->holds++;
		run->admitted = 0;
		e->active--;
		TAILQ_INSERT_HEAD(&e->queue, run, qentry);
		return RUN_QUEUED;
	}
	if (run->box == NULL)
		return RUN_ACQUIRE;
	engine_docker_seen(e);
	run->result.queued_ms = now_ms() - run->t_start;
	run->t_box = now_ms();
	if (run->plan.session != NULL)
		install_start(&run->inst, e, &run->plan, box_id(run->box),
		    run_step_cb, run);
	ms = run->plan.timeout_ms + ENGINE_HARD_GRACE_MS;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(run->deadline, &tv);
	return RUN_INSTALL;
}

/* What is left of the run's timeout since its box came (1 ms at least). */
static uint64_t
run_time_left(const struct isol8_run *run)
{
	uint64_t used = now_ms() - run->t_box;

	return used < run->plan.timeout_ms ? run->plan.timeout_ms - used : 1;
}

/* The code's frames, its RUN with the time the install left, stdin. */
static enum run_state
run_send_code(struct isol8_run *run)
{
	struct proto_buf rf = { 0 };

	/* From here on, a failure may come after the program ran. */
	run->result.may_have_run = 1;
	plan_run(
	    &run->plan, run_time_left(run), install_code_env(&run->inst), &rf);
	box_send(run->box, &run->plan.frames);
	box_send(run->box, &rf);
	box_send(run->box, &run->stdin_q);
	proto_buf_free(&rf);
	proto_buf_free(&run->stdin_q);
	return RUN_RUNNING;
}

/*
 * INSTALL: once the image's baked list is known, install what it lacks
 * (or nothing), then the code; a failed install is the run's error.
 */
static enum run_state
run_install_step(struct isol8_run *run)
{
	struct install *in = &run->inst;
	struct proto_buf rf = { 0 };
	int n;

	if (!in->inspected)
		return RUN_INSTALL;
	if (!in->sent) {
		if ((n = install_needed(in, &run->err)) <= 0)
			return n == 0 ? run_send_code(run) : RUN_INSTALL;
		if (install_send(in, run_time_left(run), run_egress_send,
		        run_egress_pending, run, &rf, &run->err) == -1)
			return RUN_INSTALL; /* judged FAILED next */
		box_send(run->box, &rf);
		proto_buf_free(&rf);
		return RUN_INSTALL;
	}
	if (!in->exited)
		return RUN_INSTALL;
	run->result.install_ms = in->ms;
	if ((run->err = install_verdict(in)) != NULL)
		return RUN_INSTALL;
	return run_send_code(run);
}

/* QUEUED with a slot: ask the pool (or the session) for a box. */
static enum run_state
run_admit(struct isol8_run *run)
{
	struct isol8_engine *e = run->e;

	TAILQ_REMOVE(&e->queue, run, qentry);
	e->active++;
	run->unreachable_at = docker_unreachable(e->docker);
	/* What the image has baked is asked while the box comes (a
	 * session's container is asked once it is there). */
	if (run->plan.session == NULL &&
	    (run->inst.e == NULL || run->inst.inspect_failed))
		install_start(
		    &run->inst, e, &run->plan, NULL, run_step_cb, run);
	if (run->plan.session != NULL)
		run->sopen = pool_session_open(e->pool, &run->plan.spec,
		    run->plan.session, run->plan.session_must_exist,
		    e->opts.session_idle_ms, run_acquired, run);
	else
		run->wait =
		    pool_acquire(e->pool, &run->plan.spec, run_acquired, run);
	return RUN_ACQUIRE;
}

/* The one place a run's state moves, and its end is decided. */
static void
run_step(struct isol8_run *run)
{
	enum run_state old;
	enum run_end why;

	do {
		if (run->state == RUN_DONE)
			return;
		if ((why = run_judge(run)) != END_NONE) {
			/* Out of time before the code: the install's error. */
			if (why == END_DEADLINE && run->state == RUN_INSTALL) {
				run->err = install_late(&run->inst);
				why = END_FAILED;
			} else if (why == END_DEADLINE)
				log_warnx(loop_log(run->e->loop),
				    "run %p: the sandbox did not answer %d ms after the timeout; removing it",
				    (void *)run, ENGINE_HARD_GRACE_MS);
			run_close(run, why);
			return;
		}
		old = run->state;
		switch (run->state) {
		case RUN_QUEUED:
			if (run->admitted)
				run->state = run_admit(run);
			break;
		case RUN_ACQUIRE:
			run->state = run_acquire_step(run);
			break;
		case RUN_INSTALL:
			run->state = run_install_step(run);
			break;
		case RUN_RUNNING:
		case RUN_DONE:
			break;
		}
		if (old != run->state)
			log_debug(loop_log(run->e->loop), "run %p: %s -> %s",
			    (void *)run, run_state_names[old],
			    run_state_names[run->state]);
		/* A new state steps at once; an error is judged on the next
		 * turn of this loop. */
	} while (old != run->state || run->err != NULL);
}

static void
run_acquired(struct box *b, const struct err *e, void *arg)
{
	static const struct box_cbs cbs = { run_frame, run_lost };
	struct isol8_run *run = arg;

	run->wait = NULL;
	run->sopen = NULL;
	if (e != NULL)
		run->acquire_err = err_dup(e);
	else {
		run->box = b;
		box_set_cbs(b, &cbs, run);
	}
	run_step(run);
}

/* Output from the agent, capped here too: the host trusts no count. */
static void
run_output(
    struct isol8_run *run, int stream, const unsigned char *p, uint32_t len)
{
	uint64_t seen = run->result.stdout_bytes + run->result.stderr_bytes;
	uint64_t cap = run->plan.max_output;
	uint64_t room = seen < cap ? cap - seen : 0;

	if (len > room) {
		len = (uint32_t)room;
		run->result.truncated = 1;
	}
	if (stream == 1)
		run->result.stdout_bytes += len;
	else
		run->result.stderr_bytes += len;
	mask_feed(run->mask, stream, (const char *)p, len, run_emit, run);
}

/* A chunk of an output file; bounded by max_output_file. -1: bad. */
static int
run_file(struct isol8_run *run, const unsigned char *p, uint32_t len)
{
	struct proto_file f;
	struct run_output *o = NULL;
	size_t i;

	if (proto_file_decode(p, len, &f) == -1 || f.path == NULL)
		return -1;
	for (i = 0; i < run->plan.noutputs; i++)
		if (strcmp(run->outs[i].path, f.path) == 0 &&
		    !run->outs[i].done) {
			o = &run->outs[i];
			break;
		}
	if (o == NULL)
		return -1;
	if (f.msg != NULL && o->error == NULL)
		o->error = xstrdup(f.msg);
	if (o->error == NULL && f.len > 0) {
		if (o->data.len + f.len > run->plan.max_output_file)
			o->error = xstrdup("over the output file limit");
		else
			buf_add(&o->data, f.data, f.len);
	}
	o->done = f.end;
	return 0;
}

/* The agent's ERROR frame, as a run error. */
static struct err *
run_agent_error(const unsigned char *p, uint32_t len)
{
	const char *msg = NULL;
	const unsigned char *val;
	size_t left = len;
	uint32_t vlen;
	int tag;

	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
		if (tag == PROTO_T_MSG)
			msg = proto_str_decode(val, vlen, 1);
	return err_new(
	    ERR_PROTO, "sandbox agent: %s", msg ? msg : "unknown error");
}

/* A frame from the run's agent: output now; the rest is recorded. */
static void
run_frame(int type, const unsigned char *p, uint32_t len, void *arg)
{
	struct isol8_run *run = arg;

	if (run->state == RUN_INSTALL && type != PROTO_ERROR) {
		install_frame(&run->inst, type, p, len);
		return;
	}
	switch (type) {
	case PROTO_OUT:
	case PROTO_ERR:
		run_output(run, type == PROTO_OUT ? 1 : 2, p, len);
		break;
	case PROTO_OK:
		if (run->acks > 0)
			run->acks--;
		break;
	case PROTO_FILE:
		if (run_file(run, p, len) == -1)
			run_fail(run,
			    err_new(ERR_PROTO,
			        "agent sent a malformed or unasked-for FILE frame"));
		break;
	case PROTO_EXIT:
		if (proto_exit_decode(p, len, &run->exit) == -1) {
			run_fail(run,
			    err_new(ERR_PROTO,
			        "agent sent a malformed EXIT frame"));
			break;
		}
		run->exited = 1;
		run_step(run);
		break;
	case PROTO_CONN_OPEN:
	case PROTO_CONN_DATA:
	case PROTO_CONN_CLOSE:
		if (run->egress != NULL)
			egress_frame(run->egress, type, p, len);
		break;
	case PROTO_ERROR:
		run_fail(run, run_agent_error(p, len));
		break;
	default:
		break;
	}
}

/* The box went away: its agent broke the protocol, or the sandbox is gone. */
static void
run_lost(const struct err *e, void *arg)
{
	struct isol8_run *run = arg;

	if (e->kind == ERR_PROTO)
		run_fail(run, err_new(ERR_PROTO, "sandbox agent: %s", e->msg));
	else
		run_fail(run,
		    err_new(ERR_LOST,
		        "lost the sandbox before the program finished: %s",
		        e->msg));
}
