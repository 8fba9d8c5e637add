/*
 * isol8 batch: run a job list (JSON Lines, docs/batch.md) at bounded
 * concurrency on one engine, writing one JSON result per job as it ends.
 *
 * Invariants:
 * - the input is streamed: at most `concurrency` jobs are parsed and in
 *   flight, lines are capped at BATCH_MAX_LINE, and with --order input at
 *   most ORDER_MAX results wait for an earlier one (reading pauses meanwhile);
 * - every line gets exactly one result line (or none when --resume finds
 *   it done): a malformed line, an unknown runtime, a missing file or a
 *   duplicate id is that line's error result, never the batch's end; a job
 *   whose sandbox was lost mid-run (ISOL8_ELOST: dockerd restarted, its
 *   container was killed) runs once more and its one line says "retried";
 * - dockerd going away pauses the batch (the engine holds jobs that have
 *   not started, for --docker-wait) instead of failing what is left;
 * - results are flushed as they are written, so a crash loses at most the
 *   jobs in flight (and may leave a torn last line, which --resume cuts:
 *   batch_resume.c); Ctrl-C cancels those (results say so), removes their
 *   containers and exits 130;
 * - a results file that cannot be written stops the batch: running jobs
 *   are cancelled, the failure is said once, and the status is 125 (141
 *   for a reader that went away).
 * Memory per job seen is 8 bytes (a hash of its id, for duplicates); the
 * latency percentiles come from a fixed histogram.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "../util/util.h"

#define READ_CHUNK (64u << 10)
#define ORDER_MAX 1024

struct item {
	struct batch *b;
	struct batch_job job;
	uint64_t seq;
	struct buf out;
	struct buf err;
	struct isol8_run *run;
	int retried; /* its sandbox was lost once: this is its second run */
	TAILQ_ENTRY(item) entry;
};

struct held {
	uint64_t seq;
	char *text; /* NULL: nothing to write (a resumed line) */
};

struct batch {
	struct event_base *base;
	struct isol8_engine *e;
	struct cli_config cfg;
	struct isol8_request defaults;
	const char *runtime;
	struct isol8_kv *env;
	size_t env_len;
	int reuse;
	uint64_t docker_wait_ms;
	unsigned conc;
	int fail_fast;
	int order_input;
	int quiet;
	int summary;
	int json_summary;
	/* input */
	int in_fd;
	int in_regular;
	int in_eof;
	char *dir;
	struct buf in;
	long lineno;
	int overlong;
	struct event *in_ev;
	struct event *retry_ev;
	struct event *sigint;
	struct event *sigterm;
	/* scheduling */
	TAILQ_HEAD(, item) items;
	unsigned inflight;
	int stopping;
	int interrupted;
	int unavailable;
	struct batch_ids ids;
	struct batch_ids resume;
	/* output */
	struct cli_out *out; /* &cli_stdout, or &file */
	struct cli_out file;
	uint64_t next_seq;
	uint64_t next_emit;
	struct held held[ORDER_MAX];
	int nheld;
	/* statistics */
	uint64_t total_lines;
	uint64_t done;
	uint64_t ran;
	uint64_t nonzero;
	uint64_t timeouts;
	uint64_t ooms;
	uint64_t truncs;
	uint64_t errors;
	uint64_t skipped;
	uint64_t retried;
	struct hist hist; /* job latencies */
	uint64_t t0;
	struct event *progress_ev;
	int tty;
};

static void batch_pump(struct batch *);
static void job_start(struct batch *, struct item *);

/* A latency percentile of the jobs so far (0 before the first). */
static double
batch_pct(const struct batch *b, double p)
{
	return b->hist.n > 0 ? hist_pct(&b->hist, p) : 0;
}

/* ---- results ---- */

/* Stop taking jobs and cancel the running ones (their results follow). */
static void
batch_stop(struct batch *b)
{
	struct item *it;

	if (b->stopping)
		return;
	b->stopping = 1;
	TAILQ_FOREACH (it, &b->items, entry)
		isol8_run_cancel(it->run);
}

/* A result line; results that cannot be written stop the batch. */
static void
write_text(struct batch *b, const char *text)
{
	if (cli_out_write(b->out, text, strlen(text)) == -1)
		batch_stop(b); /* said once, by cli_out */
}

