/* engine: secret masking across chunks, runtimes, request validation,
 * and the one table of limits (parsing and enforcement). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "engine/engine.h"

static void
emit(int stream, const char *data, size_t len, void *arg)
{
	(void)stream;
	buf_add(arg, data, len);
}

/* Feed text split at cut (and again at cut2) through a mask. */
static char *
masked(const struct isol8_kv *s, size_t n, const char *text, size_t cut,
    size_t cut2)
{
	struct mask *m = mask_new(s, n);
	struct buf out = { 0 };
	size_t len = strlen(text);

	if (cut > len)
		cut = len;
	if (cut2 < cut || cut2 > len)
		cut2 = cut;
	mask_feed(m, 1, text, cut, emit, &out);
	mask_feed(m, 1, text + cut, cut2 - cut, emit, &out);
	mask_feed(m, 1, text + cut2, len - cut2, emit, &out);
	mask_flush(m, 1, emit, &out);
	char *s_out;

	mask_free(m);
	s_out = xstrdup(buf_cstr(&out));
	buf_free(&out);
	return s_out;
}

static int
test_mask_split_everywhere(void)
{
	static const struct isol8_kv s[] = { { "K", "hunter2" } };
	const char *text = "pw=hunter2; again hunter2hunter2 end hunte";
	const char *want = "pw=***; again ****** end hunte";
	size_t i, j, len = strlen(text);
	char *got;

	for (i = 0; i <= len; i++)
		for (j = i; j <= len; j++) {
			got = masked(s, 1, text, i, j);
			if (strcmp(got, want) != 0)
				fprintf(stderr, "cut %zu/%zu: %s\n", i, j, got);
			CHECK(strcmp(got, want) == 0);
			free(got);
		}
	return 0;
}

static int
test_mask_longest_first(void)
{
	static const struct isol8_kv s[] = { { "A", "abc" }, { "B", "abcdef" },
		{ "C", "" } };
	char *got;

	got = masked(s, 3, "xabcdefx abcx", 5, 5);
	CHECK(strcmp(got, "x***x ***x") == 0);
	free(got);
	CHECK(mask_new(s + 2, 1) == NULL); /* only empty secrets */
	return 0;
}

static int
test_runtime_detection(void)
{
	CHECK(strcmp(isol8_runtime_for_path("a.py"), "python") == 0);
	CHECK(strcmp(isol8_runtime_for_path("x/a.cjs"), "node") == 0);
	CHECK(strcmp(isol8_runtime_for_path("a.mjs"), "node") == 0);
	CHECK(strcmp(isol8_runtime_for_path("a.js"), "node") == 0);
	CHECK(strcmp(isol8_runtime_for_path("a.ts"), "bun") == 0);
	CHECK(strcmp(isol8_runtime_for_path("a.mts"), "deno") == 0);
	CHECK(strcmp(isol8_runtime_for_path("a.sh"), "bash") == 0);
	CHECK(isol8_runtime_for_path("Makefile") == NULL);
	CHECK(isol8_runtime_for_path("dir.py/file") == NULL);
	CHECK(isol8_runtime_known("deno") && !isol8_runtime_known("ruby"));
	return 0;
}

static void
never(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	(void)r;
	(void)e;
	*(int *)arg = 1;
}

