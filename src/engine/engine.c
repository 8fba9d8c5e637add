/*
 * The engine: one per embedding program, on the caller's event_base or its
 * own. It owns the Docker client and the pool, admits at most
 * max_concurrent runs at a time (the rest queue, in order) -- none while
 * dockerd is away (engine_docker.c) -- and on free cancels what is running
 * and waits -- boundedly -- until every container it created is gone. It
 * never turns a loop that is not its own: blocking calls refuse the
 * caller's base, and freeing on it finishes there.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

#define ENGINE_DRAIN_MS 10000

static const char *const codes[] = {
	[ISOL8_OK] = "success",
	[ISOL8_EINVAL] = "invalid argument",
	[ISOL8_EUNAVAILABLE] = "Docker is not reachable",
	[ISOL8_EDOCKER] = "Docker error",
	[ISOL8_ENOIMAGE] = "runtime image missing",
	[ISOL8_EAGENT] = "sandbox agent failed",
	[ISOL8_ECANCELLED] = "cancelled",
	[ISOL8_ETIMEOUT] = "timed out",
	[ISOL8_ELIMIT] = "size limit exceeded",
	[ISOL8_ENOTFOUND] = "not found",
	[ISOL8_EINTERNAL] = "internal error",
	[ISOL8_ELOST] = "sandbox lost",
	[ISOL8_EINSTALL] = "package install failed",
};

static const char *const code_names[] = {
	[ISOL8_OK] = "ok",
	[ISOL8_EINVAL] = "invalid",
	[ISOL8_EUNAVAILABLE] = "unavailable",
	[ISOL8_EDOCKER] = "docker",
	[ISOL8_ENOIMAGE] = "noimage",
	[ISOL8_EAGENT] = "agent",
	[ISOL8_ECANCELLED] = "cancelled",
	[ISOL8_ETIMEOUT] = "timeout",
	[ISOL8_ELIMIT] = "limit",
	[ISOL8_ENOTFOUND] = "notfound",
	[ISOL8_EINTERNAL] = "internal",
	[ISOL8_ELOST] = "lost",
	[ISOL8_EINSTALL] = "install",
};
_Static_assert(nitems(code_names) == nitems(codes), "a name for every code");

const char *
isol8_code_name(enum isol8_code code)
{
	if ((size_t)code >= nitems(code_names) || code_names[code] == NULL)
		return "internal";
	return code_names[code];
}

enum isol8_code
isol8_code_from_name(const char *name)
{
	size_t i;

	for (i = 1; name != NULL && i < nitems(code_names); i++)
		if (strcmp(code_names[i], name) == 0)
			return (enum isol8_code)i;
	return ISOL8_EINTERNAL;
}

const char *
isol8_strerror(enum isol8_code code)
{
	if ((size_t)code >= nitems(codes) || codes[code] == NULL)
		return "unknown error";
	return codes[code];
}

const char *
isol8_version(void)
{
	return ISOL8_VERSION;
}

/* Translate an internal error for the public API. */
void
engine_error(struct isol8_error *out, const struct err *e)
{
	if (out == NULL)
		return;
	switch (e->kind) {
	case ERR_INVALID:
		out->code = ISOL8_EINVAL;
		break;
	case ERR_UNAVAILABLE:
		out->code = ISOL8_EUNAVAILABLE;
		break;
	case ERR_DOCKER:
	case ERR_CONFLICT:
		out->code = ISOL8_EDOCKER;
		break;
	case ERR_NOTFOUND:
		out->code = ISOL8_ENOTFOUND;
		break;
	case ERR_IMAGE:
		out->code = ISOL8_ENOIMAGE;
		break;
	case ERR_PROTO:
		out->code = ISOL8_EAGENT;
		break;
	case ERR_CANCELLED:
		out->code = ISOL8_ECANCELLED;
		break;
	case ERR_TIMEOUT:
		out->code = ISOL8_ETIMEOUT;
		break;
	case ERR_LIMIT:
		out->code = ISOL8_ELIMIT;
		break;
	case ERR_LOST:
		out->code = ISOL8_ELOST;
		break;
	case ERR_INSTALL:
		out->code = ISOL8_EINSTALL;
		break;
	default:
		out->code = ISOL8_EINTERNAL;
		break;
	}
	snprintf(out->message, sizeof out->message, "%s", e->msg);
}

