/*
 * The public C API (isol8.h) against the real dockerd: runs in flight at
 * once keep their output apart; cancel ends a run promptly and its
 * container goes; stdin streams; an engine embeds in the caller's
 * event_base; freeing an engine with runs in flight cancels them and
 * leaves no container behind.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tap.h"
#include "isol8.h"
#include "docker/docker.h"
#include "support.h"

struct job {
	struct buf out;
	struct buf err;
	struct isol8_result res;
	struct isol8_error error;
	char container[80];
	int failed;
	int done;
};

static void
j_out(const char *d, size_t n, void *arg)
{
	buf_add(&((struct job *)arg)->out, d, n);
}

static void
j_err(const char *d, size_t n, void *arg)
{
	buf_add(&((struct job *)arg)->err, d, n);
}

static void
j_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct job *j = arg;

	j->res = *r;
	if (r->container_id != NULL)
		snprintf(
		    j->container, sizeof j->container, "%s", r->container_id);
	if (e != NULL) {
		j->error = *e;
		j->failed = 1;
	}
	j->done = 1;
}

static const struct isol8_callbacks cbs = { j_out, j_err, j_done };

static void
job_free(struct job *j)
{
	buf_free(&j->out);
	buf_free(&j->err);
}

struct probe {
	int done;
	int exists;
};

static void
probe_cb(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct probe *p = arg;

	(void)r;
	p->exists = e == NULL ? 1 : e->kind == ERR_NOTFOUND ? 0 : -1;
	p->done = 1;
}

/* Whether dockerd still has a container (asked with our own client). */
static int
container_exists(const char *id)
{
	struct loop *l = loop_new(NULL, NULL, NULL);
	struct docker *d = docker_new(l, NULL, NULL);
	struct probe p = { 0, -1 };

	docker_container_inspect(d, id, probe_cb, &p);
	while (!p.done)
		event_base_loop(loop_base(l), EVLOOP_ONCE);
	docker_free(d);
	event_base_loop(loop_base(l), EVLOOP_NONBLOCK);
	loop_free(l);
	return p.exists;
}

/* Wait (boundedly) for AutoRemove or a background removal. */
static int
container_gone(const char *id)
{
	int i;

	for (i = 0; i < 50; i++) {
		if (container_exists(id) == 0)
			return 1;
		usleep(100000);
	}
	return 0;
}

static struct event_base *base;

