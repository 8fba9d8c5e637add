/* cli config: precedence, strictness, and error messages that name keys. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/cli.h"
#include "util/util.h"

static char path[] = "/tmp/isol8-config-XXXXXX";

/* Load json as the configuration file; its error's message into msg. */
static int
load(const char *json, struct cli_config *c, char *msg, size_t len)
{
	struct err *e = NULL;
	FILE *f = fopen(path, "w");
	int rc;

	fputs(json, f);
	fclose(f);
	msg[0] = '\0';
	if ((rc = config_load(c, path, &e)) == -1)
		snprintf(msg, len, "%s", e->msg);
	err_free(&e);
	return rc;
}

static int
test_defaults_and_overrides(void)
{
	struct cli_config c;
	char msg[512];

	CHECK(
	    load("{\"defaults\":{\"timeoutMs\":5000,\"memory\":\"1g\","
	         "\"cpu\":0.5,\"runtime\":\"bash\",\"network\":\"host\"},"
	         "\"pool\":{\"size\":3,\"reuse\":true},\"env\":{\"A\":\"b\"}}",
	        &c, msg, sizeof msg) == 0);
	CHECK(c.limits.timeout_ms == 5000 && c.limits.memory == 1ull << 30);
	CHECK(c.limits.cpus == 0.5 && strcmp(c.runtime, "bash") == 0);
	CHECK(strcmp(c.network, "host") == 0 && c.pool_size == 3);
	CHECK(c.pool_reuse == 1 && c.env_len == 1);
	CHECK(c.limits.pids == 64 && c.limits.max_output == 1 << 20);
	CHECK(strcmp(c.source, path) == 0);
	config_free(&c);
	return 0;
}

