/*
 * Sessions and clean-up for the public API: file transfers into and out of
 * a session (a run of `true` carrying `files` or `outputs`, so paths are
 * checked by the engine and again, without following links, by the agent),
 * listing and removing sessions, and removing everything isol8 created.
 * Only containers carrying org.isol8.kind -- set by isol8 at creation, not
 * inherited from an image -- are ever touched.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static const char *const true_argv[] = { "true", NULL };

int
isol8_session_put_file(struct isol8_engine *e, const struct isol8_request *req,
    const char *path, const void *data, size_t len, struct isol8_error *errp)
{
	struct isol8_request r = *req;
	struct isol8_file f = { path, data, len };
	struct isol8_output out;
	int rc;

	r.code = r.cmd = NULL;
	r.argv = true_argv;
	r.files = &f;
	r.files_len = 1;
	r.outputs_len = 0;
	r.stdin_data = NULL;
	r.stdin_stream = 0;
	rc = isol8_run_sync(e, &r, &out, errp);
	isol8_output_free(&out);
	return rc;
}

/* Read a file of a session: *data (NUL-terminated, free() it) and *len. */
int
isol8_session_get_file(struct isol8_engine *e, const struct isol8_request *req,
    const char *path, char **data, size_t *len, struct isol8_error *errp)
{
	struct isol8_request r = *req;
	struct isol8_output out;
	const struct isol8_output_file *f;
	const char *outs[1] = { path };
	int rc = -1;

	r.code = r.cmd = NULL;
	r.argv = true_argv;
	r.files_len = 0;
	r.outputs = outs;
	r.outputs_len = 1;
	r.stdin_data = NULL;
	r.stdin_stream = 0;
	r.session_must_exist = 1; /* reading makes no session */
	if (isol8_run_sync(e, &r, &out, errp) == -1) {
		isol8_output_free(&out);
		return -1;
	}
	f = out.result.outputs_len == 1 ? &out.result.outputs[0] : NULL;
	if (f != NULL && f->error == NULL && f->data != NULL) {
		/* The copy run_sync made is ours: hand it over. */
		*data = (char *)(uintptr_t)f->data;
		*len = f->len;
		((struct isol8_output_file *)(uintptr_t)f)->data = NULL;
		rc = 0;
	} else if (errp != NULL) {
		errp->code = ISOL8_ENOTFOUND;
		snprintf(errp->message, sizeof errp->message, "%s",
		    f != NULL && f->error ? f->error : "file not received");
	}
	isol8_output_free(&out);
	return rc;
}

/*
 * Listing and removing sessions, asynchronously: one operation each, a
 * state machine over Docker calls (list, then an inspect per session for
 * its memory limit; inspect, then remove). Its callback runs exactly once,
 * from the loop; at engine free, with ISOL8_ECANCELLED. The blocking
 * isol8_session_list/_remove wait for these on the engine's own loop.
 */
enum sop_state {
	SOP_LIST,    /* listing the session containers */
	SOP_INSPECT, /* inspecting one (list: its memory; remove: its kind) */
	SOP_REMOVE,  /* removing it */
	SOP_DONE,
};

struct session_op {
	struct isol8_engine *e;
	enum sop_state state;
	int remove; /* 1: a remove, 0: a list */
	char *name; /* remove: the session, and its container */
	char *cname;
	char **ids;    /* list: the sessions' containers, to inspect */
	int listed;    /* list: dockerd answered */
	int inspected; /* remove: its inspect was asked */
	size_t next;   /* list: the next container to inspect */
	struct isol8_session_info *infos;
	size_t ninfos;
	struct http_req *req; /* the Docker call in flight */
	struct event *wake;   /* the callback on a later turn */
	struct err *err;
	isol8_session_list_cb list_cb;
	isol8_session_done_cb done_cb;
	void *arg;
	TAILQ_ENTRY(session_op) entry;
};

static void sop_step(struct session_op *);

