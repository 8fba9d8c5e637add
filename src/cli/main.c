/*
 * isol8: the command table and what every command shares -- error
 * messages, the exit code for an engine error, and flag value parsing.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

static const struct cli_cmd *const cmd_table[] = {
	&cmd_run_entry,
	&cmd_batch_entry,
	&cmd_setup_entry,
	&cmd_session_entry,
	&cmd_cleanup_entry,
	&cmd_bench_entry,
	&cmd_config_entry,
};

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

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: isol8 [--version] <command> [options]\n\n"
	    "Run untrusted code in hardened Docker containers.\n\n"
	    "commands:\n");
	for (i = 0; i < nitems(cmd_table); i++)
		fprintf(f, "  %-9s %s\n", cmd_table[i]->name,
		    cmd_table[i]->summary);
	fprintf(f, "\n`isol8 <command> --help` describes a command.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("isol8 %s\n", isol8_version());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < nitems(cmd_table); i++)
		if (strcmp(argv[1], cmd_table[i]->name) == 0)
			return cmd_table[i]->exec(argc - 1, argv + 1);
	cli_error("unknown command `%s`", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
