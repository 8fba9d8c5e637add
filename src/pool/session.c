/*
 * Sessions: one long-lived, labelled container per session name, named
 * isol8-session-<name>, whose agent (--session) keeps files between runs
 * and expires after its idle time. Opening one is race-free: the create
 * carries the name, so of two processes creating the same new session one
 * gets 201 and the other 409 -- and then claims the existing container,
 * after checking that it is a session of the same limits. A session agent
 * serves one claimant at a time; others retry until a deadline.
 *
 *   CREATING -> DONE (made, or failed)
 *   CREATING -> INSPECTING -> CLAIMING -> DONE (joined, or failed)
 *   INSPECTING -> CREATING (it expired meanwhile)
 *   INSPECTING -> CLAIMING ... (join only: an opener that must not make
 *                 the session starts here; none is ENOTFOUND)
 *   CLAIMING -> RETRYING -> CLAIMING (busy with another claimant's run)
 *
 * An opener is held by its pool (pool_opens(): pool_busy() counts it,
 * pool_drain() cancels it). open_step() is the only place its state
 * moves; open_close() its one end: delivered, failed or cancelled. A
 * cancel removes a session container we were still making, never one we
 * were joining.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define SESSION_RETRY_MS 50
#define SESSION_WAIT_MS 30000
#define SESSION_INTERRUPT_MS 2000 /* after an interrupt, the run is killed */

enum open_state {
	OPEN_CREATING,   /* our create of the session's container (a box) */
	OPEN_INSPECTING, /* it exists: dockerd's inspect is due */
	OPEN_CLAIMING,   /* attached to it: its agent's READY is due */
	OPEN_RETRYING,   /* busy with another claimant: the retry timer runs */
	OPEN_DONE,       /* the box or the failure is at hand: it ends */
};

struct session_open {
	struct pool *p;
	struct docker *d;
	enum open_state state; /* moved by open_step() only */
	struct pool_spec spec;
	char *image;
	char *network;
	char *name;
	char *cname;
	char *id; /* of the existing container, once inspected */
	char limits[17];
	int must_exist; /* join it, never make it */
	uint64_t idle_ms;
	uint64_t deadline;
	pool_acquire_cb cb;
	void *arg;
	struct box *box;      /* being made or claimed */
	struct http_req *req; /* the inspect */
	struct event *retry;
	TAILQ_ENTRY(session_open) entry; /* the pool's openers */

	/* Facts: recorded by the callbacks, read by open_step(). */
	struct box *got; /* the session's box, ready */
	struct err *err; /* the step at hand failed so */
	int due;         /* the retry timer fired */
};

static void open_step(struct session_open *);
static void open_close(struct session_open *, int);

static void
open_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_open *so = arg;

	(void)fd;
	(void)what;
	so->due = 1;
	open_step(so);
}

/* The box being made or claimed: ready, or why not. */
static void
open_boxed(struct box *b, const struct err *e, void *arg)
{
	struct session_open *so = arg;

	so->box = NULL;
	so->got = b;
	if (e != NULL)
		so->err = err_dup(e);
	open_step(so);
}

/* Is the existing container a session of our limits? Its id, if so. */
static void
open_inspected(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct session_open *so = arg;
	const char *kind, *limits, *id;

	so->req = NULL;
	if (e != NULL) {
		so->err = err_dup(e);
		open_step(so);
		return;
	}
	kind = json_str(r->json, "Config", "Labels", LABEL_KIND, NULL);
	limits = json_str(r->json, "Config", "Labels", LABEL_LIMITS, NULL);
	if (kind == NULL || strcmp(kind, "session") != 0)
		so->err = err_new(ERR_CONFLICT,
		    "a container named `%s` exists and is not an isol8 session",
		    so->cname);
	else if (limits == NULL || strcmp(limits, so->limits) != 0)
		so->err = err_new(ERR_INVALID,
		    "session `%s` was created with other limits (memory, cpu, pids, sizes or network); run with those, or remove it with `isol8 session rm %s`",
		    so->name, so->name);
	else if ((id = json_str(r->json, "Id", NULL)) != NULL) {
		free(so->id);
		so->id = xstrdup(id);
	}
	open_step(so);
}

static enum open_state
open_create(struct session_open *so)
{
	so->box = box_create(
	    so->d, &so->spec, so->cname, so->idle_ms, so->name, open_boxed, so);
	return OPEN_CREATING;
}

static enum open_state
open_claim(struct session_open *so)
{
	so->box = box_claim(so->d, so->id ? so->id : so->cname, open_boxed, so);
	return OPEN_CLAIMING;
}

