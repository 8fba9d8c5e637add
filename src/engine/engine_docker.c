/*
 * dockerd going away and coming back -- a restart, a crash, an upgrade --
 * without failing what has not started yet (opts.docker_wait_ms):
 *
 *	UNSEEN --(a run got its box)--> UP
 *	UP     --(an acquire failed as a dockerd going away makes it)--> DOWN
 *	DOWN   --(a ping answers)--> UP: admission resumes
 *	DOWN   --(docker_wait_ms without an answer)--> GONE: held runs fail
 *	GONE   --(a run got its box)--> UP
 *
 * While DOWN nothing is admitted. A run whose acquire failed because
 * dockerd was unreachable -- or failed in any way across an outage (its
 * container went with the old daemon) -- goes back to the head of the
 * queue: nothing of it ran and nothing was delivered, so the caller never
 * sees it (engine_docker_hold). A probe pings dockerd with back-off: 100 ms
 * doubling to 2 s, each ping at most 2 s. In UNSEEN and GONE a failure is
 * the run's own, at once: waiting is for a daemon that went away, not for
 * one that is not there.
 *
 * Not retried here: a run that lost its sandbox mid-run. Its output went
 * to the caller already, so the caller decides (ISOL8_ELOST, result
 * may_have_run; isol8 batch retries such a job once).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define PROBE_FIRST_MS 100
#define PROBE_MAX_MS 2000
#define PROBE_TIMEOUT_MS 2000

static void probe_cb(evutil_socket_t, short, void *);

static void
probe_arm(struct isol8_engine *e)
{
	struct engine_docker *dw = &e->dw;
	struct timeval tv;

	if (dw->probe_ev == NULL)
		dw->probe_ev = evtimer_new(loop_base(e->loop), probe_cb, e);
	tv.tv_sec = (time_t)(dw->probe_ms / 1000);
	tv.tv_usec = (suseconds_t)(dw->probe_ms % 1000) * 1000;
	evtimer_add(dw->probe_ev, &tv);
}

/* Whether runs may be admitted: not while dockerd is away. */
int
engine_docker_admits(const struct isol8_engine *e)
{
	return e->dw.state != DOCKER_DOWN;
}

/* DOWN -> GONE: waited long enough; the runs held now fail. */
static void
docker_gone(struct isol8_engine *e, const struct err *why)
{
	struct engine_docker *dw = &e->dw;
	struct err *err;
	unsigned n;

	/* Still DOWN while they fail: none of them is admitted meanwhile. */
	err =
	    err_new(ERR_UNAVAILABLE, "dockerd has not answered for %.1f s: %s",
	        (double)(now_ms() - dw->down_since) / 1000, why->msg);
	n = engine_fail_queued(e, err);
	log_warnx(
	    loop_log(e->loop), "%s; %u waiting run(s) failed", err->msg, n);
	err_free(&err);
	dw->state = DOCKER_GONE;
	engine_kick(e);
}

static void
probe_done(const struct docker_reply *rep, const struct err *err, void *arg)
{
	struct isol8_engine *e = arg;
	struct engine_docker *dw = &e->dw;

	(void)rep;
	dw->probe_req = NULL;
	if (err == NULL) { /* DOWN -> UP */
		if (dw->said)
			log_warnx(loop_log(e->loop),
			    "dockerd answers again after %llu ms: resuming",
			    (unsigned long long)(now_ms() - dw->down_since));
		dw->state = DOCKER_UP;
		engine_kick(e);
		return;
	}
	if (now_ms() - dw->down_since >= e->opts.docker_wait_ms) {
		docker_gone(e, err);
		return;
	}
	if (!dw->said) {
		dw->said = 1;
		log_warnx(loop_log(e->loop),
		    "dockerd is unreachable (%s): holding runs that have not started for up to %.1f s",
		    err->msg, (double)e->opts.docker_wait_ms / 1000);
	}
	dw->probe_ms =
	    dw->probe_ms * 2 < PROBE_MAX_MS ? dw->probe_ms * 2 : PROBE_MAX_MS;
	probe_arm(e);
}

static void
probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct isol8_engine *e = arg;

	(void)fd, (void)what;
	e->dw.probe_req =
	    docker_probe(e->docker, PROBE_TIMEOUT_MS, probe_done, e);
}

/*
 * Whether a failed acquire may be dockerd's going away: unreachable, or
 * across an outage, or -- the first time for a run -- a failure that a
 * dying dockerd also causes (a stream that ends before the agent answered,
 * a transport error, a creation that timed out): a probe tells.
 */
static int
docker_suspect(struct isol8_engine *e, const struct err *err,
    unsigned unreachable_at, int holds)
{
	if (err->kind == ERR_UNAVAILABLE || e->dw.state == DOCKER_DOWN ||
	    docker_unreachable(e->docker) != unreachable_at)
		return 1;
	return holds == 0 &&
	    (err->kind == ERR_PROTO || err->kind == ERR_SYS ||
	        err->kind == ERR_TIMEOUT);
}

/*
 * A run's acquire failed with err; unreachable_at is what
 * docker_unreachable() said when the acquire began, holds how often the
 * run was held already. 1: hold the run (back in the queue) while a probe
 * finds out whether dockerd is there (UP -> DOWN); 0: the failure is the
 * run's.
 */
int
engine_docker_hold(struct isol8_engine *e, const struct err *err,
    unsigned unreachable_at, int holds)
{
	struct engine_docker *dw = &e->dw;

	if (e->opts.docker_wait_ms == 0 || dw->state == DOCKER_UNSEEN ||
	    dw->state == DOCKER_GONE || err->kind == ERR_CANCELLED ||
	    holds >= ENGINE_MAX_HOLDS ||
	    !docker_suspect(e, err, unreachable_at, holds))
		return 0;
	if (dw->state == DOCKER_UP) {
		dw->state = DOCKER_DOWN;
		dw->down_since = now_ms();
		dw->probe_ms = PROBE_FIRST_MS;
		/* A suspect failure is said only if dockerd is really away. */
		dw->said = err->kind == ERR_UNAVAILABLE;
		if (dw->said)
			log_warnx(loop_log(e->loop),
			    "dockerd is unreachable (%s): holding runs that have not started for up to %.1f s",
			    err->msg, (double)e->opts.docker_wait_ms / 1000);
		else
			log_info(loop_log(e->loop),
			    "checking that dockerd answers (%s)", err->msg);
		if (dw->probe_req == NULL)
			probe_arm(e);
	}
	return 1;
}

/* A run got its box: dockerd is there (an outage may be waited out). */
void
engine_docker_seen(struct isol8_engine *e)
{
	if (e->dw.state != DOCKER_DOWN)
		e->dw.state = DOCKER_UP;
}

void
engine_docker_free(struct isol8_engine *e)
{
	struct engine_docker *dw = &e->dw;

	docker_cancel(dw->probe_req);
	dw->probe_req = NULL;
	if (dw->probe_ev != NULL)
		event_free(dw->probe_ev);
	dw->probe_ev = NULL;
	dw->state = DOCKER_UP; /* admission again, for the runs' aborts */
}
