/*
 * isol8 config: print the resolved configuration (config.c loads it) and
 * where it came from, for people or, with --json, as one object whose keys
 * are the configuration file's own (docs/config.md).
 */
#include <getopt.h>

#include "cli.h"
#include "../util/util.h"

/* What setup bakes: the lists, the registries, the CA bundle. */
static void
config_text_packages(const struct cli_config *c)
{
	size_t r, i;

	for (r = 0; r < CLI_NRUNTIMES; r++) {
		if (c->deps_len[r] == 0)
			continue;
		printf("dependencies:   %s:", cli_runtimes[r]);
		for (i = 0; i < c->deps_len[r]; i++)
			printf(" %s", c->deps[r][i]);
		printf("\n");
	}
	printf("pip index:      %s\n",
	    c->pip_index_url ? c->pip_index_url : "(https://pypi.org/simple)");
	printf("npm registry:   %s\n",
	    c->npm_registry ? c->npm_registry
	                    : "(https://registry.npmjs.org/)");
	printf("CA bundle:      %s\n", c->ca_bundle ? c->ca_bundle : "(none)");
}

static void
config_print_text(const struct cli_config *c)
{
	size_t i;

	printf("source:         %s\n",
	    c->source ? c->source : "(built-in defaults)");
	printf("runtime:        %s\n", c->runtime);
	printf("timeout:        %llu ms\n",
	    (unsigned long long)c->limits.timeout_ms);
	printf("memory:         %llu bytes\n",
	    (unsigned long long)c->limits.memory);
	printf("cpu:            %g cores\n", c->limits.cpus);
	printf("pids:           %lld\n", (long long)c->limits.pids);
	printf("sandbox size:   %llu bytes\n",
	    (unsigned long long)c->limits.sandbox_size);
	printf("tmp size:       %llu bytes\n",
	    (unsigned long long)c->limits.tmp_size);
	printf("max output:     %llu bytes\n",
	    (unsigned long long)c->limits.max_output);
	printf("network:        %s\n", c->network);
	for (i = 0; i < c->net_allow_len; i++)
		printf("network allow:  %s\n", c->net_allow[i]);
	for (i = 0; i < c->net_deny_len; i++)
		printf("network deny:   %s\n", c->net_deny[i]);
	if (c->net_allow_private)
		printf("network:        private addresses allowed\n");
	printf("image:          %s\n",
	    c->image ? c->image : "(isol8/<runtime>:latest)");
	printf("docker host:    %s\n",
	    c->docker_host ? c->docker_host
	                   : "(DOCKER_HOST or unix:///var/run/docker.sock)");
	printf("max concurrent: %u\n", c->max_concurrent);
	printf("pool:           size %u, idle %llu ms, reuse %s\n",
	    c->pool_size, (unsigned long long)c->pool_idle_ms,
	    c->pool_reuse ? "on" : "off");
	printf("batch:          wait %llu ms for dockerd\n",
	    (unsigned long long)c->batch_docker_wait_ms);
	for (i = 0; i < c->env_len; i++)
		printf(
		    "env:            %s=%s\n", c->env[i].key, c->env[i].value);
	config_text_packages(c);
}

static void
json_strv(yajl_gen g, const char *key, char *const *v, size_t n)
{
	size_t i;

	json_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		json_str_add(g, v[i]);
	yajl_gen_array_close(g);
}

/* "defaults": the run limits and settings every run starts from. */
static void
config_json_defaults(yajl_gen g, const struct cli_config *c)
{
	json_key(g, "defaults");
	yajl_gen_map_open(g);
	json_kstr(g, "runtime", c->runtime);
	json_kuint(g, "timeoutMs", c->limits.timeout_ms);
	json_kuint(g, "memory", c->limits.memory);
	json_knumf(g, "cpu", "%g", c->limits.cpus);
	json_kint(g, "pids", c->limits.pids);
	json_kuint(g, "sandboxSize", c->limits.sandbox_size);
	json_kuint(g, "tmpSize", c->limits.tmp_size);
	json_kuint(g, "maxOutput", c->limits.max_output);
	json_kstr(g, "network", c->network);
	json_kstr_or_null(g, "image", c->image);
	yajl_gen_map_close(g);
}

/* "dependencies" (every runtime, as written) and "packages". */
static void
config_json_packages(yajl_gen g, const struct cli_config *c)
{
	size_t r;

	json_key(g, "dependencies");
	yajl_gen_map_open(g);
	for (r = 0; r < CLI_NRUNTIMES; r++)
		json_strv(g, cli_runtimes[r], c->deps[r], c->deps_len[r]);
	yajl_gen_map_close(g);
	json_key(g, "packages");
	yajl_gen_map_open(g);
	json_kstr_or_null(g, "pipIndexUrl", c->pip_index_url);
	json_kstr_or_null(g, "npmRegistry", c->npm_registry);
	json_kstr_or_null(g, "caBundle", c->ca_bundle);
	yajl_gen_map_close(g);
}

static void
config_print_json(const struct cli_config *c)
{
	struct buf o = { 0 };
	yajl_gen g = json_gen_new();
	size_t i;

	yajl_gen_map_open(g);
	json_kstr_or_null(g, "source", c->source);
	config_json_defaults(g, c);
	json_key(g, "pool");
	yajl_gen_map_open(g);
	json_kuint(g, "size", c->pool_size);
	json_kuint(g, "idleMs", c->pool_idle_ms);
	json_kbool(g, "reuse", c->pool_reuse);
	yajl_gen_map_close(g);
	json_key(g, "batch");
	yajl_gen_map_open(g);
	json_kuint(g, "dockerWaitMs", c->batch_docker_wait_ms);
	yajl_gen_map_close(g);
	json_kuint(g, "maxConcurrent", c->max_concurrent);
	json_key(g, "env");
	yajl_gen_map_open(g);
	for (i = 0; i < c->env_len; i++)
		json_kstr(g, c->env[i].key, c->env[i].value);
	yajl_gen_map_close(g);
	json_key(g, "network");
	yajl_gen_map_open(g);
	json_strv(g, "allow", c->net_allow, c->net_allow_len);
	json_strv(g, "deny", c->net_deny, c->net_deny_len);
	json_kbool(g, "allowPrivate", c->net_allow_private);
	yajl_gen_map_close(g);
	config_json_packages(g, c);
	yajl_gen_map_close(g);
	json_gen_take(g, &o);
	printf("%.*s\n", (int)o.len, o.data);
	buf_free(&o);
}

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
	if (config_load(&cfg, file, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	if (json)
		config_print_json(&cfg);
	else
		config_print_text(&cfg);
	config_free(&cfg);
	return 0;
}

const struct cli_cmd cmd_config_entry = { "config",
	"print the resolved configuration", cmd_config };