/* CREATING is over: made; it exists (409): inspect it; else failed. */
static enum open_state
open_created(struct session_open *so)
{
	if (so->err == NULL || so->err->kind != ERR_CONFLICT)
		return OPEN_DONE; /* made, or failed */
	err_free(&so->err);
	so->req =
	    docker_container_inspect(so->d, so->cname, open_inspected, so);
	return OPEN_INSPECTING;
}

/* INSPECTING is over: claim it; gone meanwhile (expired): create again. */
static enum open_state
open_checked(struct session_open *so)
{
	if (so->err == NULL)
		return open_claim(so);
	if (so->err->kind == ERR_NOTFOUND && so->must_exist) {
		err_free(&so->err);
		so->err = err_new(ERR_NOTFOUND, "no session `%s`", so->name);
	} else if (so->err->kind == ERR_NOTFOUND && now_ms() < so->deadline) {
		err_free(&so->err);
		return open_create(so);
	}
	return OPEN_DONE;
}

/* CLAIMING is over: joined; busy: again later, up to the deadline. */
static enum open_state
open_claimed(struct session_open *so)
{
	struct timeval tv = { 0, SESSION_RETRY_MS * 1000 };
	struct err *e = so->err;

	if (e == NULL)
		return OPEN_DONE; /* joined */
	if (e->kind == ERR_CONFLICT && now_ms() < so->deadline) {
		err_free(&so->err);
		so->due = 0;
		evtimer_add(so->retry, &tv);
		return OPEN_RETRYING;
	}
	so->err = err_new(e->kind, "session `%s`: %s", so->name,
	    e->kind == ERR_CONFLICT ? "still busy with another run after 30 s"
	                            : e->msg);
	err_free(&e);
	return OPEN_DONE;
}

/*
 * Move the opener on from its facts until it rests: the only place its
 * state changes. One whose box came, or whose failure is final, ends.
 */
static void
open_step(struct session_open *so)
{
	enum open_state was;

	do {
		was = so->state;
		switch (so->state) {
		case OPEN_CREATING:
			if (so->box == NULL)
				so->state = open_created(so);
			break;
		case OPEN_INSPECTING:
			if (so->req == NULL)
				so->state = open_checked(so);
			break;
		case OPEN_CLAIMING:
			if (so->box == NULL)
				so->state = open_claimed(so);
			break;
		case OPEN_RETRYING:
			if (so->due)
				so->state = open_claim(so);
			break;
		case OPEN_DONE:
			open_close(so, 0);
			return;
		}
	} while (so->state != was);
}

/*
 * The one end of an opener: unlinked from its pool, what it holds let go
 * (cancelled: a session container being made is removed, a claim only
 * detached), then its callback -- unless cancelled -- last.
 */
static void
open_close(struct session_open *so, int cancelled)
{
	pool_acquire_cb cb = so->cb;
	void *arg = so->arg;
	struct box *got = so->got;
	struct err *e = so->err;

	TAILQ_REMOVE(pool_opens(so->p), so, entry);
	if (so->req != NULL)
		docker_cancel(so->req);
	if (so->box != NULL)
		box_close(so->box,
		    so->state == OPEN_CREATING ? BOX_REMOVE : BOX_DETACH);
	event_free(so->retry);
	free(so->image);
	free(so->network);
	free(so->name);
	free(so->cname);
	free(so->id);
	free(so);
	if (!cancelled)
		cb(e != NULL ? NULL : got, e, arg);
	err_free(&e);
}

/*
 * Open (create or join; must_exist: join only) session `name`; cb runs
 * once, later, with the box.
 */
struct session_open *
pool_session_open(struct pool *p, const struct pool_spec *spec,
    const char *name, int must_exist, uint64_t idle_ms, pool_acquire_cb cb,
    void *arg)
{
	struct session_open *so = xcalloc(1, sizeof *so);

	so->p = p;
	so->d = pool_docker(p);
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
	    evtimer_new(loop_base(docker_loop(so->d)), open_retry_cb, so);
	so->must_exist = must_exist;
	TAILQ_INSERT_TAIL(pool_opens(p), so, entry);
	if (must_exist) {
		so->req = docker_container_inspect(
		    so->d, so->cname, open_inspected, so);
		so->state = OPEN_INSPECTING;
	} else
		so->state = open_create(so);
	return so;
}

/* Give up opening, in any state: no callback; no joined session touched. */
void
pool_session_cancel(struct session_open *so)
{
	open_close(so, 1);
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
	box_close(b, BOX_DETACH);
}
