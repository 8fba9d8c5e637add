/* engine: secret masking across chunks, runtimes, request validation. */
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
	req.memory = 64 << 20;
	req.env = badenv;
	req.env_len = 1;
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	CHECK(strstr(err.message, "A=B") != NULL);
	req.env = NULL;
	req.env_len = 0;
	req.file_ext = "../x";
	CHECK(isol8_run_start(e, &req, &cbs, &called, &err) == NULL);
	isol8_engine_free(e);
	CHECK(!called);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_mask_split_everywhere);
	RUN_TEST(test_mask_longest_first);
	RUN_TEST(test_runtime_detection);
	RUN_TEST(test_request_validation);
	return TAP_DONE();
}
