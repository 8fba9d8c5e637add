/*
 * The Docker side of `isol8 bench`, through the project's Docker client on
 * the benchmark's own loop, as a program measuring Docker would do it: the
 * warm containers isol8 leaves in dockerd (cleared before a cold sample,
 * counted before a CLI sample) and the baselines on a running container of
 * the same image -- an exec through the API, the `docker` CLI.
 *
 * Warm containers are found by what isol8 documents about them, not by
 * the engine's pool key: the label org.isol8.kind=warm, the name
 * isol8-warm-*, and the runtime's image (docs/architecture.md). So every
 * warm container of the image counts, whatever its limits: the benchmark
 * assumes the machine is its own.
 *
 * Measuring is sequential and blocks (docker_sync_wait, waitpid): this is
 * a benchmark, not part of any execution path.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"
#include "../images/images.h"

extern char **environ;

/* The runtime's image, as isol8 names it (isol8/<runtime>:latest). */
char *
bench_image(const char *runtime)
{
	return runtime_image(runtime);
}

/* Let ms pass on the benchmark's own loop. */
void
bench_pause(struct loop *loop, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(loop_base(loop), &tv);
	event_base_dispatch(loop_base(loop));
}

/*
 * The warm containers of a runtime's image (all states, or only the
 * running ones), as a parsed JSON list; NULL on any failure.
 */
static yajl_val
warm_list(struct docker *d, const char *runtime, int running)
{
	struct docker_sync c = { 0 };
	yajl_gen g = json_gen_new();
	struct buf filter = { 0 };
	char *image = bench_image(runtime);
	yajl_val v;

	yajl_gen_map_open(g);
	json_key(g, "label");
	yajl_gen_array_open(g);
	json_str_add(g, LABEL_KIND "=warm");
	yajl_gen_array_close(g);
	json_key(g, "name");
	yajl_gen_array_open(g);
	json_str_add(g, "^/isol8-warm-");
	yajl_gen_array_close(g);
	json_key(g, "ancestor");
	yajl_gen_array_open(g);
	json_str_add(g, image);
	yajl_gen_array_close(g);
	if (running) {
		json_key(g, "status");
		yajl_gen_array_open(g);
		json_str_add(g, "running");
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	json_gen_take(g, &filter);
	docker_container_list(
	    d, buf_cstr(&filter), !running, docker_sync_cb, &c);
	docker_sync_wait(d, &c);
	v = c.err || c.body.len == 0
	    ? NULL
	    : json_parse(c.body.data, c.body.len, NULL);
	docker_sync_reset(&c);
	buf_free(&filter);
	free(image);
	return v;
}

/* Remove the unclaimed warm containers of a runtime's image. */
void
bench_warm_clear(struct docker *d, const char *runtime)
{
	struct docker_sync r = { 0 };
	yajl_val v = warm_list(d, runtime, 0);
	const char *id;
	size_t i;

	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
		if ((id = json_str(v->u.array.values[i], "Id", NULL)) == NULL)
			continue;
		docker_sync_reset(&r);
		docker_container_remove(d, id, 1, docker_sync_cb, &r);
		docker_sync_wait(d, &r);
	}
	yajl_tree_free(v);
	docker_sync_reset(&r);
}

/* The running warm containers of a runtime's image. */
int
bench_warm_count(struct docker *d, const char *runtime)
{
	yajl_val v = warm_list(d, runtime, 1);
	int n = YAJL_IS_ARRAY(v) ? (int)v->u.array.len : 0;

	yajl_tree_free(v);
	return n;
}

/* A running container of the runtime's image, for the exec baselines. */
char *
bench_baseline_start(struct docker *d, const char *runtime)
{
	static const char *cmd[] = { "sleep", "infinity", NULL };
	static const char *labels[] = { LABEL_MANAGED, "true", LABEL_KIND,
		"bench", NULL };
	struct docker_create c = { 0 };
	struct docker_sync cr = { 0 }, st = { 0 };
	char *image = bench_image(runtime), *id = NULL;
	const char *s;
	yajl_val v;

	c.image = image;
	c.cmd = cmd;
	c.labels = labels;
	c.network_mode = "none";
	c.auto_remove = 1;
	docker_container_create(d, &c, docker_sync_cb, &cr);
	docker_sync_wait(d, &cr);
	if (cr.err == NULL &&
	    (v = json_parse(cr.body.data, cr.body.len, NULL)) != NULL) {
		if ((s = json_str(v, "Id", NULL)) != NULL)
			id = xstrdup(s);
		yajl_tree_free(v);
	}
	if (id != NULL) {
		docker_container_start(d, id, docker_sync_cb, &st);
		docker_sync_wait(d, &st);
	}
	free(image);
	docker_sync_reset(&cr);
	docker_sync_reset(&st);
	return id;
}

void
bench_baseline_remove(struct docker *d, const char *id)
{
	struct docker_sync c = { 0 };

	docker_container_remove(d, id, 1, docker_sync_cb, &c);
	docker_sync_wait(d, &c);
	docker_sync_reset(&c);
}

static void
discard_output(int stream, const char *data, size_t len, void *arg)
{
	(void)stream;
	(void)data;
	(void)len;
	(void)arg;
}

/* The "Id" of a reply's JSON body, or NULL. */
static char *
reply_id(const struct docker_sync *s)
{
	const char *id;
	char *out = NULL;
	yajl_val v;

	if (s->err != NULL ||
	    (v = json_parse(s->body.data, s->body.len, NULL)) == NULL)
		return NULL;
	if ((id = json_str(v, "Id", NULL)) != NULL)
		out = xstrdup(id);
	yajl_tree_free(v);
	return out;
}

/*
 * exec create + start (read to EOF) + inspect, through the API: the wall
 * time in ms, or -1 when it failed or the program did not exit 0.
 */
double
bench_api_exec(struct docker *d, const char *id, const struct bench_prog *p)
{
	struct docker_sync c = { 0 }, s = { 0 }, i = { 0 };
	const char *argv[4] = { p->argv[0], p->argv[1], p->argv[2], NULL };
	uint64_t t0 = now_us();
	long long code = -1;
	double ms;
	char *eid;
	yajl_val v;

	docker_exec_create(d, id, argv, "1000", docker_sync_cb, &c);
	docker_sync_wait(d, &c);
	if ((eid = reply_id(&c)) != NULL) {
		docker_exec_start(d, eid, discard_output, docker_sync_cb, &s);
		docker_sync_wait(d, &s);
		docker_exec_inspect(d, eid, docker_sync_cb, &i);
		docker_sync_wait(d, &i);
		if (i.err == NULL &&
		    (v = json_parse(i.body.data, i.body.len, NULL)) != NULL) {
			json_int(v, &code, "ExitCode", NULL);
			yajl_tree_free(v);
		}
	}
	ms = code == 0 ? (double)(now_us() - t0) / 1000.0 : -1;
	free(eid);
	docker_sync_reset(&c);
	docker_sync_reset(&s);
	docker_sync_reset(&i);
	return ms;
}

/* Run a command, output discarded; its wall time (ms) or -1. */
double
bench_spawn(const char *const *cargv)
{
	union {
		const char *const *c;
		char *const *m;
	} u = { cargv };
	char *const *argv = u.m; /* posix_spawn's type; never written */
	posix_spawn_file_actions_t fa;
	uint64_t t0;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	t0 = now_us();
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (double)(now_us() - t0) / 1000.0;
}
