/*
 * isol8 bench: latency and throughput, with the baselines measured in the
 * same run on the same machine (docs/benchmarks.md).
 *
 * Per runtime, hello world: cold (no warm container of the key: they are
 * removed first), warm through the library (the pool back at its target
 * before each sample), time to first output byte, and end to end through a
 * fresh `isol8 run` process per sample (a warm container available). The
 * baselines run the same program on a running container of the same image:
 * an exec through the Docker API (our client: create, start, inspect), the
 * `docker exec` CLI, and `docker run --rm`. Then throughput at several
 * concurrencies, and this process's peak RSS.
 *
 * Measuring is sequential and may block (it spawns processes and waits):
 * this command is a benchmark, not part of any execution path.
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "../engine/engine.h"

#define BENCH_MAX_RUNTIMES 5
#define BENCH_MAX_CONC 8
#define BENCH_MAX_TP (2 * BENCH_MAX_CONC)
/* The baselines measure the docker CLI itself: isol8 never runs it. */
#define DOCKER_CLI "docker"

extern char **environ;

/* The hello world of each runtime, as isol8 code and as a command line. */
static const struct bench_prog {
	const char *runtime;
	const char *code;
	const char *const argv[4];
} progs[] = {
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

struct bench {
	struct event_base *base;
	struct isol8_engine *e;
	int samples;
	int json;
	double max_p50;
	int check;
	struct loop *loop;
	struct docker *d;
};

static void
stats_add(struct stats *s, double v)
{
	hist_add(&s->h, v);
}

/* The p-th percentile of a measure; -1 when there are no samples. */
static double
pct(struct stats *s, double p)
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

/* ---- Docker-side helpers: baselines and clearing warm containers ---- */

/* Let ms pass on the benchmark's own loop. */
static void
bench_pause(struct bench *b, long ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(loop_base(b->loop), &tv);
	event_base_dispatch(loop_base(b->loop));
}

/*
 * The warm containers of a request's pool key (all states, or only the
 * running ones), as a parsed JSON list; NULL on any failure.
 */
static yajl_val
list_warm(struct bench *b, const struct isol8_request *req, int running)
{
	struct pool_spec spec;
	struct docker_sync c = { 0 };
	char *image, *network, key[17], filter[256];
	yajl_val v;

	if (engine_spec(req, &spec, &image, &network, NULL) == -1)
		return NULL;
	pool_spec_key(&spec, key);
	free(image);
	free(network);
	snprintf(filter, sizeof filter,
	    "{\"label\":[\"" LABEL_KEY "=%s\"],\"name\":[\"^/isol8-warm-\"]%s}",
	    key, running ? ",\"status\":[\"running\"]" : "");
	docker_container_list(b->d, filter, !running, docker_sync_cb, &c);
	docker_sync_wait(b->d, &c);
	v = c.err || c.body.len == 0
	    ? NULL
	    : json_parse(c.body.data, c.body.len, NULL);
	docker_sync_reset(&c);
	return v;
}

/* Remove the unclaimed warm containers of a request's pool key. */
static void
clear_warm(struct bench *b, const struct isol8_request *req)
{
	struct docker_sync r = { 0 };
	yajl_val v = list_warm(b, req, 0);
	size_t i;

	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
		docker_sync_reset(&r);
		docker_container_remove(b->d,
		    json_str(v->u.array.values[i], "Id", NULL), 1,
		    docker_sync_cb, &r);
		docker_sync_wait(b->d, &r);
	}
	yajl_tree_free(v);
	docker_sync_reset(&r);
}

/* Count running warm containers of a request's pool key. */
static int
count_warm(struct bench *b, const struct isol8_request *req)
{
	yajl_val v = list_warm(b, req, 1);
	int n = YAJL_IS_ARRAY(v) ? (int)v->u.array.len : 0;

	yajl_tree_free(v);
	return n;
}

