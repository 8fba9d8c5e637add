/*
 * Results as JSON (api.h): the object of `isol8 run --json` (API_RUN) and
 * of a batch result line (API_JOB), through yajl_gen.
 * Both shapes are documented (docs/cli.md, docs/batch.md, docs/api.md) and
 * read by programs, so their field names, types and order are fixed here,
 * in one place; the strings go through json.c's UTF-8 repair, so any bytes
 * the sandbox wrote give valid JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../util/util.h"

static void
gen_flags(yajl_gen g, const struct isol8_result *r)
{
	json_kbool(g, "timedOut", r->timed_out);
	json_kbool(g, "oomKilled", r->oom_killed);
	json_kbool(g, "truncated", r->truncated);
}

/* A port as the number it is; anything else stays a string. */
static void
gen_port(yajl_gen g, const char *port)
{
	size_t n = port != NULL ? strlen(port) : 0;

	json_key(g, "port");
	if (n > 0 && n <= 5 && strspn(port, "0123456789") == n)
		yajl_gen_number(g, port, n);
	else
		json_str_add(g, port != NULL ? port : "");
}

/* The filtered network's decisions; the ones not kept are counted. */
static void
gen_network(yajl_gen g, const struct isol8_result *r)
{
	const struct isol8_net_event *ev;
	size_t i;

	yajl_gen_array_open(g);
	for (i = 0; i < r->net_events_len; i++) {
		ev = &r->net_events[i];
		yajl_gen_map_open(g);
		json_kstr_or_null(g, "method", ev->method);
		json_kstr_or_null(g, "host", ev->host);
		gen_port(g, ev->port);
		json_kstr(g, "action", ev->allowed ? "allow" : "block");
		if (ev->reason != NULL)
			json_kstr(g, "reason", ev->reason);
		if (ev->install)
			json_kstr(g, "phase", "install");
		yajl_gen_map_close(g);
	}
	if (r->net_events_dropped > 0) {
		yajl_gen_map_open(g);
		json_kuint(g, "dropped", r->net_events_dropped);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* The files read back: by the path asked for, data or why not. */
static void
gen_outputs(yajl_gen g, const struct api_result *a)
{
	const struct isol8_output_file *f;
	struct buf b64 = { 0 };
	size_t i;

	json_key(g, "outputs");
	yajl_gen_map_open(g);
	for (i = 0; i < a->res->outputs_len; i++) {
		f = &a->res->outputs[i];
		json_key(g, a->outputs[i]);
		yajl_gen_map_open(g);
		if (f->error != NULL)
			json_kstr(g, "error", f->error);
		else {
			buf_drain(&b64, b64.len);
			base64_encode(&b64, f->data, f->len);
			json_kstrn(
			    g, "base64", b64.data ? b64.data : "", b64.len);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	buf_free(&b64);
}

/* `isol8 run --json` (docs/cli.md); a run that did not run: its error. */
static void
gen_run(yajl_gen g, const struct api_result *a)
{
	const struct isol8_result *r = a->res;

	yajl_gen_map_open(g);
	if (r != NULL) {
		json_kstr(g, "runtime", a->runtime != NULL ? a->runtime : "");
		if (!a->no_output) {
			json_kstrn(
			    g, "stdout", a->out ? a->out : "", a->out_len);
			json_kstrn(
			    g, "stderr", a->err ? a->err : "", a->err_len);
		}
		json_kint(g, "exitCode", r->exit_code);
		json_kint(g, "signal", r->signal);
		gen_flags(g, r);
		json_kbool(g, "stateLost", r->state_lost != ISOL8_STATE_KEPT);
		if (r->state_lost == ISOL8_STATE_FRESH)
			json_kbool(g, "stateFresh", 1);
		json_kuint(g, "durationMs", r->run_ms);
		json_kuint(g, "totalMs", r->total_ms);
		json_kuint(g, "queuedMs", r->queued_ms);
		json_kuint(g, "installMs", r->install_ms);
		json_kuint(g, "cpuMs", r->cpu_ms);
		json_kuint(g, "peakRssKb", r->peak_rss_kb);
		json_kuint(g, "stdoutBytes", r->stdout_bytes);
		json_kuint(g, "stderrBytes", r->stderr_bytes);
		json_kstr(g, "containerId",
		    r->container_id != NULL ? r->container_id : "");
		if (r->net_events_len > 0 || r->net_events_dropped > 0) {
			json_key(g, "network");
			gen_network(g, r);
		}
		if (a->outputs != NULL && r->outputs_len > 0)
			gen_outputs(g, a);
	}
	json_kstr_or_null(g, "error", a->error);
	if (a->error != NULL) {
		json_kstr(g, "errorCode",
		    isol8_code_name(
		        a->code != ISOL8_OK ? a->code : ISOL8_EINTERNAL));
		if (r != NULL && r->may_have_run)
			json_kbool(g, "mayHaveRun", 1);
	}
	yajl_gen_map_close(g);
}

/* A batch result line (docs/batch.md "Results"). */
static void
gen_job(yajl_gen g, const struct api_result *a)
{
	const struct isol8_result *r = a->res;

	yajl_gen_map_open(g);
	json_kstr(g, "id", a->id != NULL ? a->id : "");
	json_kint(g, "line", a->line);
	if (a->error != NULL || r == NULL) {
		/* It could not run, or not to its end. */
		if (a->retried)
			json_kbool(g, "retried", 1);
		if (a->may_have_run)
			json_kbool(g, "mayHaveRun", 1);
		json_kstr(g, "error", a->error != NULL ? a->error : "");
		yajl_gen_map_close(g);
		return;
	}
	json_kint(g, "exitCode", r->exit_code);
	json_kint(g, "signal", r->signal);
	json_kstrn(g, "stdout", a->out ? a->out : "", a->out_len);
	json_kstrn(g, "stderr", a->err ? a->err : "", a->err_len);
	gen_flags(g, r);
	json_key(g, "durations");
	yajl_gen_map_open(g);
	json_kuint(g, "queuedMs", r->queued_ms);
	json_kuint(g, "installMs", r->install_ms);
	json_kuint(g, "runMs", r->run_ms);
	json_kuint(g, "totalMs", r->total_ms);
	yajl_gen_map_close(g);
	json_key(g, "resources");
	yajl_gen_map_open(g);
	json_kuint(g, "cpuMs", r->cpu_ms);
	json_kuint(g, "peakRssKb", r->peak_rss_kb);
	yajl_gen_map_close(g);
	if (r->container_id != NULL)
		json_kstr(g, "containerId", r->container_id);
	if (a->outputs != NULL && r->outputs_len > 0)
		gen_outputs(g, a);
	/* Its first run lost its sandbox and may have run in part. */
	if (a->retried)
		json_kbool(g, "retried", 1);
	json_kstr_or_null(g, "error", NULL);
	yajl_gen_map_close(g);
}

void
api_result_write(
    enum api_shape shape, const struct api_result *a, struct buf *b)
{
	yajl_gen g = json_gen_new();

	if (shape == API_RUN)
		gen_run(g, a);
	else
		gen_job(g, a);
	json_gen_take(g, b);
}

/* One session of a list, as `session ls --json` and GET /sessions show
 * it, under name (the one its client knows). */
void
api_session_write(
    yajl_gen g, const struct isol8_session_info *s, const char *name)
{
	yajl_gen_map_open(g);
	json_kstr(g, "name", name);
	json_kstr(g, "image", s->image);
	json_kstr(g, "status", s->status);
	json_kint(g, "created", s->created);
	json_kuint(g, "memory", s->memory);
	yajl_gen_map_close(g);
}

void
api_network_write(const struct isol8_result *r, struct buf *b)
{
	yajl_gen g = json_gen_new();

	gen_network(g, r);
	json_gen_take(g, b);
}
