/*
 * Results as JSON (api.h): the object of `isol8 run --json` (API_RUN) and
 * of a batch result line (API_JOB), through yajl_gen, and an API_RUN
 * object read back (api_result_read: the remote engine's `exit` event).
 * Both shapes are documented (docs/cli.md, docs/batch.md, docs/api.md) and
 * read by programs, so their field names, types and order are fixed here,
 * in one place; the strings go through json.c's UTF-8 repair, so any bytes
 * the sandbox wrote give valid JSON. Reading is bounded like any JSON
 * (json_parse) and by the public limits (outputs, network events).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../util/util.h"

#define API_MAX_NET_EVENTS 256 /* isol8.h: at most 256 kept */

static const char *const code_names[] = {
	[ISOL8_OK] = "ok",
	[ISOL8_EINVAL] = "invalid",
	[ISOL8_EUNAVAILABLE] = "unavailable",
	[ISOL8_EDOCKER] = "docker",
	[ISOL8_ENOIMAGE] = "noimage",
	[ISOL8_EAGENT] = "agent",
	[ISOL8_ECANCELLED] = "cancelled",
	[ISOL8_ETIMEOUT] = "timeout",
	[ISOL8_ELIMIT] = "limit",
	[ISOL8_ENOTFOUND] = "notfound",
	[ISOL8_EINTERNAL] = "internal",
	[ISOL8_ELOST] = "lost",
};

const char *
api_code_name(enum isol8_code c)
{
	if ((size_t)c >= nitems(code_names) || code_names[c] == NULL)
		return "internal";
	return code_names[c];
}

