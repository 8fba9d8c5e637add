/*
 * isol8 bench: latency and throughput, with the baselines measured in the
 * same run on the same machine (docs/benchmarks.md).
 *
 * Per runtime, hello world: cold (no warm container of the image: they are
 * removed first), warm through the library (the pool back at its target
 * before each sample), time to first output byte, in a session, and end to
 * end through a fresh `isol8 run` process per sample (a warm container
 * available). The baselines run the same program on a running container
 * of the same image: an exec through the Docker API (our client: create,
 * start, inspect), the `docker exec` CLI, and `docker run --rm`. Then
 * throughput at several concurrencies, and this process's peak RSS.
 *
 * isol8 is measured through the public API only (isol8.h), the way any
 * program using the library sees it; the Docker side is bench_docker.c.
 * Each measure is a function of one table (measures[]); each library
 * measure has an engine of its own on the benchmark's event_base, turned
 * until idle before it is freed (cli_engine_free).
 *
 * Measuring is sequential and may block (it spawns processes and waits):
 * this command is a benchmark, not part of any execution path.
 */
#include <sys/resource.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

#define BENCH_MAX_RUNTIMES 5
#define BENCH_MAX_CONC 8
#define BENCH_MAX_TP (2 * BENCH_MAX_CONC)
#define BENCH_WARMUP 2 /* first samples of a warm measure, not counted */
#define BENCH_COLD_MAX 5
/* The baselines measure the docker CLI itself: isol8 never runs it. */
#define DOCKER_CLI "docker"

static const struct bench_prog progs[] = {
	{ "python", "print('hello')", { "python3", "-c", "print('hello')" } },
	{ "node", "console.log('hello')",
	    { "node", "-e", "console.log('hello')" } },
	{ "bun", "console.log('hello')",
	    { "bun", "-e", "console.log('hello')" } },
	{ "deno", "console.log('hello')",
	    { "deno", "eval", "console.log('hello')" } },
	{ "bash", "echo hello", { "bash", "-c", "echo hello" } },
};

struct stats {
	struct hist h;
	int errors;
};

enum measure {
	M_COLD,
	M_WARM,
	M_TTFB,
	M_CLI,
	M_SESSION,
	M_API_EXEC,
	M_DOCKER_EXEC,
	M_DOCKER_RUN,
	M_COUNT,
};

static const char *const measure_names[M_COUNT] = { "cold", "warm", "ttfb",
	"cli", "session", "api_exec", "docker_exec", "docker_run" };
static const char *const measure_labels[M_COUNT] = { "isol8 cold (library)",
	"isol8 warm (library)", "isol8 first byte (warm)",
	"isol8 run (CLI, warm)", "isol8 session run (library)",
	"baseline: exec via API", "baseline: docker exec",
	"baseline: docker run --rm" };

struct rt_result {
	const struct bench_prog *prog;
	struct stats m[M_COUNT];
};

struct tp_result {
	unsigned conc;
	int reuse;
	int jobs;
	double wall_ms;
	struct stats lat;
};

struct bench {
	struct event_base *base; /* the library engines' */
	struct isol8_engine *e;  /* the engine of the measure under way */
	struct loop *loop;       /* the Docker client's */
	struct docker *d;
	int samples;
	int json;
	int check;
	double max_p50;
	char self[4096]; /* this isol8 binary, for the CLI samples */
	struct rt_result rr[BENCH_MAX_RUNTIMES];
	int nrt;
	struct tp_result tp[BENCH_MAX_TP];
	int ntp;
};

/* A sample in ms, or a failure (< 0). */
static void
stats_add(struct stats *s, double ms)
{
	if (ms < 0)
		s->errors++;
	else
		hist_add(&s->h, ms);
}

/* The p-th percentile of a measure; -1 when there are no samples. */
static double
pct(const struct stats *s, double p)
{
	return hist_pct(&s->h, p);
}

static double
ms_since(uint64_t t0)
{
	return (double)(now_us() - t0) / 1000.0;
}