/* Emit a line's result (text NULL: no result) in the chosen order. */
static void
emit(struct batch *b, uint64_t seq, char *text)
{
	int i, found;

	if (!b->order_input) {
		if (text != NULL)
			write_text(b, text);
		free(text);
		return;
	}
	b->held[b->nheld].seq = seq;
	b->held[b->nheld++].text = text;
	do {
		found = 0;
		for (i = 0; i < b->nheld; i++) {
			if (b->held[i].seq != b->next_emit)
				continue;
			if (b->held[i].text != NULL)
				write_text(b, b->held[i].text);
			free(b->held[i].text);
			b->held[i] = b->held[--b->nheld];
			b->next_emit++;
			found = 1;
			break;
		}
	} while (found);
}

static void
json_field(struct buf *o, const char *key, const char *val, size_t len)
{
	buf_printf(o, ",\"%s\":\"", key);
	json_escape(o, val, len);
	buf_addstr(o, "\"");
}

/*
 * A job that could not run, or not to its end: "retried" when this was its
 * second run, "mayHaveRun" when the failure came after its code reached
 * the sandbox (lost, cancelled).
 */
static char *
error_result(
    const char *id, long line, const char *msg, int retried, int may_have_run)
{
	struct buf o = { 0 };

	buf_addstr(&o, "{\"id\":\"");
	json_escape(&o, id, strlen(id));
	buf_printf(&o, "\",\"line\":%ld", line);
	if (retried)
		buf_addstr(&o, ",\"retried\":true");
	if (may_have_run)
		buf_addstr(&o, ",\"mayHaveRun\":true");
	json_field(&o, "error", msg, strlen(msg));
	buf_addstr(&o, "}\n");
	return o.data;
}

static char *
run_result(struct item *it, const struct isol8_result *r)
{
	struct buf o = { 0 };
	size_t i;

	buf_addstr(&o, "{\"id\":\"");
	json_escape(&o, it->job.id, strlen(it->job.id));
	buf_printf(&o, "\",\"line\":%ld,\"exitCode\":%d,\"signal\":%d",
	    it->job.line, r->exit_code, r->signal);
	json_field(&o, "stdout", it->out.data ? it->out.data : "", it->out.len);
	json_field(&o, "stderr", it->err.data ? it->err.data : "", it->err.len);
	buf_printf(&o,
	    ",\"timedOut\":%s,\"oomKilled\":%s,\"truncated\":%s,"
	    "\"durations\":{\"queuedMs\":%llu,\"runMs\":%llu,\"totalMs\":%llu},"
	    "\"resources\":{\"cpuMs\":%llu,\"peakRssKb\":%llu}",
	    r->timed_out ? "true" : "false", r->oom_killed ? "true" : "false",
	    r->truncated ? "true" : "false", (unsigned long long)r->queued_ms,
	    (unsigned long long)r->run_ms, (unsigned long long)r->total_ms,
	    (unsigned long long)r->cpu_ms, (unsigned long long)r->peak_rss_kb);
	if (r->container_id != NULL)
		json_field(&o, "containerId", r->container_id,
		    strlen(r->container_id));
	if (r->outputs_len > 0) {
		buf_addstr(&o, ",\"outputs\":{");
		for (i = 0; i < r->outputs_len; i++) {
			const struct isol8_output_file *f = &r->outputs[i];

			buf_printf(&o, "%s\"", i ? "," : "");
			json_escape(
			    &o, it->job.outputs[i], strlen(it->job.outputs[i]));
			if (f->error != NULL) {
				buf_addstr(&o, "\":{\"error\":\"");
				json_escape(&o, f->error, strlen(f->error));
				buf_addstr(&o, "\"}");
			} else {
				buf_addstr(&o, "\":{\"base64\":\"");
				base64_encode(&o, f->data, f->len);
				buf_addstr(&o, "\"}");
			}
		}
		buf_addstr(&o, "}");
	}
	/* Its first run lost its sandbox and may have run in part. */
	if (it->retried)
		buf_addstr(&o, ",\"retried\":true");
	buf_addstr(&o, ",\"error\":null}\n");
	return o.data;
}

/* ---- running jobs ---- */

