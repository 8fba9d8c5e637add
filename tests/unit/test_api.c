/*
 * api: the JSON wire format. Requests: every field, the bounds (counts,
 * sizes, depth), errors that name the field, `file` only where allowed,
 * defaults filled in. Results: the exact bytes of both shapes (`isol8 run
 * --json`, a batch result line), and any output as valid JSON.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "api/api.h"
#include "util/util.h"

/* Parse text; its error's message (or "") into msg. */
static int
parse(const char *text, const struct api_request_opts *o, struct api_request *r,
    char *msg, size_t len)
{
	struct err *e = NULL;
	int rc = api_request_parse(text, strlen(text), o, r, &e);

	snprintf(msg, len, "%s", e != NULL ? e->msg : "");
	err_free(&e);
	return rc;
}

static int
test_request_fields(void)
{
	struct api_request r;
	const struct isol8_request *q = &r.req;
	char msg[512];

	CHECK(parse("{\"id\":\"a1\",\"runtime\":\"node\",\"code\":\"x\","
	            "\"stdin\":\"in\",\"timeout\":\"2s\",\"memory\":\"64m\","
	            "\"cpu\":0.5,\"pids\":8,\"env\":{\"A\":\"1\",\"B\":\"2\"},"
	            "\"files\":{\"d/f.txt\":\"hi\"},\"outputs\":[\"o.txt\"]}",
	          NULL, &r, msg, sizeof msg) == 0);
	CHECK(msg[0] == '\0' && strcmp(r.id, "a1") == 0);
	CHECK(strcmp(q->runtime, "node") == 0 && strcmp(q->code, "x") == 0);
	CHECK(q->code_len == 1 && q->cmd == NULL);
	CHECK(q->stdin_len == 2 && memcmp(q->stdin_data, "in", 2) == 0);
	CHECK(q->timeout_ms == 2000 && q->memory == 64u << 20);
	CHECK(q->cpus == 0.5 && q->pids == 8);
	CHECK(q->env_len == 2 && strcmp(q->env[1].key, "B") == 0);
	CHECK(q->files_len == 1 && strcmp(q->files[0].path, "d/f.txt") == 0);
	CHECK(q->outputs_len == 1 && strcmp(q->outputs[0], "o.txt") == 0);
	/* Not given: zero, the engine's defaults. */
	CHECK(q->sandbox_size == 0 && q->network == NULL && q->image == NULL);
	api_request_free(&r);
	/* An integer id is kept as its digits; none is NULL. */
	CHECK(parse("{\"id\":42,\"cmd\":\"ls\"}", NULL, &r, msg, sizeof msg) ==
	    0);
	CHECK(strcmp(r.id, "42") == 0 && strcmp(q->cmd, "ls") == 0);
	api_request_free(&r);
	CHECK(parse("{\"cmd\":\"ls\"}", NULL, &r, msg, sizeof msg) == 0);
	CHECK(r.id == NULL);
	api_request_free(&r);
	return 0;
}

