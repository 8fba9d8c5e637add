/* batch job parser: the full format, and every malformed case names the
 * key and the line. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/cli.h"

static int
parse(const char *text, struct batch_job *j)
{
	return batch_job_parse(text, strlen(text), 7, "/tmp", j);
}

static int
test_full_job(void)
{
	struct batch_job j;

	CHECK(parse("{\"id\":\"a1\",\"runtime\":\"node\",\"code\":\"x\","
	            "\"stdin\":\"in\",\"timeout\":500,\"memory\":\"64m\","
	            "\"cpu\":0.5,"
	            "\"pids\":8,\"env\":{\"A\":\"1\"},\"files\":{\"d/"
	            "f.txt\":\"hi\"},"
	            "\"outputs\":[\"out.txt\"]}",
	          &j) == 0);
	CHECK(j.error == NULL && strcmp(j.id, "a1") == 0 && j.line == 7);
	CHECK(strcmp(j.runtime, "node") == 0 && strcmp(j.code, "x") == 0);
	CHECK(j.stdin_len == 2 && j.timeout_ms == 500);
	CHECK(j.memory == 64u << 20 && j.cpus == 0.5 && j.pids == 8);
	CHECK(j.env_len == 1 && strcmp(j.env[0].value, "1") == 0);
	CHECK(j.files_len == 1 && j.files[0].len == 2);
	CHECK(j.outputs_len == 1 && strcmp(j.outputs[0], "out.txt") == 0);
	batch_job_free(&j);
	/* No id: the line number; a numeric id is fine. */
	CHECK(parse("{\"cmd\":\"ls\"}", &j) == 0 && strcmp(j.id, "7") == 0);
	batch_job_free(&j);
	CHECK(parse("{\"id\":42,\"code\":\"x\"}", &j) == 0);
	CHECK(strcmp(j.id, "42") == 0);
	batch_job_free(&j);
	/* Limits at their bounds; strings and JSON numbers alike. */
	CHECK(parse("{\"code\":\"x\",\"cpu\":0.01,\"memory\":6291456,"
	            "\"pids\":2,\"timeout\":\"30s\"}",
	          &j) == 0);
	CHECK(j.cpus == 0.01 && j.memory == 6u << 20 && j.pids == 2);
	CHECK(j.timeout_ms == 30000);
	batch_job_free(&j);
	CHECK(parse("{\"code\":\"x\",\"pids\":4194304,\"timeout\":86400000,"
	            "\"memory\":\"1024t\",\"cpu\":\"1\"}",
	          &j) == 0);
	CHECK(j.pids == 4194304 && j.timeout_ms == 86400000 && j.cpus == 1);
	batch_job_free(&j);
	return 0;
}

static int
test_file_source(void)
{
	char path[] = "/tmp/isol8-job-XXXXXX.py";
	struct batch_job j;
	char line[128];
	int fd = mkstemps(path, 3);

	CHECK(fd >= 0 && write(fd, "print(1)\n", 9) == 9);
	close(fd);
	snprintf(
	    line, sizeof line, "{\"file\":\"%s\"}", strrchr(path, '/') + 1);
	CHECK(parse(line, &j) == 0);
	CHECK(j.code_len == 9 && strcmp(j.runtime, "python") == 0);
	batch_job_free(&j);
	unlink(path);
	CHECK(parse("{\"file\":\"no-such-file.py\"}", &j) == -1);
	CHECK(strstr(j.error, "line 7") && strstr(j.error, "no-such-file"));
	batch_job_free(&j);
	return 0;
}

