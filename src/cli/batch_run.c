/*
 * The jobs of `isol8 batch` in flight: a line is taken (parsed, checked
 * for a duplicate id or a --resume'd result), started on the engine, and
 * its result emitted when it ends. batch_pump() runs after every event:
 * it takes lines while there is room -- fewer than `concurrency` running,
 * the ordered emitter able to hold every result due -- and breaks the loop
 * when nothing runs and nothing more will.
 *
 * Invariants:
 * - every line gets exactly one result (or none for a resumed job), the
 *   error results included: a bad line is that line's error, never the
 *   batch's end;
 * - a job whose sandbox was lost mid-run (ISOL8_ELOST) runs once more;
 *   its one result says "retried";
 * - an item is in b->items exactly while its run is in flight.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"

struct batch_item {
	struct batch *b;
	struct batch_job job;
	uint64_t seq;
	struct buf out;
	struct buf err;
	struct isol8_run *run;
	int retried; /* its sandbox was lost once: this is its second run */
	TAILQ_ENTRY(batch_item) entry;
};

static void job_start(struct batch *, struct batch_item *);

/* Stop taking jobs and cancel the running ones (their results follow). */
void
batch_stop(struct batch *b)
{
	struct batch_item *it;

	if (b->stopping)
		return;
	b->stopping = 1;
	TAILQ_FOREACH (it, &b->items, entry)
		isol8_run_cancel(it->run);
}

/* A result line (text taken; NULL: none); one not written stops all. */
static void
batch_write(struct batch *b, uint64_t seq, char *text)
{
	if (batch_emit(&b->emit, seq, text) == -1)
		batch_stop(b); /* said once, by cli_out */
}

/* The JSON line of a result (api.h, API_JOB), to be freed. */
static char *
result_line(const struct api_result *a)
{
	struct buf o = { 0 };

	api_result_write(API_JOB, a, &o);
	buf_addstr(&o, "\n");
	return o.data;
}

/*
 * A job that could not run, or not to its end: "retried" when this was its
 * second run, "mayHaveRun" when the failure came after its code reached
 * the sandbox (lost, cancelled). It is done, and an error.
 */
static void
item_error(struct batch_item *it, const char *msg, int may_have_run)
{
	struct api_result a = { 0 };

	a.id = it->job.id;
	a.line = it->job.line;
	a.error = msg;
	a.retried = it->retried;
	a.may_have_run = may_have_run;
	it->b->st.errors++;
	it->b->st.done++;
	batch_write(it->b, it->seq, result_line(&a));
}

/* A job that ran, whatever its exit code: counted, and its line. */
static void
item_ran(struct batch_item *it, const struct isol8_result *r)
{
	struct batch *b = it->b;
	struct api_result a = { 0 };

	b->st.done++;
	b->st.ran++;
	hist_add(&b->st.hist, (double)r->total_ms);
	if (r->timed_out)
		b->st.timeouts++;
	else if (r->oom_killed)
		b->st.ooms++;
	else if (r->truncated)
		b->st.truncs++;
	else if (r->exit_code != 0)
		b->st.nonzero++;
	if (b->fail_fast && (r->exit_code != 0 || r->timed_out))
		batch_stop(b);
	a.id = it->job.id;
	a.line = it->job.line;
	a.res = r;
	a.out = it->out.data;
	a.out_len = it->out.len;
	a.err = it->err.data;
	a.err_len = it->err.len;
	a.outputs = it->job.api.req.outputs;
	a.retried = it->retried;
	batch_write(b, it->seq, result_line(&a));
}

static void
item_out(const char *d, size_t n, void *arg)
{
	buf_add(&((struct batch_item *)arg)->out, d, n);
}

static void
item_err(const char *d, size_t n, void *arg)
{
	buf_add(&((struct batch_item *)arg)->err, d, n);
}

static void
item_free(struct batch_item *it)
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
item_retry(struct batch *b, struct batch_item *it, const struct isol8_error *e)
{
	if (e->code != ISOL8_ELOST || it->retried || b->stopping)
		return 0;
	it->retried = 1;
	b->st.retried++;
	buf_free(&it->out);
	buf_free(&it->err);
	job_start(b, it);
	return 1;
}

/*
 * dockerd is gone or the images are missing -- or, with --host, the
 * server is (its message says so itself, not "Docker is not running"):
 * every job would fail.
 */
static void
item_fatal(struct batch *b, const struct isol8_error *e)
{
	if (!b->unavailable && b->host != NULL)
		cli_error("%s", e->message);
	else if (!b->unavailable)
		cli_exit_for(e);
	b->unavailable =
	    e->code == ISOL8_EUNAVAILABLE ? EXIT_NODOCKER : EXIT_NOIMAGE;
	batch_stop(b);
}

