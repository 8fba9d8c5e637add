/*
 * isol8-agent: PID 1 of every sandbox container (docs/agent-protocol.md).
 *
 * The host talks to it over the container's attached stdin/stdout in frames
 * (proto.h); stderr is only for the agent's own diagnostics. The agent runs
 * each program as the unprivileged sandbox user, in its own session, with
 * fresh pipes for stdin/stdout/stderr, and reports exit status, times, peak
 * memory and what stopped it. One poll() loop, no threads.
 *
 * This file is PID 1's side of the host link: the claim (HELLO), the frames
 * and their dispatch, the scrub between jobs, expiry and the poll loop. A
 * run, from RUN to EXIT, is run.c's; file transfers are files.c's; the
 * filtered network's connections relay.c's.
 *
 * Invariants:
 * - the agent keeps exactly CAP_SETUID, CAP_SETGID (to become the sandbox
 *   user in the child, and setfsuid for file transfers) and CAP_KILL (to
 *   kill every sandbox process with one kill(-1)); user code has none, a
 *   different uid, and cannot signal, ptrace or write to PID 1;
 * - user code never holds the container's stdout: its output reaches the
 *   host only inside OUT/ERR frames written here, so it cannot forge frames;
 * - when a run ends (exit, timeout, output cap) every process of the
 *   sandbox user is killed before EXIT is sent: nothing outlives its run
 *   but a session's kernels (kernel.c), the interpreters that keep its
 *   variables, which a timeout or the output cap kills too;
 * - a kernel run ends only when its kernel answers the idle check after
 *   its end-of-code reply; any reply that is not the one due (kernel.c
 *   judges them: user code can write them too) ends the kernel, so no run
 *   decides another run's result, output window or timeout;
 * - a reused container is scrubbed (scrub.c) and verified between jobs;
 * - every length from the host is checked before use (proto.c); the queues
 *   towards the program and towards the host are bounded by backpressure.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define SESSION_CLAIM_MS 5000 /* a session claim without a RUN lapses */

/* The descriptors main() polls, in this order. */
enum {
	PFD_SIGNAL,                        /* SIGCHLD: reap */
	PFD_HOST_IN,                       /* frames from the host */
	PFD_HOST_OUT,                      /* frames to the host */
	PFD_RUN,                           /* the run's, RUN_POLLFDS of them */
	PFD_RELAY = PFD_RUN + RUN_POLLFDS, /* the filtered network's */
	PFD_MAX = PFD_RELAY + RELAY_POLLFDS,
};

static struct {
	uint64_t idle_ms;  /* --idle; 0: never expire */
	uint64_t quiet_at; /* the last frame or run end, for --idle */
	int session;
	int claimed;
	uint64_t claim_at;
	int host_eof; /* the host closed our stdin: exit after the run */
	int sigfd;
	struct proto_buf in;
	struct proto_buf out;
} A;

/* Queue an ERROR frame: a request failed, the agent goes on. */
void
agent_error(struct proto_buf *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t at;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	at = proto_frame_begin(out, PROTO_ERROR);
	proto_tlv_str(out, PROTO_T_MSG, msg);
	proto_frame_end(out, at);
}

