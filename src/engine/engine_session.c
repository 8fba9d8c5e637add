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

int
isol8_session_list(struct isol8_engine *e, struct isol8_session_info **out,
    size_t *n, struct isol8_error *errp)
{
	struct docker_sync c = { 0 };
	yajl_val list, ins;
	struct isol8_session_info *s;
	const char *name, *image, *state;
	long long created, mem;
	size_t i;

	*out = NULL;
	*n = 0;
	if (engine_can_wait(e, errp) == -1)
		return -1;
	docker_container_list(e->docker,
	    "{\"label\":[\"" LABEL_KIND "=session\"]}", 1, docker_sync_cb, &c);
	if ((list = call_json(e, &c, errp)) == NULL)
		return -1;
	if (YAJL_IS_ARRAY(list) && list->u.array.len > 0)
		*out = xcalloc(list->u.array.len, sizeof **out);
	for (i = 0; YAJL_IS_ARRAY(list) && i < list->u.array.len; i++) {
		yajl_val v = list->u.array.values[i];

		name = json_str(v, "Labels", LABEL_SESSION, NULL);
		if (name == NULL)
			continue;
		s = &(*out)[(*n)++];
		snprintf(s->name, sizeof s->name, "%s", name);
		image = json_str(v, "Image", NULL);
		state = json_str(v, "State", NULL);
		snprintf(s->image, sizeof s->image, "%s", image ? image : "");
		snprintf(s->status, sizeof s->status, "%s", state ? state : "");
		if (json_int(v, &created, "Created", NULL) == 0)
			s->created = created;
		/* The memory limit is only in the inspect. */
		memset(&c, 0, sizeof c);
		docker_container_inspect(
		    e->docker, json_str(v, "Id", NULL), docker_sync_cb, &c);
		if ((ins = call_json(e, &c, NULL)) != NULL) {
			if (json_int(ins, &mem, "HostConfig", "Memory", NULL) ==
			    0)
				s->memory = (uint64_t)mem;
			yajl_tree_free(ins);
		}
	}
	yajl_tree_free(list);
	return 0;
}

/* Remove the container of a session (and with it, its files). */
int
isol8_session_remove(
    struct isol8_engine *e, const char *name, struct isol8_error *errp)
{
	struct docker_sync c = { 0 };
	cleanup_free char *cname = xasprintf("isol8-session-%s", name);
	yajl_val v;
	const char *kind;

	if (engine_can_wait(e, errp) == -1)
		return -1;
	docker_container_inspect(e->docker, cname, docker_sync_cb, &c);
	if ((v = call_json(e, &c, errp)) == NULL) {
		if (errp != NULL && errp->code == ISOL8_ENOTFOUND)
			snprintf(errp->message, sizeof errp->message,
			    "no session `%s`", name);
		return -1;
	}
	kind = json_str(v, "Config", "Labels", LABEL_KIND, NULL);
	if (kind == NULL || strcmp(kind, "session") != 0) {
		yajl_tree_free(v);
		if (errp != NULL) {
			errp->code = ISOL8_EINVAL;
			snprintf(errp->message, sizeof errp->message,
			    "`%s` is not an isol8 session", cname);
		}
		return -1;
	}
	yajl_tree_free(v);
	memset(&c, 0, sizeof c);
	docker_container_remove(e->docker, cname, 1, docker_sync_cb, &c);
	if ((v = call_json(e, &c, errp)) == NULL)
		return -1;
	yajl_tree_free(v);
	return 0;
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