static void
item_out(const char *d, size_t n, void *arg)
{
	buf_add(&((struct item *)arg)->out, d, n);
}

static void
item_err(const char *d, size_t n, void *arg)
{
	buf_add(&((struct item *)arg)->err, d, n);
}

static void
item_free(struct item *it)
{
	batch_job_free(&it->job);
	buf_free(&it->out);
	buf_free(&it->err);
	free(it);
}

/*
 * A job whose sandbox went away mid-run (dockerd restarted, its container
 * was killed) runs once more, from scratch: what it printed is dropped,
 * and its one result line will say "retried". 1 when restarted.
 */
static int
item_retry(struct batch *b, struct item *it, const struct isol8_error *e)
{
	if (e->code != ISOL8_ELOST || it->retried || b->stopping)
		return 0;
	it->retried = 1;
	b->retried++;
	buf_free(&it->out);
	buf_free(&it->err);
	job_start(b, it);
	return 1;
}

static void
item_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct item *it = arg;
	struct batch *b = it->b;
	char msg[600];

	TAILQ_REMOVE(&b->items, it, entry);
	b->inflight--;
	if (e != NULL && item_retry(b, it, e)) {
		batch_pump(b);
		return;
	}
	b->done++;
	if (e != NULL) {
		b->errors++;
		snprintf(msg, sizeof msg, "line %ld: %s", it->job.line,
		    e->code == ISOL8_ECANCELLED && b->interrupted
		        ? "cancelled: the batch was interrupted"
		        : e->message);
		emit(b, it->seq,
		    error_result(it->job.id, it->job.line, msg, it->retried,
		        r != NULL && r->may_have_run));
		if (e->code == ISOL8_EUNAVAILABLE ||
		    e->code == ISOL8_ENOIMAGE) {
			/* Every other job would fail the same way. */
			if (!b->unavailable)
				cli_exit_for(e);
			b->unavailable = e->code == ISOL8_EUNAVAILABLE
			    ? EXIT_NODOCKER
			    : EXIT_NOIMAGE;
			batch_stop(b);
		}
		if (b->fail_fast)
			batch_stop(b);
	} else {
		b->ran++;
		hist_add(&b->hist, (double)r->total_ms);
		if (r->timed_out)
			b->timeouts++;
		else if (r->oom_killed)
			b->ooms++;
		else if (r->truncated)
			b->truncs++;
		else if (r->exit_code != 0)
			b->nonzero++;
		if (b->fail_fast && (r->exit_code != 0 || r->timed_out))
			batch_stop(b);
		emit(b, it->seq, run_result(it, r));
	}
	item_free(it);
	batch_pump(b);
}

static void
job_start(struct batch *b, struct item *it)
{
	static const struct isol8_callbacks cbs = { item_out, item_err,
		item_done };
	struct isol8_request req = b->defaults;
	struct isol8_kv *env = NULL;
	struct isol8_error err;
	const char **outputs = NULL;
	size_t i;

	req.runtime = it->job.runtime ? it->job.runtime : b->runtime;
	req.code = it->job.code;
	req.code_len = it->job.code_len;
	req.cmd = it->job.cmd;
	if (req.code != NULL && req.code_len == 0) {
		emit(b, it->seq,
		    error_result(
		        it->job.id, it->job.line, "the code is empty", 0, 0));
		b->errors++;
		b->done++;
		item_free(it);
		return;
	}
	if (it->job.stdin_data != NULL) {
		req.stdin_data = it->job.stdin_data;
		req.stdin_len = it->job.stdin_len;
	}
	if (it->job.timeout_ms)
		req.timeout_ms = it->job.timeout_ms;
	if (it->job.memory)
		req.memory = it->job.memory;
	if (it->job.cpus > 0)
		req.cpus = it->job.cpus;
	if (it->job.pids)
		req.pids = it->job.pids;
	/* The batch's env first, the job's after (later wins). */
	if (b->env_len + it->job.env_len > 0) {
		env = xcalloc(b->env_len + it->job.env_len, sizeof *env);
		memcpy(env, b->env, b->env_len * sizeof *env);
		memcpy(env + b->env_len, it->job.env,
		    it->job.env_len * sizeof *env);
	}
	req.env = env;
	req.env_len = b->env_len + it->job.env_len;
	req.files = it->job.files;
	req.files_len = it->job.files_len;
	if (it->job.outputs_len > 0) {
		outputs = xcalloc(it->job.outputs_len, sizeof *outputs);
		for (i = 0; i < it->job.outputs_len; i++)
			outputs[i] = it->job.outputs[i];
	}
	req.outputs = outputs;
	req.outputs_len = it->job.outputs_len;
	it->run = isol8_run_start(b->e, &req, &cbs, it, &err);
	free(env);
	free(outputs);
	if (it->run == NULL) {
		char msg[600];

		snprintf(
		    msg, sizeof msg, "line %ld: %s", it->job.line, err.message);
		/* A retry's first run may have run. */
		emit(b, it->seq,
		    error_result(it->job.id, it->job.line, msg, it->retried,
		        it->retried));
		b->errors++;
		b->done++;
		item_free(it);
		return;
	}
	TAILQ_INSERT_TAIL(&b->items, it, entry);
	b->inflight++;
}

