/*
 * cli: result sinks (cli_out.c). A failed write is said once and decides
 * the status (125; 141 without a word for a reader that went away); a
 * closed stdout stays closed instead of becoming the next file opened.
 */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/cli.h"

/* What cli_error() said meanwhile: stderr goes to a file. */
static int saved_err = -1;
static char err_path[] = "/tmp/isol8-cli-err-XXXXXX";

static void
capture_begin(void)
{
	int fd = mkstemp(err_path);

	fflush(stderr);
	saved_err = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* The number of lines said, and the text in buf. */
static int
capture_end(char *buf, size_t len)
{
	int fd, n = 0;
	ssize_t k;
	char *p;

	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	fd = open(err_path, O_RDONLY);
	k = read(fd, buf, len - 1);
	close(fd);
	unlink(err_path);
	strcpy(err_path, "/tmp/isol8-cli-err-XXXXXX");
	buf[k > 0 ? k : 0] = '\0';
	for (p = buf; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n;
}

/* A full device: every write fails, the first is said, once. */
static int
test_full_device(void)
{
	struct cli_out o;
	char said[1024];
	int i, fails = 0;

	cli_out_init(&o, fopen("/dev/full", "w"), "/dev/full");
	if (o.f == NULL)
		return 77;
	capture_begin();
	for (i = 0; i < 3; i++)
		fails += cli_out_write(&o, "result\n", 7) == -1;
	fails += cli_out_close(&o) == -1;
	CHECK(capture_end(said, sizeof said) == 1);
	CHECK(fails == 4 && cli_out_failed(&o) && o.err == ENOSPC);
	CHECK(strstr(said, "cannot write `/dev/full`") != NULL);
	CHECK(strstr(said, strerror(ENOSPC)) != NULL);
	CHECK(cli_out_status(&o) == EXIT_INTERNAL);
	return 0;
}

/* The reader went away: a failure without a message, status 141. */
static int
test_broken_pipe(void)
{
	struct cli_out o;
	char said[256];
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	CHECK(pipe(p) == 0);
	close(p[0]);
	cli_out_init(&o, fdopen(p[1], "w"), "stdout");
	capture_begin();
	CHECK(cli_out_write(&o, "x\n", 2) == -1);
	CHECK(cli_out_write(&o, "y\n", 2) == -1);
	CHECK(capture_end(said, sizeof said) == 0);
	CHECK(o.err == EPIPE && cli_out_status(&o) == EXIT_PIPE);
	cli_out_close(&o);
	return 0;
}

/* A good file: no failure, status 0, the bytes are there. */
static int
test_good_file(void)
{
	char path[] = "/tmp/isol8-cli-out-XXXXXX", buf[16];
	struct cli_out o;
	int fd = mkstemp(path);

	cli_out_init(&o, fdopen(fd, "w"), path);
	CHECK(cli_out_write(&o, "abc", 3) == 0 && cli_out_close(&o) == 0);
	CHECK(cli_out_status(&o) == 0 && o.f == NULL);
	fd = open(path, O_RDONLY);
	CHECK(read(fd, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0);
	close(fd);
	unlink(path);
	return 0;
}

/*
 * `isol8 ... >&-`: descriptor 1 stays taken, so a file opened later does
 * not become stdout, and writing stdout fails (EBADF) as it would have.
 */
static int
test_closed_stdout(void)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		int fd;

		close(1);
		cli_stdio_init();
		cli_stdout.quiet = 1;
		fd = open("/dev/null", O_WRONLY);
		_exit(fd == 1                                        ? 10
		        : cli_out_write(&cli_stdout, "x\n", 2) != -1 ? 11
		        : cli_stdout.err != EBADF                    ? 12
		        : cli_out_finish(0) != EXIT_INTERNAL         ? 13
		                                                     : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "child status %d\n", WEXITSTATUS(st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_full_device);
	RUN_TEST(test_broken_pipe);
	RUN_TEST(test_good_file);
	RUN_TEST(test_closed_stdout);
	return TAP_DONE();
}
