/*
 * The agent's run (src/agent/run.c) without Docker: this test is the
 * agent's poll loop, and drives real programs and the real bash session
 * kernel (src/agent/kernels/kernel.sh) through RUN, STDIN, SIGNAL and the
 * host going away, then reads the frames the run queued. Outside PID 1 a
 * kill reaches the run's process group only, so what it proves here is
 * the state machine: what ends a run, with which status and flags, and
 * that nothing else does.
 */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "agent/agent.h"

#define KERNEL_SH ISOL8_SOURCE_DIR "/src/agent/kernels/kernel.sh"

/* What agent.c is to run.c: the queue to the host and the end's callback. */
static struct proto_buf out;
static int ended, sigfd, ncode;
static char dir[] = "/tmp/isol8-test-run.XXXXXX";

void
agent_error(struct proto_buf *q, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t at;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	at = proto_frame_begin(q, PROTO_ERROR);
	proto_tlv_str(q, PROTO_T_MSG, msg);
	proto_frame_end(q, at);
}

static void
over(int oneshot)
{
	(void)oneshot;
	ended++;
}

/* What the frames queued so far said. */
struct seen {
	char out[8192], err[8192], error[512];
	size_t nout, nerr;
	int exits;
	struct proto_exit exit;
};

static void
take(struct seen *s)
{
	const unsigned char *p, *val;
	uint32_t len, vlen;
	size_t off = 0, left;
	int type, tag;

	memset(s, 0, sizeof *s);
	while (out.len - off >= PROTO_HDR_LEN &&
	    proto_header(out.data + off, &type, &len) == 0) {
		p = out.data + off + PROTO_HDR_LEN;
		if (type == PROTO_OUT && s->nout + len < sizeof s->out) {
			memcpy(s->out + s->nout, p, len);
			s->nout += len;
		} else if (type == PROTO_ERR && s->nerr + len < sizeof s->err) {
			memcpy(s->err + s->nerr, p, len);
			s->nerr += len;
		} else if (type == PROTO_EXIT &&
		    proto_exit_decode(p, len, &s->exit) == 0)
			s->exits++;
		else if (type == PROTO_ERROR)
			for (left = len;
			     proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1;)
				if (tag == PROTO_T_MSG &&
				    vlen < sizeof s->error)
					memcpy(s->error, val, vlen);
		off += PROTO_HDR_LEN + len;
	}
	proto_buf_free(&out);
}

/*
 * The agent's loop for up to `ms`: until the run ends, or (with `want`)
 * until its output holds `want`.
 */
static void
drive(uint64_t ms, const char *want)
{
	struct pollfd pfd[1 + RUN_POLLFDS];
	struct signalfd_siginfo si;
	uint64_t end = now_ms() + ms;
	struct deadline d;

	while (!ended && now_ms() < end) {
		if (want != NULL && out.len > 0 &&
		    memmem(out.data, out.len, want, strlen(want)) != NULL)
			return;
		pfd[0] = (struct pollfd){ sigfd, POLLIN, 0 };
		run_poll(pfd + 1, 0);
		d = deadline_min(run_deadline(), deadline_at(end));
		poll(pfd, 1 + RUN_POLLFDS, deadline_poll_ms(d, now_ms()));
		if (pfd[0].revents) {
			while (read(sigfd, &si, sizeof si) == sizeof si)
				;
			run_reap();
		}
		run_events(pfd + 1);
		run_step();
	}
}

/* A RUN frame: `cmd` in sh, or with `kernel` that code in the bash kernel. */
static void
start(const char *cmd, int kernel, uint64_t timeout, uint64_t cap, int in)
{
	struct proto_buf b = { 0 };
	char path[128];
	FILE *f;

	if (kernel) {
		snprintf(path, sizeof path, "%s/code%d.sh", dir, ncode++);
		if ((f = fopen(path, "w")) != NULL) {
			fputs(cmd, f);
			fclose(f);
		}
		chmod(path, 0644);
		proto_tlv_str(&b, PROTO_T_KERNEL, "bash");
		proto_tlv_str(&b, PROTO_T_KERNEL, "--norc");
		proto_tlv_str(&b, PROTO_T_KERNEL, KERNEL_SH);
		proto_tlv_str(&b, PROTO_T_ARGV, "bash");
		proto_tlv_str(&b, PROTO_T_ARGV, path);
	} else {
		proto_tlv_str(&b, PROTO_T_ARGV, "sh");
		proto_tlv_str(&b, PROTO_T_ARGV, "-c");
		proto_tlv_str(&b, PROTO_T_ARGV, cmd);
	}
	proto_tlv_str(&b, PROTO_T_ENV, "PATH=/usr/local/bin:/usr/bin:/bin");
	proto_tlv_str(&b, PROTO_T_CWD, "/");
	proto_tlv_u64(&b, PROTO_T_TIMEOUT_MS, timeout);
	proto_tlv_u64(&b, PROTO_T_OUTPUT_CAP, cap);
	proto_tlv_u64(&b, PROTO_T_STDIN, (uint64_t)in);
	ended = 0;
	run_request(b.data, (uint32_t)b.len);
	proto_buf_free(&b);
}

