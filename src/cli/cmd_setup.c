/*
 * isol8 setup: check Docker, build the runtime images offline (a no-op when
 * they are up to date), and print each runtime's version from a hardened
 * container.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

static void
setup_progress(const char *line, void *arg)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

/* Warm containers for every runtime, with the configured run defaults. */
static int
setup_prewarm(struct isol8_engine *e, const struct cli_config *cfg)
{
	static const char *const runtimes[] = { "python", "node", "bun", "deno",
		"bash" };
	struct isol8_request req;
	struct isol8_error err;
	size_t i;

	for (i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++) {
		isol8_request_init(&req);
		req.runtime = runtimes[i];
		config_request(cfg, &req);
		if (isol8_engine_prewarm(e, &req, &err) == -1)
			return cli_exit_for(&err);
	}
	isol8_engine_drain(e, 60000);
	printf("prewarmed %u warm container(s) per runtime (idle expiry "
	       "%llu s)\n",
	    cfg->pool_size, (unsigned long long)(cfg->pool_idle_ms / 1000));
	return 0;
}

static int
cmd_setup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "agent", required_argument, NULL, 'a' },
		{ "prewarm", no_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct isol8_setup_opts so;
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	struct err *cerr = NULL;
	int c, rc, prewarm = 0;

	isol8_setup_opts_init(&so);
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			so.force = 1;
			break;
		case 'a':
			so.agent_path = optarg;
			break;
		case 'p':
			prewarm = 1;
			break;
		case 'd':
			cli_debug_on("setup");
			break;
		case 'h':
			printf(
			    "Usage: isol8 setup [--force] [--agent PATH]\n\n"
			    "Check Docker, build the runtime images "
			    "isol8/{python,node,bun,deno,bash} offline\n(a "
			    "no-op when up to date), and print each runtime's "
			    "version from a\nhardened container.\n\n"
			    "  -f, --force     rebuild the runtime images\n"
			    "      --agent P   the isol8-agent binary to bake "
			    "in\n"
			    "      --prewarm   then start warm containers for "
			    "every runtime with the\n"
			    "                  configured defaults (pool.size "
			    "each), so that the\n"
			    "                  first `isol8 run` is fast "
			    "too\n"
			    "      --debug     debug lines on stderr\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("setup takes no arguments");
		return EXIT_USAGE;
	}
	if (config_load(&cfg, NULL, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	config_start(&cfg, "setup", 0);
	config_engine_opts(&cfg, &eo);
	so.progress = setup_progress;
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		config_free(&cfg);
		return cli_exit_for(&err);
	}
	rc = isol8_setup_sync(e, &so, &err) == 0 ? 0 : cli_exit_for(&err);
	if (rc == 0 && prewarm)
		rc = setup_prewarm(e, &cfg);
	/* The original's last line, which its users' scripts look for. */
	if (rc == 0)
		printf("\n[DONE] Setup complete!\n");
	isol8_engine_free(e);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_setup_entry = { "setup",
	"check Docker and build the runtime images", cmd_setup };