/* A complete line: parse it, then start it, skip it, or report it. */
static void
take_line(struct batch *b, const char *line, size_t len)
{
	struct item *it;
	uint64_t h;
	char msg[600];

	b->lineno++;
	while (len > 0 &&
	    (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	        line[len - 1] == '\t'))
		len--;
	if (len == 0 && !b->overlong)
		return; /* blank lines are not jobs */
	it = xcalloc(1, sizeof *it);
	it->b = b;
	it->seq = b->next_seq++;
	if (b->overlong) {
		b->overlong = 0;
		it->job.id = xasprintf("%ld", b->lineno);
		it->job.line = b->lineno;
		snprintf(msg, sizeof msg, "line %ld: longer than %u bytes",
		    b->lineno, BATCH_MAX_LINE);
		it->job.error = xstrdup(msg);
	} else
		batch_job_parse(line, len, b->lineno, b->dir, &it->job);
	h = batch_id_hash(it->job.id, strlen(it->job.id));
	/* Duplicates first: a second line with a done job's id is still one
	 * (its error line was dropped by the resume's repair). */
	if (!batch_ids_add(&b->ids, h) && it->job.error == NULL) {
		snprintf(msg, sizeof msg, "line %ld: duplicate id `%s`",
		    b->lineno, it->job.id);
		it->job.error = xstrdup(msg);
	}
	if (it->job.error == NULL && batch_ids_has(&b->resume, h)) {
		b->skipped++;
		emit(b, it->seq, NULL);
		item_free(it);
		return;
	}
	if (it->job.error != NULL) {
		emit(b, it->seq,
		    error_result(
		        it->job.id, it->job.line, it->job.error, 0, 0));
		b->errors++;
		b->done++;
		item_free(it);
		return;
	}
	job_start(b, it);
}

/* Read more input; 0 when something was read or EOF, -1 to wait. */
static int
read_more(struct batch *b)
{
	char chunk[READ_CHUNK];
	ssize_t n;

	n = read(b->in_fd, chunk, sizeof chunk);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		if (n == -1)
			cli_error("reading jobs: %s", strerror(errno));
		b->in_eof = 1;
		return 0;
	}
	if (b->overlong) {
		/* Skipping the rest of an overlong line. */
		char *nl = memchr(chunk, '\n', (size_t)n);

		if (nl == NULL)
			return 0;
		take_line(b, "", 0);
		buf_add(&b->in, nl + 1, (size_t)(chunk + n - nl - 1));
		return 0;
	}
	buf_add(&b->in, chunk, (size_t)n);
	return 0;
}

/* Nothing runs and nothing more will: all read, or stopping. */
static int
batch_over(struct batch *b)
{
	return b->inflight == 0 &&
	    (b->stopping || (b->in_eof && b->in.len == 0 && !b->overlong));
}

