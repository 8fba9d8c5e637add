/*
 * isol8 run's flags into struct run_opts (run_parse), and those into a
 * request (run_code: the code and its runtime; run_request: the rest).
 * Nothing here starts anything: every usage error is found before the run
 * (exit 2), the limits by the engine's table (cli_limit_opt).
 *
 * The original isol8's flags are here with its meaning where ours has the
 * thing (docs/compat.md): --session-id is --session, --pids-limit --pids;
 * --no-stream prints the output when the run ends; --persist keeps the
 * container as a session named after the run; --setup, --workdir, --url,
 * --github, --gist, --hash, --allow-insecure-code-url; --debug.
 */
#include <sys/stat.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "../util/util.h"

void
run_usage(FILE *f)
{
	fprintf(f,
	    "Usage: isol8 run [options] [FILE]\n\n"
	    "Run code in a hardened, network-less container. The code comes from -e,\n"
	    "FILE (runtime from its extension), --url/--github/--gist, or stdin.\n"
	    "With -e, FILE or a URL, a piped stdin is the program's stdin.\n\n"
	    "Options:\n"
	    "  -e, --eval CODE        run CODE (default runtime python)\n"
	    "      --cmd COMMAND      run a bash command line\n"
	    "  -r, --runtime NAME     python, node, bun, deno or bash\n"
	    "      --url URL          fetch the code from URL (remoteCode.enabled)\n"
	    "      --github O/R/REF/P the code at raw.githubusercontent.com\n"
	    "      --gist ID/FILE     the code of a gist\n"
	    "      --hash SHA256      the fetched code must have this SHA-256\n"
	    "      --allow-insecure-code-url  let --url be http://\n"
	    "      --timeout MS       wall-clock limit (default 30000)\n"
	    "      --memory SIZE      memory limit, swap included (512m)\n"
	    "      --cpu CORES        CPU limit, fractional (1.0)\n"
	    "      --pids N           process limit (64; also --pids-limit)\n"
	    "      --sandbox-size S   /sandbox tmpfs size (512m)\n"
	    "      --tmp-size S       /tmp tmpfs size (256m)\n"
	    "      --net MODE         none (default), host, or filtered: an HTTP(S)\n"
	    "                         proxy on the host that checks every host name\n"
	    "      --allow REGEX      filtered: let host names matching REGEX through\n"
	    "                         (repeatable; none given: all public hosts)\n"
	    "      --deny REGEX       filtered: refuse host names matching REGEX first\n"
	    "      --allow-private    filtered: also reach private, loopback and\n"
	    "                         link-local addresses (refused by default)\n"
	    "      --log-network      filtered: print what was let through or refused\n"
	    "      --install PKG      a package the code needs (repeatable): pip, npm,\n"
	    "                         bun or deno spec; what the image has baked is\n"
	    "                         free, the rest installs first (exit 5 if not)\n"
	    "      --max-output S     stdout+stderr cap; the program is stopped (1m)\n"
	    "      --out FILE         also write stdout to FILE\n"
	    "      --no-stream        print the output when the run ends, not as it comes\n"
	    "      --stdin DATA       feed DATA to the program's stdin\n"
	    "      --env K=V          set an environment variable\n"
	    "      --secret K=V       set a variable and mask its value in output\n"
	    "      --image NAME       run in this image instead\n"
	    "      --setup CMD|FILE   run this bash first, in /sandbox, in the same\n"
	    "                         container (repeatable; a FILE's text)\n"
	    "      --workdir PATH     run the code there (inside /sandbox)\n"
	    "      --persistent       run in the session `default` (created on first use;\n"
	    "                         files and python/node/bun/bash variables persist)\n"
	    "      --session NAME     run in session NAME (implies --persistent; also\n"
	    "                         --session-id NAME)\n"
	    "      --persist          keep the container after the run, as a session\n"
	    "                         named after the run (isol8 session ls)\n"
	    "      --files DIR        copy DIR into /sandbox first (no links, no .git or\n"
	    "                         node_modules; 256 files, 64 MiB)\n"
	    "      --get PATH[:LOCAL] copy a sandbox file back after the run (repeatable)\n"
	    "      --json             print one JSON result object\n"
	    "      --host URL         run on the `isol8 serve` at URL (ISOL8_HOST,\n"
	    "                         remote.host; \"\": run locally)\n"
	    "      --key KEY          its API key (ISOL8_API_KEY, remote.key)\n"
	    "      --stall-timeout MS --host: give up on a server that sends nothing\n"
	    "                         for this long (45s; remote.stallTimeoutMs)\n"
	    "  -q, --quiet            no isol8 messages on stderr\n"
	    "      --debug            debug lines on stderr\n"
	    "  -h, --help             this help\n\n"
	    "Exit status: the program's; 124 timeout, 137 memory limit, 141 output\n"
	    "truncated, 130 interrupted, 2 usage, 3 Docker unavailable, 4 images\n"
	    "missing, 5 a package did not install, 125 internal error.\n");
}

