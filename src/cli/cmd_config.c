/*
 * isol8 config: print the resolved configuration (config.c loads it) and
 * where it came from, for people or, with --json, as one object whose keys
 * are the configuration file's own (docs/config.md): a valid file itself,
 * sizes as the flags write them ("512m"). The original isol8's names for
 * the same values are printed too (defaults.memoryLimit, cpuLimit,
 * network.whitelist/blacklist, cleanup, debug), so that what reads its
 * `config --json` reads ours (docs/compat.md). An API key (remote.key) is
 * never printed whole: "****" and its last 4 bytes (config_key_mask).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

static void row(const char *, const char *, ...) PRINTFLIKE(2, 3);

/* "  Label:          value" lines under "  ── Section ──" headings. */
static void
row(const char *label, const char *fmt, ...)
{
	char l[32];
	va_list ap;

	snprintf(l, sizeof l, "%s%s", label, *label ? ":" : "");
	printf("  %-17s", l);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
section(const char *name)
{
	printf("\n  ── %s ──\n", name);
}

static void
print_size(const char *label, uint64_t n)
{
	char *s = config_size(n);

	row(label, "%s", s);
	free(s);
}

static void
print_list(const char *label, char *const *v, size_t n, const char *none)
{
	size_t i;

	if (n == 0) {
		row(label, "%s", none);
		return;
	}
	for (i = 0; i < n; i++)
		row(i == 0 ? label : "", "%s", v[i]);
}

static void
config_text_defaults(const struct cli_config *c)
{
	size_t i;

	section("Defaults");
	row("Runtime", "%s", c->runtime);
	row("Timeout", "%llums", (unsigned long long)c->limits.timeout_ms);
	print_size("Memory limit", c->limits.memory);
	row("CPU limit", "%g", c->limits.cpus);
	row("Pids limit", "%lld", (long long)c->limits.pids);
	row("Network", "%s", c->network);
	print_size("Sandbox size", c->limits.sandbox_size);
	print_size("Tmp size", c->limits.tmp_size);
	print_size("Max output", c->limits.max_output);
	row("Image", "%s", c->image ? c->image : "isol8/<runtime>:latest");
	if (c->env_len == 0)
		row("Env", "(none)");
	for (i = 0; i < c->env_len; i++)
		row(i == 0 ? "Env" : "", "%s=%s", c->env[i].key,
		    c->env[i].value);
}

static void
config_text_remote(const struct cli_remote *r)
{
	size_t i;

	section("Remote Code");
	row("Enabled", "%s", r->enabled ? "yes" : "no");
	printf("  %-17s", "Schemes:");
	for (i = 0; i < r->schemes_len; i++)
		printf("%s%s", i ? ", " : "", r->schemes[i]);
	putchar('\n');
	print_list(
	    "Allowed hosts", r->allow_hosts, r->allow_hosts_len, "(any)");
	print_list(
	    "Blocked hosts", r->block_hosts, r->block_hosts_len, "(none)");
	row("Private hosts", "%s", r->allow_private ? "allowed" : "refused");
	print_size("Max code size", r->max_size);
	row("Fetch timeout", "%llums", (unsigned long long)r->timeout_ms);
	row("Require hash", "%s", r->require_hash ? "yes" : "no");
	row("GitHub base", "%s", r->github_base);
	row("Gist base", "%s", r->gist_base);
}

/*
 * The client's server: what `run`, `batch` and `session` use now -- the
 * environment over the file (config_client's order) -- and where it
 * comes from; the key masked.
 */
static void
config_text_client(const struct cli_config *c)
{
	const char *host = NULL, *key = NULL;
	struct err *e = NULL;
	char masked[16];

	section("Remote Server");
	(void)config_client(c, &host, &key, &e); /* no key: shown so */
	err_free(&e);
	if (host == NULL)
		row("Host", "(none: runs are local)");
	else
		row("Host", "%s (%s)", host,
		    getenv("ISOL8_HOST") != NULL ? "ISOL8_HOST" : "the file");
	if (host != NULL && key != NULL && key[0] != '\0') {
		config_key_mask(key, masked, sizeof masked);
		row("Key", "%s (%s)", masked,
		    key == c->client.key ? "the file" : "ISOL8_API_KEY");
	} else
		row("Key", "%s",
		    host != NULL ? "(none: give --key)" : "(none)");
	row("Connect timeout", "%llums",
	    (unsigned long long)c->client.connect_ms);
	row("Stall timeout", "%llums", (unsigned long long)c->client.stall_ms);
}

/* What setup bakes and run-time installs use: lists, registries, CAs. */
static void
config_text_packages(const struct cli_config *c)
{
	char label[32];
	size_t r;

	section("Packages");
	for (r = 0; r < CLI_NRUNTIMES; r++) {
		snprintf(label, sizeof label, "Deps %s", cli_runtimes[r]);
		print_list(label, c->deps[r], c->deps_len[r], "(none)");
	}
	row("Pip index", "%s",
	    c->pip_index_url ? c->pip_index_url : "https://pypi.org/simple");
	row("Npm registry", "%s",
	    c->npm_registry ? c->npm_registry : "https://registry.npmjs.org/");
	row("CA bundle", "%s", c->ca_bundle ? c->ca_bundle : "(none)");
}

/* The original's layout (a title, the source, sections), our settings. */
static void
config_print_text(const struct cli_config *c)
{
	printf("\nIsol8 Configuration\n\n");
	if (c->source != NULL)
		printf("  Source: %s\n", c->source);
	else
		printf("  Source: defaults (no config file found)\n");
	section("General");
	row("Max concurrent", "%u", c->max_concurrent);
	row("Docker host", "%s",
	    c->docker_host ? c->docker_host
	                   : "$DOCKER_HOST or unix:///var/run/docker.sock");
	row("Debug", "%s", c->debug ? "yes" : "no");
	config_text_defaults(c);
	section("Network Filter");
	print_list("Allow", c->net_allow, c->net_allow_len,
	    "(none: every public host)");
	print_list("Deny", c->net_deny, c->net_deny_len, "(none)");
	row("Private hosts", "%s",
	    c->net_allow_private ? "allowed" : "refused");
	config_text_remote(&c->remote);
	config_text_client(c);
	section("Sessions");
	if (c->auto_prune)
		row("Idle expiry", "%llums (%llumin)",
		    (unsigned long long)c->session_idle_ms,
		    (unsigned long long)(c->session_idle_ms + 30000) / 60000);
	else
		row("Idle expiry",
		    "none (cleanup.autoPrune false: kept %llu days at most)",
		    CLI_SESSION_KEEP_MS / 86400000);
	section("Pool");
	row("Size", "%u warm per runtime and limits", c->pool_size);
	row("Idle expiry", "%llums", (unsigned long long)c->pool_idle_ms);
	row("Reuse", "%s", c->pool_reuse ? "yes" : "no");
	config_text_packages(c);
	section("Batch");
	row("Docker wait", "%llums",
	    (unsigned long long)c->batch_docker_wait_ms);
	putchar('\n');
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

static void
json_size(yajl_gen g, const char *key, uint64_t n)
{
	char *s = config_size(n);

	json_kstr(g, key, s);
	free(s);
}

/* "defaults": the run limits and settings every run starts from. */
static void
config_json_defaults(yajl_gen g, const struct cli_config *c)
{
	json_key(g, "defaults");
	yajl_gen_map_open(g);
	json_kstr(g, "runtime", c->runtime);
	json_kuint(g, "timeoutMs", c->limits.timeout_ms);
	json_size(g, "memory", c->limits.memory);
	json_size(g, "memoryLimit", c->limits.memory);
	json_knumf(g, "cpu", "%g", c->limits.cpus);
	json_knumf(g, "cpuLimit", "%g", c->limits.cpus);
	json_kint(g, "pids", c->limits.pids);
	json_size(g, "sandboxSize", c->limits.sandbox_size);
	json_size(g, "tmpSize", c->limits.tmp_size);
	json_size(g, "maxOutput", c->limits.max_output);
	json_kstr(g, "network", c->network);
	json_kstr_or_null(g, "image", c->image);
	json_kbool(g, "readonlyRootFs", 1);
	yajl_gen_map_close(g);
}

static void
config_json_network(yajl_gen g, const struct cli_config *c)
{
	json_key(g, "network");
	yajl_gen_map_open(g);
	json_strv(g, "allow", c->net_allow, c->net_allow_len);
	json_strv(g, "deny", c->net_deny, c->net_deny_len);
	json_kbool(g, "allowPrivate", c->net_allow_private);
	json_strv(g, "whitelist", c->net_allow, c->net_allow_len);
	json_strv(g, "blacklist", c->net_deny, c->net_deny_len);
	yajl_gen_map_close(g);
}

static void
config_json_remote(yajl_gen g, const struct cli_remote *r)
{
	json_key(g, "remoteCode");
	yajl_gen_map_open(g);
	json_kbool(g, "enabled", r->enabled);
	json_strv(g, "allowedSchemes", r->schemes, r->schemes_len);
	json_strv(g, "allowedHosts", r->allow_hosts, r->allow_hosts_len);
	json_strv(g, "blockedHosts", r->block_hosts, r->block_hosts_len);
	json_kuint(g, "maxCodeSize", r->max_size);
	json_kuint(g, "fetchTimeoutMs", r->timeout_ms);
	json_kbool(g, "requireHash", r->require_hash);
	json_kbool(g, "allowPrivate", r->allow_private);
	json_kstr(g, "githubBaseUrl", r->github_base);
	json_kstr(g, "gistBaseUrl", r->gist_base);
	yajl_gen_map_close(g);
}

/* "remote": the file's own values (the key masked, or null). */
static void
config_json_client(yajl_gen g, const struct cli_config *c)
{
	char masked[16];

	json_key(g, "remote");
	yajl_gen_map_open(g);
	json_kstr_or_null(g, "host", c->client.host);
	if (c->client.key != NULL) {
		config_key_mask(c->client.key, masked, sizeof masked);
		json_kstr(g, "key", masked);
	} else
		json_kstr_or_null(g, "key", NULL);
	json_kuint(g, "connectTimeoutMs", c->client.connect_ms);
	json_kuint(g, "stallTimeoutMs", c->client.stall_ms);
	yajl_gen_map_close(g);
}

/* Sessions, pool and batch: what the engine and `batch` are given. */
static void
config_json_engine(yajl_gen g, const struct cli_config *c)
{
	json_key(g, "session");
	yajl_gen_map_open(g);
	json_kuint(g, "idleMs", c->session_idle_ms);
	yajl_gen_map_close(g);
	json_key(g, "cleanup");
	yajl_gen_map_open(g);
	json_kbool(g, "autoPrune", c->auto_prune);
	json_kuint(g, "maxContainerAgeMs", c->session_idle_ms);
	yajl_gen_map_close(g);
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
	json_kuint(g, "maxConcurrent", c->max_concurrent);
	json_kbool(g, "debug", c->debug);
	config_json_defaults(g, c);
	json_key(g, "env");
	yajl_gen_map_open(g);
	for (i = 0; i < c->env_len; i++)
		json_kstr(g, c->env[i].key, c->env[i].value);
	yajl_gen_map_close(g);
	config_json_network(g, c);
	config_json_remote(g, &c->remote);
	config_json_client(g, c);
	config_json_engine(g, c);
	json_kstr_or_null(g, "dockerHost", c->docker_host);
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
		{ "debug", no_argument, NULL, 'd' },
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
		case 'd':
			cli_debug_on("config");
			break;
		case 'h':
			printf(
			    "Usage: isol8 config [--json] [--file PATH]\n\n"
			    "Print the resolved configuration: built-in defaults overlaid with\n"
			    "./isol8.config.json or ~/.isol8/config.json (docs/config.md).\n\n"
			    "  -j, --json       one JSON object (sizes as \"512m\"; a valid config file)\n"
			    "  -f, --file PATH  read PATH instead\n"
			    "      --debug      debug lines on stderr\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (config_load(&cfg, file, &cerr) == -1)
		return cli_fail(&cerr, EXIT_USAGE);
	config_start(&cfg, "config", 0);
	cli_debugf("[Config] Source: %s", cfg.source ? cfg.source : "defaults");
	if (json)
		config_print_json(&cfg);
	else
		config_print_text(&cfg);
	config_free(&cfg);
	return 0;
}

const struct cli_cmd cmd_config_entry = { "config",
	"print the resolved configuration", cmd_config };