static void
send_signal(int signo, uint64_t grace)
{
	struct proto_buf b = { 0 };

	proto_tlv_u64(&b, PROTO_T_SIGNO, (uint64_t)signo);
	if (grace > 0)
		proto_tlv_u64(&b, PROTO_T_GRACE_MS, grace);
	run_signal(b.data, (uint32_t)b.len);
	proto_buf_free(&b);
}

/*
 * Whether `pid` is gone or a zombie within 2 s: a SIGKILL lands a moment
 * after kill() returns (what is tested is that it was sent: the process
 * would otherwise live 30 s).
 */
static int
dead(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (i = 0; i < 100; i++, usleep(20 * 1000)) {
		if ((fd = open(path, O_RDONLY)) == -1)
			return 1;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
		    p[2] == 'Z')
			return 1;
	}
	return 0;
}

static int
test_exit_status(void)
{
	struct seen s;

	CHECK(!run_active() && !run_deadline().set);
	start("echo hi; echo err >&2; exit 3", 0, 0, 0, 0);
	CHECK(run_active());
	CHECK(!run_deadline().set); /* no timeout asked: none */
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && !run_active() && s.exits == 1);
	CHECK(s.nout == 3 && memcmp(s.out, "hi\n", 3) == 0);
	CHECK(s.nerr == 4 && memcmp(s.err, "err\n", 4) == 0);
	CHECK(s.exit.exit_code == 3 && s.exit.signal == 0 && s.exit.flags == 0);
	start("kill -TERM $$", 0, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(s.exit.exit_code == 128 + SIGTERM && s.exit.signal == SIGTERM);
	return 0;
}

static int
test_timeout(void)
{
	struct seen s;
	uint64_t t0 = now_ms();

	start("sleep 30", 0, 300, 0, 0);
	/* The deadline is the timeout's, an explicit value. */
	CHECK(run_deadline().set && run_deadline().at >= t0 + 300 &&
	    run_deadline().at <= now_ms() + 300);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && s.exits == 1);
	CHECK(s.exit.flags == PROTO_F_TIMEDOUT);
	CHECK(s.exit.exit_code == 128 + SIGKILL && s.exit.signal == SIGKILL);
	return 0;
}

static int
test_output_cap(void)
{
	struct seen s;

	start("yes", 0, 0, 1000, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && s.nout == 1000);
	CHECK(s.exit.flags == PROTO_F_TRUNCATED);
	CHECK(s.exit.signal == SIGKILL);
	/* Exactly the cap is not over it. */
	start("printf 12345", 0, 0, 5, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(s.nout == 5 && s.exit.flags == 0 && s.exit.exit_code == 0);
	return 0;
}

static int
test_leftovers_killed(void)
{
	struct seen s;
	pid_t pid;

	/* The background sleep holds stdout: EOF comes when it is killed. */
	start("sleep 30 & echo $!", 0, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && s.exit.exit_code == 0 && s.nout > 0);
	pid = (pid_t)atoi(s.out);
	CHECK(pid > 0 && dead(pid));
	return 0;
}

static int
test_stdin(void)
{
	struct seen s;

	start("cat; echo done", 0, 0, 0, 1);
	run_stdin((const unsigned char *)"abc\n", 4);
	run_stdin_eof();
	drive(10000, NULL);
	take(&s);
	CHECK(
	    ended == 1 && s.nout == 9 && memcmp(s.out, "abc\ndone\n", 9) == 0);
	return 0;
}

static int
test_signals(void)
{
	struct seen s;

	/* Ignored when idle. */
	send_signal(SIGTERM, 0);
	take(&s);
	CHECK(!run_active() && s.exits == 0 && s.error[0] == '\0');
	start("echo up; exec sleep 30", 0, 0, 0, 0);
	drive(10000, "up");
	send_signal(SIGTERM, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && s.exit.signal == SIGTERM && s.exit.flags == 0);
	/* An interrupt it survives: killed when the grace is up. */
	start("trap 'echo got' INT; echo up; while :; do sleep 0.05; done", 0,
	    0, 0, 0);
	drive(10000, "up");
	send_signal(SIGINT, 300);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && strstr(s.out, "got") != NULL);
	CHECK(s.exit.signal == SIGKILL && s.exit.flags == 0);
	start("echo up; exec sleep 30", 0, 0, 0, 0);
	drive(10000, "up");
	send_signal(SIGKILL, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && s.exit.signal == SIGKILL && s.exit.flags == 0);
	return 0;
}

