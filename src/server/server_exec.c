/*
 * Requests of one run: POST /execute (the result as one JSON object, the
 * object of `isol8 run --json`), POST /execute/stream (Server-Sent
 * Events: `start`, `stdout`/`stderr` as they come, `exit` with the result;
 * a comment line as heartbeat while quiet), and a session's files, PUT and
 * GET /sessions/{name}/files?path= (a run of `true` carrying the file in
 * or reading it back, as the library's isol8_session_put_file does).
 *
 * The run's callbacks record and step: output is added to the answer (or
 * sent as an event), on_done keeps the result's answer and marks the
 * request finished; req_step() answers and closes. A client that goes
 * away cancels the run (ops->cancel, once); the request waits for its
 * on_done (ISOL8_ECANCELLED) before it goes.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server.h"

enum exec_kind {
	EXEC_JSON, /* POST /execute */
	EXEC_SSE,  /* POST /execute/stream */
	EXEC_PUT,  /* PUT /sessions/{name}/files */
	EXEC_GET,  /* GET /sessions/{name}/files */
};

static const char *const true_argv[] = { "true", NULL };

struct exec {
	struct server_req *r;
	enum exec_kind kind;
	struct api_request api;    /* the request (owned storage) */
	struct isol8_request kdef; /* the key's defaults (api borrows) */
	char session[128];         /* its session, named per key */
	struct claim *claim;       /* on it, under a `sessions=N` ceiling */
	char *runtime;
	struct isol8_run *run;
	struct buf out; /* EXEC_JSON: the program's output */
	struct buf err;
	/* the answer, made when the run ends */
	int status;
	struct buf answer;
	const char *answer_type;
	/* SSE */
	uint64_t sse_id;
	uint64_t last_write;
	struct event *heartbeat;
	/* files */
	const char *out_path[1];
	struct isol8_file file;
	char *path;
	char *data;
};

static void exec_on_stdout(const char *, size_t, void *);
static void exec_on_stderr(const char *, size_t, void *);
static void exec_on_done(
    const struct isol8_result *, const struct isol8_error *, void *);

static const struct isol8_callbacks exec_cbs = { exec_on_stdout, exec_on_stderr,
	exec_on_done };

/* An SSE chunk to the client (and the time, for the heartbeat). */
static void
exec_send(struct exec *x, struct buf *b)
{
	req_stream_write(x->r, b->data, b->len);
	x->last_write = now_ms();
	buf_drain(b, b->len);
}

static void
exec_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec *x = arg;
	struct buf b = { 0 };

	(void)fd, (void)what;
	if (now_ms() - x->last_write < x->r->s->o.heartbeat_ms)
		return;
	sse_comment(&b, "keep-alive");
	exec_send(x, &b);
	buf_free(&b);
}

static void
exec_output(struct exec *x, int stream, const char *data, size_t len)
{
	struct buf b = { 0 };

	if (x->kind == EXEC_JSON)
		buf_add(stream == 1 ? &x->out : &x->err, data, len);
	else if (x->kind == EXEC_SSE) {
		sse_output(&b, ++x->sse_id, stream, data, len);
		exec_send(x, &b);
		buf_free(&b);
	}
}

static void
exec_on_stdout(const char *data, size_t len, void *arg)
{
	exec_output(arg, 1, data, len);
}

static void
exec_on_stderr(const char *data, size_t len, void *arg)
{
	exec_output(arg, 2, data, len);
}

/* A session file read back: the bytes, or why not (404 when missing). */
static void
exec_got_file(struct exec *x, const struct isol8_result *res)
{
	const struct isol8_output_file *f =
	    res->outputs_len == 1 ? &res->outputs[0] : NULL;
	struct buf *a = &x->answer;
	yajl_gen g;

	if (f != NULL && f->error == NULL && f->data != NULL) {
		x->status = 200;
		x->answer_type = "application/octet-stream";
		buf_add(a, f->data, f->len);
		return;
	}
	x->status = f != NULL && f->error != NULL &&
	        strstr(f->error, "No such file") != NULL
	    ? 404
	    : 400;
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_kstr(g, "error",
	    f != NULL && f->error ? f->error : "the file did not come back");
	json_kstr(g, "errorCode", x->status == 404 ? "notfound" : "invalid");
	yajl_gen_map_close(g);
	json_gen_take(g, a);
	buf_addstr(a, "\n");
}

