/*
 * isol8-agent: PID 1 of every sandbox container (docs/agent-protocol.md).
 *
 * The host talks to it over the container's attached stdin/stdout in frames
 * (proto.h); stderr is only for the agent's own diagnostics. The agent runs
 * each program as the unprivileged sandbox user, in its own session, with
 * fresh pipes for stdin/stdout/stderr, and reports exit status, times, peak
 * memory and what stopped it. One poll() loop, no threads.
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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define QUEUE_HIGH (1u << 20) /* stop reading a producer beyond this */
#define READ_CHUNK (64u << 10)
#define DRAIN_GRACE_MS 200    /* after the last kill, wait this for EOF */
#define SESSION_CLAIM_MS 5000 /* a session claim without a RUN lapses */
#define GET_FILE_MAX (256ull << 20)
#define OUTPUTS_MAX (32ull << 20) /* all output files of a run */
#define KERNEL_STDIN "/tmp/.isol8/stdin"

struct run {
	int active;
	pid_t pid;
	int reaped;
	int wstatus;
	struct rusage ru;        /* of the main process, from wait4 */
	struct rusage ru_before; /* RUSAGE_CHILDREN at the start */
	int fd_in, fd_out, fd_err;
	struct proto_buf in_q;
	int in_eof;
	uint64_t start_ms;
	uint64_t deadline_ms; /* 0: none */
	uint64_t drain_ms;    /* after everything was killed */
	uint64_t grace_ms;    /* killed then, after an interrupt */
	uint64_t cap, seen;
	uint64_t oom_before;
	int timed_out, truncated, killed_all;
	int oneshot;
	/*
	 * In a session kernel: the code's end is its "D" reply, not an exit,
	 * and the run's end the kernel's "I", back idle in its loop.
	 */
	struct kernel *k;
	int fifo_rd;   /* keeps the stdin FIFO open until the kernel has */
	int k_started; /* the kernel opened stdin: EOF may go through */
	int k_done, k_code;
	int k_idle;
	int k_doomed; /* the run killed its kernel: wait for it to die */
	int kernel_run;
	int state_lost; /* the kernel died during the run */
	int fresh;      /* it had died before: this run started a new one */
	uint64_t cpu_start;
	char *outputs[PROTO_MAX_OUTPUTS]; /* copied: the frame is gone */
	int noutputs;
	uint64_t output_max;
};

static struct {
	uint64_t idle_ms;
	uint64_t idle_at;
	int session;
	int claimed;
	uint64_t claim_at;
	int host_eof;
	int sigfd;
	struct proto_buf in;
	struct proto_buf out;
	struct run run;
} A;

static uint64_t send_file(const char *, uint64_t, int);

static void
send_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t at;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	at = proto_frame_begin(&A.out, PROTO_ERROR);
	proto_tlv_str(&A.out, PROTO_T_MSG, msg);
	proto_frame_end(&A.out, at);
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

/* The cgroup's count of OOM kills (v1 memory.oom_control, v2 memory.events). */
static uint64_t
oom_kills(void)
{
	static const char *paths[] = {
		"/sys/fs/cgroup/memory/memory.oom_control",
		"/sys/fs/cgroup/memory.events"
	};
	char line[128];
	unsigned long long n = 0;
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if ((f = fopen(paths[i], "re")) == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "oom_kill %llu", &n) == 1)
				break;
		fclose(f);
		return n;
	}
	return 0;
}

/* The pid of each /proc entry that is a live process other than PID 1. */
static int
proc_next(DIR *d, int skip_zombies)
{
	char path[64], buf[256], *p;
	struct dirent *de;
	ssize_t n;
	int pid, fd;

	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    (pid = atoi(de->d_name)) == 1)
			continue;
		if (!skip_zombies)
			return pid;
		snprintf(path, sizeof path, "/proc/%d/stat", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
		    p[2] == 'Z')
			continue;
		return pid;
	}
	return 0;
}