/* Start jobs while there is room; called after every event. */
static void
batch_pump(struct batch *b)
{
	char *nl;
	size_t len;

	while (
	    !b->stopping && b->inflight < b->conc && b->nheld < ORDER_MAX - 1) {
		nl = memchr(b->in.data ? b->in.data : "", '\n', b->in.len);
		if (nl != NULL) {
			len = (size_t)(nl - b->in.data);
			take_line(b, b->in.data, len);
			buf_drain(&b->in, len + 1);
			continue;
		}
		if (b->in.len > BATCH_MAX_LINE) {
			b->overlong = 1;
			buf_drain(&b->in, b->in.len);
		}
		if (b->in_eof) {
			if (b->in.len > 0) {
				char *rest = xstrndup(b->in.data, b->in.len);

				buf_drain(&b->in, b->in.len);
				take_line(b, rest, strlen(rest));
				free(rest);
			} else if (b->overlong)
				take_line(b, "", 0);
			break;
		}
		if (read_more(b) == -1) {
			event_add(b->in_ev, NULL);
			return;
		}
	}
	if (batch_over(b))
		event_base_loopbreak(b->base);
}

static void
input_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_pump(arg);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct batch *b = arg;

	(void)what;
	b->interrupted = (int)sig;
	batch_stop(b);
	batch_pump(b);
}

/* ---- progress and summary ---- */

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct batch *b = arg;
	double secs = (double)(now_ms() - b->t0) / 1000.0;
	double rate = secs > 0 ? (double)b->done / secs : 0;
	uint64_t total =
	    b->total_lines > b->skipped ? b->total_lines - b->skipped : 0;
	char bar[31];
	int i, fill;

	(void)fd;
	(void)what;
	if (total > 0) {
		fill = (int)(30.0 * (double)b->done / (double)total);
		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %llu/%llu  %.1f jobs/s  ETA %.0fs   ",
		    bar, (unsigned long long)b->done, (unsigned long long)total,
		    rate, rate > 0 ? (double)(total - b->done) / rate : 0);
	} else
		fprintf(stderr, "\r%llu done  %.1f jobs/s   ",
		    (unsigned long long)b->done, rate);
	fflush(stderr);
}

static void
print_summary(struct batch *b)
{
	double secs = (double)(now_ms() - b->t0) / 1000.0;
	double rate = secs > 0 ? (double)b->done / secs : 0;

	if (b->json_summary)
		fprintf(stderr,
		    "{\"jobs\":%llu,\"ran\":%llu,\"exitNonZero\":%llu,"
		    "\"timedOut\":%llu,\"oomKilled\":%llu,\"truncated\":%llu,"
		    "\"errors\":%llu,\"retried\":%llu,\"skipped\":%llu,"
		    "\"seconds\":%.2f,"
		    "\"jobsPerSecond\":%.2f,\"latencyMs\":{\"p50\":%.1f,"
		    "\"p90\":%.1f,\"p99\":%.1f}}\n",
		    (unsigned long long)b->done, (unsigned long long)b->ran,
		    (unsigned long long)b->nonzero,
		    (unsigned long long)b->timeouts,
		    (unsigned long long)b->ooms, (unsigned long long)b->truncs,
		    (unsigned long long)b->errors,
		    (unsigned long long)b->retried,
		    (unsigned long long)b->skipped, secs, rate,
		    batch_pct(b, 50), batch_pct(b, 90), batch_pct(b, 99));
	else
		fprintf(stderr,
		    "%llu jobs in %.1f s (%.1f jobs/s): %llu ran "
		    "(%llu non-zero exit, %llu timed out, %llu memory limit, "
		    "%llu truncated), %llu errors, %llu retried (sandbox "
		    "lost), %llu skipped (resume); "
		    "latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
		    (unsigned long long)b->done, secs, rate,
		    (unsigned long long)b->ran, (unsigned long long)b->nonzero,
		    (unsigned long long)b->timeouts,
		    (unsigned long long)b->ooms, (unsigned long long)b->truncs,
		    (unsigned long long)b->errors,
		    (unsigned long long)b->retried,
		    (unsigned long long)b->skipped, batch_pct(b, 50),
		    batch_pct(b, 90), batch_pct(b, 99));
}

/*
 * --resume FILE: jobs with a final result there are skipped. When the
 * batch appends to that same file, it is repaired first (batch_resume.c):
 * a torn last line is cut and lines without a final result go -- their
 * jobs run again -- so that the file ends with one line per job.
 */
