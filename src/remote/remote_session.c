/*
 * A remote engine's session calls (isol8_session_list_start,
 * isol8_session_remove_start): GET /sessions and DELETE /sessions/{name}
 * on the server (docs/api.md), the key's own sessions only.
 *
 * An operation is one request. Its states:
 *
 *	ROP_WAITING  the request is in flight
 *	ROP_DONE     its callback was called; the operation is freed
 *
 * The transfer's end records and steps; remote_op_close() is the one
 * teardown and calls the callback exactly once, from the loop (an engine
 * freed first: ISOL8_ECANCELLED). The answer is bounded by the loop's
 * response cap (4 MiB), and in time: it comes whole, so no answer within
 * connect_ms + stall_ms is a server that does not answer
 * (ISOL8_EUNAVAILABLE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"

enum rop_state {
	ROP_WAITING,
	ROP_DONE,
};

struct remote_op {
	struct remote *rm;
	enum rop_state state;
	struct http_req *http;
	isol8_session_list_cb list_cb; /* a list, or ... */
	isol8_session_done_cb done_cb; /* ... a removal */
	void *arg;

	/* What happened: recorded by the transfer's end. */
	long status;
	struct err *xfer_err;
	struct buf body;
	int cancel; /* the engine shuts down */

	TAILQ_ENTRY(remote_op) entry;
};

/* The one teardown: the callback once (list valid during it), freed. */
static void
remote_op_close(struct remote_op *op, const struct isol8_session_info *list,
    size_t n, const struct isol8_error *e)
{
	if (op->http != NULL)
		http_req_cancel(op->http);
	op->http = NULL;
	op->state = ROP_DONE;
	TAILQ_REMOVE(&op->rm->ops, op, entry);
	if (op->list_cb != NULL)
		op->list_cb(list, n, e, op->arg);
	else
		op->done_cb(e, op->arg);
	err_free(&op->xfer_err);
	buf_free(&op->body);
	free(op);
}

/* One session object of the answer into s (fields as docs/api.md). */
static void
remote_session_info(yajl_val v, struct isol8_session_info *s)
{
	const char *t;
	long long n;

	memset(s, 0, sizeof *s);
	if ((t = json_str(v, "name", NULL)) != NULL)
		snprintf(s->name, sizeof s->name, "%s", t);
	if ((t = json_str(v, "image", NULL)) != NULL)
		snprintf(s->image, sizeof s->image, "%s", t);
	if ((t = json_str(v, "status", NULL)) != NULL)
		snprintf(s->status, sizeof s->status, "%s", t);
	if (json_int(v, &n, "created", NULL) == 0)
		s->created = n;
	if (json_int(v, &n, "memory", NULL) == 0 && n > 0)
		s->memory = (uint64_t)n;
}

/* GET /sessions answered 200: {"sessions": [...]}. */
static void
remote_list_answer(struct remote_op *op)
{
	struct isol8_session_info *list = NULL;
	struct isol8_error e;
	struct err *err = NULL;
	yajl_val v, a;
	size_t i, n = 0;

	v = json_parse(op->body.data, op->body.len, &err);
	a = json_get(v, "sessions", NULL);
	if (a == NULL || !YAJL_IS_ARRAY(a)) {
		e.code = ISOL8_EINTERNAL;
		snprintf(e.message, sizeof e.message,
		    "the isol8 server's session list is malformed%s%s",
		    err != NULL ? ": " : "", err != NULL ? err->msg : "");
		remote_op_close(op, NULL, 0, &e);
	} else {
		n = a->u.array.len;
		list = n ? xcalloc(n, sizeof *list) : NULL;
		for (i = 0; i < n; i++)
			remote_session_info(a->u.array.values[i], &list[i]);
		remote_op_close(op, list, n, NULL);
	}
	free(list);
	err_free(&err);
	yajl_tree_free(v);
}

