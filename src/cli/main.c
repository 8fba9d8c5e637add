/*
 * isol8: the command table and main(); what commands share is in cli.c.
 * Every command's status passes through cli_out_finish(): output that did
 * not reach stdout is a failure, whatever the command returned. Global
 * options come before the command: --debug (debug lines on stderr for the
 * command that follows), --version (the bare version, as the original
 * isol8 prints it) and --help; no arguments at all is --help.
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
	&cmd_serve_entry,
	&cmd_setup_entry,
	&cmd_build_entry,
	&cmd_list_custom_entry,
	&cmd_session_entry,
	&cmd_cleanup_entry,
	&cmd_bench_entry,
	&cmd_config_entry,
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "Usage: isol8 [options] <command> [command options]\n\n"
	    "Run untrusted code in hardened Docker containers.\n\n"
	    "Options:\n"
	    "  -V, --version  print the version\n"
	    "      --debug    debug lines on stderr (the engine's and isol8's)\n"
	    "  -h, --help     this help\n\n"
	    "Commands:\n");
	for (i = 0; i < nitems(cmd_table); i++)
		fprintf(f, "  %-11s %s\n", cmd_table[i]->name,
		    cmd_table[i]->summary);
	fprintf(f, "\n`isol8 <command> --help` describes a command.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	cli_stdio_init();
	/* The global options, before the command. */
	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (strcmp(argv[1], "--debug") == 0)
			cli_debug = 1;
		else if (strcmp(argv[1], "--version") == 0 ||
		    strcmp(argv[1], "-V") == 0) {
			printf("%s\n", isol8_version());
			return cli_out_finish(0);
		} else if (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0) {
			usage(stdout);
			return cli_out_finish(0);
		} else {
			cli_error("unknown option `%s`", argv[1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc < 2 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return cli_out_finish(0);
	}
	if (cli_debug)
		cli_debug_header(argv[1]);
	/* Whatever a command printed must have reached stdout. */
	for (i = 0; i < nitems(cmd_table); i++)
		if (strcmp(argv[1], cmd_table[i]->name) == 0)
			return cli_out_finish(
			    cmd_table[i]->exec(argc - 1, argv + 1));
	cli_error("unknown command `%s`", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
