/*
 * The agent's run: one program -- or one piece of code in a session
 * kernel (kernel.c) -- at a time, from RUN to EXIT.
 *
 * A run is a state machine; docs/architecture.md draws it and lists what
 * moves each transition:
 *
 *   a program         IDLE -> RUNNING -> DRAINING -> IDLE
 *   in a kernel       IDLE -> STARTING -> RUNNING -> CHECKING -> SETTLING
 *                     -> IDLE
 *   killed            STARTING..SETTLING -> KILLING -> DRAINING -> IDLE
 *   the kernel died   STARTING..SETTLING -> DRAINING -> IDLE
 *
 * The handlers -- RUN, SIGNAL and the host gone, the reaper, the pipes,
 * the kernel's replies -- only record what happened in the run's facts and
 * call run_step(), the one place the state changes; run_live(),
 * run_settling() and run_draining() say what each state does with the
 * facts. run_end() is the one teardown: output files, EXIT, descriptors.
 * Deadlines are derived from the state (run_deadline()), never "0 means
 * none".
 *
 * Invariants: at most one run; before its EXIT every process it started
 * is dead but the session's kernels -- its own only when its code ended
 * back idle (SETTLING); a kernel run ends only at the kernel's idle reply
 * or its death; the output forwarded never exceeds the cap (the pipes are
 * still read past it, so no writer waits on the agent).
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define DRAIN_GRACE_MS 200 /* after the last kill, wait this for EOF */
#define SETTLE_POLL_MS 1   /* a killed leftover's death is not an event */
#define KERNEL_STDIN "/tmp/.isol8/stdin"

enum run_state {
	RUN_IDLE = 0, /* no run: a RUN frame starts one */
	RUN_STARTING, /* kernel: the request is sent, "S" (stdin open) is due */
	RUN_RUNNING,  /* the program runs (a kernel: its code, after "S") */
	RUN_CHECKING, /* kernel: the code said "D", the idle check's "I" due */
	RUN_SETTLING, /* kernel: back idle, its code's leftovers are killed */
	RUN_KILLING,  /* all was killed: its main process is to be reaped */
	RUN_DRAINING, /* reaped, the rest killed: read the pipes to EOF */
};

enum run_end {
	RUN_END_EXITED,    /* its main process (or kernel) ended: its status */
	RUN_END_IDLE,      /* its kernel is back idle: the code's "D" status */
	RUN_END_HOST_GONE, /* nobody to tell: no EXIT */
};

/* The run's descriptors in the poll array (run_poll(), run_events()). */
enum {
	RUN_PFD_OUT,   /* the program's stdout */
	RUN_PFD_ERR,   /* its stderr */
	RUN_PFD_IN,    /* its stdin */
	RUN_PFD_REPLY, /* its session kernel's replies */
};
_Static_assert(RUN_PFD_REPLY + 1 == RUN_POLLFDS, "RUN_POLLFDS in agent.h");

struct run {
	enum run_state state; /* moved by run_step() only */

	/* What the RUN asked for. */
	struct deadline timeout;
	uint64_t cap; /* the output cap; 0: none, as on the wire */
	int oneshot;
	char *outputs[PROTO_MAX_OUTPUTS]; /* copied: the frame is gone */
	int noutputs;
	uint64_t output_max;

	/* Its processes and pipes; a kernel run's pid is the kernel's. */
	pid_t pid;
	struct kernel *k; /* its kernel, while that lives */
	int kernel_run;   /* in a kernel, even once it died (CPU time) */
	int fd_in, fd_out, fd_err;
	int fifo_rd; /* keeps the kernel's stdin FIFO open until "S" */
	struct proto_buf in_q;

	/* Accounting, for EXIT. */
	uint64_t start_ms;
	struct rusage ru;        /* of the main process, from wait4 */
	struct rusage ru_before; /* RUSAGE_CHILDREN at the start */
	uint64_t cpu_start;      /* the kernel's CPU time at the start */
	uint64_t oom_before;
	uint64_t seen; /* output bytes forwarded */