int
api_code_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < nitems(code_names); i++)
		if (code_names[i] != NULL && strcmp(code_names[i], name) == 0)
			return (int)i;
	return -1;
}

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
		    api_code_name(
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

void
api_network_write(const struct isol8_result *r, struct buf *b)
{
	yajl_gen g = json_gen_new();

	gen_network(g, r);
	json_gen_take(g, b);
}

static uint64_t
read_uint(yajl_val root, const char *key)
{
	long long v;

	return json_int(root, &v, key, NULL) == 0 && v > 0 ? (uint64_t)v : 0;
}

/* "outputs": {path: {"base64": ...} | {"error": ...}}, decoded. */
static int
read_outputs(yajl_val o, struct api_result_doc *d, struct err **errp)
{
	struct isol8_output_file *f;
	struct buf data;
	const char *b64, *why;
	size_t i;

	if (o == NULL)
		return 0;
	if (!YAJL_IS_OBJECT(o) || o->u.object.len > ISOL8_MAX_OUTPUTS)
		return err_set(errp, ERR_PROTO, "`outputs` is not a result's");
	d->outputs = xcalloc(o->u.object.len + 1, sizeof *d->outputs);
	d->output_paths = xcalloc(o->u.object.len + 1, sizeof *d->output_paths);
	for (i = 0; i < o->u.object.len; i++) {
		f = &d->outputs[i];
		d->output_paths[i] = xstrdup(o->u.object.keys[i]);
		f->path = d->output_paths[i];
		d->res.outputs_len = i + 1;
		why = json_str(o->u.object.values[i], "error", NULL);
		b64 = json_str(o->u.object.values[i], "base64", NULL);
		if (why != NULL) {
			f->error = xstrdup(why);
			continue;
		}
		buf_init(&data);
		if (b64 == NULL ||
		    base64_decode(&data, b64, strlen(b64)) == -1)
			return err_set(errp, ERR_PROTO,
			    "output `%.64s` is not base64", f->path);
		f->data = data.data != NULL ? data.data : xstrdup("");
		f->len = data.len;
	}
	d->res.outputs = d->outputs;
	return 0;
}

/* A string member, or "" when it is absent. */
static const char *
str_or_empty(yajl_val v, const char *key)
{
	const char *s = json_str(v, key, NULL);

	return s != NULL ? s : "";
}

/* "network": the filtered network's decisions (and a dropped count). */
static int
read_network(yajl_val a, struct api_result_doc *d, struct err **errp)
{
	struct isol8_net_event *ev;
	yajl_val v, port;
	long long n;
	size_t i;

	if (a == NULL)
		return 0;
	if (!YAJL_IS_ARRAY(a) || a->u.array.len > API_MAX_NET_EVENTS + 1)
		return err_set(errp, ERR_PROTO, "`network` is not a result's");
	d->net = xcalloc(a->u.array.len + 1, sizeof *d->net);
	for (i = 0; i < a->u.array.len; i++) {
		v = a->u.array.values[i];
		if (json_int(v, &n, "dropped", NULL) == 0) {
			d->res.net_events_dropped = n > 0 ? (uint64_t)n : 0;
			continue;
		}
		ev = &d->net[d->res.net_events_len++];
		ev->method = xstrdup(str_or_empty(v, "method"));
		ev->host = xstrdup(str_or_empty(v, "host"));
		port = json_get(v, "port", NULL);
		ev->port = YAJL_IS_NUMBER(port) && port->u.number.r != NULL
		    ? xstrdup(port->u.number.r)
		    : xstrdup(str_or_empty(v, "port"));
		ev->allowed = strcmp(str_or_empty(v, "action"), "allow") == 0;
		if (json_str(v, "reason", NULL) != NULL)
			ev->reason = xstrdup(json_str(v, "reason", NULL));
	}
	d->res.net_events = d->net;
	return 0;
}

/* The program's result fields of an API_RUN object. */
static void
read_run(yajl_val root, struct api_result_doc *d)
{
	struct isol8_result *r = &d->res;
	long long v;

	d->ran = json_int(root, &v, "exitCode", NULL) == 0;
	r->exit_code = d->ran ? (int)v : 0;
	r->signal = json_int(root, &v, "signal", NULL) == 0 ? (int)v : 0;
	r->timed_out = json_bool(root, "timedOut", NULL) == 1;
	r->oom_killed = json_bool(root, "oomKilled", NULL) == 1;
	r->truncated = json_bool(root, "truncated", NULL) == 1;
	r->state_lost = json_bool(root, "stateFresh", NULL) == 1
	    ? ISOL8_STATE_FRESH
	    : json_bool(root, "stateLost", NULL) == 1 ? ISOL8_STATE_LOST
	                                              : ISOL8_STATE_KEPT;
	r->run_ms = read_uint(root, "durationMs");
	r->total_ms = read_uint(root, "totalMs");
	r->queued_ms = read_uint(root, "queuedMs");
	r->cpu_ms = read_uint(root, "cpuMs");
	r->peak_rss_kb = read_uint(root, "peakRssKb");
	r->stdout_bytes = read_uint(root, "stdoutBytes");
	r->stderr_bytes = read_uint(root, "stderrBytes");
	r->may_have_run = json_bool(root, "mayHaveRun", NULL) == 1;
}

int
api_result_read(const char *text, size_t len, struct api_result_doc *d,
    struct err **errp)
{
	cleanup_yajl yajl_val root = NULL;
	const char *s;
	yajl_val v;
	int code;

	memset(d, 0, sizeof *d);
	if ((root = json_parse(text, len, errp)) == NULL)
		return -1;
	if (!YAJL_IS_OBJECT(root))
		return err_set(errp, ERR_PROTO, "a result must be an object");
	read_run(root, d);
	if ((s = json_str(root, "runtime", NULL)) != NULL)
		d->runtime = xstrdup(s);
	if ((s = json_str(root, "containerId", NULL)) != NULL && *s != '\0')
		d->res.container_id = d->container_id = xstrdup(s);
	if ((v = json_get(root, "stdout", NULL)) != NULL && YAJL_IS_STRING(v))
		buf_addstr(&d->out, v->u.string);
	if ((v = json_get(root, "stderr", NULL)) != NULL && YAJL_IS_STRING(v))
		buf_addstr(&d->err, v->u.string);
	if ((s = json_str(root, "error", NULL)) != NULL) {
		d->error = xstrdup(s);
		code = api_code_parse(json_str(root, "errorCode", NULL));
		d->code = code > 0 ? (enum isol8_code)code : ISOL8_EINTERNAL;
	} else if (!d->ran)
		return err_set(errp, ERR_PROTO,
		    "a result without an exit code or an error");
	if (read_outputs(json_get(root, "outputs", NULL), d, errp) == -1 ||
	    read_network(json_get(root, "network", NULL), d, errp) == -1)
		return -1;
	return 0;
}

void
api_result_doc_free(struct api_result_doc *d)
{
	size_t i;

	free(d->error);
	free(d->runtime);
	free(d->container_id);
	buf_free(&d->out);
	buf_free(&d->err);
	for (i = 0; d->outputs != NULL && i < d->res.outputs_len; i++) {
		free(d->output_paths[i]);
		free((char *)(uintptr_t)d->outputs[i].data);
		free((char *)(uintptr_t)d->outputs[i].error);
	}
	free(d->outputs);
	free(d->output_paths);
	for (i = 0; d->net != NULL && i < d->res.net_events_len; i++) {
		free((char *)(uintptr_t)d->net[i].method);
		free((char *)(uintptr_t)d->net[i].host);
		free((char *)(uintptr_t)d->net[i].port);
		free((char *)(uintptr_t)d->net[i].reason);
	}
	free(d->net);
	memset(d, 0, sizeof *d);
}
