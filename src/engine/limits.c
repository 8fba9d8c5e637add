/*
 * The bounds of every numeric limit of a request and of the engine
 * options, in one table (docs/library.md "Limits"). The engine enforces
 * them -- isol8_run_start() and isol8_engine_new() refuse a value outside
 * them with ISOL8_EINVAL naming the field -- and the CLI's flags, its
 * configuration file and batch job fields parse their text against the
 * same table (isol8_*_parse_limit), so all of them accept the same values
 * and say the same thing about a bad one.
 *
 * Invariants: a value that passes is finite, whole in its unit (CPUs count
 * in nano-CPUs, Docker's unit) and at most its max, so it converts to
 * Docker's int64 fields and to the agent's deadlines without overflow. A
 * min is what Docker and the sandbox need to start at all: below it a run
 * used to end as an internal error after a container was made. The CPU
 * max is this machine's CPUs, as dockerd counts them (its affinity mask);
 * dockerd is local (unix:// only), so ours is the same.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

enum limit_kind {
	LIMIT_DURATION, /* milliseconds */
	LIMIT_SIZE,     /* bytes */
	LIMIT_CPUS,     /* nano-CPUs */
	LIMIT_COUNT,
};

struct limit {
	const char *field; /* its member of isol8_request or _engine_opts */
	enum limit_kind kind;
	uint64_t min, max; /* inclusive; max 0: this machine's CPUs */
	uint64_t def;      /* what 0 in the struct means; 0: computed */
	const char *min_why, *max_why;
};

static const struct limit limits[] = {
	[ISOL8_LIMIT_TIMEOUT] = { "timeout_ms", LIMIT_DURATION, 1,
	    ENGINE_MAX_TIMEOUT_MS, ENGINE_DEFAULT_TIMEOUT_MS, NULL,
	    "24 hours" },
	[ISOL8_LIMIT_MEMORY] = { "memory", LIMIT_SIZE, ENGINE_MIN_MEMORY,
	    ENGINE_MAX_SIZE, ENGINE_DEFAULT_MEMORY, "Docker's minimum", NULL },
	[ISOL8_LIMIT_CPUS] = { "cpus", LIMIT_CPUS, ENGINE_MIN_NANO_CPUS, 0,
	    ENGINE_DEFAULT_NANO_CPUS,
	    "Docker's minimum: 1 ms of CPU time every 100 ms",
	    "the CPUs of this machine" },
	[ISOL8_LIMIT_PIDS] = { "pids", LIMIT_COUNT, ENGINE_MIN_PIDS,
	    ENGINE_MAX_PIDS, ENGINE_DEFAULT_PIDS,
	    "the sandbox's agent is one of them", "the kernel's maximum" },
	[ISOL8_LIMIT_SANDBOX_SIZE] = { "sandbox_size", LIMIT_SIZE,
	    ENGINE_MIN_TMPFS, ENGINE_MAX_SIZE, ENGINE_DEFAULT_SANDBOX,
	    "one page", NULL },
	[ISOL8_LIMIT_TMP_SIZE] = { "tmp_size", LIMIT_SIZE, ENGINE_MIN_TMPFS,
	    ENGINE_MAX_SIZE, ENGINE_DEFAULT_TMP, "one page", NULL },
	[ISOL8_LIMIT_MAX_OUTPUT] = { "max_output", LIMIT_SIZE, 1,
	    ENGINE_MAX_SIZE, ENGINE_DEFAULT_MAX_OUTPUT, NULL, NULL },
	[ISOL8_LIMIT_MAX_OUTPUT_FILE] = { "max_output_file", LIMIT_SIZE, 1,
	    ENGINE_MAX_OUTPUT_FILE, ENGINE_DEFAULT_OUTPUT_FILE, NULL,
	    "what the sandbox's agent sends" },
	[ISOL8_LIMIT_POOL_SIZE] = { "pool_size", LIMIT_COUNT, 0,
	    ENGINE_MAX_POOL_SIZE, ENGINE_DEFAULT_POOL_SIZE, NULL, NULL },
	[ISOL8_LIMIT_POOL_IDLE] = { "pool_idle_ms", LIMIT_DURATION, 1,
	    ENGINE_MAX_POOL_IDLE_MS, ENGINE_DEFAULT_POOL_IDLE_MS, NULL,
	    "7 days" },
	[ISOL8_LIMIT_SESSION_IDLE] = { "session_idle_ms", LIMIT_DURATION, 1,
	    ENGINE_MAX_SESSION_IDLE_MS, ENGINE_DEFAULT_SESSION_IDLE_MS, NULL,
	    "30 days" },
	/* Its default, 8 per core, is isol8_engine_opts_init()'s. */
	[ISOL8_LIMIT_MAX_CONCURRENT] = { "max_concurrent", LIMIT_COUNT, 1,
	    ENGINE_MAX_CONCURRENT, 0, NULL, NULL },
	[ISOL8_LIMIT_REMOTE_CONNECT] = { "remote_connect_ms", LIMIT_DURATION, 1,
	    ENGINE_MAX_REMOTE_CONNECT_MS, ENGINE_DEFAULT_REMOTE_CONNECT_MS,
	    NULL, "10 minutes" },
	[ISOL8_LIMIT_REMOTE_STALL] = { "remote_stall_ms", LIMIT_DURATION, 1,
	    ENGINE_MAX_REMOTE_STALL_MS, ENGINE_DEFAULT_REMOTE_STALL_MS, NULL,
	    "24 hours" },
};