/* ---- runs through the library ---- */

struct one {
	int done;
	int failed;
	int exit_code;
	uint64_t t0;
	double ttfb;
	double total;
	char msg[512];
};

static void
one_out(const char *d, size_t n, void *arg)
{
	struct one *o = arg;

	(void)d;
	(void)n;
	if (o->ttfb < 0)
		o->ttfb = ms_since(o->t0);
}

static void
one_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct one *o = arg;

	o->done = 1;
	o->total = ms_since(o->t0);
	o->exit_code = r->exit_code;
	if (e != NULL) {
		o->failed = 1;
		snprintf(o->msg, sizeof o->msg, "%s", e->message);
	}
}

static const struct isol8_callbacks one_cbs = { one_out, NULL, one_done };

static void
request_for(const struct bench_prog *p, struct isol8_request *req)
{
	isol8_request_init(req);
	req->runtime = p->runtime;
	req->code = p->code;
	req->timeout_ms = 20000;
}

/* One run, to completion; the latency (ms) or -1. */
static double
lib_run(struct bench *b, const struct bench_prog *p, const char *session,
    double *ttfb)
{
	struct isol8_request req;
	struct isol8_error err;
	struct one o;

	memset(&o, 0, sizeof o);
	o.ttfb = -1;
	request_for(p, &req);
	req.session = session;
	o.t0 = now_us();
	if (isol8_run_start(b->e, &req, &one_cbs, &o, &err) == NULL)
		return -1;
	while (!o.done)
		event_base_loop(b->base, EVLOOP_ONCE);
	if (o.failed || o.exit_code != 0) {
		if (!b->json)
			cli_error("bench: %s run failed: %s", p->runtime,
			    o.msg[0] ? o.msg : "non-zero exit");
		return -1;
	}
	if (ttfb != NULL)
		*ttfb = o.ttfb;
	return ms_since(o.t0);
}

/* Wait until the engine's refills are done (the pool at its target). */
static void
settle(struct bench *b)
{
	uint64_t until = now_ms() + 15000;

	while (isol8_engine_busy(b->e) && now_ms() < until)
		event_base_loop(b->base, EVLOOP_ONCE);
}

/* Remove the benchmark's session (a blocking call: an engine of its own). */
static void
session_remove(const char *name)
{
	struct isol8_engine *e;
	struct isol8_error err;

	if ((e = isol8_engine_new(NULL, NULL, &err)) == NULL)
		return;
	if (isol8_session_remove(e, name, &err) == -1)
		cli_error(
		    "bench: removing session `%s`: %s", name, err.message);
	isol8_engine_free(e);
}

/* The measure's engine, on the benchmark's base (NULL: said why). */
static struct isol8_engine *
bench_engine(struct bench *b, unsigned pool_size, unsigned conc, int reuse)
{
	struct isol8_engine_opts o;
	struct isol8_error err;
	struct isol8_engine *e;

	isol8_engine_opts_init(&o);
	o.pool_size = pool_size;
	o.max_concurrent = conc;
	o.pool_reuse = reuse;
	if ((e = isol8_engine_new(b->base, &o, &err)) == NULL)
		cli_error("bench: %s", err.message);
	return e;
}

static void
bench_engine_free(struct bench *b)
{
	cli_engine_free(b->base, b->e, CLI_DRAIN_MS);
	b->e = NULL;
}

/* ---- the measures of a runtime, in the order they run ---- */

static int
cold_samples(const struct bench *b)
{
	return b->samples < BENCH_COLD_MAX ? b->samples : BENCH_COLD_MAX;
}

/* Cold: no warm container of the image, no pool. */
static void
measure_cold(struct bench *b, struct rt_result *rr)
{
	int i;

	b->e = bench_engine(b, 0, 1, 0);
	for (i = 0; b->e != NULL && i < cold_samples(b); i++) {
		bench_warm_clear(b->d, rr->prog->runtime);
		stats_add(&rr->m[M_COLD], lib_run(b, rr->prog, NULL, NULL));
		settle(b);
	}
	bench_engine_free(b);
}

