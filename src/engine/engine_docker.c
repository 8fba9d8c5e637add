/*
 * dockerd going away and coming back -- a restart, a crash, an upgrade --
 * without failing what has not started yet (opts.docker_wait_ms):
 *
 *	UP   --(an acquire fails: dockerd unreachable)--> DOWN
 *	DOWN --(a ping answers)--> UP: admission resumes
 *	DOWN --(docker_wait_ms without an answer)--> UP, gave up: the queued
 *	     runs fail, and later ones fail at once until dockerd answers
 *
 * While DOWN nothing is admitted. A run whose acquire failed because
 * dockerd was unreachable -- or failed in any way across an outage (its
 * container went with the old daemon) -- goes back to the head of the
 * queue: nothing of it ran and nothing was delivered, so the caller never
 * sees it (engine_docker_hold). A probe pings dockerd with back-off: 100 ms
 * doubling to 2 s, each ping at most 2 s.
 *
 * Not retried here: a run that lost its sandbox mid-run. Its output went
 * to the caller already, so the caller decides (ISOL8_ELOST, result
 * may_have_run; isol8 batch retries such a job once). Waiting needs
 * dockerd to have answered this engine once: an engine that never reached
 * it fails at once, as with docker_wait_ms 0.
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
	struct timeval tv;

	tv.tv_sec = (time_t)(e->probe_ms / 1000);
	tv.tv_usec = (suseconds_t)(e->probe_ms % 1000) * 1000;
	evtimer_add(e->probe_ev, &tv);
}

/* Waited long enough: the runs held now fail, and so do new ones. */
static void
docker_give_up(struct isol8_engine *e, const struct err *why)
{
	struct err *e2;
	unsigned n;

	/* Still down while they fail: none of them is admitted meanwhile. */
	e->docker_gave_up = 1;
	e2 = err_new(ERR_UNAVAILABLE, "dockerd has not answered for %.1f s: %s",
	    (double)(now_ms() - e->down_since) / 1000, why->msg);
	n = engine_fail_queued(e, e2);
	log_warnx(
	    loop_log(e->loop), "%s; %u waiting run(s) failed", e2->msg, n);
	err_free(&e2);
	e->docker_down = 0;
	engine_kick(e);
}

static void
probe_done(const struct docker_reply *rep, const struct err *err, void *arg)
{
	struct isol8_engine *e = arg;

	(void)rep;
	e->probe_req = NULL;
	if (err == NULL) {
		if (e->down_said)
			log_warnx(loop_log(e->loop),
			    "dockerd answers again after %llu ms: "
			    "resuming",
			    (unsigned long long)(now_ms() - e->down_since));
		e->docker_down = 0;
		e->docker_seen = 1;
		e->docker_gave_up = 0;
		engine_kick(e);
		return;
	}
	if (now_ms() - e->down_since >= e->opts.docker_wait_ms) {
		docker_give_up(e, err);
		return;
	}
	if (!e->down_said) {
		e->down_said = 1;
		log_warnx(loop_log(e->loop),
		    "dockerd is unreachable (%s): holding runs that have "
		    "not started for up to %.1f s",
		    err->msg, (double)e->opts.docker_wait_ms / 1000);
	}
	e->probe_ms =
	    e->probe_ms * 2 < PROBE_MAX_MS ? e->probe_ms * 2 : PROBE_MAX_MS;
	probe_arm(e);
}

static void
probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct isol8_engine *e = arg;

	(void)fd;
	(void)what;
	e->probe_req =
	    docker_probe(pool_docker(e->pool), PROBE_TIMEOUT_MS, probe_done, e);
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
	if (err->kind == ERR_UNAVAILABLE || e->docker_down ||
	    docker_unreachable(pool_docker(e->pool)) != unreachable_at)
		return 1;
	return holds == 0 &&
	    (err->kind == ERR_PROTO || err->kind == ERR_SYS ||
	        err->kind == ERR_TIMEOUT);
}

/*
 * A run's acquire failed with err; unreachable_at is what
 * docker_unreachable() said when the acquire began, holds how often the
 * run was held already. 1: hold the run (the caller puts it back in the
 * queue) while a probe finds out whether dockerd is there; 0: the failure
 * is the run's.
 */
int
engine_docker_hold(struct isol8_engine *e, const struct err *err,
    unsigned unreachable_at, int holds)
{
	if (e->opts.docker_wait_ms == 0 || !e->docker_seen ||
	    e->docker_gave_up || err->kind == ERR_CANCELLED ||
	    holds >= ENGINE_MAX_HOLDS)
		return 0;
	if (!docker_suspect(e, err, unreachable_at, holds))
		return 0;
	if (!e->docker_down) {
		e->docker_down = 1;
		e->down_since = now_ms();
		e->probe_ms = PROBE_FIRST_MS;
		/* A suspect failure is said only if dockerd is really away. */
		e->down_said = err->kind == ERR_UNAVAILABLE;
		if (e->down_said)
			log_warnx(loop_log(e->loop),
			    "dockerd is unreachable (%s): holding runs "
			    "that have not started for up to %.1f s",
			    err->msg, (double)e->opts.docker_wait_ms / 1000);
		else
			log_info(loop_log(e->loop),
			    "checking that dockerd answers (%s)", err->msg);
		if (e->probe_ev == NULL)
			e->probe_ev =
			    evtimer_new(loop_base(e->loop), probe_cb, e);
		if (e->probe_req == NULL)
			probe_arm(e);
	}
	return 1;
}

/* dockerd answered (a run got its sandbox): an outage may be waited out. */
void
engine_docker_seen(struct isol8_engine *e)
{
	e->docker_seen = 1;
	e->docker_gave_up = 0;
}

void
engine_docker_free(struct isol8_engine *e)
{
	if (e->probe_req != NULL)
		docker_cancel(e->probe_req);
	e->probe_req = NULL;
	if (e->probe_ev != NULL)
		event_free(e->probe_ev);
	e->probe_ev = NULL;
	e->docker_down = 0;
}
