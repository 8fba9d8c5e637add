/*
 * isol8 batch: run a job list (JSON Lines, docs/batch.md) at bounded
 * concurrency on one engine, writing one JSON result per job as it ends.
 * This file is the command -- flags, the job file and the results file,
 * the engine, the exit status; batch.h lists the files that do the rest.
 *
 * Invariants:
 * - the input is streamed: at most `concurrency` jobs are parsed and in
 *   flight, lines are capped at BATCH_MAX_LINE, and with --order input at
 *   most BATCH_ORDER_MAX results wait for an earlier one (reading pauses
 *   meanwhile);
 * - every line gets exactly one result line (or none when --resume finds
 *   it done): a malformed line, an unknown runtime, a missing file or a
 *   duplicate id is that line's error result, never the batch's end; a job
 *   whose sandbox was lost mid-run (ISOL8_ELOST: dockerd restarted, its
 *   container was killed) runs once more and its one line says "retried";
 * - dockerd going away pauses the batch (the engine holds jobs that have
 *   not started, for --docker-wait) instead of failing what is left;
 * - results are flushed as they are written, so a crash loses at most the
 *   jobs in flight (and may leave a torn last line, which --resume cuts:
 *   batch_resume.c); Ctrl-C cancels those (results say so), removes their
 *   containers and exits 130;
 * - a results file that cannot be written stops the batch: running jobs
 *   are cancelled, the failure is said once, and the status is 125 (141
 *   for a reader that went away).
 * Memory per job seen is 8 bytes (a hash of its id, for duplicates); the
 * latency percentiles come from a fixed histogram.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"

static void
input_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_pump(arg);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct batch *b = arg;

	(void)what;
	b->interrupted = (int)sig;
	batch_stop(b);
	batch_pump(b);
}

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_progress(arg);
}

/*
 * --resume FILE: jobs with a final result there are skipped. When the
 * batch appends to that same file, it is repaired first (batch_resume.c):
 * a torn last line is cut and lines without a final result go -- their
 * jobs run again -- so that the file ends with one line per job.
 */
static int
load_resume(struct batch *b, const char *path, int same, struct err **errp)
{
	struct batch_resume rs;

	if (batch_resume_load(path, same, &b->resume, &rs, errp) == -1)
		return err_wrap(errp, "--resume: cannot %s `%s`",
		    same ? "repair" : "read", path);
	if (same && !b->quiet && rs.torn)
		cli_error(
		    "--resume: `%s` ended with a torn line (its writer was killed): cut, that job runs again",
		    path);
	if (same && !b->quiet && rs.dropped > 0)
		cli_error(
		    "--resume: removed %llu line(s) without a final result from `%s`: those jobs run again",
		    (unsigned long long)rs.dropped, path);
	return 0;
}

static void
batch_usage(FILE *f)
{
	fprintf(f,
	    "Usage: isol8 batch [options] JOBS\n\n"
	    "Run a job list: JSON Lines (a file, or - for stdin), one job a line:\n"
	    "  {\"id\": \"a1\", \"runtime\": \"python\", \"code\": \"...\"}\n"
	    "with exactly one of code/file/cmd/argv and optional workdir, stdin, timeout,\n"
	    "memory, cpu, pids, env, files, outputs (docs/batch.md). One JSON result per job.\n\n"
	    "  -c, --concurrency N    jobs in flight (default 4 x cores)\n"
	    "  -o, --output FILE      results to FILE (default stdout)\n"
	    "      --order MODE       completion (default) or input\n"
	    "      --resume FILE      skip jobs with a final result in FILE (an earlier\n"
	    "                         --output); the same FILE is repaired and appended to\n"
	    "      --docker-wait MS   dockerd went away: wait this long for it (60000;\n"
	    "                         0: stop at once)\n"
	    "      --fail-fast        stop at the first failed job\n"
	    "      --reuse            scrub and reuse containers (faster; same limits only)\n"
	    "      --summary          totals and latency on stderr at the end\n"
	    "      --json-summary     the same, as JSON\n"
	    "      --host URL         run the jobs on an isol8 serve (ISOL8_HOST,\n"
	    "                         remote.host; \"\": run locally)\n"
	    "      --key KEY          its API key (ISOL8_API_KEY, remote.key)\n"
	    "      --stall-timeout MS --host: give up on a server that sends nothing\n"
	    "                         for this long (45s; remote.stallTimeoutMs)\n"
	    "  -q, --quiet            no progress bar\n"
	    "  defaults for every job: -r/--runtime, --timeout, --memory, --cpu, --pids,\n"
	    "  --sandbox-size, --tmp-size, --net, --max-output, --env K=V, --image\n\n"
	    "exit status: 0 every job ran (whatever its exit code), 1 some job could\n"
	    "not run (or --fail-fast stopped), 130 interrupted, 2 usage, 3 Docker\n"
	    "unavailable, 4 images missing, 125 results could not be written (141:\n"
	    "the reader of stdout went away).\n");
}

