/*
 * The job list of `isol8 batch`, read a line at a time from a file or a
 * pipe (non-blocking: BATCH_NEXT_WAIT says when to wait for it).
 *
 * Invariants:
 * - memory is bounded by the longest line kept: a line over BATCH_MAX_LINE
 *   is dropped as it streams by and handed out as BATCH_NEXT_LONG (its
 *   number counts; its text is gone), so the buffer never holds more than
 *   BATCH_MAX_LINE plus one read;
 * - every line is handed out once, with its number (blank ones too: the
 *   caller skips them), and the last one needs no newline;
 * - a line handed out stays valid until the next call, which drops it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"

#define READ_CHUNK (64u << 10)

void
batch_reader_init(struct batch_reader *r, int fd)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
}

void
batch_reader_free(struct batch_reader *r)
{
	buf_free(&r->in);
}

/*
 * A line of len bytes at the start of the buffer, handed out -- as LONG
 * when it is over the limit (a read can bring a long line's newline with
 * the bytes that put it over: the same line, the same answer).
 */
static enum batch_next
reader_line(struct batch_reader *r, size_t len, size_t taken, const char **line,
    size_t *n)
{
	*line = r->in.data;
	*n = len;
	r->taken = taken;
	r->lineno++;
	return len > BATCH_MAX_LINE ? BATCH_NEXT_LONG : BATCH_NEXT_LINE;
}

/*
 * Read once. 0 when something was read (or the end was reached: r->eof),
 * 1 when the end of an overlong line came by (its rest is dropped), -1
 * when there is nothing to read yet.
 */
static int
reader_fill(struct batch_reader *r)
{
	char chunk[READ_CHUNK], *nl;
	ssize_t n;

	n = read(r->fd, chunk, sizeof chunk);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		if (n == -1)
			cli_error("reading jobs: %s", strerror(errno));
		r->eof = 1;
		return 0;
	}
	if (!r->overlong) {
		buf_add(&r->in, chunk, (size_t)n);
		return 0;
	}
	/* Skipping the rest of an overlong line, up to its newline. */
	if ((nl = memchr(chunk, '\n', (size_t)n)) == NULL)
		return 0;
	r->overlong = 0;
	buf_add(&r->in, nl + 1, (size_t)(chunk + n - nl - 1));
	return 1;
}

/* The next line of the job list (see enum batch_next). */
enum batch_next
batch_reader_next(struct batch_reader *r, const char **line, size_t *len)
{
	char *nl;
	int rc;

	buf_drain(&r->in, r->taken);
	r->taken = 0;
	for (;;) {
		nl = memchr(r->in.data ? r->in.data : "", '\n', r->in.len);
		if (nl != NULL)
			return reader_line(r, (size_t)(nl - r->in.data),
			    (size_t)(nl - r->in.data) + 1, line, len);
		if (r->in.len > BATCH_MAX_LINE) {
			r->overlong = 1;
			buf_drain(&r->in, r->in.len);
		}
		if (r->eof) {
			if (r->in.len > 0)
				return reader_line(
				    r, r->in.len, r->in.len, line, len);
			if (!r->overlong)
				return BATCH_NEXT_END;
			r->overlong = 0; /* the last line, without a newline */
			r->lineno++;
			return BATCH_NEXT_LONG;
		}
		if ((rc = reader_fill(r)) == -1)
			return BATCH_NEXT_WAIT;
		if (rc == 1) {
			r->lineno++;
			return BATCH_NEXT_LONG;
		}
	}
}

/* Everything was read and handed out. */
int
batch_reader_done(const struct batch_reader *r)
{
	return r->eof && r->in.len == r->taken && !r->overlong;
}

/* The lines of a regular file, for the progress bar; rewound after. */
uint64_t
batch_count_lines(int fd)
{
	char chunk[READ_CHUNK];
	uint64_t n = 0;
	ssize_t k, i;

	while ((k = read(fd, chunk, sizeof chunk)) > 0)
		for (i = 0; i < k; i++)
			n += chunk[i] == '\n';
	lseek(fd, 0, SEEK_SET);
	return n;
}