void
isol8_engine_opts_init(struct isol8_engine_opts *o)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof *o);
	/* Containers start at ~23/s on 2 cores: more in flight only queues. */
	o->max_concurrent = cores <= 0           ? 16
	    : cores >= ENGINE_MAX_CONCURRENT / 8 ? ENGINE_MAX_CONCURRENT
	                                         : (unsigned)cores * 8;
	/* Two: back-to-back runs find one warm while the other refills. */
	o->pool_size = ENGINE_DEFAULT_POOL_SIZE;
	o->pool_idle_ms = ENGINE_DEFAULT_POOL_IDLE_MS;
	o->session_idle_ms = ENGINE_DEFAULT_SESSION_IDLE_MS;
	o->remote_connect_ms = ENGINE_DEFAULT_REMOTE_CONNECT_MS;
	o->remote_stall_ms = ENGINE_DEFAULT_REMOTE_STALL_MS;
}

/* The engine's log lines, to the caller's callback. */
static void
engine_log_cb(enum log_level level, const char *line, void *arg)
{
	struct isol8_engine *e = arg;

	e->opts.log((enum isol8_log_level)level, line, e->opts.log_arg);
}

struct isol8_engine *
isol8_engine_new(struct event_base *base, const struct isol8_engine_opts *o,
    struct isol8_error *errp)
{
	struct isol8_engine *e = xcalloc(1, sizeof *e);
	struct pool_opts po;
	struct err *err = NULL;
	struct log log;

	if (o != NULL)
		e->opts = *o;
	else
		isol8_engine_opts_init(&e->opts);
	if (engine_limits_opts(&e->opts, &err) == -1 ||
	    registries_check(&(struct registries){ e->opts.pip_index_url,
	                         e->opts.npm_registry },
	        &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		free(e);
		return NULL;
	}
	log_init(&log,
	    e->opts.verbose >= 2       ? LOG_LEVEL_DEBUG
	        : e->opts.verbose == 1 ? LOG_LEVEL_INFO
	                               : LOG_LEVEL_WARN);
	if (e->opts.log != NULL) {
		log.cb = engine_log_cb;
		log.arg = e;
	}
	TAILQ_INIT(&e->queue);
	TAILQ_INIT(&e->runs);
	TAILQ_INIT(&e->session_ops);
	if ((e->loop = loop_new(base, &log, &err)) == NULL ||
	    (e->docker = docker_new(e->loop, e->opts.docker_host, &err)) ==
	        NULL) {
		engine_error(errp, err);
		err_free(&err);
		loop_free(e->loop);
		free(e);
		return NULL;
	}
	pool_opts_init(&po);
	po.size = e->opts.pool_size;
	po.idle_ms = e->opts.pool_idle_ms;
	po.shared = e->opts.pool_shared;
	po.reuse = e->opts.pool_reuse && !e->opts.pool_shared;
	e->pool = pool_new(e->docker, &po);
	if (e->opts.pip_index_url != NULL)
		e->reg.pip_index_url = e->reg_pip =
		    xstrdup(e->opts.pip_index_url);
	if (e->opts.npm_registry != NULL)
		e->reg.npm_registry = e->reg_npm =
		    xstrdup(e->opts.npm_registry);
	e->opts.pip_index_url = e->opts.npm_registry = NULL; /* not ours */
	e->resolver = resolver_new(e->loop, NULL);
	if (e->opts.remote_url != NULL &&
	    (e->remote = remote_new(e->loop, e->opts.remote_url,
	         e->opts.remote_key, e->opts.remote_connect_ms,
	         e->opts.remote_stall_ms, &err)) == NULL) {
		engine_error(errp, err);
		err_free(&err);
		isol8_engine_free(e);
		return NULL;
	}
	e->opts.remote_url = e->opts.remote_key = NULL; /* not ours */
	return e;
}

/*
 * Whether a blocking call may turn the engine's loop: only its own. On the
 * caller's base it would run the caller's callbacks inside ours.
 */
int
engine_can_wait(struct isol8_engine *e, struct isol8_error *errp)
{
	struct err *err = NULL;

	if (loop_owned(e->loop))
		return 0;
	err_set(&err, ERR_INVALID,
	    "the blocking isol8 calls need an engine with its own loop (isol8_engine_new(NULL, ...)); on your event_base, use isol8_run_start()");
	engine_error(errp, err);
	err_free(&err);
	return -1;
}

/* Run the engine's own loop until *done (engine_can_wait() said yes). */
void
engine_wait(struct isol8_engine *e, int *done)
{
	while (!*done && loop_owned(e->loop))
		event_base_loop(loop_base(e->loop), EVLOOP_ONCE);
}

/* Free what is left once nothing is in flight (or the time is up). */
static void
engine_destroy(struct isol8_engine *e)
{
	if (e->closing != NULL)
		event_free(e->closing);
	pool_free(e->pool);
	docker_free(e->docker);
	resolver_free(e->resolver);
	loop_free(e->loop); /* runs the deferred frees still queued */
	free(e->reg_pip);
	free(e->reg_npm);
	free(e);
}

/* Freeing on the caller's base: wait there for the removals, boundedly. */
static void
engine_closing_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval again = { 0, 100 * 1000 };
	struct isol8_engine *e = arg;