/* The CPUs dockerd lets a container have: those it may run on. */
uint64_t
engine_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (uint64_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (uint64_t)n : 1;
}

static uint64_t
limit_max(const struct limit *l)
{
	return l->max != 0 ? l->max : engine_cpus() * 1000000000ull;
}

/* A bound in the unit people write: "6m", "0.01", "86400000 ms". */
static void
limit_fmt(const struct limit *l, uint64_t v, char *out, size_t len)
{
	static const char units[] = "kmgt";
	int i;

	switch (l->kind) {
	case LIMIT_DURATION:
		snprintf(out, len, "%llu ms", (unsigned long long)v);
		break;
	case LIMIT_CPUS:
		snprintf(out, len, "%.9g", (double)v / 1e9);
		break;
	case LIMIT_COUNT:
		snprintf(out, len, "%llu", (unsigned long long)v);
		break;
	case LIMIT_SIZE:
		for (i = 4; i > 0; i--)
			if (v >= 1ull << (10 * i) &&
			    v % (1ull << (10 * i)) == 0) {
				snprintf(out, len, "%llu%c",
				    (unsigned long long)(v >> (10 * i)),
				    units[i - 1]);
				return;
			}
		snprintf(out, len, "%llu", (unsigned long long)v);
		break;
	}
}

/*
 * Whether v (in the limit's unit) is within bounds; the error names the
 * value as `shown` (the user's text, or the struct's value).
 */
static int
limit_range(const struct limit *l, uint64_t v, const char *name,
    const char *shown, struct err **errp)
{
	char bound[64];
	uint64_t max = limit_max(l);
	const char *why;

	if (v >= l->min && v <= max)
		return 0;
	why = v < l->min ? l->min_why : l->max_why;
	limit_fmt(l, v < l->min ? l->min : max, bound, sizeof bound);
	return err_set(errp, ERR_INVALID, "%s must be at %s %s%s%s%s, got %s",
	    name, v < l->min ? "least" : "most", bound, why ? " (" : "",
	    why ? why : "", why ? ")" : "", shown);
}

/* CPUs as a double (a request's, or parsed text) into nano-CPUs. */
static int
limit_cpus(const struct limit *l, double cpus, const char *name,
    const char *shown, uint64_t *out, struct err **errp)
{
	char bound[64];

	if (cpus != cpus) { /* NaN: no comparison would catch it */
		limit_fmt(l, limit_max(l), bound, sizeof bound);
		return err_set(errp, ERR_INVALID,
		    "%s must be a number of CPUs from 0.01 to %s, got %s", name,
		    bound, shown);
	}
	if (cpus < 0)
		*out = 0;
	else if (cpus > 1e9) /* and inf: over any machine's CPUs */
		*out = UINT64_MAX;
	else
		*out = (uint64_t)(cpus * 1e9 + 0.5);
	return limit_range(l, *out, name, shown, errp);
}

