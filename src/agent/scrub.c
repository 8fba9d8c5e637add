/*
 * The scrub of a reused container (pool.reuse, batch --reuse): what the
 * next job finds must be what a fresh container holds. docs/security.md
 * lists what is restored and what is verified.
 *
 * A job runs as the sandbox user without capabilities on a read-only
 * root. Besides its processes (agent.c kills them first) it can change
 * exactly these container-wide things:
 * - the contents of the writable mounts: /sandbox, /tmp, /dev/shm and
 *   /dev/mqueue (the IPC namespace's POSIX message queues);
 * - what the owner of a mount's root directory may change -- its mode,
 *   user.* extended attributes, ACLs (a default ACL decides the mode of
 *   every file made below it later) and times; the sandbox user owns
 *   /sandbox, root owns the others (restored all the same);
 * - the SysV IPC objects of the container's IPC namespace.
 * The kernel keyring is out of reach (Docker's seccomp profile refuses
 * add_key, request_key and keyctl); counters that only grow (pids, the
 * cgroup's peak memory and CPU time) cannot be reset and carry no data a
 * job chose to leave.
 *
 * Invariants: scrub_init() records each directory as the container
 * started, before any user code ran, and the scrub restores that record,
 * never a guess; entries are removed as the sandbox user (fsuid) and
 * attributes restored as the directory's owner, so a link planted by a
 * job is never followed with root's rights; everything is verified after
 * it is restored, and any doubt fails the scrub (the host then discards
 * the container).
 */
#include <sys/fsuid.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define WIPE_DEPTH 64

struct scrub_dir {
	const char *path;
	int known; /* recorded at start */
	dev_t dev;
	ino_t ino;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	long fstype;
};

static struct scrub_dir dirs[] = {
	{ .path = "/sandbox" },
	{ .path = "/tmp" },
	{ .path = "/dev/shm" },
	{ .path = "/dev/mqueue" },
};

#define NDIRS (sizeof dirs / sizeof dirs[0])

/* Record the scrubbed directories as they are before any user code. */
void
scrub_init(void)
{
	struct statfs sfs;
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < NDIRS; i++) {
		fd = open(dirs[i].path,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			continue;
		if (fstat(fd, &st) == 0 && fstatfs(fd, &sfs) == 0) {
			dirs[i].known = 1;
			dirs[i].dev = st.st_dev;
			dirs[i].ino = st.st_ino;
			dirs[i].uid = st.st_uid;
			dirs[i].gid = st.st_gid;
			dirs[i].mode = st.st_mode & 07777;
			dirs[i].fstype = (long)sfs.f_type;
		}
		close(fd);
	}
}

static void
act_as(uid_t uid, gid_t gid)
{
	setfsgid(gid);
	setfsuid(uid);
}

/*
 * Remove the attributes an owner may set -- user.* and the ACLs -- or,
 * with `count_only`, count them. The count of those left; -1 on error.
 */
static int
strip_xattrs(int fd, int count_only)
{
	static char names[65536]; /* XATTR_LIST_MAX */
	ssize_t len;
	char *n;
	int left = 0;

	if ((len = flistxattr(fd, names, sizeof names)) == -1)
		return errno == ENOTSUP ? 0 : -1;
	for (n = names; n < names + len; n += strlen(n) + 1) {
		if (strncmp(n, "user.", 5) != 0 &&
		    strncmp(n, "system.posix_acl_", 17) != 0)
			continue;
		if (count_only || fremovexattr(fd, n) == -1)
			left++;
	}
	return left;
}