/* The one end of an operation: call back once, free. */
static void
sop_close(struct session_op *op)
{
	struct isol8_error pub, *perr = NULL;
	size_t i;

	op->state = SOP_DONE;
	TAILQ_REMOVE(&op->e->session_ops, op, entry);
	if (op->req != NULL)
		docker_cancel(op->req);
	if (op->err != NULL) {
		memset(&pub, 0, sizeof pub);
		engine_error(&pub, op->err);
		perr = &pub;
	}
	if (op->remove)
		op->done_cb(perr, op->arg);
	else
		op->list_cb(perr ? NULL : op->infos, perr ? 0 : op->ninfos,
		    perr, op->arg);
	for (i = 0; i < op->ninfos; i++)
		free(op->ids[i]);
	free(op->ids);
	err_free(&op->err);
	event_free(op->wake);
	free(op->infos);
	free(op->name);
	free(op->cname);
	free(op);
}

/* A session container of the listing, as a session_info. */
static void
sop_info(struct session_op *op, yajl_val v)
{
	struct isol8_session_info *s;
	const char *name, *image, *state;
	long long created;

	if ((name = json_str(v, "Labels", LABEL_SESSION, NULL)) == NULL ||
	    json_str(v, "Id", NULL) == NULL)
		return;
	op->ids[op->ninfos] = xstrdup(json_str(v, "Id", NULL));
	s = &op->infos[op->ninfos++];
	snprintf(s->name, sizeof s->name, "%s", name);
	image = json_str(v, "Image", NULL);
	state = json_str(v, "State", NULL);
	snprintf(s->image, sizeof s->image, "%s", image ? image : "");
	snprintf(s->status, sizeof s->status, "%s", state ? state : "");
	if (json_int(v, &created, "Created", NULL) == 0)
		s->created = created;
}

/* What a Docker call answered, recorded; the step decides. */
static void
sop_reply(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct session_op *op = arg;
	long long mem;
	const char *kind;
	size_t i, n;

	op->req = NULL;
	if (e != NULL && !(op->state == SOP_INSPECT && !op->remove))
		op->err = err_dup(e);
	else if (op->state == SOP_LIST) {
		if (r->json == NULL || !YAJL_IS_ARRAY(r->json))
			op->err = err_new(
			    ERR_DOCKER, "dockerd's list is not an array");
		else {
			n = r->json->u.array.len;
			op->listed = 1;
			op->infos = xcalloc(n + 1, sizeof *op->infos);
			op->ids = xcalloc(n + 1, sizeof *op->ids);
			for (i = 0; i < n; i++)
				sop_info(op, r->json->u.array.values[i]);
		}
	} else if (op->state == SOP_INSPECT && !op->remove) {
		/* The memory limit is only in the inspect; a session gone
		 * meanwhile just has none. */
		if (e == NULL && r->json != NULL &&
		    json_int(r->json, &mem, "HostConfig", "Memory", NULL) == 0)
			op->infos[op->next].memory = (uint64_t)mem;
		op->next++;
	} else if (op->state == SOP_INSPECT) {
		kind = r->json
		    ? json_str(r->json, "Config", "Labels", LABEL_KIND, NULL)
		    : NULL;
		if (kind == NULL || strcmp(kind, "session") != 0)
			op->err = err_new(ERR_INVALID,
			    "`%s` is not an isol8 session", op->cname);
	}
	sop_step(op);
}

