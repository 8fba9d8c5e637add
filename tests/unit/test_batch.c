/* batch job parser: the full format, and every malformed case names the
 * key and the line. The job list reader (line numbers, overlong lines) and
 * the ordered emitter (its bound). --resume: which results are final, and
 * the repair of a results file (torn last line, error and duplicate
 * lines). */
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "cli/batch.h"
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
	const struct isol8_request *q = &j.api.req;

	CHECK(parse("{\"id\":\"a1\",\"runtime\":\"node\",\"code\":\"x\","
	            "\"stdin\":\"in\",\"timeout\":500,\"memory\":\"64m\","
	            "\"cpu\":0.5,\"pids\":8,\"env\":{\"A\":\"1\"},"
	            "\"files\":{\"d/f.txt\":\"hi\"},\"outputs\":[\"out.txt\"]}",
	          &j) == 0);
	CHECK(j.error == NULL && strcmp(j.id, "a1") == 0 && j.line == 7);
	CHECK(strcmp(q->runtime, "node") == 0 && strcmp(q->code, "x") == 0);
	CHECK(q->stdin_len == 2 && q->timeout_ms == 500);
	CHECK(q->memory == 64u << 20 && q->cpus == 0.5 && q->pids == 8);
	CHECK(q->env_len == 1 && strcmp(q->env[0].value, "1") == 0);
	CHECK(q->files_len == 1 && q->files[0].len == 2);
	CHECK(q->outputs_len == 1 && strcmp(q->outputs[0], "out.txt") == 0);
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
	CHECK(q->cpus == 0.01 && q->memory == 6u << 20 && q->pids == 2);
	CHECK(q->timeout_ms == 30000);
	batch_job_free(&j);
	CHECK(parse("{\"code\":\"x\",\"pids\":4194304,\"timeout\":86400000,"
	            "\"memory\":\"1024t\",\"cpu\":\"1\"}",
	          &j) == 0);
	CHECK(q->pids == 4194304 && q->timeout_ms == 86400000 && q->cpus == 1);
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
	CHECK(j.api.req.code_len == 9);
	CHECK(strcmp(j.api.req.runtime, "python") == 0);
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
		{ "{\"code\":\"\"}", "the code is empty" },
		{ "{\"code\":\"x\",\"env\":{},\"env\":{}}",
		    "`env` is given twice" },
		/* It used to write past the second array (heap overflow). */
		{ "{\"code\":\"x\",\"files\":{\"a\":\"1\"},"
		  "\"files\":{\"b\":\"2\",\"c\":\"3\"}}",
		    "`files` is given twice" },
		{ "{\"code\":\"x\",\"outputs\":[\"a\"],\"outputs\":[\"b\","
		  "\"c\"]}",
		    "`outputs` is given twice" },
		{ "{\"code\":\"x\",\"runtime\":\"bash\",\"runtime\":\"node\"}",
		    "`runtime` is given twice" },
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

/* A job list in a file; its descriptor, read from the start. */
static int
jobs_file(const char *text, size_t len)
{
	char path[] = "/tmp/isol8-jobs-XXXXXX";
	int fd = mkstemp(path);

	if (fd == -1 || write(fd, text, len) != (ssize_t)len)
		return -1;
	unlink(path);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/*
 * Lines come out with their numbers, blank ones too; a line over
 * BATCH_MAX_LINE is skipped to its newline and comes out as LONG (its
 * number counts); the last line needs no newline, an overlong one neither.
 */
static int
test_reader_lines(void)
{
	size_t big = BATCH_MAX_LINE + 100, n;
	struct batch_reader r;
	char *text = xmalloc(2 * big + 64);
	const char *line;
	int fd;

	n = (size_t)sprintf(text, "a\n\n");
	memset(text + n, 'x', big);
	n += big;
	n += (size_t)sprintf(text + n, "\nb\n");
	memset(text + n, 'y', big);
	n += big;
	CHECK((fd = jobs_file(text, n)) >= 0);
	batch_reader_init(&r, fd);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LINE);
	CHECK(n == 1 && line[0] == 'a' && r.lineno == 1);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LINE);
	CHECK(n == 0 && r.lineno == 2);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LONG);
	CHECK(r.lineno == 3);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LINE);
	CHECK(n == 1 && line[0] == 'b' && r.lineno == 4);
	CHECK(!batch_reader_done(&r));
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LONG);
	CHECK(r.lineno == 5);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_END);
	CHECK(batch_reader_done(&r) && r.in.len < (1u << 20));
	batch_reader_free(&r);
	close(fd);
	/* A last line without its newline. */
	CHECK((fd = jobs_file("{}\nlast", 7)) >= 0);
	batch_reader_init(&r, fd);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LINE && n == 2);
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_LINE);
	CHECK(n == 4 && memcmp(line, "last", 4) == 0 && r.lineno == 2);
	CHECK(batch_reader_done(&r));
	CHECK(batch_reader_next(&r, &line, &n) == BATCH_NEXT_END);
	batch_reader_free(&r);
	close(fd);
	free(text);
	return 0;
}