/* The answer to a finished run, kept until the step sends it. */
static void
exec_on_done(
    const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct exec *x = arg;
	struct server_req *r = x->r;
	struct api_result a = { 0 };
	struct isol8_error own;

	x->run = NULL;
	metrics_run(&r->s->m, x->runtime, res, e);
	e = session_error_external(r->key, e, &own);
	a.runtime = x->runtime;
	a.res = res;
	a.error = e != NULL ? e->message : NULL;
	a.code = e != NULL ? e->code : ISOL8_OK;
	a.outputs = (const char *const *)x->api.req.outputs;
	x->status = e != NULL ? req_status_for(e->code) : 200;
	x->answer_type = "application/json";
	if (x->kind == EXEC_GET && e == NULL)
		exec_got_file(x, res);
	else if (x->kind == EXEC_PUT && e == NULL)
		buf_addstr(&x->answer, "{\"ok\":true}\n");
	else {
		if (x->kind == EXEC_JSON) {
			a.out = x->out.data;
			a.out_len = x->out.len;
			a.err = x->err.data;
			a.err_len = x->err.len;
		} else
			a.no_output = 1;
		api_result_write(API_RUN, &a, &x->answer);
		if (x->kind != EXEC_SSE)
			buf_addstr(&x->answer, "\n");
	}
	r->finished = 1;
	req_run_done(r);
	req_step(r);
}

static int
exec_start(struct server_req *r)
{
	struct exec *x = r->kind;
	struct isol8_error err;
	struct buf b = { 0 };
	char id[32];

	x->run = isol8_run_start(r->s->e, &x->api.req, &exec_cbs, x, &err);
	if (x->run == NULL) {
		/* The engine's own checks (paths, names): the request's
		 * error, answered as its result. */
		struct api_result a = { 0 };
		struct isol8_error own;

		a.runtime = x->runtime;
		a.error = session_error_external(r->key, &err, &own)->message;
		a.code = err.code;
		x->status = req_status_for(err.code);
		x->answer_type = "application/json";
		api_result_write(API_RUN, &a, &x->answer);
		if (x->kind != EXEC_SSE)
			buf_addstr(&x->answer, "\n");
		r->finished = 1;
		return -1;
	}
	if (x->kind == EXEC_SSE) {
		snprintf(id, sizeof id, "{\"run\":\"%llu\"}",
		    (unsigned long long)r->id);
		sse_event(&b, ++x->sse_id, "start", id, strlen(id));
		exec_send(x, &b);
		buf_free(&b);
	}
	return 0;
}

static void
exec_cancel(struct server_req *r)
{
	struct exec *x = r->kind;

	if (x->run != NULL)
		isol8_run_cancel(x->run);
}

/* The answer: the result, or why there is none (the server stopped). */
static void
exec_finish(struct server_req *r)
{
	struct exec *x = r->kind;
	struct buf b = { 0 };

	if (x->answer.len == 0 && r->fail_msg != NULL) {
		struct api_result a = { 0 };

		a.runtime = x->runtime;
		a.error = r->fail_msg;
		a.code = r->fail_code;
		x->status = r->fail_status;
		x->answer_type = "application/json";
		api_result_write(API_RUN, &a, &x->answer);
		if (x->kind != EXEC_SSE)
			buf_addstr(&x->answer, "\n");
	}
	if (r->gone || x->answer.len == 0)
		return;
	if (x->kind != EXEC_SSE) {
		req_reply(r, x->status, x->answer_type, &x->answer);
		return;
	}
	sse_event(&b, ++x->sse_id, "exit", x->answer.data, x->answer.len);
	exec_send(x, &b);
	buf_free(&b);
	req_stream_end(r);
}

static void
exec_destroy(struct exec *x)
{
	claim_drop(x->claim);
	if (x->heartbeat != NULL)
		event_free(x->heartbeat);
	api_request_free(&x->api);
	buf_free(&x->out);
	buf_free(&x->err);
	buf_free(&x->answer);
	free(x->runtime);
	free(x->path);
	free(x->data);
	free(x);
}

static void
exec_free(struct server_req *r)
{
	exec_destroy(r->kind);
}

static const struct req_ops exec_ops = {
	"execute",
	exec_start,
	NULL,
	exec_cancel,
	exec_finish,
	exec_free,
};