/* The one place an operation moves: the next Docker call, or the end. */
static void
sop_step(struct session_op *op)
{
	struct docker *d = op->e->docker;

	if (op->state == SOP_DONE || op->req != NULL)
		return;
	if (op->err != NULL) {
		if (op->remove && op->err->kind == ERR_NOTFOUND) {
			free(op->err->msg);
			op->err->msg = xasprintf("no session `%s`", op->name);
		}
		sop_close(op);
		return;
	}
	switch (op->state) {
	case SOP_LIST:
		if (!op->listed) {
			op->req = docker_container_list(d,
			    "{\"label\":[\"" LABEL_KIND "=session\"]}", 1,
			    sop_reply, op);
			return;
		}
		op->state = SOP_INSPECT;
		/* FALLTHROUGH */
	case SOP_INSPECT:
		if (op->remove && !op->inspected) {
			op->inspected = 1;
			op->req = docker_container_inspect(
			    d, op->cname, sop_reply, op);
			return;
		}
		if (op->remove) {
			op->state = SOP_REMOVE;
			op->req = docker_container_remove(
			    d, op->cname, 1, sop_reply, op);
			return;
		}
		if (op->next < op->ninfos) {
			op->req = docker_container_inspect(
			    d, op->ids[op->next], sop_reply, op);
			return;
		}
		sop_close(op);
		return;
	case SOP_REMOVE:
		sop_close(op);
		return;
	case SOP_DONE:
		return;
	}
}

static void
sop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	sop_step(arg);
}

static struct session_op *
sop_new(struct isol8_engine *e, int remove, void *arg)
{
	struct session_op *op = xcalloc(1, sizeof *op);

	op->e = e;
	op->remove = remove;
	op->arg = arg;
	op->state = remove ? SOP_INSPECT : SOP_LIST;
	op->wake = event_new(loop_base(e->loop), -1, 0, sop_wake_cb, op);
	TAILQ_INSERT_TAIL(&e->session_ops, op, entry);
	/* The first call starts from the loop, never inside ours. */
	event_active(op->wake, EV_TIMEOUT, 0);
	return op;
}

int
isol8_session_list_start(struct isol8_engine *e, isol8_session_list_cb cb,
    void *arg, struct isol8_error *errp)
{
	struct session_op *op;

	if (e->remote != NULL) { /* the key's sessions on the server */
		remote_session_list(e->remote, cb, arg);
		return 0;
	}
	(void)errp;
	op = sop_new(e, 0, arg);
	op->list_cb = cb;
	return 0;
}

int
isol8_session_remove_start(struct isol8_engine *e, const char *name,
    isol8_session_done_cb cb, void *arg, struct isol8_error *errp)
{
	struct session_op *op;
	struct err *err = NULL;

	if (e->remote != NULL) { /* the key's session on the server */
		if (remote_session_remove(e->remote, name, cb, arg, &err) ==
		    -1) {
			engine_error(errp, err);
			err_free(&err);
			return -1;
		}
		return 0;
	}
	(void)errp;
	op = sop_new(e, 1, arg);
	op->done_cb = cb;
	op->name = xstrdup(name);
	op->cname = xasprintf("isol8-session-%s", name);
	return 0;
}

/* Engine free: every operation still going ends now, cancelled. */
void
engine_session_abort(struct isol8_engine *e)
{
	struct session_op *op;

	while ((op = TAILQ_FIRST(&e->session_ops)) != NULL) {
		err_free(&op->err);
		op->err = err_new(ERR_CANCELLED, "engine shut down");
		sop_close(op);
	}
}

/* The blocking forms: an operation waited for on the engine's own loop. */
struct sop_wait {
	int done;
	struct isol8_error err;
	int failed;
	struct isol8_session_info *list;
	size_t n;
};

static void
sop_wait_list(const struct isol8_session_info *s, size_t n,
    const struct isol8_error *e, void *arg)
{
	struct sop_wait *w = arg;

	w->done = 1;
	if (e != NULL) {
		w->err = *e;
		w->failed = 1;
		return;
	}
	w->list = n > 0 ? xmemdup(s, n * sizeof *s) : NULL;
	w->n = n;
}

static void
sop_wait_done(const struct isol8_error *e, void *arg)
{
	struct sop_wait *w = arg;

	w->done = 1;
	if (e != NULL) {
		w->err = *e;
		w->failed = 1;
	}
}