static int
test_errors_name_the_key(void)
{
	struct cli_config c;
	char msg[512];

	CHECK(
	    load("{\"defaults\":{\"timeout\":5}}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "unknown key `defaults.timeout`") != NULL);
	config_free(&c);
	CHECK(load("{\"defaults\":{\"memory\":\"lots\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`defaults.memory`") != NULL);
	config_free(&c);
	CHECK(load("{\"defaults\":{\"runtime\":\"ruby\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "defaults.runtime") != NULL);
	config_free(&c);
	CHECK(load("{\"bogus\":1}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "unknown key `bogus`") != NULL);
	config_free(&c);
	CHECK(load("{\"pool\":{\"size\":-1}}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "pool.size") != NULL);
	config_free(&c);
	CHECK(load("{not json", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, path) != NULL);
	config_free(&c);
	return 0;
}

/* "network": the filtered network's rules, applied to filtered requests. */
static int
test_network_rules(void)
{
	struct cli_config c;
	struct isol8_request req;
	char msg[512];

	CHECK(load("{\"network\":{\"allow\":[\"^a$\",\"b\"],\"deny\":[\"c\"],"
	           "\"allowPrivate\":true}}",
	          &c, msg, sizeof msg) == 0);
	CHECK(c.net_allow_len == 2 && strcmp(c.net_allow[1], "b") == 0);
	CHECK(c.net_deny_len == 1 && c.net_allow_private == 1);
	isol8_request_init(&req);
	config_network(&c, &req); /* not filtered: untouched */
	CHECK(req.net_allow == NULL && !req.net_allow_private);
	req.network = "filtered";
	config_network(&c, &req);
	CHECK(req.net_allow_len == 2 && req.net_deny_len == 1);
	CHECK(req.net_allow_private == 1);
	config_free(&c);
	CHECK(
	    load("{\"network\":{\"allow\":\"a\"}}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "network.allow") != NULL);
	config_free(&c);
	CHECK(load("{\"network\":{\"allowlist\":[]}}", &c, msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "unknown key `network.allowlist`") != NULL);
	config_free(&c);
	CHECK(load("{\"network\":{\"allowPrivate\":1}}", &c, msg, sizeof msg) ==
	    -1);
	config_free(&c);
	CHECK(load("{\"defaults\":{\"network\":\"filtered\"}}", &c, msg,
	          sizeof msg) == 0);
	config_free(&c);
	return 0;
}

/*
 * Every numeric key is checked by the engine's table: NaN, inf, -0,
 * overflow, junk, empty, hex, whitespace, min-1 and max+1 are errors that
 * name the file and the key; min and max load.
 */
static int
test_limit_keys(void)
{
	static const struct {
		const char *json;
		const char *want;
	} bad[] = {
		{ "{\"defaults\":{\"cpu\":0.001}}",
		    "`defaults.cpu` must be at least 0.01 (Docker's minimum" },
		{ "{\"defaults\":{\"cpu\":0.009}}", "at least 0.01" },
		{ "{\"defaults\":{\"cpu\":\"nan\"}}",
		    "`defaults.cpu` wants a number of CPUs" },
		{ "{\"defaults\":{\"cpu\":\"inf\"}}", "`defaults.cpu` wants" },
		{ "{\"defaults\":{\"cpu\":1e999}}",
		    "`defaults.cpu` must be at most" },
		{ "{\"defaults\":{\"cpu\":-0}}", "`defaults.cpu` wants" },
		{ "{\"defaults\":{\"cpu\":-1}}", "`defaults.cpu` wants" },
		{ "{\"defaults\":{\"cpu\":100000}}", "at most" },
		{ "{\"defaults\":{\"cpu\":true}}", "a number or a string" },
		{ "{\"defaults\":{\"memory\":\"1k\"}}",
		    "`defaults.memory` must be at least 6m" },
		{ "{\"defaults\":{\"memory\":6291455}}", "at least 6m" },
		{ "{\"defaults\":{\"memory\":\"99999999999g\"}}",
		    "`defaults.memory` must be at most 1024t" },
		{ "{\"defaults\":{\"memory\":\"1025t\"}}", "at most 1024t" },
		{ "{\"defaults\":{\"memory\":\"12abc\"}}",
		    "`defaults.memory` wants a size" },
		{ "{\"defaults\":{\"memory\":\"0x10m\"}}", "wants a size" },
		{ "{\"defaults\":{\"memory\":\" 5m\"}}", "wants a size" },
		{ "{\"defaults\":{\"memory\":\"\"}}", "wants a size" },
		{ "{\"defaults\":{\"memory\":\"lots\"}}", "`defaults.memory`" },
		{ "{\"defaults\":{\"timeoutMs\":1e30}}",
		    "`defaults.timeoutMs` must be at most 86400000 ms" },
		{ "{\"defaults\":{\"timeoutMs\":86400001}}", "at most" },
		{ "{\"defaults\":{\"timeoutMs\":0}}", "at least 1 ms" },
		{ "{\"defaults\":{\"timeoutMs\":-5}}", "wants milliseconds" },
		{ "{\"defaults\":{\"pids\":1}}",
		    "`defaults.pids` must be at least 2" },
		{ "{\"defaults\":{\"pids\":4194305}}", "at most 4194304" },
		{ "{\"defaults\":{\"pids\":9223372036854775808}}", "at most" },
		{ "{\"defaults\":{\"pids\":1.5}}", "wants a whole number" },
		{ "{\"defaults\":{\"sandboxSize\":\"4095\"}}",
		    "`defaults.sandboxSize` must be at least 4k" },
		{ "{\"defaults\":{\"tmpSize\":\"1025t\"}}",
		    "`defaults.tmpSize` must be at most" },
		{ "{\"defaults\":{\"maxOutput\":0}}",
		    "`defaults.maxOutput` must be at least 1" },
		{ "{\"pool\":{\"size\":257}}",
		    "`pool.size` must be at most 256" },
		{ "{\"pool\":{\"size\":-1}}", "`pool.size` wants" },
		{ "{\"pool\":{\"idleMs\":0}}",
		    "`pool.idleMs` must be at least" },
		{ "{\"pool\":{\"idleMs\":604800001}}", "at most 604800000 ms" },
		{ "{\"session\":{\"idleMs\":2592000001}}",
		    "`session.idleMs` must be at most" },
		{ "{\"maxConcurrent\":0}",
		    "`maxConcurrent` must be at least 1" },
		{ "{\"maxConcurrent\":4097}", "at most 4096" },
	};
	struct cli_config c;
	char msg[512];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (load(bad[i].json, &c, msg, sizeof msg) != -1 ||
		    strstr(msg, bad[i].want) == NULL ||
		    strstr(msg, path) == NULL) {
			fprintf(stderr, "%s: %s\n", bad[i].json, msg);
			return 1;
		}
		config_free(&c);
	}
	CHECK(load("{\"defaults\":{\"cpu\":0.01,\"memory\":\"6m\",\"pids\":2,"
	           "\"timeoutMs\":\"30s\",\"sandboxSize\":4096,"
	           "\"tmpSize\":\"1024t\",\"maxOutput\":\"1\"},"
	           "\"pool\":{\"size\":0,\"idleMs\":604800000},"
	           "\"session\":{\"idleMs\":\"30s\"},\"maxConcurrent\":4096}",
	          &c, msg, sizeof msg) == 0);
	CHECK(c.limits.cpus == 0.01 && c.limits.memory == 6u << 20);
	CHECK(c.limits.pids == 2 && c.limits.timeout_ms == 30000);
	CHECK(c.limits.sandbox_size == 4096 && c.limits.max_output == 1);
	CHECK(c.limits.tmp_size == 1ull << 50 && c.pool_size == 0);
	CHECK(c.pool_idle_ms == 604800000 && c.session_idle_ms == 30000);
	CHECK(c.max_concurrent == 4096);
	config_free(&c);
	/* A JSON number as JSON writes it: 5e-1 is 0.5, bytes are bytes. */
	CHECK(load("{\"defaults\":{\"cpu\":5e-1,\"memory\":6291456}}", &c, msg,
	          sizeof msg) == 0);
	CHECK(c.limits.cpus == 0.5 && c.limits.memory == 6291456);
	config_free(&c);
	return 0;
}

/* batch.dockerWaitMs: 60 s by default, 0 allowed (do not wait). */
static int
test_batch_docker_wait(void)
{
	struct cli_config c;
	char msg[512];

	CHECK(load("{}", &c, msg, sizeof msg) == 0);
	CHECK(c.batch_docker_wait_ms == BATCH_DOCKER_WAIT_MS);
	config_free(&c);
	CHECK(
	    load("{\"batch\":{\"dockerWaitMs\":0}}", &c, msg, sizeof msg) == 0);
	CHECK(c.batch_docker_wait_ms == 0);
	config_free(&c);
	CHECK(load("{\"batch\":{\"dockerWaitMs\":-1}}", &c, msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "`batch.dockerWaitMs`") != NULL);
	config_free(&c);
	CHECK(load("{\"batch\":{\"waitMs\":1}}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "unknown key `batch.waitMs`") != NULL);
	config_free(&c);
	return 0;
}

/* "dependencies": per runtime, as written, each item checked by name. */
static int
test_dependencies(void)
{
	struct cli_config c;
	char msg[512], big[256 * 4 + 64];
	size_t i, o;

	CHECK(load("{}", &c, msg, sizeof msg) == 0);
	for (i = 0; i < CLI_NRUNTIMES; i++)
		CHECK(c.deps_len[i] == 0 && c.deps[i] == NULL);
	config_free(&c);
	CHECK(load("{\"dependencies\":{\"python\":[\"numpy\",\"pandas>=2,<3\"],"
	           "\"node\":[\"lodash\"],\"deno\":\"npm:zod,jsr:@std/path\","
	           "\"bash\":[]}}",
	          &c, msg, sizeof msg) == 0);
	CHECK(strcmp(cli_runtimes[0], "python") == 0 && c.deps_len[0] == 2);
	CHECK(strcmp(c.deps[0][0], "numpy") == 0);
	CHECK(strcmp(c.deps[0][1], "pandas>=2,<3") == 0); /* as written */
	CHECK(c.deps_len[1] == 1 && strcmp(c.deps[1][0], "lodash") == 0);
	CHECK(c.deps_len[2] == 0 && c.deps_len[4] == 0);
	CHECK(c.deps_len[3] == 1 &&
	    strcmp(c.deps[3][0], "npm:zod,jsr:@std/path") == 0);
	config_free(&c);
	/* A bad item: the key and the item named, the ecosystem's words. */
	CHECK(load("{\"dependencies\":{\"python\":[\"numpy\","
	           "\"--index-url=http://x\"]}}",
	          &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`dependencies.python`") != NULL);
	CHECK(strstr(msg, "--index-url=http://x") != NULL);
	config_free(&c);
	CHECK(load("{\"dependencies\":{\"node\":[\"../evil\"]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`dependencies.node`") != NULL &&
	    strstr(msg, "../evil") != NULL);
	config_free(&c);
	CHECK(load("{\"dependencies\":{\"bash\":[\"jq; rm -rf /\"]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`dependencies.bash`") != NULL);
	config_free(&c);
	CHECK(load("{\"dependencies\":{\"ruby\":[\"rails\"]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "unknown key `dependencies.ruby`") != NULL);
	config_free(&c);
	CHECK(load("{\"dependencies\":{\"python\":[1]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`dependencies.python` must be an array") != NULL);
	config_free(&c);
	CHECK(
	    load("{\"dependencies\":[\"numpy\"]}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`dependencies` must be an object") != NULL);
	config_free(&c);
	/* 257 items: over the bound. */
	o = (size_t)snprintf(big, sizeof big, "{\"dependencies\":{\"bash\":[");
	for (i = 0; i < 257; i++)
		o += (size_t)snprintf(
		    big + o, sizeof big - o, "%s\"a\"", i ? "," : "");
	snprintf(big + o, sizeof big - o, "]}}");
	CHECK(load(big, &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "at most 256") != NULL);
	config_free(&c);
	return 0;
}

/*
 * The original isol8's file (its DEFAULT_CONFIG, with values changed):
 * its names are ours, its keys with nothing behind them here are one
 * warning each, and nothing in it is an error.
 */
static int
test_original_keys(void)
{
	struct cli_config c;
	char msg[512];

	CHECK(
	    load("{\"maxConcurrent\":10,\"defaults\":{\"timeoutMs\":60000,"
	         "\"memoryLimit\":\"1g\",\"cpuLimit\":0.5,\"network\":\"none\","
	         "\"sandboxSize\":\"128m\",\"tmpSize\":\"64m\","
	         "\"readonlyRootFs\":true},"
	         "\"network\":{\"whitelist\":[\"a\\\\.com\"],"
	         "\"blacklist\":[\"evil\"]},"
	         "\"cleanup\":{\"autoPrune\":false,"
	         "\"maxContainerAgeMs\":7200000},"
	         "\"poolStrategy\":\"secure\",\"poolSize\":{\"clean\":3,"
	         "\"dirty\":0},\"security\":{\"seccomp\":\"strict\"},"
	         "\"remoteCode\":{\"enabled\":false,"
	         "\"allowedSchemes\":[\"https\"],\"allowedHosts\":[],"
	         "\"blockedHosts\":[\"^127(?:\\\\.[0-9]{1,3}){3}$\"],"
	         "\"maxCodeSize\":10485760,\"fetchTimeoutMs\":30000,"
	         "\"requireHash\":false,\"enableCache\":false,"
	         "\"cacheTtl\":3600},\"debug\":true}",
	        &c, msg, sizeof msg) == 0);
	CHECK(c.max_concurrent == 10 && c.limits.timeout_ms == 60000);
	CHECK(c.limits.memory == 1ull << 30 && c.limits.cpus == 0.5);
	CHECK(c.limits.sandbox_size == 128u << 20);
	CHECK(c.net_allow_len == 1 && strcmp(c.net_allow[0], "a\\.com") == 0);
	CHECK(c.net_deny_len == 1 && strcmp(c.net_deny[0], "evil") == 0);
	CHECK(c.auto_prune == 0 && c.session_idle_ms == 7200000);
	CHECK(c.pool_size == 3 && c.debug == 1);
	CHECK(c.remote.block_hosts_len == 1 && c.remote.max_size == 10u << 20);
	/* What the original has that we do not ask for: no warning. */
	CHECK(c.warnings_len == 0);
	config_free(&c);
	/* Keys with nothing behind them: a warning each, not an error. */
	CHECK(load("{\"audit\":{\"enabled\":true},\"auth\":{},"
	           "\"prebuiltImages\":[],\"poolStrategy\":\"fast\","
	           "\"security\":{\"seccomp\":\"unconfined\"},"
	           "\"defaults\":{\"readonlyRootFs\":false},"
	           "\"poolSize\":{\"dirty\":1},"
	           "\"remoteCode\":{\"enableCache\":true}}",
	          &c, msg, sizeof msg) == 0);
	CHECK(c.warnings_len == 8);
	CHECK(strstr(c.warnings[0], "`audit` is ignored") != NULL);
	CHECK(strstr(c.warnings[3], "`poolStrategy` \"fast\" is ignored") !=
	    NULL);
	config_free(&c);
	/* They are still checked for their type, and typos are errors. */
	CHECK(load("{\"poolStrategy\":\"quick\"}", &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`poolStrategy` must be") != NULL);
	config_free(&c);
	CHECK(load("{\"audit\":true}", &c, msg, sizeof msg) == -1);
	config_free(&c);
	CHECK(load("{\"cleanup\":{\"autoPrun\":true}}", &c, msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "unknown key `cleanup.autoPrun`") != NULL);
	config_free(&c);
	CHECK(load("{\"defaults\":{\"memoryLimit\":\"1k\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(
	    strstr(msg, "`defaults.memoryLimit` must be at least 6m") != NULL);
	config_free(&c);
	return 0;
}

/* "packages": registries checked at load, the CA bundle must exist. */
static int
test_packages_keys(void)
{
	struct cli_config c;
	char msg[512], json[512], ca[] = "/tmp/isol8-ca-XXXXXX";
	const char *base;
	int fd;

	CHECK(load("{}", &c, msg, sizeof msg) == 0);
	CHECK(c.pip_index_url == NULL && c.npm_registry == NULL &&
	    c.ca_bundle == NULL);
	config_free(&c);
	CHECK(load("{\"packages\":{"
	           "\"pipIndexUrl\":\"http://127.0.0.1:8999/simple\","
	           "\"npmRegistry\":\"https://npm.example.com/\"}}",
	          &c, msg, sizeof msg) == 0);
	CHECK(strcmp(c.pip_index_url, "http://127.0.0.1:8999/simple") == 0);
	CHECK(strcmp(c.npm_registry, "https://npm.example.com/") == 0);
	config_free(&c);
	CHECK(load("{\"packages\":{\"pipIndexUrl\":\"ftp://x/simple\"}}", &c,
	          msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`packages`") != NULL &&
	    strstr(msg, "pipIndexUrl") != NULL);
	config_free(&c);
	CHECK(load("{\"packages\":{"
	           "\"npmRegistry\":\"https://u:p@r.example/\"}}",
	          &c, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "npmRegistry") != NULL);
	config_free(&c);
	CHECK(load("{\"packages\":{\"npmRegistry\":\"\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`packages.npmRegistry` must be") != NULL);
	config_free(&c);
	CHECK(load("{\"packages\":{\"pipIndex\":\"http://x/\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "unknown key `packages.pipIndex`") != NULL);
	config_free(&c);
	/* caBundle: a missing file fails at load, naming it. */
	CHECK(load("{\"packages\":{\"caBundle\":\"/nonexistent/ca.pem\"}}", &c,
	          msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`packages.caBundle`") != NULL &&
	    strstr(msg, "/nonexistent/ca.pem") != NULL);
	config_free(&c);
	if ((fd = mkstemp(ca)) == -1)
		return 1;
	close(fd);
	snprintf(json, sizeof json, "{\"packages\":{\"caBundle\":\"%s\"}}", ca);
	CHECK(load(json, &c, msg, sizeof msg) == 0);
	CHECK(strcmp(c.ca_bundle, ca) == 0);
	config_free(&c);
	/* Relative: to the configuration file's folder (both in /tmp). */
	base = strrchr(ca, '/') + 1;
	snprintf(
	    json, sizeof json, "{\"packages\":{\"caBundle\":\"%s\"}}", base);
	CHECK(load(json, &c, msg, sizeof msg) == 0);
	CHECK(c.ca_bundle != NULL && strcmp(c.ca_bundle, ca) == 0);
	config_free(&c);
	unlink(ca);
	return 0;
}

/* "remoteCode": the original's policy and defaults, and ours. */
static int
test_remote_code(void)
{
	struct cli_config c;
	char msg[512];

	CHECK(load("{}", &c, msg, sizeof msg) == 0);
	CHECK(!c.remote.enabled && c.remote.schemes_len == 1);
	CHECK(strcmp(c.remote.schemes[0], "https") == 0);
	CHECK(c.remote.block_hosts_len == 10 && !c.remote.allow_private);
	CHECK(c.remote.timeout_ms == 30000 && c.remote.max_size == 10u << 20);
	CHECK(strcmp(c.remote.github_base, REMOTE_GITHUB_BASE) == 0);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"enabled\":true,\"allowPrivate\":true,"
	           "\"allowedSchemes\":[\"http\",\"https\"],"
	           "\"githubBaseUrl\":\"http://127.0.0.1:9/gh/\","
	           "\"maxCodeSize\":\"1k\",\"blockedHosts\":[]}}",
	          &c, msg, sizeof msg) == 0);
	CHECK(c.remote.enabled && c.remote.allow_private);
	CHECK(c.remote.schemes_len == 2 && c.remote.block_hosts_len == 0);
	CHECK(strcmp(c.remote.github_base, "http://127.0.0.1:9/gh") == 0);
	CHECK(c.remote.max_size == 1024);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"allowedSchemes\":[\"ftp\"]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`ftp` is not http or https") != NULL);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"blockedHosts\":[\"(\"]}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "not a valid regular expression") != NULL);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"maxCodeSize\":\"17m\"}}", &c, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`remoteCode.maxCodeSize` must be at most") != NULL);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"gistBaseUrl\":\"file:///x\"}}", &c, msg,
	          sizeof msg) == -1);
	config_free(&c);
	CHECK(load("{\"remoteCode\":{\"enable\":true}}", &c, msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "unknown key `remoteCode.enable`") != NULL);
	config_free(&c);
	return 0;
}

/* Sizes print as the flags take them. */
static int
test_sizes(void)
{
	static const struct {
		uint64_t n;
		const char *want;
	} cases[] = {
		{ 512u << 20, "512m" },
		{ 1u << 30, "1g" },
		{ 1536u << 20, "1536m" },
		{ 1ull << 50, "1024t" },
		{ 4096, "4k" },
		{ 1000, "1000" },
		{ 0, "0" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = config_size(cases[i].n);
		CHECK(strcmp(s, cases[i].want) == 0);
		free(s);
	}
	return 0;
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return 1;
	close(fd);
	RUN_TEST(test_defaults_and_overrides);
	RUN_TEST(test_network_rules);
	RUN_TEST(test_errors_name_the_key);
	RUN_TEST(test_limit_keys);
	RUN_TEST(test_batch_docker_wait);
	RUN_TEST(test_dependencies);
	RUN_TEST(test_packages_keys);
	RUN_TEST(test_original_keys);
	RUN_TEST(test_remote_code);
	RUN_TEST(test_sizes);
	unlink(path);
	return TAP_DONE();
}
