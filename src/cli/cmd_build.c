/*
 * isol8 build: a custom image (docs/packages.md) -- a runtime image under
 * a name of the caller's, carrying exactly the --install packages, after
 * which the --setup commands ran at build time (as root, bash -e). A
 * --setup value that names an existing file is that file's text, as in
 * the original isol8. Registries and the CA bundle come from the
 * configuration; its `dependencies` are setup's, not build's. Everything
 * is checked before Docker is asked (exit 2 naming the item).
 *
 * isol8 list-custom: the images isol8 build made, from their labels.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "../util/util.h"

#define BUILD_SETUP_FILE_MAX (8u << 10) /* the library's bound in all */

static void
build_progress(const char *line, void *arg)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

/* What the flags gave; the strings are argv's or owned in files[]. */
struct build_args {
	const char **pkgs;
	size_t npkgs;
	const char **setup;
	size_t nsetup;
	char **files; /* setup scripts read from files, owned */
	size_t nfiles;
};

static void
strs_add(const char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	(*v)[(*n)++] = s;
}

static void
build_args_free(struct build_args *a)
{
	size_t i;

	for (i = 0; i < a->nfiles; i++)
		free(a->files[i]);
	free(a->files);
	free(a->pkgs);
	free(a->setup);
}

/* A --setup value: a command, or the text of the file it names. */
static int
build_setup_arg(struct build_args *a, const char *v, struct err **errp)
{
	struct stat st;
	struct buf b = { 0 };

	if (stat(v, &st) == -1 || !S_ISREG(st.st_mode)) {
		strs_add(&a->setup, &a->nsetup, v);
		return 0;
	}
	if (read_file(v, BUILD_SETUP_FILE_MAX, &b, errp) == -1) {
		buf_free(&b);
		return err_wrap(errp, "--setup %s", v);
	}
	a->files = xreallocarray(a->files, a->nfiles + 1, sizeof *a->files);
	a->files[a->nfiles++] = xstrdup(buf_cstr(&b));
	strs_add(&a->setup, &a->nsetup, a->files[a->nfiles - 1]);
	buf_free(&b);
	return 0;
}

static void
build_usage(void)
{
	printf(
	    "usage: isol8 build --base RUNTIME --tag NAME[:TAG] [--install PKG]... [--setup CMD]...\n"
	    "                   [--force] [--agent PATH]\n\n"
	    "Build a custom image: the runtime's image (the same base, agent and kernels as\n"
	    "isol8/RUNTIME:latest) under NAME, carrying exactly the --install packages,\n"
	    "then the --setup commands run at build time. Run it with `isol8 run -r RUNTIME\n"
	    "--image NAME`; `isol8 list-custom` lists these images.\n\n"
	    "      --base R      python, node, bun, deno or bash\n"
	    "      --tag NAME    the image's name (\":latest\" when no tag; not isol8/...)\n"
	    "      --install P   a package to bake in (repeatable or a comma list; the\n"
	    "                    names of `isol8 setup --python` etc.)\n"
	    "      --setup CMD   a command run at build time, as root, in /, with the host's\n"
	    "                    network (repeatable; in order, as one bash -e script; a\n"
	    "                    file's name runs that file's text)\n"
	    "  -f, --force       rebuild even when up to date\n"
	    "      --agent P     the isol8-agent binary to bake in\n\n"
	    "Registries and a CA bundle: the configuration's `packages` (docs/packages.md).\n");
}

/* After a build: what the image is (the original isol8's lines). */
static void
build_report(const struct isol8_build_opts *bo, const struct build_args *a)
{
	const char *nl;
	size_t i;

	printf("\n[DONE] Custom image build complete!\n");
	printf("       Runtime: %s\n", bo->runtime);
	if (a->npkgs > 0) {
		printf("       Packages:");
		for (i = 0; i < a->npkgs; i++)
			printf("%s %s", i ? "," : "", a->pkgs[i]);
		printf("\n");
	}
	if (a->nsetup > 0) {
		nl = strchr(a->setup[0], '\n');
		printf("       Setup: %.*s%s\n",
		    nl ? (int)(nl - a->setup[0]) : (int)strlen(a->setup[0]),
		    a->setup[0], nl || a->nsetup > 1 ? " ..." : "");
	}
	printf("       Image: %s%s\n", bo->tag,
	    strchr(strrchr(bo->tag, '/') ? strrchr(bo->tag, '/') : bo->tag, ':')
	        ? ""
	        : ":latest");
}

