/*
 * Sessions: one long-lived, labelled container per session name, named
 * isol8-session-<name>, whose agent (--session) keeps files between runs
 * and expires after its idle time. Opening one is race-free: the create
 * carries the name, so of two processes creating the same new session one
 * gets 201 and the other 409 -- and then claims the existing container,
 * after checking that it is a session of the same limits. A session agent
 * serves one claimant at a time; others retry until a deadline.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define SESSION_RETRY_MS 50
#define SESSION_WAIT_MS 30000
#define SESSION_INTERRUPT_MS 2000 /* after an interrupt, the run is killed */

struct session_open {
	struct docker *d;
	struct pool_spec spec;
	char *image;
	char *network;
	char *name;
	char *cname;
	char *id; /* of the existing container, once inspected */
	char limits[17];
	uint64_t idle_ms;
	uint64_t deadline;
	pool_acquire_cb cb;
	void *arg;
	struct box *box;
	struct http_req *req;
	struct event *retry;
	int cancelled;
};

static void session_claim(struct session_open *);
static void session_create(struct session_open *);

static void
session_free(struct session_open *so)
{
	if (so->retry != NULL)
		event_free(so->retry);
	free(so->image);
	free(so->network);
	free(so->name);
	free(so->cname);
	free(so->id);
	free(so);
}

static void
session_done(struct session_open *so, struct box *b, struct err *e)
{
	so->cb(b, e, so->arg);
	err_free(&e);
	session_free(so);
}

static void
session_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_claim(arg);
}

static void
session_claimed(struct box *b, const struct err *e, void *arg)
{
	struct session_open *so = arg;
	struct timeval tv = { 0, SESSION_RETRY_MS * 1000 };

	so->box = NULL;
	if (e == NULL) {
		session_done(so, b, NULL);
		return;
	}
	/* Busy with another claimant's run: try again, up to a deadline. */
	if (e->kind == ERR_CONFLICT && now_ms() < so->deadline) {
		evtimer_add(so->retry, &tv);
		return;
	}
	session_done(so, NULL,
	    err_new(e->kind, "session `%s`: %s", so->name,
	        e->kind == ERR_CONFLICT ? "still busy with another "
	                                  "run after 30 s"
	                                : e->msg));
}

static void
session_inspected(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct session_open *so = arg;
	const char *kind, *limits, *id;

	so->req = NULL;
	if (e != NULL) {
		/* Gone between our create and the inspect (expired): again. */
		if (e->kind == ERR_NOTFOUND && now_ms() < so->deadline) {
			session_create(so);
			return;
		}
		session_done(so, NULL, err_dup(e));
		return;
	}
	kind = json_str(r->json, "Config", "Labels", LABEL_KIND, NULL);
	limits = json_str(r->json, "Config", "Labels", LABEL_LIMITS, NULL);
	if (kind == NULL || strcmp(kind, "session") != 0) {
		session_done(so, NULL,
		    err_new(ERR_CONFLICT,
		        "a container "
		        "named `%s` exists and is not an isol8 session",
		        so->cname));
		return;
	}
	if (limits == NULL || strcmp(limits, so->limits) != 0) {
		session_done(so, NULL,
		    err_new(ERR_INVALID,
		        "session `%s` was "
		        "created with other limits (memory, cpu, pids, sizes "
		        "or "
		        "network); run with those, or remove it with `isol8 "
		        "session rm %s`",
		        so->name, so->name));
		return;
	}
	if ((id = json_str(r->json, "Id", NULL)) != NULL) {
		free(so->id);
		so->id = xstrdup(id);
	}
	session_claim(so);
}

static void
session_claim(struct session_open *so)
{
	if (so->cancelled)
		return;
	so->box =
	    box_claim(so->d, so->id ? so->id : so->cname, session_claimed, so);
}

static void
session_created(struct box *b, const struct err *e, void *arg)
{
	struct session_open *so = arg;

	so->box = NULL;
	if (e == NULL) {
		session_done(so, b, NULL);
		return;
	}
	if (e->kind != ERR_CONFLICT) {
		session_done(so, NULL, err_dup(e));
		return;
	}
	/* It exists (or another process just made it): claim that one. */
	so->req =
	    docker_container_inspect(so->d, so->cname, session_inspected, so);
}

static void
session_create(struct session_open *so)
{
	so->box = box_create(so->d, &so->spec, so->cname, so->idle_ms, so->name,
	    session_created, so);
}

/* Open (create or join) session `name`; cb runs once with the box. */
struct session_open *
pool_session_open(struct docker *d, const struct pool_spec *spec,
    const char *name, uint64_t idle_ms, pool_acquire_cb cb, void *arg)
{
	struct session_open *so = xcalloc(1, sizeof *so);

	so->d = d;
	so->spec = *spec;
	so->image = xstrdup(spec->image);
	so->network = xstrdup(spec->network);
	so->spec.image = so->image;
	so->spec.network = so->network;
	so->name = xstrdup(name);
	so->cname = xasprintf("isol8-session-%s", name);
	pool_limits_key(spec, so->limits);
	so->idle_ms = idle_ms;
	so->deadline = now_ms() + SESSION_WAIT_MS;
	so->cb = cb;
	so->arg = arg;
	so->retry =
	    evtimer_new(loop_base(docker_loop(d)), session_retry_cb, so);
	session_create(so);
	return so;
}

/* Give up opening: no callback; nothing of the session is touched. */
void
pool_session_cancel(struct session_open *so, int *inflight)
{
	so->cancelled = 1;
	if (so->req != NULL)
		docker_cancel(so->req);
	if (so->box != NULL)
		box_abandon(so->box, inflight);
	evtimer_del(so->retry);
	session_free(so);
}

/*
 * A run in the session is over. Clean: detach (the agent stays, with the
 * session's files). Otherwise kill what the run left, then detach.
 */
void
pool_session_release(struct box *b, int clean)
{
	struct proto_buf pb = { 0 };
	size_t at;

	/*
	 * A run left unfinished (Ctrl-C, an error): interrupt it, as a
	 * terminal would, so that a session's interpreter can keep its state;
	 * the agent kills it if it is still going SESSION_INTERRUPT_MS later.
	 */
	if (!clean) {
		at = proto_frame_begin(&pb, PROTO_SIGNAL);
		proto_tlv_u64(&pb, PROTO_T_SIGNO, SIGINT);
		proto_tlv_u64(&pb, PROTO_T_GRACE_MS, SESSION_INTERRUPT_MS);
		proto_frame_end(&pb, at);
		box_send(b, &pb);
		proto_buf_free(&pb);
	}
	box_close(b);
}
