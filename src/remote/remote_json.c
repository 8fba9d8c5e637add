/*
 * The remote backend's side of the wire format (docs/api.md): a request
 * written as the JSON api_request_parse() reads (tests/unit/test_remote.c
 * checks the round trip), and the `exit` event's result object read back
 * into a struct isol8_result. Bytes that are not UTF-8 (or hold a NUL) go
 * as {"base64": ...}, as the server sends them, where the format has that
 * form (code, stdin, file contents); a text field that is not UTF-8 is
 * refused rather than sent repaired, so a remote run is the local one.
 */
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

/* Bytes as a string when they are UTF-8 without NUL, else base64. */
static void
gen_bytes(yajl_gen g, const char *k, const void *data, size_t len)
{
	struct buf tmp = { 0 };
	size_t n;

	if (k != NULL)
		json_key(g, k);
	if (memchr(data, '\0', len) == NULL &&
	    json_utf8(data, len, &tmp, &n) == data)
		json_strn_add(g, data, len);
	else {
		buf_drain(&tmp, tmp.len);
		base64_encode(&tmp, data, len);
		yajl_gen_map_open(g);
		json_kstrn(g, "base64", tmp.data ? tmp.data : "", tmp.len);
		yajl_gen_map_close(g);
	}
	buf_free(&tmp);
}

static void
gen_kv(yajl_gen g, const char *k, const struct isol8_kv *kv, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	json_key(g, k);
	yajl_gen_map_open(g);
	for (i = 0; i < n; i++)
		json_kstr(g, kv[i].key, kv[i].value != NULL ? kv[i].value : "");
	yajl_gen_map_close(g);
}

static void
gen_strings(yajl_gen g, const char *k, const char *const *v, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	json_key(g, k);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		json_str_add(g, v[i]);
	yajl_gen_array_close(g);
}

/* The limits that are set (0: the server's default). */
static void
gen_limits(yajl_gen g, const struct isol8_request *r)
{
	static const struct {
		const char *k;
		size_t off;
	} u64[] = {
		{ "timeout", offsetof(struct isol8_request, timeout_ms) },
		{ "memory", offsetof(struct isol8_request, memory) },
		{ "sandboxSize", offsetof(struct isol8_request, sandbox_size) },
		{ "tmpSize", offsetof(struct isol8_request, tmp_size) },
		{ "maxOutput", offsetof(struct isol8_request, max_output) },
		{ "maxOutputFile",
		    offsetof(struct isol8_request, max_output_file) },
	};
	size_t i;
	uint64_t v;

	for (i = 0; i < nitems(u64); i++) {
		memcpy(&v, (const char *)r + u64[i].off, sizeof v);
		if (v != 0)
			json_kuint(g, u64[i].k, v);
	}
	if (r->cpus != 0)
		json_knumf(g, "cpu", "%.17g", r->cpus);
	if (r->pids != 0)
		json_kint(g, "pids", (long long)r->pids);
}

static void
gen_files(yajl_gen g, const struct isol8_request *r)
{
	size_t i;

	if (r->files_len == 0)
		return;
	json_key(g, "files");
	yajl_gen_map_open(g);
	for (i = 0; i < r->files_len; i++)
		gen_bytes(g, r->files[i].path,
		    r->files[i].data != NULL ? r->files[i].data : "",
		    r->files[i].len);
	yajl_gen_map_close(g);
}

/* argv: its items up to the NULL (the engine bounds their count). */
static void
gen_argv(yajl_gen g, const char *const *argv)
{
	if (argv == NULL)
		return;
	json_key(g, "argv");
	yajl_gen_array_open(g);
	for (; *argv != NULL; argv++)
		json_str_add(g, *argv);
	yajl_gen_array_close(g);
}

/* Whether s is UTF-8 (JSON text carries it unchanged). */
static int
utf8_ok(const char *s)
{
	struct buf tmp = { 0 };
	size_t n;
	int ok = s == NULL || json_utf8(s, strlen(s), &tmp, &n) == s;

	buf_free(&tmp);
	return ok;
}

