/*
 * The configuration file: ./isol8.config.json, else ~/.isol8/config.json
 * (the first found wins). It sets defaults for every `isol8 run` flag and
 * the engine's pool settings; flags override it. Parsing is strict: an
 * unknown key or a bad value is an error naming the file and the key
 * (docs/config.md), reported through struct err. Numeric keys are checked
 * by the engine's table of limits (isol8_*_parse_limit), as flags and job
 * fields are: one syntax, one set of bounds, one wording.
 *
 * The original isol8's files load too (docs/compat.md): its names are
 * aliases of ours (defaults.memoryLimit is defaults.memory, network.
 * whitelist is network.allow, cleanup.maxContainerAgeMs is session.idleMs
 * ...; two names of one key: the later in the file wins), and its keys that
 * mean nothing here are read, checked for their type, and turned into one
 * warning each (config_warn), never into a failure.
 *
 * "remote" is the client's: the server `run`, `batch` and `session` use
 * when no --host or ISOL8_HOST names one, and its key -- sent to that
 * host only, never to one a flag or the environment names (the original
 * matched its stored credentials to their host the same way). A key in a
 * file that others may read or write is a warning (config_warn) every
 * time it is loaded, like the original's ignored keys but for safety.
 */
#include <sys/stat.h>
#include <stddef.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define CONFIG_MAX_SIZE (1u << 20)

static void config_packages_free(struct cli_config *);

const char *const cli_runtimes[CLI_NRUNTIMES] = { "python", "node", "bun",
	"deno", "bash" };

static void
config_defaults(struct cli_config *c)
{
	struct isol8_engine_opts eo;

	isol8_engine_opts_init(&eo);
	memset(c, 0, sizeof *c);
	isol8_request_init(&c->limits);
	c->runtime = xstrdup("python");
	c->network = xstrdup(c->limits.network);
	c->limits.network = NULL; /* c->network owns the string */
	c->max_concurrent = eo.max_concurrent;
	c->pool_size = eo.pool_size;
	c->pool_idle_ms = eo.pool_idle_ms;
	c->pool_reuse = eo.pool_reuse;
	c->session_idle_ms = eo.session_idle_ms;
	c->client.connect_ms = eo.remote_connect_ms;
	c->client.stall_ms = eo.remote_stall_ms;
	c->batch_docker_wait_ms = BATCH_DOCKER_WAIT_MS;
	c->auto_prune = 1;
	config_remote_defaults(&c->remote);
}

void
config_free(struct cli_config *c)
{
	cli_kv_free(c->env, c->env_len);
	config_strv_free(c->net_allow, c->net_allow_len);
	config_strv_free(c->net_deny, c->net_deny_len);
	config_strv_free(c->warnings, c->warnings_len);
	config_remote_free(&c->remote);
	free(c->source);
	free(c->runtime);
	free(c->network);
	free(c->image);
	free(c->docker_host);
	free(c->server.listen);
	free(c->server.unix_path);
	free(c->server.tls_cert);
	free(c->server.tls_key);
	free(c->server.keys_file);
	free(c->client.host);
	if (c->client.key != NULL)
		explicit_bzero(c->client.key, strlen(c->client.key));
	free(c->client.key);
	config_packages_free(c);
	memset(c, 0, sizeof *c);
}

/*
 * What a loaded file says before command `cmd` runs: its warnings (keys
 * that mean nothing here), once each, unless quiet; "debug": true is
 * --debug.
 */
void
config_start(const struct cli_config *c, const char *cmd, int quiet)
{
	size_t i;

	for (i = 0; i < c->warnings_len && !quiet; i++)
		cli_error("%s: %s", c->source, c->warnings[i]);
	if (c->debug)
		cli_debug_on(cmd);
}

/* A key of the original isol8 that means nothing here: one warning. */
void
config_warnf(struct cli_config *c, const char *fmt, ...)
{
	va_list ap;
	char *w;

	va_start(ap, fmt);
	if (vasprintf(&w, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	c->warnings = xreallocarray(
	    c->warnings, c->warnings_len + 1, sizeof *c->warnings);
	c->warnings[c->warnings_len++] = w;
}

static int
bad(struct err **errp, const char *key, const char *want)
{
	return err_set(errp, ERR_INVALID, "`%s` must be %s", key, want);
}

void
config_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* An array of at most 64 strings. */
int
config_strv(
    yajl_val v, const char *key, char ***out, size_t *n, struct err **errp)
{
	size_t i;

	if (!YAJL_IS_ARRAY(v) || v->u.array.len > 64)
		return bad(errp, key, "an array of at most 64 strings");
	for (i = 0; i < v->u.array.len; i++)
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return bad(errp, key, "an array of strings");
	config_strv_free(*out, *n);
	*out = xcalloc(v->u.array.len + 1, sizeof **out);
	for (*n = 0; *n < v->u.array.len; (*n)++)
		(*out)[*n] = xstrdup(v->u.array.values[*n]->u.string);
	return 0;
}

static int
get_bool(yajl_val v, const char *key, int *out, struct err **errp)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return bad(errp, key, "true or false");
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/*
 * "network": the filtered network's allow/deny patterns (whitelist and
 * blacklist are the original's names for them).
 */
static int
config_network_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "allow") == 0 || strcmp(k, "whitelist") == 0) {
			if (config_strv(v, "network.allow", &c->net_allow,
			        &c->net_allow_len, errp) == -1)
				return -1;
		} else if (strcmp(k, "deny") == 0 ||
		    strcmp(k, "blacklist") == 0) {
			if (config_strv(v, "network.deny", &c->net_deny,
			        &c->net_deny_len, errp) == -1)
				return -1;
		} else if (strcmp(k, "allowPrivate") == 0) {
			if (get_bool(v, "network.allowPrivate",
			        &c->net_allow_private, errp) == -1)
				return -1;
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `network.%s`", k);
	}
	return 0;
}