/* Warm, library, and its first byte: a local pool back at its target. */
static void
measure_warm(struct bench *b, struct rt_result *rr)
{
	struct isol8_request req;
	double ms, ttfb;
	int i;

	request_for(rr->prog, &req);
	if ((b->e = bench_engine(b, 2, 1, 0)) != NULL)
		isol8_engine_prewarm(b->e, &req, NULL);
	for (i = 0; b->e != NULL && i < b->samples + BENCH_WARMUP; i++) {
		settle(b);
		ms = lib_run(b, rr->prog, NULL, &ttfb);
		if (i < BENCH_WARMUP)
			continue; /* the first runs warm the interpreter's files */
		stats_add(&rr->m[M_WARM], ms);
		if (ms >= 0)
			stats_add(&rr->m[M_TTFB], ttfb);
	}
	bench_engine_free(b);
}

/* In a session: its kernel (python, node, bun, bash) once started. */
static void
measure_session(struct bench *b, struct rt_result *rr)
{
	char session[32];
	double ms;
	int i;

	snprintf(session, sizeof session, "bench-%d", (int)getpid());
	if ((b->e = bench_engine(b, 0, 1, 0)) == NULL)
		return;
	for (i = 0; i < b->samples + BENCH_WARMUP; i++) {
		ms = lib_run(b, rr->prog, session, NULL);
		if (i >= BENCH_WARMUP) /* the session and its kernel start */
			stats_add(&rr->m[M_SESSION], ms);
	}
	bench_engine_free(b);
	session_remove(session);
}

/*
 * End to end: a fresh `isol8 run` per sample, with the shared pool back
 * at its target (2) so that no refill competes for the CPU.
 */
static void
measure_cli(struct bench *b, struct rt_result *rr)
{
	const struct bench_prog *p = rr->prog;
	const char *argv[] = { b->self, "run", "-q", "-r", p->runtime, "-e",
		p->code, NULL };
	uint64_t until;
	int i;

	bench_spawn(argv); /* two runs make the key hot: two warm ones */
	bench_spawn(argv);
	for (i = 0; i < b->samples; i++) {
		until = now_ms() + 5000;
		while (
		    bench_warm_count(b->d, p->runtime) < 2 && now_ms() < until)
			bench_pause(b->loop, 10);
		stats_add(&rr->m[M_CLI], bench_spawn(argv));
	}
}

/* Baselines on one running container of the image: API and CLI exec. */
static void
measure_exec(struct bench *b, struct rt_result *rr)
{
	const struct bench_prog *p = rr->prog;
	const char *argv[9] = { DOCKER_CLI, "exec", "-u", "1000", NULL,
		p->argv[0], p->argv[1], p->argv[2], NULL };
	char *id;
	double ms;
	int i;

	if ((id = bench_baseline_start(b->d, p->runtime)) == NULL)
		return;
	for (i = 0; i < b->samples + BENCH_WARMUP; i++) {
		ms = bench_api_exec(b->d, id, p);
		if (i >= BENCH_WARMUP)
			stats_add(&rr->m[M_API_EXEC], ms);
	}
	argv[4] = id;
	for (i = 0; i < b->samples; i++)
		stats_add(&rr->m[M_DOCKER_EXEC], bench_spawn(argv));
	bench_baseline_remove(b->d, id);
	free(id);
}

/* Baseline: `docker run --rm` of the same image, as few as cold. */
static void
measure_docker_run(struct bench *b, struct rt_result *rr)
{
	const struct bench_prog *p = rr->prog;
	char *image = bench_image(p->runtime);
	const char *argv[] = { DOCKER_CLI, "run", "--rm", "--network", "none",
		"-u", "1000", image, p->argv[0], p->argv[1], p->argv[2], NULL };
	int i;

	for (i = 0; i < cold_samples(b); i++)
		stats_add(&rr->m[M_DOCKER_RUN], bench_spawn(argv));
	free(image);
}