static int
test_malformed(void)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "{\"code\":", "malformed JSON" },
		{ "[1,2]", "JSON object" },
		{ "{\"id\":true,\"code\":\"x\"}", "`id`" },
		{ "{\"id\":\"\",\"code\":\"x\"}", "`id`" },
		{ "{\"code\":\"x\",\"bogus\":1}", "unknown key `bogus`" },
		{ "{\"code\":\"x\",\"cmd\":\"y\"}", "exactly one" },
		{ "{\"runtime\":\"python\"}", "exactly one" },
		{ "{\"code\":1}", "`code`" },
		{ "{\"code\":\"x\",\"runtime\":\"cobol\"}", "unknown runtime" },
		{ "{\"code\":\"x\",\"timeout\":-5}", "`timeout`" },
		{ "{\"code\":\"x\",\"timeout\":\"5x\"}", "`timeout`" },
		{ "{\"code\":\"x\",\"memory\":\"lots\"}", "`memory`" },
		{ "{\"code\":\"x\",\"cpu\":0}", "`cpu`" },
		{ "{\"code\":\"x\",\"pids\":1.5}", "`pids`" },
		{ "{\"code\":\"x\",\"env\":[]}", "`env`" },
		{ "{\"code\":\"x\",\"env\":{\"A=B\":\"c\"}}", "`env.A=B`" },
		{ "{\"code\":\"x\",\"files\":[]}", "`files`" },
		{ "{\"code\":\"x\",\"files\":{\"a\":1}}", "`files.a`" },
		{ "{\"code\":\"x\",\"outputs\":\"a\"}", "`outputs`" },
		{ "{\"code\":\"x\",\"outputs\":[1]}", "`outputs`" },
		{ "{\"code\":\"x\",\"stdin\":5}", "`stdin`" },
		{ "{\"file\":\"\"}", "`file`" },
		/* Limits: the engine's table, as for flags and the config. */
		{ "{\"code\":\"x\",\"cpu\":0.001}",
		    "`cpu` must be at least 0.01 (Docker's minimum" },
		{ "{\"code\":\"x\",\"cpu\":\"nan\"}", "`cpu` wants" },
		{ "{\"code\":\"x\",\"cpu\":1e999}", "`cpu` must be at most" },
		{ "{\"code\":\"x\",\"cpu\":-0}", "`cpu` wants" },
		{ "{\"code\":\"x\",\"cpu\":100000}", "`cpu` must be at most" },
		{ "{\"code\":\"x\",\"memory\":\"5m\"}",
		    "`memory` must be at least 6m" },
		{ "{\"code\":\"x\",\"memory\":6291455}", "at least 6m" },
		{ "{\"code\":\"x\",\"memory\":\"99999999999g\"}",
		    "`memory` must be at most" },
		{ "{\"code\":\"x\",\"memory\":\"0x10m\"}", "`memory` wants" },
		{ "{\"code\":\"x\",\"memory\":\"12abc\"}", "`memory` wants" },
		{ "{\"code\":\"x\",\"memory\":\" 6m\"}", "`memory` wants" },
		{ "{\"code\":\"x\",\"memory\":\"\"}", "`memory` wants" },
		{ "{\"code\":\"x\",\"memory\":null}", "number or a string" },
		{ "{\"code\":\"x\",\"timeout\":0}",
		    "`timeout` must be at least" },
		{ "{\"code\":\"x\",\"timeout\":86400001}",
		    "`timeout` must be at most" },
		{ "{\"code\":\"x\",\"timeout\":1e30}", "at most" },
		{ "{\"code\":\"x\",\"pids\":1}", "`pids` must be at least 2" },
		{ "{\"code\":\"x\",\"pids\":4194305}",
		    "`pids` must be at most" },
		{ "{\"code\":\"x\",\"pids\":9223372036854775808}", "at most" },
	};
	struct batch_job j;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = parse(cases[i].text, &j);

		if (rc != -1 || j.error == NULL ||
		    strstr(j.error, cases[i].want) == NULL ||
		    strstr(j.error, "line 7") == NULL) {
			fprintf(stderr, "case %zu (%s): %s\n", i, cases[i].text,
			    j.error ? j.error : "(no error)");
			return 1;
		}
		CHECK(j.id != NULL); /* the error result still has an id */
		batch_job_free(&j);
	}
	return 0;
}

int
main(void)
{
	RUN_TEST(test_full_job);
	RUN_TEST(test_file_source);
	RUN_TEST(test_malformed);
	return TAP_DONE();
}
