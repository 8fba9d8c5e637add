/*
 * What every command shares: error messages, the exit code and remedy for
 * an engine error, flag value parsing (sizes, numbers, KEY=VALUE lists),
 * and the limit flags of `run` and `batch`.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

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

/* The exit code and a one-line remedy for an engine error. */
int
cli_exit_for(const struct isol8_error *e)
{
	switch (e->code) {
	case ISOL8_EUNAVAILABLE:
		cli_error(
		    "Docker is not running or not reachable (%s); "
		    "start it with `scripts/dockerd-up.sh` (or `dockerd &`) "
		    "as root, then retry",
		    e->message);
		return EXIT_NODOCKER;
	case ISOL8_ENOIMAGE:
		cli_error("%s; the runtime images are missing or stale: run "
		          "`isol8 setup`",
		    e->message);
		return EXIT_NOIMAGE;
	case ISOL8_EINVAL:
		cli_error("%s", e->message);
		return EXIT_USAGE;
	case ISOL8_ECANCELLED:
		return EXIT_INTERRUPTED;
	default:
		cli_error("%s: %s", isol8_strerror(e->code), e->message);
		return EXIT_INTERNAL;
	}
}

/* KEY=VALUE into a growing array of key/value pairs. */
int
cli_kv(const char *flag, const char *arg, struct isol8_kv **kv, size_t *n)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg) {
		cli_error("%s wants KEY=VALUE, got `%s`", flag, arg);
		return -1;
	}
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

int
cli_size(const char *flag, const char *arg, uint64_t *out)
{
	if (parse_size(arg, out) == -1 || *out == 0) {
		cli_error(
		    "%s wants a size like 512m or 1g, got `%s`", flag, arg);
		return -1;
	}
	return 0;
}

int
cli_uint(const char *flag, const char *arg, uint64_t max, uint64_t *out)
{
	if (parse_uint(arg, max, out) == -1 || *out == 0) {
		cli_error("%s wants a whole number from 1 to %llu, got `%s`",
		    flag, (unsigned long long)max, arg);
		return -1;
	}
	return 0;
}

/*
 * A limit flag (CLI_LIMIT_OPTIONS) into req: 1 when handled, -1 for a bad
 * value (said on stderr), 0 when ch is not a limit flag.
 */
int
cli_limit_opt(int ch, const char *arg, struct isol8_request *req)
{
	uint64_t u;
	char *end;

	switch (ch) {
	case CLI_O_TIMEOUT:
		return cli_uint("--timeout", arg, 86400000, &req->timeout_ms) ==
		        -1
		    ? -1
		    : 1;
	case CLI_O_MEMORY:
		return cli_size("--memory", arg, &req->memory) == -1 ? -1 : 1;
	case CLI_O_CPU:
		req->cpus = strtod(arg, &end);
		if (*end != '\0' || end == arg || req->cpus <= 0 ||
		    req->cpus > 1024) {
			cli_error("--cpu wants a positive number of cores such "
			          "as 0.5, got `%s`",
			    arg);
			return -1;
		}
		return 1;
	case CLI_O_PIDS:
		if (cli_uint("--pids", arg, 1 << 22, &u) == -1)
			return -1;
		req->pids = (int64_t)u;
		return 1;
	case CLI_O_SANDBOX:
		return cli_size("--sandbox-size", arg, &req->sandbox_size) == -1
		    ? -1
		    : 1;
	case CLI_O_TMP:
		return cli_size("--tmp-size", arg, &req->tmp_size) == -1 ? -1
		                                                         : 1;
	case CLI_O_MAXOUT:
		return cli_size("--max-output", arg, &req->max_output) == -1
		    ? -1
		    : 1;
	case CLI_O_NET:
		if (strcmp(arg, "none") != 0 && strcmp(arg, "host") != 0 &&
		    strcmp(arg, "filtered") != 0) {
			cli_error(
			    "--net wants none, host or filtered, got `%s`",
			    arg);
			return -1;
		}
		req->network = arg;
		return 1;
	case CLI_O_IMAGE:
		req->image = arg;
		return 1;
	}
	return 0;
}
