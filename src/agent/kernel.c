/*
 * Session kernels: one long-lived interpreter per runtime in a session
 * container, so that variables persist between runs (docs/sessions.md). A
 * RUN that carries KERNEL (the interpreter's launch argv, e.g. python3
 * /usr/lib/isol8/kernel.py) runs its code in that interpreter instead of a
 * fresh process; the kernel programs live in src/agent/kernels/.
 *
 * A kernel is a sandbox program like any other (sandbox_exec) with two
 * more descriptors: fd 3 carries requests to it, fd 4 its replies; fds 1
 * and 2 are pipes to the agent for its whole life. Requests are
 * NUL-terminated fields: a run -- "R", a nonce, stdin path, argc, argv,
 * envc, env, secretc, the secrets' names (unset after the run) -- or an
 * idle check -- "P", a nonce. Replies are lines: "S <nonce>" (the run's
 * stdin is open), "D <nonce> <code>" (its code is over), "I <nonce>" (back
 * in the loop, idle).
 *
 * The code a kernel runs shares its process, so it can write fd 4 (and
 * read fd 3) as well as the loop can: replies are judged, never trusted.
 * Each request carries a fresh 128-bit nonce from getrandom(), sent only
 * then, so no reply can be written before its run exists; whatever waits
 * on fd 4 between runs is dropped before a request; during a run exactly
 * S, D and, after D, the idle check's I are due, in that order, with their
 * nonces, and anything else is tampering (run.c ends the interpreter).
 * A run is over only at I: code that goes on after a forged early D is
 * still that run's (its output, its timeout), and the loop's own late D
 * gives it away.
 *
 * Invariants: a kernel belongs to at most one run at a time (run.c runs
 * one program at a time); `expect` is the one reply due, KERNEL_IDLE
 * between runs; a dead kernel's slot is free again, and `lost` remembers
 * that its state went with it until the next run says so.
 */
#include <sys/random.h>
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
#define NONCE_LEN 32               /* 128 bits, in hex */
#define LINE_MAX_LEN 48            /* "D <nonce> 255" and more */

enum kernel_expect {
	KERNEL_IDLE,  /* between runs: no reply is due */
	KERNEL_START, /* "S <nonce>": the run's stdin is open */
	KERNEL_DONE,  /* "D <nonce> <code>": the run's code is over */
	KERNEL_BACK,  /* "I <probe>": back in its loop */
};

struct kernel {
	char key[KERNEL_KEY_MAX]; /* the launch argv, joined */
	pid_t pid;                /* 0: no interpreter */
	int ctl, reply, out, err; /* the agent's ends */
	enum kernel_expect expect;
	char nonce[NONCE_LEN + 1]; /* the run's */
	char probe[NONCE_LEN + 1]; /* the idle check's */
	char line[LINE_MAX_LEN];   /* a partial reply */
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
	k->expect = KERNEL_IDLE;
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
	k->expect = KERNEL_IDLE;
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
 * Drop what the kernel wrote between runs (a thread, a timer): a run's
 * output is only its own, and no reply is due between runs, so none
 * written then can count for the next one.
 */
void
kernel_discard(struct kernel *k)
{
	char chunk[4096];
	int i, *fd[] = { &k->out, &k->err, &k->reply };
	size_t j;

	for (j = 0; j < 3; j++)
		for (i = 0; i < 256 && *fd[j] >= 0; i++)
			if (read(*fd[j], chunk, sizeof chunk) <= 0)
				break;
	k->line_len = 0;
}

/* A fresh 128-bit nonce in hex; -1 when there is no randomness. */
static int
make_nonce(char *hex)
{
	unsigned char b[NONCE_LEN / 2];
	size_t at = 0;
	ssize_t n;
	int fd;

	while (at < sizeof b) {
		n = getrandom(b + at, sizeof b - at, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		at += (size_t)n;
	}
	if (at < sizeof b) { /* no getrandom(): the device then */
		if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		n = read(fd, b, sizeof b);
		close(fd);
		if (n != (ssize_t)sizeof b)
			return -1;
	}
	for (at = 0; at < sizeof b; at++)
		snprintf(hex + 2 * at, 3, "%02x", b[at]);
	return 0;
}

/* Write a whole request; -1 when the kernel does not take it whole. */
static int
kernel_send(struct kernel *k, const char *buf, size_t len)
{
	ssize_t n;

	/* Between runs the pipe is empty and holds a whole request. */
	n = write(k->ctl, buf, len);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EAGAIN;
		return -1;
	}
	return 0;
}

/*
 * Start the kernel's peak memory (VmHWM) afresh, so that a run reports
 * its own peak, not an earlier run's. As the kernel's user: its
 * clear_refs is its own. A kernel that made itself undumpable keeps
 * the peak of its life.
 */
static void
kernel_reset_peak(const struct kernel *k)
{
	char path[64];
	int fd;

	snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)k->pid);
	as_sandbox(1);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	as_sandbox(0);
	if (fd == -1)
		return;
	if (write(fd, "5", 1) == -1) {
		/* not fatal: the peak is then the kernel's whole life's */
	}
	close(fd);
}