/*
 * The request's text fields: JSON strings, with no base64 form (only
 * code, stdin and file contents have one). Bytes that are not UTF-8 would
 * arrive repaired (U+FFFD), not as a local run sees them: refused.
 */
static int
request_text_check(const struct isol8_request *r, struct err **errp)
{
	const struct {
		const char *name;
		const char *s;
	} one[] = {
		{ "runtime", r->runtime },
		{ "cmd", r->cmd },
		{ "workdir", r->workdir },
		{ "session", r->session },
		{ "image", r->image },
		{ "fileExt", r->file_ext },
		{ "network", r->network },
	};
	const struct {
		const char *name;
		const char *const *v;
		size_t n; /* SIZE_MAX: up to the NULL */
	} many[] = {
		{ "argv", r->argv, SIZE_MAX },
		{ "outputs", r->outputs, r->outputs_len },
		{ "packages", r->packages, r->packages_len },
		{ "allow", r->net_allow, r->net_allow_len },
		{ "deny", r->net_deny, r->net_deny_len },
	};
	const char *bad = NULL;
	size_t i, j;

	for (i = 0; bad == NULL && i < nitems(one); i++)
		if (!utf8_ok(one[i].s))
			bad = one[i].name;
	for (i = 0; bad == NULL && i < nitems(many); i++)
		for (j = 0; many[i].v != NULL && j < many[i].n &&
		     many[i].v[j] != NULL && bad == NULL;
		     j++)
			if (!utf8_ok(many[i].v[j]))
				bad = many[i].name;
	for (i = 0; bad == NULL && i < r->env_len; i++)
		if (!utf8_ok(r->env[i].key) || !utf8_ok(r->env[i].value))
			bad = "env";
	for (i = 0; bad == NULL && i < r->secrets_len; i++)
		if (!utf8_ok(r->secrets[i].key) ||
		    !utf8_ok(r->secrets[i].value))
			bad = "secrets";
	for (i = 0; bad == NULL && i < r->files_len; i++)
		if (!utf8_ok(r->files[i].path))
			bad = "a file's path";
	if (bad == NULL)
		return 0;
	return err_set(errp, ERR_INVALID,
	    "`%s` holds bytes that are not UTF-8: the API carries it as JSON text, so it is not available on a remote engine",
	    bad);
}

/*
 * The request as the API's JSON into b (appended); -1 for what the API
 * cannot carry: a streamed stdin (the body is sent whole before the run
 * starts; buffering isol8_run_write_stdin() until EOF would change what
 * an interactive program sees).
 */
int
remote_request_write(
    const struct isol8_request *r, struct buf *b, struct err **errp)
{
	yajl_gen g;

	if (r->stdin_stream)
		return err_set(errp, ERR_INVALID,
		    "a streamed stdin is not available on a remote engine: give stdin_data (docs/library.md)");
	if (request_text_check(r, errp) == -1)
		return -1;
	g = json_gen_new();
	yajl_gen_map_open(g);
	if (r->runtime != NULL)
		json_kstr(g, "runtime", r->runtime);
	if (r->code != NULL)
		gen_bytes(g, "code", r->code,
		    r->code_len ? r->code_len : strlen(r->code));
	if (r->cmd != NULL)
		json_kstr(g, "cmd", r->cmd);
	gen_argv(g, r->argv);
	if (r->workdir != NULL)
		json_kstr(g, "workdir", r->workdir);
	if (r->stdin_data != NULL)
		gen_bytes(g, "stdin", r->stdin_data, r->stdin_len);
	gen_limits(g, r);
	gen_kv(g, "env", r->env, r->env_len);
	gen_kv(g, "secrets", r->secrets, r->secrets_len);
	gen_files(g, r);
	gen_strings(g, "outputs", r->outputs, r->outputs_len);
	if (r->network != NULL)
		json_kstr(g, "network", r->network);
	gen_strings(g, "allow", r->net_allow, r->net_allow_len);
	gen_strings(g, "deny", r->net_deny, r->net_deny_len);
	if (r->net_allow_private)
		json_kbool(g, "allowPrivate", 1);
	if (r->session != NULL)
		json_kstr(g, "session", r->session);
	if (r->session != NULL && r->session_must_exist)
		json_kbool(g, "sessionMustExist", 1);
	if (r->image != NULL)
		json_kstr(g, "image", r->image);
	if (r->file_ext != NULL)
		json_kstr(g, "fileExt", r->file_ext);
	gen_strings(g, "packages", r->packages, r->packages_len);
	yajl_gen_map_close(g);
	json_gen_take(g, b);
	return 0;
}

