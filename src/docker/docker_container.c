/*
 * Container operations. docker_create_json() is the whole container
 * configuration, hardening included, as one JSON document; the rest are
 * one request each.
 *
 * Removals are the client's own work, whoever asked: each is counted in
 * docker_busy() until it answers, and so is a create its caller abandoned
 * (docker_container_create_abandon()), whose container is removed as soon
 * as the create answers -- nobody else is called back for it.
 */
#include <stdlib.h>
#include <string.h>

#include "docker.h"

static void
gen_strv(yajl_gen g, const char *key, const char *const *v)
{
	if (v == NULL)
		return;
	json_key(g, key);
	yajl_gen_array_open(g);
	for (; *v != NULL; v++)
		json_str_add(g, *v);
	yajl_gen_array_close(g);
}

/* Pairs (key, value, ..., NULL) as a JSON object. */
static void
gen_pairs(yajl_gen g, const char *key, const char *const *v)
{
	if (v == NULL)
		return;
	json_key(g, key);
	yajl_gen_map_open(g);
	for (; v[0] != NULL && v[1] != NULL; v += 2)
		json_kstr(g, v[0], v[1]);
	yajl_gen_map_close(g);
}

static void
gen_ulimits(yajl_gen g, const struct docker_ulimit *u)
{
	if (u == NULL)
		return;
	json_key(g, "Ulimits");
	yajl_gen_array_open(g);
	for (; u->name != NULL; u++) {
		yajl_gen_map_open(g);
		json_kstr(g, "Name", u->name);
		json_kint(g, "Soft", u->soft);
		json_kint(g, "Hard", u->hard);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

void
docker_create_json(const struct docker_create *c, struct buf *out)
{
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	json_kstr(g, "Image", c->image);
	gen_strv(g, "Cmd", c->cmd);
	gen_pairs(g, "Labels", c->labels);
	if (c->user != NULL)
		json_kstr(g, "User", c->user);
	if (c->workdir != NULL)
		json_kstr(g, "WorkingDir", c->workdir);
	if (c->open_stdin) {
		/*
		 * Without StdinOnce a client that detaches leaves stdin open
		 * (the agent's case) -- but dockerd then also ends that
		 * client's output when it half-closes, so EOF travels in-band.
		 */
		json_kbool(g, "OpenStdin", 1);
		json_kbool(g, "AttachStdin", 1);
		json_kbool(g, "AttachStdout", 1);
		json_kbool(g, "AttachStderr", 1);
		json_kbool(g, "StdinOnce", 0);
	}
	json_kbool(g, "Tty", 0);
	if (c->network_mode != NULL && strcmp(c->network_mode, "none") == 0)
		json_kbool(g, "NetworkDisabled", 1);

	json_key(g, "HostConfig");
	yajl_gen_map_open(g);
	if (c->memory > 0) {
		json_kint(g, "Memory", c->memory);
		json_kint(g, "MemorySwap", c->memory);
	}
	if (c->nano_cpus > 0)
		json_kint(g, "NanoCpus", c->nano_cpus);
	if (c->pids_limit > 0)
		json_kint(g, "PidsLimit", c->pids_limit);
	if (c->shm_size > 0)
		json_kint(g, "ShmSize", c->shm_size);
	json_kbool(g, "ReadonlyRootfs", c->readonly_rootfs);
	gen_pairs(g, "Tmpfs", c->tmpfs);
	gen_strv(g, "CapAdd", c->cap_add);
	gen_strv(g, "CapDrop", c->cap_drop);
	gen_strv(g, "SecurityOpt", c->security_opt);
	gen_ulimits(g, c->ulimits);
	if (c->network_mode != NULL)
		json_kstr(g, "NetworkMode", c->network_mode);
	json_kbool(g, "AutoRemove", c->auto_remove);
	if (c->log_none) {
		json_key(g, "LogConfig");
		yajl_gen_map_open(g);
		json_kstr(g, "Type", "none");
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);

	yajl_gen_map_close(g);
	json_gen_take(g, out);
}

/* Create a container; the reply's JSON carries its `Id`. */
struct http_req *
docker_container_create(
    struct docker *d, const struct docker_create *c, docker_cb cb, void *arg)
{
	cleanup_buf struct buf body = { 0 };
	cleanup_free char *path = NULL, *name = NULL;

	docker_create_json(c, &body);
	if (c->name != NULL) {
		name = docker_escape(c->name);
		path = xasprintf("/containers/create?name=%s", name);
	} else
		path = xstrdup("/containers/create");
	return docker_call(d, "POST", path, &body, cb, arg);
}

#define CONTAINER_OP(fn, method, fmt)                                          \
	struct http_req *fn(                                                   \
	    struct docker *d, const char *id, docker_cb cb, void *arg)         \
	{                                                                      \
		cleanup_free char *path = xasprintf(fmt, id);                  \
		return docker_call(d, method, path, NULL, cb, arg);            \
	}

CONTAINER_OP(docker_container_start, "POST", "/containers/%s/start")
CONTAINER_OP(docker_container_wait, "POST", "/containers/%s/wait")
CONTAINER_OP(docker_container_inspect, "GET", "/containers/%s/json")

/* A removal, or an abandoned create: the client's, counted in flight. */
struct remove_call {
	struct docker *d;
	char *target; /* an id or a name; an abandoned create: its name */
	docker_cb cb;
	void *arg;
};

/* Ended (or dropped unanswered by docker_free()): no longer in flight. */
static void
remove_call_free(void *arg)
{
	struct remove_call *rc = arg;

	docker_removals(rc->d, -1);
	free(rc->target);
	free(rc);
}

static void
remove_done(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct remove_call *rc = arg;
	docker_cb cb = rc->cb;
	void *cb_arg = rc->arg;

	/* dockerd went away: remove it once it is back (docker_client.c). */
	if (e != NULL && e->kind == ERR_UNAVAILABLE)
		docker_grave_add(rc->d, rc->target);
	/* Not in flight any more when the caller hears of it. */
	remove_call_free(rc);
	if (cb != NULL)
		cb(r, e, cb_arg);
}

/* A removal nobody waits for: only what is worth saying is logged. */
static void
remove_logged(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct docker *d = arg;

	(void)r;
	/*
	 * Gone already (404), being removed by someone else (409); dockerd
	 * unreachable: removed once it is back (docker_client.c).
	 */
	if (e != NULL && e->kind != ERR_NOTFOUND && e->kind != ERR_CONFLICT &&
	    e->kind != ERR_CANCELLED && e->kind != ERR_UNAVAILABLE)
		log_warnx(docker_log(d), "removing a container: %s", e->msg);
}

/*
 * An abandoned create answered: remove what it made -- by its Id, or by
 * its name when dockerd went away meanwhile (it may have made it all the
 * same; a 409 means the name is another container's: left alone).
 */
static void
abandoned_created(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct remove_call *rc = arg;
	const char *id;

	if (e == NULL && (id = json_str(r->json, "Id", NULL)) != NULL)
		docker_container_remove(rc->d, id, 1, remove_logged, rc->d);
	else if (e != NULL && e->kind == ERR_UNAVAILABLE && rc->target != NULL)
		docker_container_remove(
		    rc->d, rc->target, 1, remove_logged, rc->d);
	remove_call_free(rc);
}

/*
 * Give up on a create in flight (from docker_container_create(), named
 * `name` or NULL): its callback never runs, and the container it makes is
 * removed when it answers. Until then it counts as a removal in flight.
 */
void
docker_container_create_abandon(
    struct docker *d, struct http_req *create, const char *name)
{
	struct remove_call *rc = xcalloc(1, sizeof *rc);

	rc->d = d;
	rc->target = name != NULL ? xstrdup(name) : NULL;
	docker_removals(d, 1);
	docker_call_adopt(d, create, abandoned_created, rc, remove_call_free);
}

/*
 * Remove a container (id or name); force kills it first, and its volumes
 * go too. When dockerd cannot be reached, cb gets that error and the
 * removal is tried again once dockerd answers. Removals in flight keep
 * docker_busy() true. Never cancelled; cb may be NULL (errors are logged
 * then, if they matter).
 */
struct http_req *
docker_container_remove(
    struct docker *d, const char *id, int force, docker_cb cb, void *arg)
{
	cleanup_free char *path =
	    xasprintf("/containers/%s?v=1&force=%d", id, force ? 1 : 0);
	struct remove_call *rc = xcalloc(1, sizeof *rc);
	struct http_req *r;

	rc->d = d;
	rc->target = xstrdup(id);
	rc->cb = cb != NULL ? cb : remove_logged;
	rc->arg = cb != NULL ? arg : d;
	docker_removals(d, 1);
	r = docker_call(d, "DELETE", path, NULL, remove_done, rc);
	docker_call_adopt(d, r, remove_done, rc, remove_call_free);
	return r;
}

/*
 * List containers matching a filters document, e.g.
 * {"label":["k=v"],"name":["^/isol8-warm-"],"status":["running"]}.
 */
struct http_req *
docker_container_list(
    struct docker *d, const char *filters, int all, docker_cb cb, void *arg)
{
	cleanup_free char *esc = docker_escape(filters), *path = NULL;

	path =
	    xasprintf("/containers/json?all=%d&filters=%s", all ? 1 : 0, esc);
	return docker_call(d, "GET", path, NULL, cb, arg);
}

struct http_req *
docker_container_rename(
    struct docker *d, const char *id, const char *name, docker_cb cb, void *arg)
{
	cleanup_free char *esc = docker_escape(name), *path = NULL;

	path = xasprintf("/containers/%s/rename?name=%s", id, esc);
	return docker_call(d, "POST", path, NULL, cb, arg);
}