/* Bad requests fail synchronously, without a callback or a container. */
static int
test_request_validation(void)
{
	static const struct isol8_callbacks cbs = { NULL, NULL, never };
	static const struct isol8_kv badenv[] = { { "A=B", "x" } };
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_error err;
	int called = 0;

	/* No Docker is contacted before a run is admitted. */
	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "cobol";
	req.code = "x";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL && strstr(err.message, "cobol"));
	req.runtime = "python";
	req.cmd = "ls";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(strstr(err.message, "exactly one") != NULL);
	req.cmd = NULL;
	req.network = "bridge";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(strstr(err.message, "bridge") != NULL);
	{
		static const char *const bad_re[] = { "a(b" };

		req.network = "filtered";
		req.net_allow = bad_re;
		req.net_allow_len = 1;
		CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
		CHECK(err.code == ISOL8_EINVAL &&
		    strstr(err.message, "a(b") != NULL);
		req.network = "none"; /* patterns without the filtered net */
		CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
		CHECK(strstr(err.message, "filtered") != NULL);
		req.net_allow = NULL;
		req.net_allow_len = 0;
	}
	req.network = "none";
	req.memory = 1024;
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL && strstr(err.message, "`memory`"));
	req.memory = 64 << 20;
	req.env = badenv;
	req.env_len = 1;
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(strstr(err.message, "A=B") != NULL);
	req.env = NULL;
	req.env_len = 0;
	req.file_ext = "../x";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	req.file_ext = NULL;
	/* A workdir outside /sandbox; argv over what the agent takes (it
	 * used to reach the agent, which refused the frame). */
	req.workdir = "/sandbox/../etc";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL && strstr(err.message, "workdir: "));
	CHECK(isol8_workdir_check(req.workdir, &err) == -1);
	CHECK(isol8_workdir_check("/sandbox", &err) == 0);
	CHECK(isol8_workdir_check(NULL, &err) == 0);
	req.workdir = NULL;
	{
		const char **many = calloc(1026, sizeof *many);
		int i;

		for (i = 0; i < 1025; i++)
			many[i] = "a";
		req.code = NULL;
		req.argv = many;
		CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
		CHECK(err.code == ISOL8_ELIMIT &&
		    strstr(err.message, "argv has more than 1024") != NULL);
		req.argv = NULL;
		free(many);
	}
	isol8_engine_free(e);
	CHECK(!called);
	return 0;
}

/* One text through isol8_request_parse_limit: its value, or -1. */
static int
parse_req(enum isol8_limit id, const char *text, struct isol8_request *r,
    struct isol8_error *err)
{
	isol8_request_init(r);
	return isol8_request_parse_limit(r, id, text, "--flag", err);
}

/*
 * Every request limit from text: NaN, inf, -0, overflow, junk, empty,
 * hex, whitespace, negative, min-1, min, max, max+1. A refusal is
 * ISOL8_EINVAL, names the flag, and leaves the request as it was.
 */
