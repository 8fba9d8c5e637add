/*
 * Scrubbed reuse (engine pool_reuse): run 2 gets the very container run 1
 * used and finds nothing of it -- files in /sandbox, /tmp, /dev/shm (even
 * in a chmod 000 directory, FIFOs, sockets, both tmpfs filled up), SysV IPC
 * objects (also one given away to root), POSIX message queues, processes
 * (a setsid daemon, a stopped one, one that ignores signals, a zombie),
 * environment; the scrubbed directories get their mode, owner, extended
 * attributes (a default ACL) and times back. And reuse never crosses pool
 * keys. docs/security.md lists what the scrub restores.
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
run(struct isol8_engine *e, const char *code, int64_t memory,
    uint64_t sandbox_size, struct job *j)
{
	struct isol8_request req;
	struct isol8_error err;

	memset(j, 0, sizeof *j);
	isol8_request_init(&req);
	req.runtime = "bash";
	req.code = code;
	req.memory = (uint64_t)memory;
	req.sandbox_size = sandbox_size;
	req.tmp_size = sandbox_size;
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

static struct isol8_engine *
reuse_engine(void)
{
	struct isol8_engine_opts o;
	struct isol8_error err;

	isol8_engine_opts_init(&o);
	o.pool_size = 1;
	o.pool_reuse = 1;
	o.max_concurrent = 1;
	o.verbose = getenv("ISOL8_VERBOSE") ? 2 : 0;
	return isol8_engine_new(base, &o, &err);
}

/*
 * Run `plant`, then `check` in the very same (scrubbed) container; the
 * check's output is in b->out. -1 when either failed or it was not reused.
 */
static int
plant_then_check(struct isol8_engine *e, const char *plant, const char *check,
    uint64_t sandbox_size, struct job *b)
{
	struct job a;
	int rc = 0;

	if (run(e, plant, 128 << 20, sandbox_size, &a) == -1 ||
	    strstr(buf_cstr(&a.out), "planted") == NULL) {
		fprintf(stderr, "plant: %s\n", buf_cstr(&a.out));
		rc = -1;
	} else if (run(e, check, 128 << 20, sandbox_size, b) == -1)
		rc = -1;
	else if (strcmp(b->container, a.container) != 0) {
		fprintf(stderr, "not reused: %s vs %s\n", b->container,
		    a.container);
		rc = -1;
	} else
		fprintf(stderr, "%s", buf_cstr(&b->out));
	buf_free(&a.out);
	return rc;
}

static int
has(struct job *j, const char *line)
{
	return strstr(buf_cstr(&j->out), line) != NULL;
}

static int
test_reuse_leaks_nothing(void)
{
	static const char plant[] =
	    "cd /sandbox && echo s > secret && mkdir -p d/e && echo s > d/e/f\n"
	    "chmod 000 d; ln -s /etc etclink; echo s > /tmp/secret\n"
	    "echo s > /dev/shm/secret; ipcmk -M 4096 >/dev/null; ipcmk -Q >/dev/null\n"
	    "mkdir -m 1777 /tmp/sticky && mkfifo /tmp/sticky/fifo\n"
	    "mkdir /dev/shm/locked && chmod 000 /dev/shm/locked\n"
	    "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/tmp/sock\")'\n"
	    /* A queue made 0600 and given away to root: its creator stays. */
	    "python3 - <<'EOF'\n"
	    "import ctypes, os\n"
	    "c = ctypes.CDLL(None, use_errno=True)\n"
	    "q = c.msgget(4321, 0o1000 | 0o600)\n"
	    "ds = ctypes.create_string_buffer(256)\n"
	    "assert c.msgctl(q, 2, ds) == 0\n"           /* IPC_STAT */
	    "ds[4:8] = bytes(4); ds[20:22] = bytes(2)\n" /* uid 0, 0000 */
	    "assert c.msgctl(q, 1, ds) == 0, os.strerror(ctypes.get_errno())\n"
	    "EOF\n"
	    /* Processes: a daemon, a stopped one, one that ignores TERM and
	     * HUP, and a zombie whose parent never waits. */
	    "export LEAK=1; setsid sleep 300 >/dev/null 2>&1 &\n"
	    "setsid sleep 301 >/dev/null 2>&1 & kill -STOP $!\n"
	    "setsid sh -c 'trap \"\" TERM HUP INT; sleep 302' >/dev/null 2>&1 &\n"
	    "setsid python3 -c 'import os, time\n"
	    "os.fork() or os._exit(0)\ntime.sleep(303)' >/dev/null 2>&1 &\n"
	    /* Both tmpfs full. */
	    "cat /dev/zero > /sandbox/fill 2>/dev/null; cat /dev/zero > /tmp/fill 2>/dev/null\n"
	    /* Abstract sockets, one only reachable inside its own queue. */
	    "python3 - <<'EOF'\n"
	    "import array, socket\n"
	    "a, b = socket.socketpair()\n"
	    "l = socket.socket(socket.AF_UNIX); l.bind('\\0isol8leak1'); l.listen()\n"
	    "fds = array.array('i', [l.fileno(), a.fileno(), b.fileno()])\n"
	    "a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])\n"
	    "EOF\n"
	    "setsid python3 -c 'import socket, time; s = socket.socket(socket.AF_UNIX); s.bind(\"\\0isol8leak2\"); s.listen(); time.sleep(300)' &\n"
	    "sleep 0.5; echo planted\n";
	static const char check[] =
	    "echo files:$(ls -A /sandbox /dev/shm | grep -v : | tr -d '\\n')\n"
	    "echo tmp:$(ls -A /tmp | grep -v '^.isol8$' | tr -d '\\n')\n"
	    "echo ipc:$(ipcs -m -q -s | grep -c '^0x')\n"
	    "p=$(ps -e --no-headers -o stat,args)\n"
	    "echo procs:$(echo \"$p\" | grep -v -e isol8-agent -e main.sh -e 'ps -e' | tr -d '\\n')\n"
	    "echo env:${LEAK:-none}\n"
	    "echo unix:$(grep -c isol8leak /proc/net/unix)\n"
	    "ls /etc/passwd >/dev/null && echo etc:intact\n"
	    "head -c 4000000 /dev/zero > /sandbox/f && head -c 4000000 /dev/zero > /tmp/f && echo space:ok\n"
	    /* add_key(2) is refused by Docker's seccomp profile: no key can
	     * outlive a job in the uid's keyring. */
	    "python3 -c 'import ctypes, os; c = ctypes.CDLL(None, use_errno=True); r = c.syscall(248, b\"user\", b\"k\", b\"v\", 1, -4); print(\"keyring:\" + (\"blocked\" if r == -1 else \"open\"))'\n";
	struct isol8_engine *e;
	struct job b, c;

	CHECK((e = reuse_engine()) != NULL);
	CHECK(plant_then_check(e, plant, check, 8 << 20, &b) == 0);
	CHECK(has(&b, "files:\n"));
	CHECK(has(&b, "tmp:\n"));
	CHECK(has(&b, "ipc:0\n"));
	CHECK(has(&b, "procs:\n"));
	CHECK(has(&b, "env:none\n"));
	CHECK(has(&b, "unix:0\n"));
	CHECK(has(&b, "etc:intact\n"));
	CHECK(has(&b, "space:ok\n"));
	CHECK(has(&b, "keyring:blocked\n"));
	/* Another key (memory) never gets that container. */
	CHECK(run(e, "echo other", 96 << 20, 8 << 20, &c) == 0);
	CHECK(strcmp(c.container, b.container) != 0);
	buf_free(&b.out);
	buf_free(&c.out);
	isol8_engine_free(e);
	return 0;
}

