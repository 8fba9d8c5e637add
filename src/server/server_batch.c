/*
 * POST /batch: a job list in the body (JSON Lines, the job format of
 * `isol8 batch`, docs/batch.md), results out as JSON Lines as each job
 * ends -- the result lines of `isol8 batch` (API_JOB), in completion
 * order. Every line gets exactly one result line: a line that cannot run
 * (malformed, over a ceiling, a duplicate id) is that line's error result
 * and never stops the batch.
 *
 * The jobs run at most `concurrency` at a time (?concurrency=N; default
 * the key's ceiling or the server's runs in flight), each through
 * admission like any run (a batch does not crowd out other clients: it
 * asks for one slot at a time). Output the client has not read yet holds
 * further jobs back (BATCH_HIGH bytes), so a slow reader cannot make the
 * server buffer a whole batch. A client that goes away cancels the jobs in
 * flight; nothing more starts.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server.h"

#define BATCH_HIGH (4u << 20) /* unread result bytes: hold jobs back */
#define BATCH_RETRY_MS 20     /* and look again */
#define BATCH_IDS 131072      /* id hashes kept (a power of two) */

struct bjob;

struct breq {
	struct server_req *r;
	char *text; /* the job list, copied out of evhttp */
	size_t len;
	size_t pos; /* where the next line starts */
	long lineno;
	unsigned parallel;
	unsigned running;
	TAILQ_HEAD(, bjob) jobs; /* in flight */
	uint64_t *ids;           /* hashes of the ids seen (0: free) */
	size_t nids;
	struct isol8_request kdef;
	struct event *retry; /* backpressure: look again later */
	int held;
};

struct bjob {
	struct breq *b;
	long line;
	char *id;
	char session[128];
	struct claim *claim; /* on it, under a `sessions=N` ceiling */
	struct api_request api;
	struct isol8_request kdef;
	struct isol8_run *run;
	char *runtime;
	struct buf out;
	struct buf err;
	TAILQ_ENTRY(bjob) entry;
};

static void bjob_stdout(const char *, size_t, void *);
static void bjob_stderr(const char *, size_t, void *);
static void bjob_done(
    const struct isol8_result *, const struct isol8_error *, void *);
static void bjob_claimed(struct claim *, const struct isol8_error *, void *);
static const struct isol8_callbacks bjob_cbs = { bjob_stdout, bjob_stderr,
	bjob_done };

/* FNV-1a, never 0 (0 marks a free slot). */
static uint64_t
id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h != 0 ? h : 1;
}

/* Whether the id was seen (a duplicate); remembers it if not. */
static int
id_seen(struct breq *b, const char *id)
{
	uint64_t h = id_hash(id);
	size_t i = (size_t)h & (BATCH_IDS - 1);

	if (b->ids == NULL)
		b->ids = xcalloc(BATCH_IDS, sizeof *b->ids);
	while (b->ids[i] != 0) {
		if (b->ids[i] == h)
			return 1;
		i = (i + 1) & (BATCH_IDS - 1);
	}
	if (b->nids + 1 >= BATCH_IDS)
		return 0; /* full: no more duplicate checks */
	b->ids[i] = h;
	b->nids++;
	return 0;
}

/* One result line to the client. */
static void
batch_emit(struct breq *b, const struct api_result *a)
{
	struct buf o = { 0 };

	api_result_write(API_JOB, a, &o);
	buf_addstr(&o, "\n");
	req_stream_write(b->r, o.data, o.len);
	buf_free(&o);
}

static void
batch_line_error(struct breq *b, long line, const char *id, const char *msg)
{
	struct api_result a = { 0 };
	char lid[24];

	snprintf(lid, sizeof lid, "%ld", line);
	a.id = id != NULL ? id : lid;
	a.line = line;
	a.error = msg;
	batch_emit(b, &a);
}

static void
bjob_free(struct bjob *j)
{
	claim_drop(j->claim);
	api_request_free(&j->api);
	buf_free(&j->out);
	buf_free(&j->err);
	free(j->runtime);
	free(j->id);
	free(j);
}

/* The next line of the list (without its newline), or NULL at the end. */
static const char *
batch_next_line(struct breq *b, size_t *len)
{
	const char *p, *nl;

	while (b->pos < b->len) {
		p = b->text + b->pos;
		nl = memchr(p, '\n', b->len - b->pos);
		*len = nl ? (size_t)(nl - p) : b->len - b->pos;
		b->pos += *len + (nl != NULL);
		b->lineno++;
		if (*len > 0 && p[*len - 1] == '\r')
			(*len)--;
		if (strspn(p, " \t") < *len)
			return p;
	}
	return NULL;
}