/* `file` reads below the given folder, only where it is allowed. */
static int
test_request_file(void)
{
	const struct api_request_opts batch = { 1, "/tmp" };
	struct api_request r;
	char path[] = "/tmp/isol8-api-XXXXXX.sh", line[128], msg[512];
	int fd = mkstemps(path, 3);

	CHECK(fd >= 0 && write(fd, "echo 1\n", 7) == 7);
	close(fd);
	snprintf(
	    line, sizeof line, "{\"file\":\"%s\"}", strrchr(path, '/') + 1);
	CHECK(parse(line, &batch, &r, msg, sizeof msg) == 0);
	CHECK(r.req.code_len == 7 && strcmp(r.req.runtime, "bash") == 0);
	api_request_free(&r);
	/* A network client may not read our files. */
	CHECK(parse(line, NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`file`") && strstr(msg, "not allowed"));
	CHECK(r.req.code == NULL);
	api_request_free(&r);
	/* An empty file is empty code. */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK(parse(line, &batch, &r, msg, sizeof msg) == -1);
	CHECK(strcmp(msg, "the code is empty") == 0);
	api_request_free(&r);
	unlink(path);
	return 0;
}

/* Bounds: each refused with the field named, before anything is kept. */
static int
test_request_bounds(void)
{
	struct api_request r;
	struct buf b = { 0 };
	char msg[512];
	int i;

	/* The id: 256 bytes at most. */
	buf_addstr(&b, "{\"cmd\":\"x\",\"id\":\"");
	for (i = 0; i < API_MAX_ID + 1; i++)
		buf_addstr(&b, "i");
	buf_addstr(&b, "\"}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`id`") != NULL && r.id == NULL);
	api_request_free(&r);
	/* env: API_MAX_ENV names. */
	buf_drain(&b, b.len);
	buf_addstr(&b, "{\"cmd\":\"x\",\"env\":{");
	for (i = 0; i <= API_MAX_ENV; i++)
		buf_printf(&b, "%s\"V%d\":\"\"", i ? "," : "", i);
	buf_addstr(&b, "}}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`env` has more than") != NULL);
	CHECK(r.env == NULL);
	api_request_free(&r);
	/* files and outputs: the engine's counts. */
	buf_drain(&b, b.len);
	buf_addstr(&b, "{\"cmd\":\"x\",\"outputs\":[");
	for (i = 0; i <= ISOL8_MAX_OUTPUTS; i++)
		buf_printf(&b, "%s\"o%d\"", i ? "," : "", i);
	buf_addstr(&b, "]}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`outputs` has more than 64") != NULL);
	api_request_free(&r);
	/* packages: strings, at most API_MAX_PACKAGES (checked later by the
	 * engine against the runtime). */
	CHECK(parse("{\"runtime\":\"python\",\"code\":\"x\","
	            "\"packages\":[\"numpy\",\"pandas==2.0\"]}",
	          NULL, &r, msg, sizeof msg) == 0);
	CHECK(r.req.packages_len == 2 &&
	    strcmp(r.req.packages[1], "pandas==2.0") == 0);
	api_request_free(&r);
	CHECK(parse("{\"cmd\":\"x\",\"packages\":\"numpy\"}", NULL, &r, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`packages`") != NULL);
	api_request_free(&r);
	CHECK(parse("{\"cmd\":\"x\",\"packages\":[1]}", NULL, &r, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`packages` must hold strings") != NULL);
	api_request_free(&r);
	buf_drain(&b, b.len);
	buf_addstr(&b, "{\"cmd\":\"x\",\"packages\":[");
	for (i = 0; i <= API_MAX_PACKAGES; i++)
		buf_printf(&b, "%s\"p%d\"", i ? "," : "", i);
	buf_addstr(&b, "]}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`packages` has more than 256") != NULL);
	api_request_free(&r);
	/* Depth: refused before yajl builds it. */
	buf_drain(&b, b.len);
	buf_addstr(&b, "{\"cmd\":\"x\",\"env\":");
	for (i = 0; i < 100000; i++)
		buf_addstr(&b, "[");
	for (i = 0; i < 100000; i++)
		buf_addstr(&b, "]");
	buf_addstr(&b, "}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "deeper than") != NULL);
	api_request_free(&r);
	/* A field given twice (it used to leak the first one's copy). */
	CHECK(parse("{\"cmd\":\"x\",\"files\":{\"a\":\"1\"},\"files\":{}}",
	          NULL, &r, msg, sizeof msg) == -1);
	CHECK(strcmp(msg, "`files` is given twice") == 0);
	api_request_free(&r);
	/* Keys in messages are cut short. */
	buf_drain(&b, b.len);
	buf_addstr(&b, "{\"cmd\":\"x\",\"");
	for (i = 0; i < 10000; i++)
		buf_addstr(&b, "k");
	buf_addstr(&b, "\":1}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strncmp(msg, "unknown key `kkk", 16) == 0 && strlen(msg) < 100);
	api_request_free(&r);
	buf_free(&b);
	return 0;
}

/*
 * argv (a program run as is) and workdir (the engine's own rule, as
 * isol8_request.workdir): taken, bounded, refused with the field named.
 */
static int
test_request_argv_workdir(void)
{
	static const char *const bad_wd[] = { "../x", "/etc", "a//b", "a/",
		"/sandbox/./x", "/sandbox/..", "/tmp/x", "" };
	struct api_request r;
	const struct isol8_request *q = &r.req;
	struct buf b = { 0 };
	char msg[512], line[128];
	size_t i;

	CHECK(parse("{\"argv\":[\"python3\",\"-c\",\"print(1)\",\"\"],"
	            "\"workdir\":\"sub/dir\"}",
	          NULL, &r, msg, sizeof msg) == 0);
	CHECK(msg[0] == '\0' && q->code == NULL && q->cmd == NULL);
	CHECK(q->argv != NULL && strcmp(q->argv[0], "python3") == 0);
	CHECK(strcmp(q->argv[2], "print(1)") == 0 && q->argv[3][0] == '\0');
	CHECK(q->argv[4] == NULL && r.argv_len == 4);
	CHECK(strcmp(q->workdir, "sub/dir") == 0);
	api_request_free(&r);
	/* /sandbox itself, and an absolute path below it. */
	CHECK(parse("{\"cmd\":\"pwd\",\"workdir\":\"/sandbox\"}", NULL, &r, msg,
	          sizeof msg) == 0);
	api_request_free(&r);
	CHECK(parse("{\"cmd\":\"pwd\",\"workdir\":\"/sandbox/a/b\"}", NULL, &r,
	          msg, sizeof msg) == 0);
	CHECK(strcmp(q->workdir, "/sandbox/a/b") == 0);
	api_request_free(&r);
	/* What the engine refuses, refused here: the same rule. */
	for (i = 0; i < nitems(bad_wd); i++) {
		struct isol8_error e;

		snprintf(line, sizeof line,
		    "{\"cmd\":\"pwd\",\"workdir\":\"%s\"}", bad_wd[i]);
		CHECK(parse(line, NULL, &r, msg, sizeof msg) == -1);
		CHECK(strncmp(msg, "`workdir`", 9) == 0);
		CHECK(r.workdir == NULL);
		api_request_free(&r);
		if (bad_wd[i][0] != '\0')
			CHECK(isol8_workdir_check(bad_wd[i], &e) == -1 &&
			    e.code == ISOL8_EINVAL);
	}
	CHECK(parse("{\"cmd\":\"pwd\",\"workdir\":7}", NULL, &r, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "`workdir` must be a path below /sandbox") != NULL);
	api_request_free(&r);
	/* argv: one source of the four, non-empty, strings, bounded. */
	CHECK(parse("{\"argv\":[\"ls\"],\"cmd\":\"ls\"}", NULL, &r, msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "exactly one of `code`, `file`, `cmd` and `argv`"));
	api_request_free(&r);
	CHECK(parse("{\"argv\":[]}", NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`argv` must hold at least the program") != NULL);
	api_request_free(&r);
	CHECK(parse("{\"argv\":\"ls -l\"}", NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`argv` must be an array of strings") != NULL);
	api_request_free(&r);
	CHECK(parse("{\"argv\":[\"ls\",1]}", NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`argv` must hold strings") != NULL);
	api_request_free(&r);
	buf_addstr(&b, "{\"argv\":[");
	for (i = 0; i <= API_MAX_ARGV; i++)
		buf_printf(&b, "%s\"a\"", i ? "," : "");
	buf_addstr(&b, "]}");
	CHECK(parse(buf_cstr(&b), NULL, &r, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`argv` has more than 1024 items") != NULL);
	api_request_free(&r);
	buf_free(&b);
	return 0;
}

/* Defaults fill what the request left out; env: the defaults' first. */
static int
test_request_defaults(void)
{
	static const struct isol8_kv denv[] = { { "A", "d" }, { "D", "1" } };
	static const char *const allow[] = { "^x$" };
	struct isol8_request def;
	struct api_request r;
	const struct isol8_request *q = &r.req;
	char msg[512];

	isol8_request_init(&def);
	def.runtime = "bash";
	def.timeout_ms = 7000;
	def.memory = 128u << 20;
	def.network = "filtered";
	def.net_allow = allow;
	def.net_allow_len = 1;
	def.env = denv;
	def.env_len = 2;
	CHECK(parse("{\"code\":\"x\",\"timeout\":500,\"env\":{\"A\":\"j\"}}",
	          NULL, &r, msg, sizeof msg) == 0);
	api_request_defaults(&r, &def);
	CHECK(strcmp(q->runtime, "bash") == 0 && q->timeout_ms == 500);
	CHECK(q->memory == 128u << 20 && q->pids == def.pids);
	CHECK(strcmp(q->network, "filtered") == 0 && q->net_allow_len == 1);
	CHECK(q->env_len == 3 && strcmp(q->env[0].value, "d") == 0);
	CHECK(strcmp(q->env[2].key, "A") == 0 && *q->env[2].value == 'j');
	/* Twice (a retried job) is the same, not twice the env. */
	api_request_defaults(&r, &def);
	CHECK(q->env_len == 3);
	api_request_free(&r);
	return 0;
}

/* A result with every field set, as the engine hands it over. */
static void
sample_result(struct isol8_result *res, struct isol8_net_event *ev,
    struct isol8_output_file *of)
{
	memset(res, 0, sizeof *res);
	res->exit_code = 2;
	res->run_ms = 11;
	res->total_ms = 14;
	res->queued_ms = 2;
	res->cpu_ms = 10;
	res->peak_rss_kb = 7800;
	res->stdout_bytes = 3;
	res->stderr_bytes = 2;
	res->container_id = "c0ffee";
	ev[0] = (struct isol8_net_event){ "CONNECT", "pypi.org", "443", 1, NULL,
		1 };
	ev[1] = (struct isol8_net_event){ "GET", "evil.example", "80", 0,
		"denied by --deny", 0 };
	res->net_events = ev;
	res->net_events_len = 2;
	of[0] =
	    (struct isol8_output_file){ "/sandbox/out.csv", "x,y", 3, NULL };
	of[1] = (struct isol8_output_file){ "/sandbox/none", NULL, 0,
		"no such file" };
	res->outputs = of;
	res->outputs_len = 2;
}

/* `isol8 run --json`: the same bytes as before yajl (docs/cli.md). */
static int
test_result_run(void)
{
	struct isol8_net_event ev[2];
	struct isol8_output_file of[2];
	struct isol8_result res;
	struct api_result a = { 0 };
	struct buf b = { 0 };

	sample_result(&res, ev, of);
	a.runtime = "python";
	a.res = &res;
	a.out = "j\n\xff";
	a.out_len = 3;
	a.err = "e\n";
	a.err_len = 2;
	api_result_write(API_RUN, &a, &b);
	CHECK(strcmp(buf_cstr(&b),
	          "{\"runtime\":\"python\",\"stdout\":\"j\\n\xef\xbf\xbd\","
	          "\"stderr\":\"e\\n\",\"exitCode\":2,\"signal\":0,"
	          "\"timedOut\":false,\"oomKilled\":false,\"truncated\":false,"
	          "\"stateLost\":false,\"durationMs\":11,\"totalMs\":14,"
	          "\"queuedMs\":2,\"installMs\":0,\"cpuMs\":10,"
	          "\"peakRssKb\":7800,\"stdoutBytes\":3,\"stderrBytes\":2,"
	          "\"containerId\":\"c0ffee\",\"network\":["
	          "{\"method\":\"CONNECT\",\"host\":\"pypi.org\",\"port\":443,"
	          "\"action\":\"allow\",\"phase\":\"install\"},"
	          "{\"method\":\"GET\",\"host\":\"evil.example\",\"port\":80,"
	          "\"action\":\"block\",\"reason\":\"denied by --deny\"}],"
	          "\"error\":null}") == 0);
	/* An error, no container, no network; a count of dropped events. */
	buf_drain(&b, b.len);
	res.container_id = NULL;
	res.net_events_len = 0;
	a.error = "the agent \"vanished\"";
	api_result_write(API_RUN, &a, &b);
	CHECK(strstr(buf_cstr(&b),
	          "\"containerId\":\"\","
	          "\"error\":\"the agent \\\"vanished\\\"\","
	          "\"errorCode\":\"internal\"}") != NULL);
	/* The code of the error, and that the code may have run. */
	buf_drain(&b, b.len);
	a.code = ISOL8_ELOST;
	res.may_have_run = 1;
	api_result_write(API_RUN, &a, &b);
	CHECK(strstr(buf_cstr(&b),
	          "\"errorCode\":\"lost\",\"mayHaveRun\":true}") != NULL);
	res.may_have_run = 0;
	a.code = ISOL8_OK;
	buf_drain(&b, b.len);
	res.net_events_dropped = 7;
	api_network_write(&res, &b);
	CHECK(strcmp(buf_cstr(&b), "[{\"dropped\":7}]") == 0);
	buf_free(&b);
	return 0;
}

/* A batch result line, and an error line (docs/batch.md). */
static int
test_result_job(void)
{
	static const char *const outs[] = { "out.csv", "none" };
	struct isol8_net_event ev[2];
	struct isol8_output_file of[2];
	struct isol8_result res;
	struct api_result a = { 0 };
	struct buf b = { 0 };

	sample_result(&res, ev, of);
	a.id = "s4";
	a.line = 4;
	a.res = &res;
	a.out = "ok\n";
	a.out_len = 3;
	a.outputs = outs;
	a.retried = 1;
	api_result_write(API_JOB, &a, &b);
	CHECK(strcmp(buf_cstr(&b),
	          "{\"id\":\"s4\",\"line\":4,\"exitCode\":2,\"signal\":0,"
	          "\"stdout\":\"ok\\n\",\"stderr\":\"\",\"timedOut\":false,"
	          "\"oomKilled\":false,\"truncated\":false,\"durations\":{"
	          "\"queuedMs\":2,\"installMs\":0,\"runMs\":11,\"totalMs\":14},"
	          "\"resources\":{"
	          "\"cpuMs\":10,\"peakRssKb\":7800},\"containerId\":\"c0ffee\","
	          "\"outputs\":{\"out.csv\":{\"base64\":\"eCx5\"},\"none\":{"
	          "\"error\":\"no such file\"}},\"retried\":true,"
	          "\"error\":null}") == 0);
	buf_drain(&b, b.len);
	a.res = NULL;
	a.error = "line 4: cancelled: the batch was interrupted";
	a.may_have_run = 1;
	api_result_write(API_JOB, &a, &b);
	CHECK(
	    strcmp(buf_cstr(&b),
	        "{\"id\":\"s4\",\"line\":4,\"retried\":true,"
	        "\"mayHaveRun\":true,"
	        "\"error\":\"line 4: cancelled: the batch was interrupted\"}") ==
	    0);
	buf_free(&b);
	return 0;
}

/* Any bytes of output, NULs and broken UTF-8 included, give valid JSON. */
static int
test_result_any_bytes(void)
{
	struct isol8_result res;
	struct api_result a = { 0 };
	struct buf b = { 0 };
	char bytes[256];
	yajl_val v;
	int i;

	for (i = 0; i < 256; i++)
		bytes[i] = (char)i;
	memset(&res, 0, sizeof res);
	a.runtime = "bash";
	a.res = &res;
	a.out = bytes;
	a.out_len = sizeof bytes;
	api_result_write(API_RUN, &a, &b);
	v = json_parse(b.data, b.len, NULL);
	CHECK(v != NULL && YAJL_IS_STRING(json_get(v, "stdout", NULL)));
	yajl_tree_free(v);
	buf_free(&b);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_request_fields);
	RUN_TEST(test_request_file);
	RUN_TEST(test_request_bounds);
	RUN_TEST(test_request_argv_workdir);
	RUN_TEST(test_request_defaults);
	RUN_TEST(test_result_run);
	RUN_TEST(test_result_job);
	RUN_TEST(test_result_any_bytes);
	return TAP_DONE();
}
