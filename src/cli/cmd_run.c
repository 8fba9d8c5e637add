/*
 * isol8 run: one execution. Code comes from -e, a file, a URL or stdin;
 * when it comes from -e, a file or a URL, a piped stdin becomes the
 * program's stdin and is streamed with backpressure. Output streams as it
 * arrives (and to --out); --no-stream holds it (at most --max-output) and
 * prints it when the run ends, stdout then stderr; --json prints one
 * result object instead (api_result_write, the shape `isol8 serve`
 * answers with too). The exit status is the program's own, or one of the
 * codes in cli.h (docs/cli.md).
 *
 * The command is four steps: the flags into struct run_opts (run_parse),
 * those into a request (run_code, run_request; run_opts.c), the run on the
 * command's own event_base (run_loop: a --url's code fetched first, a
 * --setup made, then the run -- in a session, the setup's own run first),
 * and what it says and returns (run_report).
 *
 * Output that cannot be delivered ends the run: the first failed write to
 * stdout, to the program's stderr or to --out is said once (cli_out.c),
 * the run is cancelled (its container removed), and the status is 125 --
 * or 141 without a message when stdout's reader went away (`| head`).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "run.h"
#include "../api/api.h"
#include "../util/util.h"

#define RUN_STDIN_HIGH (1u << 20)

/* The run in flight, on the command's own event_base. */
struct run_ctx {
	struct event_base *base;
	struct isol8_engine *e;
	struct isol8_run *run;
	const char *runtime;
	struct cli_out file; /* --out, when given (file.f != NULL) */
	int output_lost;     /* a sink failed: the run was stopped */
	int json;
	int no_stream; /* hold the output (out, err) until the end */
	int quiet;
	int log_network;
	char *const *locals;
	struct buf out;
	struct buf err;
	struct buf report; /* --json: the object; --log-network: the array */
	struct isol8_result result; /* its pointers cleared: on_done only */
	struct isol8_error error;
	int failed;
	int done;
	int stdin_regular;
	int fetch_failed;
	int exit_status;
	struct event *stdin_ev;
	struct event *stdin_retry;
	struct event *sigint;
	struct event *sigterm;
	int interrupted;
	int remote; /* --host: errors are the server's, not Docker's */
};

/*
 * The exit status for an engine error, said on stderr. A remote run's
 * messages say the server's status themselves (not "Docker is not
 * running"); the codes are the same (docs/cli.md).
 */
static int
ctx_exit_for(const struct run_ctx *c, const struct isol8_error *e)
{
	if (!c->remote)
		return cli_exit_for(e);
	if (e->code != ISOL8_ECANCELLED)
		cli_error("%s", e->message);
	return cli_exit_code(e);
}

/* ---- the run: its callbacks, stdin, signals, the status ---- */

/* Deliver program output; a sink that failed stops the run, once. */
static void
ctx_write(struct run_ctx *c, struct cli_out *o, const char *data, size_t len)
{
	if (cli_out_write(o, data, len) == 0 || c->output_lost)
		return;
	c->output_lost = 1;
	if (c->run != NULL)
		isol8_run_cancel(c->run);
}

static void
on_stdout(const char *data, size_t len, void *arg)
{
	struct run_ctx *c = arg;

	if (c->json || c->no_stream)
		buf_add(&c->out, data, len);
	else
		ctx_write(c, &cli_stdout, data, len);
	if (c->file.f != NULL)
		ctx_write(c, &c->file, data, len);
}

static void
on_stderr(const char *data, size_t len, void *arg)
{
	struct run_ctx *c = arg;

	if (c->json || c->no_stream)
		buf_add(&c->err, data, len);
	else
		ctx_write(c, &cli_stderr, data, len);
}

/*
 * What the report needs from a result that is valid now only: the --json
 * object, or the --log-network decisions (when there were any).
 */
static void
ctx_report(struct run_ctx *c, const struct isol8_result *res,
    const struct isol8_error *e)
{
	struct api_result a = { 0 };

	if (c->json) {
		a.runtime = c->runtime;
		a.res = res;
		a.out = c->out.data;
		a.out_len = c->out.len;
		a.err = c->err.data;
		a.err_len = c->err.len;
		a.error = e != NULL ? e->message : NULL;
		api_result_write(API_RUN, &a, &c->report);
		buf_addstr(&c->report, "\n");
	} else if (c->log_network &&
	    (res->net_events_len > 0 || res->net_events_dropped > 0))
		api_network_write(res, &c->report);
}