/* Where the jobs come from and where results go. */
struct batch_paths {
	const char *jobs;
	const char *out;
	const char *resume;
};

enum {
	O_ENV = 256,
	O_ORDER,
	O_RESUME,
	O_FAILFAST,
	O_REUSE,
	O_SUMMARY,
	O_JSUMMARY,
	O_DOCKER_WAIT,
	O_HOST,
	O_KEY,
	O_STALL,
};

/* One flag (the limit flags shared with `run` go to cli_limit_opt). */
static int
batch_opt(struct batch *b, int ch, const char *arg, struct batch_paths *p,
    struct err **errp)
{
	uint64_t u;

	switch (ch) {
	case 'c':
		if (cli_uint("--concurrency", arg, 1024, &u, errp) == -1)
			return -1;
		b->conc = (unsigned)u;
		return 0;
	case 'o':
		p->out = arg;
		return 0;
	case O_ORDER:
		if (strcmp(arg, "input") == 0)
			b->emit.ordered = 1;
		else if (strcmp(arg, "completion") != 0)
			return err_set(errp, ERR_INVALID,
			    "--order wants input or completion, got `%s`", arg);
		return 0;
	case O_RESUME:
		p->resume = arg;
		return 0;
	case O_DOCKER_WAIT:
		/* 0 is allowed: do not wait. */
		if (parse_uint(arg, BATCH_DOCKER_WAIT_MAX, &u) == -1)
			return err_set(errp, ERR_INVALID,
			    "--docker-wait wants milliseconds from 0 to %llu, got `%s`",
			    (unsigned long long)BATCH_DOCKER_WAIT_MAX, arg);
		b->docker_wait_ms = u;
		return 0;
	case 'r':
		if (!isol8_runtime_known(arg))
			return err_set(errp, ERR_INVALID,
			    "unknown runtime `%s` (python, node, bun, deno, bash)",
			    arg);
		b->defaults.runtime = arg;
		return 0;
	case O_ENV:
		return cli_kv("--env", arg, &b->env, &b->env_len, errp);
	case O_FAILFAST:
		b->fail_fast = 1;
		return 0;
	case O_REUSE:
		b->reuse = 1;
		return 0;
	case O_SUMMARY:
		b->summary = 1;
		return 0;
	case O_JSUMMARY:
		b->json_summary = 1;
		return 0;
	case 'q':
		b->quiet = 1;
		return 0;
	case O_HOST:
		b->host = arg;
		return 0;
	case O_KEY:
		b->key = arg;
		return 0;
	case O_STALL:
		return cli_stall_opt(arg, &b->stall_ms, errp);
	}
	/* Not a limit flag either: getopt said what was wrong. */
	return cli_limit_opt(ch, arg, &b->defaults, errp) == 1 ? 0 : -1;
}