/* v in whole units (it is one already when it passes); UINT64_MAX if huge. */
static int
limit_whole(double v, uint64_t *out)
{
	if (v >= 18446744073709551616.0) {
		*out = UINT64_MAX;
		return 0;
	}
	*out = (uint64_t)v;
	return (double)*out == v ? 0 : -1;
}

static const char *const wants[] = {
	[LIMIT_DURATION] = "milliseconds such as 30000 (or 30s, 5m)",
	[LIMIT_SIZE] = "a size such as 512m or 1g",
	[LIMIT_CPUS] = "a number of CPUs such as 0.5",
	[LIMIT_COUNT] = "a whole number such as 64",
};

/* Text into a value of limit id, in its unit, checked against the table. */
static int
limit_parse(enum isol8_limit id, const char *text, const char *name,
    uint64_t *out, struct err **errp)
{
	const struct limit *l = &limits[id];
	char shown[80];
	const char *end;
	double v = 0;
	int rc = -1;

	snprintf(shown, sizeof shown, "`%.64s%s`", text ? text : "",
	    text && strlen(text) > 64 ? "..." : "");
	switch (l->kind) {
	case LIMIT_DURATION:
		rc = parse_duration(text, out);
		break;
	case LIMIT_SIZE:
		rc = parse_size(text, out);
		break;
	case LIMIT_CPUS:
	case LIMIT_COUNT:
		if ((rc = parse_number(text, &v, &end)) == 0 && *end != '\0')
			rc = -1;
		if (rc == 0 && l->kind == LIMIT_COUNT)
			rc = limit_whole(v, out);
		break;
	}
	if (rc == -1)
		return err_set(errp, ERR_INVALID, "%s wants %s, got %s", name,
		    wants[l->kind], shown);
	if (l->kind == LIMIT_CPUS)
		return limit_cpus(l, v, name, shown, out, errp);
	return limit_range(l, *out, name, shown, errp);
}

/*
 * A value in a struct: 0 is the default (where 0 is not valid itself),
 * anything else must be in range.
 */
static int
limit_value(enum isol8_limit id, uint64_t v, uint64_t *out, struct err **errp)
{
	const struct limit *l = &limits[id];
	char name[64], shown[32];

	if (v == 0 && l->min > 0) {
		*out = l->def;
		return 0;
	}
	snprintf(name, sizeof name, "`%s`", l->field);
	snprintf(shown, sizeof shown, "%llu", (unsigned long long)v);
	*out = v;
	return limit_range(l, v, name, shown, errp);
}

/*
 * A request's limits, checked and with zeros replaced by their defaults:
 * the one place a request's numbers are validated.
 */
int
engine_limits(const struct isol8_request *req, struct engine_limits *lim,
    struct err **errp)
{
	char shown[32];

	memset(lim, 0, sizeof *lim);
	if (limit_value(ISOL8_LIMIT_TIMEOUT, req->timeout_ms, &lim->timeout_ms,
	        errp) == -1 ||
	    limit_value(ISOL8_LIMIT_MEMORY, req->memory, &lim->memory, errp) ==
	        -1 ||
	    limit_value(ISOL8_LIMIT_SANDBOX_SIZE, req->sandbox_size,
	        &lim->sandbox_size, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_TMP_SIZE, req->tmp_size, &lim->tmp_size,
	        errp) == -1 ||
	    limit_value(ISOL8_LIMIT_MAX_OUTPUT, req->max_output,
	        &lim->max_output, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_MAX_OUTPUT_FILE, req->max_output_file,
	        &lim->max_output_file, errp) == -1)
		return -1;
	/* A negative count is below any bound, not a huge unsigned one. */
	if (req->pids < 0) {
		snprintf(shown, sizeof shown, "%lld", (long long)req->pids);
		return limit_range(
		    &limits[ISOL8_LIMIT_PIDS], 0, "`pids`", shown, errp);
	}
	if (limit_value(
	        ISOL8_LIMIT_PIDS, (uint64_t)req->pids, &lim->pids, errp) == -1)
		return -1;
	if (req->cpus == 0) /* and -0.0 */
		lim->nano_cpus = limits[ISOL8_LIMIT_CPUS].def;
	else {
		snprintf(shown, sizeof shown, "%g", req->cpus);
		if (limit_cpus(&limits[ISOL8_LIMIT_CPUS], req->cpus, "`cpus`",
		        shown, &lim->nano_cpus, errp) == -1)
			return -1;
	}
	return 0;
}