static int
get_str(yajl_val v, const char *key, char **out, struct err **errp)
{
	if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
		return bad(errp, key, "a non-empty string");
	free(*out);
	*out = xstrdup(v->u.string);
	return 0;
}

/*
 * A limit's value as the engine's parser takes it: a JSON string ("512m",
 * "30s") or a JSON number, as written (its text, so 1e3 is 1e3).
 */
static const char *
limit_text(yajl_val v)
{
	if (YAJL_IS_STRING(v))
		return v->u.string;
	if (YAJL_IS_NUMBER(v) && v->u.number.r != NULL)
		return v->u.number.r;
	return NULL;
}

/* A request limit of "defaults", checked by the engine's table. */
static int
get_limit(yajl_val v, const char *key, enum isol8_limit id,
    struct isol8_request *req, struct err **errp)
{
	struct isol8_error e;
	const char *text = limit_text(v);
	char name[80];

	snprintf(name, sizeof name, "`%.64s`", key);
	if (text == NULL)
		return bad(errp, key, "a number or a string");
	if (isol8_request_parse_limit(req, id, text, name, &e) == -1)
		return err_set(errp, ERR_INVALID, "%s", e.message);
	return 0;
}

/* An engine option's limit (pool, session, maxConcurrent). */
static int
get_opt_limit(yajl_val v, const char *key, enum isol8_limit id,
    struct isol8_engine_opts *eo, struct err **errp)
{
	struct isol8_error e;
	const char *text = limit_text(v);
	char name[80];

	snprintf(name, sizeof name, "`%.64s`", key);
	if (text == NULL)
		return bad(errp, key, "a number or a string");
	if (isol8_engine_opts_parse_limit(eo, id, text, name, &e) == -1)
		return err_set(errp, ERR_INVALID, "%s", e.message);
	return 0;
}

/*
 * The keys of "defaults" that are limits, and their place in the table;
 * memoryLimit and cpuLimit are the original's names.
 */
static const struct {
	const char *key;
	enum isol8_limit id;
} default_limits[] = {
	{ "timeoutMs", ISOL8_LIMIT_TIMEOUT },
	{ "memory", ISOL8_LIMIT_MEMORY },
	{ "memoryLimit", ISOL8_LIMIT_MEMORY },
	{ "cpu", ISOL8_LIMIT_CPUS },
	{ "cpuLimit", ISOL8_LIMIT_CPUS },
	{ "pids", ISOL8_LIMIT_PIDS },
	{ "sandboxSize", ISOL8_LIMIT_SANDBOX_SIZE },
	{ "tmpSize", ISOL8_LIMIT_TMP_SIZE },
	{ "maxOutput", ISOL8_LIMIT_MAX_OUTPUT },
};

/* A key of "defaults" that is not a limit. */
static int
config_default_key(
    struct cli_config *c, const char *k, yajl_val v, struct err **errp)
{
	int ro = 1;

	if (strcmp(k, "runtime") == 0) {
		if (get_str(v, "defaults.runtime", &c->runtime, errp) == -1)
			return -1;
		if (!isol8_runtime_known(c->runtime))
			return bad(errp, "defaults.runtime",
			    "one of python, node, bun, deno, bash");
	} else if (strcmp(k, "network") == 0) {
		if (get_str(v, "defaults.network", &c->network, errp) == -1)
			return -1;
		if (strcmp(c->network, "none") != 0 &&
		    strcmp(c->network, "host") != 0 &&
		    strcmp(c->network, "filtered") != 0)
			return bad(errp, "defaults.network",
			    "\"none\", \"host\" or \"filtered\"");
	} else if (strcmp(k, "image") == 0) {
		/* null: the runtime's own (as `config --json` prints it) */
		if (!YAJL_IS_NULL(v) &&
		    get_str(v, "defaults.image", &c->image, errp) == -1)
			return -1;
	} else if (strcmp(k, "readonlyRootFs") == 0) {
		if (get_bool(v, "defaults.readonlyRootFs", &ro, errp) == -1)
			return -1;
		if (!ro)
			config_warnf(c,
			    "`defaults.readonlyRootFs` false is ignored: the root filesystem is always read-only (write to /sandbox or /tmp)");
	} else
		return err_set(
		    errp, ERR_INVALID, "unknown key `defaults.%s`", k);
	return 0;
}