	/*
	 * Facts: recorded by the handlers, read by run_step(); those that
	 * are EXIT flags (timed_out, truncated, state_lost, fresh) also
	 * stay as the record of what happened.
	 */
	int reaped, wstatus;      /* its main process (or kernel) ended */
	int in_eof;               /* the host sent STDIN_EOF */
	struct kernel_reply said; /* the kernel's replies so far (kernel.c) */
	int reply_closed;         /* the kernel closed its reply descriptor */
	int signo;                /* a SIGNAL to send; 0: none */
	struct deadline grace;    /* a SIGNAL's GRACE_MS: killed then */
	uint64_t killed_at;       /* the last kill (KILLING and later) */
	int timed_out, truncated; /* the timeout passed; output hit the cap */
	int state_lost, fresh;    /* the kernel ended here; had ended before */
};

static struct {
	struct proto_buf *out;         /* frames to the host (agent.c's) */
	run_over_cb over;              /* told at each EXIT */
	const struct proto_run *asked; /* a RUN for run_step() to start */
	int abandoned;                 /* the host is gone: end, no EXIT */
	struct run run;
} R;

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

/*
 * Kill every process of the sandbox but the session kernels other than
 * `doomed`. As PID 1 with CAP_KILL, kill(-1) reaches every other process
 * of the container in one atomic pass (a fork bomb cannot outrun it); with
 * kernels to spare, the same pass stops everything instead, the stopped
 * processes but the kernels are killed, and the kernels continue. Outside
 * a container only the run's group is hit.
 */
static void
kill_rest(struct run *r, struct kernel *doomed)
{
	int pid;
	DIR *d;

	if (getpid() != 1) {
		if (r->pid > 0 && (r->k == NULL || r->k == doomed))
			kill(-r->pid, SIGKILL);
	} else if (!kernel_others(doomed) || (d = opendir("/proc")) == NULL)
		kill(-1, SIGKILL); /* nothing to spare: the one-pass kill */
	else {
		kill(-1, SIGSTOP);
		while ((pid = sandbox_next_pid(d, 0)) > 0)
			if (!kernel_spared(pid, doomed))
				kill(pid, SIGKILL);
		closedir(d);
		kernel_continue(doomed);
	}
	r->killed_at = now_ms();
}

/*
 * Stop the run's code now: its processes and its kernel, whose state is
 * then lost. A kernel that wrote a reply not due hears why on stderr.
 */
static void
run_kill(struct run *r)
{
	char note[256];
	int n;

	if (r->said.tampered != NULL) {
		n = snprintf(note, sizeof note,
		    "isol8: the session's interpreter was ended, its variables are gone: %s (fds 3 and 4 are its own loop's only)\n",
		    r->said.tampered);
		proto_frame(R.out, PROTO_ERR, note,
		    n < (int)sizeof note ? (size_t)n : sizeof note - 1);
	}
	if (r->k != NULL)
		r->state_lost = 1;
	kill_rest(r, r->k);
}

/* A plain run: the program is a fresh process with fresh pipes. */
static int
run_spawn(struct run *r, const struct proto_run *req)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int fds[3];
	pid_t pid;

	if ((req->stdin_pipe
	            ? pipe2(in, O_CLOEXEC)
	            : ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0
	                      ? -1
	                      : 0)) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1) {
		agent_error(R.out, "cannot make pipes: %s", strerror(errno));
		goto fail;
	}
	if ((pid = fork()) == -1) {
		agent_error(
		    R.out, "cannot start the program: %s", strerror(errno));
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
		agent_error(R.out, "cannot make the kernel's stdin: %s",
		    strerror(errno));
		close_fd(&r->fd_in);
		close_fd(&r->fifo_rd);
		return -1;
	}
	return 0;
}

