/* batch job parser: the full format, and every malformed case names the
 * key and the line. --resume: which results are final, and the repair of a
 * results file (torn last line, error and duplicate lines). */
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/cli.h"
#include "util/util.h"

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

#define R(id) "{\"id\":\"" id "\",\"line\":1,\"exitCode\":0,\"error\":null}\n"
#define E(id) "{\"id\":\"" id "\",\"line\":1,\"error\":\"boom\"}\n"

/* A results file with `text`; its path in path[]. */
static int
results_file(char *path, const char *text)
{
	int fd;

	strcpy(path, "/tmp/isol8-res-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	return close(fd);
}

static char *
slurp(const char *path)
{
	struct buf b = { 0 };
	struct err *e = NULL;

	if (read_file(path, 1 << 20, &b, &e) == -1) {
		err_free(&e);
		return NULL;
	}
	return b.data ? b.data : xstrdup("");
}

static int
has(const struct batch_ids *s, const char *id)
{
	return batch_ids_has(s, batch_id_hash(id, strlen(id)));
}

/*
 * The writer was killed mid-line: that line is not a result, even when it
 * parses (it lacks only its newline), and the repair cuts it off so that
 * the next result starts on a line of its own.
 */
static int
test_resume_torn_line(void)
{
	static const char *const tails[] = {
		"{\"id\":\"c\",\"line\":3,\"exitCo",
		"{\"id\":\"c\",\"line\":1,\"error\":null}",
	};
	struct batch_ids done;
	struct batch_resume st;
	struct err *e = NULL;
	char path[64], *text;
	size_t i;

	for (i = 0; i < nitems(tails); i++) {
		memset(&done, 0, sizeof done);
		text = xasprintf(R("a") R("b") "%s", tails[i]);
		CHECK(results_file(path, text) == 0);
		/* Read only: nothing changes. */
		CHECK(batch_resume_load(path, 0, &done, &st, &e) == 0);
		CHECK(st.results == 2 && st.torn && st.dropped == 0);
		CHECK(has(&done, "a") && has(&done, "b") && !has(&done, "c"));
		free(slurp(path));
		batch_ids_free(&done);
		/* Repair: cut after the last newline. */
		CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
		CHECK(st.torn && !has(&done, "c"));
		free(text);
		text = slurp(path);
		CHECK(text != NULL && strcmp(text, R("a") R("b")) == 0);
		free(text);
		batch_ids_free(&done);
		unlink(path);
	}
	return 0;
}

/*
 * Error lines, a second final line of an id and garbage go; the first
 * final result of each id stays, in order; the file keeps its mode.
 */
static int
test_resume_repair_one_line_per_job(void)
{
	struct batch_ids done = { 0 };
	struct batch_resume st;
	struct err *e = NULL;
	struct stat sb;
	char path[64], *text;

	CHECK(results_file(path,
	          E("a") R("b") "not json\n" R("a") E("c")
	              R("b") "[1]\n"
	                     "{\"id\":\"x\"}\n" R("d") "{\"id\":\"e\",\"lin") ==
	    0);
	CHECK(chmod(path, 0640) == 0);
	CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
	CHECK(st.results == 3 && st.torn && st.dropped == 6);
	CHECK(has(&done, "a") && has(&done, "b") && has(&done, "d"));
	CHECK(!has(&done, "c") && !has(&done, "x") && !has(&done, "e"));
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, R("b") R("a") R("d")) == 0);
	free(text);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
	batch_ids_free(&done);
	/* Clean now: a second repair changes nothing. */
	CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
	CHECK(st.results == 3 && !st.torn && st.dropped == 0);
	batch_ids_free(&done);
	unlink(path);
	/* No file yet: nothing done, no error. */
	CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
	CHECK(done.n == 0 && st.results == 0);
	return 0;
}

/*
 * A result line longer than a job line (a big stdout, base64 outputs) is
 * as final as any: it used to be skipped (over 8 MiB), so its job ran
 * again and had two lines. Ids are compared decoded.
 */
static int
test_resume_long_line(void)
{
	struct batch_ids done = { 0 };
	struct batch_resume st;
	struct err *e = NULL;
	size_t n = BATCH_MAX_LINE + (1u << 20);
	char path[64], *text = xmalloc(n + 128);
	int off;

	off = snprintf(
	    text, 128, "{\"id\":\"big\\u00e9\\\"q\",\"line\":1,\"stdout\":\"");
	memset(text + off, 'x', n);
	strcpy(text + off + n, "\",\"error\":null}\n");
	CHECK(results_file(path, text) == 0);
	CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
	CHECK(st.results == 1 && st.dropped == 0 && !st.torn);
	CHECK(has(&done, "big\xc3\xa9\"q"));
	batch_ids_free(&done);
	free(text);
	unlink(path);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_full_job);
	RUN_TEST(test_file_source);
	RUN_TEST(test_malformed);
	RUN_TEST(test_resume_torn_line);
	RUN_TEST(test_resume_repair_one_line_per_job);
	RUN_TEST(test_resume_long_line);
	return TAP_DONE();
}
