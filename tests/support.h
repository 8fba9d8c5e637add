/*
 * What several tests share: whether a Docker engine is there to test
 * against (docker-labelled tests skip with 77 otherwise), the package
 * index of the package tests, and, for pool tests, a collector for
 * acquire results.
 */
#ifndef ISOL8_TEST_SUPPORT_H
#define ISOL8_TEST_SUPPORT_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int
docker_available(void)
{
	return access("/var/run/docker.sock", F_OK) == 0 ||
	    getenv("DOCKER_HOST") != NULL;
}

#ifdef ISOL8_TESTS_DIR
/*
 * tests/docker/pkg_index.py, a PEP 503 index and an npm registry on the
 * host's loopback: its port (or -1), *pid and *fd set. It serves until
 * *fd (its stdin) is closed.
 */
static inline int
pkg_index_start(pid_t *pid, int *fd)
{
	int in[2], out[2];
	char line[32];
	size_t len;
	ssize_t n;

	if (pipe(in) == -1 || pipe(out) == -1)
		return -1;
	if ((*pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("python3", "python3",
		    ISOL8_TESTS_DIR "/docker/pkg_index.py", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*fd = in[1];
	/* The whole line; the pipe stays open (a write after the port,
	 * its newline, would find no reader: EPIPE kills the server). */
	for (len = 0; len < sizeof line - 1 && memchr(line, '\n', len) == NULL;
	     len += (size_t)n)
		if ((n = read(out[0], line + len, sizeof line - 1 - len)) <= 0)
			return -1;
	line[len] = '\0';
	return atoi(line);
}
#endif

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