/* Turn the caller's loop for ms, as an embedding program's would. */
static void
turn(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Turn the caller's loop (the engine is embedded in it) until all done. */
static void
wait_jobs(struct job *jobs, int n)
{
	int i, done;

	for (;;) {
		for (done = 0, i = 0; i < n; i++)
			done += jobs[i].done;
		if (done == n)
			return;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static int
test_concurrent_runs_keep_output_apart(void)
{
	static const char *rts[] = { "python", "node", "bash", "bun", "deno",
		"python", "bash", "node" };
	static const char *const py =
	    "import sys\n"
	    "for i in range(50): print('py%d-' + str(i))\n"
	    "print('E', file=sys.stderr)";
	static const char *const js =
	    "for (let i = 0; i < 50; i++) console.log('js%d-' + i); console.error('E')";
	static const char *const sh =
	    "for i in $(seq 0 49); do echo sh%d-$i; done; echo E >&2";
	const char *codes[] = { py, js, sh, js, js, py, sh, js };
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct job jobs[8];
	char code[8][256], want[64];
	int i, k;

	memset(jobs, 0, sizeof jobs);
	CHECK((e = isol8_engine_new(base, NULL, &err)) != NULL);
	for (i = 0; i < 8; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(code[i], sizeof code[i], codes[i], i);
#pragma GCC diagnostic pop
		isol8_request_init(&req);
		req.runtime = rts[i];
		req.code = code[i];
		CHECK(isol8_run_start(e, &req, &cbs, &jobs[i], &err) != NULL);
	}
	CHECK(jobs[0].done == 0); /* never called back from inside start */
	wait_jobs(jobs, 8);
	for (i = 0; i < 8; i++) {
		if (jobs[i].failed)
			fprintf(
			    stderr, "job %d: %s\n", i, jobs[i].error.message);
		CHECK(!jobs[i].failed && jobs[i].res.exit_code == 0);
		CHECK(strcmp(buf_cstr(&jobs[i].err), "E\n") == 0);
		for (k = 0; k < 50; k += 7) {
			snprintf(want, sizeof want, "%d-%d\n", i, k);
			CHECK(strstr(buf_cstr(&jobs[i].out), want) != NULL);
		}
		CHECK(jobs[i].res.stdout_bytes == jobs[i].out.len);
		CHECK(jobs[i].res.total_ms >= jobs[i].res.run_ms);
		job_free(&jobs[i]);
	}
	isol8_engine_free(e);
	return 0;
}

static int
test_cancel_removes_the_container(void)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct isol8_run *run;
	struct job j;
	uint64_t t0;

	memset(&j, 0, sizeof j);
	CHECK((e = isol8_engine_new(base, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "import time\nprint('started', flush=True)\ntime.sleep(30)";
	CHECK((run = isol8_run_start(e, &req, &cbs, &j, &err)) != NULL);
	/* Cancelled once it is surely running (however loaded the host):
	 * its whole line is out (print writes the newline apart). */
	t0 = now_ms();
	while (strchr(buf_cstr(&j.out), '\n') == NULL && !j.done &&
	    now_ms() - t0 < 60000)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(!j.done);
	isol8_run_cancel(run);
	CHECK(!j.done); /* on_done comes from the loop, not from cancel */
	t0 = now_ms();
	wait_jobs(&j, 1);
	CHECK(j.failed && j.error.code == ISOL8_ECANCELLED);
	CHECK(now_ms() - t0 < 5000);
	if (strcmp(buf_cstr(&j.out), "started\n") != 0)
		fprintf(stderr, "out=[%s] err=[%s]\n", buf_cstr(&j.out),
		    buf_cstr(&j.err));
	CHECK(strcmp(buf_cstr(&j.out), "started\n") == 0);
	CHECK(j.container[0] != '\0');
	isol8_engine_free(e);
	turn(2000); /* the removal finishes on our loop */
	CHECK(container_gone(j.container));
	job_free(&j);
	return 0;
}

static int
test_stdin_stream(void)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct isol8_run *run;
	struct job j;
	char chunk[4096];
	int i;

	memset(&j, 0, sizeof j);
	memset(chunk, 'z', sizeof chunk);
	CHECK((e = isol8_engine_new(base, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "bash";
	req.code = "wc -c";
	req.stdin_stream = 1;
	CHECK((run = isol8_run_start(e, &req, &cbs, &j, &err)) != NULL);
	for (i = 0; i < 256; i++)
		CHECK(isol8_run_write_stdin(run, chunk, sizeof chunk) == 0);
	isol8_run_close_stdin(run);
	CHECK(isol8_run_write_stdin(run, "x", 1) == -1);
	wait_jobs(&j, 1);
	CHECK(!j.failed && atoi(buf_cstr(&j.out)) == 256 * 4096);
	isol8_engine_free(e);
	job_free(&j);
	return 0;
}

/* Freeing an engine mid-run cancels the run and removes its container. */
static int
test_free_with_runs_in_flight(void)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct job j[3];
	uint64_t t0;
	int i;

	memset(j, 0, sizeof j);
	CHECK((e = isol8_engine_new(base, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "bash";
	req.code = "echo up; sleep 30";
	for (i = 0; i < 3; i++)
		CHECK(isol8_run_start(e, &req, &cbs, &j[i], &err) != NULL);
	/* Let the first one start running. */
	while (j[0].out.len == 0)
		event_base_loop(base, EVLOOP_ONCE);
	t0 = now_ms();
	isol8_engine_free(e);
	CHECK(now_ms() - t0 < 1000); /* it never dispatches our base... */
	for (i = 0; i < 3; i++)
		CHECK(j[i].done && j[i].failed);
	turn(2000); /* ...the removals finish as our loop turns */
	for (i = 0; i < 3; i++) {
		CHECK(j[i].done && j[i].failed);
		CHECK(j[i].error.code == ISOL8_ECANCELLED);
		if (j[i].container[0] != '\0')
			CHECK(container_gone(j[i].container));
		job_free(&j[i]);
	}
	return 0;
}

static int
test_run_sync_on_own_loop(void)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct isol8_output out;

	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "print('sync')";
	CHECK(isol8_run_sync(e, &req, &out, &err) == 0);
	CHECK(strcmp(out.stdout_data, "sync\n") == 0);
	CHECK(out.result.exit_code == 0 && out.result.run_ms > 0);
	isol8_output_free(&out);
	req.image = "isol8/no-such-image:none";
	CHECK(isol8_run_sync(e, &req, &out, &err) == -1);
	CHECK(err.code == ISOL8_ENOIMAGE);
	isol8_output_free(&out);
	isol8_engine_free(e);
	return 0;
}

/*
 * run_sync's output is the caller's, whole: binary stdout with NUL bytes
 * keeps its length and bytes, and the output files and network events,
 * which on_done only lends, are still there after it returned.
 */
static int
test_run_sync_binary_and_lent_results(void)
{
	static const char want[] = "a\0b\0\0c\xff\n";
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct isol8_output out;
	const char *outs[] = { "/sandbox/r.bin", "/sandbox/missing" };
	const char *deny[] = { "^blocked\\.example$" };

	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "import sys,os\n"
	           "sys.stdout.buffer.write(b'a\\0b\\0\\0c\\xff\\n')\n"
	           "open('/sandbox/r.bin','wb').write(b'x\\0y')\n"
	           "import urllib.request\n"
	           "try: urllib.request.urlopen('http://blocked.example/')\n"
	           "except Exception: pass\n";
	req.outputs = outs;
	req.outputs_len = 2;
	req.network = "filtered";
	req.net_deny = deny;
	req.net_deny_len = 1;
	CHECK(isol8_run_sync(e, &req, &out, &err) == 0);
	CHECK(out.stdout_len == sizeof want - 1);
	CHECK(memcmp(out.stdout_data, want, sizeof want - 1) == 0);
	CHECK(out.stdout_data[out.stdout_len] == '\0');
	CHECK(out.result.container_id != NULL);
	CHECK(out.result.outputs_len == 2);
	CHECK(strcmp(out.result.outputs[0].path, "/sandbox/r.bin") == 0);
	CHECK(out.result.outputs[0].len == 3);
	CHECK(memcmp(out.result.outputs[0].data, "x\0y", 3) == 0);
	CHECK(out.result.outputs[1].error != NULL);
	CHECK(out.result.net_events_len >= 1);
	CHECK(strcmp(out.result.net_events[0].host, "blocked.example") == 0);
	CHECK(!out.result.net_events[0].allowed);
	isol8_output_free(&out);
	isol8_engine_free(e);
	return 0;
}

/*
 * SIGPIPE at its default (main() leaves it so for every test, and it
 * kills the process): megabytes of stdin queued
 * for a program that exits at once or leaves it unread until its timeout,
 * so the container's end closes the attached socket under our writes. The
 * library writes with MSG_NOSIGNAL: the runs end, the process lives.
 */
static int
test_sigpipe_at_default(void)
{
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_request req;
	struct isol8_run *run;
	struct job j;
	static char chunk[1 << 16];
	int i, k;

	CHECK((e = isol8_engine_new(base, NULL, &err)) != NULL);
	for (k = 0; k < 16; k++) {
		memset(&j, 0, sizeof j);
		isol8_request_init(&req);
		req.runtime = "bash";
		/* Gone at once, or after a backlog built up unread. */
		req.code = k % 2 ? "exit 0" : "sleep 5";
		req.timeout_ms = 300;
		req.stdin_stream = 1;
		CHECK((run = isol8_run_start(e, &req, &cbs, &j, &err)) != NULL);
		for (i = 0; i < 512; i++)
			isol8_run_write_stdin(run, chunk, sizeof chunk);
		wait_jobs(&j, 1);
		CHECK(!j.failed || j.error.code == ISOL8_EAGENT);
		job_free(&j);
	}
	isol8_engine_free(e);
	turn(500);
	return 0;
}

int
main(void)
{
	int rc;

	if (!docker_available())
		return 77;
	/* As an embedding program may leave it: every test runs so. */
	signal(SIGPIPE, SIG_DFL);
	base = event_base_new();
	RUN_TEST(test_concurrent_runs_keep_output_apart);
	RUN_TEST(test_cancel_removes_the_container);
	RUN_TEST(test_stdin_stream);
	RUN_TEST(test_free_with_runs_in_flight);
	RUN_TEST(test_run_sync_on_own_loop);
	RUN_TEST(test_run_sync_binary_and_lent_results);
	RUN_TEST(test_sigpipe_at_default);
	rc = TAP_DONE();
	event_base_free(base);
	return rc;
}