static int
load_resume(struct batch *b, const char *path, int same)
{
	struct batch_resume rs;
	struct err *e = NULL;

	if (batch_resume_load(path, same, &b->resume, &rs, &e) == -1) {
		cli_error("--resume: cannot %s `%s`: %s",
		    same ? "repair" : "read", path, e->msg);
		err_free(&e);
		return -1;
	}
	if (same && !b->quiet && rs.torn)
		cli_error("--resume: `%s` ended with a torn line (its writer "
		          "was killed): cut, that job runs again",
		    path);
	if (same && !b->quiet && rs.dropped > 0)
		cli_error("--resume: removed %llu line(s) without a final "
		          "result from `%s`: those jobs run again",
		    (unsigned long long)rs.dropped, path);
	return 0;
}

static uint64_t
count_lines(int fd)
{
	char chunk[READ_CHUNK];
	uint64_t n = 0;
	ssize_t k, i;

	while ((k = read(fd, chunk, sizeof chunk)) > 0)
		for (i = 0; i < k; i++)
			n += chunk[i] == '\n';
	lseek(fd, 0, SEEK_SET);
	return n;
}

/* ---- the command ---- */

static void
batch_usage(FILE *f)
{
	fprintf(f,
	    "usage: isol8 batch [options] JOBS\n\n"
	    "Run a job list: JSON Lines (a file, or - for stdin), one job a "
	    "line:\n"
	    "  {\"id\": \"a1\", \"runtime\": \"python\", \"code\": \"...\"}\n"
	    "with exactly one of code/file/cmd and optional stdin, timeout, "
	    "memory,\ncpu, pids, env, files, outputs (docs/batch.md). One "
	    "JSON result per job.\n\n"
	    "  -c, --concurrency N    jobs in flight (default 4 x cores)\n"
	    "  -o, --output FILE      results to FILE (default stdout)\n"
	    "      --order MODE       completion (default) or input\n"
	    "      --resume FILE      skip jobs with a final result in FILE "
	    "(an earlier\n"
	    "                         --output); the same FILE is repaired "
	    "and appended to\n"
	    "      --docker-wait MS   dockerd went away: wait this long for "
	    "it (60000;\n"
	    "                         0: stop at once)\n"
	    "      --fail-fast        stop at the first failed job\n"
	    "      --reuse            scrub and reuse containers (faster; "
	    "same limits only)\n"
	    "      --summary          totals and latency on stderr at the "
	    "end\n"
	    "      --json-summary     the same, as JSON\n"
	    "  -q, --quiet            no progress bar\n"
	    "  defaults for every job: -r/--runtime, --timeout, --memory, "
	    "--cpu, --pids,\n"
	    "  --sandbox-size, --tmp-size, --net, --max-output, --env K=V, "
	    "--image\n\n"
	    "exit status: 0 every job ran (whatever its exit code), 1 some "
	    "job could\nnot run (or --fail-fast stopped), 130 interrupted, "
	    "2 usage, 3 Docker\nunavailable, 4 images missing, 125 results "
	    "could not be written (141:\nthe reader of stdout went away).\n");
}

/* Where the jobs come from and where results go. */
struct batch_paths {
	const char *jobs;
	const char *out;
	const char *resume;
};