static int
config_defaults_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i, j;
	const char *k;
	char key[64];
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		for (j = 0; j < nitems(default_limits); j++)
			if (strcmp(k, default_limits[j].key) == 0)
				break;
		if (j == nitems(default_limits)) {
			if (config_default_key(c, k, v, errp) == -1)
				return -1;
			continue;
		}
		snprintf(key, sizeof key, "defaults.%s", k);
		if (get_limit(v, key, default_limits[j].id, &c->limits, errp) ==
		    -1)
			return -1;
	}
	return 0;
}

static int
config_pool_obj(struct cli_config *c, yajl_val o, struct isol8_engine_opts *eo,
    struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "size") == 0) {
			/* 0 is allowed: no warm containers at all. */
			if (get_opt_limit(v, "pool.size", ISOL8_LIMIT_POOL_SIZE,
			        eo, errp) == -1)
				return -1;
		} else if (strcmp(k, "idleMs") == 0) {
			if (get_opt_limit(v, "pool.idleMs",
			        ISOL8_LIMIT_POOL_IDLE, eo, errp) == -1)
				return -1;
		} else if (strcmp(k, "reuse") == 0) {
			if (get_bool(v, "pool.reuse", &c->pool_reuse, errp) ==
			    -1)
				return -1;
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `pool.%s`", k);
	}
	return 0;
}

/*
 * "poolSize" (the original's): warm containers per image, a number or
 * {"clean": N, "dirty": M}; ours keeps clean ones only (pool.size).
 */
static int
config_pool_size(struct cli_config *c, yajl_val v, struct isol8_engine_opts *eo,
    struct err **errp)
{
	size_t i;
	const char *k;

	if (!YAJL_IS_OBJECT(v))
		return get_opt_limit(
		    v, "poolSize", ISOL8_LIMIT_POOL_SIZE, eo, errp);
	for (i = 0; i < v->u.object.len; i++) {
		k = v->u.object.keys[i];
		if (strcmp(k, "clean") == 0) {
			if (get_opt_limit(v->u.object.values[i],
			        "poolSize.clean", ISOL8_LIMIT_POOL_SIZE, eo,
			        errp) == -1)
				return -1;
		} else if (strcmp(k, "dirty") == 0) {
			if (!YAJL_IS_INTEGER(v->u.object.values[i]))
				return bad(
				    errp, "poolSize.dirty", "a whole number");
			if (YAJL_GET_INTEGER(v->u.object.values[i]) != 0)
				config_warnf(c,
				    "`poolSize.dirty` is ignored: a warm container serves one run (pool.reuse scrubs and reuses, for batch)");
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `poolSize.%s`", k);
	}
	return 0;
}

/* "env": variables set in every run. */
static int
config_env_obj(struct cli_config *c, yajl_val v, struct err **errp)
{
	size_t j;

	for (j = 0; j < v->u.object.len; j++) {
		yajl_val ev = v->u.object.values[j];
		const char *ek = v->u.object.keys[j];

		if (!YAJL_IS_STRING(ev) || *ek == '\0' ||
		    strchr(ek, '=') != NULL)
			return err_set(errp, ERR_INVALID,
			    "`env.%s` must be a string with a valid name", ek);
		c->env = xreallocarray(c->env, c->env_len + 1, sizeof *c->env);
		c->env[c->env_len].key = xstrdup(ek);
		c->env[c->env_len++].value = xstrdup(ev->u.string);
	}
	return 0;
}

/* "batch": what `isol8 batch` does when dockerd goes away. */
static int
config_batch_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		v = o->u.object.values[i];
		if (strcmp(o->u.object.keys[i], "dockerWaitMs") != 0)
			return err_set(errp, ERR_INVALID,
			    "unknown key `batch.%s`", o->u.object.keys[i]);
		/* 0 is allowed: fail at once, do not wait. */
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
		    (uint64_t)YAJL_GET_INTEGER(v) > BATCH_DOCKER_WAIT_MAX)
			return bad(errp, "batch.dockerWaitMs",
			    "a whole number of ms from 0 to 86400000");
		c->batch_docker_wait_ms = (uint64_t)YAJL_GET_INTEGER(v);
	}
	return 0;
}

/* A whole number of the "server" section, from min to max. */
static int
get_count(yajl_val v, const char *key, uint64_t min, uint64_t max,
    uint64_t *out, struct err **errp)
{
	char want[96];

	snprintf(want, sizeof want, "a whole number from %llu to %llu",
	    (unsigned long long)min, (unsigned long long)max);
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < (long long)min ||
	    (uint64_t)YAJL_GET_INTEGER(v) > max)
		return bad(errp, key, want);
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