/* The engine options' limits, checked, with zeros made defaults. */
int
engine_limits_opts(struct isol8_engine_opts *o, struct err **errp)
{
	struct isol8_engine_opts def;
	uint64_t v;

	if (o->max_concurrent == 0) {
		isol8_engine_opts_init(&def);
		o->max_concurrent = def.max_concurrent;
	}
	if (limit_value(ISOL8_LIMIT_MAX_CONCURRENT, o->max_concurrent, &v,
	        errp) == -1 ||
	    limit_value(ISOL8_LIMIT_POOL_SIZE, o->pool_size, &v, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_POOL_IDLE, o->pool_idle_ms,
	        &o->pool_idle_ms, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_SESSION_IDLE, o->session_idle_ms,
	        &o->session_idle_ms, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_REMOTE_CONNECT, o->remote_connect_ms,
	        &o->remote_connect_ms, errp) == -1 ||
	    limit_value(ISOL8_LIMIT_REMOTE_STALL, o->remote_stall_ms,
	        &o->remote_stall_ms, errp) == -1)
		return -1;
	return 0;
}

static int
limit_fail(struct isol8_error *errp, struct err *e)
{
	engine_error(errp, e);
	err_free(&e);
	return -1;
}

int
isol8_request_parse_limit(struct isol8_request *req, enum isol8_limit id,
    const char *text, const char *name, struct isol8_error *errp)
{
	struct err *e = NULL;
	uint64_t v;

	if ((unsigned)id > ISOL8_LIMIT_MAX_OUTPUT_FILE) {
		err_set(&e, ERR_INVALID, "limit %d is not a request's", id);
		return limit_fail(errp, e);
	}
	if (limit_parse(id, text, name, &v, &e) == -1)
		return limit_fail(errp, e);
	switch (id) {
	case ISOL8_LIMIT_TIMEOUT:
		req->timeout_ms = v;
		break;
	case ISOL8_LIMIT_MEMORY:
		req->memory = v;
		break;
	case ISOL8_LIMIT_CPUS:
		req->cpus = (double)v / 1e9;
		break;
	case ISOL8_LIMIT_PIDS:
		req->pids = (int64_t)v;
		break;
	case ISOL8_LIMIT_SANDBOX_SIZE:
		req->sandbox_size = v;
		break;
	case ISOL8_LIMIT_TMP_SIZE:
		req->tmp_size = v;
		break;
	case ISOL8_LIMIT_MAX_OUTPUT:
		req->max_output = v;
		break;
	default:
		req->max_output_file = v;
		break;
	}
	return 0;
}

int
isol8_engine_opts_parse_limit(struct isol8_engine_opts *o, enum isol8_limit id,
    const char *text, const char *name, struct isol8_error *errp)
{
	struct err *e = NULL;
	uint64_t v;

	if (id < ISOL8_LIMIT_POOL_SIZE || id > ISOL8_LIMIT_REMOTE_STALL) {
		err_set(
		    &e, ERR_INVALID, "limit %d is not an engine option's", id);
		return limit_fail(errp, e);
	}
	if (limit_parse(id, text, name, &v, &e) == -1)
		return limit_fail(errp, e);
	switch (id) {
	case ISOL8_LIMIT_POOL_SIZE:
		o->pool_size = (unsigned)v;
		break;
	case ISOL8_LIMIT_POOL_IDLE:
		o->pool_idle_ms = v;
		break;
	case ISOL8_LIMIT_SESSION_IDLE:
		o->session_idle_ms = v;
		break;
	case ISOL8_LIMIT_REMOTE_CONNECT:
		o->remote_connect_ms = v;
		break;
	case ISOL8_LIMIT_REMOTE_STALL:
		o->remote_stall_ms = v;
		break;
	default:
		o->max_concurrent = (unsigned)v;
		break;
	}
	return 0;
}
