/*
 * The event loop: an event_base that is either the caller's (an embedding
 * libevent program) or our own, plus zero-delay deferred calls, which is how
 * every async _start() reports completion without re-entering its caller.
 */
#include <stdlib.h>

#include "loop.h"

struct loop {
	struct event_base *base;
	int own;
};

struct loop_deferred {
	loop_defer_cb cb;
	void *arg;
};

struct loop *
loop_new(struct event_base *base)
{
	struct loop *l = xcalloc(1, sizeof *l);

	if (base == NULL) {
		if ((base = event_base_new()) == NULL)
			fatalx("event_base_new failed");
		l->own = 1;
	}
	l->base = base;
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->own)
		event_base_free(l->base);
	free(l);
}

struct event_base *
loop_base(struct loop *l)
{
	return l->base;
}

static void
loop_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop_deferred *d = arg;

	(void)fd;
	(void)what;
	d->cb(d->arg);
	free(d);
}

/* Call cb(arg) from the loop on its next turn. */
void
loop_defer(struct loop *l, loop_defer_cb cb, void *arg)
{
	struct loop_deferred *d = xmalloc(sizeof *d);
	struct timeval zero = { 0, 0 };

	d->cb = cb;
	d->arg = arg;
	if (event_base_once(
	        l->base, -1, EV_TIMEOUT, loop_deferred_cb, d, &zero) == -1)
		fatalx("event_base_once failed");
}