/* Whether a process other than PID 1 and the spared kernels is alive. */
static int
others_alive(const struct kernel *doomed)
{
	DIR *d;
	int pid, n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 1;
	while (n == 0 && (pid = proc_next(d, 1)) > 0)
		n += !kernel_spared(pid, doomed);
	closedir(d);
	return n > 0;
}

/*
 * Kill every process of the sandbox but the session kernels other than
 * `doomed`. As PID 1 with CAP_KILL, kill(-1) reaches every other process
 * of the container in one atomic pass (a fork bomb cannot outrun it); with
 * kernels to spare, the same pass stops everything instead, the stopped
 * processes but the kernels are killed, and the kernels continue. Outside
 * a container only the run's group is hit.
 */
static void
kill_rest(struct kernel *doomed)
{
	struct run *r = &A.run;
	int pid;
	DIR *d;

	if (getpid() != 1) {
		if (r->pid > 0 && (r->k == NULL || r->k == doomed))
			kill(-r->pid, SIGKILL);
	} else if (!kernel_others(doomed) || (d = opendir("/proc")) == NULL)
		kill(-1, SIGKILL); /* nothing to spare: the one-pass kill */
	else {
		kill(-1, SIGSTOP);
		while ((pid = proc_next(d, 0)) > 0)
			if (!kernel_spared(pid, doomed))
				kill(pid, SIGKILL);
		closedir(d);
		kernel_continue(doomed);
	}
	r->killed_all = 1;
	r->drain_ms = now_ms() + DRAIN_GRACE_MS;
}

/* Stop the run's code now: its process tree, or its kernel too. */
static void
run_kill(void)
{
	if (A.run.k != NULL)
		A.run.k_doomed = A.run.state_lost = 1;
	kill_rest(A.run.k);
}

/* A plain run: the program is a fresh process with fresh pipes. */
static int
run_spawn(const struct proto_run *req)
{
	struct run *r = &A.run;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int fds[3];
	pid_t pid;

	if ((req->stdin_pipe
	            ? pipe2(in, O_CLOEXEC)
	            : ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0
	                      ? -1
	                      : 0)) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1) {
		send_error("cannot make pipes: %s", strerror(errno));
		goto fail;
	}
	if ((pid = fork()) == -1) {
		send_error("cannot start the program: %s", strerror(errno));
		goto fail;
	}
	fds[0] = in[0], fds[1] = out[1], fds[2] = err[1];
	if (pid == 0)
		sandbox_exec(req->argv, req->env, req->cwd, fds, 3);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	r->pid = pid;
	r->fd_in = in[1];
	r->fd_out = out[0];
	r->fd_err = err[0];
	return 0;
fail:
	close_fd(&in[0]), close_fd(&in[1]);
	close_fd(&out[0]), close_fd(&out[1]);
	close_fd(&err[0]), close_fd(&err[1]);
	return -1;
}

/*
 * The run's stdin for a kernel: a FIFO the kernel opens by name, made
 * afresh as the sandbox user. The agent holds a read end until the kernel
 * says it has opened it, so that an early EOF cannot leave the FIFO
 * without a writer before the kernel opens it (it would block forever).
 */
