/*
 * What the agent's run and its session kernels share: the sandbox user
 * (dropping to it for a program, acting as it for file access), confined
 * paths, the sandbox's processes, and descriptor and clock helpers.
 *
 * Invariant: every path the agent opens on the sandbox user's behalf goes
 * through open_confined() under that user's fsuid, so a link or `..`
 * planted by user code never takes the agent (root) anywhere else.
 */
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

void
agent_log(const char *fmt, ...)
{
	va_list ap;

	fputs("isol8-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct deadline
deadline_at(uint64_t at)
{
	return (struct deadline){ 1, at };
}

/* The earlier of two deadlines; an unset one is never earlier. */
struct deadline
deadline_min(struct deadline a, struct deadline b)
{
	if (!a.set || (b.set && b.at < a.at))
		return b;
	return a;
}

int
deadline_passed(struct deadline d, uint64_t now)
{
	return d.set && now >= d.at;
}

/* poll()'s timeout for a deadline: -1 when it is unset. */
int
deadline_poll_ms(struct deadline d, uint64_t now)
{
	if (!d.set)
		return -1;
	if (d.at <= now)
		return 0;
	return d.at - now < INT_MAX ? (int)(d.at - now) : INT_MAX;
}

void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The pid of each /proc entry that is a live process other than PID 1. */
int
sandbox_next_pid(DIR *d, int skip_zombies)
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
int
sandbox_alive(const struct kernel *doomed)
{
	DIR *d;
	int pid, n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 1;
	while (n == 0 && (pid = sandbox_next_pid(d, 1)) > 0)
		n += !kernel_spared(pid, doomed);
	closedir(d);
	return n > 0;
}

/* exec(3) takes char *const[]; the strings live in the RUN payload. */
static char **
strv(const char *const *v)
{
	union {
		const char *const *c;
		char **m;
	} u = { v };

	return u.m;
}

/*
 * In a freshly forked child: become a sandbox program -- its own session,
 * the first OOM victim, fds[i] as descriptor i and nothing else open, the
 * sandbox user without privileges, in `cwd` -- and exec argv. Never returns.
 */
void
sandbox_exec(const char *const *argv, const char *const *env, const char *cwd,
    const int *fds, int nfds)
{
	sigset_t all;
	int fd, i, high[SANDBOX_MAX_FDS];

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	/* Under memory pressure the kernel must pick user code, not PID 1. */
	if ((fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)) >=
	    0) {
		if (write(fd, "1000", 4) == -1) {
			/* not fatal: the run still has its memory limit */
		}
		close(fd);
	}
	/* Out of the way first, so that no dup2() clobbers a later source. */
	for (i = 0; i < nfds; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) == -1)
			_exit(126);
	for (i = 0; i < nfds; i++)
		if (dup2(high[i], i) == -1)
			_exit(126);
	for (fd = nfds; fd < 1024; fd++)
		close(fd);
	if (getuid() == 0 &&
	    (setgroups(0, NULL) == -1 || setgid(SANDBOX_GID) == -1 ||
	        setuid(SANDBOX_UID) == -1)) {
		dprintf(
		    2, "isol8: cannot drop privileges: %s\n", strerror(errno));
		_exit(126);
	}
	if (getuid() == 0 || geteuid() == 0)
		_exit(126);
	if (chdir(cwd ? cwd : "/sandbox") == -1) {
		dprintf(2, "isol8: cannot enter `%s`: %s\n",
		    cwd ? cwd : "/sandbox", strerror(errno));
		_exit(126);
	}
	umask(022);
	environ = strv(env);
	execvp(argv[0], strv(argv));
	dprintf(2, "isol8: cannot run `%s`: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Open a path for a file transfer, as the sandbox user (fsuid), walking
 * one component at a time with O_NOFOLLOW: no `..`, no symlink anywhere,
 * and only below /sandbox or /tmp (both the sandbox user's own tmpfs).
 */
int
open_confined(const char *path, int flags, mode_t mode, int writing)
{
	char copy[4096], *comp, *next;
	const char *root;
	int dfd, fd, e;

	if (strncmp(path, "/sandbox/", 9) == 0)
		root = "/sandbox";
	else if (strncmp(path, "/tmp/", 5) == 0)
		root = "/tmp";
	else {
		errno = EPERM;
		return -1;
	}
	if (strlen(path) >= sizeof copy) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(copy, path + strlen(root) + 1);
	if ((dfd = open(
	         root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	for (comp = copy;; comp = next) {
		if ((next = strchr(comp, '/')) != NULL)
			*next++ = '\0';
		if (*comp == '\0' || strcmp(comp, ".") == 0 ||
		    strcmp(comp, "..") == 0) {
			close(dfd);
			errno = EINVAL;
			return -1;
		}
		if (next == NULL)
			break;
		fd = openat(
		    dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT && writing &&
		    mkdirat(dfd, comp, 0755) == 0)
			fd = openat(dfd, comp,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(dfd);
		if (fd == -1) {
			errno = e == ENOTDIR || e == ELOOP ? EPERM : e;
			return -1;
		}
		dfd = fd;
	}
	fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	e = errno;
	close(dfd);
	errno = e == ELOOP ? EPERM : e;
	return fd;
}

void
as_sandbox(int on)
{
	setfsgid(on ? SANDBOX_GID : 0);
	setfsuid(on ? SANDBOX_UID : 0);
}