/* The flags; 0 to go on, else the exit status (2, or -1 for --help). */
static int
batch_args(struct batch *b, int argc, char **argv, struct batch_paths *p)
{
	static const struct option opts[] = {
		{ "concurrency", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "order", required_argument, NULL, O_ORDER },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "docker-wait", required_argument, NULL, O_DOCKER_WAIT },
		{ "fail-fast", no_argument, NULL, O_FAILFAST },
		{ "reuse", no_argument, NULL, O_REUSE },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "json-summary", no_argument, NULL, O_JSUMMARY },
		{ "quiet", no_argument, NULL, 'q' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "env", required_argument, NULL, O_ENV },
		{ "host", required_argument, NULL, O_HOST },
		{ "key", required_argument, NULL, O_KEY },
		{ "stall-timeout", required_argument, NULL, O_STALL },
		CLI_LIMIT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct err *e = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:o:qr:h", opts, NULL)) != -1) {
		if (ch == 'h') {
			batch_usage(stdout);
			return -1;
		}
		if (batch_opt(b, ch, optarg, p, &e) == -1)
			return cli_fail(&e, EXIT_USAGE);
	}
	if (optind + 1 != argc) {
		cli_error("give one JOBS file (or - for stdin)");
		return EXIT_USAGE;
	}
	if (config_client(&b->cfg, &b->host, &b->key, &e) == -1)
		return cli_fail(&e, EXIT_USAGE);
	p->jobs = argv[optind];
	return 0;
}

/* The job list, an earlier results file, and where results go. */
static int
batch_open(struct batch *b, const struct batch_paths *p, struct err **errp)
{
	struct stat st, os;
	char *dircopy;
	int same, fd = 0;

	if (strcmp(p->jobs, "-") != 0) {
		if ((fd = open(p->jobs, O_RDONLY | O_CLOEXEC)) == -1)
			return err_set(errp, ERR_SYS, "cannot read `%s`: %s",
			    p->jobs, strerror(errno));
		dircopy = xstrdup(p->jobs);
		b->dir = xstrdup(dirname(dircopy));
		free(dircopy);
	}
	batch_reader_init(&b->rd, fd);
	if (fstat(fd, &st) == -1 || S_ISDIR(st.st_mode))
		return err_set(
		    errp, ERR_INVALID, "`%s` is not a job file", p->jobs);
	if (S_ISREG(st.st_mode))
		b->st.total_lines = batch_count_lines(fd);
	else
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* Resuming into the same file appends to it, once repaired. */
	same = p->resume != NULL && p->out != NULL &&
	    stat(p->resume, &os) == 0 && stat(p->out, &st) == 0 &&
	    os.st_ino == st.st_ino && os.st_dev == st.st_dev;
	if (p->resume != NULL && load_resume(b, p->resume, same, errp) == -1)
		return -1;
	if (p->out == NULL) {
		b->emit.out = &cli_stdout;
		return 0;
	}
	b->emit.out = &b->file;
	cli_out_init(&b->file, fopen(p->out, same ? "ae" : "we"), p->out);
	if (b->file.f == NULL)
		return err_set(errp, ERR_SYS, "cannot write `%s`: %s", p->out,
		    strerror(errno));
	return 0;
}

/* The engine: one-use or reuse pool, waiting out dockerd restarts. */
static int
batch_engine(struct batch *b)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;

	config_engine_opts(&b->cfg, &eo);
	eo.pool_shared = 0;
	eo.pool_reuse = b->reuse;
	eo.max_concurrent = b->conc;
	eo.docker_wait_ms = b->docker_wait_ms;
	/* On a server: the same jobs and results, its pool (docs/api.md). */
	eo.remote_url = b->host;
	eo.remote_key = b->key;
	if (b->stall_ms != 0)
		eo.remote_stall_ms = b->stall_ms;
	/* Reuse: a container per job in flight; one-use: a few ready. */
	eo.pool_size = b->reuse ? b->conc : b->conc < 8 ? b->conc : 8;
	if ((b->e = isol8_engine_new(b->base, &eo, &err)) == NULL)
		return cli_exit_for(&err);
	return 0;
}

/* The exit status once the loop is over (docs/batch.md). */
static int
batch_status(struct batch *b)
{
	int st;

	if (b->interrupted) {
		if (!b->quiet)
			cli_error(
			    "interrupted: %llu results written; rerun with --resume to continue",
			    (unsigned long long)b->st.done);
		return 128 + b->interrupted;
	}
	/* Results that were not written decide, whatever the jobs did. */
	if ((st = cli_out_status(b->emit.out)) != 0)
		return st;
	if (b->unavailable)
		return b->unavailable;
	return b->st.errors > 0 || (b->fail_fast && b->stopping) ? 1 : 0;
}

