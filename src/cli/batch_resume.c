/*
 * A batch results file read back for --resume (docs/batch.md): which jobs
 * already have a final result, and -- when the batch appends to that same
 * file -- its repair, so that it ends up with exactly one line per job.
 *
 * A line is a result when it is complete (ends with '\n'), is one JSON
 * object, and has a string "id" and an "error" key; it is final when
 * "error" is null (the program ran, whatever its exit code). The repair
 * keeps the first final result of each id and drops every other line: a
 * torn last line (its writer was killed mid-line: never a result, even
 * when it happens to parse), error results (those jobs run again and get
 * a new line), later final results of an id already kept, and lines that
 * are not results. Only a torn tail: the file is truncated after its last
 * newline. Anything else: the kept lines are copied to a temporary file
 * next to it, which is synced and renamed over it, so that a crash during
 * the repair leaves either the old file or the new one.
 *
 * Memory does not grow with the file: lines are streamed through yajl's
 * event parser, which holds one token at a time (at most the longest
 * string of a line, which the batch that wrote it held in memory too) and
 * a byte per level of nesting, cut at JSON_MAX_DEPTH (a deeper line is not
 * a result).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>

#include "batch.h"

#define RESUME_CHUNK (64u << 10)

enum scan_key { K_OTHER, K_ID, K_ERROR };

/* One line as it streams by: only its top-level "id" and "error". */
struct scan {
	yajl_handle h;
	int bad; /* not JSON */
	int depth;
	int top_map;
	enum scan_key key;
	int has_id;
	int has_error;
	int error_null;
	uint64_t id;
};

/* One pass over the file: decisions, and the kept lines when copying. */
struct pass {
	struct batch_ids kept; /* ids whose final result was kept */
	uint64_t nkept;
	uint64_t dropped; /* complete lines dropped */
	off_t last_nl;    /* just past the last complete line */
	int torn;         /* bytes after it */
	int out;          /* where kept lines go, or -1 */
	off_t out_at;
	off_t line_at; /* where the current line started in out */
};

static void
scan_value(struct scan *s, int is_null)
{
	if (s->depth == 1 && s->key == K_ERROR) {
		s->has_error = 1;
		s->error_null = is_null;
	}
}

static int
scan_null(void *ctx)
{
	scan_value(ctx, 1);
	return 1;
}

static int
scan_bool(void *ctx, int v)
{
	(void)v;
	scan_value(ctx, 0);
	return 1;
}

static int
scan_number(void *ctx, const char *v, size_t len)
{
	(void)v;
	(void)len;
	scan_value(ctx, 0);
	return 1;
}

static int
scan_string(void *ctx, const unsigned char *v, size_t len)
{
	struct scan *s = ctx;

	if (s->depth == 1 && s->key == K_ID) {
		/* As the writer escaped it: up to a NUL (it wrote a C string). */
		s->has_id = 1;
		s->id = batch_id_hash(
		    (const char *)v, strnlen((const char *)v, len));
	} else
		scan_value(s, 0);
	return 1;
}

static int
scan_key(void *ctx, const unsigned char *k, size_t len)
{
	struct scan *s = ctx;

	if (s->depth == 1)
		s->key = len == 2 && memcmp(k, "id", 2) == 0 ? K_ID
		    : len == 5 && memcmp(k, "error", 5) == 0 ? K_ERROR
		                                             : K_OTHER;
	return 1;
}

/*
 * An array or object opens. Deeper than JSON_MAX_DEPTH, the line is not
 * a result (the batch never writes one) and the parse stops: yajl keeps a
 * byte per level, so a line of a billion `[` would take a gigabyte.
 */
static int
scan_open(struct scan *s, int map)
{
	if (s->depth == 0)
		s->top_map = map;
	else
		scan_value(s, 0);
	return ++s->depth <= (int)JSON_MAX_DEPTH;
}

static int
scan_start_map(void *ctx)
{
	return scan_open(ctx, 1);
}

static int
scan_start_array(void *ctx)
{
	return scan_open(ctx, 0);
}

static int
scan_close(void *ctx)
{
	((struct scan *)ctx)->depth--;
	return 1;
}

static void
scan_begin(struct scan *s)
{
	static const yajl_callbacks cbs = { scan_null, scan_bool, NULL, NULL,
		scan_number, scan_string, scan_start_map, scan_key, scan_close,
		scan_start_array, scan_close };

	memset(s, 0, sizeof *s);
	if ((s->h = yajl_alloc(&cbs, NULL, s)) == NULL)
		fatalx("yajl_alloc failed");
}

static void
scan_feed(struct scan *s, const char *p, size_t n)
{
	if (!s->bad && n > 0 &&
	    yajl_parse(s->h, (const unsigned char *)p, n) != yajl_status_ok)
		s->bad = 1;
}