/* The flags into a and bo; 0, or an exit status (help: -1). */
static int
build_parse(
    int argc, char **argv, struct build_args *a, struct isol8_build_opts *bo)
{
	static const struct option opts[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "install", required_argument, NULL, 'i' },
		{ "setup", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "agent", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct err *e = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bo->runtime = optarg;
			break;
		case 't':
			bo->tag = optarg;
			break;
		case 'i':
			strs_add(&a->pkgs, &a->npkgs, optarg);
			break;
		case 's':
			if (build_setup_arg(a, optarg, &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			break;
		case 'f':
			bo->force = 1;
			break;
		case 'a':
			bo->agent_path = optarg;
			break;
		case 'h':
			build_usage();
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("build takes no arguments (`%s`)", argv[optind]);
		return EXIT_USAGE;
	}
	if (bo->runtime == NULL || bo->tag == NULL) {
		cli_error("build needs --base RUNTIME and --tag NAME");
		return EXIT_USAGE;
	}
	if (!isol8_runtime_known(bo->runtime)) {
		cli_error("--base `%s`: one of python, node, bun, deno, bash",
		    bo->runtime);
		return EXIT_USAGE;
	}
	if (a->npkgs == 0 && a->nsetup == 0) {
		cli_error(
		    "nothing to build: give --install PKG or --setup CMD (the plain image is isol8/%s:latest)",
		    bo->runtime);
		return EXIT_USAGE;
	}
	return 0;
}

static int
cmd_build(int argc, char **argv)
{
	struct build_args a = { 0 };
	struct isol8_build_opts bo;
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct cli_config cfg;
	struct err *cerr = NULL;
	int rc;

	isol8_build_opts_init(&bo);
	if ((rc = build_parse(argc, argv, &a, &bo)) != 0) {
		build_args_free(&a);
		return rc == -1 ? 0 : rc;
	}
	bo.packages.items = a.pkgs;
	bo.packages.len = a.npkgs;
	bo.setup = a.setup;
	bo.setup_len = a.nsetup;
	if (isol8_packages_check(bo.runtime, &bo.packages, &err) == -1) {
		cli_error("%s", err.message);
		build_args_free(&a);
		return EXIT_USAGE;
	}
	if (config_load(&cfg, NULL, &cerr) == -1) {
		build_args_free(&a);
		return cli_fail(&cerr, EXIT_USAGE);
	}
	bo.pip_index_url = cfg.pip_index_url;
	bo.npm_registry = cfg.npm_registry;
	bo.ca_bundle = cfg.ca_bundle;
	bo.progress = build_progress;
	config_engine_opts(&cfg, &eo);
	eo.pool_size = 0; /* the self-check leaves no warm container */
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL)
		rc = cli_exit_for(&err);
	else {
		rc = isol8_build_sync(e, &bo, &err) == 0 ? 0
		                                         : cli_exit_for(&err);
		isol8_engine_free(e);
	}
	if (rc == 0)
		build_report(&bo, &a);
	config_free(&cfg);
	build_args_free(&a);
	return rc;
}

const struct cli_cmd cmd_build_entry = { "build",
	"build a custom image with packages and setup commands baked in",
	cmd_build };

/* list-custom --json: one array, an object per tag. */
static void
list_json(const struct isol8_image *im, size_t n)
{
	struct buf o = { 0 };
	yajl_gen g = json_gen_new();
	size_t i, j;

	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_kstr(g, "tag", im[i].tag);
		json_kstr(g, "id", im[i].id);
		json_kstr(g, "runtime", im[i].runtime);
		json_key(g, "packages");
		yajl_gen_array_open(g);
		for (j = 0; j < im[i].packages_len; j++)
			json_str_add(g, im[i].packages[j]);
		yajl_gen_array_close(g);
		json_key(g, "setup");
		yajl_gen_array_open(g);
		for (j = 0; j < im[i].setup_len; j++)
			json_str_add(g, im[i].setup[j]);
		yajl_gen_array_close(g);
		json_kint(g, "created", im[i].created);
		json_kint(g, "size", im[i].size);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_gen_take(g, &o);
	printf("%.*s\n", (int)o.len, o.data);
	buf_free(&o);
}

static void
list_text(const struct isol8_image *im, size_t n)
{
	char when[32];
	const char *nl;
	struct tm tm;
	time_t t;
	size_t i, j;

	if (n == 0)
		printf(
		    "No custom isol8 images found (`isol8 build` makes them).\n");
	for (i = 0; i < n; i++) {
		t = (time_t)im[i].created;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
		printf("%s\n  Runtime:  %s\n  Packages:", im[i].tag,
		    im[i].runtime);
		for (j = 0; j < im[i].packages_len; j++)
			printf(" %s", im[i].packages[j]);
		printf("%s\n", im[i].packages_len ? "" : " (none)");
		for (j = 0; j < im[i].setup_len; j++) {
			nl = strchr(im[i].setup[j], '\n');
			printf("  %s %.*s%s\n", j ? "         " : "Setup:   ",
			    nl ? (int)(nl - im[i].setup[j])
			       : (int)strlen(im[i].setup[j]),
			    im[i].setup[j], nl ? " ..." : "");
		}
		printf("  Built:    %s, %lld MB\n\n", when,
		    (long long)(im[i].size >> 20));
	}
}

static int
cmd_list_custom(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct isol8_image *im = NULL;
	struct cli_config cfg;
	struct err *cerr = NULL;
	size_t n = 0;
	int c, json = 0, rc;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			printf(
			    "usage: isol8 list-custom [--json]\n\n"
			    "List the custom images `isol8 build` made: their runtime, packages and\n"
			    "setup commands, from the images' labels.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("list-custom takes no arguments");
		return EXIT_USAGE;
	}
	if (config_load(&cfg, NULL, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	config_engine_opts(&cfg, &eo);
	eo.pool_size = 0;
	if ((e = isol8_engine_new(NULL, &eo, &err)) == NULL)
		rc = cli_exit_for(&err);
	else {
		rc = isol8_images_custom(e, &im, &n, &err) == 0
		    ? 0
		    : cli_exit_for(&err);
		isol8_engine_free(e);
	}
	if (rc == 0 && json)
		list_json(im, n);
	else if (rc == 0)
		list_text(im, n);
	isol8_images_free(im, n);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cmd_list_custom_entry = { "list-custom",
	"list the custom images isol8 build made", cmd_list_custom };