/* The request in the body of h: parsed, bounded, defaults and ceilings. */
static int
exec_parse(struct server *s, struct evhttp_request *h, struct server_key *k,
    struct exec *x, int *status, struct err **errp)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(h);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";

	*status = 400;
	if (len == 0)
		return err_set(errp, ERR_INVALID,
		    "the body must be a request (a JSON object)");
	if (api_request_parse(body, len, NULL, &x->api, errp) == -1) {
		if ((*errp)->kind == ERR_LIMIT)
			*status = 413;
		return -1;
	}
	return request_prepare(s, k, &x->api, &x->kdef, x->session,
	    sizeof x->session, status, errp);
}

/*
 * A request made ready to run for key k: the key's defaults (the
 * server's, under its ceilings) filled in, its session named for the key,
 * the ceilings checked (403 naming the one it goes over).
 */
int
request_prepare(struct server *s, struct server_key *k, struct api_request *a,
    struct isol8_request *kdef, char *session, size_t slen, int *status,
    struct err **errp)
{
	key_defaults(k, s->o.defaults, kdef);
	api_request_defaults(a, kdef);
	if (a->req.runtime == NULL)
		a->req.runtime = "python";
	if (key_check(k, &a->req, errp) == -1) {
		*status = 403;
		return -1;
	}
	if (a->req.session != NULL) {
		if (session_internal(k, a->req.session, session, slen, errp) ==
		    -1) {
			*status = 400;
			return -1;
		}
		a->req.session = session;
	}
	return 0;
}

static void exec_go(struct server *, struct evhttp_request *,
    struct server_key *, struct exec *);
static void exec_claimed(struct claim *, const struct isol8_error *, void *);
static void exec_admit(struct exec *);

static struct exec *
exec_new(enum exec_kind kind)
{
	struct exec *x = xcalloc(1, sizeof *x);

	x->kind = kind;
	return x;
}

void
route_execute(
    struct server *s, struct evhttp_request *h, struct server_key *k, int sse)
{
	struct exec *x = exec_new(sse ? EXEC_SSE : EXEC_JSON);
	struct err *e = NULL;
	int status;

	if (exec_parse(s, h, k, x, &status, &e) == -1) {
		req_refuse(s, h, status,
		    status == 403       ? ISOL8_ELIMIT
		        : status == 413 ? ISOL8_ELIMIT
		                        : ISOL8_EINVAL,
		    e->msg);
		err_free(&e);
		exec_destroy(x);
		return;
	}
	exec_go(s, h, k, x);
}

/*
 * The request object: its session claimed when its key counts sessions
 * (the answer may be 403 then), admitted (or answered 429), the stream
 * started.
 */
static void
exec_go(struct server *s, struct evhttp_request *h, struct server_key *k,
    struct exec *x)
{
	struct server_req *r;

	x->runtime = xstrdup(x->api.req.runtime);
	r = req_new(s, h, &exec_ops, x);
	x->r = r;
	r->key = k;
	key_ref(k);
	if (!claim_needed(k, &x->api.req)) {
		exec_admit(x);
		return;
	}
	r->runs = 1; /* the claim's list: the request waits for it */
	claim_start(s, k, &x->api.req, exec_claimed, x);
}

/* The session's claim came: admitted, or the refusal is the answer. */
static void
exec_claimed(struct claim *c, const struct isol8_error *e, void *arg)
{
	struct exec *x = arg;
	struct server_req *r = x->r;

	x->claim = c;
	r->runs--;
	if (e != NULL)
		req_error(r,
		    e->code == ISOL8_ELIMIT ? 403 : req_status_for(e->code),
		    e->code, "%s", e->message);
	if (e != NULL || r->cancelled) {
		r->finished = 1;
		req_step(r);
		return;
	}
	exec_admit(x);
}

/* Wait for a run slot (429 when too many wait); SSE starts its stream. */
static void
exec_admit(struct exec *x)
{
	struct server_req *r = x->r;
	struct server *s = r->s;
	struct timeval tv;

	if (admit_want(r, 0) == -1) {
		req_error(r, 429, ISOL8_EUNAVAILABLE,
		    "too many requests waiting (%u, server.maxQueue): retry later",
		    s->o.max_queue);
		r->finished = 1;
		req_step(r);
		return;
	}
	if (x->kind == EXEC_SSE) {
		req_stream_start(r, "text/event-stream");
		x->last_write = now_ms();
		tv.tv_sec = (time_t)(s->o.heartbeat_ms / 1000);
		tv.tv_usec = (suseconds_t)(s->o.heartbeat_ms % 1000) * 1000;
		x->heartbeat =
		    event_new(s->base, -1, EV_PERSIST, exec_heartbeat_cb, x);
		evtimer_add(x->heartbeat, &tv);
	}
}