/* The flags; 0 to go on, else the exit status (2, or 0 for --help). */
static int
batch_args(struct batch *b, int argc, char **argv, struct batch_paths *p)
{
	enum {
		O_ENV = 256,
		O_ORDER,
		O_RESUME,
		O_FAILFAST,
		O_REUSE,
		O_SUMMARY,
		O_JSUMMARY,
		O_DOCKER_WAIT
	};
	static const struct option opts[] = {
		{ "concurrency", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "order", required_argument, NULL, O_ORDER },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "docker-wait", required_argument, NULL, O_DOCKER_WAIT },
		{ "fail-fast", no_argument, NULL, O_FAILFAST },
		{ "reuse", no_argument, NULL, O_REUSE },
		{ "summary", no_argument, NULL, O_SUMMARY },
		{ "json-summary", no_argument, NULL, O_JSUMMARY },
		{ "quiet", no_argument, NULL, 'q' },
		{ "runtime", required_argument, NULL, 'r' },
		{ "env", required_argument, NULL, O_ENV },
		CLI_LIMIT_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t u;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:o:qr:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (cli_uint("--concurrency", optarg, 1024, &u) == -1)
				return EXIT_USAGE;
			b->conc = (unsigned)u;
			break;
		case 'o':
			p->out = optarg;
			break;
		case O_ORDER:
			if (strcmp(optarg, "input") == 0)
				b->order_input = 1;
			else if (strcmp(optarg, "completion") != 0) {
				cli_error("--order wants input or completion, "
				          "got `%s`",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case O_RESUME:
			p->resume = optarg;
			break;
		case O_DOCKER_WAIT:
			/* 0 is allowed: do not wait. */
			if (parse_uint(optarg, BATCH_DOCKER_WAIT_MAX, &u) ==
			    -1) {
				cli_error("--docker-wait wants milliseconds "
				          "from 0 to %llu, got `%s`",
				    (unsigned long long)BATCH_DOCKER_WAIT_MAX,
				    optarg);
				return EXIT_USAGE;
			}
			b->docker_wait_ms = u;
			break;
		case O_FAILFAST:
			b->fail_fast = 1;
			break;
		case O_REUSE:
			b->reuse = 1;
			break;
		case O_SUMMARY:
			b->summary = 1;
			break;
		case O_JSUMMARY:
			b->json_summary = 1;
			break;
		case 'q':
			b->quiet = 1;
			break;
		case 'r':
			if (!isol8_runtime_known(optarg)) {
				cli_error("unknown runtime `%s` (python, node, "
				          "bun, deno, bash)",
				    optarg);
				return EXIT_USAGE;
			}
			b->runtime = optarg;
			break;
		case O_ENV:
			if (cli_kv("--env", optarg, &b->env, &b->env_len) == -1)
				return EXIT_USAGE;
			break;
		case 'h':
			batch_usage(stdout);
			return -1;
		default:
			if (cli_limit_opt(ch, optarg, &b->defaults) == 1)
				break;
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		cli_error("give one JOBS file (or - for stdin)");
		return EXIT_USAGE;
	}
	p->jobs = argv[optind];
	return 0;
}

/* The job list, an earlier results file, and where results go. */
static int
batch_open(struct batch *b, const struct batch_paths *p)
{
	struct stat st, os;
	char *dircopy;
	int same;

	if (strcmp(p->jobs, "-") == 0)
		b->in_fd = 0;
	else if ((b->in_fd = open(p->jobs, O_RDONLY | O_CLOEXEC)) == -1) {
		cli_error("cannot read `%s`: %s", p->jobs, strerror(errno));
		return -1;
	} else {
		dircopy = xstrdup(p->jobs);
		b->dir = xstrdup(dirname(dircopy));
		free(dircopy);
	}
	if (fstat(b->in_fd, &st) == -1 || S_ISDIR(st.st_mode)) {
		cli_error("`%s` is not a job file", p->jobs);
		return -1;
	}
	b->in_regular = S_ISREG(st.st_mode);
	if (b->in_regular)
		b->total_lines = count_lines(b->in_fd);
	else
		fcntl(b->in_fd, F_SETFL, fcntl(b->in_fd, F_GETFL) | O_NONBLOCK);
	/* Resuming into the same file appends to it, once repaired. */
	same = p->resume != NULL && p->out != NULL &&
	    stat(p->resume, &os) == 0 && stat(p->out, &st) == 0 &&
	    os.st_ino == st.st_ino && os.st_dev == st.st_dev;
	if (p->resume != NULL && load_resume(b, p->resume, same) == -1)
		return -1;
	if (p->out == NULL) {
		b->out = &cli_stdout;
		return 0;
	}
	b->out = &b->file;
	cli_out_init(&b->file, fopen(p->out, same ? "ae" : "we"), p->out);
	if (b->file.f == NULL) {
		cli_error("cannot write `%s`: %s", p->out, strerror(errno));
		return -1;
	}
	return 0;
}

/* The engine: one-use or reuse pool, waiting out dockerd restarts. */
static int
batch_engine(struct batch *b)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;

	config_engine_opts(&b->cfg, &eo);
	eo.pool_shared = 0;
	eo.pool_reuse = b->reuse;
	eo.max_concurrent = b->conc;
	eo.docker_wait_ms = b->docker_wait_ms;
	/* Reuse: a container per job in flight; one-use: a few ready. */
	eo.pool_size = b->reuse ? b->conc : b->conc < 8 ? b->conc : 8;
	if ((b->e = isol8_engine_new(b->base, &eo, &err)) == NULL)
		return cli_exit_for(&err);
	return 0;
}

