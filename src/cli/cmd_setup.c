/*
 * isol8 setup: check Docker, build the runtime images offline (a no-op when
 * they are up to date), and print each runtime's version from a hardened
 * container. Each runtime's baked packages (docs/packages.md): the
 * configuration's "dependencies" list, then the --python ... --bash
 * flags', added to what the image carries, or with --replace the whole
 * list; the registries and CA bundle come from the configuration.
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
	printf(
	    "prewarmed %u warm container(s) per runtime (idle expiry %llu s)\n",
	    cfg->pool_size, (unsigned long long)(cfg->pool_idle_ms / 1000));
	return 0;
}

/* Package lists per runtime (cli_runtimes[] order): pointers, not owned. */
struct setup_lists {
	const char **v[CLI_NRUNTIMES];
	size_t n[CLI_NRUNTIMES];
};

static void
lists_add(struct setup_lists *l, size_t r, const char *item)
{
	l->v[r] = xreallocarray(l->v[r], l->n[r] + 1, sizeof *l->v[r]);
	l->v[r][l->n[r]++] = item;
}

static void
lists_free(struct setup_lists *l)
{
	size_t r;

	for (r = 0; r < CLI_NRUNTIMES; r++)
		free(l->v[r]);
}

/*
 * The configuration's lists before the flags' (a later spec of a package
 * re-pins it), each checked (a bad item is a usage error naming it), into
 * the setup options with the configuration's registries and CA bundle.
 */
static int
setup_packages(const struct cli_config *cfg, const struct setup_lists *flags,
    struct setup_lists *all, struct isol8_setup_opts *so)
{
	struct isol8_packages *p[CLI_NRUNTIMES] = { &so->python, &so->node,
		&so->bun, &so->deno, &so->bash };
	struct isol8_error err;
	size_t r, i;

	for (r = 0; r < CLI_NRUNTIMES; r++) {
		for (i = 0; i < cfg->deps_len[r]; i++)
			lists_add(all, r, cfg->deps[r][i]);
		for (i = 0; i < flags->n[r]; i++)
			lists_add(all, r, flags->v[r][i]);
		p[r]->items = all->v[r];
		p[r]->len = all->n[r];
		if (isol8_packages_check(cli_runtimes[r], p[r], &err) == -1) {
			cli_error("%s", err.message);
			return -1;
		}
	}
	so->pip_index_url = cfg->pip_index_url;
	so->npm_registry = cfg->npm_registry;
	so->ca_bundle = cfg->ca_bundle;
	return 0;
}

static void
setup_usage(void)
{
	printf(
	    "Usage: isol8 setup [--force] [--agent PATH] [--prewarm]\n"
	    "                   [--python LIST] [--node LIST] [--bun LIST] [--deno LIST]\n"
	    "                   [--bash LIST] [--replace]\n\n"
	    "Check Docker, build the runtime images isol8/{python,node,bun,deno,bash} offline\n"
	    "(a no-op when up to date), and print each runtime's version from a\n"
	    "hardened container.\n\n"
	    "  -f, --force       rebuild the runtime images\n"
	    "      --agent P     the isol8-agent binary to bake in\n"
	    "      --prewarm     then start warm containers for every runtime with the\n"
	    "                    configured defaults (pool.size each), so that the\n"
	    "                    first `isol8 run` is fast too\n"
	    "      --python L    bake packages into the runtime's image (repeatable; L is\n"
	    "      --node L      a comma list: \"numpy,pandas>=2\", \"zod@3\", \"npm:zod\",\n"
	    "      --bun L       \"jq\"), after the configuration's `dependencies`; they add\n"
	    "      --deno L      to what each image carries (a later spec of a package\n"
	    "      --bash L      re-pins it)\n"
	    "      --replace     each image carries exactly the lists given (configuration\n"
	    "                    and flags): how packages are removed; with no lists,\n"
	    "                    every image is plain again\n"
	    "      --debug       debug lines on stderr\n\n"
	    "Registries and a CA bundle: the configuration's `packages` (docs/packages.md).\n");
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
		{ "python", required_argument, NULL, 1000 },
		{ "node", required_argument, NULL, 1001 },
		{ "bun", required_argument, NULL, 1002 },
		{ "deno", required_argument, NULL, 1003 },
		{ "bash", required_argument, NULL, 1004 },
		{ "replace", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct setup_lists flags = { 0 }, all = { 0 };
	struct isol8_setup_opts so;
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	struct err *cerr = NULL;
	int c, rc, prewarm = 0;

	isol8_setup_opts_init(&so);
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c >= 1000 && c < 1000 + CLI_NRUNTIMES) {
			lists_add(&flags, (size_t)(c - 1000), optarg);
			continue;
		}
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
		case 'r':
			so.packages_replace = 1;
			break;
		case 'd':
			cli_debug_on("setup");
			break;
		case 'h':
			lists_free(&flags);
			setup_usage();
			return 0;
		default:
			lists_free(&flags);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		lists_free(&flags);
		cli_error("setup takes no arguments");
		return EXIT_USAGE;
	}
	if (config_load(&cfg, NULL, &cerr) == -1) {
		lists_free(&flags);
		return cli_fail(&cerr, EXIT_USAGE);
	}
	config_start(&cfg, "setup", 0);
	if (setup_packages(&cfg, &flags, &all, &so) == -1) {
		lists_free(&flags);
		lists_free(&all);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	config_engine_opts(&cfg, &eo);
	so.progress = setup_progress;
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		rc = cli_exit_for(&err);
		goto out;
	}
	rc = isol8_setup_sync(e, &so, &err) == 0 ? 0 : cli_exit_for(&err);
	if (rc == 0 && prewarm)
		rc = setup_prewarm(e, &cfg);
	/* The original's last line, which its users' scripts look for. */
	if (rc == 0)
		printf("\n[DONE] Setup complete!\n");
	isol8_engine_free(e);
out:
	lists_free(&flags);
	lists_free(&all);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_setup_entry = { "setup",
	"check Docker and build the runtime images", cmd_setup };