static int
kernel_fifo(struct run *r)
{
	struct stat st;
	int dfd;

	as_sandbox(1);
	dfd = open_confined("/tmp/.isol8", O_RDONLY | O_DIRECTORY, 0, 1);
	if (dfd == -1 && errno == ENOENT && mkdir("/tmp/.isol8", 0755) == 0)
		dfd =
		    open_confined("/tmp/.isol8", O_RDONLY | O_DIRECTORY, 0, 1);
	if (dfd != -1) {
		unlinkat(dfd, "stdin", 0);
		if (mkfifoat(dfd, "stdin", 0600) == 0) {
			r->fifo_rd = openat(dfd, "stdin",
			    O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
			r->fd_in = openat(dfd, "stdin",
			    O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		}
		close(dfd);
	}
	as_sandbox(0);
	if (r->fd_in == -1 || fstat(r->fd_in, &st) == -1 ||
	    !S_ISFIFO(st.st_mode)) {
		send_error(
		    "cannot make the kernel's stdin: %s", strerror(errno));
		close_fd(&r->fd_in);
		close_fd(&r->fifo_rd);
		return -1;
	}
	return 0;
}

/* A kernel run: the code goes to the session's interpreter of its kind. */
static int
run_in_kernel(const struct proto_run *req)
{
	struct run *r = &A.run;
	char msg[256];
	int restarted;

	if ((r->k = kernel_get(req, &restarted, msg, sizeof msg)) == NULL) {
		send_error("%s", msg);
		return -1;
	}
	r->kernel_run = 1;
	r->fresh = restarted;
	r->cpu_start = kernel_cpu_ms(r->k);
	if (req->stdin_pipe && kernel_fifo(r) == -1) {
		r->k = NULL;
		return -1;
	}
	kernel_discard(r->k);
	if (kernel_request(r->k, req->stdin_pipe ? KERNEL_STDIN : "/dev/null",
	        req) == -1) {
		send_error("the session's interpreter does not take requests "
		           "(%s); it is restarted",
		    strerror(errno));
		kernel_stop(r->k);
		close_fd(&r->fd_in);
		close_fd(&r->fifo_rd);
		r->k = NULL;
		return -1;
	}
	r->pid = kernel_pid(r->k);
	r->fd_out = *kernel_out_fd(r->k, 1);
	r->fd_err = *kernel_out_fd(r->k, 2);
	return 0;
}

static void
run_start(const unsigned char *payload, uint32_t len)
{
	static struct proto_run req;
	struct run *r = &A.run;

	if (r->active) {
		send_error("a run is already in progress");
		return;
	}
	if (proto_run_decode(payload, len, &req) == -1) {
		send_error("malformed RUN frame");
		return;
	}
	if (req.proxy_port > 0 &&
	    relay_listen((unsigned)req.proxy_port) == -1) {
		send_error("cannot listen on 127.0.0.1:%llu for the filtered "
		           "network: %s",
		    (unsigned long long)req.proxy_port, strerror(errno));
		return;
	}
	memset(r, 0, sizeof *r);
	r->fd_in = r->fd_out = r->fd_err = r->fifo_rd = -1;
	r->oom_before = oom_kills();
	getrusage(RUSAGE_CHILDREN, &r->ru_before);
	r->start_ms = now_ms();
	if ((req.kernelc > 0 ? run_in_kernel(&req) : run_spawn(&req)) == -1) {
		relay_stop();
		return;
	}
	r->active = 1;
	if (r->fd_in >= 0)
		set_nonblock(r->fd_in);
	set_nonblock(r->fd_out);
	set_nonblock(r->fd_err);
	r->deadline_ms = req.timeout_ms ? r->start_ms + req.timeout_ms : 0;
	r->cap = req.output_cap;
	r->oneshot = req.oneshot;
	for (r->noutputs = 0; r->noutputs < req.noutputs; r->noutputs++)
		if ((r->outputs[r->noutputs] =
		            strdup(req.outputs[r->noutputs])) == NULL)
			abort();
	r->output_max = req.output_max && req.output_max < GET_FILE_MAX
	    ? req.output_max
	    : GET_FILE_MAX;
}

/* CPU time of the run: its reaped processes, and its kernel's share. */
static uint64_t
run_cpu_ms(void)
{
	struct run *r = &A.run;
	struct rusage ru;
	uint64_t ms, k;

	getrusage(RUSAGE_CHILDREN, &ru);
	ms = (uint64_t)(ru.ru_utime.tv_sec - r->ru_before.ru_utime.tv_sec +
	         ru.ru_stime.tv_sec - r->ru_before.ru_stime.tv_sec) *
	        1000 +
	    (uint64_t)((ru.ru_utime.tv_usec - r->ru_before.ru_utime.tv_usec +
	                   ru.ru_stime.tv_usec -
	                   r->ru_before.ru_stime.tv_usec) /
	        1000);
	if (!r->kernel_run)
		return ms;
	/* A live kernel: its time since the start; a dead one was reaped
	 * (its whole life is in `ru`): take away its time before the run. */
	if (r->k != NULL)
		return ms +
		    ((k = kernel_cpu_ms(r->k)) > r->cpu_start ? k - r->cpu_start
		                                              : 0);
	return ms > r->cpu_start ? ms - r->cpu_start : 0;
}

static void
run_finish(void)
{
	struct run *r = &A.run;
	uint64_t flags = 0, total = 0, maxrss;
	int64_t code = -1, sig = 0;
	size_t at;
	int i;

	if (r->k != NULL && r->k_done)
		code = r->k_code;
	else if (WIFEXITED(r->wstatus))
		code = WEXITSTATUS(r->wstatus);
	else if (WIFSIGNALED(r->wstatus)) {
		sig = WTERMSIG(r->wstatus);
		code = 128 + sig;
	}
	if (r->timed_out)
		flags |= PROTO_F_TIMEDOUT;
	else if (sig == SIGKILL && oom_kills() > r->oom_before)
		flags |= PROTO_F_OOM;
	if (r->truncated)
		flags |= PROTO_F_TRUNCATED;
	if (r->state_lost)
		flags |= PROTO_F_STATE_LOST;
	if (r->fresh)
		flags |= PROTO_F_FRESH;
	maxrss =
	    r->k != NULL ? kernel_maxrss_kb(r->k) : (uint64_t)r->ru.ru_maxrss;
	/* The run's output files first: EXIT is the last frame of a run. */
	for (i = 0; i < r->noutputs; i++) {
		total += send_file(r->outputs[i],
		    total < OUTPUTS_MAX ? (r->output_max < OUTPUTS_MAX - total
		                                  ? r->output_max
		                                  : OUTPUTS_MAX - total)
		                        : 0,
		    1);
		free(r->outputs[i]);
	}
	r->noutputs = 0;
	at = proto_frame_begin(&A.out, PROTO_EXIT);
	proto_tlv_u64(&A.out, PROTO_T_EXIT_CODE, (uint64_t)code);
	proto_tlv_u64(&A.out, PROTO_T_SIGNAL, (uint64_t)sig);
	proto_tlv_u64(&A.out, PROTO_T_WALL_MS, now_ms() - r->start_ms);
	proto_tlv_u64(&A.out, PROTO_T_CPU_MS, run_cpu_ms());
	proto_tlv_u64(&A.out, PROTO_T_MAXRSS_KB, maxrss);
	proto_tlv_u64(&A.out, PROTO_T_FLAGS, flags);
	proto_frame_end(&A.out, at);
	if (r->k != NULL) {
		/* The kernel keeps its pipes; one it lost cannot serve again. */
		if (r->fd_out < 0 || r->fd_err < 0)
			kernel_stop(r->k);
		r->fd_out = r->fd_err = -1;
	}
	close_fd(&r->fd_in);
	close_fd(&r->fifo_rd);
	close_fd(&r->fd_out);
	close_fd(&r->fd_err);
	proto_buf_free(&r->in_q);
	relay_stop();
	r->active = 0;
	r->k = NULL;
	A.idle_at = A.idle_ms ? now_ms() + A.idle_ms : 0;
	if (A.session)
		A.claimed = 0; /* the next claimant's turn */
	if (r->oneshot)
		flush_and_exit(0);
}

/*
 * Forward program output as frames, up to the output cap; 1 when it read
 * something (more may be there), 0 when the pipe is empty or closed.
 */
static int
run_read(int *fd, int type)
{
	struct run *r = &A.run;
	unsigned char chunk[READ_CHUNK];
	ssize_t n;
	uint64_t room;

	n = read(*fd, chunk, sizeof chunk);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* A live kernel lost this pipe: run_finish() retires it. */
		if (r->k != NULL &&
		    *kernel_out_fd(r->k, type == PROTO_OUT ? 1 : 2) == *fd)
			*kernel_out_fd(r->k, type == PROTO_OUT ? 1 : 2) = -1;
		close_fd(fd);
		return 0;
	}
	if (r->truncated)
		return 1; /* keep draining so writers never block */
	room = r->cap && r->seen < r->cap ? r->cap - r->seen : 0;
	if (r->cap && (uint64_t)n > room) {
		if (room > 0)
			proto_frame(&A.out, type, chunk, room);
		r->seen = r->cap;
		r->truncated = 1;
		run_kill();
		return 1;
	}
	r->seen += (uint64_t)n;
	proto_frame(&A.out, type, chunk, (size_t)n);
	return 1;
}

static void
run_write_stdin(void)
{
	struct run *r = &A.run;
	ssize_t n;

	if (r->in_q.len > 0) {
		n = write(r->fd_in, r->in_q.data, r->in_q.len);
		if (n > 0)
			proto_buf_drain(&r->in_q, (size_t)n);
		else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			/* The program closed its stdin: drop the rest. */
			proto_buf_free(&r->in_q);
			close_fd(&r->fd_in);
			return;
		}
	}
	if (r->in_q.len == 0 && r->in_eof && (r->k == NULL || r->k_started))
		close_fd(&r->fd_in);
}

