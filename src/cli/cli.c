/*
 * What every command shares: error messages, debug lines, the exit code
 * and remedy for an engine error, flag value parsing (sizes, numbers,
 * KEY=VALUE lists), and the limit flags of `run` and `batch`. Helpers
 * report through struct err (the last parameter); a command says the
 * error once, at its top, with cli_fail().
 *
 * Debug lines (--debug, or "debug": true in the configuration) go to
 * stderr as "[DEBUG] ...", the prefix the original isol8 uses, so that
 * stdout stays the program's own output.
 */
#include <sys/utsname.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli.h"
#include "../util/util.h"

int cli_debug;

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("isol8: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A debug line on stderr, when --debug is on. */
void
cli_debugf(const char *fmt, ...)
{
	va_list ap;

	if (!cli_debug)
		return;
	fputs("[DEBUG] ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The first debug lines of a command: what runs, which version, where. */
void
cli_debug_header(const char *cmd)
{
	struct utsname u;

	cli_debugf("[CLI] Command: %s", cmd);
	cli_debugf("[CLI] Version: %s", isol8_version());
	if (uname(&u) == 0)
		cli_debugf("[CLI] Platform: %s %s", u.sysname, u.machine);
}

/* A command's own --debug: as the global one. */
void
cli_debug_on(const char *cmd)
{
	if (cli_debug)
		return;
	cli_debug = 1;
	cli_debug_header(cmd);
}

/*
 * The engine's log lines (isol8_engine_opts.log, verbose 2 with --debug):
 * warnings and errors as without --debug, the rest tagged.
 */
void
cli_engine_log(enum isol8_log_level level, const char *line, void *arg)
{
	(void)arg;
	if (level <= ISOL8_LOG_WARN)
		cli_error("%s", line);
	else
		fprintf(stderr, "%s %s\n",
		    level == ISOL8_LOG_INFO ? "[INFO]" : "[DEBUG]", line);
}

/*
 * Say a CLI error (struct err, the convention of every helper here) once,
 * free it, and return the exit status it stands for.
 */
int
cli_fail(struct err **errp, int status)
{
	if (*errp != NULL)
		cli_error("%s", (*errp)->msg);
	err_free(errp);
	return status;
}

/* The exit status of an engine error (docs/cli.md "Exit status"). */
int
cli_exit_code(const struct isol8_error *e)
{
	switch (e->code) {
	case ISOL8_EUNAVAILABLE:
		return EXIT_NODOCKER;
	case ISOL8_ENOIMAGE:
		return EXIT_NOIMAGE;
	case ISOL8_EINSTALL:
		return EXIT_INSTALL;
	case ISOL8_EINVAL:
		return EXIT_USAGE;
	case ISOL8_ECANCELLED:
		return EXIT_INTERRUPTED;
	default:
		return EXIT_INTERNAL;
	}
}

/* The exit status and a one-line remedy for an engine error. */
int
cli_exit_for(const struct isol8_error *e)
{
	switch (e->code) {
	case ISOL8_EUNAVAILABLE:
		cli_error(
		    "Docker is not running or not reachable (%s); start it with `scripts/dockerd-up.sh` (or `dockerd &`) as root, then retry",
		    e->message);
		break;
	case ISOL8_ENOIMAGE:
		cli_error(
		    "%s; the runtime images are missing or stale: run `isol8 setup`",
		    e->message);
		break;
	case ISOL8_EINSTALL:
	case ISOL8_EINVAL:
		cli_error("%s", e->message);
		break;
	case ISOL8_ECANCELLED:
		break;
	default:
		cli_error("%s: %s", isol8_strerror(e->code), e->message);
		break;
	}
	return cli_exit_code(e);
}

/*
 * Free an engine that runs on the command's own event_base: first turn
 * that base, at most ms, until the engine's background work (removals,
 * refills) is done -- the engine never turns a base that is not its own.
 * What freeing starts (its last removals) ends in cli_base_free().
 */
void
cli_engine_free(struct event_base *base, struct isol8_engine *e, uint64_t ms)
{
	uint64_t until = now_ms() + ms;

	if (e == NULL)
		return;
	while (isol8_engine_busy(e) && now_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
	isol8_engine_free(e);
}

/*
 * Free the command's base once the command's own events are gone: a freed
 * engine may still have its last removals there, bounded by its own
 * deadline (isol8.h), and the base runs until nothing of it is left.
 */
void
cli_base_free(struct event_base *base)
{
	if (base == NULL)
		return;
	event_base_dispatch(base);
	event_base_free(base);
}

/* KEY=VALUE into a growing array of key/value pairs. */
int
cli_kv(const char *flag, const char *arg, struct isol8_kv **kv, size_t *n,
    struct err **errp)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg)
		return err_set(errp, ERR_INVALID,
		    "%s wants KEY=VALUE, got `%s`", flag, arg);
	*kv = xreallocarray(*kv, *n + 1, sizeof **kv);
	(*kv)[*n].key = xstrndup(arg, (size_t)(eq - arg));
	(*kv)[*n].value = xstrdup(eq + 1);
	(*n)++;
	return 0;
}

/* Append copies of n pairs to a list that owns its strings. */
void
cli_kv_copy(
    const struct isol8_kv *from, size_t n, struct isol8_kv **kv, size_t *len)
{
	size_t i;

	if (n == 0)
		return;
	*kv = xreallocarray(*kv, *len + n, sizeof **kv);
	for (i = 0; i < n; i++) {
		(*kv)[*len].key = xstrdup(from[i].key);
		(*kv)[(*len)++].value = xstrdup(from[i].value);
	}
}

/* Free a list of pairs and the strings it owns. */
void
cli_kv_free(struct isol8_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)(uintptr_t)kv[i].key);
		free((char *)(uintptr_t)kv[i].value);
	}
	free(kv);
}

