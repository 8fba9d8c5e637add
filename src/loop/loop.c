/*
 * The event loop: an event_base that is either the caller's (an embedding
 * libevent program) or our own, the engine's logger, and zero-delay
 * deferred calls, which is how every async _start() reports completion
 * without re-entering its caller.
 *
 * Invariants: a deferred call runs exactly once -- on a later loop turn, or
 * from loop_free() when the loop goes first -- and never inside the
 * loop_defer() that queued it; calls queued while the queue runs wait for
 * the next turn, so a chain of deferrals cannot starve the loop. loop_free()
 * never dispatches the base: on a borrowed base that would run the caller's
 * unrelated callbacks inside ours.
 */
#include <stdlib.h>

#include "loop.h"

struct loop_call {
	loop_defer_cb cb;
	void *arg;
	TAILQ_ENTRY(loop_call) entry;
};
TAILQ_HEAD(loop_calls, loop_call);

struct loop {
	struct event_base *base;
	int own;
	struct log log;
	struct event *wake; /* active while calls are queued */
	struct loop_calls calls;
};

static void loop_wake_cb(evutil_socket_t, short, void *);

struct loop *
loop_new(struct event_base *base, const struct log *log, struct err **errp)
{
	struct loop *l = xcalloc(1, sizeof *l);

	TAILQ_INIT(&l->calls);
	if (log != NULL)
		l->log = *log;
	else
		log_init(&l->log, LOG_LEVEL_WARN);
	if (base == NULL) {
		if ((base = event_base_new()) == NULL) {
			free(l);
			err_set(errp, ERR_SYS, "cannot make an event loop");
			return NULL;
		}
		l->own = 1;
	}
	l->base = base;
	if ((l->wake = event_new(base, -1, 0, loop_wake_cb, l)) == NULL) {
		loop_free(l);
		err_set(errp, ERR_SYS, "cannot make an event");
		return NULL;
	}
	return l;
}

/* Run what is queued now; what these queue runs on the next turn. */
static void
loop_run_calls(struct loop *l)
{
	struct loop_calls now = TAILQ_HEAD_INITIALIZER(now);
	struct loop_call *c;

	TAILQ_CONCAT(&now, &l->calls, entry);
	while ((c = TAILQ_FIRST(&now)) != NULL) {
		TAILQ_REMOVE(&now, c, entry);
		c->cb(c->arg);
		free(c);
	}
}

static void
loop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd, (void)what;
	loop_run_calls(l);
	if (!TAILQ_EMPTY(&l->calls))
		event_active(l->wake, EV_TIMEOUT, 0);
}

/*
 * Free the loop. Deferred calls still queued (frees, mostly) run now, until
 * none is left; the base is freed only if it is ours.
 */
void
loop_free(struct loop *l)
{
	int rounds;

	if (l == NULL)
		return;
	for (rounds = 0; !TAILQ_EMPTY(&l->calls) && rounds < 1000; rounds++)
		loop_run_calls(l);
	if (l->wake != NULL)
		event_free(l->wake);
	if (l->own)
		event_base_free(l->base);
	free(l);
}

struct event_base *
loop_base(struct loop *l)
{
	return l->base;
}

/* Whether the base is the loop's own (blocking waits may turn it). */
int
loop_owned(const struct loop *l)
{
	return l->own;
}

const struct log *
loop_log(const struct loop *l)
{
	return &l->log;
}

/* Call cb(arg) from the loop on a later turn. */
void
loop_defer(struct loop *l, loop_defer_cb cb, void *arg)
{
	struct loop_call *c = xmalloc(sizeof *c);

	c->cb = cb;
	c->arg = arg;
	if (TAILQ_EMPTY(&l->calls))
		event_active(l->wake, EV_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&l->calls, c, entry);
}