/* An unsigned field of the result, 0 when absent. */
static uint64_t
get_u64(yajl_val v, const char *k)
{
	long long n = 0;

	return json_int(v, &n, k, NULL) == 0 && n > 0 ? (uint64_t)n : 0;
}

/* The "outputs" object: {path: {"base64": ...} | {"error": ...}}. */
static int
read_outputs(yajl_val o, struct remote_result *rr, struct err **errp)
{
	struct buf b = { 0 };
	const char *s;
	size_t i, n;

	if (o == NULL || !YAJL_IS_OBJECT(o))
		return 0;
	n = o->u.object.len;
	rr->outputs = n ? xcalloc(n, sizeof *rr->outputs) : NULL;
	for (i = 0; i < n; i++) {
		struct isol8_output_file *f = &rr->outputs[rr->outputs_len++];

		f->path = xstrdup(o->u.object.keys[i]);
		if ((s = json_str(o->u.object.values[i], "error", NULL)) !=
		    NULL) {
			f->error = xstrdup(s);
			continue;
		}
		s = json_str(o->u.object.values[i], "base64", NULL);
		buf_init(&b);
		if (s == NULL || base64_decode(&b, s, strlen(s)) == -1) {
			buf_free(&b);
			return err_set(errp, ERR_INVALID,
			    "the server sent output file `%s` malformed",
			    f->path);
		}
		buf_add(&b, "", 0);
		f->data = b.data;
		f->len = b.len;
	}
	rr->res.outputs = rr->outputs;
	rr->res.outputs_len = rr->outputs_len;
	return 0;
}

/* A string field of a network decision, copied; NULL when absent. */
static const char *
net_str(yajl_val o, const char *k)
{
	const char *s = json_str(o, k, NULL);

	return s != NULL ? xstrdup(s) : NULL;
}

/*
 * The "network" array: the filtered network's decisions ({method, host,
 * port, action, reason, phase}) and at the end, maybe, {dropped: N}.
 * Bounded as the engine bounds them; a malformed one is skipped.
 */
static void
read_network(yajl_val a, struct remote_result *rr)
{
	struct isol8_net_event *ev;
	yajl_val o, port;
	const char *s;
	char num[24];
	size_t i, n;

	if (a == NULL || !YAJL_IS_ARRAY(a))
		return;
	n = a->u.array.len < ISOL8_MAX_NET_EVENTS ? a->u.array.len
	                                          : ISOL8_MAX_NET_EVENTS;
	rr->net_events = n ? xcalloc(n, sizeof *rr->net_events) : NULL;
	for (i = 0; i < a->u.array.len; i++) {
		o = a->u.array.values[i];
		if (!YAJL_IS_OBJECT(o))
			continue;
		if (json_get(o, "dropped", NULL) != NULL) {
			rr->res.net_events_dropped += get_u64(o, "dropped");
			continue;
		}
		if (rr->net_events_len == n ||
		    (s = json_str(o, "action", NULL)) == NULL) {
			rr->res.net_events_dropped += rr->net_events_len == n;
			continue;
		}
		ev = &rr->net_events[rr->net_events_len++];
		ev->allowed = strcmp(s, "allow") == 0;
		ev->method = net_str(o, "method");
		ev->host = net_str(o, "host");
		ev->reason = net_str(o, "reason");
		port = json_get(o, "port", NULL);
		if (port != NULL && YAJL_IS_INTEGER(port)) {
			snprintf(
			    num, sizeof num, "%lld", YAJL_GET_INTEGER(port));
			ev->port = xstrdup(num);
		} else
			ev->port = net_str(o, "port");
		s = json_str(o, "phase", NULL);
		ev->install = s != NULL && strcmp(s, "install") == 0;
	}
	rr->res.net_events = rr->net_events;
	rr->res.net_events_len = rr->net_events_len;
}

