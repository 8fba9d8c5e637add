/*
 * The blocking conveniences: start an async operation with callbacks that
 * collect its results, then turn the engine's own loop until it is done.
 * They refuse an engine on the caller's event_base (engine_can_wait()).
 * What they hand back is the caller's: output is copied whole (it may hold
 * NUL bytes), and so is every pointer of the result, which on_done only
 * lends.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct sync_run {
	struct buf out;
	struct buf err;
	struct isol8_result result;
	struct isol8_error error;
	int failed;
	int done;
};

static void
sync_stdout(const char *data, size_t len, void *arg)
{
	buf_add(&((struct sync_run *)arg)->out, data, len);
}

static void
sync_stderr(const char *data, size_t len, void *arg)
{
	buf_add(&((struct sync_run *)arg)->err, data, len);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* A copy of what on_done lends: container id, output files, net events. */
static void
sync_keep(struct isol8_result *to, const struct isol8_result *from)
{
	struct isol8_output_file *of;
	struct isol8_net_event *ne;
	size_t i;

	*to = *from;
	to->container_id = dup_or_null(from->container_id);
	to->outputs = NULL;
	to->net_events = NULL;
	if (from->outputs_len > 0) {
		of = xcalloc(from->outputs_len, sizeof *of);
		for (i = 0; i < from->outputs_len; i++) {
			of[i].path = dup_or_null(from->outputs[i].path);
			of[i].error = dup_or_null(from->outputs[i].error);
			of[i].len = from->outputs[i].len;
			if (from->outputs[i].data != NULL) {
				char *d = xmalloc(of[i].len + 1);

				memcpy(d, from->outputs[i].data, of[i].len);
				d[of[i].len] = '\0';
				of[i].data = d;
			}
		}
		to->outputs = of;
	}
	if (from->net_events_len > 0) {
		ne = xcalloc(from->net_events_len, sizeof *ne);
		for (i = 0; i < from->net_events_len; i++) {
			ne[i] = from->net_events[i];
			ne[i].method = dup_or_null(from->net_events[i].method);
			ne[i].host = dup_or_null(from->net_events[i].host);
			ne[i].port = dup_or_null(from->net_events[i].port);
			ne[i].reason = dup_or_null(from->net_events[i].reason);
		}
		to->net_events = ne;
	}
}

static void
sync_done(
    const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct sync_run *s = arg;

	sync_keep(&s->result, res);
	if (e != NULL) {
		s->error = *e;
		s->failed = 1;
	}
	s->done = 1;
}

/* The buffer's bytes, NUL-terminated, as the caller's own allocation. */
static char *
take(struct buf *b, size_t *len)
{
	char *p;

	*len = b->len;
	p = xmalloc(b->len + 1);
	if (b->len > 0)
		memcpy(p, b->data, b->len);
	p[b->len] = '\0';
	buf_free(b);
	return p;
}

/*
 * Run to completion. 0 when the program ran (whatever its exit code), -1
 * with *errp set when it could not. Output is bounded by max_output.
 */
int
isol8_run_sync(struct isol8_engine *e, const struct isol8_request *req,
    struct isol8_output *out, struct isol8_error *errp)
{
	static const struct isol8_callbacks cbs = { sync_stdout, sync_stderr,
		sync_done };
	struct sync_run s;

	memset(&s, 0, sizeof s);
	memset(out, 0, sizeof *out);
	if (engine_can_wait(e, errp) == -1)
		return -1;
	if (isol8_run_start(e, req, &cbs, &s, errp) == NULL)
		return -1;
	engine_wait(e, &s.done);
	out->stdout_data = take(&s.out, &out->stdout_len);
	out->stderr_data = take(&s.err, &out->stderr_len);
	out->result = s.result;
	if (s.failed) {
		if (errp != NULL)
			*errp = s.error;
		return -1;
	}
	return 0;
}

/* The strings are ours (copied); the public struct shows them const. */
static void
free_const(const char *p)
{
	free((void *)(uintptr_t)p);
}

void
isol8_output_free(struct isol8_output *out)
{
	struct isol8_result *r = &out->result;
	size_t i;

	free(out->stdout_data);
	free(out->stderr_data);
	free_const(r->container_id);
	for (i = 0; r->outputs != NULL && i < r->outputs_len; i++) {
		free_const(r->outputs[i].path);
		free_const(r->outputs[i].data);
		free_const(r->outputs[i].error);
	}
	free((void *)(uintptr_t)r->outputs);
	for (i = 0; r->net_events != NULL && i < r->net_events_len; i++) {
		free_const(r->net_events[i].method);
		free_const(r->net_events[i].host);
		free_const(r->net_events[i].port);
		free_const(r->net_events[i].reason);
	}
	free((void *)(uintptr_t)r->net_events);
	memset(out, 0, sizeof *out);
}