static int
test_limit_parse_request(void)
{
	static const char *const junk[] = { "nan", "NaN", "inf", "-inf", "-0",
		"-1", "", " 1", "1 ", "12abc", "0x10", "1e", "1,5", "\t2",
		NULL };
	static const struct {
		enum isol8_limit id;
		const char *below, *min, *max, *above;
		const char *want; /* in the message for below/above */
	} cases[] = {
		{ ISOL8_LIMIT_TIMEOUT, "0", "1", "86400000", "86400001",
		    "86400000 ms" },
		{ ISOL8_LIMIT_MEMORY, "6291455", "6m", "1024t",
		    "1125899906842625", "Docker's minimum" },
		{ ISOL8_LIMIT_CPUS, "0.009", "0.01", NULL, NULL,
		    "Docker's minimum" },
		{ ISOL8_LIMIT_PIDS, "1", "2", "4194304", "4194305",
		    "the sandbox's agent" },
		{ ISOL8_LIMIT_SANDBOX_SIZE, "4095", "4k", "1024t", "1025t",
		    "one page" },
		{ ISOL8_LIMIT_TMP_SIZE, "4095", "4096", "1024t", "1025t",
		    "one page" },
		{ ISOL8_LIMIT_MAX_OUTPUT, "0", "1", "1024t", "1025t", "1024t" },
		{ ISOL8_LIMIT_MAX_OUTPUT_FILE, "0", "1", "256m", "268435457",
		    "256m" },
	};
	struct isol8_request r;
	struct isol8_error err;
	size_t i, j;

	for (i = 0; i < nitems(cases); i++) {
		for (j = 0; junk[j] != NULL; j++) {
			if (parse_req(cases[i].id, junk[j], &r, &err) != -1 ||
			    err.code != ISOL8_EINVAL ||
			    strstr(err.message, "--flag wants") == NULL) {
				fprintf(stderr, "limit %d `%s`: %s\n",
				    (int)cases[i].id, junk[j], err.message);
				return 1;
			}
		}
		CHECK(parse_req(cases[i].id, cases[i].below, &r, &err) == -1);
		CHECK(strstr(err.message, "--flag must be at least") != NULL);
		if (strstr(err.message, cases[i].want) == NULL &&
		    cases[i].id != ISOL8_LIMIT_MAX_OUTPUT &&
		    cases[i].id != ISOL8_LIMIT_MAX_OUTPUT_FILE &&
		    cases[i].id != ISOL8_LIMIT_TIMEOUT) {
			fprintf(stderr, "%s\n", err.message);
			return 1;
		}
		CHECK(parse_req(cases[i].id, cases[i].min, &r, &err) == 0);
		if (cases[i].max == NULL)
			continue;
		CHECK(parse_req(cases[i].id, cases[i].max, &r, &err) == 0);
		CHECK(parse_req(cases[i].id, cases[i].above, &r, &err) == -1);
		CHECK(strstr(err.message, "--flag must be at most") != NULL);
		/* Overflow is over the max, not wrapped into range. */
		CHECK(parse_req(cases[i].id, "99999999999999999999999", &r,
		          &err) == -1);
		CHECK(strstr(err.message, "at most") != NULL);
		CHECK(parse_req(cases[i].id, "1e30", &r, &err) == -1);
		CHECK(strstr(err.message, "at most") != NULL);
	}
	/* Values land in their fields, in their units. */
	CHECK(parse_req(ISOL8_LIMIT_TIMEOUT, "30s", &r, &err) == 0 &&
	    r.timeout_ms == 30000);
	CHECK(parse_req(ISOL8_LIMIT_MEMORY, "99999999999g", &r, &err) == -1);
	CHECK(r.memory == 512ull << 20); /* untouched on error */
	CHECK(parse_req(ISOL8_LIMIT_MEMORY, "1.5g", &r, &err) == 0 &&
	    r.memory == 3ull << 29);
	CHECK(parse_req(ISOL8_LIMIT_PIDS, "32", &r, &err) == 0 && r.pids == 32);
	CHECK(parse_req(ISOL8_LIMIT_PIDS, "1.5", &r, &err) == -1);
	CHECK(
	    parse_req(ISOL8_LIMIT_PIDS, "9223372036854775808", &r, &err) == -1);
	CHECK(parse_req(ISOL8_LIMIT_PIDS, "6.4e1", &r, &err) == 0 &&
	    r.pids == 64);
	CHECK(parse_req(ISOL8_LIMIT_MAX_OUTPUT_FILE, "1m", &r, &err) == 0 &&
	    r.max_output_file == 1 << 20);
	/* Not a request limit: refused, not written anywhere. */
	CHECK(isol8_request_parse_limit(
	          &r, ISOL8_LIMIT_POOL_SIZE, "1", "x", &err) == -1);
	return 0;
}