/* Write everything queued for the host, blocking, then exit. */
static void
flush_and_exit(int code)
{
	size_t off = 0;
	ssize_t n;

	fcntl(1, F_SETFL, fcntl(1, F_GETFL) & ~O_NONBLOCK);
	while (off < A.out.len) {
		n = write(1, A.out.data + off, A.out.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	_exit(code);
}

/*
 * A run sent its EXIT: quiet from now on (--idle), the session's next
 * claimant's turn; a one-shot agent is done.
 */
static void
run_over(int oneshot)
{
	A.quiet_at = now_ms();
	if (A.session)
		A.claimed = 0;
	if (oneshot)
		flush_and_exit(0);
}

/*
 * The host is done with us (BYE), broke the protocol or its stream: end
 * the run and exit, with what is queued written first if `flush`.
 */
static void
agent_quit(int code, int flush)
{
	run_abandon();
	if (flush)
		flush_and_exit(code);
	_exit(code);
}

/*
 * Make the container as the next job would find a fresh one: kill every
 * sandbox process (and reap it), then restore the writable directories,
 * POSIX message queues and SysV IPC (scrub.c), verifying each. OK only
 * when all is verified; on ERROR the host discards the container.
 */
static void
scrub(void)
{
	struct rusage ru;
	struct kernel *k;
	char why[256];
	int status, failed = 0;
	uint64_t until = now_ms() + 1000;
	pid_t pid;

	if (run_active()) {
		agent_error(&A.out, "cannot scrub during a run");
		return;
	}
	for (;;) {
		if (getpid() == 1)
			kill(-1, SIGKILL); /* stopped or ignoring: all die */
		while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
			if ((k = kernel_of(pid)) != NULL)
				kernel_died(k, 0);
		if (!sandbox_alive(NULL) || now_ms() >= until)
			break;
		poll(NULL, 0, 2); /* one in the kernel's hands: let it go */
	}
	why[0] = '\0';
	if (sandbox_alive(NULL)) {
		snprintf(why, sizeof why, "a process does not die");
		failed = 1;
	} else if (scrub_files(why, sizeof why) == -1 ||
	    scrub_ipc(why, sizeof why) == -1)
		failed = 1;
	if (failed) {
		agent_log("scrub: %s", why);
		agent_error(
		    &A.out, "scrub could not verify a clean sandbox: %s", why);
		return;
	}
	proto_frame(&A.out, PROTO_OK, NULL, 0);
}

static void
hello(const unsigned char *p, uint32_t len)
{
	const unsigned char *val, *nonce = NULL;
	uint32_t vlen, nlen = 0;
	size_t left = len, at;
	int tag, busy;

	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
		if (tag == PROTO_T_NONCE)
			nonce = val, nlen = vlen;
	/*
	 * One-use and warm agents: the first claim is the only one. Session
	 * agents serve one claimant at a time: a claim lasts until that
	 * claimant's run ends, or SESSION_CLAIM_MS without a RUN.
	 */
	if (A.session)
		busy = run_active() ||
		    (A.claimed && now_ms() - A.claim_at < SESSION_CLAIM_MS);
	else
		busy = A.claimed;
	if (!busy) {
		A.claimed = 1;
		A.claim_at = now_ms();
	}
	at = proto_frame_begin(&A.out, PROTO_READY);
	proto_tlv(&A.out, PROTO_T_NONCE, nonce, nonce ? nlen : 0);
	proto_tlv_u64(&A.out, PROTO_T_VERSION, PROTO_VERSION);
	proto_tlv_u64(&A.out, PROTO_T_STATUS, (uint64_t)busy);
	proto_frame_end(&A.out, at);
}

static void
handle_frame(int type, const unsigned char *payload, uint32_t len)
{
	if (!run_active())
		A.quiet_at = now_ms();
	switch (type) {
	case PROTO_HELLO:
		hello(payload, len);
		break;
	case PROTO_RUN:
		run_request(payload, len);
		break;
	case PROTO_STDIN:
		run_stdin(payload, len);
		break;
	case PROTO_STDIN_EOF:
		run_stdin_eof();
		break;
	case PROTO_SIGNAL:
		run_signal(payload, len);
		break;
	case PROTO_PUT_FILE:
		file_put(&A.out, payload, len);
		break;
	case PROTO_GET_FILE:
		file_get(&A.out, payload, len);
		break;
	case PROTO_SCRUB:
		scrub();
		break;
	case PROTO_CONN_DATA:
	case PROTO_CONN_CLOSE:
		relay_frame(type, payload, len);
		break;
	case PROTO_BYE:
		agent_quit(0, 1);
		break;
	default:
		agent_error(&A.out, "unknown frame type 0x%02x", type);
	}
}

/* Parse and handle every complete frame received from the host. */
static void
host_read(void)
{
	unsigned char chunk[READ_CHUNK];
	uint32_t len;
	size_t off = 0;
	ssize_t n;
	int type;

	n = read(0, chunk, sizeof chunk);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		A.host_eof = 1;
		return;
	}
	proto_buf_add(&A.in, chunk, (size_t)n);
	while (A.in.len - off >= PROTO_HDR_LEN) {
		if (proto_header(A.in.data + off, &type, &len) == -1) {
			agent_log("bad frame header from the host; exiting");
			agent_quit(2, 1);
		}
		if (A.in.len - off - PROTO_HDR_LEN < len)
			break;
		handle_frame(type, A.in.data + off + PROTO_HDR_LEN, len);
		off += PROTO_HDR_LEN + len;
	}
	proto_buf_drain(&A.in, off);
}

static void
host_write(void)
{
	ssize_t n = write(1, A.out.data, A.out.len);

	if (n > 0)
		proto_buf_drain(&A.out, (size_t)n);
	else if (n == -1 && errno != EAGAIN && errno != EINTR) {
		agent_log("host stream: %s; exiting", strerror(errno));
		agent_quit(3, 0);
	}
}

/* SIGCHLD: children to reap (run.c records whose they were). */
static void
reap(void)
{
	struct signalfd_siginfo si;

	while (read(A.sigfd, &si, sizeof si) == sizeof si)
		;
	run_reap();
}

/* The next deadline: the run's, or between runs the idle expiry. */
static struct deadline
agent_deadline(void)
{
	if (run_active())
		return run_deadline();
	if (A.idle_ms > 0)
		return deadline_at(A.quiet_at + A.idle_ms);
	return DEADLINE_NEVER;
}

/* What to wait for: the host and the run, each while its queue has room. */
static int
poll_fill(struct pollfd *pfd)
{
	int out_full = A.out.len >= QUEUE_HIGH;

	pfd[PFD_SIGNAL] = (struct pollfd){ A.sigfd, POLLIN, 0 };
	pfd[PFD_HOST_IN] = (struct pollfd){ A.host_eof ? -1 : 0,
		(short)(!run_stdin_full() && !relay_full() ? POLLIN : 0), 0 };
	pfd[PFD_HOST_OUT] =
	    (struct pollfd){ 1, (short)(A.out.len > 0 ? POLLOUT : 0), 0 };
	run_poll(pfd + PFD_RUN, out_full);
	return PFD_RELAY + relay_poll(pfd + PFD_RELAY, out_full);
}

static void
usage(void)
{
	fprintf(stderr, "usage: isol8-agent [--idle MS] [--session]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[PFD_MAX];
	sigset_t mask;
	int i, n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
			A.idle_ms = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--session") == 0)
			A.session = 1;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("isol8-agent protocol %d\n", PROTO_VERSION);
			return 0;
		} else
			usage();
	}
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((A.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		agent_log("signalfd: %s", strerror(errno));
		return 1;
	}
	set_nonblock(0);
	set_nonblock(1);
	scrub_init(); /* before any user code runs */
	relay_init();
	run_init(&A.out, run_over);
	A.quiet_at = now_ms();

	for (;;) {
		n = poll_fill(pfd);
		if (poll(pfd, (nfds_t)n,
		        deadline_poll_ms(agent_deadline(), now_ms())) == -1 &&
		    errno != EINTR) {
			agent_log("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[PFD_SIGNAL].revents)
			reap();
		if (pfd[PFD_HOST_IN].revents)
			host_read();
		if (pfd[PFD_HOST_OUT].revents & (POLLOUT | POLLERR))
			host_write();
		run_events(pfd + PFD_RUN);
		if (n > PFD_RELAY)
			relay_events(pfd + PFD_RELAY, &A.out);
		run_step(); /* the clock: a deadline may have passed */
		if (!run_active() &&
		    deadline_passed(agent_deadline(), now_ms())) {
			agent_log("idle for %llu ms; exiting",
			    (unsigned long long)A.idle_ms);
			flush_and_exit(0);
		}
		if (A.host_eof && !run_active())
			flush_and_exit(0);
	}
}
