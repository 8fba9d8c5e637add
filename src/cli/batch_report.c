/*
 * What `isol8 batch` says on stderr besides its results: a progress bar
 * while it runs (only on a terminal), and with --summary / --json-summary
 * the totals, failures by kind, latency percentiles (util/stats.c) and
 * jobs per second at the end. Results themselves go through batch_emit.c.
 */
#include <stdlib.h>

#include "batch.h"

/* A latency percentile of the jobs so far (0 before the first). */
static double
batch_pct(const struct batch *b, double p)
{
	return b->st.hist.n > 0 ? hist_pct(&b->st.hist, p) : 0;
}

static double
batch_secs(const struct batch *b)
{
	return (double)(now_ms() - b->st.t0) / 1000.0;
}

/* One redraw of the progress bar (\r: it overwrites itself). */
void
batch_progress(const struct batch *b)
{
	const struct batch_stats *st = &b->st;
	double secs = batch_secs(b);
	double rate = secs > 0 ? (double)st->done / secs : 0;
	uint64_t total =
	    st->total_lines > st->skipped ? st->total_lines - st->skipped : 0;
	char bar[31];
	int i, fill;

	if (total > 0) {
		fill = (int)(30.0 * (double)st->done / (double)total);
		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %llu/%llu  %.1f jobs/s  ETA %.0fs   ",
		    bar, (unsigned long long)st->done,
		    (unsigned long long)total, rate,
		    rate > 0 ? (double)(total - st->done) / rate : 0);
	} else
		fprintf(stderr, "\r%llu done  %.1f jobs/s   ",
		    (unsigned long long)st->done, rate);
	fflush(stderr);
}

/* --json-summary: one object (docs/batch.md), through yajl. */
static void
summary_json(const struct batch *b, double secs, double rate)
{
	const struct batch_stats *st = &b->st;
	struct buf o = { 0 };
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	json_kuint(g, "jobs", st->done);
	json_kuint(g, "ran", st->ran);
	json_kuint(g, "exitNonZero", st->nonzero);
	json_kuint(g, "timedOut", st->timeouts);
	json_kuint(g, "oomKilled", st->ooms);
	json_kuint(g, "truncated", st->truncs);
	json_kuint(g, "errors", st->errors);
	json_kuint(g, "retried", st->retried);
	json_kuint(g, "skipped", st->skipped);
	json_knumf(g, "seconds", "%.2f", secs);
	json_knumf(g, "jobsPerSecond", "%.2f", rate);
	json_key(g, "latencyMs");
	yajl_gen_map_open(g);
	json_knumf(g, "p50", "%.1f", batch_pct(b, 50));
	json_knumf(g, "p90", "%.1f", batch_pct(b, 90));
	json_knumf(g, "p99", "%.1f", batch_pct(b, 99));
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	json_gen_take(g, &o);
	fprintf(stderr, "%.*s\n", (int)o.len, o.data);
	buf_free(&o);
}

/* --summary / --json-summary, on stderr at the end. */
void
batch_summary(const struct batch *b)
{
	const struct batch_stats *st = &b->st;
	double secs = batch_secs(b);
	double rate = secs > 0 ? (double)st->done / secs : 0;

	if (b->json_summary) {
		summary_json(b, secs, rate);
		return;
	}
	fprintf(stderr,
	    "%llu jobs in %.1f s (%.1f jobs/s): %llu ran (%llu non-zero exit, %llu timed out, %llu memory limit, %llu truncated), %llu errors, %llu retried (sandbox lost), %llu skipped (resume); latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
	    (unsigned long long)st->done, secs, rate,
	    (unsigned long long)st->ran, (unsigned long long)st->nonzero,
	    (unsigned long long)st->timeouts, (unsigned long long)st->ooms,
	    (unsigned long long)st->truncs, (unsigned long long)st->errors,
	    (unsigned long long)st->retried, (unsigned long long)st->skipped,
	    batch_pct(b, 50), batch_pct(b, 90), batch_pct(b, 99));
}
