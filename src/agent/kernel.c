/*
 * Session kernels: one long-lived interpreter per runtime in a session
 * container, so that variables persist between runs (docs/sessions.md). A
 * RUN that carries KERNEL (the interpreter's launch argv, e.g. python3
 * /usr/lib/isol8/kernel.py) runs its code in that interpreter instead of a
 * fresh process; the kernel programs live in src/agent/kernels/.
 *
 * A kernel is a sandbox program like any other (sandbox_exec) with two
 * more descriptors: fd 3 carries requests to it, fd 4 its replies; fds 1
 * and 2 are pipes to the agent for its whole life. A request is
 * NUL-terminated fields -- sequence number, stdin path, argc, argv, envc,
 * env, secretc, the secrets' names (unset after the run) -- and the replies are "S <seq>" (stdin is open) and "D <seq>
 * <code>" (the code is over). Replies with another sequence number are
 * stale (or forged by user code, which holds fd 4 in bash) and ignored.
 *
 * Invariants: a kernel belongs to at most one run at a time (agent.c runs
 * one program at a time); a dead kernel's slot is free again, and `lost`
 * remembers that its state went with it until the next run says so.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define KERNEL_MAX 4 /* python, node, bun, bash */
#define KERNEL_KEY_MAX 256
#define KERNEL_PIPE_SIZE (1 << 20) /* a whole request fits */

struct kernel {
	char key[KERNEL_KEY_MAX]; /* the launch argv, joined */
	pid_t pid;                /* 0: no interpreter */
	int ctl, reply, out, err; /* the agent's ends */
	char line[64];            /* a partial reply */
	size_t line_len;
	int lost; /* died: the next run says it starts afresh */
};

static struct kernel kernels[KERNEL_MAX];

static void
kernel_close(struct kernel *k)
{
	close_fd(&k->ctl);
	close_fd(&k->reply);
	close_fd(&k->out);
	close_fd(&k->err);
	k->pid = 0;
	k->line_len = 0;
}

