/*
 * isol8 config: print the resolved configuration and where it came from.
 */
#include <getopt.h>

#include "cli.h"
#include "../util/util.h"

static int
cmd_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_config cfg;
	const char *file = NULL;
	struct err *cerr = NULL;
	int c, json = 0;

	while ((c = getopt_long(argc, argv, "jf:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			printf("usage: isol8 config [--json] [--file PATH]\n\n"
			       "Print the resolved configuration: built-in "
			       "defaults overlaid with\n./isol8.config.json or "
			       "~/.isol8/config.json (docs/config.md).\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (config_load(&cfg, file, &cerr) == -1) {
		cli_error("%s", cerr->msg);
		err_free(&cerr);
		return EXIT_USAGE;
	}
	config_print(&cfg, json);
	config_free(&cfg);
	return 0;
}

const struct cli_cmd cmd_config_entry = { "config",
	"print the resolved configuration", cmd_config };
