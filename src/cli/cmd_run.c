/*
 * isol8 run: one execution. Code comes from -e, a file, or stdin; when it
 * comes from -e or a file, a piped stdin becomes the program's stdin and is
 * streamed with backpressure. Output streams as it arrives (and to --out);
 * --json prints one result object instead. The exit status is the
 * program's own, or one of the codes in cli.h (docs/cli.md).
 *
 * Output that cannot be delivered ends the run: the first failed write to
 * stdout, to the program's stderr or to --out is said once (cli_out.c),
 * the run is cancelled (its container removed), and the status is 125 --
 * or 141 without a message when stdout's reader went away (`| head`).
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "../util/util.h"

#define RUN_STDIN_HIGH (1u << 20)
#define RUN_MAX_CODE (16u << 20)

struct run_ctx {
	struct event_base *base;
	struct isol8_engine *e;
	struct isol8_run *run;
	const char *runtime;
	struct cli_out file; /* --out, when given (file.f != NULL) */
	int output_lost;     /* a sink failed: the run was stopped */
	int json;
	int quiet;
	struct buf out;
	struct buf err;
	struct isol8_result result;
	struct isol8_error error;
	char container[80];
	int failed;
	int done;
	int stdin_regular;
	char *const *locals;
	int fetch_failed;
	int exit_status;
	struct event *stdin_ev;
	struct event *stdin_retry;
	int interrupted;
	int log_network;
	struct buf net; /* the filtered network's decisions, a JSON array */
};

#define MAX_GETS 16
#define MAX_PATTERNS 64
#define FILES_MAX_TOTAL (64u << 20)
#define FILES_MAX_COUNT ISOL8_MAX_FILES

struct run_files {
	struct isol8_file *f;
	size_t n;
	size_t bytes;
};

static void
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
files_add(struct run_files *rf, const char *full, const char *rel, size_t size)
{
	struct err *e = NULL;
	struct buf b;

	if (rf->n == FILES_MAX_COUNT || rf->bytes + size > FILES_MAX_TOTAL) {
		cli_error("--files: more than %d files or %u MiB",
		    FILES_MAX_COUNT, FILES_MAX_TOTAL >> 20);
		return -1;
	}
	buf_init(&b);
	if (read_file(full, FILES_MAX_TOTAL, &b, &e) == -1) {
		cli_error("--files: %s", e->msg);
		err_free(&e);
		return -1;
	}
	rf->f = xreallocarray(rf->f, rf->n + 1, sizeof *rf->f);
	rf->f[rf->n].path = xstrdup(rel);
	rf->f[rf->n].data = b.data ? b.data : xstrdup("");
	rf->f[rf->n++].len = b.len;
	rf->bytes += b.len;
	return 0;
}

/*
 * Collect a local directory for /sandbox: regular files only, symbolic
 * links never followed, the usual bulky folders skipped, bounded.
 */
static int
files_walk(const char *root, const char *rel, struct run_files *rf, int depth)
{
	static const char *const skip[] = { ".git", "node_modules",
		"__pycache__", ".venv", "venv", ".tox", ".mypy_cache" };
	struct dirent *de;
	struct stat st;
	char *dir, *sub, *full;
	DIR *d;
	size_t i;
	int rc = 0;

	dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	if (depth > 32 || (d = opendir(dir)) == NULL) {
		cli_error("--files: cannot read `%s`: %s", dir,
		    depth > 32 ? "too deep" : strerror(errno));
		free(dir);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		for (i = 0; i < nitems(skip); i++)
			if (strcmp(de->d_name, skip[i]) == 0)
				break;
		if (i < nitems(skip))
			continue;
		sub = *rel ? xasprintf("%s/%s", rel, de->d_name)
		           : xstrdup(de->d_name);
		full = xasprintf("%s/%s", root, sub);
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			rc = files_walk(root, sub, rf, depth + 1);
		else if (lstat(full, &st) == 0 && S_ISREG(st.st_mode))
			rc = files_add(rf, full, sub, (size_t)st.st_size);
		free(sub);
		free(full);
	}
	closedir(d);
	free(dir);
	return rc;
}

