/*
 * The server a remote measure of `isol8 bench` runs against: this isol8
 * binary's `isol8 serve` on a loopback port of its choosing (127.0.0.1:0,
 * the port read back from its first line), with a key made for the
 * occasion, stopped with SIGTERM (its drain) at the end of the measure.
 *
 * Like the rest of bench this waits (it polls the server's log on the
 * bench's loop, waits for it to exit): a benchmark, not part of any
 * execution path.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

#define SERVE_START_MS 10000 /* its `listening on` line, at most */

/* The server's URL from its log, once it printed it; 0 when found. */
static int
serve_url(const char *log, char *url, size_t len)
{
	char line[256];
	const char *p;
	FILE *f;
	int found = 0;

	if ((f = fopen(log, "r")) == NULL)
		return -1;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		if ((p = strstr(line, "listening on http://")) == NULL)
			continue;
		p += strlen("listening on ");
		snprintf(url, len, "%.*s", (int)strcspn(p, " \n"), p);
		found = 1;
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * `isol8 serve` started, listening: 0 with s->url and s->key set, or -1
 * having said why.
 */
int
bench_serve_start(struct loop *loop, const char *self, struct bench_serve *s)
{
	const char *argv[] = { self, "serve", "--listen", "127.0.0.1:0", NULL };
	union {
		const char *const *c;
		char *const *m;
	} u = { argv };
	posix_spawn_file_actions_t fa;
	uint64_t until = now_ms() + SERVE_START_MS;
	char env_key[96], **envp;
	size_t n = 0, i;
	int fd, rc;

	memset(s, 0, sizeof *s);
	random_hex(s->key, 32);
	snprintf(env_key, sizeof env_key, "ISOL8_API_KEY=%s", s->key);
	/* This environment, with the key for the occasion in place of any
	 * ISOL8_API_KEY it has. */
	for (i = 0; environ[i] != NULL; i++)
		;
	envp = xcalloc(i + 2, sizeof *envp);
	for (i = 0; environ[i] != NULL; i++)
		if (strncmp(environ[i], "ISOL8_API_KEY=", 14) != 0)
			envp[n++] = environ[i];
	envp[n++] = env_key;
	snprintf(s->log, sizeof s->log, "/tmp/isol8-bench-serve.XXXXXX");
	if ((fd = mkstemp(s->log)) == -1) {
		cli_error("bench: a log for the server: %s", strerror(errno));
		free(envp);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	rc = posix_spawn(&s->pid, argv[0], &fa, NULL, u.m, envp);
	if (rc != 0)
		s->pid = 0;
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(fd);
	while (s->pid > 0 && serve_url(s->log, s->url, sizeof s->url) == -1 &&
	    now_ms() < until) {
		if (waitpid(s->pid, NULL, WNOHANG) != 0)
			s->pid = 0; /* it exited: its log says why */
		else
			bench_pause(loop, 20);
	}
	if (s->url[0] != '\0')
		return 0;
	cli_error("bench: `isol8 serve` did not start (its log: %s)", s->log);
	bench_serve_stop(s);
	return -1;
}

/* The server drained and gone, its log removed when it started well. */
void
bench_serve_stop(struct bench_serve *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	if (s->url[0] != '\0')
		unlink(s->log);
	s->pid = 0;
}