/* A line into a job ready to start, or its error line (NULL). */
static struct bjob *
batch_job(struct breq *b, const char *line, size_t len)
{
	struct bjob *j = xcalloc(1, sizeof *j);
	struct err *e = NULL;
	char lid[24];
	int status;

	j->b = b;
	j->line = b->lineno;
	if (api_request_parse(line, len, NULL, &j->api, &e) == -1 ||
	    request_prepare(b->r->s, b->r->key, &j->api, &j->kdef, j->session,
	        sizeof j->session, &status, &e) == -1) {
		batch_line_error(b, j->line, j->api.id, e->msg);
		err_free(&e);
		bjob_free(j);
		return NULL;
	}
	snprintf(lid, sizeof lid, "%ld", j->line);
	j->id = xstrdup(j->api.id != NULL ? j->api.id : lid);
	if (id_seen(b, j->id)) {
		batch_line_error(b, j->line, j->id, "duplicate id");
		bjob_free(j);
		return NULL;
	}
	j->runtime = xstrdup(j->api.req.runtime);
	return j;
}

/* A job's run starts: 0, or -1 with its error line sent and j freed. */
static int
bjob_run(struct bjob *j)
{
	struct isol8_error err, own;

	j->run =
	    isol8_run_start(j->b->r->s->e, &j->api.req, &bjob_cbs, j, &err);
	if (j->run != NULL)
		return 0;
	batch_line_error(j->b, j->line, j->id,
	    session_error_external(j->b->r->key, &err, &own)->message);
	bjob_free(j);
	return -1;
}

/* A slot: start the next job that can start (error lines on the way). */
static int
batch_start(struct server_req *r)
{
	struct breq *b = r->kind;
	const char *line;
	struct bjob *j;
	size_t len;

	while ((line = batch_next_line(b, &len)) != NULL) {
		if ((j = batch_job(b, line, len)) == NULL)
			continue;
		if (claim_needed(r->key, &j->api.req)) {
			/* Its session claimed first: the run, or its error
			 * line, comes with the claim (bjob_claimed). */
			TAILQ_INSERT_TAIL(&b->jobs, j, entry);
			b->running++;
			claim_start(r->s, r->key, &j->api.req, bjob_claimed, j);
			return 0;
		}
		if (bjob_run(j) == -1)
			continue;
		TAILQ_INSERT_TAIL(&b->jobs, j, entry);
		b->running++;
		return 0;
	}
	r->finished = 1;
	return -1;
}

/* A job's slot comes back (its run ended, or never started). */
static void
bjob_end(struct breq *b)
{
	struct server_req *r = b->r;

	b->running--;
	if (b->pos >= b->len && b->running == 0)
		r->finished = 1;
	req_run_done(r);
	req_step(r);
}

/* A job's session claim came: its run, or its error line. */
static void
bjob_claimed(struct claim *c, const struct isol8_error *e, void *arg)
{
	struct bjob *j = arg;
	struct breq *b = j->b;

	j->claim = c;
	TAILQ_REMOVE(&b->jobs, j, entry);
	if (e != NULL || b->r->cancelled) {
		batch_line_error(b, j->line, j->id,
		    e != NULL ? e->message : "cancelled: the server stops");
		bjob_free(j);
	} else if (bjob_run(j) == 0) {
		TAILQ_INSERT_TAIL(&b->jobs, j, entry);
		return;
	}
	bjob_end(b);
}

static void
batch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct breq *b = arg;

	(void)fd, (void)what;
	b->held = 0;
	req_step(b->r);
}

/* Another slot while jobs are left, under the cap, and the client reads. */
static int
batch_wants(struct server_req *r)
{
	struct breq *b = r->kind;
	struct timeval tv = { 0, BATCH_RETRY_MS * 1000 };

	if (b->pos >= b->len) {
		if (b->running == 0)
			r->finished = 1;
		return 0;
	}
	if (b->running + (unsigned)r->granted >= b->parallel)
		return 0;
	if (req_stream_pending(r) > BATCH_HIGH) {
		if (!b->held) {
			b->held = 1;
			evtimer_add(b->retry, &tv);
		}
		return 0;
	}
	return 1;
}

static void
bjob_stdout(const char *data, size_t len, void *arg)
{
	buf_add(&((struct bjob *)arg)->out, data, len);
}

