/*
 * isol8 run: one execution. Code comes from -e, a file, or stdin; when it
 * comes from -e or a file, a piped stdin becomes the program's stdin and is
 * streamed with backpressure. Output streams as it arrives (and to --out);
 * --json prints one result object instead (api_result_write, the shape
 * `isol8 serve` answers with too). The exit status is the program's own,
 * or one of the codes in cli.h (docs/cli.md).
 *
 * The command is four steps: the flags into struct run_opts (run_parse),
 * those into a request (run_code, run_request), the run on the command's
 * own event_base (run_loop), and what it says and returns (run_report).
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

#include "cli.h"
#include "../api/api.h"
#include "../util/util.h"

#define RUN_STDIN_HIGH (1u << 20)
#define RUN_MAX_CODE (16u << 20)
#define MAX_GETS 16
#define MAX_PATTERNS 64
#define MAX_INSTALL 256 /* the engine's bound too */

/* What the flags asked for, and the storage the request points into. */
struct run_opts {
	const char *eval;
	const char *cmd;
	const char *file;
	const char *runtime;
	const char *out_path;
	const char *stdin_data;
	struct isol8_kv *env; /* the configuration's, then --env */
	size_t nenv;
	struct isol8_kv *secrets;
	size_t nsec;
	struct run_files files;
	const char *gets[MAX_GETS];
	size_t ngets;
	const char *allow[MAX_PATTERNS];
	size_t nallow;
	const char *deny[MAX_PATTERNS];
	size_t ndeny;
	const char *install[MAX_INSTALL]; /* --install: package specs */
	size_t ninstall;
	int allow_private;
	int log_network;
	int json;
	int quiet;
	int help;
	struct buf code;
	const char *outputs[MAX_GETS]; /* --get: the sandbox paths */
	char *locals[MAX_GETS];        /* and the local names */
};

/* The run in flight, on the command's own event_base. */
struct run_ctx {
	struct event_base *base;
	struct isol8_engine *e;
	struct isol8_run *run;
	const char *runtime;
	struct cli_out file; /* --out, when given (file.f != NULL) */
	int output_lost;     /* a sink failed: the run was stopped */
	int json;
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
};