/* A kernel run: the code goes to the session's interpreter of its kind. */
static int
run_in_kernel(struct run *r, const struct proto_run *req)
{
	char msg[256];
	int restarted;

	if ((r->k = kernel_get(req, &restarted, msg, sizeof msg)) == NULL) {
		agent_error(R.out, "%s", msg);
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
		agent_error(R.out,
		    "the session's interpreter does not take requests (%s); it is restarted",
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

/*
 * Start the run a RUN frame asked for: RUNNING, STARTING in a kernel, or
 * still IDLE when it cannot start (an ERROR frame says why).
 */
static enum run_state
run_begin(struct run *r, const struct proto_run *req)
{
	if (req->proxy_port > 0 &&
	    relay_listen((unsigned)req->proxy_port) == -1) {
		agent_error(R.out,
		    "cannot listen on 127.0.0.1:%llu for the filtered network: %s",
		    (unsigned long long)req->proxy_port, strerror(errno));
		return RUN_IDLE;
	}
	memset(r, 0, sizeof *r);
	r->fd_in = r->fd_out = r->fd_err = r->fifo_rd = -1;
	r->oom_before = oom_kills();
	getrusage(RUSAGE_CHILDREN, &r->ru_before);
	r->start_ms = now_ms();
	if ((req->kernelc > 0 ? run_in_kernel(r, req) : run_spawn(r, req)) ==
	    -1) {
		relay_stop();
		return RUN_IDLE;
	}
	if (r->fd_in >= 0)
		set_nonblock(r->fd_in);
	set_nonblock(r->fd_out);
	set_nonblock(r->fd_err);
	if (req->timeout_ms > 0)
		r->timeout = deadline_at(r->start_ms + req->timeout_ms);
	r->cap = req->output_cap;
	r->oneshot = req->oneshot;
	for (r->noutputs = 0; r->noutputs < req->noutputs; r->noutputs++)
		if ((r->outputs[r->noutputs] =
		            strdup(req->outputs[r->noutputs])) == NULL)
			abort();
	r->output_max = req->output_max && req->output_max < FILE_MAX
	    ? req->output_max
	    : FILE_MAX;
	return r->k != NULL ? RUN_STARTING : RUN_RUNNING;
}

/* CPU time of the run: its reaped processes, and its kernel's share. */
static uint64_t
run_cpu_ms(const struct run *r)
{
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

/*
 * The EXIT frame: the code's status from the kernel's "D" when it ended
 * back idle, else from its main process's wait status.
 */
static void
run_exit_frame(const struct run *r, enum run_end why)
{
	uint64_t flags = 0, maxrss;
	int64_t code = -1, sig = 0;
	size_t at;

	if (why == RUN_END_IDLE)
		code = r->said.code;
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
	maxrss = why == RUN_END_IDLE ? kernel_maxrss_kb(r->k)
	                             : (uint64_t)r->ru.ru_maxrss;
	at = proto_frame_begin(R.out, PROTO_EXIT);
	proto_tlv_u64(R.out, PROTO_T_EXIT_CODE, (uint64_t)code);
	proto_tlv_u64(R.out, PROTO_T_SIGNAL, (uint64_t)sig);
	proto_tlv_u64(R.out, PROTO_T_WALL_MS, now_ms() - r->start_ms);
	proto_tlv_u64(R.out, PROTO_T_CPU_MS, run_cpu_ms(r));
	proto_tlv_u64(R.out, PROTO_T_MAXRSS_KB, maxrss);
	proto_tlv_u64(R.out, PROTO_T_FLAGS, flags);
	proto_frame_end(R.out, at);
}

/*
 * The one teardown of a run: its output files and EXIT (the last frame of
 * a run), then everything it held; agent.c hears of the EXIT last (a
 * one-shot agent exits then).
 */
static void
run_end(struct run *r, enum run_end why)
{
	int i;

	if (why != RUN_END_HOST_GONE) {
		file_send_outputs(
		    R.out, r->outputs, r->noutputs, r->output_max);
		run_exit_frame(r, why);
	}
	for (i = 0; i < r->noutputs; i++)
		free(r->outputs[i]);
	r->noutputs = 0;
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
	r->k = NULL;
	if (why != RUN_END_HOST_GONE)
		R.over(r->oneshot);
}

/*
 * Forward program output as frames, up to the output cap (beyond it the
 * fact `truncated`); 1 when it read something (more may be there), 0 when
 * the pipe is empty or closed.
 */
static int
run_read(struct run *r, int *fd, int type)
{
	unsigned char chunk[READ_CHUNK];
	ssize_t n;
	uint64_t room;

	n = read(*fd, chunk, sizeof chunk);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* A live kernel lost this pipe: run_end() retires it. */
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
			proto_frame(R.out, type, chunk, room);
		r->seen = r->cap;
		r->truncated = 1;
		return 1;
	}
	r->seen += (uint64_t)n;
	proto_frame(R.out, type, chunk, (size_t)n);
	return 1;
}

/* What is already in the pipes, a bounded amount (a live kernel's). */
static void
run_drain(struct run *r)
{
	int i;

	for (i = 0; i < 16 && r->fd_out >= 0; i++)
		if (!run_read(r, &r->fd_out, PROTO_OUT))
			break;
	for (i = 0; i < 16 && r->fd_err >= 0; i++)
		if (!run_read(r, &r->fd_err, PROTO_ERR))
			break;
}

/*
 * Write queued stdin, and close it after the host's EOF when `may_close`:
 * not while a kernel has yet to open it (the FIFO's only writer).
 */
static void
run_write_stdin(struct run *r, int may_close)
{
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
	if (r->in_q.len == 0 && r->in_eof && may_close)
		close_fd(&r->fd_in);
}

/*
 * STARTING, RUNNING, CHECKING: the code runs. The timeout, a grace gone
 * by, the host's SIGKILL, the output cap and a kernel not to be trusted
 * kill it; its main process's end drains it; the kernel's replies, in
 * the order kernel.c enforces, move it on.
 */
static enum run_state
run_live(struct run *r, uint64_t now)
{
	if (deadline_passed(r->timeout, now))
		r->timed_out = 1;
	if (r->timed_out || deadline_passed(r->grace, now) ||
	    r->signo == SIGKILL || r->truncated || r->said.tampered != NULL ||
	    r->reply_closed) {
		run_kill(r);
		return RUN_KILLING;
	}
	if (r->signo != 0)
		kill(-r->pid, r->signo);
	r->signo = 0;
	if (r->reaped) {
		/* Its leftovers go too (nohup, setsid); kernels are spared. */
		kill_rest(r, NULL);
		return RUN_DRAINING;
	}
	switch (r->state) {
	case RUN_STARTING:
		if (!r->said.started)
			break;
		/* The kernel has its stdin open: EOF may go through. */
		close_fd(&r->fifo_rd);
		if (r->fd_in >= 0)
			run_write_stdin(r, 1);
		return RUN_RUNNING;
	case RUN_RUNNING:
		return r->said.done ? RUN_CHECKING : RUN_RUNNING;
	case RUN_CHECKING:
		if (!r->said.idle)
			break;
		/* Back idle: kill what the code left, the kernels spared. */
		kill_rest(r, NULL);
		return RUN_SETTLING;
	default:
		break;
	}
	return r->state;
}

/*
 * SETTLING: the kernel is back idle and what its code left was killed.
 * Once that is dead (or DRAIN_GRACE_MS is up) all the code wrote is in
 * the kernel's pipes: drain them and end. The output cap and a reply not
 * due still end the kernel; its own death ends the run as in RUNNING.
 */
static enum run_state
run_settling(struct run *r, uint64_t now)
{
	if (r->truncated || r->said.tampered != NULL || r->reply_closed) {
		run_kill(r);
		return RUN_KILLING;
	}
	if (r->reaped)
		return RUN_DRAINING;
	if (now < r->killed_at + DRAIN_GRACE_MS && sandbox_alive(NULL))
		return RUN_SETTLING;
	run_drain(r);
	if (r->truncated) {
		run_kill(r);
		return RUN_KILLING;
	}
	run_end(r, RUN_END_IDLE);
	return RUN_IDLE;
}

/* DRAINING: everything is dead; end at both pipes' EOF or the grace. */
static enum run_state
run_draining(struct run *r, uint64_t now)
{
	if ((r->fd_out >= 0 || r->fd_err >= 0) &&
	    now < r->killed_at + DRAIN_GRACE_MS)
		return RUN_DRAINING;
	run_end(r, RUN_END_EXITED);
	return RUN_IDLE;
}

/*
 * Move the run on from what its facts say, until it rests: the only place
 * its state changes. The host gone ends any run at once, without EXIT.
 */
void
run_step(void)
{
	struct run *r = &R.run;
	const struct proto_run *req;
	enum run_state was;
	uint64_t now;

	do {
		was = r->state;
		now = now_ms();
		if (R.abandoned && r->state != RUN_IDLE) {
			if (r->state != RUN_KILLING && r->state != RUN_DRAINING)
				run_kill(r);
			run_end(r, RUN_END_HOST_GONE);
			r->state = RUN_IDLE;
			continue;
		}
		switch (r->state) {
		case RUN_IDLE:
			if ((req = R.asked) == NULL || R.abandoned)
				break;
			R.asked = NULL;
			r->state = run_begin(r, req);
			break;
		case RUN_STARTING:
		case RUN_RUNNING:
		case RUN_CHECKING:
			r->state = run_live(r, now);
			break;
		case RUN_SETTLING:
			r->state = run_settling(r, now);
			break;
		case RUN_KILLING:
			if (r->reaped)
				r->state = RUN_DRAINING;
			break;
		case RUN_DRAINING:
			r->state = run_draining(r, now);
			break;
		}
	} while (r->state != was);
}

/* When the run's state needs a look without an event. */
struct deadline
run_deadline(void)
{
	const struct run *r = &R.run;
	uint64_t now = now_ms();

	switch (r->state) {
	case RUN_STARTING:
	case RUN_RUNNING:
	case RUN_CHECKING:
		return deadline_min(r->timeout, r->grace);
	case RUN_SETTLING:
		/* Its leftovers' deaths are not events: look again soon. */
		return deadline_min(deadline_at(now + SETTLE_POLL_MS),
		    deadline_at(r->killed_at + DRAIN_GRACE_MS));
	case RUN_DRAINING:
		return deadline_at(r->killed_at + DRAIN_GRACE_MS);
	case RUN_IDLE:
	case RUN_KILLING:
		break;
	}
	return DEADLINE_NEVER;
}

/* SIGCHLD: reap every child, recording the run's main process and kernels. */
void
run_reap(void)
{
	struct run *r = &R.run;
	struct rusage ru;
	struct kernel *k;
	int status, in_run;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		if (r->state != RUN_IDLE && pid == r->pid && !r->reaped) {
			r->reaped = 1;
			r->wstatus = status;
			r->ru = ru;
		}
		if ((k = kernel_of(pid)) == NULL)
			continue;
		in_run = r->state != RUN_IDLE && r->k == k;
		kernel_died(k, in_run);
		if (in_run) {
			/* Its pipes are the run's now; its state is gone. */
			r->k = NULL;
			r->state_lost = 1;
		}
	}
	run_step();
}

/*
 * The kernel's replies, judged by kernel.c, add to what it said: stdin is
 * open, the code is over, it is idle again -- or a reply not due.
 */
static void
run_kernel_reply(void)
{
	struct run *r = &R.run;

	if (kernel_read(r->k, &r->said) == -1)
		r->reply_closed = 1;
	run_step();
}

/* The kernel's reply descriptor while a reply may come: not once killed. */
static int
run_reply_fd(const struct run *r)
{
	return r->k != NULL && r->state != RUN_KILLING ? kernel_reply_fd(r->k)
	                                               : -1;
}

/*
 * SIGNAL: for the run's process group (SIGKILL: kill the run outright).
 * With GRACE_MS, a run still going that long after is killed: an
 * interrupt that a session's interpreter turns into an exception keeps
 * its state.
 */
void
run_signal(const unsigned char *p, uint32_t len)
{
	struct run *r = &R.run;
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
		agent_error(R.out, "malformed SIGNAL frame");
		return;
	}
	if (r->state == RUN_IDLE)
		return;
	r->signo = (int)signo;
	if (grace > 0 && signo != SIGKILL)
		r->grace =
		    deadline_min(r->grace, deadline_at(now_ms() + grace));
	run_step();
}

/* RUN: one run at a time; run_step() starts it. */
void
run_request(const unsigned char *payload, uint32_t len)
{
	static struct proto_run req;

	if (R.run.state != RUN_IDLE) {
		agent_error(R.out, "a run is already in progress");
		return;
	}
	if (proto_run_decode(payload, len, &req) == -1) {
		agent_error(R.out, "malformed RUN frame");
		return;
	}
	R.asked = &req;
	run_step();
}

void
run_init(struct proto_buf *out, run_over_cb over)
{
	struct run *r = &R.run;

	R.out = out;
	R.over = over;
	r->fd_in = r->fd_out = r->fd_err = r->fifo_rd = -1;
}

int
run_active(void)
{
	return R.run.state != RUN_IDLE;
}

/* STDIN: for the program, queued until its pipe takes it. */
void
run_stdin(const unsigned char *data, uint32_t len)
{
	struct run *r = &R.run;

	if (r->state != RUN_IDLE && r->fd_in >= 0 && !r->in_eof)
		proto_buf_add(&r->in_q, data, len);
}

/* STDIN_EOF: its stdin closes once the queue is written. */
void
run_stdin_eof(void)
{
	struct run *r = &R.run;

	if (r->state == RUN_IDLE)
		return;
	r->in_eof = 1;
	if (r->fd_in >= 0)
		run_write_stdin(r, r->state != RUN_STARTING);
}

/* The host is gone (BYE, a broken frame or stream): end the run now. */
void
run_abandon(void)
{
	R.abandoned = 1;
	run_step();
}

/* Whether the program's stdin queue is full: stop reading the host. */
int
run_stdin_full(void)
{
	return R.run.in_q.len >= QUEUE_HIGH;
}

/*
 * The run's RUN_POLLFDS descriptors: its output while the queue to the
 * host (`out_full`) has room, its stdin while there is some to write, its
 * kernel's replies.
 */
int
run_poll(struct pollfd *pfd, int out_full)
{
	struct run *r = &R.run;
	short in = (short)(out_full ? 0 : POLLIN);

	pfd[RUN_PFD_OUT] = (struct pollfd){ r->fd_out, in, 0 };
	pfd[RUN_PFD_ERR] = (struct pollfd){ r->fd_err, in, 0 };
	pfd[RUN_PFD_IN] = (struct pollfd){ r->fd_in,
		(short)(r->in_q.len > 0 ? POLLOUT : 0), 0 };
	pfd[RUN_PFD_REPLY] = (struct pollfd){ run_reply_fd(r), POLLIN, 0 };
	return RUN_POLLFDS;
}

/* What poll() found on the run's descriptors; each event then a step. */
void
run_events(const struct pollfd *pfd)
{
	struct run *r = &R.run;

	if (pfd[RUN_PFD_OUT].revents && r->fd_out >= 0) {
		run_read(r, &r->fd_out, PROTO_OUT);
		run_step();
	}
	if (pfd[RUN_PFD_ERR].revents && r->fd_err >= 0) {
		run_read(r, &r->fd_err, PROTO_ERR);
		run_step();
	}
	if (pfd[RUN_PFD_IN].revents && r->fd_in >= 0)
		run_write_stdin(r, r->state != RUN_STARTING);
	if (pfd[RUN_PFD_REPLY].revents && run_reply_fd(r) >= 0)
		run_kernel_reply();
}