static void
on_done(const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct run_ctx *c = arg;

	c->result = *res;
	c->result.container_id = NULL;
	c->result.outputs = NULL;
	c->result.net_events = NULL;
	c->fetch_failed = run_files_get(res, c->locals);
	if (e != NULL) {
		c->error = *e;
		c->failed = 1;
	}
	ctx_report(c, res, e);
	c->done = 1;
	c->run = NULL;
	if (c->stdin_ev != NULL)
		event_del(c->stdin_ev);
	if (c->stdin_retry != NULL)
		event_del(c->stdin_retry);
	event_base_loopbreak(c->base);
}

/* Move stdin to the program while it keeps up (RUN_STDIN_HIGH queued). */
static void
stdin_pump(evutil_socket_t fd, short what, void *arg)
{
	struct run_ctx *c = arg;
	struct timeval tv = { 0, 5000 };
	char chunk[65536];
	ssize_t n;

	(void)fd;
	(void)what;
	while (c->run != NULL) {
		if (isol8_run_stdin_pending(c->run) >= RUN_STDIN_HIGH) {
			if (c->stdin_ev != NULL)
				event_del(c->stdin_ev);
			evtimer_add(c->stdin_retry, &tv);
			return;
		}
		n = read(0, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			isol8_run_close_stdin(c->run);
			if (c->stdin_ev != NULL)
				event_del(c->stdin_ev);
			return;
		}
		isol8_run_write_stdin(c->run, chunk, (size_t)n);
		if (!c->stdin_regular) {
			/* A pipe: wait until it is readable again. */
			event_add(c->stdin_ev, NULL);
			return;
		}
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct run_ctx *c = arg;

	(void)what;
	c->interrupted = (int)sig;
	if (c->run != NULL)
		isol8_run_cancel(c->run);
}

/* A session's interpreter ended: say that its variables are gone. */
static void
state_notice(const struct run_ctx *c, const struct isol8_request *req)
{
	const struct isol8_result *r = &c->result;
	char why[64];

	if (r->state_lost == ISOL8_STATE_FRESH) {
		cli_error(
		    "session `%s`: a fresh %s interpreter ran this (the last one ended): variables from earlier runs are gone, files are kept",
		    req->session, c->runtime);
		return;
	}
	if (r->timed_out)
		snprintf(why, sizeof why, "timed out");
	else if (r->oom_killed)
		snprintf(why, sizeof why, "over the memory limit");
	else if (r->truncated)
		snprintf(why, sizeof why, "stopped at the output limit");
	else if (r->signal != 0)
		snprintf(why, sizeof why, "killed by signal %d", r->signal);
	else
		snprintf(why, sizeof why, "exited with code %d", r->exit_code);
	cli_error(
	    "session `%s`: the %s interpreter ended (%s): its variables are gone, files are kept; the next run starts a fresh one",
	    req->session, c->runtime, why);
}

/* The exit status for a finished run, with a one-line note on stderr. */
static int
run_status(struct run_ctx *c, const struct isol8_request *req)
{
	const struct isol8_result *r = &c->result;

	if (c->interrupted)
		return 128 + c->interrupted; /* 130 for Ctrl-C, 143 for TERM */
	if (c->failed)
		/* --json: the message is in the object's `error`. */
		return c->json ? cli_exit_code(&c->error)
		               : ctx_exit_for(c, &c->error);
	if (r->state_lost != ISOL8_STATE_KEPT && !c->quiet)
		state_notice(c, req);
	if (r->timed_out) {
		if (!c->quiet)
			cli_error("timed out after %llu ms (raise --timeout)",
			    (unsigned long long)req->timeout_ms);
		return EXIT_TIMEOUT;
	}
	if (r->oom_killed) {
		if (!c->quiet)
			cli_error(
			    "killed: over the %llu MiB memory limit (raise --memory)",
			    (unsigned long long)(req->memory >> 20));
		return EXIT_OOM;
	}
	if (r->truncated) {
		if (!c->quiet)
			cli_error(
			    "output truncated at %llu bytes and the program stopped (raise --max-output)",
			    (unsigned long long)req->max_output);
		return EXIT_TRUNCATED;
	}
	return r->exit_code;
}

/*
 * Close --out and flush stdout: output that did not arrive decides the
 * status (125, or 141 for a reader that went away), unless interrupted.
 */
static int
run_outputs_status(struct run_ctx *c, int rc)
{
	int st;

	if (c->file.f != NULL)
		cli_out_close(&c->file);
	cli_out_flush(&cli_stdout);
	if (c->interrupted)
		return rc;
	if ((st = cli_out_status(&cli_stdout)) != 0 ||
	    (st = cli_out_status(&cli_stderr)) != 0 ||
	    (st = cli_out_status(&c->file)) != 0)
		return st;
	return rc;
}

/*
 * The run is over but replacements for the warm container we used are
 * still being created: let a detached child finish them, so the caller
 * gets our exit status now. The parent exits only once the child has let
 * go of the caller's stdin, stdout and stderr (the pipe's EOF): a caller
 * that reads our output to its end and then waits for our exit must find
 * both, in that order, never the exit with the pipes still open. Returns
 * in the child only (0), or -1.
 */
static int
detach_refill(struct run_ctx *c)
{
	pid_t pid;
	int fd, gone[2];
	char b;

	fflush(stdout);
	fflush(stderr);
	if (pipe2(gone, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(gone[0]);
		close(gone[1]);
		return -1;
	}
	if (pid > 0) {
		close(gone[1]);
		/* EOF: the child has closed its end after its dup2()s. */
		while (read(gone[0], &b, 1) == -1 && errno == EINTR)
			;
		_exit(c->exit_status);
	}
	close(gone[0]);
	setsid();
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	close(gone[1]);
	event_reinit(c->base);
	return 0;
}

/* ---- the command: parse, request, loop, report ---- */

/* --out FILE: opened before the run, so that a bad path fails first. */
static int
run_open_out(struct run_ctx *c, const char *path, struct err **errp)
{
	if (path == NULL)
		return 0;
	cli_out_init(&c->file, fopen(path, "we"), path);
	if (c->file.f == NULL)
		return err_set(errp, ERR_SYS, "cannot write `%s`: %s", path,
		    strerror(errno));
	return 0;
}

/* Ctrl-C and TERM on the run's base, from its start (a fetch) on. */
static void
run_signals(struct run_ctx *c)
{
	c->sigint = evsignal_new(c->base, SIGINT, on_signal, c);
	c->sigterm = evsignal_new(c->base, SIGTERM, on_signal, c);
	event_add(c->sigint, NULL);
	event_add(c->sigterm, NULL);
}

/* A streamed stdin, to the run that has started. */
static void
run_stdin(struct run_ctx *c, const struct isol8_request *req)
{
	if (!req->stdin_stream)
		return;
	c->stdin_retry = evtimer_new(c->base, stdin_pump, c);
	if (c->stdin_regular)
		event_active(c->stdin_retry, EV_TIMEOUT, 0);
	else {
		c->stdin_ev = event_new(c->base, 0, EV_READ, stdin_pump, c);
		event_add(c->stdin_ev, NULL);
	}
}

/* One run on the loop, until its on_done: 0, or why it did not start. */
static int
run_one(struct run_ctx *c, const struct isol8_request *req)
{
	static const struct isol8_callbacks cbs = { on_stdout, on_stderr,
		on_done };
	struct isol8_error err;

	c->done = 0;
	c->report.len = 0;
	if ((c->run = isol8_run_start(c->e, req, &cbs, c, &err)) == NULL)
		return ctx_exit_for(c, &err);
	cli_debugf("[Run] Started (%s%s)", req->runtime ? req->runtime : "bash",
	    req->cmd != NULL && req->code == NULL ? ", a command line" : "");
	run_stdin(c, req);
	while (!c->done)
		event_base_loop(c->base, EVLOOP_ONCE);
	cli_debugf(
	    "[Run] Completed: exitCode=%d, durationMs=%llu, truncated=%d, timedOut=%d",
	    c->result.exit_code, (unsigned long long)c->result.run_ms,
	    c->result.truncated, c->result.timed_out);
	return 0;
}

/* A --url's code, fetched on the base: 0, or the exit status. */
static int
run_fetch_code(struct run_ctx *c, struct run_opts *o, struct isol8_request *req,
    const struct cli_config *cfg)
{
	struct err *e = NULL;

	if (run_fetch(c->base, &cfg->remote, o->fetch_url, o->hash, o->insecure,
	        &c->interrupted, &o->code, &e) == -1) {
		if (c->interrupted) {
			err_free(&e);
			if (!c->quiet)
				cli_error(
				    "interrupted while fetching the code");
			return 128 + c->interrupted;
		}
		return cli_fail(&e, EXIT_USAGE);
	}
	if (o->code.len == 0) {
		cli_error("the code at `%s` is empty", o->fetch_url);
		return EXIT_USAGE;
	}
	req->code = o->code.data;
	req->code_len = o->code.len;
	return 0;
}

/* Whether a setup's own run (in a session) let the code run. */
static int
setup_ok(const struct run_ctx *c)
{
	const struct isol8_result *r = &c->result;

	return !c->failed && !c->interrupted && r->exit_code == 0 &&
	    r->signal == 0 && !r->timed_out && !r->oom_killed && !r->truncated;
}

/*
 * The run, on the command's own event_base: a --url's code fetched, the
 * --setup made, the engine, the run -- in a session after the setup's
 * own. *last is the request whose end is to be reported. 0, or the exit
 * status when something did not start.
 */
static int
run_loop(struct run_ctx *c, struct run_opts *o, struct isol8_request *req,
    const struct cli_config *cfg, const struct isol8_request **last)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;
	struct err *e = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	c->base = event_base_new();
	run_signals(c);
	*last = req;
	if (o->fetch_url != NULL && (rc = run_fetch_code(c, o, req, cfg)) != 0)
		return rc;
	if (o->nsetups > 0 &&
	    run_setup_apply(&o->setup, req, o->workdir_abs, &e) == -1)
		return cli_fail(&e, EXIT_USAGE);
	config_engine_opts(cfg, &eo);
	eo.remote_url = o->host;
	eo.remote_key = o->key;
	if (o->stall_ms != 0)
		eo.remote_stall_ms = o->stall_ms;
	c->remote = o->host != NULL;
	if ((c->e = isol8_engine_new(c->base, &eo, &err)) == NULL)
		return ctx_exit_for(c, &err);
	if (o->setup.two_runs) {
		*last = &o->setup.first;
		cli_debugf("[Run] Setup script: a run of its own in session %s",
		    req->session);
		if ((rc = run_one(c, &o->setup.first)) != 0 || !setup_ok(c))
			return rc;
		*last = req;
	}
	return run_one(c, req);
}

/*
 * What the run says -- the --json object, the network decisions, a note
 * on stderr -- and the exit status it stands for.
 */
static int
run_report(struct run_ctx *c, const struct isol8_request *req)
{
	int rc;

	if (c->no_stream && !c->json) {
		/* What the run printed, held: stdout, then stderr. */
		ctx_write(c, &cli_stdout, c->out.data, c->out.len);
		ctx_write(c, &cli_stderr, c->err.data, c->err.len);
	}
	if (c->json)
		cli_out_write(&cli_stdout, c->report.data, c->report.len);
	else if (c->report.len > 0) {
		/* One line: the decisions as a JSON array, on stderr. */
		fprintf(stderr, "isol8: network: %.*s\n", (int)c->report.len,
		    c->report.data);
	}
	rc = run_status(c, req);
	if (rc == 0 && c->fetch_failed)
		rc = 1;
	if (c->interrupted && !c->quiet && req->session != NULL)
		cli_error(
		    "interrupted; the run in session `%s` was sent SIGINT (killed if still going 2 s later)",
		    req->session);
	else if (c->interrupted && !c->quiet)
		cli_error("interrupted; the sandbox was removed");
	return run_outputs_status(c, rc);
}

/*
 * The run is over; replacements for the warm container it used may still
 * be being created. Then a detached child finishes them and the caller
 * gets the status now (in the child, the engine is freed here).
 */
static void
run_finish(struct run_ctx *c, int rc)
{
	if (c->interrupted || !isol8_engine_busy(c->e))
		return;
	c->exit_status = rc;
	if (detach_refill(c) == 0) {
		cli_engine_free(c->base, c->e, 30000); /* refills */
		c->e = NULL;
	}
}

static void
run_ctx_free(struct run_ctx *c)
{
	cli_engine_free(c->base, c->e, CLI_DRAIN_MS);
	if (c->sigint != NULL)
		event_free(c->sigint);
	if (c->sigterm != NULL)
		event_free(c->sigterm);
	if (c->stdin_ev != NULL)
		event_free(c->stdin_ev);
	if (c->stdin_retry != NULL)
		event_free(c->stdin_retry);
	cli_base_free(c->base);
	if (c->file.f != NULL)
		cli_out_close(
		    &c->file); /* nothing was written: a usage error */
	buf_free(&c->out);
	buf_free(&c->err);
	buf_free(&c->report);
}

/* --persist: where the container was kept, and how to reach it. */
static void
run_kept(const struct run_opts *o)
{
	if (o->persist_name[0] == '\0' || o->quiet)
		return;
	cli_error(
	    "the container is kept as session `%s`: `isol8 run --session %s ...` runs in it, `isol8 session rm %s` removes it (it ends by itself after session.idleMs unused)",
	    o->persist_name, o->persist_name, o->persist_name);
}

/* What --debug says about the request before it runs. */
static void
run_debug(const struct run_opts *o, const struct isol8_request *req)
{
	char *mem;

	if (!cli_debug)
		return;
	mem = config_size(req->memory);
	cli_debugf("[Run] Runtime: %s, session: %s", req->runtime,
	    req->session ? req->session : "(none: a one-use container)");
	cli_debugf("[Run] Network: %s, timeout: %llums",
	    req->network ? req->network : "none",
	    (unsigned long long)req->timeout_ms);
	cli_debugf("[Run] Memory: %s, CPU: %g, pids: %lld", mem, req->cpus,
	    (long long)req->pids);
	cli_debugf("[Run] Code source: %s%s",
	    o->fetch_url ? "url="
	        : o->cmd ? "cmd"
	                 : "inline/file/stdin",
	    o->fetch_url ? o->fetch_url : "");
	if (req->code != NULL)
		cli_debugf("[Run] Code length: %zu bytes",
		    req->code_len ? req->code_len : strlen(req->code));
	if (o->nsetups > 0)
		cli_debugf(
		    "[Run] Setup script: %zu bytes", o->setup.script.len);
	if (req->workdir != NULL || o->workdir_abs != NULL)
		cli_debugf("[Run] Workdir: %s", o->workdir_abs);
	free(mem);
}

static int
cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct run_ctx c;
	struct cli_config cfg;
	struct isol8_request req;
	const struct isol8_request *last;
	struct err *e = NULL;
	int rc;

	memset(&o, 0, sizeof o);
	memset(&c, 0, sizeof c);
	if (config_load(&cfg, NULL, &e) == -1)
		return cli_fail(&e, EXIT_USAGE);
	isol8_request_init(&req);
	config_request(&cfg, &req);
	/* The config's env first: --env may override it (later wins). */
	cli_kv_copy(cfg.env, cfg.env_len, &o.env, &o.nenv);
	if (run_parse(argc, argv, &o, &req, &e) == -1 ||
	    (config_start(&cfg, "run", o.quiet),
	        !o.help &&
	            (config_client(&cfg, &o.host, &o.key, &e) == -1 ||
	                run_code(&o, &req, &cfg, &e) == -1 ||
	                run_request(&o, &cfg, &req, &c.stdin_regular, &e) ==
	                    -1 ||
	                run_open_out(&c, o.out_path, &e) == -1))) {
		rc = cli_fail(&e, EXIT_USAGE);
		goto out;
	}
	if (o.help) {
		run_usage(stdout);
		rc = 0;
		goto out;
	}
	c.runtime = o.runtime;
	c.json = o.json;
	c.no_stream = o.no_stream;
	c.quiet = o.quiet;
	c.log_network = o.log_network;
	c.locals = o.locals;
	run_debug(&o, &req);
	if ((rc = run_loop(&c, &o, &req, &cfg, &last)) == 0) {
		rc = run_report(&c, last);
		run_kept(&o);
		run_finish(&c, rc);
	}
out:
	run_ctx_free(&c);
	run_opts_free(&o);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_run_entry = { "run", "run code in a sandbox",
	cmd_run };