/* --order input: results come out in line order, NULLs pass their turn. */
static int
test_emit_order(void)
{
	static struct batch_emit em; /* 16 KB: not on the stack */
	struct cli_out out;
	char buf[64];
	FILE *f = tmpfile();
	size_t n;

	memset(&em, 0, sizeof em);
	cli_out_init(&out, f, "results");
	em.out = &out;
	em.ordered = 1;
	CHECK(batch_emit(&em, 2, xstrdup("2\n")) == 0 && em.nheld == 1);
	CHECK(batch_emit(&em, 1, NULL) == 0 && em.nheld == 2);
	CHECK(batch_emit(&em, 0, xstrdup("0\n")) == 0 && em.nheld == 0);
	CHECK(batch_emit(&em, 3, xstrdup("3\n")) == 0 && em.next == 4);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	CHECK(strcmp(buf, "0\n2\n3\n") == 0);
	fclose(f);
	return 0;
}

/*
 * The scheduler's bound with --order input: the first job is slow, the
 * others end at once, four run at a time. Results held while the first
 * runs must fit in BATCH_ORDER_MAX: batch_emit_room() counts the jobs in
 * flight, each of which may end up held. Counting only the held results
 * (as before) let three more in after 1023 held, past the array's end.
 */
static int
test_emit_bound(void)
{
	static struct batch_emit em;
	uint64_t running[4], seq = 0;
	unsigned conc = 4, inflight = 0, i;
	struct cli_out out;
	FILE *f = fopen("/dev/null", "w");
	int maxheld = 0;

	memset(&em, 0, sizeof em);
	cli_out_init(&out, f, "/dev/null");
	em.out = &out;
	em.ordered = 1;
	for (;;) {
		/* batch_pump: take lines while there is room. */
		while (inflight < conc && seq < 5000 &&
		    batch_emit_room(&em, inflight))
			running[inflight++] = seq++;
		/* Every job but line 0 ends. */
		for (i = 0; i < inflight && running[i] == 0; i++)
			;
		if (i == inflight)
			break;
		CHECK(batch_emit(&em, running[i], xstrdup("r\n")) == 0);
		running[i] = running[--inflight];
		if (em.nheld > maxheld)
			maxheld = em.nheld;
		CHECK(em.nheld <= BATCH_ORDER_MAX);
	}
	CHECK(maxheld == BATCH_ORDER_MAX - 1 && seq == BATCH_ORDER_MAX);
	/* Line 0 ends: everything held goes out, in order. */
	CHECK(batch_emit(&em, 0, xstrdup("0\n")) == 0);
	CHECK(em.nheld == 0 && em.next == seq);
	fclose(f);
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

/*
 * A line nested deeper than JSON_MAX_DEPTH is not a result, even with an
 * id and a null error: the scan stops there instead of letting yajl keep a
 * byte per level (a line of `[` as long as the file grew memory with it).
 */
static int
test_resume_deep_line(void)
{
	struct batch_ids done = { 0 };
	struct batch_resume st;
	struct err *e = NULL;
	struct buf b = { 0 };
	char path[64], *text;
	int i;

	buf_addstr(&b, "{\"id\":\"deep\",\"line\":1,\"error\":null,\"x\":");
	for (i = 0; i < 100; i++)
		buf_addstr(&b, "[");
	for (i = 0; i < 100; i++)
		buf_addstr(&b, "]");
	buf_addstr(&b, "}\n" R("a"));
	CHECK(results_file(path, buf_cstr(&b)) == 0);
	CHECK(batch_resume_load(path, 1, &done, &st, &e) == 0);
	CHECK(st.results == 1 && st.dropped == 1 && !st.torn);
	CHECK(has(&done, "a") && !has(&done, "deep"));
	text = slurp(path);
	CHECK(text != NULL && strcmp(text, R("a")) == 0);
	free(text);
	batch_ids_free(&done);
	buf_free(&b);
	unlink(path);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_full_job);
	RUN_TEST(test_file_source);
	RUN_TEST(test_malformed);
	RUN_TEST(test_reader_lines);
	RUN_TEST(test_emit_order);
	RUN_TEST(test_emit_bound);
	RUN_TEST(test_resume_torn_line);
	RUN_TEST(test_resume_repair_one_line_per_job);
	RUN_TEST(test_resume_long_line);
	RUN_TEST(test_resume_deep_line);
	return TAP_DONE();
}