	(void)fd, (void)what;
	if (!isol8_engine_busy(e) || now_ms() >= e->closing_until) {
		if (isol8_engine_busy(e))
			log_warnx(loop_log(e->loop),
			    "engine freed with background work still pending");
		engine_destroy(e);
		return;
	}
	evtimer_add(e->closing, &again);
}

void
isol8_engine_free(struct isol8_engine *e)
{
	struct isol8_run *r;

	if (e == NULL)
		return;
	engine_docker_free(e);
	remote_free(e->remote);
	while ((r = TAILQ_FIRST(&e->runs)) != NULL)
		engine_run_abort(r);
	engine_session_abort(e);
	pool_drain(e->pool);
	/* What an outage left behind, if dockerd is back by now. */
	docker_graves_retry(e->docker);
	if (loop_owned(e->loop)) {
		isol8_engine_drain(e, ENGINE_DRAIN_MS);
		engine_destroy(e);
		return;
	}
	if (!isol8_engine_busy(e)) {
		engine_destroy(e);
		return;
	}
	/* Never dispatch the caller's base: finish there, later. */
	e->closing_until = now_ms() + ENGINE_DRAIN_MS;
	e->closing = evtimer_new(loop_base(e->loop), engine_closing_cb, e);
	event_active(e->closing, EV_TIMEOUT, 0);
}

/*
 * Whether background work is still under way: refills, removals (any:
 * docker counts them), and
 * cancelled lookups of the filtered network, which call back into the
 * resolver on a later turn (it may go only after them).
 */
int
isol8_engine_busy(struct isol8_engine *e)
{
	return pool_busy(e->pool) || docker_busy(e->docker) ||
	    resolver_busy(e->resolver);
}

/* Turn the engine's own loop until background work is done or ms passed. */
int
isol8_engine_drain(struct isol8_engine *e, uint64_t ms)
{
	struct event_base *base = loop_base(e->loop);
	uint64_t until = now_ms() + ms;

	if (!loop_owned(e->loop))
		return -1;
	while (isol8_engine_busy(e) && now_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
	return isol8_engine_busy(e) ? -1 : 0;
}

size_t
isol8_engine_pool_stats(
    struct isol8_engine *e, struct isol8_pool_stat *out, size_t max)
{
	struct pool_stat st[64];
	size_t n, i;

	if (e->pool == NULL)
		return 0;
	n = pool_stats(e->pool, st, nitems(st));
	for (i = 0; i < n && i < nitems(st) && i < max; i++) {
		memcpy(out[i].key, st[i].key, sizeof out[i].key);
		memcpy(out[i].image, st[i].image, sizeof out[i].image);
		out[i].ready = st[i].ready;
		out[i].creating = st[i].creating;
	}
	return n;
}