static void (*const measures[])(struct bench *, struct rt_result *) = {
	measure_cold,
	measure_warm,
	measure_session,
	measure_cli,
	measure_exec,
	measure_docker_run,
};

static void
measure_runtime(struct bench *b, struct rt_result *rr)
{
	size_t i;

	for (i = 0; i < nitems(measures); i++)
		measures[i](b, rr);
}

/* The closed loop: a job starts as one ends, until t->jobs ended. */
static void
throughput_loop(struct bench *b, const struct isol8_request *req,
    struct tp_result *t, struct one *o)
{
	struct isol8_error err;
	int i, next = 0, finished = 0, inflight = 0;

	while (finished < t->jobs) {
		while (inflight < (int)t->conc && next < t->jobs) {
			o[next].t0 = now_us();
			o[next].ttfb = -1;
			if (isol8_run_start(
			        b->e, req, &one_cbs, &o[next], &err) == NULL)
				o[next].done = o[next].failed = 1;
			next++;
			inflight++;
		}
		event_base_loop(b->base, EVLOOP_ONCE);
		for (finished = 0, inflight = 0, i = 0; i < next; i++) {
			finished += o[i].done;
			inflight += !o[i].done;
		}
	}
}

/*
 * Jobs/s with exactly `conc` runs in flight (closed loop: a job starts when
 * one ends), python hello world; each job is timed from its own start.
 */
static void
measure_throughput(struct bench *b, struct tp_result *t)
{
	struct isol8_request req;
	struct one *o;
	uint64_t t0;
	int i;

	t->jobs = (int)(t->conc * 4 > 40 ? t->conc * 4 : 40);
	/*
	 * Steady state: with reuse, one container per job in flight, made
	 * before the clock starts; one-use is bounded by container creation
	 * whatever the pool, which keeps up to 8 ready.
	 */
	b->e = bench_engine(b,
	    t->reuse          ? t->conc
	        : t->conc < 8 ? t->conc
	                      : 8,
	    t->conc, t->reuse);
	if (b->e == NULL)
		return;
	o = xcalloc((size_t)t->jobs, sizeof *o);
	request_for(&progs[0], &req);
	isol8_engine_prewarm(b->e, &req, NULL);
	settle(b);
	t0 = now_us();
	throughput_loop(b, &req, t, o);
	t->wall_ms = ms_since(t0);
	for (i = 0; i < t->jobs; i++)
		stats_add(&t->lat,
		    o[i].failed || o[i].exit_code != 0 ? -1 : o[i].total);
	bench_engine_free(b);
	free(o);
}

/* ---- reporting ---- */

static void
json_stats(yajl_gen g, const char *name, const struct stats *s)
{
	json_key(g, name);
	yajl_gen_map_open(g);
	json_kuint(g, "n", s->h.n);
	json_kint(g, "errors", s->errors);
	if (s->h.n > 0) {
		json_knumf(g, "p50", "%.2f", pct(s, 50));
		json_knumf(g, "p90", "%.2f", pct(s, 90));
		json_knumf(g, "p99", "%.2f", pct(s, 99));
		json_knumf(g, "max", "%.2f", pct(s, 100));
	}
	yajl_gen_map_close(g);
}

static void
json_throughput(yajl_gen g, const struct tp_result *t)
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
static void
print_json(const struct bench *b, long rss_kb)
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