/* "server": what `isol8 serve` listens on and how it bounds clients. */
static int
config_server_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	static const struct {
		const char *key;
		size_t off;
		uint64_t min, max;
	} counts[] = {
		{ "maxBody", offsetof(struct cli_server_config, max_body), 1024,
		    1ull << 30 },
		{ "maxHeaders", offsetof(struct cli_server_config, max_headers),
		    1024, 1u << 20 },
		{ "requestTimeoutMs",
		    offsetof(struct cli_server_config, request_timeout_ms), 100,
		    3600000 },
		{ "idleTimeoutMs",
		    offsetof(struct cli_server_config, idle_timeout_ms), 1000,
		    86400000 },
		{ "maxConnections",
		    offsetof(struct cli_server_config, max_connections), 1,
		    65536 },
		{ "maxQueue", offsetof(struct cli_server_config, max_queue), 0,
		    1000000 },
		{ "maxRuns", offsetof(struct cli_server_config, max_runs), 1,
		    4096 },
		{ "heartbeatMs",
		    offsetof(struct cli_server_config, heartbeat_ms), 100,
		    3600000 },
		{ "graceMs", offsetof(struct cli_server_config, grace_ms), 0,
		    86400000 },
	};
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "listen", offsetof(struct cli_server_config, listen) },
		{ "unix", offsetof(struct cli_server_config, unix_path) },
		{ "tlsCert", offsetof(struct cli_server_config, tls_cert) },
		{ "tlsKey", offsetof(struct cli_server_config, tls_key) },
		{ "keysFile", offsetof(struct cli_server_config, keys_file) },
	};
	char *base = (char *)&c->server, name[64];
	size_t i, j;
	const char *k;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		snprintf(name, sizeof name, "server.%.40s", k);
		for (j = 0; j < nitems(counts); j++)
			if (strcmp(k, counts[j].key) == 0)
				break;
		if (j < nitems(counts)) {
			if (get_count(o->u.object.values[i], name,
			        counts[j].min, counts[j].max,
			        (uint64_t *)(void *)(base + counts[j].off),
			        errp) == -1)
				return -1;
			continue;
		}
		for (j = 0; j < nitems(strs); j++)
			if (strcmp(k, strs[j].key) == 0)
				break;
		if (j == nitems(strs))
			return err_set(
			    errp, ERR_INVALID, "unknown key `server.%s`", k);
		if (get_str(o->u.object.values[i], name,
		        (char **)(void *)(base + strs[j].off), errp) == -1)
			return -1;
	}
	return 0;
}

/* A server's URL as the remote engine takes it: http(s)://, no spaces. */
static int
client_url_ok(const char *url)
{
	return (strncmp(url, "http://", 7) == 0 ||
	           strncmp(url, "https://", 8) == 0) &&
	    strpbrk(url, " \t\r\n") == NULL;
}

/* "remote.key": not the masked form `isol8 config` prints, one line. */
static int
config_client_key(struct cli_config *c, yajl_val v, struct err **errp)
{
	if (get_str(v, "remote.key", &c->client.key, errp) == -1)
		return -1;
	if (strncmp(c->client.key, "****", 4) == 0)
		return err_set(errp, ERR_INVALID,
		    "`remote.key` holds a masked key, as `isol8 config` prints it: put the key itself there (or give it in ISOL8_API_KEY)");
	if (strpbrk(c->client.key, "\r\n") != NULL)
		return bad(errp, "remote.key", "one line");
	return 0;
}

/*
 * "remote": the client's server (host, key) and a remote engine's
 * bounds (connectTimeoutMs, stallTimeoutMs, by the engine's table).
 */
static int
config_client_obj(struct cli_config *c, yajl_val o,
    struct isol8_engine_opts *eo, struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;
	int rc = 0;

	for (i = 0; i < o->u.object.len && rc == 0; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (YAJL_IS_NULL(v) &&
		    (strcmp(k, "host") == 0 || strcmp(k, "key") == 0))
			continue; /* `config --json` writes none so */
		if (strcmp(k, "host") == 0) {
			if ((rc = get_str(v, "remote.host", &c->client.host,
			         errp)) == 0 &&
			    !client_url_ok(c->client.host))
				rc = bad(errp, "remote.host",
				    "an http:// or https:// URL");
		} else if (strcmp(k, "key") == 0)
			rc = config_client_key(c, v, errp);
		else if (strcmp(k, "connectTimeoutMs") == 0)
			rc = get_opt_limit(v, "remote.connectTimeoutMs",
			    ISOL8_LIMIT_REMOTE_CONNECT, eo, errp);
		else if (strcmp(k, "stallTimeoutMs") == 0)
			rc = get_opt_limit(v, "remote.stallTimeoutMs",
			    ISOL8_LIMIT_REMOTE_STALL, eo, errp);
		else
			rc = err_set(
			    errp, ERR_INVALID, "unknown key `remote.%s`", k);
	}
	return rc;
}

