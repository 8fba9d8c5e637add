/*
 * A Docker call waited for, for set-up, administration and the benchmark:
 * the reply (body or error) is kept, and docker_sync_wait() turns the loop
 * until it has arrived. Nothing on an execution path waits like this.
 */
#include "docker.h"

void
docker_sync_cb(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct docker_sync *c = arg;

	if (e != NULL)
		c->err = err_dup(e);
	else
		buf_add(&c->body, r->body, r->len);
	c->done = 1;
}

void
docker_sync_wait(struct docker *d, struct docker_sync *c)
{
	while (!c->done)
		event_base_loop(loop_base(docker_loop(d)), EVLOOP_ONCE);
}

/* Forget the reply, ready for the next call. */
void
docker_sync_reset(struct docker_sync *c)
{
	err_free(&c->err);
	buf_free(&c->body);
	c->done = 0;
}