static void
bjob_stderr(const char *data, size_t len, void *arg)
{
	buf_add(&((struct bjob *)arg)->err, data, len);
}

static void
bjob_done(
    const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct bjob *j = arg;
	struct breq *b = j->b;
	struct server_req *r = b->r;
	struct api_result a = { 0 };
	struct isol8_error own;

	metrics_run(&r->s->m, j->runtime, res, e);
	e = session_error_external(r->key, e, &own);
	a.id = j->id;
	a.line = j->line;
	if (e != NULL) {
		a.error = e->message;
		a.may_have_run = res->may_have_run;
	} else {
		a.res = res;
		a.out = j->out.data;
		a.out_len = j->out.len;
		a.err = j->err.data;
		a.err_len = j->err.len;
		a.outputs = j->api.req.outputs;
	}
	batch_emit(b, &a);
	TAILQ_REMOVE(&b->jobs, j, entry);
	bjob_free(j);
	bjob_end(b);
}

static void
batch_cancel(struct server_req *r)
{
	struct breq *b = r->kind;
	struct bjob *j;

	TAILQ_FOREACH (j, &b->jobs, entry)
		if (j->run != NULL) /* NULL: its claim is being decided */
			isol8_run_cancel(j->run);
}

/* The end: lines never started (the server stops) get their error. */
static void
batch_finish(struct server_req *r)
{
	struct breq *b = r->kind;
	struct api_request api;
	struct err *e = NULL;
	const char *line;
	size_t len;

	while (!r->gone && r->fail_msg != NULL &&
	    (line = batch_next_line(b, &len)) != NULL) {
		api_request_parse(line, len, NULL, &api, &e);
		batch_line_error(b, b->lineno, api.id, r->fail_msg);
		api_request_free(&api);
		err_free(&e);
	}
	req_stream_end(r);
}

static void
batch_free(struct server_req *r)
{
	struct breq *b = r->kind;

	if (b->retry != NULL)
		event_free(b->retry);
	free(b->ids);
	free(b->text);
	free(b);
}

static const struct req_ops batch_ops = {
	"batch",
	batch_start,
	batch_wants,
	batch_cancel,
	batch_finish,
	batch_free,
};

/* ?concurrency=N: at most the key's ceiling and the server's runs. */
static int
batch_parallel(struct server *s, struct evhttp_request *h, struct server_key *k,
    unsigned *out, struct err **errp)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(h));
	unsigned max = k->c.concurrency ? k->c.concurrency : s->max_runs;
	struct evkeyvalq kv;
	struct evkeyval *p;
	uint64_t n;
	int rc = 0;

	*out = max;
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) == -1)
		return err_set(errp, ERR_INVALID, "a malformed query string");
	TAILQ_FOREACH (p, &kv, next) {
		if (strcmp(p->key, "concurrency") != 0)
			rc = err_set(errp, ERR_INVALID,
			    "unknown query parameter `%.64s` (concurrency)",
			    p->key);
		else if (parse_uint(p->value, 4096, &n) == -1 || n == 0)
			rc = err_set(errp, ERR_INVALID,
			    "`concurrency` must be a whole number from 1 to 4096");
		else
			*out = n < max ? (unsigned)n : max;
		if (rc == -1)
			break;
	}
	evhttp_clear_headers(&kv);
	return rc;
}

void
route_batch(struct server *s, struct evhttp_request *h, struct server_key *k)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(h);
	struct breq *b;
	struct err *e = NULL;
	unsigned parallel;

	if (batch_parallel(s, h, k, &parallel, &e) == -1) {
		req_refuse(s, h, 400, ISOL8_EINVAL, e->msg);
		err_free(&e);
		return;
	}
	b = xcalloc(1, sizeof *b);
	TAILQ_INIT(&b->jobs);
	b->parallel = parallel;
	b->len = evbuffer_get_length(in);
	b->text = xmalloc(b->len + 1);
	evbuffer_remove(in, b->text, b->len);
	b->text[b->len] = '\0';
	b->r = req_new(s, h, &batch_ops, b);
	b->r->key = k;
	key_ref(k);
	b->retry = evtimer_new(s->base, batch_retry_cb, b);
	if (admit_want(b->r, 0) == -1) {
		req_error(b->r, 429, ISOL8_EUNAVAILABLE,
		    "too many requests waiting (%u, server.maxQueue): retry later",
		    s->o.max_queue);
		b->r->finished = 1;
		req_step(b->r);
		return;
	}
	req_stream_start(b->r, "application/x-ndjson");
}