/* The `exit` event's object (docs/api.md) into rr (free it either way). */
int
remote_result_read(
    const char *text, size_t len, struct remote_result *rr, struct err **errp)
{
	struct isol8_result *r = &rr->res;
	yajl_val v;
	long long n = 0;
	const char *s;
	int rc;

	memset(rr, 0, sizeof *rr);
	if ((v = json_parse(text, len, errp)) == NULL || !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return err_set(errp, ERR_INVALID,
		    "the server's result is not a JSON object");
	}
	if (json_int(v, &n, "exitCode", NULL) == 0)
		r->exit_code = (int)n;
	if (json_int(v, &n, "signal", NULL) == 0)
		r->signal = (int)n;
	r->timed_out = json_bool(v, "timedOut", NULL) == 1;
	r->oom_killed = json_bool(v, "oomKilled", NULL) == 1;
	r->truncated = json_bool(v, "truncated", NULL) == 1;
	r->state_lost = json_bool(v, "stateFresh", NULL) == 1
	    ? ISOL8_STATE_FRESH
	    : json_bool(v, "stateLost", NULL) == 1 ? ISOL8_STATE_LOST
	                                           : ISOL8_STATE_KEPT;
	r->run_ms = get_u64(v, "durationMs");
	r->total_ms = get_u64(v, "totalMs");
	r->queued_ms = get_u64(v, "queuedMs");
	r->install_ms = get_u64(v, "installMs");
	r->cpu_ms = get_u64(v, "cpuMs");
	r->peak_rss_kb = get_u64(v, "peakRssKb");
	r->stdout_bytes = get_u64(v, "stdoutBytes");
	r->stderr_bytes = get_u64(v, "stderrBytes");
	r->may_have_run = json_bool(v, "mayHaveRun", NULL) == 1;
	if ((s = json_str(v, "containerId", NULL)) != NULL)
		r->container_id = rr->container_id = xstrdup(s);
	if ((s = json_str(v, "error", NULL)) != NULL) {
		rr->error = xstrdup(s);
		rr->code = isol8_code_from_name(json_str(v, "errorCode", NULL));
	}
	read_network(json_get(v, "network", NULL), rr);
	rc = read_outputs(json_get(v, "outputs", NULL), rr, errp);
	yajl_tree_free(v);
	return rc;
}

void
remote_result_free(struct remote_result *rr)
{
	size_t i;

	for (i = 0; i < rr->outputs_len; i++) {
		free((char *)(uintptr_t)rr->outputs[i].path);
		free((char *)(uintptr_t)rr->outputs[i].data);
		free((char *)(uintptr_t)rr->outputs[i].error);
	}
	free(rr->outputs);
	for (i = 0; i < rr->net_events_len; i++) {
		free((char *)(uintptr_t)rr->net_events[i].method);
		free((char *)(uintptr_t)rr->net_events[i].host);
		free((char *)(uintptr_t)rr->net_events[i].port);
		free((char *)(uintptr_t)rr->net_events[i].reason);
	}
	free(rr->net_events);
	free(rr->container_id);
	free(rr->error);
	memset(rr, 0, sizeof *rr);
}