/* The query parameters of a files request that set its limits. */
static const struct {
	const char *name;
	enum isol8_limit limit;
} file_limits[] = {
	{ "memory", ISOL8_LIMIT_MEMORY },
	{ "cpu", ISOL8_LIMIT_CPUS },
	{ "pids", ISOL8_LIMIT_PIDS },
	{ "sandboxSize", ISOL8_LIMIT_SANDBOX_SIZE },
	{ "tmpSize", ISOL8_LIMIT_TMP_SIZE },
	{ "timeout", ISOL8_LIMIT_TIMEOUT },
	{ "maxOutputFile", ISOL8_LIMIT_MAX_OUTPUT_FILE },
};

/* One query parameter of a files request into the request. */
static int
files_param(struct exec *x, const char *k, const char *v, struct err **errp)
{
	struct isol8_request *q = &x->api.req;
	struct isol8_error e;
	size_t i;

	for (i = 0; i < nitems(file_limits); i++)
		if (strcmp(k, file_limits[i].name) == 0) {
			if (isol8_request_parse_limit(
			        q, file_limits[i].limit, v, k, &e) == -1)
				return err_set(
				    errp, ERR_INVALID, "%s", e.message);
			return 0;
		}
	if (strcmp(k, "path") == 0) {
		free(x->path);
		x->path = xstrdup(v);
	} else if (strcmp(k, "runtime") == 0) {
		if (!isol8_runtime_known(v))
			return err_set(
			    errp, ERR_INVALID, "unknown runtime `%.64s`", v);
		free(x->api.runtime);
		x->api.runtime = xstrdup(v);
		q->runtime = x->api.runtime;
	} else if (strcmp(k, "network") == 0) {
		if (strcmp(v, "none") != 0 && strcmp(v, "host") != 0 &&
		    strcmp(v, "filtered") != 0)
			return err_set(errp, ERR_INVALID,
			    "`network` must be none, host or filtered");
		x->api.network = xstrdup(v);
		q->network = x->api.network;
	} else
		return err_set(errp, ERR_INVALID,
		    "unknown query parameter `%.64s` (path, runtime, memory, cpu, pids, sandboxSize, tmpSize, network, timeout, maxOutputFile)",
		    k);
	return 0;
}

/* The query of a files request: its path and the session's limits. */
static int
files_query(struct evhttp_request *h, struct exec *x, struct err **errp)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(h));
	struct evkeyvalq kv;
	struct evkeyval *p;
	int rc = 0;

	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) == -1)
		return err_set(errp, ERR_INVALID, "a malformed query string");
	TAILQ_FOREACH (p, &kv, next)
		if ((rc = files_param(x, p->key, p->value, errp)) == -1)
			break;
	evhttp_clear_headers(&kv);
	if (rc == 0 && (x->path == NULL || x->path[0] == '\0'))
		rc = err_set(errp, ERR_INVALID,
		    "give the file's path: ?path=PATH (below /sandbox)");
	return rc;
}

/*
 * PUT /sessions/{name}/files?path=P (the body is the file) and GET (the
 * file is the answer): a run of `true` in the session, carrying the file
 * in or reading it back.
 */
void
route_files(struct server *s, struct evhttp_request *h, struct server_key *k,
    const char *name, int put)
{
	struct exec *x = exec_new(put ? EXEC_PUT : EXEC_GET);
	struct evbuffer *in = evhttp_request_get_input_buffer(h);
	struct isol8_request *q = &x->api.req;
	struct err *e = NULL;
	size_t len;
	int status = 400;

	x->api.session = xstrdup(name);
	q->argv = true_argv;
	q->session = x->api.session;
	if (files_query(h, x, &e) == 0 &&
	    request_prepare(s, k, &x->api, &x->kdef, x->session,
	        sizeof x->session, &status, &e) == 0) {
		if (put) {
			len = evbuffer_get_length(in);
			x->data = xmalloc(len + 1);
			evbuffer_remove(in, x->data, len);
			x->file.path = x->path;
			x->file.data = x->data;
			x->file.len = len;
			q->files = &x->file;
			q->files_len = 1;
		} else {
			x->out_path[0] = x->path;
			q->outputs = x->out_path;
			q->outputs_len = 1;
			q->session_must_exist = 1; /* reading makes none */
		}
		exec_go(s, h, k, x);
		return;
	}
	req_refuse(
	    s, h, status, status == 403 ? ISOL8_ELIMIT : ISOL8_EINVAL, e->msg);
	err_free(&e);
	exec_destroy(x);
}