/* 1: a final result, 0: an error result, -1: not a result at all. */
static int
scan_end(struct scan *s)
{
	if (!s->bad && yajl_complete_parse(s->h) != yajl_status_ok)
		s->bad = 1;
	yajl_free(s->h);
	s->h = NULL;
	if (s->bad || !s->top_map || !s->has_id || !s->has_error)
		return -1;
	return s->error_null;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A complete line was read: keep it, or take it back out of `out`. */
static int
pass_line_end(struct pass *ps, struct scan *sc)
{
	if (scan_end(sc) == 1 && batch_ids_add(&ps->kept, sc->id)) {
		ps->nkept++;
		return 0;
	}
	ps->dropped++;
	if (ps->out != -1) {
		/* Dropped: the next line overwrites it. */
		ps->out_at = ps->line_at;
		if (lseek(ps->out, ps->out_at, SEEK_SET) == -1)
			return -1;
	}
	return 0;
}

/*
 * Read fd to its end, deciding each complete line; with ps->out != -1,
 * kept lines are copied there (and nothing else: not the torn tail).
 */
static int
pass_run(int fd, struct pass *ps, struct err **errp)
{
	char *chunk = xmalloc(RESUME_CHUNK), *nl;
	struct scan sc;
	off_t at = 0;
	size_t start, len, step;
	ssize_t n;
	int in_line = 0, rc = -1;

	while ((n = read(fd, chunk, RESUME_CHUNK)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(errp, ERR_SYS, "%s", strerror(errno));
			goto out;
		}
		for (start = 0; start < (size_t)n; start += step) {
			if (!in_line) {
				scan_begin(&sc);
				in_line = 1;
				ps->line_at = ps->out_at;
			}
			nl = memchr(chunk + start, '\n', (size_t)n - start);
			len = nl ? (size_t)(nl - chunk) - start
			         : (size_t)n - start;
			step = len + (nl != NULL);
			scan_feed(&sc, chunk + start, len);
			if (ps->out != -1 &&
			    write_all(ps->out, chunk + start, step) == -1) {
				err_set(errp, ERR_SYS, "writing a copy: %s",
				    strerror(errno));
				goto out;
			}
			ps->out_at += (off_t)step;
			at += (off_t)step;
			if (nl == NULL)
				break;
			in_line = 0;
			ps->last_nl = at;
			if (pass_line_end(ps, &sc) == -1) {
				err_set(errp, ERR_SYS, "%s", strerror(errno));
				goto out;
			}
		}
	}
	ps->torn = at > ps->last_nl;
	/* The torn tail (copied as it came) is not kept. */
	if (ps->out != -1 && ps->torn) {
		ps->out_at = ps->line_at;
		if (ftruncate(ps->out, ps->out_at) == -1) {
			err_set(errp, ERR_SYS, "%s", strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	if (in_line)
		yajl_free(sc.h);
	free(chunk);
	return rc;
}

/* Copy the kept lines of fd to a new file renamed over path. */
static int
resume_rewrite(int fd, const char *path, struct err **errp)
{
	struct pass ps;
	struct stat st;
	char *real = NULL, *tmp = NULL;
	int rc = -1;

	memset(&ps, 0, sizeof ps);
	ps.out = -1;
	/* The file itself, not a symbolic link to it, is replaced. */
	if ((real = realpath(path, NULL)) == NULL || fstat(fd, &st) == -1) {
		err_set(errp, ERR_SYS, "%s", strerror(errno));
		goto out;
	}
	tmp = xasprintf("%s.repair-XXXXXX", real);
	if ((ps.out = mkostemp(tmp, O_CLOEXEC)) == -1) {
		err_set(errp, ERR_SYS, "cannot create `%s`: %s", tmp,
		    strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(ps.out, st.st_mode & 07777) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		err_set(errp, ERR_SYS, "%s", strerror(errno));
		goto out;
	}
	if (pass_run(fd, &ps, errp) == -1)
		goto out;
	if (ftruncate(ps.out, ps.out_at) == -1 || fsync(ps.out) == -1 ||
	    close(ps.out) == -1) {
		ps.out = -1;
		err_set(
		    errp, ERR_SYS, "writing `%s`: %s", tmp, strerror(errno));
		goto out;
	}
	ps.out = -1;
	if (rename(tmp, real) == -1) {
		err_set(errp, ERR_SYS, "%s", strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (ps.out != -1)
		close(ps.out);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	batch_ids_free(&ps.kept);
	free(real);
	return rc;
}

/*
 * Read the results file at path: the ids of its final results go into
 * *done. With `repair` (the batch appends to this file), make the file
 * hold only those results, one line each. A missing file is empty.
 */
int
batch_resume_load(const char *path, int repair, struct batch_ids *done,
    struct batch_resume *st, struct err **errp)
{
	struct pass ps;
	int fd, rc = -1;

	memset(st, 0, sizeof *st);
	memset(&ps, 0, sizeof ps);
	ps.out = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0; /* nothing to resume yet */
		return err_set(errp, ERR_SYS, "%s", strerror(errno));
	}
	if (pass_run(fd, &ps, errp) == -1)
		goto out;
	st->results = ps.nkept;
	st->dropped = ps.dropped;
	st->torn = ps.torn;
	if (repair && ps.dropped > 0) {
		if (resume_rewrite(fd, path, errp) == -1)
			goto out;
	} else if (repair && ps.torn && truncate(path, ps.last_nl) == -1) {
		err_set(errp, ERR_SYS, "cutting its torn last line: %s",
		    strerror(errno));
		goto out;
	}
	*done = ps.kept;
	memset(&ps.kept, 0, sizeof ps.kept);
	rc = 0;
out:
	batch_ids_free(&ps.kept);
	close(fd);
	return rc;
}