/* The exit status once the loop is over (docs/batch.md). */
static int
batch_status(struct batch *b)
{
	int st;

	if (b->interrupted) {
		if (!b->quiet)
			cli_error("interrupted: %llu results written; rerun "
			          "with --resume to continue",
			    (unsigned long long)b->done);
		return 128 + b->interrupted;
	}
	/* Results that were not written decide, whatever the jobs did. */
	if ((st = cli_out_status(b->out)) != 0)
		return st;
	if (b->unavailable)
		return b->unavailable;
	return b->errors > 0 || (b->fail_fast && b->stopping) ? 1 : 0;
}

static void
batch_free(struct batch *b)
{
	size_t i;

	cli_engine_free(b->base, b->e, CLI_DRAIN_MS);
	for (i = 0; i < (size_t)b->nheld; i++)
		free(b->held[i].text);
	if (b->in_ev != NULL)
		event_free(b->in_ev);
	if (b->progress_ev != NULL)
		event_free(b->progress_ev);
	if (b->sigint != NULL)
		event_free(b->sigint);
	if (b->sigterm != NULL)
		event_free(b->sigterm);
	if (b->base != NULL)
		event_base_free(b->base);
	if (b->in_fd > 0)
		close(b->in_fd);
	cli_kv_free(b->env, b->env_len);
	buf_free(&b->in);
	batch_ids_free(&b->ids);
	batch_ids_free(&b->resume);
	free(b->dir);
	config_free(&b->cfg);
	free(b);
}

static int
cmd_batch(int argc, char **argv)
{
	struct batch *b = xcalloc(1, sizeof *b);
	struct batch_paths paths = { NULL, NULL, NULL };
	struct err *cerr = NULL;
	struct timeval tick = { 0, 250000 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	b->in_fd = -1;
	TAILQ_INIT(&b->items);
	if (config_load(&b->cfg, NULL, &cerr) == -1) {
		cli_error("%s", cerr->msg);
		err_free(&cerr);
		free(b);
		return EXIT_USAGE;
	}
	isol8_request_init(&b->defaults);
	config_request(&b->cfg, &b->defaults);
	b->runtime = b->cfg.runtime;
	b->conc = (unsigned)(cores > 0 ? cores * 4 : 8);
	b->reuse = b->cfg.pool_reuse;
	b->docker_wait_ms = b->cfg.batch_docker_wait_ms;
	cli_kv_copy(b->cfg.env, b->cfg.env_len, &b->env, &b->env_len);
	if ((rc = batch_args(b, argc, argv, &paths)) != 0) {
		rc = rc == -1 ? 0 : rc; /* -1: --help */
		goto out;
	}
	config_network(&b->cfg, &b->defaults);
	rc = EXIT_USAGE;
	if (batch_open(b, &paths) == -1)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if ((rc = batch_engine(b)) != 0)
		goto out;
	b->in_ev = event_new(b->base, b->in_fd, EV_READ, input_cb, b);
	b->sigint = evsignal_new(b->base, SIGINT, signal_cb, b);
	b->sigterm = evsignal_new(b->base, SIGTERM, signal_cb, b);
	event_add(b->sigint, NULL);
	event_add(b->sigterm, NULL);
	b->tty = !b->quiet && isatty(2);
	if (b->tty) {
		b->progress_ev =
		    event_new(b->base, -1, EV_PERSIST, progress_cb, b);
		event_add(b->progress_ev, &tick);
	}
	b->t0 = now_ms();
	batch_pump(b);
	if (!batch_over(b))
		event_base_dispatch(b->base);
	if (b->tty) {
		progress_cb(-1, 0, b);
		fputc('\n', stderr);
	}
	if (b->summary || b->json_summary)
		print_summary(b);
	/* Everything written must be on disk (or on stdout) before the end. */
	cli_out_close(b->out);
	rc = batch_status(b);
out:
	if (b->file.f != NULL)
		cli_out_close(&b->file);
	batch_free(b);
	return rc;
}

const struct cli_cmd cmd_batch_entry = { "batch",
	"run a job list (JSON Lines) at high concurrency", cmd_batch };