enum {
	O_CMD = 256,
	O_OUT,
	O_STDIN,
	O_ENV,
	O_SECRET,
	O_JSON,
	O_HOST,
	O_KEY,
	O_PERSIST,
	O_SESSION,
	O_FILES,
	O_GET,
	O_ALLOW,
	O_DENY,
	O_ALLOW_PRIVATE,
	O_LOG_NET,
	O_NO_STREAM,
	O_DEBUG,
	O_KEEP,
	O_SETUP,
	O_WORKDIR,
	O_URL,
	O_GITHUB,
	O_GIST,
	O_HASH,
	O_INSECURE,
	O_INSTALL,
	O_STALL,
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
	{ "session-id", required_argument, NULL, O_SESSION },
	{ "persist", no_argument, NULL, O_KEEP },
	{ "files", required_argument, NULL, O_FILES },
	{ "get", required_argument, NULL, O_GET },
	{ "host", required_argument, NULL, O_HOST },
	{ "key", required_argument, NULL, O_KEY },
	{ "allow", required_argument, NULL, O_ALLOW },
	{ "deny", required_argument, NULL, O_DENY },
	{ "allow-private", no_argument, NULL, O_ALLOW_PRIVATE },
	{ "log-network", no_argument, NULL, O_LOG_NET },
	{ "no-stream", no_argument, NULL, O_NO_STREAM },
	{ "debug", no_argument, NULL, O_DEBUG },
	{ "setup", required_argument, NULL, O_SETUP },
	{ "workdir", required_argument, NULL, O_WORKDIR },
	{ "url", required_argument, NULL, O_URL },
	{ "github", required_argument, NULL, O_GITHUB },
	{ "gist", required_argument, NULL, O_GIST },
	{ "hash", required_argument, NULL, O_HASH },
	{ "allow-insecure-code-url", no_argument, NULL, O_INSECURE },
	{ "install", required_argument, NULL, O_INSTALL },
	{ "stall-timeout", required_argument, NULL, O_STALL },
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

/* A flag of the original isol8's that ours had not: into o. */
static int
run_opt_compat(struct run_opts *o, int ch, const char *arg, struct err **errp)
{
	switch (ch) {
	case O_NO_STREAM:
		o->no_stream = 1;
		return 0;
	case O_DEBUG:
		cli_debug_on("run");
		return 0;
	case O_KEEP:
		o->persist = 1;
		return 0;
	case O_SETUP:
		if (o->nsetups == MAX_SETUPS)
			return err_set(errp, ERR_INVALID, "at most %d --setup",
			    MAX_SETUPS);
		o->setups[o->nsetups++] = arg;
		return 0;
	case O_WORKDIR:
		o->workdir = arg;
		return 0;
	case O_URL:
		o->url = arg;
		return 0;
	case O_GITHUB:
		o->github = arg;
		return 0;
	case O_GIST:
		o->gist = arg;
		return 0;
	case O_HASH:
		o->hash = arg;
		return 0;
	case O_INSECURE:
		o->insecure = 1;
		return 0;
	case O_INSTALL:
		if (o->ninstall == MAX_INSTALL)
			return err_set(errp, ERR_INVALID,
			    "at most %d --install", MAX_INSTALL);
		o->install[o->ninstall++] = arg;
		return 0;
	}
	return 1;
}

/* One flag into o (the limit flags into req); -1 for a bad one. */
static int
run_opt(struct run_opts *o, struct isol8_request *req, int ch, const char *arg,
    struct err **errp)
{
	int rc;

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
	case O_STALL:
		return cli_stall_opt(arg, &o->stall_ms, errp);
	}
	if ((rc = run_opt_compat(o, ch, arg, errp)) != 1)
		return rc;
	/* Not a limit flag either: getopt said what was wrong. */
	return cli_limit_opt(ch, arg, req, errp) == 1 ? 0 : -1;
}