static void
reap(void)
{
	struct signalfd_siginfo si;
	struct rusage ru;
	struct kernel *k;
	int status;
	pid_t pid;

	while (read(A.sigfd, &si, sizeof si) == sizeof si)
		;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		if (A.run.active && pid == A.run.pid && !A.run.reaped) {
			A.run.reaped = 1;
			A.run.wstatus = status;
			A.run.ru = ru;
		}
		if ((k = kernel_of(pid)) == NULL)
			continue;
		kernel_died(k, A.run.active && A.run.k == k);
		if (A.run.active && A.run.k == k) {
			/* Its pipes are the run's now; its state is gone. */
			A.run.k = NULL;
			A.run.state_lost = 1;
		}
	}
}

/*
 * The kernel's replies: stdin is open (EOF may pass), the code is over,
 * the kernel is idle again (the run may end). A reply that is not the one
 * due was written by the code it runs: the interpreter is ended, as for a
 * crash, and the run says why.
 */
static void
run_kernel_reply(void)
{
	struct run *r = &A.run;
	struct kernel_reply rep = { 0 };
	char note[256];
	int n;

	if (kernel_read(r->k, &rep) == -1) {
		kernel_stop(r->k); /* it closed fd 4: reaped as dead */
		return;
	}
	if (rep.started && !r->k_started) {
		r->k_started = 1;
		close_fd(&r->fifo_rd);
		if (r->fd_in >= 0)
			run_write_stdin();
	}
	if (rep.done && !r->k_done) {
		r->k_done = 1;
		r->k_code = rep.code;
	}
	if (rep.idle)
		r->k_idle = 1;
	if (rep.tampered != NULL && !r->k_doomed) {
		n = snprintf(note, sizeof note,
		    "isol8: the session's interpreter was ended, its "
		    "variables are gone: %s (fds 3 and 4 are its own loop's "
		    "only)\n",
		    rep.tampered);
		proto_frame(&A.out, PROTO_ERR, note,
		    n < (int)sizeof note ? (size_t)n : sizeof note - 1);
		run_kill();
	}
}