/* A running container of the runtime's image, for the exec baselines. */
static char *
baseline_container(struct bench *b, const char *runtime)
{
	static const char *cmd[] = { "sleep", "infinity", NULL };
	static const char *labels[] = { LABEL_MANAGED, "true", LABEL_KIND,
		"bench", NULL };
	struct docker_create c = { 0 };
	struct docker_sync cr = { 0 }, st = { 0 };
	char *image = runtime_image(runtime), *id = NULL;
	yajl_val v;

	c.image = image;
	c.cmd = cmd;
	c.labels = labels;
	c.network_mode = "none";
	c.auto_remove = 1;
	docker_container_create(b->d, &c, docker_sync_cb, &cr);
	docker_sync_wait(b->d, &cr);
	if (cr.err == NULL &&
	    (v = json_parse(cr.body.data, cr.body.len, NULL)) != NULL) {
		id = xstrdup(json_str(v, "Id", NULL));
		yajl_tree_free(v);
		docker_container_start(b->d, id, docker_sync_cb, &st);
		docker_sync_wait(b->d, &st);
	}
	free(image);
	docker_sync_reset(&cr);
	docker_sync_reset(&st);
	return id;
}

static void
discard_output(int stream, const char *data, size_t len, void *arg)
{
	(void)stream;
	(void)data;
	(void)len;
	(void)arg;
}

/* exec create + start (read to EOF) + inspect, through the API. */
static double
api_exec(struct bench *b, const char *id, const struct bench_prog *p)
{
	struct docker_sync c = { 0 }, s = { 0 }, i = { 0 };
	const char *argv[4] = { p->argv[0], p->argv[1], p->argv[2], NULL };
	char *eid = NULL;
	long long code = -1;
	uint64_t t0 = now_us();
	yajl_val v;
	double ms = -1;

	docker_exec_create(b->d, id, argv, "1000", docker_sync_cb, &c);
	docker_sync_wait(b->d, &c);
	if (c.err == NULL &&
	    (v = json_parse(c.body.data, c.body.len, NULL)) != NULL) {
		eid = xstrdup(json_str(v, "Id", NULL));
		yajl_tree_free(v);
		docker_exec_start(
		    b->d, eid, discard_output, docker_sync_cb, &s);
		docker_sync_wait(b->d, &s);
		docker_exec_inspect(b->d, eid, docker_sync_cb, &i);
		docker_sync_wait(b->d, &i);
		if (i.err == NULL &&
		    (v = json_parse(i.body.data, i.body.len, NULL)) != NULL) {
			json_int(v, &code, "ExitCode", NULL);
			yajl_tree_free(v);
		}
		if (code == 0)
			ms = ms_since(t0);
	}
	free(eid);
	docker_sync_reset(&c);
	docker_sync_reset(&s);
	docker_sync_reset(&i);
	return ms;
}

/* Run a command, output discarded; its wall time (ms) or -1. */
static double
spawn_time(const char *const *cargv)
{
	union {
		const char *const *c;
		char *const *m;
	} u = { cargv };
	char *const *argv = u.m; /* posix_spawn's type; never written */
	posix_spawn_file_actions_t fa;
	uint64_t t0;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	t0 = now_us();
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return ms_since(t0);
}

/* ---- measurements ---- */

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

