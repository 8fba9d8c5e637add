/*
 * The agent's judging of a session kernel's replies (src/agent/kernel.c),
 * against a fake kernel in bash that answers each request the way its
 * argv[1] says: the genuine order (S, D, then I to the idle check) passes;
 * a reply with another nonce, a second D, I out of turn, an exit code over
 * 255, a line too long, a NUL or garbage is tampering; replies written
 * between runs are dropped before the next request. No Docker, no root:
 * the sandbox helpers kernel.c uses are stubs here.
 */
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "agent/agent.h"

/* The fake kernel: the real protocol, the replies its request asks for. */
static const char fake[] =
    "f() { IFS= read -r -d '' -u 3 \"$1\" || exit 0; }\n"
    "while :; do\n"
    "  f kind; f n\n"
    "  if [[ $kind == P ]]; then printf 'I %s\\n' \"$n\" >&4; continue; fi\n"
    "  f stdin; f c; argv=()\n"
    "  for ((i = 0; i < c; i++)); do f v; argv+=(\"$v\"); done\n"
    "  f c; for ((i = 0; i < c; i++)); do f v; done\n"
    "  f c; for ((i = 0; i < c; i++)); do f v; done\n"
    "  case ${argv[1]} in\n"
    "  good) printf 'S %s\\nD %s 7\\n' $n $n ;;\n"
    "  other) printf 'S %s\\nD 1 0\\n' $n ;;\n"
    "  twice) printf 'S %s\\nD %s 0\\nD %s 0\\n' $n $n $n ;;\n"
    "  early) printf 'S %s\\nI %s\\n' $n $n ;;\n"
    "  code) printf 'S %s\\nD %s 256\\n' $n $n ;;\n"
    "  long) printf 'S %s%080d\\n' $n 0 ;;\n"
    "  nul) printf 'S %s\\0\\n' $n ;;\n"
    "  garbage) printf 'hello\\n' ;;\n"
    "  stale) printf 'S %s\\nD %s 0\\n' $n $n\n"
    "    (sleep 0.2; printf 'D 0 0\\n' >&4) & ;;\n"
    "  esac >&4\n"
    "done\n";

/* Stubs of sandbox.c: the fake kernel runs as the test's own user. */
void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void
as_sandbox(int on)
{
	(void)on;
}

void
sandbox_exec(const char *const *argv, const char *const *env, const char *cwd,
    const int *fds, int nfds)
{
	int i, high[SANDBOX_MAX_FDS];

	(void)env;
	(void)cwd;
	for (i = 0; i < nfds; i++)
		high[i] = fcntl(fds[i], F_DUPFD, 64);
	for (i = 0; i < nfds; i++)
		dup2(high[i], i);
	execvp(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

static struct proto_run req;
static char script[] = "/tmp/isol8-test-kernel.XXXXXX";

static struct kernel *
fake_kernel(void)
{
	char msg[128];
	int restarted;

	memset(&req, 0, sizeof req);
	req.kernel[0] = "bash";
	req.kernel[1] = script;
	req.kernelc = 2;
	req.argv[0] = "x";
	req.argc = 2;
	return kernel_get(&req, &restarted, msg, sizeof msg);
}

static void
fake_end(struct kernel *k)
{
	pid_t pid = kernel_pid(k);

	kernel_stop(k);
	waitpid(pid, NULL, 0);
	kernel_died(k, 0);
}

/*
 * Send a request in `mode` and read the replies until the kernel is idle,
 * tampering is seen, or 5 s. -1 at EOF.
 */
static int
ask(struct kernel *k, const char *mode, struct kernel_reply *rep)
{
	struct pollfd p;
	int i;

	memset(rep, 0, sizeof *rep);
	req.argv[1] = mode;
	kernel_discard(k);
	if (kernel_request(k, "/dev/null", &req) == -1)
		return -1;
	for (i = 0; i < 50 && !rep->idle && rep->tampered == NULL; i++) {
		p = (struct pollfd){ kernel_reply_fd(k), POLLIN, 0 };
		if (poll(&p, 1, 100) == 1 && kernel_read(k, rep) == -1)
			return -1;
	}
	return 0;
}

static int
test_genuine_order(void)
{
	struct kernel_reply rep;
	struct kernel *k;

	CHECK((k = fake_kernel()) != NULL);
	CHECK(ask(k, "good", &rep) == 0);
	CHECK(rep.started && rep.done && rep.code == 7 && rep.idle);
	CHECK(rep.tampered == NULL);
	/* The same kernel serves the next run with a new nonce. */
	CHECK(ask(k, "good", &rep) == 0);
	CHECK(rep.done && rep.idle && rep.tampered == NULL);
	fake_end(k);
	return 0;
}

static int
test_forgeries(void)
{
	static const char *modes[] = { "other", "twice", "early", "code",
		"long", "nul", "garbage" };
	struct kernel_reply rep;
	struct kernel *k;
	size_t i;

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		CHECK((k = fake_kernel()) != NULL);
		CHECK(ask(k, modes[i], &rep) == 0);
		if (rep.tampered == NULL || rep.idle)
			fprintf(stderr, "%s: not judged tampering\n", modes[i]);
		CHECK(rep.tampered != NULL && !rep.idle);
		fake_end(k);
	}
	return 0;
}

static int
test_between_runs_dropped(void)
{
	struct kernel_reply rep;
	struct kernel *k;

	CHECK((k = fake_kernel()) != NULL);
	CHECK(ask(k, "stale", &rep) == 0);
	CHECK(rep.done && rep.idle && rep.tampered == NULL);
	usleep(500 * 1000); /* its "D 0 0" is waiting now */
	CHECK(ask(k, "good", &rep) == 0);
	CHECK(rep.done && rep.code == 7 && rep.idle && rep.tampered == NULL);
	fake_end(k);
	return 0;
}

int
main(void)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if (access("/bin/bash", X_OK) != 0)
		return 77;
	if ((fd = mkstemp(script)) == -1 ||
	    write(fd, fake, sizeof fake - 1) != (ssize_t)(sizeof fake - 1)) {
		perror("the fake kernel");
		return 1;
	}
	close(fd);
	RUN_TEST(test_genuine_order);
	RUN_TEST(test_forgeries);
	RUN_TEST(test_between_runs_dropped);
	unlink(script);
	return TAP_DONE();
}