/*
 * What a job can change about the scrubbed directories themselves: the
 * mode (`chmod 555 /sandbox` made the next job's /sandbox read-only),
 * extended attributes, a default ACL (it decides the mode of every file
 * the next job creates) and the timestamps.
 */
static int
test_reuse_restores_directories(void)
{
	static const char plant[] =
	    "python3 - <<'EOF'\n"
	    "import os\n"
	    "os.setxattr('/sandbox', 'user.leak', b'secret')\n"
	    /* user::rwx group::rwx other::rwx */
	    "os.setxattr('/sandbox', 'system.posix_acl_default', bytes.fromhex('02000000' '0100070000000000' '0400070000000000' '2000070000000000'))\n"
	    "EOF\n"
	    "touch -d 2001-02-03 /sandbox && chmod 555 /sandbox && echo planted\n";
	static const char check[] =
	    "echo year:$(stat -c %y /sandbox | cut -c1-4)\n"
	    "echo xattr:$(python3 -c 'import os; print(*os.listxattr(\"/sandbox\"))')\n"
	    "echo modes:$(stat -c %a:%u:%g /sandbox /tmp /dev/shm /dev/mqueue)\n"
	    "touch /sandbox/new && echo new:$(stat -c %a /sandbox/new)\n";
	struct isol8_engine *e;
	struct job b;

	CHECK((e = reuse_engine()) != NULL);
	CHECK(plant_then_check(e, plant, check, 8 << 20, &b) == 0);
	CHECK(!has(&b, "year:2001"));
	CHECK(has(&b, "xattr:\n"));
	CHECK(has(&b, "modes:755:1000:1000 1777:0:0 1777:0:0 1777:0:0\n"));
	CHECK(has(&b, "new:644\n"));
	buf_free(&b.out);
	isol8_engine_free(e);
	return 0;
}

/* POSIX message queues live in the container's IPC namespace. */
static int
test_reuse_mqueue(void)
{
	static const char plant[] =
	    "python3 - <<'EOF'\n"
	    "import ctypes, os\n"
	    "c = ctypes.CDLL(None, use_errno=True)\n"
	    "q = c.mq_open(b'/leak', os.O_CREAT | os.O_WRONLY, 0o600, None)\n"
	    "assert q >= 0 and c.mq_send(q, b'secret', 6, 0) == 0\n"
	    "print('planted')\n"
	    "EOF\n";
	static const char check[] =
	    "echo mq:$(ls -A /dev/mqueue)\n"
	    "python3 - <<'EOF'\n"
	    "import ctypes, os\n"
	    "c = ctypes.CDLL(None, use_errno=True)\n"
	    "q = c.mq_open(b'/leak', os.O_RDONLY)\n"
	    "print('open:' + ('none' if q == -1 else 'leaked'))\n"
	    "EOF\n";
	struct isol8_engine *e;
	struct job b;

	CHECK((e = reuse_engine()) != NULL);
	CHECK(plant_then_check(e, plant, check, 8 << 20, &b) == 0);
	CHECK(has(&b, "mq:\n"));
	CHECK(has(&b, "open:none\n"));
	buf_free(&b.out);
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
	RUN_TEST(test_reuse_restores_directories);
	RUN_TEST(test_reuse_mqueue);
	rc = TAP_DONE();
	event_base_free(base);
	return rc;
}
