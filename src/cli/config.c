/*
 * The configuration file: ./isol8.config.json, else ~/.isol8/config.json
 * (the first found wins). It sets defaults for every `isol8 run` flag and
 * the engine's pool settings; flags override it. Parsing is strict: an
 * unknown key or a bad value is an error naming the file and the key
 * (docs/config.md), reported through struct err. Numeric keys are checked
 * by the engine's table of limits (isol8_*_parse_limit), as flags and job
 * fields are: one syntax, one set of bounds, one wording.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

#define CONFIG_MAX_SIZE (1u << 20)

static void strv_free(char **, size_t);

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
	c->batch_docker_wait_ms = BATCH_DOCKER_WAIT_MS;
}

void
config_free(struct cli_config *c)
{
	cli_kv_free(c->env, c->env_len);
	strv_free(c->net_allow, c->net_allow_len);
	strv_free(c->net_deny, c->net_deny_len);
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
	memset(c, 0, sizeof *c);
}

static int
bad(struct err **errp, const char *key, const char *want)
{
	return err_set(errp, ERR_INVALID, "`%s` must be %s", key, want);
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* An array of at most 64 strings. */
static int
get_strv(yajl_val v, const char *key, char ***out, size_t *n, struct err **errp)
{
	size_t i;

	if (!YAJL_IS_ARRAY(v) || v->u.array.len > 64)
		return bad(errp, key, "an array of at most 64 strings");
	for (i = 0; i < v->u.array.len; i++)
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return bad(errp, key, "an array of strings");
	strv_free(*out, *n);
	*out = xcalloc(v->u.array.len + 1, sizeof **out);
	for (*n = 0; *n < v->u.array.len; (*n)++)
		(*out)[*n] = xstrdup(v->u.array.values[*n]->u.string);
	return 0;
}

/* "network": the filtered network's allow/deny patterns. */
static int
config_network_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "allow") == 0) {
			if (get_strv(v, "network.allow", &c->net_allow,
			        &c->net_allow_len, errp) == -1)
				return -1;
		} else if (strcmp(k, "deny") == 0) {
			if (get_strv(v, "network.deny", &c->net_deny,
			        &c->net_deny_len, errp) == -1)
				return -1;
		} else if (strcmp(k, "allowPrivate") == 0) {
			if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
				return bad(errp, "network.allowPrivate",
				    "true or false");
			c->net_allow_private = YAJL_IS_TRUE(v);
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

/* The keys of "defaults" that are limits, and their place in the table. */
static const struct {
	const char *key;
	enum isol8_limit id;
} default_limits[] = {
	{ "timeoutMs", ISOL8_LIMIT_TIMEOUT },
	{ "memory", ISOL8_LIMIT_MEMORY },
	{ "cpu", ISOL8_LIMIT_CPUS },
	{ "pids", ISOL8_LIMIT_PIDS },
	{ "sandboxSize", ISOL8_LIMIT_SANDBOX_SIZE },
	{ "tmpSize", ISOL8_LIMIT_TMP_SIZE },
	{ "maxOutput", ISOL8_LIMIT_MAX_OUTPUT },
};

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
		if (j < nitems(default_limits)) {
			snprintf(key, sizeof key, "defaults.%s", k);
			if (get_limit(v, key, default_limits[j].id, &c->limits,
			        errp) == -1)
				return -1;
		} else if (strcmp(k, "runtime") == 0) {
			if (get_str(v, "defaults.runtime", &c->runtime, errp) ==
			    -1)
				return -1;
			if (!isol8_runtime_known(c->runtime))
				return bad(errp, "defaults.runtime",
				    "one of python, node, bun, deno, bash");
		} else if (strcmp(k, "network") == 0) {
			if (get_str(v, "defaults.network", &c->network, errp) ==
			    -1)
				return -1;
			if (strcmp(c->network, "none") != 0 &&
			    strcmp(c->network, "host") != 0 &&
			    strcmp(c->network, "filtered") != 0)
				return bad(errp, "defaults.network",
				    "\"none\", \"host\" or \"filtered\"");
		} else if (strcmp(k, "image") == 0) {
			if (get_str(v, "defaults.image", &c->image, errp) == -1)
				return -1;
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `defaults.%s`", k);
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
			if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
				return bad(errp, "pool.reuse", "true or false");
			c->pool_reuse = YAJL_IS_TRUE(v);
		} else
			return err_set(
			    errp, ERR_INVALID, "unknown key `pool.%s`", k);
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

static int
config_apply(struct cli_config *c, yajl_val root, struct err **errp)
{
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
	for (i = 0; i < root->u.object.len && rc == 0; i++) {
		k = root->u.object.keys[i];
		v = root->u.object.values[i];
		if (strcmp(k, "$schema") == 0)
			continue;
		if ((strcmp(k, "defaults") == 0 || strcmp(k, "pool") == 0 ||
		        strcmp(k, "env") == 0 || strcmp(k, "network") == 0 ||
		        strcmp(k, "session") == 0 || strcmp(k, "batch") == 0 ||
		        strcmp(k, "server") == 0) &&
		    !YAJL_IS_OBJECT(v))
			return bad(errp, k, "an object");
		if (strcmp(k, "defaults") == 0)
			rc = config_defaults_obj(c, v, errp);
		else if (strcmp(k, "pool") == 0)
			rc = config_pool_obj(c, v, &eo, errp);
		else if (strcmp(k, "network") == 0)
			rc = config_network_obj(c, v, errp);
		else if (strcmp(k, "batch") == 0)
			rc = config_batch_obj(c, v, errp);
		else if (strcmp(k, "server") == 0)
			rc = config_server_obj(c, v, errp);
		else if (strcmp(k, "env") == 0)
			rc = config_env_obj(c, v, errp);
		else if (strcmp(k, "session") == 0) {
			for (j = 0; j < v->u.object.len && rc == 0; j++)
				rc = strcmp(v->u.object.keys[j], "idleMs") != 0
				    ? err_set(errp, ERR_INVALID,
				          "unknown key `session.%s`",
				          v->u.object.keys[j])
				    : get_opt_limit(v->u.object.values[j],
				          "session.idleMs",
				          ISOL8_LIMIT_SESSION_IDLE, &eo, errp);
		} else if (strcmp(k, "maxConcurrent") == 0)
			rc = get_opt_limit(v, "maxConcurrent",
			    ISOL8_LIMIT_MAX_CONCURRENT, &eo, errp);
		else if (strcmp(k, "dockerHost") == 0)
			rc = get_str(v, "dockerHost", &c->docker_host, errp);
		else
			rc = err_set(errp, ERR_INVALID, "unknown key `%s`", k);
	}
	c->max_concurrent = eo.max_concurrent;
	c->pool_size = eo.pool_size;
	c->pool_idle_ms = eo.pool_idle_ms;
	c->session_idle_ms = eo.session_idle_ms;
	return rc;
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
	o->session_idle_ms = c->session_idle_ms;
	o->pool_reuse = c->pool_reuse;
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
