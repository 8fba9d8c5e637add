/*
 * The measures of `isol8 bench` (bench.h): per runtime, a table of
 * measure_* functions run in order -- cold (no warm container of the
 * image: they are removed first), warm through the library (the pool back
 * at its target before each sample) with its time to first byte, in a
 * session, end to end through a fresh `isol8 run` process, and the
 * baselines on the same image -- then throughput with exactly C runs in
 * flight. isol8 is measured through the public API only; each library
 * measure has an engine of its own on the benchmark's event_base, turned
 * until idle before it is freed (cli_engine_free).
 *
 * Measuring is sequential and may block (it spawns processes and waits):
 * this is a benchmark, not part of any execution path.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

#define BENCH_WARMUP 2 /* first samples of a warm measure, not counted */
#define BENCH_COLD_MAX 5
#define REMOTE_REFILL_MS 600 /* a server's pool refill, between samples */
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

/* The runtimes bench knows, with their hello world. */
const struct bench_prog *
bench_progs(size_t *n)
{
	*n = nitems(progs);
	return progs;
}

/* A sample in ms, or a failure (< 0). */
static void
stats_add(struct bench_stats *s, double ms)
{
	if (ms < 0)
		s->errors++;
	else
		hist_add(&s->h, ms);
}

/* The p-th percentile of a measure; -1 when there are no samples. */
double
bench_pct(const struct bench_stats *s, double p)
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
	uint64_t engine_ms; /* the result's totalMs */
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
	o->engine_ms = r->total_ms;
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

/* One run, to completion; the latency (ms) or -1 (o: what it said). */
static double
lib_run_one(struct bench *b, const struct bench_prog *p, const char *session,
    struct one *o)
{
	struct isol8_request req;
	struct isol8_error err;

	memset(o, 0, sizeof *o);
	o->ttfb = -1;
	request_for(p, &req);
	req.session = session;
	o->t0 = now_us();
	if (isol8_run_start(b->e, &req, &one_cbs, o, &err) == NULL)
		return -1;
	while (!o->done)
		event_base_loop(b->base, EVLOOP_ONCE);
	if (o->failed || o->exit_code != 0) {
		if (!b->json)
			cli_error("bench: %s run failed: %s", p->runtime,
			    o->msg[0] ? o->msg : "non-zero exit");
		return -1;
	}
	return ms_since(o->t0);
}

/* One run, to completion; the latency (ms) or -1. */
static double
lib_run(struct bench *b, const struct bench_prog *p, const char *session,
    double *ttfb)
{
	struct one o;
	double ms = lib_run_one(b, p, session, &o);

	if (ttfb != NULL)
		*ttfb = o.ttfb;
	return ms;
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
measure_cold(struct bench *b, struct bench_rt *rr)
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
measure_warm(struct bench *b, struct bench_rt *rr)
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
measure_session(struct bench *b, struct bench_rt *rr)
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
measure_cli(struct bench *b, struct bench_rt *rr)
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

/*
 * Warm through `isol8 serve` on loopback: an engine made with the
 * server's URL and key (the library's remote backend), the server's pool
 * back at its target (2) before each sample; and each sample's overhead,
 * its time less the server engine's own totalMs (HTTP, JSON, auth, SSE).
 */
static void
measure_remote(struct bench *b, struct bench_rt *rr)
{
	const struct bench_prog *p = rr->prog;
	struct isol8_engine_opts o;
	struct isol8_error err;
	struct bench_serve s;
	struct one one;
	double ms, over;
	int i;

	if (bench_serve_start(b->loop, b->self, &s) == -1)
		return;
	isol8_engine_opts_init(&o);
	o.remote_url = s.url;
	o.remote_key = s.key;
	if ((b->e = isol8_engine_new(b->base, &o, &err)) == NULL)
		cli_error("bench: %s", err.message);
	for (i = 0; b->e != NULL && i < b->samples + BENCH_WARMUP; i++) {
		/* The server's refill is its own: no count of warm ones says
		 * it is over (others' count too), so give it its time. */
		bench_pause(b->loop, REMOTE_REFILL_MS);
		ms = lib_run_one(b, p, NULL, &one);
		if (i < BENCH_WARMUP)
			continue; /* the first runs make the key hot */
		stats_add(&rr->m[M_REMOTE], ms);
		/* totalMs is whole ms: a sample's overhead is +-1 ms (the
		 * median evens it out), and never below 0 */
		over = ms - (double)one.engine_ms;
		if (ms >= 0)
			stats_add(&rr->m[M_REMOTE_OVER], over > 0 ? over : 0);
	}
	if (b->e != NULL)
		bench_engine_free(b);
	bench_serve_stop(&s);
}

/* Baselines on one running container of the image: API and CLI exec. */
static void
measure_exec(struct bench *b, struct bench_rt *rr)
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
measure_docker_run(struct bench *b, struct bench_rt *rr)
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

static void (*const measures[])(struct bench *, struct bench_rt *) = {
	measure_cold,
	measure_warm,
	measure_session,
	measure_cli,
	measure_remote,
	measure_exec,
	measure_docker_run,
};

void
bench_measure_runtime(struct bench *b, struct bench_rt *rr)
{
	size_t i;

	for (i = 0; i < nitems(measures); i++)
		measures[i](b, rr);
}

/* The closed loop: a job starts as one ends, until t->jobs ended. */
static void
throughput_loop(struct bench *b, const struct isol8_request *req,
    struct bench_tp *t, struct one *o)
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
void
bench_measure_throughput(struct bench *b, struct bench_tp *t)
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
