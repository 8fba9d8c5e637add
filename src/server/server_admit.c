/*
 * Admission: how many runs the server has in flight, and who waits.
 *
 * A request that wants a run asks for a slot (admit_want). Slots are
 * granted in the order asked, to the first waiting request whose key is
 * under its concurrency ceiling, while fewer than max_runs are in flight
 * (by default the engine's max_concurrent: the engine never queues behind
 * us, so its queued_ms stays a measure of containers, not of clients). At
 * most max_queue requests wait; one more is answered 429 at once. A batch
 * asks again for each job (those asks do not count against max_queue: it
 * was admitted as a request once).
 *
 * Invariants: s->inflight is the sum of the keys' inflight; a request is
 * in s->waiting exactly while r->queued; grants happen from the loop
 * (the kick event), never inside the call that asked.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "server.h"

/* Ask for a slot; -1 when the queue is full (then the caller says 429). */
int
admit_want(struct server_req *r, int again)
{
	struct server *s = r->s;

	if (r->queued)
		return 0;
	if (!again && s->nwaiting >= s->o.max_queue) {
		s->m.rejected_queue_full++;
		return -1;
	}
	TAILQ_INSERT_TAIL(&s->waiting, r, qentry);
	r->queued = 1;
	s->nwaiting++;
	event_active(s->kick, EV_TIMEOUT, 0);
	return 0;
}

/* Out of the queue without a slot (its client went, the server stops). */
void
admit_leave(struct server_req *r)
{
	if (!r->queued)
		return;
	TAILQ_REMOVE(&r->s->waiting, r, qentry);
	r->queued = 0;
	r->s->nwaiting--;
}

/* A slot comes back: the next waiting request may have it. */
void
admit_release(struct server_req *r)
{
	struct server *s = r->s;

	s->inflight--;
	r->key->inflight--;
	event_active(s->kick, EV_TIMEOUT, 0);
}

static int
admit_fits(const struct server *s, const struct server_req *r)
{
	unsigned kmax = r->key->c.concurrency;

	return s->inflight < s->max_runs &&
	    (kmax == 0 || r->key->inflight < kmax);
}

/* Grant slots in order while there is room. */
void
admit_kick(struct server *s)
{
	struct server_req *r;

	for (;;) {
		if (s->inflight >= s->max_runs)
			return;
		TAILQ_FOREACH (r, &s->waiting, qentry)
			if (admit_fits(s, r))
				break;
		if (r == NULL)
			return;
		admit_leave(r);
		s->inflight++;
		r->key->inflight++;
		r->granted++;
		req_step(r);
	}
}

/*
 * Every waiting request ends without a run (the server stops): each is
 * answered with the status (its kind says how: an error body, or an SSE
 * exit event).
 */
void
admit_fail_waiting(struct server *s, int status, const char *msg)
{
	struct server_req *r;

	while ((r = TAILQ_FIRST(&s->waiting)) != NULL) {
		admit_leave(r);
		if (r->fail_msg == NULL) {
			r->fail_status = status;
			r->fail_code = ISOL8_ECANCELLED;
			r->fail_msg = xstrdup(msg);
		}
		r->finished = 1;
		req_step(r);
	}
}
