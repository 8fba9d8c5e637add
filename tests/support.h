/*
 * What several tests share: whether a Docker engine is there to test
 * against (docker-labelled tests skip with 77 otherwise), and, for pool
 * tests, a collector for acquire results.
 */
#ifndef ISOL8_TEST_SUPPORT_H
#define ISOL8_TEST_SUPPORT_H

#include <stdlib.h>
#include <unistd.h>

static inline int
docker_available(void)
{
	return access("/var/run/docker.sock", F_OK) == 0 ||
	    getenv("DOCKER_HOST") != NULL;
}

#ifdef ISOL8_POOL_H
struct got {
	int done;
	struct box *box;
	struct err *err;
};

static inline void
got_cb(struct box *b, const struct err *e, void *arg)
{
	struct got *g = arg;

	g->done = 1;
	g->box = b;
	if (e != NULL)
		g->err = err_dup(e);
}
#endif

#endif