static void
run_usage(FILE *f)
{
	fprintf(f,
	    "usage: isol8 run [options] [FILE]\n\n"
	    "Run code in a hardened, network-less container. The code comes "
	    "from -e,\nfrom FILE (runtime from its extension), or from stdin. "
	    "With -e or FILE,\na piped stdin is the program's stdin.\n\n"
	    "  -e, --eval CODE        run CODE (default runtime python)\n"
	    "      --cmd COMMAND      run a bash command line\n"
	    "  -r, --runtime NAME     python, node, bun, deno or bash\n"
	    "      --timeout MS       wall-clock limit (default 30000)\n"
	    "      --memory SIZE      memory limit, swap included (512m)\n"
	    "      --cpu CORES        CPU limit, fractional (1.0)\n"
	    "      --pids N           process limit (64)\n"
	    "      --sandbox-size S   /sandbox tmpfs size (512m)\n"
	    "      --tmp-size S       /tmp tmpfs size (256m)\n"
	    "      --net MODE         none (default), host, or filtered: "
	    "an HTTP(S)\n"
	    "                         proxy on the host that checks every "
	    "host name\n"
	    "      --allow REGEX      filtered: let host names matching REGEX "
	    "through\n"
	    "                         (repeatable; none given: all public "
	    "hosts)\n"
	    "      --deny REGEX       filtered: refuse host names matching "
	    "REGEX first\n"
	    "      --allow-private    filtered: also reach private, loopback "
	    "and\n"
	    "                         link-local addresses (refused by "
	    "default)\n"
	    "      --log-network      filtered: print what was let through "
	    "or refused\n"
	    "      --install PKG      a package the code needs (repeatable): "
	    "pip, npm,\n"
	    "                         bun or deno spec; what the image has "
	    "baked is\n"
	    "                         free, the rest installs first (exit "
	    "5 if not)\n"
	    "      --max-output S     stdout+stderr cap; the program is "
	    "stopped (1m)\n"
	    "      --out FILE         also write stdout to FILE\n"
	    "      --stdin DATA       feed DATA to the program's stdin\n"
	    "      --env K=V          set an environment variable\n"
	    "      --secret K=V       set a variable and mask its value in "
	    "output\n"
	    "      --image NAME       run in this image instead\n"
	    "      --persistent       run in the session `default` (created "
	    "on first use;\n"
	    "                         files and python/node/bun/bash "
	    "variables persist)\n"
	    "      --session NAME     run in session NAME (implies "
	    "--persistent)\n"
	    "      --files DIR        copy DIR into /sandbox first (no links, "
	    "no .git or\n"
	    "                         node_modules; 256 files, 64 MiB)\n"
	    "      --get PATH[:LOCAL] copy a sandbox file back after the run "
	    "(repeatable)\n"
	    "      --json             print one JSON result object\n"
	    "  -q, --quiet            no isol8 messages on stderr\n"
	    "  -h, --help             this help\n\n"
	    "exit status: the program's; 124 timeout, 137 memory limit, 141 "
	    "output\ntruncated, 130 interrupted, 2 usage, 3 Docker "
	    "unavailable, 4 images\nmissing, 125 internal error.\n");
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

	if (c->json)
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

	if (c->json)
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
		cli_error("session `%s`: a fresh %s interpreter ran this (the "
		          "last one ended): variables from earlier runs are "
		          "gone, files are kept",
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
	cli_error("session `%s`: the %s interpreter ended (%s): its variables "
	          "are gone, files are kept; the next run starts a fresh one",
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
		return c->json ? EXIT_INTERNAL : cli_exit_for(&c->error);
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
			cli_error("killed: over the %llu MiB memory limit "
			          "(raise --memory)",
			    (unsigned long long)(req->memory >> 20));
		return EXIT_OOM;
	}
	if (r->truncated) {
		if (!c->quiet)
			cli_error("output truncated at %llu bytes and the "
			          "program stopped (raise --max-output)",
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
 * gets our exit status now. Returns in the child only (0), or -1.
 */
static int
detach_refill(struct run_ctx *c)
{
	pid_t pid;
	int fd;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(c->exit_status);
	setsid();
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	event_reinit(c->base);
	return 0;
}

/* ---- the flags into a request ---- */

enum {
	O_CMD = 256,
	O_OUT,
	O_STDIN,
	O_ENV,
	O_SECRET,
	O_JSON,
	O_LATER,
	O_PERSIST,
	O_SESSION,
	O_FILES,
	O_GET,
	O_ALLOW,
	O_DENY,
	O_ALLOW_PRIVATE,
	O_LOG_NET,
	O_INSTALL,
};

static const struct option run_options[] = {
	{ "eval", required_argument, NULL, 'e' },
	{ "cmd", required_argument, NULL, O_CMD },
	{ "runtime", required_argument, NULL, 'r' },
	{ "out", required_argument, NULL, O_OUT },
	{ "stdin", required_argument, NULL, O_STDIN },
	{ "env", required_argument, NULL, O_ENV },
	{ "secret", required_argument, NULL, O_SECRET },
	{ "json", no_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	CLI_LIMIT_OPTIONS,
	{ "help", no_argument, NULL, 'h' },
	{ "persistent", no_argument, NULL, O_PERSIST },
	{ "session", required_argument, NULL, O_SESSION },
	{ "files", required_argument, NULL, O_FILES },
	{ "get", required_argument, NULL, O_GET },
	{ "host", required_argument, NULL, O_LATER },
	{ "key", required_argument, NULL, O_LATER },
	{ "allow", required_argument, NULL, O_ALLOW },
	{ "deny", required_argument, NULL, O_DENY },
	{ "allow-private", no_argument, NULL, O_ALLOW_PRIVATE },
	{ "log-network", no_argument, NULL, O_LOG_NET },
	{ "install", required_argument, NULL, O_INSTALL },
	{ NULL, 0, NULL, 0 },
};

/* An --allow or --deny pattern, MAX_PATTERNS of each at most. */
static int
run_pattern(struct run_opts *o, int allow, const char *arg, struct err **errp)
{
	if ((allow ? o->nallow : o->ndeny) == MAX_PATTERNS)
		return err_set(errp, ERR_INVALID,
		    "at most %d --allow and %d --deny patterns", MAX_PATTERNS,
		    MAX_PATTERNS);
	if (allow)
		o->allow[o->nallow++] = arg;
	else
		o->deny[o->ndeny++] = arg;
	return 0;
}

/* One flag into o (the limit flags into req); -1 for a bad one. */
static int
run_opt(struct run_opts *o, struct isol8_request *req, int ch, const char *arg,
    struct err **errp)
{
	switch (ch) {
	case 'e':
		o->eval = arg;
		return 0;
	case O_CMD:
		o->cmd = arg;
		return 0;
	case 'r':
		o->runtime = arg;
		return 0;
	case O_OUT:
		o->out_path = arg;
		return 0;
	case O_STDIN:
		o->stdin_data = arg;
		return 0;
	case O_ENV:
		return cli_kv("--env", arg, &o->env, &o->nenv, errp);
	case O_SECRET:
		return cli_kv("--secret", arg, &o->secrets, &o->nsec, errp);
	case O_PERSIST:
		if (req->session == NULL)
			req->session = "default";
		return 0;
	case O_SESSION:
		req->session = arg;
		return 0;
	case O_FILES:
		return run_files_dir(arg, &o->files, errp);
	case O_GET:
		if (o->ngets == MAX_GETS)
			return err_set(
			    errp, ERR_INVALID, "at most %d --get", MAX_GETS);
		o->gets[o->ngets++] = arg;
		return 0;
	case O_JSON:
		o->json = 1;
		return 0;
	case 'q':
		o->quiet = 1;
		return 0;
	case O_ALLOW:
	case O_DENY:
		return run_pattern(o, ch == O_ALLOW, arg, errp);
	case O_ALLOW_PRIVATE:
		o->allow_private = 1;
		return 0;
	case O_LOG_NET:
		o->log_network = 1;
		return 0;
	case O_INSTALL:
		if (o->ninstall == MAX_INSTALL)
			return err_set(errp, ERR_INVALID,
			    "at most %d --install", MAX_INSTALL);
		o->install[o->ninstall++] = arg;
		return 0;
	}
	/* Not a limit flag either: getopt said what was wrong. */
	return cli_limit_opt(ch, arg, req, errp) == 1 ? 0 : -1;
}

/*
 * The flags and the FILE into o (limits into req, over the configured
 * ones); -1 on a usage error. --help stops the parse (o->help).
 */
static int
run_parse(int argc, char **argv, struct run_opts *o, struct isol8_request *req,
    struct err **errp)
{
	int ch, idx = 0;

	while (
	    (ch = getopt_long(argc, argv, "e:r:qh", run_options, &idx)) != -1) {
		if (ch == 'h') {
			o->help = 1;
			return 0;
		}
		if (ch == O_LATER)
			return err_set(errp, ERR_INVALID,
			    "--%s is not available in this version",
			    run_options[idx].name);
		if (run_opt(o, req, ch, optarg, errp) == -1)
			return -1;
	}
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc)
		return err_set(errp, ERR_INVALID,
		    "unexpected argument `%s` (one FILE at most)",
		    argv[optind]);
	if ((o->eval != NULL) + (o->cmd != NULL) + (o->file != NULL) > 1)
		return err_set(
		    errp, ERR_INVALID, "give only one of -e, --cmd and FILE");
	if (o->runtime != NULL && !isol8_runtime_known(o->runtime))
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%s` (python, node, bun, deno, bash)",
		    o->runtime);
	return 0;
}

/* A script's text (path NULL: stdin), at most RUN_MAX_CODE bytes. */
static int
read_code(const char *path, struct buf *b, struct err **errp)
{
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(errp, ERR_INVALID,
		    "`%s` is a directory, not a script", path);
	return read_file(path ? path : "/dev/stdin", RUN_MAX_CODE, b, errp);
}

/* The code and its runtime: -e, --cmd, FILE (by extension) or stdin. */
static int
run_code(struct run_opts *o, struct isol8_request *req, const char *dflt,
    struct err **errp)
{
	const char *ext;

	if (o->file != NULL) {
		if (o->runtime == NULL &&
		    (o->runtime = isol8_runtime_for_path(o->file)) == NULL)
			return err_set(errp, ERR_INVALID,
			    "cannot tell the runtime of `%s` from its "
			    "extension: give --runtime",
			    o->file);
		if ((ext = strrchr(o->file, '.')) != NULL &&
		    strcmp(o->runtime, "node") == 0)
			req->file_ext = ext; /* .cjs stays CommonJS */
		if (read_code(o->file, &o->code, errp) == -1)
			return -1;
	} else if (o->eval == NULL && o->cmd == NULL) {
		if (isatty(0))
			return err_set(errp, ERR_INVALID,
			    "no code: give -e CODE, FILE, or pipe code on "
			    "stdin (see isol8 run --help)");
		if (read_code(NULL, &o->code, errp) == -1)
			return -1;
	}
	if (o->runtime == NULL)
		o->runtime = o->cmd != NULL ? "bash" : dflt;
	req->runtime = o->runtime;
	if (o->cmd != NULL)
		req->cmd = o->cmd;
	else if (o->eval != NULL)
		req->code = o->eval;
	else {
		req->code = o->code.data ? o->code.data : "";
		req->code_len = o->code.len;
		if (o->code.len == 0)
			return err_set(errp, ERR_INVALID, "the code is empty");
	}
	return 0;
}

/* The filtered network: the file's rules, flags replacing each list. */
static int
run_network(const struct run_opts *o, const struct cli_config *cfg,
    struct isol8_request *req, struct err **errp)
{
	if ((o->nallow + o->ndeny > 0 || o->allow_private || o->log_network) &&
	    (req->network == NULL || strcmp(req->network, "filtered") != 0))
		return err_set(errp, ERR_INVALID,
		    "--allow, --deny, --allow-private and --log-network "
		    "go with --net filtered");
	config_network(cfg, req);
	if (o->allow_private)
		req->net_allow_private = 1;
	if (o->nallow > 0) {
		req->net_allow = o->allow;
		req->net_allow_len = o->nallow;
	}
	if (o->ndeny > 0) {
		req->net_deny = o->deny;
		req->net_deny_len = o->ndeny;
	}
	return 0;
}

/* --get PATH[:LOCAL]: the sandbox path, and the local name (its base). */
static void
run_gets(struct run_opts *o)
{
	const char *colon, *base;
	size_t i;

	for (i = 0; i < o->ngets; i++) {
		colon = strchr(o->gets[i], ':');
		o->outputs[i] = colon
		    ? xstrndup(o->gets[i], (size_t)(colon - o->gets[i]))
		    : xstrdup(o->gets[i]);
		base = strrchr(o->outputs[i], '/');
		o->locals[i] = xstrdup(colon && colon[1] ? colon + 1
		        : base                           ? base + 1
		                                         : o->outputs[i]);
	}
}

/*
 * The rest of the request: env, network rules, files, --get, secrets and
 * stdin -- --stdin DATA, or a piped stdin streamed when the code came
 * from -e, --cmd or FILE.
 */
static int
run_request(struct run_opts *o, const struct cli_config *cfg,
    struct isol8_request *req, int *stdin_regular, struct err **errp)
{
	struct stat st;

	req->env = o->env;
	req->env_len = o->nenv;
	if (run_network(o, cfg, req, errp) == -1)
		return -1;
	req->files = o->files.f;
	req->files_len = o->files.n;
	run_gets(o);
	req->outputs = o->outputs;
	req->outputs_len = o->ngets;
	req->secrets = o->secrets;
	req->secrets_len = o->nsec;
	req->packages = o->install;
	req->packages_len = o->ninstall;
	if (o->stdin_data != NULL) {
		req->stdin_data = o->stdin_data;
		req->stdin_len = strlen(o->stdin_data);
	} else if ((o->eval != NULL || o->cmd != NULL || o->file != NULL) &&
	    !isatty(0) && fstat(0, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) ||
	        S_ISSOCK(st.st_mode))) {
		req->stdin_stream = 1;
		*stdin_regular = S_ISREG(st.st_mode);
	}
	return 0;
}

static void
run_opts_free(struct run_opts *o)
{
	size_t i;

	cli_kv_free(o->env, o->nenv);
	cli_kv_free(o->secrets, o->nsec);
	for (i = 0; i < o->ngets; i++) {
		free((char *)(uintptr_t)o->outputs[i]);
		free(o->locals[i]);
	}
	run_files_free(&o->files);
	buf_free(&o->code);
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

/* Ctrl-C and TERM, and a streamed stdin, on the run's base. */
static void
run_events(struct run_ctx *c, const struct isol8_request *req)
{
	c->sigint = evsignal_new(c->base, SIGINT, on_signal, c);
	c->sigterm = evsignal_new(c->base, SIGTERM, on_signal, c);
	event_add(c->sigint, NULL);
	event_add(c->sigterm, NULL);
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

/*
 * The run, on the command's own event_base, until its on_done. 0, or the
 * exit status when the engine or the run could not start.
 */
static int
run_loop(struct run_ctx *c, const struct isol8_request *req,
    const struct isol8_engine_opts *eo)
{
	static const struct isol8_callbacks cbs = { on_stdout, on_stderr,
		on_done };
	struct isol8_error err;

	signal(SIGPIPE, SIG_IGN);
	c->base = event_base_new();
	if ((c->e = isol8_engine_new(c->base, eo, &err)) == NULL)
		return cli_exit_for(&err);
	if ((c->run = isol8_run_start(c->e, req, &cbs, c, &err)) == NULL)
		return cli_exit_for(&err);
	run_events(c, req);
	while (!c->done)
		event_base_loop(c->base, EVLOOP_ONCE);
	return 0;
}

/*
 * What the run says -- the --json object, the network decisions, a note
 * on stderr -- and the exit status it stands for.
 */
static int
run_report(struct run_ctx *c, const struct isol8_request *req)
{
	int rc;

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
		    "interrupted; the run in session `%s` was sent SIGINT "
		    "(killed if still going 2 s later)",
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

static int
cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct run_ctx c;
	struct cli_config cfg;
	struct isol8_request req;
	struct isol8_engine_opts eo;
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
	    (!o.help &&
	        (run_code(&o, &req, cfg.runtime, &e) == -1 ||
	            run_request(&o, &cfg, &req, &c.stdin_regular, &e) == -1 ||
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
	c.quiet = o.quiet;
	c.log_network = o.log_network;
	c.locals = o.locals;
	config_engine_opts(&cfg, &eo);
	if ((rc = run_loop(&c, &req, &eo)) == 0) {
		rc = run_report(&c, &req);
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