int
isol8_session_list(struct isol8_engine *e, struct isol8_session_info **out,
    size_t *n, struct isol8_error *errp)
{
	struct sop_wait w = { 0 };

	*out = NULL;
	*n = 0;
	if (engine_can_wait(e, errp) == -1 ||
	    isol8_session_list_start(e, sop_wait_list, &w, errp) == -1)
		return -1;
	engine_wait(e, &w.done);
	if (w.failed) {
		if (errp != NULL)
			*errp = w.err;
		return -1;
	}
	*out = w.list;
	*n = w.n;
	return 0;
}

/* Remove the container of a session (and with it, its files). */
int
isol8_session_remove(
    struct isol8_engine *e, const char *name, struct isol8_error *errp)
{
	struct sop_wait w = { 0 };

	if (engine_can_wait(e, errp) == -1 ||
	    isol8_session_remove_start(e, name, sop_wait_done, &w, errp) == -1)
		return -1;
	engine_wait(e, &w.done);
	if (w.failed) {
		if (errp != NULL)
			*errp = w.err;
		return -1;
	}
	return 0;
}

/* A Docker call, waited for; the parsed JSON reply or NULL with errp. */
static yajl_val
call_json(
    struct isol8_engine *e, struct docker_sync *c, struct isol8_error *errp)
{
	yajl_val v;
	struct err *pe = NULL;

	engine_wait(e, &c->done);
	if (c->err != NULL) {
		engine_error(errp, c->err);
		err_free(&c->err);
		buf_free(&c->body);
		return NULL;
	}
	/* An empty reply (204) is an empty document. */
	v = c->body.len > 0 ? json_parse(c->body.data, c->body.len, &pe)
	                    : json_parse("[]", 2, &pe);
	buf_free(&c->body);
	if (v == NULL) {
		engine_error(errp, pe);
		err_free(&pe);
	}
	return v;
}

typedef struct http_req *(*remove_fn)(
    struct docker *, const char *, int, docker_cb, void *);

/* Remove (forced) each object a waited-for listing returned; how many. */
static unsigned
remove_listed(struct isol8_engine *e, yajl_val list, remove_fn rm)
{
	struct docker_sync c;
	unsigned n = 0;
	size_t i;

	for (i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
		memset(&c, 0, sizeof c);
		rm(e->docker, json_str(list->u.array.values[i], "Id", NULL), 1,
		    docker_sync_cb, &c);
		engine_wait(e, &c.done);
		n += c.err == NULL;
		err_free(&c.err);
		buf_free(&c.body);
	}
	yajl_tree_free(list);
	return n;
}

/*
 * Remove every container isol8 created -- warm, one-use, sessions, bench
 * baselines: all carry org.isol8.kind -- and with `images`, the isol8
 * images too. Containers without that label are never touched.
 */
int
isol8_cleanup(struct isol8_engine *e, int images, unsigned *removed,
    struct isol8_error *errp)
{
	struct docker_sync c = { 0 };
	yajl_val list;
	unsigned n;

	if (engine_can_wait(e, errp) == -1)
		return -1;
	docker_container_list(e->docker, "{\"label\":[\"" LABEL_KIND "\"]}", 1,
	    docker_sync_cb, &c);
	if ((list = call_json(e, &c, errp)) == NULL)
		return -1;
	n = remove_listed(e, list, docker_container_remove);
	if (images) {
		memset(&c, 0, sizeof c);
		docker_image_list(e->docker,
		    "{\"label\":[\"" LABEL_MANAGED "=true\"]}", docker_sync_cb,
		    &c);
		if ((list = call_json(e, &c, errp)) == NULL)
			return -1;
		n += remove_listed(e, list, docker_image_remove);
		/* The base is imported, not built: it has no labels. */
		memset(&c, 0, sizeof c);
		docker_image_list(e->docker,
		    "{\"reference\":[\"" IMAGES_REPO "/base\"]}",
		    docker_sync_cb, &c);
		if ((list = call_json(e, &c, NULL)) != NULL)
			n += remove_listed(e, list, docker_image_remove);
	}
	if (removed != NULL)
		*removed = n;
	return 0;
}