/* CPUs: 0.01 (Docker's minimum) to this machine's CPUs, in nano-CPUs. */
static int
test_limit_parse_cpus(void)
{
	struct isol8_request r;
	struct isol8_error err;
	char text[64];
	uint64_t n = engine_cpus();

	CHECK(n >= 1);
	CHECK(
	    parse_req(ISOL8_LIMIT_CPUS, "0.5", &r, &err) == 0 && r.cpus == 0.5);
	CHECK(parse_req(ISOL8_LIMIT_CPUS, "0.001", &r, &err) == -1);
	CHECK(strstr(err.message, "--flag must be at least 0.01") != NULL);
	CHECK(strstr(err.message, "Docker's minimum") != NULL);
	CHECK(strstr(err.message, "`0.001`") != NULL);
	CHECK(parse_req(ISOL8_LIMIT_CPUS, "nan", &r, &err) == -1);
	CHECK(strstr(err.message, "--flag wants a number of CPUs") != NULL);
	CHECK(r.cpus == 1.0);
	snprintf(text, sizeof text, "%llu", (unsigned long long)n);
	CHECK(parse_req(ISOL8_LIMIT_CPUS, text, &r, &err) == 0 &&
	    r.cpus == (double)n);
	snprintf(text, sizeof text, "%llu.000000001", (unsigned long long)n);
	CHECK(parse_req(ISOL8_LIMIT_CPUS, text, &r, &err) == -1);
	snprintf(text, sizeof text, "at most %llu (the CPUs of this machine)",
	    (unsigned long long)n);
	if (strstr(err.message, text) == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	CHECK(parse_req(ISOL8_LIMIT_CPUS, "1e999", &r, &err) == -1);
	CHECK(strstr(err.message, "at most") != NULL);
	return 0;
}

/* The engine options' limits, from text and in isol8_engine_new(). */
static int
test_limit_opts(void)
{
	struct isol8_engine_opts o;
	struct isol8_engine *e;
	struct isol8_error err;

	isol8_engine_opts_init(&o);
	CHECK(isol8_engine_opts_parse_limit(
	          &o, ISOL8_LIMIT_POOL_SIZE, "0", "pool.size", &err) == 0 &&
	    o.pool_size == 0);
	CHECK(isol8_engine_opts_parse_limit(
	          &o, ISOL8_LIMIT_POOL_SIZE, "257", "pool.size", &err) == -1);
	CHECK(strstr(err.message, "pool.size must be at most 256") != NULL);
	CHECK(isol8_engine_opts_parse_limit(
	          &o, ISOL8_LIMIT_POOL_IDLE, "7d", "pool.idleMs", &err) == -1);
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_SESSION_IDLE, "1h",
	          "session.idleMs", &err) == 0 &&
	    o.session_idle_ms == 3600000);
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_MAX_CONCURRENT, "0",
	          "maxConcurrent", &err) == -1);
	CHECK(isol8_engine_opts_parse_limit(
	          &o, ISOL8_LIMIT_MEMORY, "1g", "x", &err) == -1);
	/* A remote engine's bounds on a server that does not answer. */
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_REMOTE_STALL, "2m",
	          "--stall-timeout", &err) == 0 &&
	    o.remote_stall_ms == 120000);
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_REMOTE_STALL, "25h",
	          "--stall-timeout", &err) == -1);
	CHECK(strstr(err.message,
	          "--stall-timeout must be at most 86400000 ms (24 hours)") !=
	    NULL);
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_REMOTE_CONNECT,
	          "500ms", "remote.connectTimeoutMs", &err) == 0 &&
	    o.remote_connect_ms == 500);
	CHECK(isol8_engine_opts_parse_limit(&o, ISOL8_LIMIT_REMOTE_CONNECT,
	          "11m", "remote.connectTimeoutMs", &err) == -1);
	/* The library path: isol8_engine_new() refuses, naming the field. */
	isol8_engine_opts_init(&o);
	o.pool_idle_ms = UINT64_MAX; /* the agent's idle deadline wrapped */
	CHECK(isol8_engine_new(NULL, &o, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL && strstr(err.message, "pool_idle_ms"));
	isol8_engine_opts_init(&o);
	o.pool_size = 100000;
	CHECK(isol8_engine_new(NULL, &o, &err) == NULL);
	CHECK(strstr(err.message, "`pool_size` must be at most 256") != NULL);
	isol8_engine_opts_init(&o);
	o.remote_stall_ms = 86400001;
	CHECK(isol8_engine_new(NULL, &o, &err) == NULL);
	CHECK(strstr(err.message, "`remote_stall_ms` must be at most") != NULL);
	/* Zeros are the defaults (pool_size 0: no warm containers). */
	memset(&o, 0, sizeof o);
	CHECK((e = isol8_engine_new(NULL, &o, &err)) != NULL);
	isol8_engine_free(e);
	return 0;
}

/*
 * The library path: isol8_run_start() refuses every out-of-bounds limit
 * with ISOL8_EINVAL naming the field, before any container is made (the
 * NaN CPU count used to pass `cpus <= 0` and run with no CPU limit).
 */