/* Empty the directory dfd (closed here), depth first; -1 on failure. */
static int
wipe_dir(int dfd, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (depth > WIPE_DEPTH || (d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		/* A directory (maybe chmod 000 by its owner): open it up. */
		fd = openat(dirfd(d), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			fchmodat(dirfd(d), de->d_name, 0700, 0);
			fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd == -1 ||
		    (fchmod(fd, 0700), wipe_dir(fd, depth + 1)) == -1 ||
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

/*
 * The number of entries of the directory fd (not closed) other than
 * `except` (NULL: none); -1 on error.
 */
static int
dir_entries(int fd, const char *except)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((fd = dup(fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (except == NULL || strcmp(de->d_name, except)))
			n++;
	closedir(d);
	return n;
}

/* Whether fd is the recorded directory, as recorded and empty. */
static const char *
dir_verify(const struct scrub_dir *sd, int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fstat(fd, &st) == -1 || st.st_dev != sd->dev ||
	    st.st_ino != sd->ino)
		return "not the directory the container started with";
	if ((st.st_mode & 07777) != sd->mode || st.st_uid != sd->uid ||
	    st.st_gid != sd->gid)
		return "its mode or owner is not restored";
	if (strip_xattrs(fd, 1) != 0)
		return "extended attributes are left";
	if (dir_entries(fd, NULL) != 0)
		return "it is not empty";
	/* Nothing unlinked but still held either: all its space is free. */
	if (fstatfs(fd, &sfs) == -1 || (long)sfs.f_type != sd->fstype ||
	    sfs.f_bfree != sfs.f_blocks)
		return "its file system is not all free";
	return NULL;
}

/*
 * Restore one directory: mode first (a 0555 /sandbox could not be
 * emptied), attributes, contents, times; then verify. NULL, or what is
 * wrong.
 */
static const char *
scrub_dir(const struct scrub_dir *sd)
{
	const char *why = NULL;
	int fd, wfd;

	if (!sd->known)
		return "it was not there when the container started";
	act_as(sd->uid, sd->gid);
	/* A mount point on the read-only root: the path is the mount. */
	fchmodat(AT_FDCWD, sd->path, sd->mode, 0);
	fd = open(sd->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1) {
		strip_xattrs(fd, 0);
		fchmod(fd, sd->mode);
	}
	act_as(0, 0);
	if (fd == -1)
		return "cannot open it";
	as_sandbox(1);
	if ((wfd = dup(fd)) == -1 || wipe_dir(wfd, 0) == -1)
		why = "cannot empty it";
	as_sandbox(0);
	act_as(sd->uid, sd->gid);
	futimens(fd, NULL); /* the times of a fresh one: now */
	act_as(0, 0);
	if (why == NULL)
		why = dir_verify(sd, fd);
	close(fd);
	return why;
}

/* Whether /dev/pts holds a terminal (one dies with its last holder). */
static int
ptys_left(void)
{
	int fd, n;

	fd = open("/dev/pts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = dir_entries(fd, "ptmx");
	close(fd);
	return n != 0;
}

/*
 * Restore the writable directories and verify them. 0, or -1 with what
 * is wrong in `why`.
 */
int
scrub_files(char *why, size_t len)
{
	const char *w;
	size_t i;
	int rc = 0;

	for (i = 0; i < NDIRS; i++)
		if ((w = scrub_dir(&dirs[i])) != NULL) {
			if (rc == 0)
				snprintf(why, len, "%s: %s", dirs[i].path, w);
			rc = -1;
		}
	if (rc == 0 && ptys_left()) {
		snprintf(why, len, "/dev/pts: a terminal is left");
		rc = -1;
	}
	return rc;
}

/*
 * Remove the sandbox user's SysV IPC objects and verify that none is
 * left. IPC_RMID is allowed to the object's creator, which a job cannot
 * change (it can give the object to another owner and take every mode
 * bit away). 0, or -1 with what is wrong in `why`.
 */
int
scrub_ipc(char *why, size_t len)
{
	static const char *files[] = { "/proc/sysvipc/shm", "/proc/sysvipc/sem",
		"/proc/sysvipc/msg" };
	char line[512];
	int i, id, left = 0, pass;
	FILE *f;

	/* IPC_RMID checks the effective uid: act as the creator. */
	if (seteuid(SANDBOX_UID) == -1) {
		snprintf(why, len, "SysV IPC: %s", strerror(errno));
		return -1;
	}
	for (pass = 0; pass < 2; pass++) {
		left = 0;
		for (i = 0; i < 3; i++) {
			if ((f = fopen(files[i], "re")) == NULL) {
				/* None without SysV IPC in the kernel. */
				left += errno != ENOENT;
				continue;
			}
			if (fgets(line, sizeof line, f) == NULL) {
				fclose(f);
				continue;
			}
			while (fgets(line, sizeof line, f) != NULL) {
				/* "key id ...": this container's namespace. */
				if (sscanf(line, "%*d %d", &id) != 1)
					continue;
				left++;
				if (pass == 1)
					continue;
				if (i == 0)
					shmctl(id, IPC_RMID, NULL);
				else if (i == 1)
					semctl(id, 0, IPC_RMID);
				else
					msgctl(id, IPC_RMID, NULL);
			}
			fclose(f);
		}
	}
	if (seteuid(0) == -1)
		_exit(4); /* cannot happen: never continue half-privileged */
	if (left > 0) {
		snprintf(why, len, "SysV IPC: %d objects are left", left);
		return -1;
	}
	return 0;
}