/*
 * After the whole file: a key goes with its host, and a file that holds
 * one should be the user's alone (else one warning, each time).
 */
static int
config_client_check(struct cli_config *c, struct err **errp)
{
	struct stat st;

	if (c->client.key == NULL)
		return 0;
	if (c->client.host == NULL)
		return err_set(errp, ERR_INVALID,
		    "`remote.key` needs `remote.host`: the key is sent to that server only");
	if (c->source != NULL && stat(c->source, &st) == 0 &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		config_warnf(c,
		    "`remote.key` is in a file other users may read or change (mode %04o): `chmod 600 %s`, or give the key in ISOL8_API_KEY",
		    (unsigned)(st.st_mode & 07777), c->source);
	return 0;
}

static void
config_packages_free(struct cli_config *c)
{
	size_t i;

	for (i = 0; i < CLI_NRUNTIMES; i++)
		config_strv_free(c->deps[i], c->deps_len[i]);
	free(c->pip_index_url);
	free(c->npm_registry);
	free(c->ca_bundle);
}

/*
 * "dependencies": {"python": ["numpy", ...], ...}, each list checked as
 * setup would (isol8_packages_check); a string is a one-item list.
 */
static int
config_dependencies_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	struct isol8_packages p;
	struct isol8_error e;
	char key[64];
	size_t i, r, n;
	yajl_val v;

	if (!YAJL_IS_OBJECT(o))
		return bad(errp, "dependencies",
		    "an object of package lists per runtime");
	for (i = 0; i < o->u.object.len; i++) {
		v = o->u.object.values[i];
		for (r = 0; r < CLI_NRUNTIMES; r++)
			if (strcmp(o->u.object.keys[i], cli_runtimes[r]) == 0)
				break;
		if (r == CLI_NRUNTIMES)
			return err_set(errp, ERR_INVALID,
			    "unknown key `dependencies.%s` (python, node, bun, deno, bash)",
			    o->u.object.keys[i]);
		snprintf(key, sizeof key, "dependencies.%s", cli_runtimes[r]);
		config_strv_free(c->deps[r], c->deps_len[r]);
		c->deps[r] = NULL;
		c->deps_len[r] = 0;
		if (YAJL_IS_STRING(v)) {
			c->deps[r] = xcalloc(2, sizeof *c->deps[r]);
			c->deps[r][c->deps_len[r]++] = xstrdup(v->u.string);
		} else {
			for (n = 0; YAJL_IS_ARRAY(v) && n < v->u.array.len &&
			     YAJL_IS_STRING(v->u.array.values[n]);
			     n++)
				;
			if (!YAJL_IS_ARRAY(v) || n < v->u.array.len ||
			    n > ISOL8_PACKAGES_MAX)
				return bad(errp, key,
				    "an array of at most 256 package specs");
			c->deps[r] = xcalloc(n + 1, sizeof *c->deps[r]);
			for (; c->deps_len[r] < n; c->deps_len[r]++)
				c->deps[r][c->deps_len[r]] =
				    xstrdup(v->u.array.values[c->deps_len[r]]
				                ->u.string);
		}
		p.items = (const char *const *)c->deps[r];
		p.len = c->deps_len[r];
		if (isol8_packages_check(cli_runtimes[r], &p, &e) == -1)
			return err_set(
			    errp, ERR_INVALID, "`%s`: %s", key, e.message);
	}
	return 0;
}

/* "packages.caBundle": a readable file, relative to the file's folder. */
static int
config_ca_bundle(struct cli_config *c, yajl_val v, struct err **errp)
{
	cleanup_free char *dir = NULL;
	const char *slash;

	if (get_str(v, "packages.caBundle", &c->ca_bundle, errp) == -1)
		return -1;
	if (c->ca_bundle[0] != '/' && c->source != NULL &&
	    (slash = strrchr(c->source, '/')) != NULL) {
		dir = xasprintf("%.*s/%s", (int)(slash - c->source), c->source,
		    c->ca_bundle);
		free(c->ca_bundle);
		c->ca_bundle = xstrdup(dir);
	}
	if (access(c->ca_bundle, R_OK) == -1)
		return err_set(errp, ERR_INVALID,
		    "`packages.caBundle`: %s: %s (a PEM file of CA certificates)",
		    c->ca_bundle, strerror(errno));
	return 0;
}