/* What the parsed flags must agree on. */
static int
run_parse_check(const struct run_opts *o, struct err **errp)
{
	int urls = (o->url != NULL) + (o->github != NULL) + (o->gist != NULL);

	if ((o->eval != NULL) + (o->cmd != NULL) + (o->file != NULL) +
	        (urls > 0) >
	    1)
		return err_set(errp, ERR_INVALID,
		    "give only one of -e, --cmd, FILE and --url/--github/--gist");
	if (urls > 1)
		return err_set(errp, ERR_INVALID,
		    "give only one of --url, --github and --gist");
	if (urls == 0 && (o->hash != NULL || o->insecure))
		return err_set(errp, ERR_INVALID,
		    "--hash and --allow-insecure-code-url go with --url, --github or --gist");
	if (o->runtime != NULL && !isol8_runtime_known(o->runtime))
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%s` (python, node, bun, deno, bash)",
		    o->runtime);
	return 0;
}

/*
 * The flags and the FILE into o (limits into req, over the configured
 * ones); -1 on a usage error. --help stops the parse (o->help).
 */
int
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
		if (ch == O_HOST || ch == O_KEY) {
			*(ch == O_HOST ? &o->host : &o->key) = optarg;
			continue;
		}
		if (run_opt(o, req, ch, optarg, errp) == -1)
			return -1;
	}
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc)
		return err_set(errp, ERR_INVALID,
		    "unexpected argument `%s` (one FILE at most)",
		    argv[optind]);
	return run_parse_check(o, errp);
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

/*
 * --url/--github/--gist: the URL, checked against the configuration's
 * policy now, and the runtime from its path unless given. The code comes
 * when the run starts (run_fetch, on the loop).
 */
static int
run_code_url(
    struct run_opts *o, const struct cli_config *cfg, struct err **errp)
{
	cleanup_free char *path = NULL;

	if ((o->fetch_url = run_fetch_url(
	         &cfg->remote, o->url, o->github, o->gist, errp)) == NULL ||
	    run_fetch_check(
	        &cfg->remote, o->fetch_url, o->hash, o->insecure, errp) == -1)
		return -1;
	path = xstrndup(o->fetch_url, strcspn(o->fetch_url, "?#"));
	if (o->runtime == NULL &&
	    (o->runtime = isol8_runtime_for_path(path)) == NULL)
		return err_set(errp, ERR_INVALID,
		    "cannot tell the runtime of `%s` from its path: give --runtime",
		    o->fetch_url);
	return 0;
}

/*
 * The code and its runtime: -e, --cmd, FILE (by extension), a URL (its
 * code fetched later: req->code stays NULL) or stdin.
 */
int
run_code(struct run_opts *o, struct isol8_request *req,
    const struct cli_config *cfg, struct err **errp)
{
	const char *ext;

	if (o->file != NULL) {
		if (o->runtime == NULL &&
		    (o->runtime = isol8_runtime_for_path(o->file)) == NULL)
			return err_set(errp, ERR_INVALID,
			    "cannot tell the runtime of `%s` from its extension: give --runtime",
			    o->file);
		if ((ext = strrchr(o->file, '.')) != NULL &&
		    strcmp(o->runtime, "node") == 0)
			req->file_ext = ext; /* .cjs stays CommonJS */
		if (read_code(o->file, &o->code, errp) == -1)
			return -1;
	} else if (o->url != NULL || o->github != NULL || o->gist != NULL) {
		if (run_code_url(o, cfg, errp) == -1)
			return -1;
	} else if (o->eval == NULL && o->cmd == NULL) {
		if (isatty(0))
			return err_set(errp, ERR_INVALID,
			    "no code: give -e CODE, FILE, or pipe code on stdin (see isol8 run --help)");
		if (read_code(NULL, &o->code, errp) == -1)
			return -1;
	}
	if (o->runtime == NULL)
		o->runtime = o->cmd != NULL ? "bash" : cfg->runtime;
	req->runtime = o->runtime;
	if (o->cmd != NULL)
		req->cmd = o->cmd;
	else if (o->eval != NULL)
		req->code = o->eval;
	else if (o->fetch_url == NULL) {
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
		    "--allow, --deny, --allow-private and --log-network go with --net filtered");
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
 * Where the run happens: --workdir (resolved; the request's own unless a
 * --setup's prelude goes there after the setup), --persist (a session
 * named after the run, unless the run is in one already), the setup.
 */
static int
run_place(struct run_opts *o, struct isol8_request *req, struct err **errp)
{
	struct tm tm;
	time_t now = time(NULL);

	if (o->workdir != NULL &&
	    run_workdir(o->workdir, &o->workdir_abs, errp) == -1)
		return -1;
	if (o->nsetups == 0)
		req->workdir = o->workdir_abs;
	if (o->persist && req->session == NULL) {
		localtime_r(&now, &tm);
		snprintf(o->persist_name, sizeof o->persist_name,
		    "run-%02d%02d-%02d%02d%02d-%ld", tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid());
		req->session = o->persist_name;
	}
	return run_setup_script(&o->setup, o->setups, o->nsetups, errp);
}

/*
 * --host: a server cannot take a streamed stdin (docs/api.md), so a piped
 * one is read whole, at most ISOL8_MAX_CODE bytes, and sent in the request.
 */
static int
run_stdin_whole(
    struct run_opts *o, struct isol8_request *req, struct err **errp)
{
	if (read_file("/dev/stdin", ISOL8_MAX_CODE, &o->stdin_buf, errp) == -1)
		return err_wrap(errp, "stdin (with --host it is sent whole)");
	req->stdin_data = o->stdin_buf.data != NULL ? o->stdin_buf.data : "";
	req->stdin_len = o->stdin_buf.len;
	return 0;
}

/*
 * The rest of the request: env, network rules, files, --get, secrets,
 * where it runs, and stdin -- --stdin DATA, or a piped stdin streamed
 * when the code came from -e, --cmd, FILE or a URL.
 */
int
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
	if (run_place(o, req, errp) == -1)
		return -1;
	if (o->stdin_data != NULL) {
		req->stdin_data = o->stdin_data;
		req->stdin_len = strlen(o->stdin_data);
	} else if ((o->eval != NULL || o->cmd != NULL || o->file != NULL ||
	               o->fetch_url != NULL) &&
	    !isatty(0) && fstat(0, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) ||
	        S_ISSOCK(st.st_mode))) {
		if (o->host != NULL)
			return run_stdin_whole(o, req, errp);
		req->stdin_stream = 1;
		*stdin_regular = S_ISREG(st.st_mode);
	}
	return 0;
}

void
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
	run_setup_free(&o->setup);
	buf_free(&o->code);
	buf_free(&o->stdin_buf);
	free(o->fetch_url);
	free(o->workdir_abs);
}