static int
test_one_at_a_time(void)
{
	struct seen s;

	start("sleep 0.2; echo first", 0, 0, 0, 0);
	start("echo second", 0, 0, 0, 0);
	take(&s);
	CHECK(strstr(s.error, "already in progress") != NULL);
	drive(10000, NULL);
	take(&s);
	CHECK(s.exits == 1 && strcmp(s.out, "first\n") == 0);
	return 0;
}

static int
test_host_gone(void)
{
	struct seen s;
	pid_t pid;

	start("echo $$; exec sleep 30", 0, 0, 0, 0);
	drive(10000, "\n");
	take(&s);
	pid = (pid_t)atoi(s.out);
	run_abandon();
	take(&s);
	/* The run is over at once: killed, no EXIT, no end to tell. */
	CHECK(!run_active() && s.exits == 0 && ended == 0);
	CHECK(pid > 0 && dead(pid));
	return 0;
}

static int
test_kernel_runs(void)
{
	struct seen s;

	start("x=41", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);

	CHECK(ended == 1 && s.exit.exit_code == 0 && s.exit.flags == 0);
	start("echo $((x + 1)); false", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	/* The code's status is the kernel's D; the kernel lives on. */
	CHECK(s.nout == 3 && memcmp(s.out, "42\n", 3) == 0);
	CHECK(s.exit.exit_code == 1 && s.exit.signal == 0 && s.exit.flags == 0);
	return 0;
}

static int
test_kernel_ended(void)
{
	struct seen s;

	/* A reply the code wrote: the kernel is ended, the run says why. */
	start("y=1; echo 'D 0 0' >&4; sleep 5", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(ended == 1 && strstr(s.err, "interpreter was ended") != NULL);
	CHECK(s.exit.flags == PROTO_F_STATE_LOST);
	start("echo y=$y", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(strcmp(s.out, "y=\n") == 0 && s.exit.flags == PROTO_F_FRESH);
	/* Its own exit: that status, the state lost. */
	start("exit 3", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(s.exit.exit_code == 3 && s.exit.flags == PROTO_F_STATE_LOST);
	/* The timeout kills the kernel too. */
	start("sleep 30", 1, 300, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(s.exit.flags ==
	    (PROTO_F_TIMEDOUT | PROTO_F_STATE_LOST | PROTO_F_FRESH));
	start("true", 1, 0, 0, 0);
	drive(10000, NULL);
	take(&s);
	CHECK(s.exit.exit_code == 0 && s.exit.flags == PROTO_F_FRESH);
	return 0;
}

int
main(void)
{
	char path[128];
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	if (access("/bin/sh", X_OK) != 0 || access("/bin/bash", X_OK) != 0)
		return 77;
	/* As PID 1 would: orphans are ours to reap. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    mkdtemp(dir) == NULL || chmod(dir, 0755) == -1) {
		perror("test_run");
		return 1;
	}
	relay_init();
	run_init(&out, over);
	RUN_TEST(test_exit_status);
	RUN_TEST(test_timeout);
	RUN_TEST(test_output_cap);
	RUN_TEST(test_leftovers_killed);
	RUN_TEST(test_stdin);
	RUN_TEST(test_signals);
	RUN_TEST(test_one_at_a_time);
	RUN_TEST(test_kernel_runs);
	RUN_TEST(test_kernel_ended);
	RUN_TEST(test_host_gone); /* last: the agent exits after it */
	while (ncode-- > 0) {
		snprintf(path, sizeof path, "%s/code%d.sh", dir, ncode);
		unlink(path);
	}
	rmdir(dir);
	return TAP_DONE();
}