/* Send a run to the kernel, with a fresh nonce; -1 when it fails. */
int
kernel_request(
    struct kernel *k, const char *stdin_path, const struct proto_run *req)
{
	static char buf[KERNEL_PIPE_SIZE];
	char num[24];
	size_t at = 0;
	int i;

	if (make_nonce(k->nonce) == -1)
		return -1;
	put_field(buf, &at, sizeof buf, "R");
	put_field(buf, &at, sizeof buf, k->nonce);
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
	kernel_reset_peak(k);
	if (kernel_send(k, buf, at) == -1)
		return -1;
	k->expect = KERNEL_START;
	return 0;
}

/* Ask the kernel to say it is back in its loop, with a fresh nonce. */
static int
kernel_probe(struct kernel *k)
{
	char buf[2 + NONCE_LEN + 1];

	if (make_nonce(k->probe) == -1)
		return -1;
	memcpy(buf, "P", 2);
	memcpy(buf + 2, k->probe, NONCE_LEN + 1);
	return kernel_send(k, buf, sizeof buf);
}

/* Whether `line` is "<kind> <nonce>" followed by `rest` (NULL: none). */
static int
reply_is(const char *line, char kind, const char *nonce, const char **rest)
{
	size_t n = strlen(nonce);

	if (line[0] != kind || line[1] != ' ' || strncmp(line + 2, nonce, n))
		return 0;
	line += 2 + n;
	if (rest != NULL) {
		*rest = line;
		return 1;
	}
	return *line == '\0';
}

/* A D reply's exit code: " 0" to " 255", nothing else; -1 if not one. */
static int
reply_code(const char *s)
{
	int code = 0, digits = 0;

	if (*s++ != ' ')
		return -1;
	for (; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
		code = code * 10 + (*s - '0');
	return digits > 0 && *s == '\0' && code <= 255 ? code : -1;
}

/*
 * Judge one complete reply line against the one due. NULL when it is
 * that reply (recorded in `rep`), else what is wrong with it.
 */
static const char *
kernel_line(struct kernel *k, const char *line, struct kernel_reply *rep)
{
	const char *rest;
	int code;

	switch (k->expect) {
	case KERNEL_START:
		if (!reply_is(line, 'S', k->nonce, NULL))
			break;
		rep->started = 1;
		k->expect = KERNEL_DONE;
		return NULL;
	case KERNEL_DONE:
		if (!reply_is(line, 'D', k->nonce, &rest) ||
		    (code = reply_code(rest)) == -1)
			break;
		rep->done = 1;
		rep->code = code;
		/* Over for the interpreter; for us once it is back idle. */
		if (kernel_probe(k) == -1)
			return "the idle check could not be sent on fd 3";
		k->expect = KERNEL_BACK;
		return NULL;
	case KERNEL_BACK:
		if (!reply_is(line, 'I', k->probe, NULL))
			break;
		rep->idle = 1;
		k->expect = KERNEL_IDLE;
		return NULL;
	case KERNEL_IDLE:
		break;
	}
	if ((line[0] == 'S' || line[0] == 'D' || line[0] == 'I') &&
	    line[1] == ' ')
		return reply_is(line, line[0], k->nonce, &rest) ||
		        reply_is(line, line[0], k->probe, &rest)
		    ? "a reply out of turn, or malformed, on fd 4"
		    : "a reply with a nonce that is not this run's on fd 4";
	return "something that is not a reply on fd 4";
}

/*
 * Read and judge the kernel's replies: 0, with what they said added to
 * `rep` (whose fields are only ever set, so one record gathers a whole
 * run's replies; rep->tampered at the first one that is not the reply
 * due, after which nothing more is judged); -1 at EOF.
 */
int
kernel_read(struct kernel *k, struct kernel_reply *rep)
{
	char chunk[256];
	ssize_t n, i;

	if ((n = read(k->reply, chunk, sizeof chunk)) == 0)
		return -1;
	for (i = 0; i < n && rep->tampered == NULL; i++) {
		if (chunk[i] == '\n') {
			k->line[k->line_len] = '\0';
			k->line_len = 0;
			rep->tampered = kernel_line(k, k->line, rep);
		} else if (chunk[i] == '\0')
			rep->tampered = "something that is not a reply on fd 4";
		else if (k->line_len == sizeof k->line - 1)
			rep->tampered = "a reply that is too long on fd 4";
		else
			k->line[k->line_len++] = chunk[i];
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
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
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
