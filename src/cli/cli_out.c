/*
 * Where the CLI's results go -- stdout, `run --out FILE`, a batch results
 * file -- as checked sinks. Every write is checked; the first failure is
 * kept, said once ("isol8: cannot write stdout: No space left on device")
 * and becomes the exit status (cli_out_status); later writes to a failed
 * sink are dropped silently. A reader that went away (EPIPE, `| head`) is
 * not worth a message: the status is EXIT_PIPE (141), what a shell shows
 * for a process killed by SIGPIPE -- the CLI ignores SIGPIPE because the
 * library writes to sockets, so it has to say it by itself.
 *
 * Invariants:
 * - descriptors 0, 1 and 2 are always taken (cli_stdio_init): a closed
 *   stdout (`>&-`) stays unusable -- writes fail with EBADF -- instead of
 *   letting the next open() (a results file, dockerd's socket) become
 *   descriptor 1 and receive the program's output;
 * - cli_stdout is the process's stdout for every command: main() flushes
 *   and checks it once at the end (cli_out_finish), so that a command that
 *   only printf()s still fails when its output was lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct cli_out cli_stdout = { NULL, "stdout", 0, 0 };
/* The program's stderr in `run`: nowhere to say that it failed. */
struct cli_out cli_stderr = { NULL, "stderr", 0, 1 };

/*
 * Take whichever of 0, 1, 2 is closed with /dev/null opened the other
 * way round (stdin write-only, stdout and stderr read-only), so that using
 * it fails as the closed descriptor would have.
 */
void
cli_stdio_init(void)
{
	int fd, want;

	for (want = 0; want <= 2; want++) {
		if (fcntl(want, F_GETFD) != -1 || errno != EBADF)
			continue;
		fd = open("/dev/null", want == 0 ? O_WRONLY : O_RDONLY);
		if (fd != want && fd != -1) {
			/* A lower one was closed too and is taken now. */
			dup2(fd, want);
			close(fd);
		}
	}
	cli_stdout.f = stdout;
	cli_stderr.f = stderr;
}

void
cli_out_init(struct cli_out *o, FILE *f, const char *name)
{
	memset(o, 0, sizeof *o);
	o->f = f;
	o->name = name;
}

/*
 * Keep the first failure of o and say it, once. err 0: a write that
 * stdio made on its own failed earlier, and its errno is gone.
 */
static void
cli_out_fail(struct cli_out *o, int err)
{
	int std = o->f == stdout || o->f == stderr;

	if (o->err != 0)
		return;
	o->err = err ? err : EIO;
	if (o->err != EPIPE && !o->quiet)
		cli_error("cannot write %s%s%s: %s", std ? "" : "`", o->name,
		    std ? "" : "`", err ? strerror(err) : "a write failed");
}

/* Write and flush len bytes; -1 once o has failed (said already). */
int
cli_out_write(struct cli_out *o, const void *data, size_t len)
{
	if (o->err != 0)
		return -1;
	errno = 0;
	if ((len > 0 && fwrite(data, 1, len, o->f) != len) ||
	    fflush(o->f) == EOF) {
		cli_out_fail(o, errno);
		return -1;
	}
	return 0;
}

/* Flush what stdio still holds and check for an earlier lost write. */
int
cli_out_flush(struct cli_out *o)
{
	if (o->err != 0)
		return -1;
	errno = 0;
	if (fflush(o->f) == EOF || ferror(o->f)) {
		cli_out_fail(o, errno);
		return -1;
	}
	return 0;
}

/*
 * Flush and close a sink opened by the command (never stdout or stderr,
 * which are only flushed); -1 when anything written to it was lost.
 */
int
cli_out_close(struct cli_out *o)
{
	int rc = cli_out_flush(o);

	if (o->f == NULL || o->f == stdout || o->f == stderr)
		return rc;
	errno = 0;
	if (fclose(o->f) == EOF && rc == 0) {
		cli_out_fail(o, errno);
		rc = -1;
	}
	o->f = NULL;
	return rc;
}

int
cli_out_failed(const struct cli_out *o)
{
	return o->err != 0;
}

/* 0 while o is fine, else the exit status its failure stands for. */
int
cli_out_status(const struct cli_out *o)
{
	if (o->err == 0)
		return 0;
	return o->err == EPIPE ? EXIT_PIPE : EXIT_INTERNAL;
}

/*
 * The end of every command: what stdout still holds is written, and a lost
 * write to stdout (or of a program's stderr in `run`) turns the status into
 * the failure's; an interrupted command keeps its 130/143. isol8's own
 * notes on stderr are not results: losing them changes nothing.
 */
int
cli_out_finish(int rc)
{
	int st;

	cli_out_flush(&cli_stdout);
	if (rc == 128 + 2 || rc == 128 + 15)
		return rc;
	if ((st = cli_out_status(&cli_stdout)) != 0)
		return st;
	if ((st = cli_out_status(&cli_stderr)) != 0)
		return st;
	return rc;
}
