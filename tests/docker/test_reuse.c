/*
 * Scrubbed reuse (engine pool_reuse): run 2 gets the very container run 1
 * used and finds nothing of it -- files in /sandbox, /tmp, /dev/shm (even
 * in a chmod 000 directory), SysV IPC objects, processes (a setsid daemon),
 * environment. And reuse never crosses pool keys.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tap.h"
#include "isol8.h"
#include "util/util.h"
#include "support.h"

static struct event_base *base;

struct job {
	struct buf out;
	char container[80];
	int exit_code;
	int failed;
	int done;
	char msg[512];
};

static void
j_out(const char *d, size_t n, void *arg)
{
	buf_add(&((struct job *)arg)->out, d, n);
}

static void
j_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct job *j = arg;

	j->done = 1;
	j->exit_code = r->exit_code;
	if (r->container_id != NULL)
		snprintf(
		    j->container, sizeof j->container, "%s", r->container_id);
	if (e != NULL) {
		j->failed = 1;
		snprintf(j->msg, sizeof j->msg, "%s", e->message);
	}
}

static const struct isol8_callbacks cbs = { j_out, j_out, j_done };

static int
run(struct isol8_engine *e, const char *code, int64_t memory, struct job *j)
{
	struct isol8_request req;
	struct isol8_error err;

	memset(j, 0, sizeof *j);
	isol8_request_init(&req);
	req.runtime = "bash";
	req.code = code;
	req.memory = (uint64_t)memory;
	if (isol8_run_start(e, &req, &cbs, j, &err) == NULL)
		return -1;
	while (!j->done)
		event_base_loop(base, EVLOOP_ONCE);
	/* Let the scrub finish before the next run. */
	while (isol8_engine_busy(e))
		event_base_loop(base, EVLOOP_ONCE);
	if (j->failed)
		fprintf(stderr, "run failed: %s\n", j->msg);
	return j->failed ? -1 : 0;
}

static int
test_reuse_leaks_nothing(void)
{
	static const char plant[] =
	    "cd /sandbox && echo s > secret && mkdir -p d/e && echo s > d/e/f\n"
	    "chmod 000 d; ln -s /etc etclink; echo s > /tmp/secret\n"
	    "echo s > /dev/shm/secret; ipcmk -M 4096 >/dev/null; ipcmk -Q "
	    ">/dev/null\n"
	    "export LEAK=1; setsid sleep 300 >/dev/null 2>&1 &\n"
	    "echo planted\n";
	static const char check[] =
	    "echo files:$(ls -A /sandbox /dev/shm | grep -v : | tr -d '\\n')\n"
	    "echo tmp:$(ls -A /tmp | grep -v '^.isol8$' | tr -d '\\n')\n"
	    "echo ipc:$(ipcs -m -q | grep -c '^0x')\n"
	    "echo procs:$(ps -e --no-headers | grep -vc "
	    "'ps\\|bash\\|isol8-agent\\|grep')\n"
	    "echo env:${LEAK:-none}\n"
	    "ls /etc/passwd >/dev/null && echo etc:intact\n";
	struct isol8_engine_opts o;
	struct isol8_engine *e;
	struct isol8_error err;
	struct job a, b, c;
	char first[80];

	isol8_engine_opts_init(&o);
	o.pool_size = 1;
	o.pool_reuse = 1;
	o.max_concurrent = 1;
	o.verbose = getenv("ISOL8_VERBOSE") ? 2 : 0;
	CHECK((e = isol8_engine_new(base, &o, &err)) != NULL);
	CHECK(run(e, plant, 128 << 20, &a) == 0 && a.exit_code == 0);
	CHECK(strstr(buf_cstr(&a.out), "planted") != NULL);
	snprintf(first, sizeof first, "%s", a.container);
	CHECK(run(e, check, 128 << 20, &b) == 0);
	if (strcmp(b.container, first) != 0)
		fprintf(stderr, "not reused: %s vs %s\n", b.container, first);
	CHECK(strcmp(b.container, first) == 0);
	fprintf(stderr, "%s", buf_cstr(&b.out));
	CHECK(strstr(buf_cstr(&b.out), "files:\n") != NULL);
	CHECK(strstr(buf_cstr(&b.out), "tmp:\n") != NULL);
	CHECK(strstr(buf_cstr(&b.out), "ipc:0\n") != NULL);
	CHECK(strstr(buf_cstr(&b.out), "procs:0\n") != NULL);
	CHECK(strstr(buf_cstr(&b.out), "env:none\n") != NULL);
	CHECK(strstr(buf_cstr(&b.out), "etc:intact\n") != NULL);
	/* Another key (memory) never gets that container. */
	CHECK(run(e, "echo other", 96 << 20, &c) == 0);
	CHECK(strcmp(c.container, first) != 0);
	buf_free(&a.out);
	buf_free(&b.out);
	buf_free(&c.out);
	isol8_engine_free(e);
	return 0;
}

int
main(void)
{
	int rc;

	if (!docker_available())
		return 77;
	base = event_base_new();
	RUN_TEST(test_reuse_leaks_nothing);
	rc = TAP_DONE();
	event_base_free(base);
	return rc;
}