/* "packages": the registries installers use, and the CA bundle. */
static int
config_packages_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	struct isol8_error e;
	const char *k;
	size_t i;
	int rc = 0;

	if (!YAJL_IS_OBJECT(o))
		return bad(errp, "packages", "an object");
	for (i = 0; i < o->u.object.len && rc == 0; i++) {
		k = o->u.object.keys[i];
		/* null: the default (`config --json` writes it so). */
		if (YAJL_IS_NULL(o->u.object.values[i]) &&
		    (strcmp(k, "pipIndexUrl") == 0 ||
		        strcmp(k, "npmRegistry") == 0 ||
		        strcmp(k, "caBundle") == 0))
			continue;
		if (strcmp(k, "pipIndexUrl") == 0)
			rc = get_str(o->u.object.values[i],
			    "packages.pipIndexUrl", &c->pip_index_url, errp);
		else if (strcmp(k, "npmRegistry") == 0)
			rc = get_str(o->u.object.values[i],
			    "packages.npmRegistry", &c->npm_registry, errp);
		else if (strcmp(k, "caBundle") == 0)
			rc = config_ca_bundle(c, o->u.object.values[i], errp);
		else
			rc = err_set(
			    errp, ERR_INVALID, "unknown key `packages.%s`", k);
	}
	if (rc == 0 &&
	    isol8_registries_check(c->pip_index_url, c->npm_registry, &e) == -1)
		rc = err_set(errp, ERR_INVALID, "`packages`: %s", e.message);
	return rc;
}

/*
 * "session" {"idleMs"}, and the original's "cleanup" {"autoPrune",
 * "maxContainerAgeMs"}: when an unused session ends by itself.
 */
static int
config_session_obj(struct cli_config *c, const char *sect, yajl_val o,
    struct isol8_engine_opts *eo, struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(sect, "session") == 0 && strcmp(k, "idleMs") == 0) {
			if (get_opt_limit(v, "session.idleMs",
			        ISOL8_LIMIT_SESSION_IDLE, eo, errp) == -1)
				return -1;
		} else if (strcmp(sect, "cleanup") == 0 &&
		    strcmp(k, "maxContainerAgeMs") == 0) {
			if (get_opt_limit(v, "cleanup.maxContainerAgeMs",
			        ISOL8_LIMIT_SESSION_IDLE, eo, errp) == -1)
				return -1;
		} else if (strcmp(sect, "cleanup") == 0 &&
		    strcmp(k, "autoPrune") == 0) {
			if (get_bool(v, "cleanup.autoPrune", &c->auto_prune,
			        errp) == -1)
				return -1;
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `%s.%s`", sect, k);
	}
	return 0;
}

/* "security" (the original's): its seccomp choice; ours always applies. */
static int
config_security_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "seccomp") == 0) {
			if (!YAJL_IS_STRING(v) ||
			    (strcmp(v->u.string, "strict") != 0 &&
			        strcmp(v->u.string, "unconfined") != 0 &&
			        strcmp(v->u.string, "custom") != 0))
				return bad(errp, "security.seccomp",
				    "\"strict\", \"unconfined\" or \"custom\"");
			if (strcmp(v->u.string, "strict") != 0)
				config_warnf(c,
				    "`security.seccomp` \"%s\" is ignored: isol8's own seccomp profile always applies",
				    v->u.string);
		} else if (strcmp(k, "customProfilePath") == 0) {
			if (!YAJL_IS_STRING(v))
				return bad(errp, "security.customProfilePath",
				    "a string");
			config_warnf(c,
			    "`security.customProfilePath` is ignored: isol8's own seccomp profile always applies");
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `security.%s`", k);
	}
	return 0;
}

/*
 * The original's top-level keys with nothing behind them here: checked
 * for their type and turned into a warning. 1 when k is one of them.
 */
static int
config_ignored(
    struct cli_config *c, const char *k, yajl_val v, int *rc, struct err **errp)
{
	static const struct {
		const char *key;
		const char *why;
	} ignored[] = {
		{ "audit", "isol8 keeps no audit log" },
		{ "auth",
		    "there is no key database (`isol8 serve` takes its keys itself)" },
		{ "prebuiltImages",
		    "images are built by `isol8 setup` (custom images are not supported yet)" },
	};
	size_t i;

	for (i = 0; i < nitems(ignored); i++) {
		if (strcmp(k, ignored[i].key) != 0)
			continue;
		if (strcmp(k, "prebuiltImages") == 0 ? !YAJL_IS_ARRAY(v)
		                                     : !YAJL_IS_OBJECT(v))
			*rc = bad(errp, k,
			    strcmp(k, "prebuiltImages") == 0 ? "an array"
			                                     : "an object");
		else
			config_warnf(
			    c, "`%s` is ignored: %s", k, ignored[i].why);
		return 1;
	}
	if (strcmp(k, "poolStrategy") != 0)
		return 0;
	if (!YAJL_IS_STRING(v) ||
	    (strcmp(v->u.string, "fast") != 0 &&
	        strcmp(v->u.string, "secure") != 0))
		*rc = bad(errp, k, "\"fast\" or \"secure\"");
	else if (strcmp(v->u.string, "fast") == 0)
		/* "secure" (a fresh container for every run) is ours. */
		config_warnf(c,
		    "`poolStrategy` \"fast\" is ignored: every run gets a fresh container (pool.reuse scrubs and reuses, for batch)");
	return 1;
}