/* A whole number from 1 to max. */
int
cli_uint(const char *flag, const char *arg, uint64_t max, uint64_t *out,
    struct err **errp)
{
	if (parse_uint(arg, max, out) == -1 || *out == 0)
		return err_set(errp, ERR_INVALID,
		    "%s wants a whole number from 1 to %llu, got `%s`", flag,
		    (unsigned long long)max, arg);
	return 0;
}

/* --stall-timeout (run, batch): by the engine's table, into *ms. */
int
cli_stall_opt(const char *arg, uint64_t *ms, struct err **errp)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;

	isol8_engine_opts_init(&eo);
	if (isol8_engine_opts_parse_limit(&eo, ISOL8_LIMIT_REMOTE_STALL, arg,
	        "--stall-timeout", &err) == -1)
		return err_set(errp, ERR_INVALID, "%s", err.message);
	*ms = eo.remote_stall_ms;
	return 0;
}

/*
 * A limit flag (CLI_LIMIT_OPTIONS) into req: 1 when handled, -1 for a bad
 * value, 0 when ch is not a limit flag. The engine's table says what is
 * valid (isol8_request_parse_limit).
 */
int
cli_limit_opt(
    int ch, const char *arg, struct isol8_request *req, struct err **errp)
{
	static const struct {
		int ch;
		enum isol8_limit limit;
		const char *flag;
	} flags[] = {
		{ CLI_O_TIMEOUT, ISOL8_LIMIT_TIMEOUT, "--timeout" },
		{ CLI_O_MEMORY, ISOL8_LIMIT_MEMORY, "--memory" },
		{ CLI_O_CPU, ISOL8_LIMIT_CPUS, "--cpu" },
		{ CLI_O_PIDS, ISOL8_LIMIT_PIDS, "--pids" },
		{ CLI_O_SANDBOX, ISOL8_LIMIT_SANDBOX_SIZE, "--sandbox-size" },
		{ CLI_O_TMP, ISOL8_LIMIT_TMP_SIZE, "--tmp-size" },
		{ CLI_O_MAXOUT, ISOL8_LIMIT_MAX_OUTPUT, "--max-output" },
	};
	struct isol8_error err;
	size_t i;

	for (i = 0; i < nitems(flags); i++) {
		if (flags[i].ch != ch)
			continue;
		if (isol8_request_parse_limit(
		        req, flags[i].limit, arg, flags[i].flag, &err) == -1)
			return err_set(errp, ERR_INVALID, "%s", err.message);
		return 1;
	}
	switch (ch) {
	case CLI_O_NET:
		if (strcmp(arg, "none") != 0 && strcmp(arg, "host") != 0 &&
		    strcmp(arg, "filtered") != 0)
			return err_set(errp, ERR_INVALID,
			    "--net wants none, host or filtered, got `%s`",
			    arg);
		req->network = arg;
		return 1;
	case CLI_O_IMAGE:
		req->image = arg;
		return 1;
	}
	return 0;
}
