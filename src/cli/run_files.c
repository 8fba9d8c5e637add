/*
 * The files of `isol8 run`: --files DIR copied into /sandbox before the
 * run, and --get PATH[:LOCAL] written back after it.
 *
 * Invariants:
 * - a --files directory is read without following symbolic links (lstat:
 *   regular files and directories only), the usual bulky folders skipped,
 *   bounded: RUN_FILES_MAX_COUNT files, RUN_FILES_MAX_TOTAL bytes, 32
 *   levels;
 * - a --get file never goes through an existing symbolic link (O_NOFOLLOW),
 *   is written whole (short writes continue) and its close is checked.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define RUN_FILES_MAX_TOTAL (64u << 20)
#define RUN_FILES_MAX_COUNT ISOL8_MAX_FILES
#define RUN_FILES_MAX_DEPTH 32

void
run_files_free(struct run_files *rf)
{
	size_t i;

	for (i = 0; i < rf->n; i++) {
		free((char *)(uintptr_t)rf->f[i].path);
		free((void *)(uintptr_t)rf->f[i].data);
	}
	free(rf->f);
	memset(rf, 0, sizeof *rf);
}

/* One regular file of a --files directory, read into rf. */
static int
files_add(struct run_files *rf, const char *full, const char *rel, size_t size,
    struct err **errp)
{
	struct buf b;

	if (rf->n == RUN_FILES_MAX_COUNT ||
	    rf->bytes + size > RUN_FILES_MAX_TOTAL)
		return err_set(errp, ERR_LIMIT,
		    "--files: more than %d files or %u MiB",
		    RUN_FILES_MAX_COUNT, RUN_FILES_MAX_TOTAL >> 20);
	buf_init(&b);
	if (read_file(full, RUN_FILES_MAX_TOTAL, &b, errp) == -1)
		return err_wrap(errp, "--files");
	rf->f = xreallocarray(rf->f, rf->n + 1, sizeof *rf->f);
	rf->f[rf->n].path = xstrdup(rel);
	rf->f[rf->n].data = b.data ? b.data : xstrdup("");
	rf->f[rf->n++].len = b.len;
	rf->bytes += b.len;
	return 0;
}

/* Whether a directory entry is one --files leaves out. */
static int
files_skip(const char *name)
{
	static const char *const skip[] = { ".", "..", ".git", "node_modules",
		"__pycache__", ".venv", "venv", ".tox", ".mypy_cache" };
	size_t i;

	for (i = 0; i < nitems(skip); i++)
		if (strcmp(name, skip[i]) == 0)
			return 1;
	return 0;
}

/*
 * Collect a local directory for /sandbox: regular files only, symbolic
 * links never followed, the usual bulky folders skipped, bounded.
 */
static int
files_walk(const char *root, const char *rel, struct run_files *rf, int depth,
    struct err **errp)
{
	cleanup_free char *dir = NULL;
	struct dirent *de;
	struct stat st;
	char *sub, *full;
	DIR *d;
	int rc = 0;

	dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	if (depth > RUN_FILES_MAX_DEPTH)
		return err_set(errp, ERR_LIMIT,
		    "--files: cannot read `%s`: too deep", dir);
	if ((d = opendir(dir)) == NULL)
		return err_set(errp, ERR_SYS, "--files: cannot read `%s`: %s",
		    dir, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (files_skip(de->d_name))
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, de->d_name)
		           : xstrdup(de->d_name);
		full = xasprintf("%s/%s", root, sub);
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			rc = files_walk(root, sub, rf, depth + 1, errp);
		else if (lstat(full, &st) == 0 && S_ISREG(st.st_mode))
			rc = files_add(rf, full, sub, (size_t)st.st_size, errp);
		free(sub);
		free(full);
	}
	closedir(d);
	return rc;
}

/* --files DIR: every file below it, into rf. */
int
run_files_dir(const char *dir, struct run_files *rf, struct err **errp)
{
	struct stat st;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		return err_set(errp, ERR_INVALID,
		    "--files wants a directory, `%s` is not one", dir);
	return files_walk(dir, "", rf, 0, errp);
}

/* Write a --get file; -1 with errno. */
static int
write_local(const char *path, const char *data, size_t len)
{
	ssize_t n;
	int fd, saved;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, data, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			saved = n == 0 ? EIO : errno;
			close(fd);
			errno = saved;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/*
 * Write the --get files of a finished run to their local names (one per
 * output, in order); each failure is said. 1 when one could not be read
 * or written, else 0.
 */
int
run_files_get(const struct isol8_result *r, char *const *locals)
{
	const struct isol8_output_file *o;
	size_t i;
	int failed = 0;

	for (i = 0; i < r->outputs_len; i++) {
		o = &r->outputs[i];
		if (o->error != NULL) {
			cli_error("--get %s: %s", o->path, o->error);
			failed = 1;
		} else if (write_local(locals[i], o->data, o->len) == -1) {
			cli_error("--get: cannot write `%s`: %s", locals[i],
			    strerror(errno));
			failed = 1;
		}
	}
	return failed;
}