static void
batch_free(struct batch *b)
{
	cli_engine_free(b->base, b->e, CLI_DRAIN_MS);
	batch_emit_free(&b->emit);
	if (b->in_ev != NULL)
		event_free(b->in_ev);
	if (b->progress_ev != NULL)
		event_free(b->progress_ev);
	if (b->sigint != NULL)
		event_free(b->sigint);
	if (b->sigterm != NULL)
		event_free(b->sigterm);
	cli_base_free(b->base);
	if (b->rd.fd > 0)
		close(b->rd.fd);
	if (b->file.f != NULL)
		cli_out_close(&b->file);
	batch_reader_free(&b->rd);
	cli_kv_free(b->env, b->env_len);
	batch_ids_free(&b->ids);
	batch_ids_free(&b->resume);
	free(b->dir);
	config_free(&b->cfg);
	free(b);
}

/* The configuration's defaults, then the flags; 0, or the exit status. */
static int
batch_setup(struct batch *b, int argc, char **argv, struct batch_paths *p)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct err *cerr = NULL;
	int rc;

	if (config_load(&b->cfg, NULL, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	config_start(&b->cfg, "batch", 0);
	isol8_request_init(&b->defaults);
	config_request(&b->cfg, &b->defaults);
	b->defaults.runtime = b->cfg.runtime;
	b->conc = (unsigned)(cores > 0 ? cores * 4 : 8);
	b->reuse = b->cfg.pool_reuse;
	b->docker_wait_ms = b->cfg.batch_docker_wait_ms;
	cli_kv_copy(b->cfg.env, b->cfg.env_len, &b->env, &b->env_len);
	if ((rc = batch_args(b, argc, argv, p)) != 0)
		return rc;
	/* Every job: the configuration's env and --env first, its own after. */
	b->defaults.env = b->env;
	b->defaults.env_len = b->env_len;
	config_network(&b->cfg, &b->defaults);
	return 0;
}

/* The events of a batch: input, Ctrl-C and TERM, the progress bar. */
static void
batch_events(struct batch *b)
{
	struct timeval tick = { 0, 250000 };

	b->in_ev = event_new(b->base, b->rd.fd, EV_READ, input_cb, b);
	b->sigint = evsignal_new(b->base, SIGINT, signal_cb, b);
	b->sigterm = evsignal_new(b->base, SIGTERM, signal_cb, b);
	event_add(b->sigint, NULL);
	event_add(b->sigterm, NULL);
	b->tty = !b->quiet && isatty(2);
	if (b->tty) {
		b->progress_ev =
		    event_new(b->base, -1, EV_PERSIST, progress_cb, b);
		event_add(b->progress_ev, &tick);
	}
}

static int
cmd_batch(int argc, char **argv)
{
	struct batch *b = xcalloc(1, sizeof *b);
	struct batch_paths paths = { NULL, NULL, NULL };
	struct err *e = NULL;
	int rc;

	b->rd.fd = -1;
	TAILQ_INIT(&b->items);
	if ((rc = batch_setup(b, argc, argv, &paths)) != 0) {
		rc = rc == -1 ? 0 : rc; /* -1: --help */
		goto out;
	}
	if (batch_open(b, &paths, &e) == -1) {
		rc = cli_fail(&e, EXIT_USAGE);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if ((rc = batch_engine(b)) != 0)
		goto out;
	batch_events(b);
	b->st.t0 = now_ms();
	batch_pump(b);
	if (!batch_over(b))
		event_base_dispatch(b->base);
	if (b->tty) {
		batch_progress(b);
		fputc('\n', stderr);
	}
	if (b->summary || b->json_summary)
		batch_summary(b);
	/* Everything written must be on disk (or on stdout) before the end. */
	cli_out_close(b->emit.out);
	rc = batch_status(b);
out:
	batch_free(b);
	return rc;
}

const struct cli_cmd cmd_batch_entry = { "batch",
	"run a job list (JSON Lines) at high concurrency", cmd_batch };
