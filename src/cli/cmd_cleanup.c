/*
 * isol8 cleanup: remove every container isol8 created on this Docker
 * engine -- sessions, warm containers, runs, orphans -- found by the label
 * isol8 sets at creation, and with --images the isol8 images. Asks first on
 * a terminal unless --force. Nothing isol8 did not create is touched.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

static int
cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "images", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	struct err *cerr = NULL;
	char answer[16];
	unsigned removed = 0;
	int c, force = 0, images = 0, rc = 0;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = 1;
			break;
		case 'i':
			images = 1;
			break;
		case 'h':
			printf(
			    "Usage: isol8 cleanup [--force] [--images]\n\n"
			    "Remove every container isol8 created (sessions, warm, runs), by label;\n"
			    "with --images also the isol8 images. Asks on a terminal unless --force.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (!force && isatty(0)) {
		printf(
		    "Remove all isol8 containers%s (sessions included)? [y/N] ",
		    images ? " and images" : "");
		fflush(stdout);
		if (fgets(answer, sizeof answer, stdin) == NULL ||
		    (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("nothing removed\n");
			return 0;
		}
	}
	if (config_load(&cfg, NULL, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	config_start(&cfg, "cleanup", 0);
	config_engine_opts(&cfg, &eo);
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		config_free(&cfg);
		return cli_exit_for(&err);
	}
	if (isol8_cleanup(e, images, &removed, &err) == -1)
		rc = cli_exit_for(&err);
	else
		printf("removed %u isol8 container(s)%s\n", removed,
		    images ? " and image(s)" : "");
	isol8_engine_free(e);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_cleanup_entry = { "cleanup",
	"remove every container (and image) isol8 created", cmd_cleanup };