static int
kernel_spawn(struct kernel *k, const struct proto_run *req)
{
	int ctl[2], reply[2], out[2], err[2], fds[5];
	pid_t pid;

	ctl[0] = ctl[1] = reply[0] = reply[1] = -1;
	out[0] = out[1] = err[0] = err[1] = -1;
	if (pipe2(ctl, O_CLOEXEC) == -1 || pipe2(reply, O_CLOEXEC) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    (fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	fds[1] = out[1], fds[2] = err[1], fds[3] = ctl[0], fds[4] = reply[1];
	if ((pid = fork()) == -1) {
		close(fds[0]);
		goto fail;
	}
	if (pid == 0) {
		/* Its environment for life: the run's, but not its secrets. */
		static const char *env[PROTO_MAX_ENV + 1];
		int i, j, n = 0;
		size_t kl;

		for (i = 0; i < req->envc; i++) {
			for (j = 0; j < req->secretc; j++) {
				kl = strlen(req->secrets[j]);
				if (strncmp(req->env[i], req->secrets[j], kl) ==
				        0 &&
				    req->env[i][kl] == '=')
					break;
			}
			if (j == req->secretc)
				env[n++] = req->env[i];
		}
		env[n] = NULL;
		sandbox_exec(req->kernel, env, req->cwd, fds, 5);
	}
	close(fds[0]);
	close(ctl[0]), close(reply[1]), close(out[1]), close(err[1]);
	fcntl(ctl[1], F_SETPIPE_SZ, KERNEL_PIPE_SIZE);
	k->pid = pid;
	k->ctl = ctl[1], k->reply = reply[0], k->out = out[0], k->err = err[0];
	set_nonblock(k->ctl);
	set_nonblock(k->reply);
	set_nonblock(k->out);
	set_nonblock(k->err);
	k->line_len = 0;
	return 0;
fail:
	close_fd(&ctl[0]), close_fd(&ctl[1]);
	close_fd(&reply[0]), close_fd(&reply[1]);
	close_fd(&out[0]), close_fd(&out[1]);
	close_fd(&err[0]), close_fd(&err[1]);
	return -1;
}

/*
 * The kernel a RUN asks for, started if it is not running. *restarted is
 * set when an earlier interpreter of this kind died since its last run
 * (its state is gone). NULL with a message in `msg` on failure.
 */
struct kernel *
kernel_get(const struct proto_run *req, int *restarted, char *msg, size_t len)
{
	char key[KERNEL_KEY_MAX];
	struct kernel *k, *free_slot = NULL;
	size_t at = 0, n;
	int i;

	*restarted = 0;
	for (i = 0; i < req->kernelc; i++) {
		n = strlen(req->kernel[i]);
		if (at + n + 2 > sizeof key) {
			snprintf(msg, len, "kernel command too long");
			return NULL;
		}
		memcpy(key + at, req->kernel[i], n);
		at += n;
		key[at++] = ' ';
	}
	key[at] = '\0';
	for (k = kernels; k < kernels + KERNEL_MAX; k++) {
		if (k->key[0] != '\0' && strcmp(k->key, key) == 0)
			break;
		if (k->key[0] == '\0' && free_slot == NULL)
			free_slot = k;
	}
	if (k == kernels + KERNEL_MAX) {
		if ((k = free_slot) == NULL) {
			snprintf(msg, len, "too many kinds of kernel");
			return NULL;
		}
		memcpy(k->key, key, at + 1);
		k->ctl = k->reply = k->out = k->err = -1;
	}
	if (k->pid == 0) {
		if (kernel_spawn(k, req) == -1) {
			snprintf(msg, len, "cannot start the interpreter: %s",
			    strerror(errno));
			return NULL;
		}
		*restarted = k->lost;
		k->lost = 0;
	}
	return k;
}

static void
put_field(char *buf, size_t *at, size_t cap, const char *s)
{
	size_t n = strlen(s) + 1;

	if (*at + n <= cap)
		memcpy(buf + *at, s, n);
	*at += n; /* past cap: the caller sees the overflow */
}

/*
 * Drop what the kernel wrote between runs (a thread, a timer, code that
 * went on after a forged reply): a run's output is only its own.
 */
void
kernel_discard(struct kernel *k)
{
	char chunk[4096];
	int i, *fd[] = { &k->out, &k->err };
	size_t j;

	for (j = 0; j < 2; j++)
		for (i = 0; i < 256 && *fd[j] >= 0; i++)
			if (read(*fd[j], chunk, sizeof chunk) <= 0)
				break;
}

/* Send run `seq` to the kernel; -1 when it does not take it whole. */
int
kernel_request(struct kernel *k, uint64_t seq, const char *stdin_path,
    const struct proto_run *req)
{
	static char buf[KERNEL_PIPE_SIZE];
	char num[24];
	size_t at = 0;
	ssize_t n;
	int i;

	snprintf(num, sizeof num, "%llu", (unsigned long long)seq);
	put_field(buf, &at, sizeof buf, num);
	put_field(buf, &at, sizeof buf, stdin_path);
	snprintf(num, sizeof num, "%d", req->argc);
	put_field(buf, &at, sizeof buf, num);
	for (i = 0; i < req->argc; i++)
		put_field(buf, &at, sizeof buf, req->argv[i]);
	snprintf(num, sizeof num, "%d", req->envc);
	put_field(buf, &at, sizeof buf, num);
	for (i = 0; i < req->envc; i++)
		put_field(buf, &at, sizeof buf, req->env[i]);
	/* Names the kernel unsets after the run: secrets are the run's. */
	snprintf(num, sizeof num, "%d", req->secretc);
	put_field(buf, &at, sizeof buf, num);
	for (i = 0; i < req->secretc; i++)
		put_field(buf, &at, sizeof buf, req->secrets[i]);
	if (at > sizeof buf) {
		errno = E2BIG;
		return -1;
	}
	/* Between runs the pipe is empty and holds a whole request. */
	n = write(k->ctl, buf, at);
	if (n != (ssize_t)at) {
		if (n >= 0)
			errno = EAGAIN;
		return -1;
	}
	return 0;
}

/* Read the kernel's replies about run `seq`; -1 at EOF. */
int
kernel_read(struct kernel *k, uint64_t seq, struct kernel_reply *rep)
{
	unsigned long long s;
	char chunk[256], *nl;
	ssize_t n, i;
	int code;

	if ((n = read(k->reply, chunk, sizeof chunk)) == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (k->line_len < sizeof k->line - 1)
			k->line[k->line_len++] = chunk[i];
		if (chunk[i] != '\n')
			continue;
		k->line[k->line_len] = '\0';
		nl = k->line;
		if (sscanf(nl, "S %llu", &s) == 1 && s == seq)
			rep->started = 1;
		else if (sscanf(nl, "D %llu %d", &s, &code) == 2 && s == seq) {
			rep->done = 1;
			rep->code = code & 0xff;
		}
		k->line_len = 0;
	}
	return 0;
}

struct kernel *
kernel_of(pid_t pid)
{
	struct kernel *k;

	for (k = kernels; pid > 0 && k < kernels + KERNEL_MAX; k++)
		if (k->pid == pid)
			return k;
	return NULL;
}

pid_t
kernel_pid(const struct kernel *k)
{
	return k->pid;
}

int
kernel_reply_fd(const struct kernel *k)
{
	return k->reply;
}

/* The kernel's stdout (1) or stderr (2) pipe, which a run reads. */
int *
kernel_out_fd(struct kernel *k, int which)
{
	return which == 1 ? &k->out : &k->err;
}

/*
 * The kernel exited. During its run (`in_run`) that run reports the lost
 * state and drains the output pipes, which become its own. The next run of
 * this kind says it starts afresh either way: whoever ran the fatal run
 * may have gone (Ctrl-C) before hearing of it.
 */
void
kernel_died(struct kernel *k, int in_run)
{
	if (in_run)
		k->out = k->err = -1; /* now the run's to close */
	k->lost = 1;
	kernel_close(k);
}

/* Kill the kernel (it cannot serve another run); reaped as usual. */
void
kernel_stop(struct kernel *k)
{
	if (k->pid > 0)
		kill(k->pid, SIGKILL);
}

/* Whether a live kernel other than `doomed` exists (to spare at run end). */
int
kernel_others(const struct kernel *doomed)
{
	const struct kernel *k;

	for (k = kernels; k < kernels + KERNEL_MAX; k++)
		if (k->pid > 0 && k != doomed)
			return 1;
	return 0;
}

/* Let the spared kernels go on after the stop-and-kill pass. */
void
kernel_continue(const struct kernel *doomed)
{
	const struct kernel *k;

	for (k = kernels; k < kernels + KERNEL_MAX; k++)
		if (k->pid > 0 && k != doomed)
			kill(k->pid, SIGCONT);
}

/* Whether `pid` is a live kernel other than `doomed`: spared at run end. */
int
kernel_spared(pid_t pid, const struct kernel *doomed)
{
	struct kernel *k = kernel_of(pid);

	return k != NULL && k != doomed;
}

/* CPU time of the kernel and its waited-for children so far. */
uint64_t
kernel_cpu_ms(const struct kernel *k)
{
	unsigned long long t[4];
	char path[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)k->pid);
	if (k->pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* After the command's closing parenthesis: field 3 onwards. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu "
	        "%llu",
	        &t[0], &t[1], &t[2], &t[3]) != 4 ||
	    hz <= 0)
		return 0;
	return (t[0] + t[1] + t[2] + t[3]) * 1000 / (unsigned long long)hz;
}

/* The kernel's peak resident memory since it started (VmHWM). */
uint64_t
kernel_maxrss_kb(const struct kernel *k)
{
	unsigned long long kb = 0;
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)k->pid);
	if (k->pid <= 0 || (f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmHWM: %llu", &kb) == 1)
			break;
	fclose(f);
	return kb;
}