static void
print_table(const struct bench *b, long rss_kb)
{
	const struct rt_result *rr = b->rr;
	const struct tp_result *tp = b->tp;
	double base, v;
	int i, m;

	printf("%-7s %-26s %8s %8s %8s %8s  %s\n", "runtime", "measure",
	    "p50 ms", "p90", "p99", "max", "p50 vs exec via API");
	for (i = 0; i < b->nrt; i++) {
		base = pct(&rr[i].m[M_API_EXEC], 50);
		for (m = 0; m < M_COUNT; m++) {
			const struct stats *s = &rr[i].m[m];

			printf("%-7s %-26s", m == 0 ? rr[i].prog->runtime : "",
			    measure_labels[m]);
			if (s->h.n == 0) {
				printf(" %8s %8s %8s %8s  %s\n", "n/a", "", "",
				    "", s->errors ? "(failed)" : "");
				continue;
			}
			v = pct(s, 50);
			printf(" %8.1f %8.1f %8.1f %8.1f", v, pct(s, 90),
			    pct(s, 99), pct(s, 100));
			if (m != M_API_EXEC && base > 0 && v > 0)
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
		printf("  %3u in flight, %-8s %4d jobs in %6.0f ms = %6.1f "
		       "jobs/s, "
		       "p50 %7.1f ms, p99 %7.1f ms%s\n",
		    tp[i].conc, tp[i].reuse ? "reuse:" : "one-use:", tp[i].jobs,
		    tp[i].wall_ms,
		    tp[i].wall_ms > 0 ? tp[i].jobs * 1000.0 / tp[i].wall_ms : 0,
		    pct(&tp[i].lat, 50), pct(&tp[i].lat, 99),
		    tp[i].lat.errors ? " (errors)" : "");
	printf("peak RSS of this process: %.1f MB\n", rss_kb / 1024.0);
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: isol8 bench [--runtime R]... [-n N] "
	    "[--concurrency C]... [--json]\n"
	    "                   [--check [--max-p50 MS]]\n\n"
	    "Measure isol8's latency and throughput, with baselines measured "
	    "in the same\nrun: exec through the Docker API, `docker exec`, "
	    "`docker run --rm`.\n\n"
	    "  -r, --runtime R      a runtime to measure (repeatable; default "
	    "all five)\n"
	    "  -n N                 samples per measure (default 20; 0: "
	    "throughput only)\n"
	    "  -c, --concurrency C  throughput at C runs in flight "
	    "(repeatable;\n"
	    "                       default 1 4 16 32 64; 0 skips it)\n"
	    "      --json           machine-readable results\n"
	    "      --check          exit 1 when a warm p50 is over --max-p50\n"
	    "      --max-p50 MS     the --check threshold (default 100)\n");
}

/* What was asked for: the runtimes and the concurrencies. */
struct bench_want {
	const char *runtime[BENCH_MAX_RUNTIMES];
	int nruntime;
	unsigned conc[BENCH_MAX_CONC];
	int nconc;
	int no_tp; /* -c 0: no throughput */
};

/* What to measure: the flags. 0, -1 after --help, or the exit status. */
static int
bench_args(struct bench *b, int argc, char **argv, struct bench_want *w)
{
	static const struct option opts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'k' },
		{ "max-p50", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct err *e = NULL;
	uint64_t u;
	int c;

	while ((c = getopt_long(argc, argv, "r:n:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!isol8_runtime_known(optarg)) {
				cli_error("unknown runtime `%s`", optarg);
				return EXIT_USAGE;
			}
			if (w->nruntime < BENCH_MAX_RUNTIMES)
				w->runtime[w->nruntime++] = optarg;
			break;
		case 'n':
			if (strcmp(optarg, "0") == 0)
				b->samples = 0; /* throughput only */
			else if (cli_uint("-n", optarg, 10000, &u, &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			else
				b->samples = (int)u;
			break;
		case 'c':
			if (strcmp(optarg, "0") == 0)
				w->no_tp = 1;
			else if (cli_uint("--concurrency", optarg, 256, &u,
			             &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			else if (w->nconc < BENCH_MAX_CONC)
				w->conc[w->nconc++] = (unsigned)u;
			break;
		case 'j':
			b->json = 1;
			break;
		case 'k':
			b->check = 1;
			break;
		case 'm':
			if (cli_uint("--max-p50", optarg, 100000, &u, &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			b->max_p50 = (double)u;
			break;
		case 'h':
			bench_usage(stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	return 0;
}

/*
 * The runtimes asked for (all when none), and each concurrency (1 4 16 32
 * 64 when none) one-use, then with scrubbed reuse.
 */
static void
bench_plan(struct bench *b, const struct bench_want *w)
{
	static const unsigned default_conc[] = { 1, 4, 16, 32, 64 };
	const unsigned *conc = w->conc;
	int i, k, nconc = w->nconc;

	if (nconc == 0) {
		conc = default_conc;
		nconc = (int)nitems(default_conc);
	}
	for (i = 0; !w->no_tp && i < nconc; i++) {
		b->tp[b->ntp].conc = conc[i];
		b->tp[b->ntp++].reuse = 0;
		b->tp[b->ntp].conc = conc[i];
		b->tp[b->ntp++].reuse = 1;
	}
	for (i = 0; i < (int)nitems(progs); i++) {
		for (k = 0; k < w->nruntime; k++)
			if (strcmp(w->runtime[k], progs[i].runtime) == 0)
				break;
		if (w->nruntime == 0 || k < w->nruntime)
			b->rr[b->nrt++].prog = &progs[i];
	}
}

/* --check, and a runtime without a single warm run: exit 1. */
static int
bench_verdict(const struct bench *b)
{
	double p50;
	int i, rc = 0;

	for (i = 0; b->samples > 0 && i < b->nrt; i++) {
		p50 = pct(&b->rr[i].m[M_WARM], 50);
		if (p50 < 0) {
			cli_error("bench: %s: no successful warm run",
			    b->rr[i].prog->runtime);
			rc = 1;
		} else if (b->check && p50 > b->max_p50) {
			cli_error("bench --check: %s warm p50 is %.1f ms, over "
			          "%.0f ms",
			    b->rr[i].prog->runtime, p50, b->max_p50);
			rc = 1;
		}
	}
	return rc;
}

/* Every measure, then the report; the exit status. */
static int
bench_run(struct bench *b)
{
	struct rusage ru;
	int i;

	for (i = 0; i < b->nrt; i++) {
		if (!b->json)
			fprintf(stderr, "measuring %s...\n",
			    b->rr[i].prog->runtime);
		measure_runtime(b, &b->rr[i]);
	}
	for (i = 0; i < b->ntp; i++) {
		if (!b->json)
			fprintf(stderr, "throughput at %u in flight%s...\n",
			    b->tp[i].conc, b->tp[i].reuse ? ", reuse" : "");
		measure_throughput(b, &b->tp[i]);
	}
	getrusage(RUSAGE_SELF, &ru);
	if (b->json)
		print_json(b, ru.ru_maxrss);
	else
		print_table(b, ru.ru_maxrss);
	return bench_verdict(b);
}

static int
cmd_bench(int argc, char **argv)
{
	struct bench *b = xcalloc(1, sizeof *b);
	struct bench_want w;
	ssize_t n;
	int rc;

	memset(&w, 0, sizeof w);
	b->samples = 20;
	b->max_p50 = 100;
	if ((rc = bench_args(b, argc, argv, &w)) != 0) {
		free(b);
		return rc == -1 ? 0 : rc; /* -1: --help */
	}
	bench_plan(b, &w);
	if ((n = readlink("/proc/self/exe", b->self, sizeof b->self - 1)) <=
	    0) {
		free(b);
		cli_error("bench: cannot find the isol8 binary");
		return EXIT_INTERNAL;
	}
	b->self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	b->loop = loop_new(NULL, NULL, NULL);
	if ((b->d = docker_new(b->loop, NULL, NULL)) == NULL) {
		cli_error("bench: unsupported DOCKER_HOST");
		rc = EXIT_USAGE;
	} else
		rc = bench_run(b);
	docker_free(b->d);
	event_base_loop(loop_base(b->loop), EVLOOP_NONBLOCK);
	loop_free(b->loop);
	event_base_free(b->base);
	free(b);
	return rc;
}

const struct cli_cmd cmd_bench_entry = { "bench",
	"measure latency and throughput against baselines", cmd_bench };