static void
item_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct batch_item *it = arg;
	struct batch *b = it->b;
	char msg[600];

	TAILQ_REMOVE(&b->items, it, entry);
	b->inflight--;
	if (e != NULL && item_retry(b, it, e)) {
		batch_pump(b);
		return;
	}
	if (e != NULL) {
		snprintf(msg, sizeof msg, "line %ld: %s", it->job.line,
		    e->code == ISOL8_ECANCELLED && b->interrupted
		        ? "cancelled: the batch was interrupted"
		        : e->message);
		item_error(it, msg, r != NULL && r->may_have_run);
		if (e->code == ISOL8_EUNAVAILABLE || e->code == ISOL8_ENOIMAGE)
			item_fatal(b, e);
		if (b->fail_fast)
			batch_stop(b);
	} else
		item_ran(it, r);
	item_free(it);
	batch_pump(b);
}

/* Start a parsed job (again, for a retry); its failure is its result. */
static void
job_start(struct batch *b, struct batch_item *it)
{
	static const struct isol8_callbacks cbs = { item_out, item_err,
		item_done };
	struct isol8_error err;
	char msg[600];

	it->run = isol8_run_start(b->e, &it->job.api.req, &cbs, it, &err);
	if (it->run == NULL) {
		snprintf(
		    msg, sizeof msg, "line %ld: %s", it->job.line, err.message);
		/* A retry's first run may have run. */
		item_error(it, msg, it->retried);
		item_free(it);
		return;
	}
	TAILQ_INSERT_TAIL(&b->items, it, entry);
	b->inflight++;
}

/* A job taken from its line: checked, then skipped, reported or started. */
static void
take_job(struct batch *b, struct batch_item *it)
{
	uint64_t h = batch_id_hash(it->job.id, strlen(it->job.id));
	char msg[600];

	/* Duplicates first: a second line with a done job's id is still one
	 * (its error line was dropped by the resume's repair). */
	if (!batch_ids_add(&b->ids, h) && it->job.error == NULL) {
		snprintf(msg, sizeof msg, "line %ld: duplicate id `%.256s`",
		    it->job.line, it->job.id);
		it->job.error = xstrdup(msg);
	}
	if (it->job.error == NULL && batch_ids_has(&b->resume, h)) {
		b->st.skipped++;
		batch_write(b, it->seq, NULL);
		item_free(it);
		return;
	}
	if (it->job.error != NULL) {
		item_error(it, it->job.error, 0);
		item_free(it);
		return;
	}
	api_request_defaults(&it->job.api, &b->defaults);
	job_start(b, it);
}

static struct batch_item *
item_new(struct batch *b)
{
	struct batch_item *it = xcalloc(1, sizeof *it);

	it->b = b;
	it->seq = b->next_seq++;
	return it;
}

/* A complete line: a job, unless it is blank. */
static void
take_line(struct batch *b, const char *line, size_t len)
{
	struct batch_item *it;

	while (len > 0 &&
	    (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	        line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return; /* blank lines are not jobs */
	it = item_new(b);
	batch_job_parse(line, len, b->rd.lineno, b->dir, &it->job);
	take_job(b, it);
}

/* A line over BATCH_MAX_LINE: its error result. */
static void
take_long(struct batch *b)
{
	struct batch_item *it = item_new(b);

	it->job.line = b->rd.lineno;
	it->job.id = xasprintf("%ld", b->rd.lineno);
	it->job.error = xasprintf(
	    "line %ld: longer than %u bytes", b->rd.lineno, BATCH_MAX_LINE);
	take_job(b, it);
}

/* Nothing runs and nothing more will: all read, or stopping. */
int
batch_over(const struct batch *b)
{
	return b->inflight == 0 && (b->stopping || batch_reader_done(&b->rd));
}

/* Start jobs while there is room; called after every event. */
void
batch_pump(struct batch *b)
{
	const char *line;
	size_t len;

	while (!b->stopping && b->inflight < b->conc &&
	    batch_emit_room(&b->emit, b->inflight)) {
		switch (batch_reader_next(&b->rd, &line, &len)) {
		case BATCH_NEXT_LINE:
			take_line(b, line, len);
			continue;
		case BATCH_NEXT_LONG:
			take_long(b);
			continue;
		case BATCH_NEXT_WAIT:
			event_add(b->in_ev, NULL);
			return;
		case BATCH_NEXT_END:
			break;
		}
		break;
	}
	if (batch_over(b))
		event_base_loopbreak(b->base);
}
