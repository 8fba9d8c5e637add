/*
 * The engine: one per embedding program, on the caller's event_base or its
 * own. It owns the Docker client and the pool, admits at most
 * max_concurrent runs at a time (the rest queue, in order) -- none while
 * dockerd is away (engine_docker.c) -- and on free cancels what is running
 * and waits -- boundedly -- until every container it created is gone.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>

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
};

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
}

struct isol8_engine *
isol8_engine_new(struct event_base *base, const struct isol8_engine_opts *o,
    struct isol8_error *errp)
{
	struct isol8_engine *e = xcalloc(1, sizeof *e);
	struct pool_opts po;
	struct err *err = NULL;

	if (o != NULL)
		e->opts = *o;
	else
		isol8_engine_opts_init(&e->opts);
	if (engine_limits_opts(&e->opts, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		free(e);
		return NULL;
	}
	log_set_level(e->opts.verbose >= 2 ? LOG_LEVEL_DEBUG
	        : e->opts.verbose == 1     ? LOG_LEVEL_INFO
	                                   : LOG_LEVEL_WARN);
	TAILQ_INIT(&e->queue);
	TAILQ_INIT(&e->runs);
	e->loop = loop_new(base);
	if ((e->docker = docker_new(e->loop, e->opts.docker_host, &err)) ==
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
	return e;
}

/* Run the loop until *done. */
void
engine_wait(struct isol8_engine *e, int *done)
{
	while (!*done)
		event_base_loop(loop_base(e->loop), EVLOOP_ONCE);
}

/*
 * Cancel every run (each gets its on_done with ISOL8_ECANCELLED, now) and
 * wait until the containers this engine made are removed.
 */
void
isol8_engine_free(struct isol8_engine *e)
{
	struct isol8_run *r;

	if (e == NULL)
		return;
	engine_docker_free(e);
	while ((r = TAILQ_FIRST(&e->runs)) != NULL)
		engine_run_abort(r);
	pool_drain(e->pool);
	/* What an outage left behind, if dockerd is back by now. */
	docker_graves_retry(e->docker);
	isol8_engine_drain(e, ENGINE_DRAIN_MS);
	pool_free(e->pool);
	docker_free(e->docker);
	/* Cancelled lookups call back on a later turn, into the resolver:
	 * they must have before it goes (egress.c). */
	while (e->dns_pending > 0 &&
	    event_base_loop(loop_base(e->loop), EVLOOP_ONCE) == 0)
		;
	if (e->dns != NULL)
		evdns_base_free(e->dns, 1);
	/* Deferred frees (attach streams, boxes) run on this last turn. */
	event_base_loop(loop_base(e->loop), EVLOOP_NONBLOCK);
	loop_free(e->loop);
	free(e);
}

/* libevent's resolver speaks through the engine's log, never stderr. */
static void
engine_dns_log(int is_warn, const char *msg)
{
	log_debug("resolver%s: %s", is_warn ? " (warning)" : "", msg);
}

/*
 * What every resolver of the filtered network gets: no search list (a name
 * is looked up as it was checked, never with a domain appended), a bounded
 * wait (EGRESS_DNS_TIMEOUT s per try, EGRESS_DNS_ATTEMPTS tries; the proxy
 * gives up after EGRESS_DNS_MS), and libevent's messages in our log.
 */
void
engine_dns_options(struct evdns_base *dns)
{
	evdns_set_log_fn(engine_dns_log); /* libevent's, process-wide */
	evdns_base_search_clear(dns);
	evdns_base_set_option(dns, "timeout:", EGRESS_DNS_TIMEOUT);
	evdns_base_set_option(dns, "attempts:", EGRESS_DNS_ATTEMPTS);
}

/*
 * The resolver of the filtered network, made on first use: the host's
 * nameservers and hosts file from /etc/resolv.conf and /etc/hosts (none:
 * libevent asks 127.0.0.1, like the C library), but not its search list.
 */
struct evdns_base *
engine_dns(struct isol8_engine *e)
{
	if (e->dns != NULL)
		return e->dns;
	e->dns = evdns_base_new(
	    loop_base(e->loop), EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	evdns_base_resolv_conf_parse(e->dns,
	    DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC | DNS_OPTION_HOSTSFILE,
	    "/etc/resolv.conf");
	engine_dns_options(e->dns);
	return e->dns;
}

/* Whether background work (refills, removals) is still under way. */
int
isol8_engine_busy(struct isol8_engine *e)
{
	return pool_busy(e->pool) || docker_busy(e->docker);
}

/* Run the loop until background work is done or ms have passed. */
void
isol8_engine_drain(struct isol8_engine *e, uint64_t ms)
{
	struct event_base *base = loop_base(e->loop);
	uint64_t until = now_ms() + ms;

	while (isol8_engine_busy(e) && now_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
}