static int
files_dir(const char *dir, struct run_files *rf)
{
	struct stat st;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		cli_error("--files wants a directory, `%s` is not one", dir);
		return -1;
	}
	return files_walk(dir, "", rf, 0);
}

/*
 * A --get file, never through an existing symbolic link: every byte
 * written (short writes continue) and the close checked; -1 with errno.
 */
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

/* Write the --get files; 1 when one could not be read or written. */
static int
fetch_outputs(struct run_ctx *c, const struct isol8_result *r)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < r->outputs_len; i++) {
		const struct isol8_output_file *o = &r->outputs[i];

		if (o->error != NULL) {
			cli_error("--get %s: %s", o->path, o->error);
			failed = 1;
		} else if (write_local(c->locals[i], o->data, o->len) == -1) {
			cli_error("--get: cannot write `%s`: %s", c->locals[i],
			    strerror(errno));
			failed = 1;
		}
	}
	return failed;
}

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

/* The filtered network's decisions as a JSON array (empty: none). */
static void
net_events_json(struct buf *b, const struct isol8_result *r)
{
	const struct isol8_net_event *ev;
	size_t i;

	buf_addstr(b, "[");
	for (i = 0; i < r->net_events_len; i++) {
		ev = &r->net_events[i];
		buf_addstr(b, i ? ",{\"method\":\"" : "{\"method\":\"");
		json_escape(b, ev->method, strlen(ev->method));
		buf_addstr(b, "\",\"host\":\"");
		json_escape(b, ev->host, strlen(ev->host));
		buf_printf(b, "\",\"port\":%s,\"action\":\"%s\"", ev->port,
		    ev->allowed ? "allow" : "block");
		if (ev->reason != NULL) {
			buf_addstr(b, ",\"reason\":\"");
			json_escape(b, ev->reason, strlen(ev->reason));
			buf_addstr(b, "\"");
		}
		buf_addstr(b, "}");
	}
	if (r->net_events_dropped > 0)
		buf_printf(b, "%s{\"dropped\":%llu}", i ? "," : "",
		    (unsigned long long)r->net_events_dropped);
	buf_addstr(b, "]");
}