static int
test_limit_library(void)
{
	static const struct isol8_callbacks cbs = { NULL, NULL, never };
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_error err;
	struct engine_limits lim;
	int called = 0, bad = 0;

	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
#define REFUSED(field, val, name)                                              \
	do {                                                                   \
		isol8_request_init(&req);                                      \
		req.runtime = "python";                                        \
		req.code = "x";                                                \
		req.field = (val);                                             \
		if (isol8_run_start(e, &req, &cbs, &called, &err) != NULL ||   \
		    err.code != ISOL8_EINVAL ||                                \
		    strstr(err.message, name) == NULL) {                       \
			fprintf(stderr, "%s = %s: %s\n", #field, #val,         \
			    err.message);                                      \
			bad++;                                                 \
		}                                                              \
	} while (0)
	REFUSED(cpus, NAN, "`cpus` must be a number of CPUs");
	REFUSED(cpus, -NAN, "`cpus`");
	REFUSED(cpus, INFINITY, "`cpus` must be at most");
	REFUSED(cpus, -INFINITY, "`cpus` must be at least 0.01");
	REFUSED(cpus, -1, "`cpus` must be at least 0.01");
	REFUSED(cpus, 0.001, "`cpus` must be at least 0.01 (Docker's minimum");
	REFUSED(cpus, 0.0099, "`cpus` must be at least 0.01");
	REFUSED(cpus, (double)engine_cpus() + 0.01, "the CPUs of this machine");
	REFUSED(cpus, 1e300, "`cpus` must be at most");
	REFUSED(memory, (6u << 20) - 1, "`memory` must be at least 6m");
	REFUSED(memory, UINT64_MAX, "`memory` must be at most 1024t");
	REFUSED(memory, (1ull << 50) + 1, "`memory` must be at most");
	REFUSED(pids, 1, "`pids` must be at least 2");
	REFUSED(pids, -1, "`pids` must be at least 2");
	REFUSED(pids, INT64_MIN, "`pids`");
	REFUSED(pids, (1 << 22) + 1, "`pids` must be at most 4194304");
	REFUSED(timeout_ms, 86400001, "`timeout_ms` must be at most");
	REFUSED(timeout_ms, UINT64_MAX, "`timeout_ms`");
	REFUSED(sandbox_size, 4095, "`sandbox_size` must be at least 4k");
	REFUSED(sandbox_size, UINT64_MAX, "`sandbox_size`");
	REFUSED(tmp_size, 1, "`tmp_size` must be at least");
	REFUSED(tmp_size, 1ull << 63, "`tmp_size`");
	REFUSED(max_output, UINT64_MAX, "`max_output`");
	REFUSED(max_output_file, (256ull << 20) + 1, "`max_output_file`");
	/* Code the container's limits cannot hold (code_len past "x": it is
	 * refused before anything reads it). */
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "x";
	req.code_len = 5000;
	req.sandbox_size = 4096; /* also the largest file (RLIMIT_FSIZE) */
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL &&
	    strstr(err.message, "larger than `sandbox_size`"));
	req.sandbox_size = 0;
	req.tmp_size = 4096; /* where the code is written */
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL && strstr(err.message, "`tmp_size`"));
	isol8_engine_free(e);
	CHECK(bad == 0 && !called);

	/* What passes: min, max, and 0 (-0.0 too) for the default. */
	isol8_request_init(&req);
	req.cpus = 0.01;
	req.memory = 6u << 20;
	req.pids = 2;
	req.timeout_ms = 86400000;
	req.sandbox_size = req.tmp_size = 4096;
	req.max_output = 1ull << 50;
	req.max_output_file = 256u << 20;
	CHECK(engine_limits(&req, &lim, NULL) == 0);
	CHECK(lim.nano_cpus == 10000000 && lim.memory == 6u << 20);
	CHECK(lim.pids == 2 && lim.timeout_ms == 86400000);
	req.cpus = 0.03 - 0.02; /* 0.009999999999999998: 0.01 in nano-CPUs */
	CHECK(
	    engine_limits(&req, &lim, NULL) == 0 && lim.nano_cpus == 10000000);
	req.cpus = (double)engine_cpus();
	CHECK(engine_limits(&req, &lim, NULL) == 0);
	memset(&req, 0, sizeof req);
	req.cpus = -0.0;
	CHECK(engine_limits(&req, &lim, NULL) == 0);
	CHECK(lim.nano_cpus == 1000000000 && lim.timeout_ms == 30000);
	CHECK(lim.memory == 512u << 20 && lim.pids == 64);
	CHECK(lim.max_output_file == 8u << 20);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_mask_split_everywhere);
	RUN_TEST(test_mask_longest_first);
	RUN_TEST(test_runtime_detection);
	RUN_TEST(test_request_validation);
	RUN_TEST(test_limit_parse_request);
	RUN_TEST(test_limit_parse_cpus);
	RUN_TEST(test_limit_opts);
	RUN_TEST(test_limit_library);
	return TAP_DONE();
}