static void
measure_runtime(struct bench *b, struct rt_result *rr, const char *self)
{
	const struct bench_prog *p = rr->prog;
	struct isol8_request req;
	const char *argv[12];
	char *id, *image, session[32];
	double ms, ttfb;
	int i, cold_n = b->samples < 5 ? b->samples : 5;
	char *code = xstrdup(p->code), *rt = xstrdup(p->runtime);

	request_for(p, &req);

	/* Cold: no warm container of this key, no pool. */
	b->e = bench_engine(b, 0, 1, 0);
	for (i = 0; b->e != NULL && i < cold_n; i++) {
		clear_warm(b, &req);
		ms = lib_run(b, p, NULL, NULL);
		if (ms < 0)
			rr->m[M_COLD].errors++;
		else
			stats_add(&rr->m[M_COLD], ms);
		settle(b);
	}
	cli_engine_free(b->base, b->e, CLI_DRAIN_MS);

	/* Warm, library: a local pool, back at its target each time. */
	b->e = bench_engine(b, 2, 1, 0);
	if (b->e != NULL)
		isol8_engine_prewarm(b->e, &req, NULL);
	for (i = 0; b->e != NULL && i < b->samples + 2; i++) {
		settle(b);
		ms = lib_run(b, p, NULL, &ttfb);
		if (i < 2)
			continue; /* the first runs warm the interpreter's files */
		if (ms < 0) {
			rr->m[M_WARM].errors++;
			continue;
		}
		stats_add(&rr->m[M_WARM], ms);
		stats_add(&rr->m[M_TTFB], ttfb);
	}

	/* In a session: its kernel (python, node, bun, bash) once started. */
	snprintf(session, sizeof session, "bench-%d", (int)getpid());
	for (i = 0; b->e != NULL && i < b->samples + 2; i++) {
		ms = lib_run(b, p, session, NULL);
		if (i < 2)
			continue; /* the session and its interpreter start */
		if (ms < 0)
			rr->m[M_SESSION].errors++;
		else
			stats_add(&rr->m[M_SESSION], ms);
	}
	if (b->e != NULL) {
		cli_engine_free(b->base, b->e, CLI_DRAIN_MS);
		session_remove(session);
	}

	/*
	 * End to end: a fresh `isol8 run` per sample, with the shared pool
	 * back at its target (2) so that no refill competes for the CPU.
	 */
	argv[0] = self;
	argv[1] = "run";
	argv[2] = "-q";
	argv[3] = "-r";
	argv[4] = rt;
	argv[5] = "-e";
	argv[6] = code;
	argv[7] = NULL;
	spawn_time(argv); /* two runs make the key hot: two warm ones */
	spawn_time(argv);
	for (i = 0; i < b->samples; i++) {
		uint64_t until = now_ms() + 5000;

		while (count_warm(b, &req) < 2 && now_ms() < until)
			bench_pause(b, 10);
		ms = spawn_time(argv);
		if (ms < 0)
			rr->m[M_CLI].errors++;
		else
			stats_add(&rr->m[M_CLI], ms);
	}

	/* Baselines on one running container of the same image. */
	if ((id = baseline_container(b, p->runtime)) != NULL) {
		for (i = 0; i < b->samples + 2; i++) {
			ms = api_exec(b, id, p);
			if (i < 2)
				continue;
			if (ms < 0)
				rr->m[M_API_EXEC].errors++;
			else
				stats_add(&rr->m[M_API_EXEC], ms);
		}
		argv[0] = DOCKER_CLI;
		argv[1] = "exec";
		argv[2] = "-u";
		argv[3] = "1000";
		argv[4] = id;
		argv[5] = p->argv[0];
		argv[6] = p->argv[1];
		argv[7] = p->argv[2];
		argv[8] = NULL;
		for (i = 0; i < b->samples; i++) {
			ms = spawn_time(argv);
			if (ms < 0)
				rr->m[M_DOCKER_EXEC].errors++;
			else
				stats_add(&rr->m[M_DOCKER_EXEC], ms);
		}
		{
			struct docker_sync c = { 0 };

			docker_container_remove(
			    b->d, id, 1, docker_sync_cb, &c);
			docker_sync_wait(b->d, &c);
			docker_sync_reset(&c);
		}
		free(id);
	}
	argv[0] = DOCKER_CLI;
	argv[1] = "run";
	argv[2] = "--rm";
	argv[3] = "--network";
	argv[4] = "none";
	argv[5] = "-u";
	argv[6] = "1000";
	argv[7] = image = runtime_image(p->runtime);
	argv[8] = p->argv[0];
	argv[9] = p->argv[1];
	argv[10] = p->argv[2];
	argv[11] = NULL;
	for (i = 0; i < cold_n; i++) {
		ms = spawn_time(argv);
		if (ms < 0)
			rr->m[M_DOCKER_RUN].errors++;
		else
			stats_add(&rr->m[M_DOCKER_RUN], ms);
	}
	free(image);
	free(code);
	free(rt);
}

/*
 * Jobs/s with exactly `conc` runs in flight (closed loop: a job starts when
 * one ends), python hello world; each job is timed from its own start.
 */
