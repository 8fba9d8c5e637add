/* cli config: precedence, strictness, and error messages that name keys. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/cli.h"

static char path[] = "/tmp/isol8-config-XXXXXX";

static int
load(const char *json, struct cli_config *c, char *msg, size_t len)
{
	FILE *f = fopen(path, "w");

	fputs(json, f);
	fclose(f);
	return config_load(c, path, msg, len);
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
	CHECK(c.timeout_ms == 5000 && c.memory == 1ull << 30);
	CHECK(c.cpus == 0.5 && strcmp(c.runtime, "bash") == 0);
	CHECK(strcmp(c.network, "host") == 0 && c.pool_size == 3);
	CHECK(c.pool_reuse == 1 && c.env_len == 1);
	CHECK(c.pids == 64 && c.max_output == 1 << 20); /* untouched */
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
	CHECK(load("{\"network\":{\"whitelist\":[]}}", &c, msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "unknown key `network.whitelist`") != NULL);
	config_free(&c);
	CHECK(load("{\"network\":{\"allowPrivate\":1}}", &c, msg, sizeof msg) ==
	    -1);
	config_free(&c);
	CHECK(load("{\"defaults\":{\"network\":\"filtered\"}}", &c, msg,
	          sizeof msg) == 0);
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
	unlink(path);
	RUN_TEST(test_batch_docker_wait);
	return TAP_DONE();
}
