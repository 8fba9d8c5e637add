/*
 * GET /metrics: what the server counts, as Prometheus text (version
 * 0.0.4). Runs by runtime and outcome, a latency histogram (start to
 * result, seconds), runs in flight and requests waiting, warm containers
 * per pool key (the engine's), Docker errors (runs that failed because
 * dockerd refused, was away or lacked an image), HTTP answers by class,
 * open connections, clients gone, slow clients cut off, 429s.
 */
#include <string.h>

#include "server.h"

static const char *const runtimes[5] = { "python", "node", "bun", "deno",
	"bash" };
static const char *const outcomes[OUT_COUNT] = { "ok", "nonzero", "timeout",
	"oom", "truncated", "error", "cancelled" };
/* Bucket bounds in ms: a warm run is ~10-30 ms, a timeout up to a day. */
static const uint64_t bounds_ms[METRIC_BUCKETS] = { 5, 10, 25, 50, 100, 250,
	500, 1000, 2500, 5000, 10000, 30000, 60000, 300000 };

static int
runtime_index(const char *rt)
{
	size_t i;

	for (i = 0; rt != NULL && i < nitems(runtimes); i++)
		if (strcmp(rt, runtimes[i]) == 0)
			return (int)i;
	return 0;
}

/* A run ended: its outcome, and its latency when it ran. */
void
metrics_run(struct server_metrics *m, const char *runtime,
    const struct isol8_result *r, const struct isol8_error *e)
{
	enum metric_outcome o;
	size_t i;

	if (e != NULL)
		o = e->code == ISOL8_ECANCELLED ? OUT_CANCELLED : OUT_ERROR;
	else if (r->timed_out)
		o = OUT_TIMEOUT;
	else if (r->oom_killed)
		o = OUT_OOM;
	else if (r->truncated)
		o = OUT_TRUNCATED;
	else
		o = r->exit_code == 0 ? OUT_OK : OUT_NONZERO;
	m->runs[runtime_index(runtime)][o]++;
	if (e != NULL &&
	    (e->code == ISOL8_EDOCKER || e->code == ISOL8_EUNAVAILABLE ||
	        e->code == ISOL8_ENOIMAGE))
		m->docker_errors++;
	if (e != NULL)
		return;
	for (i = 0; i < METRIC_BUCKETS && r->total_ms > bounds_ms[i]; i++)
		;
	m->lat_buckets[i]++;
	m->lat_sum += (double)r->total_ms / 1000.0;
	m->lat_count++;
}

static void
metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_runs(const struct server_metrics *m, struct buf *b)
{
	uint64_t cum = 0;
	size_t i, j;

	metric_head(
	    b, "isol8_runs_total", "counter", "Runs by runtime and outcome.");
	for (i = 0; i < nitems(runtimes); i++)
		for (j = 0; j < OUT_COUNT; j++)
			buf_printf(b,
			    "isol8_runs_total{runtime=\"%s\",outcome=\"%s\"} %llu\n",
			    runtimes[i], outcomes[j],
			    (unsigned long long)m->runs[i][j]);
	metric_head(b, "isol8_run_duration_seconds", "histogram",
	    "Runs from start to result (runs that ran).");
	for (i = 0; i < METRIC_BUCKETS; i++) {
		cum += m->lat_buckets[i];
		buf_printf(b,
		    "isol8_run_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    (double)bounds_ms[i] / 1000.0, (unsigned long long)cum);
	}
	buf_printf(b, "isol8_run_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)m->lat_count);
	buf_printf(b, "isol8_run_duration_seconds_sum %.3f\n", m->lat_sum);
	buf_printf(b, "isol8_run_duration_seconds_count %llu\n",
	    (unsigned long long)m->lat_count);
}

/* The engine's warm containers, per pool key. */
static void
metrics_pool(struct server *s, struct buf *b)
{
	struct isol8_pool_stat st[64];
	size_t n, i;

	metric_head(b, "isol8_warm_containers", "gauge",
	    "Warm containers ready, per pool key.");
	n = isol8_engine_pool_stats(s->e, st, nitems(st));
	for (i = 0; i < n && i < nitems(st); i++)
		buf_printf(b,
		    "isol8_warm_containers{pool=\"%s\",image=\"%s\"} %u\n",
		    st[i].key, st[i].image, st[i].ready);
}

void
metrics_write(struct server *s, struct buf *b)
{
	const struct server_metrics *m = &s->m;
	static const char *const classes[6] = { "other", "1xx", "2xx", "3xx",
		"4xx", "5xx" };
	size_t i;

	metrics_runs(m, b);
	metric_head(b, "isol8_runs_in_flight", "gauge", "Runs in flight.");
	buf_printf(b, "isol8_runs_in_flight %u\n", s->inflight);
	metric_head(b, "isol8_queue_length", "gauge",
	    "Requests waiting for a run slot.");
	buf_printf(b, "isol8_queue_length %u\n", s->nwaiting);
	metrics_pool(s, b);
	metric_head(b, "isol8_docker_errors_total", "counter",
	    "Runs that failed in Docker (refused, unreachable, no image).");
	buf_printf(b, "isol8_docker_errors_total %llu\n",
	    (unsigned long long)m->docker_errors);
	metric_head(b, "isol8_http_responses_total", "counter",
	    "Answers by status class.");
	for (i = 0; i < 6; i++)
		buf_printf(b, "isol8_http_responses_total{code=\"%s\"} %llu\n",
		    classes[i], (unsigned long long)m->requests[i]);
	metric_head(b, "isol8_http_connections", "gauge", "Open connections.");
	buf_printf(b, "isol8_http_connections %u\n", s->nconns);
	metric_head(b, "isol8_rejected_total", "counter",
	    "Requests answered 429: the queue was full.");
	buf_printf(b, "isol8_rejected_total %llu\n",
	    (unsigned long long)m->rejected_queue_full);
	metric_head(b, "isol8_clients_gone_total", "counter",
	    "Requests whose client went away before the answer.");
	buf_printf(b, "isol8_clients_gone_total %llu\n",
	    (unsigned long long)m->client_gone);
	metric_head(b, "isol8_slow_clients_total", "counter",
	    "Connections cut off: a request took over server.requestTimeoutMs.");
	buf_printf(b, "isol8_slow_clients_total %llu\n",
	    (unsigned long long)m->slow_clients);
}
