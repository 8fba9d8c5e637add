/*
 * What `isol8 bench` prints (bench.h): a table with each figure's ratio
 * to the exec-through-the-API baseline, or with --json one object of the
 * same figures (docs/cli.md), through yajl.
 */
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

static const char *const measure_names[M_COUNT] = { "cold", "warm", "ttfb",
	"cli", "session", "remote", "remote_overhead", "api_exec",
	"docker_exec", "docker_run" };
static const char *const measure_labels[M_COUNT] = { "isol8 cold (library)",
	"isol8 warm (library)", "isol8 first byte (warm)",
	"isol8 run (CLI, warm)", "isol8 session run (library)",
	"isol8 warm via isol8 serve", "  serve overhead (- totalMs)",
	"baseline: exec via API", "baseline: docker exec",
	"baseline: docker run --rm" };

static void
json_stats(yajl_gen g, const char *name, const struct bench_stats *s)
{
	json_key(g, name);
	yajl_gen_map_open(g);
	json_kuint(g, "n", s->h.n);
	json_kint(g, "errors", s->errors);
	if (s->h.n > 0) {
		json_knumf(g, "p50", "%.2f", bench_pct(s, 50));
		json_knumf(g, "p90", "%.2f", bench_pct(s, 90));
		json_knumf(g, "p99", "%.2f", bench_pct(s, 99));
		json_knumf(g, "max", "%.2f", bench_pct(s, 100));
	}
	yajl_gen_map_close(g);
}

static void
json_throughput(yajl_gen g, const struct bench_tp *t)
{
	yajl_gen_map_open(g);
	json_kuint(g, "concurrency", t->conc);
	json_kbool(g, "reuse", t->reuse);
	json_kint(g, "jobs", t->jobs);
	json_knumf(g, "wall_ms", "%.1f", t->wall_ms);
	json_knumf(g, "jobs_per_s", "%.2f",
	    t->wall_ms > 0 ? t->jobs * 1000.0 / t->wall_ms : 0);
	json_stats(g, "latency", &t->lat);
	yajl_gen_map_close(g);
}

/* --json: one object (docs/cli.md), through yajl. */
void
bench_print_json(const struct bench *b, long rss_kb)
{
	struct buf o = { 0 };
	yajl_gen g = json_gen_new();
	int i, m;

	yajl_gen_map_open(g);
	json_kstr(g, "version", isol8_version());
	json_kint(g, "cores", sysconf(_SC_NPROCESSORS_ONLN));
	json_key(g, "runtimes");
	yajl_gen_map_open(g);
	for (i = 0; i < b->nrt; i++) {
		json_key(g, b->rr[i].prog->runtime);
		yajl_gen_map_open(g);
		for (m = 0; m < M_COUNT; m++)
			json_stats(g, measure_names[m], &b->rr[i].m[m]);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	json_key(g, "throughput");
	yajl_gen_array_open(g);
	for (i = 0; i < b->ntp; i++)
		json_throughput(g, &b->tp[i]);
	yajl_gen_array_close(g);
	json_kint(g, "peak_rss_kb", rss_kb);
	yajl_gen_map_close(g);
	json_gen_take(g, &o);
	printf("%.*s\n", (int)o.len, o.data);
	buf_free(&o);
}

/* The table, with each p50's ratio to the exec-via-API baseline. */
void
bench_print_table(const struct bench *b, long rss_kb)
{
	const struct bench_rt *rr = b->rr;
	const struct bench_tp *tp = b->tp;
	double base, v;
	int i, m;

	printf("%-7s %-26s %8s %8s %8s %8s  %s\n", "runtime", "measure",
	    "p50 ms", "p90", "p99", "max", "p50 vs exec via API");
	for (i = 0; i < b->nrt; i++) {
		base = bench_pct(&rr[i].m[M_API_EXEC], 50);
		for (m = 0; m < M_COUNT; m++) {
			const struct bench_stats *s = &rr[i].m[m];

			printf("%-7s %-26s", m == 0 ? rr[i].prog->runtime : "",
			    measure_labels[m]);
			if (s->h.n == 0) {
				printf(" %8s %8s %8s %8s  %s\n", "n/a", "", "",
				    "", s->errors ? "(failed)" : "");
				continue;
			}
			v = bench_pct(s, 50);
			printf(" %8.1f %8.1f %8.1f %8.1f", v, bench_pct(s, 90),
			    bench_pct(s, 99), bench_pct(s, 100));
			if (m != M_API_EXEC && m != M_REMOTE_OVER && base > 0 &&
			    v > 0)
				printf("  %.1fx %s",
				    base > v ? base / v : v / base,
				    base > v ? "faster" : "slower");
			if (s->errors)
				printf("  (%d failed)", s->errors);
			printf("\n");
		}
	}
	printf(
	    "\nthroughput (python hello world; a job starts as one ends):\n");
	for (i = 0; i < b->ntp; i++)
		printf(
		    "  %3u in flight, %-8s %4d jobs in %6.0f ms = %6.1f jobs/s, p50 %7.1f ms, p99 %7.1f ms%s\n",
		    tp[i].conc, tp[i].reuse ? "reuse:" : "one-use:", tp[i].jobs,
		    tp[i].wall_ms,
		    tp[i].wall_ms > 0 ? tp[i].jobs * 1000.0 / tp[i].wall_ms : 0,
		    bench_pct(&tp[i].lat, 50), bench_pct(&tp[i].lat, 99),
		    tp[i].lat.errors ? " (errors)" : "");
	printf("peak RSS of this process: %.1f MB\n", rss_kb / 1024.0);
}