static void
measure_throughput(struct bench *b, struct tp_result *t)
{
	const struct bench_prog *p = &progs[0];
	struct isol8_request req;
	struct isol8_error err;
	struct one *o;
	uint64_t t0;
	int i, next = 0, finished = 0, inflight = 0;

	t->jobs = (int)(t->conc * 4 > 40 ? t->conc * 4 : 40);
	o = xcalloc((size_t)t->jobs, sizeof *o);
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
	if (b->e == NULL) {
		free(o);
		return;
	}
	request_for(p, &req);
	isol8_engine_prewarm(b->e, &req, NULL);
	settle(b);
	t0 = now_us();
	while (finished < t->jobs) {
		while (inflight < (int)t->conc && next < t->jobs) {
			o[next].t0 = now_us();
			o[next].ttfb = -1;
			if (isol8_run_start(
			        b->e, &req, &one_cbs, &o[next], &err) == NULL)
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
	t->wall_ms = ms_since(t0);
	for (i = 0; i < t->jobs; i++) {
		if (o[i].failed || o[i].exit_code != 0)
			t->lat.errors++;
		else
			stats_add(&t->lat, o[i].total);
	}
	cli_engine_free(b->base, b->e, CLI_DRAIN_MS);
	b->e = NULL;
	free(o);
}

/* ---- reporting ---- */

static void
json_stats(struct buf *o, const char *name, struct stats *s)
{
	buf_printf(
	    o, "\"%s\":{\"n\":%zu,\"errors\":%d", name, s->h.n, s->errors);
	if (s->h.n > 0)
		buf_printf(o,
		    ",\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
		    "\"max\":%.2f",
		    pct(s, 50), pct(s, 90), pct(s, 99), pct(s, 100));
	buf_addstr(o, "}");
}

static void
print_json(
    struct rt_result *rr, int nrt, struct tp_result *tp, int ntp, long rss_kb)
{
	struct buf o = { 0 };
	int i, m;

	buf_printf(&o, "{\"version\":\"%s\",\"cores\":%ld,\"runtimes\":{",
	    isol8_version(), sysconf(_SC_NPROCESSORS_ONLN));
	for (i = 0; i < nrt; i++) {
		buf_printf(&o, "%s\"%s\":{", i ? "," : "", rr[i].prog->runtime);
		for (m = 0; m < M_COUNT; m++) {
			if (m)
				buf_addstr(&o, ",");
			json_stats(&o, measure_names[m], &rr[i].m[m]);
		}
		buf_addstr(&o, "}");
	}
	buf_addstr(&o, "},\"throughput\":[");
	for (i = 0; i < ntp; i++) {
		buf_printf(&o,
		    "%s{\"concurrency\":%u,\"reuse\":%s,"
		    "\"jobs\":%d,\"wall_ms\":%.1f,\"jobs_per_s\":%.2f,",
		    i ? "," : "", tp[i].conc, tp[i].reuse ? "true" : "false",
		    tp[i].jobs, tp[i].wall_ms,
		    tp[i].wall_ms > 0 ? tp[i].jobs * 1000.0 / tp[i].wall_ms
		                      : 0);
		json_stats(&o, "latency", &tp[i].lat);
		buf_addstr(&o, "}");
	}
	buf_printf(&o, "],\"peak_rss_kb\":%ld}\n", rss_kb);
	fputs(o.data, stdout);
	buf_free(&o);
}

static void
print_table(
    struct rt_result *rr, int nrt, struct tp_result *tp, int ntp, long rss_kb)
{
	double base, v;
	int i, m;

	printf("%-7s %-26s %8s %8s %8s %8s  %s\n", "runtime", "measure",
	    "p50 ms", "p90", "p99", "max", "p50 vs exec via API");
	for (i = 0; i < nrt; i++) {
		base = pct(&rr[i].m[M_API_EXEC], 50);
		for (m = 0; m < M_COUNT; m++) {
			struct stats *s = &rr[i].m[m];

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
	for (i = 0; i < ntp; i++)
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

static int
cmd_bench(int argc, char **argv)
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
	static const unsigned default_conc[] = { 1, 4, 16, 32, 64 };
	struct rt_result rr[BENCH_MAX_RUNTIMES];
	struct tp_result tp[BENCH_MAX_TP];
	unsigned conc[BENCH_MAX_CONC];
	int nconc = 0;
	struct bench b;
	struct rusage ru;
	char self[4096];
	const char *want[BENCH_MAX_RUNTIMES];
	int nwant = 0, nrt = 0, ntp = 0, i, k, c, rc = 0, no_tp = 0;
	uint64_t u;
	ssize_t n;

	memset(&b, 0, sizeof b);
	memset(rr, 0, sizeof rr);
	memset(tp, 0, sizeof tp);
	b.samples = 20;
	b.max_p50 = 100;
	while ((c = getopt_long(argc, argv, "r:n:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!isol8_runtime_known(optarg)) {
				cli_error("unknown runtime `%s`", optarg);
				return EXIT_USAGE;
			}
			if (nwant < BENCH_MAX_RUNTIMES)
				want[nwant++] = optarg;
			break;
		case 'n':
			if (strcmp(optarg, "0") == 0) {
				b.samples = 0; /* throughput only */
				break;
			}
			if (cli_uint("-n", optarg, 10000, &u) == -1)
				return EXIT_USAGE;
			b.samples = (int)u;
			break;
		case 'c':
			if (strcmp(optarg, "0") == 0) {
				no_tp = 1;
				break;
			}
			if (cli_uint("--concurrency", optarg, 256, &u) == -1)
				return EXIT_USAGE;
			if (nconc < BENCH_MAX_CONC)
				conc[nconc++] = (unsigned)u;
			break;
		case 'j':
			b.json = 1;
			break;
		case 'k':
			b.check = 1;
			break;
		case 'm':
			if (cli_uint("--max-p50", optarg, 100000, &u) == -1)
				return EXIT_USAGE;
			b.max_p50 = (double)u;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (nconc == 0)
		for (i = 0; i < (int)nitems(default_conc); i++)
			conc[nconc++] = default_conc[i];
	/* Each concurrency one-use, then with scrubbed reuse. */
	for (i = 0; !no_tp && i < nconc; i++) {
		tp[ntp].conc = conc[i];
		tp[ntp++].reuse = 0;
		tp[ntp].conc = conc[i];
		tp[ntp++].reuse = 1;
	}
	for (i = 0; i < (int)nitems(progs); i++) {
		for (k = 0; k < nwant; k++)
			if (strcmp(want[k], progs[i].runtime) == 0)
				break;
		if (nwant == 0 || k < nwant)
			rr[nrt++].prog = &progs[i];
	}
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0) {
		cli_error("bench: cannot find the isol8 binary");
		return EXIT_INTERNAL;
	}
	self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	b.base = event_base_new();
	b.loop = loop_new(NULL, NULL, NULL);
	if ((b.d = docker_new(b.loop, NULL, NULL)) == NULL) {
		cli_error("bench: unsupported DOCKER_HOST");
		return EXIT_USAGE;
	}
	for (i = 0; i < nrt; i++) {
		if (!b.json)
			fprintf(
			    stderr, "measuring %s...\n", rr[i].prog->runtime);
		measure_runtime(&b, &rr[i], self);
	}
	for (i = 0; i < ntp; i++) {
		if (!b.json)
			fprintf(stderr, "throughput at %u in flight%s...\n",
			    tp[i].conc, tp[i].reuse ? ", reuse" : "");
		measure_throughput(&b, &tp[i]);
	}
	getrusage(RUSAGE_SELF, &ru);
	if (b.json)
		print_json(rr, nrt, tp, ntp, ru.ru_maxrss);
	else
		print_table(rr, nrt, tp, ntp, ru.ru_maxrss);
	for (i = 0; i < nrt; i++) {
		double p50 = pct(&rr[i].m[M_WARM], 50);

		if (b.samples == 0)
			;
		else if (p50 < 0) {
			cli_error("bench: %s: no successful warm run",
			    rr[i].prog->runtime);
			rc = 1;
		} else if (b.check && p50 > b.max_p50) {
			cli_error("bench --check: %s warm p50 is %.1f ms, over "
			          "%.0f ms",
			    rr[i].prog->runtime, p50, b.max_p50);
			rc = 1;
		}
	}
	docker_free(b.d);
	event_base_loop(loop_base(b.loop), EVLOOP_NONBLOCK);
	loop_free(b.loop);
	event_base_free(b.base);
	return rc;
}

const struct cli_cmd cmd_bench_entry = { "bench",
	"measure latency and throughput against baselines", cmd_bench };