static void
on_done(const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct run_ctx *c = arg;

	c->result = *res;
	c->fetch_failed = fetch_outputs(c, res);
	net_events_json(&c->net, res);
	c->result.net_events = NULL;
	if (res->container_id != NULL)
		snprintf(
		    c->container, sizeof c->container, "%s", res->container_id);
	c->result.container_id = NULL;
	if (e != NULL) {
		c->error = *e;
		c->failed = 1;
	}
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

static void
print_json(struct run_ctx *c)
{
	struct buf b = { 0 };
	const struct isol8_result *r = &c->result;

	buf_addstr(&b, "{\"runtime\":\"");
	json_escape(&b, c->runtime, strlen(c->runtime));
	buf_addstr(&b, "\",\"stdout\":\"");
	json_escape(&b, c->out.data ? c->out.data : "", c->out.len);
	buf_addstr(&b, "\",\"stderr\":\"");
	json_escape(&b, c->err.data ? c->err.data : "", c->err.len);
	buf_printf(&b,
	    "\",\"exitCode\":%d,\"signal\":%d,\"timedOut\":%s,"
	    "\"oomKilled\":%s,\"truncated\":%s,\"stateLost\":%s,"
	    "\"durationMs\":%llu,"
	    "\"totalMs\":%llu,\"queuedMs\":%llu,\"cpuMs\":%llu,"
	    "\"peakRssKb\":%llu,\"stdoutBytes\":%llu,\"stderrBytes\":%llu,"
	    "\"containerId\":\"%s\",",
	    r->exit_code, r->signal, r->timed_out ? "true" : "false",
	    r->oom_killed ? "true" : "false", r->truncated ? "true" : "false",
	    r->state_lost != ISOL8_STATE_KEPT ? "true" : "false",
	    (unsigned long long)r->run_ms, (unsigned long long)r->total_ms,
	    (unsigned long long)r->queued_ms, (unsigned long long)r->cpu_ms,
	    (unsigned long long)r->peak_rss_kb,
	    (unsigned long long)r->stdout_bytes,
	    (unsigned long long)r->stderr_bytes, c->container);
	if (c->net.len > 2) {
		buf_addstr(&b, "\"network\":");
		buf_add(&b, c->net.data, c->net.len);
		buf_addstr(&b, ",");
	}
	buf_addstr(&b, "\"error\":");
	if (c->failed) {
		buf_addstr(&b, "\"");
		json_escape(&b, c->error.message, strlen(c->error.message));
		buf_addstr(&b, "\"");
	} else
		buf_addstr(&b, "null");
	buf_addstr(&b, "}\n");
	cli_out_write(&cli_stdout, b.data, b.len);
	buf_free(&b);
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

static int
read_code(const char *path, struct buf *b)
{
	struct err *e = NULL;
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_error("`%s` is a directory, not a script", path);
		return -1;
	}
	if (read_file(path ? path : "/dev/stdin", RUN_MAX_CODE, b, &e) == -1) {
		cli_error("%s", e->msg);
		err_free(&e);
		return -1;
	}
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
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
	};
	static const struct option opts[] = {
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
		{ NULL, 0, NULL, 0 },
	};
	static const struct isol8_callbacks cbs = { on_stdout, on_stderr,
		on_done };
	struct run_ctx c;
	struct cli_config cfg;
	struct isol8_request req;
	struct isol8_engine_opts eo;
	struct isol8_error err;
	struct isol8_kv *env = NULL, *secrets = NULL;
	size_t nenv = 0, nsec = 0, i;
	struct buf code = { 0 };
	struct run_files files = { 0 };
	const char *gets[MAX_GETS], *outputs[MAX_GETS];
	const char *allow[MAX_PATTERNS], *deny[MAX_PATTERNS];
	size_t nallow = 0, ndeny = 0;
	int allow_private = 0;
	char *locals[MAX_GETS];
	size_t ngets = 0;
	struct event *sigint = NULL, *sigterm = NULL;
	const char *eval = NULL, *cmd = NULL, *file = NULL, *runtime = NULL;
	const char *out_path = NULL, *stdin_data = NULL, *ext = NULL;
	struct err *cerr = NULL;
	struct stat st;
	int ch, rc = EXIT_USAGE;

	memset(&c, 0, sizeof c);
	if (config_load(&cfg, NULL, &cerr) == -1) {
		cli_error("%s", cerr->msg);
		err_free(&cerr);
		return EXIT_USAGE;
	}
	isol8_request_init(&req);
	config_request(&cfg, &req);
	/* The config's env first: --env may override it (later wins). */
	cli_kv_copy(cfg.env, cfg.env_len, &env, &nenv);

	while ((ch = getopt_long(argc, argv, "e:r:qh", opts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			eval = optarg;
			break;
		case O_CMD:
			cmd = optarg;
			break;
		case 'r':
			runtime = optarg;
			break;
		case O_OUT:
			out_path = optarg;
			break;
		case O_STDIN:
			stdin_data = optarg;
			break;
		case O_ENV:
			if (cli_kv("--env", optarg, &env, &nenv) == -1)
				goto out;
			break;
		case O_SECRET:
			if (cli_kv("--secret", optarg, &secrets, &nsec) == -1)
				goto out;
			break;
		case O_PERSIST:
			if (req.session == NULL)
				req.session = "default";
			break;
		case O_SESSION:
			req.session = optarg;
			break;
		case O_FILES:
			if (files_dir(optarg, &files) == -1)
				goto out;
			break;
		case O_GET:
			if (ngets == MAX_GETS) {
				cli_error("at most %d --get", MAX_GETS);
				goto out;
			}
			gets[ngets++] = optarg;
			break;
		case O_JSON:
			c.json = 1;
			break;
		case 'q':
			c.quiet = 1;
			break;
		case 'h':
			run_usage(stdout);
			rc = 0;
			goto out;
		case O_ALLOW:
		case O_DENY:
			if ((ch == O_ALLOW ? nallow : ndeny) == MAX_PATTERNS) {
				cli_error("at most %d --allow and %d --deny "
				          "patterns",
				    MAX_PATTERNS, MAX_PATTERNS);
				goto out;
			}
			if (ch == O_ALLOW)
				allow[nallow++] = optarg;
			else
				deny[ndeny++] = optarg;
			break;
		case O_ALLOW_PRIVATE:
			allow_private = 1;
			break;
		case O_LOG_NET:
			c.log_network = 1;
			break;
		case O_LATER:
			cli_error("%s is not available in this version",
			    argv[optind - 1]);
			goto out;
		default:
			if (cli_limit_opt(ch, optarg, &req) == 1)
				break;
			goto out;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc) {
		cli_error("unexpected argument `%s` (one FILE at most)",
		    argv[optind]);
		goto out;
	}
	if ((eval != NULL) + (cmd != NULL) + (file != NULL) > 1) {
		cli_error("give only one of -e, --cmd and FILE");
		goto out;
	}
	if (runtime != NULL && !isol8_runtime_known(runtime)) {
		cli_error("unknown runtime `%s` (python, node, bun, deno, "
		          "bash)",
		    runtime);
		goto out;
	}
	if (file != NULL) {
		if (runtime == NULL &&
		    (runtime = isol8_runtime_for_path(file)) == NULL) {
			cli_error("cannot tell the runtime of `%s` from its "
			          "extension: give --runtime",
			    file);
			goto out;
		}
		if ((ext = strrchr(file, '.')) != NULL &&
		    strcmp(runtime, "node") == 0)
			req.file_ext = ext; /* .cjs stays CommonJS */
		if (read_code(file, &code) == -1)
			goto out;
	} else if (eval == NULL && cmd == NULL) {
		if (isatty(0)) {
			cli_error("no code: give -e CODE, FILE, or pipe code "
			          "on stdin (see isol8 run --help)");
			goto out;
		}
		if (read_code(NULL, &code) == -1)
			goto out;
	}
	if (runtime == NULL)
		runtime = cmd != NULL ? "bash" : cfg.runtime;
	req.runtime = runtime;
	c.runtime = runtime;
	if (cmd != NULL)
		req.cmd = cmd;
	else if (eval != NULL)
		req.code = eval;
	else {
		req.code = code.data ? code.data : "";
		req.code_len = code.len;
		if (code.len == 0) {
			cli_error("the code is empty");
			goto out;
		}
	}
	req.env = env;
	req.env_len = nenv;
	if ((nallow + ndeny > 0 || allow_private || c.log_network) &&
	    (req.network == NULL || strcmp(req.network, "filtered") != 0)) {
		cli_error("--allow, --deny, --allow-private and --log-network "
		          "go with --net filtered");
		goto out;
	}
	/* The file's rules; flags replace them (each list as a whole). */
	config_network(&cfg, &req);
	if (allow_private)
		req.net_allow_private = 1;
	if (nallow > 0) {
		req.net_allow = allow;
		req.net_allow_len = nallow;
	}
	if (ndeny > 0) {
		req.net_deny = deny;
		req.net_deny_len = ndeny;
	}
	req.files = files.f;
	req.files_len = files.n;
	for (i = 0; i < ngets; i++) {
		const char *colon = strchr(gets[i], ':');
		const char *base;

		outputs[i] = colon
		    ? xstrndup(gets[i], (size_t)(colon - gets[i]))
		    : xstrdup(gets[i]);
		base = strrchr(outputs[i], '/');
		locals[i] = xstrdup(colon && colon[1] ? colon + 1
		        : base                        ? base + 1
		                                      : outputs[i]);
	}
	req.outputs = outputs;
	req.outputs_len = ngets;
	req.secrets = secrets;
	req.secrets_len = nsec;
	if (stdin_data != NULL) {
		req.stdin_data = stdin_data;
		req.stdin_len = strlen(stdin_data);
	} else if ((eval != NULL || cmd != NULL || file != NULL) &&
	    !isatty(0) && fstat(0, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) ||
	        S_ISSOCK(st.st_mode))) {
		req.stdin_stream = 1;
		c.stdin_regular = S_ISREG(st.st_mode);
	}
	if (out_path != NULL) {
		cli_out_init(&c.file, fopen(out_path, "we"), out_path);
		if (c.file.f == NULL) {
			cli_error(
			    "cannot write `%s`: %s", out_path, strerror(errno));
			goto out;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	c.base = event_base_new();
	config_engine_opts(&cfg, &eo);
	if ((c.e = isol8_engine_new(c.base, &eo, &err)) == NULL) {
		rc = cli_exit_for(&err);
		goto out;
	}
	c.locals = locals;
	if ((c.run = isol8_run_start(c.e, &req, &cbs, &c, &err)) == NULL) {
		rc = cli_exit_for(&err);
		goto out;
	}
	sigint = evsignal_new(c.base, SIGINT, on_signal, &c);
	sigterm = evsignal_new(c.base, SIGTERM, on_signal, &c);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	if (req.stdin_stream) {
		c.stdin_retry = evtimer_new(c.base, stdin_pump, &c);
		if (c.stdin_regular)
			event_active(c.stdin_retry, EV_TIMEOUT, 0);
		else {
			c.stdin_ev =
			    event_new(c.base, 0, EV_READ, stdin_pump, &c);
			event_add(c.stdin_ev, NULL);
		}
	}
	while (!c.done)
		event_base_loop(c.base, EVLOOP_ONCE);
	if (c.json)
		print_json(&c);
	else if (c.log_network && c.net.len > 2) {
		/* One line: the decisions as a JSON array, on stderr. */
		fprintf(stderr, "isol8: network: %.*s\n", (int)c.net.len,
		    c.net.data);
	}
	rc = run_status(&c, &req);
	if (rc == 0 && c.fetch_failed)
		rc = 1;
	if (c.interrupted && !c.quiet && req.session != NULL)
		cli_error(
		    "interrupted; the run in session `%s` was sent SIGINT "
		    "(killed if still going 2 s later)",
		    req.session);
	else if (c.interrupted && !c.quiet)
		cli_error("interrupted; the sandbox was removed");
	rc = run_outputs_status(&c, rc);
	if (!c.interrupted && isol8_engine_busy(c.e)) {
		c.exit_status = rc;
		if (detach_refill(&c) == 0) {
			cli_engine_free(c.base, c.e, 30000); /* refills */
			c.e = NULL;
		}
	}
out:
	cli_engine_free(c.base, c.e, CLI_DRAIN_MS);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (c.stdin_ev != NULL)
		event_free(c.stdin_ev);
	if (c.stdin_retry != NULL)
		event_free(c.stdin_retry);
	if (c.base != NULL)
		event_base_free(c.base);
	if (c.file.f != NULL)
		cli_out_close(&c.file); /* nothing was written: a usage error */
	cli_kv_free(env, nenv);
	cli_kv_free(secrets, nsec);
	for (i = 0; i < ngets; i++) {
		free((char *)(uintptr_t)outputs[i]);
		free(locals[i]);
	}
	run_files_free(&files);
	buf_free(&code);
	buf_free(&c.out);
	buf_free(&c.err);
	buf_free(&c.net);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_run_entry = { "run", "run code in a sandbox",
	cmd_run };