/* The only place an operation's fate is decided. */
static void
remote_op_step(struct remote_op *op)
{
	struct isol8_error e;

	if (op->state == ROP_DONE)
		return;
	if (op->cancel) {
		e.code = ISOL8_ECANCELLED;
		snprintf(
		    e.message, sizeof e.message, "the engine is shutting down");
		remote_op_close(op, NULL, 0, &e);
		return;
	}
	if (op->http != NULL)
		return;
	if (op->xfer_err != NULL && op->xfer_err->kind == ERR_TIMEOUT) {
		e.code = ISOL8_EUNAVAILABLE;
		snprintf(e.message, sizeof e.message,
		    "the isol8 server at %s did not answer within %llu ms (the bound: remote.connectTimeoutMs + remote.stallTimeoutMs)",
		    op->rm->base,
		    (unsigned long long)(op->rm->connect_ms +
		        op->rm->stall_ms));
		remote_op_close(op, NULL, 0, &e);
	} else if (op->xfer_err != NULL) {
		e.code = op->status == 0 ? ISOL8_EUNAVAILABLE : ISOL8_EINTERNAL;
		snprintf(e.message, sizeof e.message, "%s%s: %s",
		    op->status == 0 ? "cannot reach the isol8 server at "
		                    : "the isol8 server at ",
		    op->rm->base, op->xfer_err->msg);
		remote_op_close(op, NULL, 0, &e);
	} else if (op->status != 200) {
		remote_refusal(op->status, &op->body, &e);
		if (op->status == 404)
			e.code = ISOL8_ENOTFOUND;
		remote_op_close(op, NULL, 0, &e);
	} else if (op->list_cb != NULL)
		remote_list_answer(op);
	else
		remote_op_close(op, NULL, 0, NULL);
}

static void
remote_op_done(struct http_req *req, const struct err *e, void *arg)
{
	struct remote_op *op = arg;

	op->status = http_req_status(req);
	buf_add(&op->body, http_req_response(req)->data,
	    http_req_response(req)->len);
	if (e != NULL)
		op->xfer_err = err_dup(e);
	op->http = NULL;
	remote_op_step(op);
}

static int
remote_op_addr_ok(const struct sockaddr *sa, void *arg)
{
	(void)sa, (void)arg;
	return 1;
}

/* An operation's request, submitted: its answer comes from the loop. */
static struct remote_op *
remote_op_new(
    struct remote *rm, const char *method, const char *path, void *arg)
{
	struct remote_op *op = xcalloc(1, sizeof *op);
	char *url = xasprintf("%s%s", rm->base, path);

	op->rm = rm;
	op->arg = arg;
	buf_init(&op->body);
	op->http = http_req_new(rm->http, method, url);
	http_req_header(op->http, rm->auth);
	http_req_outside(op->http, "http,https", remote_op_addr_ok, NULL);
	/* One JSON answer, sent whole: nothing for stall_ms is no answer. */
	http_req_connect_timeout(op->http, (long)rm->connect_ms);
	http_req_timeout(op->http, (long)(rm->connect_ms + rm->stall_ms));
	TAILQ_INSERT_TAIL(&rm->ops, op, entry);
	free(url);
	return op;
}

void
remote_session_list(struct remote *rm, isol8_session_list_cb cb, void *arg)
{
	struct remote_op *op = remote_op_new(rm, "GET", "/sessions", arg);

	op->list_cb = cb;
	http_req_submit(op->http, remote_op_done, op);
}

/* A name as the engine takes it (letters, digits, . _ -): no escaping. */
int
remote_session_remove(struct remote *rm, const char *name,
    isol8_session_done_cb cb, void *arg, struct err **errp)
{
	struct remote_op *op;
	char *path;
	size_t len = strlen(name);

	if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-' ||
	    strspn(name,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") != len)
		return err_set(errp, ERR_INVALID,
		    "bad session name `%.64s` (letters, digits, `.`, `_`, `-`)",
		    name);
	path = xasprintf("/sessions/%s", name);
	op = remote_op_new(rm, "DELETE", path, arg);
	op->done_cb = cb;
	http_req_submit(op->http, remote_op_done, op);
	free(path);
	return 0;
}

/* Engine free: every call still going ends now, cancelled. */
void
remote_session_abort(struct remote *rm)
{
	struct remote_op *op;

	while ((op = TAILQ_FIRST(&rm->ops)) != NULL) {
		op->cancel = 1;
		remote_op_step(op);
	}
}