/* A top-level key (not an object section, not an ignored one). */
static int
config_top_key(struct cli_config *c, const char *k, yajl_val v,
    struct isol8_engine_opts *eo, struct err **errp)
{
	if (strcmp(k, "maxConcurrent") == 0)
		return get_opt_limit(
		    v, "maxConcurrent", ISOL8_LIMIT_MAX_CONCURRENT, eo, errp);
	if (strcmp(k, "dockerHost") == 0)
		return YAJL_IS_NULL(v)
		    ? 0
		    : get_str(v, "dockerHost", &c->docker_host, errp);
	if (strcmp(k, "debug") == 0)
		return get_bool(v, "debug", &c->debug, errp);
	if (strcmp(k, "poolSize") == 0)
		return config_pool_size(c, v, eo, errp);
	return err_set(errp, ERR_INVALID, "unknown key `%s`", k);
}

/* A section of the file: a key whose value is an object. */
static int
config_section(struct cli_config *c, const char *k, yajl_val v,
    struct isol8_engine_opts *eo, struct err **errp)
{
	if (strcmp(k, "defaults") == 0)
		return config_defaults_obj(c, v, errp);
	if (strcmp(k, "pool") == 0)
		return config_pool_obj(c, v, eo, errp);
	if (strcmp(k, "network") == 0)
		return config_network_obj(c, v, errp);
	if (strcmp(k, "batch") == 0)
		return config_batch_obj(c, v, errp);
	if (strcmp(k, "env") == 0)
		return config_env_obj(c, v, errp);
	if (strcmp(k, "session") == 0 || strcmp(k, "cleanup") == 0)
		return config_session_obj(c, k, v, eo, errp);
	if (strcmp(k, "security") == 0)
		return config_security_obj(c, v, errp);
	if (strcmp(k, "dependencies") == 0)
		return config_dependencies_obj(c, v, errp);
	if (strcmp(k, "packages") == 0)
		return config_packages_obj(c, v, errp);
	if (strcmp(k, "server") == 0)
		return config_server_obj(c, v, errp);
	if (strcmp(k, "remote") == 0)
		return config_client_obj(c, v, eo, errp);
	return config_remote_obj(c, v, errp); /* remoteCode */
}

static int
config_apply(struct cli_config *c, yajl_val root, struct err **errp)
{
	static const char *const sections[] = { "defaults", "pool", "env",
		"network", "session", "batch", "cleanup", "security",
		"remoteCode", "dependencies", "packages", "server", "remote" };
	struct isol8_engine_opts eo;
	size_t i, j;
	const char *k;
	yajl_val v;
	int rc = 0;

	if (!YAJL_IS_OBJECT(root))
		return bad(errp, "(top level)", "a JSON object");
	/* The engine options' limits, parsed by the engine's table. */
	isol8_engine_opts_init(&eo);
	eo.max_concurrent = c->max_concurrent;
	eo.pool_size = c->pool_size;
	eo.pool_idle_ms = c->pool_idle_ms;
	eo.session_idle_ms = c->session_idle_ms;
	eo.remote_connect_ms = c->client.connect_ms;
	eo.remote_stall_ms = c->client.stall_ms;
	for (i = 0; i < root->u.object.len && rc == 0; i++) {
		k = root->u.object.keys[i];
		v = root->u.object.values[i];
		/* "source": where `config --json` read its values. */
		if (strcmp(k, "$schema") == 0 || strcmp(k, "source") == 0 ||
		    config_ignored(c, k, v, &rc, errp))
			continue;
		for (j = 0; j < nitems(sections); j++)
			if (strcmp(k, sections[j]) == 0)
				break;
		if (j == nitems(sections))
			rc = config_top_key(c, k, v, &eo, errp);
		else if (!YAJL_IS_OBJECT(v))
			rc = bad(errp, k, "an object");
		else
			rc = config_section(c, k, v, &eo, errp);
	}
	c->max_concurrent = eo.max_concurrent;
	c->pool_size = eo.pool_size;
	c->pool_idle_ms = eo.pool_idle_ms;
	c->session_idle_ms = eo.session_idle_ms;
	c->client.connect_ms = eo.remote_connect_ms;
	c->client.stall_ms = eo.remote_stall_ms;
	return rc == 0 ? config_client_check(c, errp) : rc;
}

/*
 * Defaults, then the first configuration file found (or `path` when given).
 * -1 with an error naming the file and the key (and nothing left to free).
 */