static void
file_put(const unsigned char *payload, uint32_t len)
{
	struct proto_file f;
	struct stat st;
	ssize_t n;
	uint32_t off = 0;
	int fd;

	if (proto_file_decode(payload, len, &f) == -1 || f.path == NULL) {
		send_error("malformed PUT_FILE frame");
		return;
	}
	/*
	 * Non-blocking: a FIFO planted at the path (a session keeps what a
	 * run left) must not block PID 1 in open(); only a regular file is
	 * written.
	 */
	as_sandbox(1);
	fd = open_confined(f.path,
	    O_WRONLY | O_CREAT | O_NONBLOCK | (f.append ? O_APPEND : O_TRUNC),
	    (mode_t)f.mode, 1);
	as_sandbox(0);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		send_error("cannot write `%s`: %s", f.path,
		    fd != -1 || errno == ENXIO ? "not a regular file"
		                               : strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	while (off < f.len) {
		n = write(fd, f.data + off, f.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			send_error("cannot write `%s`: %s", f.path,
			    n == 0 ? "short write" : strerror(errno));
			close(fd);
			return;
		}
		off += (uint32_t)n;
	}
	close(fd);
	if (f.end)
		proto_frame(&A.out, PROTO_OK, NULL, 0);
}

/*
 * Send a file as FILE frames (DATA chunks, END on the last). For a
 * GET_FILE a failure is an ERROR frame; for a run's output file
 * (`tagged`) every frame carries PATH and a failure is a FILE with MSG, so
 * one missing output does not fail the run. Returns the bytes sent.
 */
static uint64_t
send_file(const char *path, uint64_t max, int tagged)
{
	unsigned char *chunk;
	char msg[256];
	struct stat st;
	uint64_t sent = 0;
	ssize_t n;
	size_t at;
	int fd;

	msg[0] = '\0';
	as_sandbox(1);
	fd = open_confined(path, O_RDONLY | O_NONBLOCK, 0, 0);
	as_sandbox(0);
	if (fd == -1)
		snprintf(msg, sizeof msg, "cannot read `%s`: %s", path,
		    strerror(errno));
	else if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		snprintf(msg, sizeof msg,
		    "cannot read `%s`: not a regular "
		    "file",
		    path);
	else if ((uint64_t)st.st_size > max)
		snprintf(msg, sizeof msg,
		    "cannot read `%s`: %lld bytes is "
		    "over the %llu-byte limit",
		    path, (long long)st.st_size, (unsigned long long)max);
	if (msg[0] != '\0') {
		if (fd != -1)
			close(fd);
		if (!tagged) {
			send_error("%s", msg);
			return 0;
		}
		at = proto_frame_begin(&A.out, PROTO_FILE);
		proto_tlv_str(&A.out, PROTO_T_PATH, path);
		proto_tlv_str(&A.out, PROTO_T_MSG, msg);
		proto_tlv_u64(&A.out, PROTO_T_END, 1);
		proto_frame_end(&A.out, at);
		return 0;
	}
	if ((chunk = malloc(PROTO_CHUNK)) == NULL)
		abort();
	for (;;) {
		n = read(fd, chunk, PROTO_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		/* A file that grows while read: stop at the limit. */
		if (n > 0 && sent + (uint64_t)n > max)
			n = (ssize_t)(max - sent);
		at = proto_frame_begin(&A.out, PROTO_FILE);
		if (tagged)
			proto_tlv_str(&A.out, PROTO_T_PATH, path);
		if (n < 0)
			proto_tlv_str(&A.out, PROTO_T_MSG, strerror(errno));
		proto_tlv(&A.out, PROTO_T_DATA, chunk, n > 0 ? (size_t)n : 0);
		proto_tlv_u64(&A.out, PROTO_T_END, n <= 0);
		proto_frame_end(&A.out, at);
		if (n <= 0)
			break;
		sent += (uint64_t)n;
	}
	free(chunk);
	close(fd);
	return sent;
}

static void
file_get(const unsigned char *payload, uint32_t len)
{
	struct proto_file f;

	if (proto_file_decode(payload, len, &f) == -1 || f.path == NULL) {
		send_error("malformed GET_FILE frame");
		return;
	}
	if (f.max_size == 0 || f.max_size > GET_FILE_MAX)
		f.max_size = GET_FILE_MAX;
	send_file(f.path, f.max_size, 0);
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

	if (A.run.active) {
		send_error("cannot scrub during a run");
		return;
	}
	for (;;) {
		if (getpid() == 1)
			kill(-1, SIGKILL); /* stopped or ignoring: all die */
		while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
			if ((k = kernel_of(pid)) != NULL)
				kernel_died(k, 0);
		if (!others_alive(NULL) || now_ms() >= until)
			break;
		poll(NULL, 0, 2); /* one in the kernel's hands: let it go */
	}
	why[0] = '\0';
	if (others_alive(NULL)) {
		snprintf(why, sizeof why, "a process does not die");
		failed = 1;
	} else if (scrub_files(why, sizeof why) == -1 ||
	    scrub_ipc(why, sizeof why) == -1)
		failed = 1;
	if (failed) {
		agent_log("scrub: %s", why);
		send_error("scrub could not verify a clean sandbox: %s", why);
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
		busy = A.run.active ||
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

/*
 * Signal the run's process group (SIGKILL: kill the run outright). With
 * GRACE_MS, a run still going that long after is killed: an interrupt
 * that a session's interpreter turns into an exception keeps its state.
 */
static void
run_signal(const unsigned char *p, uint32_t len)
{
	struct run *r = &A.run;
	const unsigned char *val;
	uint64_t signo = 0, grace = 0, v;
	size_t left = len;
	uint32_t vlen;
	int tag;

	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1) {
		if (tag != PROTO_T_SIGNO && tag != PROTO_T_GRACE_MS)
			continue;
		if (proto_u64_decode(val, vlen, tag, &v) == -1) {
			signo = 0;
			break;
		}
		if (tag == PROTO_T_SIGNO)
			signo = v;
		else
			grace = v;
	}
	if (signo == 0 || signo >= 65) {
		send_error("malformed SIGNAL frame");
		return;
	}
	if (!r->active || r->killed_all)
		return;
	if (signo == SIGKILL) {
		run_kill();
		return;
	}
	kill(-r->pid, (int)signo);
	if (grace > 0 && (r->grace_ms == 0 || now_ms() + grace < r->grace_ms))
		r->grace_ms = now_ms() + grace;
}

static void
handle_frame(int type, const unsigned char *payload, uint32_t len)
{
	struct run *r = &A.run;

	if (!r->active && A.idle_ms)
		A.idle_at = now_ms() + A.idle_ms;
	switch (type) {
	case PROTO_HELLO:
		hello(payload, len);
		break;
	case PROTO_RUN:
		run_start(payload, len);
		break;
	case PROTO_STDIN:
		if (r->active && r->fd_in >= 0 && !r->in_eof)
			proto_buf_add(&r->in_q, payload, len);
		break;
	case PROTO_STDIN_EOF:
		r->in_eof = 1;
		if (r->active && r->fd_in >= 0)
			run_write_stdin();
		break;
	case PROTO_SIGNAL:
		run_signal(payload, len);
		break;
	case PROTO_PUT_FILE:
		file_put(payload, len);
		break;
	case PROTO_GET_FILE:
		file_get(payload, len);
		break;
	case PROTO_SCRUB:
		scrub();
		break;
	case PROTO_CONN_DATA:
	case PROTO_CONN_CLOSE:
		relay_frame(type, payload, len);
		break;
	case PROTO_BYE:
		if (r->active)
			run_kill();
		flush_and_exit(0);
		break;
	default:
		send_error("unknown frame type 0x%02x", type);
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
			if (A.run.active)
				run_kill();
			flush_and_exit(2);
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
		if (A.run.active)
			run_kill();
		_exit(3);
	}
}

/* Advance the run: deadline, leftovers, and the end once all is drained. */
static void
run_check(void)
{
	struct run *r = &A.run;
	uint64_t now = now_ms();
	int i;

	if (!r->active)
		return;
	if (r->deadline_ms && now >= r->deadline_ms && !r->killed_all) {
		r->timed_out = 1;
		run_kill();
	}
	if (r->grace_ms && now >= r->grace_ms && !r->killed_all)
		run_kill();
	/*
	 * A kernel's code is over and it is idle again: kill what the code
	 * left behind, then drain its pipes (all it wrote before its reply
	 * is in them) and end.
	 */
	if (r->k != NULL && r->k_idle && !r->k_doomed) {
		if (!r->killed_all)
			kill_rest(NULL);
		if (others_alive(NULL) && now < r->drain_ms)
			return;
		for (i = 0; i < 16 && r->fd_out >= 0; i++)
			if (!run_read(&r->fd_out, PROTO_OUT))
				break;
		for (i = 0; i < 16 && r->fd_err >= 0; i++)
			if (!run_read(&r->fd_err, PROTO_ERR))
				break;
		run_finish();
		return;
	}
	/* The main process is gone: its leftovers go too (nohup, setsid). */
	if (r->reaped && !r->killed_all)
		kill_rest(NULL);
	if (r->reaped && r->killed_all &&
	    ((r->fd_out < 0 && r->fd_err < 0) || now >= r->drain_ms))
		run_finish();
}

static int
poll_timeout(void)
{
	struct run *r = &A.run;
	uint64_t now = now_ms(), at = 0;

	if (r->active) {
		if (r->k != NULL && r->k_idle && r->killed_all)
			return 1; /* waiting for its leftovers to die */
		if (r->grace_ms && !r->killed_all)
			at = r->grace_ms;
		if (r->deadline_ms && !r->killed_all &&
		    (at == 0 || r->deadline_ms < at))
			at = r->deadline_ms;
		else if (r->killed_all)
			at = r->drain_ms;
	} else if (A.idle_at)
		at = A.idle_at;
	if (at == 0)
		return -1;
	return at <= now ? 0 : (int)(at - now);
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
	struct pollfd pfd[7 + RELAY_POLLFDS];
	struct run *r = &A.run;
	sigset_t mask;
	int i, n, k;

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
	r->fd_in = r->fd_out = r->fd_err = -1;
	scrub_init(); /* before any user code runs */
	relay_init();
	A.idle_at = A.idle_ms ? now_ms() + A.idle_ms : 0;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ A.sigfd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ A.host_eof ? -1 : 0,
			(short)(r->in_q.len < QUEUE_HIGH && !relay_full()
			        ? POLLIN
			        : 0),
			0 };
		pfd[n++] = (struct pollfd){ 1,
			(short)(A.out.len > 0 ? POLLOUT : 0), 0 };
		pfd[n++] = (struct pollfd){ r->fd_out,
			(short)(A.out.len < QUEUE_HIGH ? POLLIN : 0), 0 };
		pfd[n++] = (struct pollfd){ r->fd_err,
			(short)(A.out.len < QUEUE_HIGH ? POLLIN : 0), 0 };
		pfd[n++] = (struct pollfd){ r->fd_in,
			(short)(r->in_q.len > 0 ? POLLOUT : 0), 0 };
		pfd[n++] = (struct pollfd){
			r->active && r->k != NULL ? kernel_reply_fd(r->k) : -1,
			POLLIN, 0
		};
		n += relay_poll(pfd + n, A.out.len >= QUEUE_HIGH);
		k = poll(pfd, (nfds_t)n, poll_timeout());
		if (k == -1 && errno != EINTR) {
			agent_log("poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[0].revents)
			reap();
		if (pfd[1].revents)
			host_read();
		if (pfd[2].revents & (POLLOUT | POLLERR))
			host_write();
		if (pfd[3].revents && r->fd_out >= 0)
			run_read(&r->fd_out, PROTO_OUT);
		if (pfd[4].revents && r->fd_err >= 0)
			run_read(&r->fd_err, PROTO_ERR);
		if (pfd[5].revents && r->fd_in >= 0)
			run_write_stdin();
		if (pfd[6].revents && r->active && r->k != NULL)
			run_kernel_reply();
		if (n > 7) /* the relay was polled */
			relay_events(pfd + 7, &A.out);
		run_check();
		if (!r->active && A.idle_at && now_ms() >= A.idle_at) {
			agent_log("idle for %llu ms; exiting",
			    (unsigned long long)A.idle_ms);
			flush_and_exit(0);
		}
		if (A.host_eof && !r->active)
			flush_and_exit(0);
	}
}