int
config_load(struct cli_config *c, const char *path, struct err **errp)
{
	cleanup_buf struct buf text = { 0 };
	cleanup_free char *home_cfg = NULL;
	cleanup_yajl yajl_val root = NULL;
	const char *home = getenv("HOME");

	config_defaults(c);
	if (path == NULL) {
		if (access("isol8.config.json", F_OK) == 0)
			path = "isol8.config.json";
		else if (home != NULL) {
			home_cfg = xasprintf("%s/.isol8/config.json", home);
			if (access(home_cfg, F_OK) == 0)
				path = home_cfg;
		}
	}
	if (path == NULL)
		return 0;
	c->source = xstrdup(path);
	if (read_file(path, CONFIG_MAX_SIZE, &text, errp) == -1 ||
	    (root = json_parse(text.data ? text.data : "", text.len, errp)) ==
	        NULL ||
	    config_apply(c, root, errp) == -1) {
		err_wrap(errp, "%s", path);
		config_free(c);
		return -1;
	}
	return 0;
}

void
config_engine_opts(const struct cli_config *c, struct isol8_engine_opts *o)
{
	isol8_engine_opts_init(o);
	o->docker_host = c->docker_host;
	o->max_concurrent = c->max_concurrent;
	o->pool_size = c->pool_size;
	/* A CLI process ends after its run: warm containers wait in dockerd. */
	o->pool_shared = 1;
	o->pool_idle_ms = c->pool_idle_ms;
	o->session_idle_ms =
	    c->auto_prune ? c->session_idle_ms : CLI_SESSION_KEEP_MS;
	o->pool_reuse = c->pool_reuse;
	/* Run-time installs come from the same registries as setup's. */
	o->pip_index_url = c->pip_index_url;
	o->npm_registry = c->npm_registry;
	/* The server itself is the command's (config_client). */
	o->remote_connect_ms = c->client.connect_ms;
	o->remote_stall_ms = c->client.stall_ms;
	if (cli_debug || c->debug) {
		o->verbose = 2;
		o->log = cli_engine_log;
	}
}

/* The configured defaults of a run, into a request. */
void
config_request(const struct cli_config *c, struct isol8_request *req)
{
	req->timeout_ms = c->limits.timeout_ms;
	req->memory = c->limits.memory;
	req->cpus = c->limits.cpus;
	req->pids = c->limits.pids;
	req->sandbox_size = c->limits.sandbox_size;
	req->tmp_size = c->limits.tmp_size;
	req->max_output = c->limits.max_output;
	req->network = c->network;
	req->image = c->image;
}

/* The file's filtered-network rules, when the request is filtered. */
void
config_network(const struct cli_config *c, struct isol8_request *req)
{
	if (req->network == NULL || strcmp(req->network, "filtered") != 0)
		return;
	req->net_allow = (const char *const *)c->net_allow;
	req->net_allow_len = c->net_allow_len;
	req->net_deny = (const char *const *)c->net_deny;
	req->net_deny_len = c->net_deny_len;
	req->net_allow_private = c->net_allow_private;
}

/*
 * A size as the flags write it: the largest of t, g, m, k that divides it
 * ("512m", "1g"), else the number of bytes. The caller frees it.
 */
char *
config_size(uint64_t n)
{
	static const char units[] = "tgmk";
	unsigned shift;
	size_t i;

	for (i = 0, shift = 40; i < sizeof units - 1; i++, shift -= 10)
		if (n != 0 && n % (1ull << shift) == 0)
			return xasprintf("%llu%c",
			    (unsigned long long)(n >> shift), units[i]);
	return xasprintf("%llu", (unsigned long long)n);
}

/* Two server URLs the same but for trailing slashes. */
static int
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

/*
 * Where a client command runs: *host and *key hold its --host and --key
 * (NULL: not given). Each is the flag, else the environment (ISOL8_HOST,
 * ISOL8_API_KEY), else the file's remote.host and remote.key -- the
 * file's key only for the file's host. An empty host (--host "",
 * ISOL8_HOST=) is a local run, whatever the file says: *host NULL. -1
 * (a usage error) for a host without a key.
 */
int
config_client(const struct cli_config *c, const char **host, const char **key,
    struct err **errp)
{
	if (*host == NULL)
		*host = getenv("ISOL8_HOST");
	if (*host == NULL)
		*host = c->client.host;
	if (*host != NULL && (*host)[0] == '\0')
		*host = NULL;
	if (*host == NULL)
		return 0;
	if (*key == NULL)
		*key = getenv("ISOL8_API_KEY");
	if ((*key == NULL || (*key)[0] == '\0') && c->client.key != NULL &&
	    same_host(*host, c->client.host))
		*key = c->client.key;
	if (*key == NULL || (*key)[0] == '\0')
		return err_set(errp, ERR_INVALID,
		    "API key required with --host (the isol8 server at %.200s): --key KEY, ISOL8_API_KEY, or remote.key in the configuration (for its remote.host only)",
		    *host);
	return 0;
}

/*
 * A key as `isol8 config` shows it: "****" and, for a key of 16 bytes or
 * more, its last 4 (enough to tell keys apart, too few to guess it).
 */
void
config_key_mask(const char *key, char *out, size_t len)
{
	size_t n = strlen(key);

	snprintf(out, len, "****%s", n >= 16 ? key + n - 4 : "");
}
