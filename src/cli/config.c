/*
 * The configuration file: ./isol8.config.json, else ~/.isol8/config.json
 * (the first found wins). It sets defaults for every `isol8 run` flag and
 * the engine's pool settings; flags override it. Parsing is strict: an
 * unknown key or a bad value is an error naming the key (docs/config.md).
 */
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
	struct isol8_request req;
	struct isol8_engine_opts eo;

	isol8_request_init(&req);
	isol8_engine_opts_init(&eo);
	memset(c, 0, sizeof *c);
	c->runtime = xstrdup("python");
	c->timeout_ms = req.timeout_ms;
	c->memory = req.memory;
	c->cpus = req.cpus;
	c->pids = req.pids;
	c->sandbox_size = req.sandbox_size;
	c->tmp_size = req.tmp_size;
	c->max_output = req.max_output;
	c->network = xstrdup(req.network);
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
	memset(c, 0, sizeof *c);
}

static int
bad(char *msg, size_t len, const char *key, const char *want)
{
	snprintf(msg, len, "`%s` must be %s", key, want);
	return -1;
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
get_strv(
    yajl_val v, const char *key, char ***out, size_t *n, char *msg, size_t len)
{
	size_t i;

	if (!YAJL_IS_ARRAY(v) || v->u.array.len > 64)
		return bad(msg, len, key, "an array of at most 64 strings");
	for (i = 0; i < v->u.array.len; i++)
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return bad(msg, len, key, "an array of strings");
	strv_free(*out, *n);
	*out = xcalloc(v->u.array.len + 1, sizeof **out);
	for (*n = 0; *n < v->u.array.len; (*n)++)
		(*out)[*n] = xstrdup(v->u.array.values[*n]->u.string);
	return 0;
}

/* "network": the filtered network's allow/deny patterns. */
static int
config_network_obj(struct cli_config *c, yajl_val o, char *msg, size_t len)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "allow") == 0) {
			if (get_strv(v, "network.allow", &c->net_allow,
			        &c->net_allow_len, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "deny") == 0) {
			if (get_strv(v, "network.deny", &c->net_deny,
			        &c->net_deny_len, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "allowPrivate") == 0) {
			if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
				return bad(msg, len, "network.allowPrivate",
				    "true or false");
			c->net_allow_private = YAJL_IS_TRUE(v);
		} else {
			snprintf(msg, len, "unknown key `network.%s`", k);
			return -1;
		}
	}
	return 0;
}

static int
get_str(yajl_val v, const char *key, char **out, char *msg, size_t len)
{
	if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
		return bad(msg, len, key, "a non-empty string");
	free(*out);
	*out = xstrdup(v->u.string);
	return 0;
}

static int
get_size(yajl_val v, const char *key, uint64_t *out, char *msg, size_t len)
{
	if (YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0) {
		*out = (uint64_t)YAJL_GET_INTEGER(v);
		return 0;
	}
	if (!YAJL_IS_STRING(v) || parse_size(v->u.string, out) == -1 ||
	    *out == 0)
		return bad(msg, len, key, "a size such as \"512m\" or bytes");
	return 0;
}

static int
get_uint(yajl_val v, const char *key, uint64_t max, uint64_t *out, char *msg,
    size_t len)
{
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) <= 0 ||
	    (uint64_t)YAJL_GET_INTEGER(v) > max)
		return bad(msg, len, key, "a positive whole number");
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int
config_defaults_obj(struct cli_config *c, yajl_val o, char *msg, size_t len)
{
	size_t i;
	uint64_t u;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "runtime") == 0) {
			if (get_str(v, "defaults.runtime", &c->runtime, msg,
			        len) == -1)
				return -1;
			if (!isol8_runtime_known(c->runtime))
				return bad(msg, len, "defaults.runtime",
				    "one "
				    "of python, node, bun, deno, bash");
		} else if (strcmp(k, "timeoutMs") == 0) {
			if (get_uint(v, "defaults.timeoutMs", 86400000,
			        &c->timeout_ms, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "memory") == 0) {
			if (get_size(v, "defaults.memory", &c->memory, msg,
			        len) == -1)
				return -1;
		} else if (strcmp(k, "cpu") == 0) {
			if (!YAJL_IS_NUMBER(v) || YAJL_GET_DOUBLE(v) <= 0 ||
			    YAJL_GET_DOUBLE(v) > 1024)
				return bad(msg, len, "defaults.cpu",
				    "a positive number of cores");
			c->cpus = YAJL_GET_DOUBLE(v);
		} else if (strcmp(k, "pids") == 0) {
			if (get_uint(v, "defaults.pids", 1 << 22, &u, msg,
			        len) == -1)
				return -1;
			c->pids = (int64_t)u;
		} else if (strcmp(k, "sandboxSize") == 0) {
			if (get_size(v, "defaults.sandboxSize",
			        &c->sandbox_size, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "tmpSize") == 0) {
			if (get_size(v, "defaults.tmpSize", &c->tmp_size, msg,
			        len) == -1)
				return -1;
		} else if (strcmp(k, "maxOutput") == 0) {
			if (get_size(v, "defaults.maxOutput", &c->max_output,
			        msg, len) == -1)
				return -1;
		} else if (strcmp(k, "network") == 0) {
			if (get_str(v, "defaults.network", &c->network, msg,
			        len) == -1)
				return -1;
			if (strcmp(c->network, "none") != 0 &&
			    strcmp(c->network, "host") != 0 &&
			    strcmp(c->network, "filtered") != 0)
				return bad(msg, len, "defaults.network",
				    "\"none\", \"host\" or \"filtered\"");
		} else if (strcmp(k, "image") == 0) {
			if (get_str(v, "defaults.image", &c->image, msg, len) ==
			    -1)
				return -1;
		} else {
			snprintf(msg, len, "unknown key `defaults.%s`", k);
			return -1;
		}
	}
	return 0;
}

static int
config_pool_obj(struct cli_config *c, yajl_val o, char *msg, size_t len)
{
	size_t i;
	const char *k;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		k = o->u.object.keys[i];
		v = o->u.object.values[i];
		if (strcmp(k, "size") == 0) {
			/* 0 is allowed: no warm containers at all. */
			if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
			    YAJL_GET_INTEGER(v) > 256)
				return bad(msg, len, "pool.size",
				    "a whole number from 0 to 256");
			c->pool_size = (unsigned)YAJL_GET_INTEGER(v);
		} else if (strcmp(k, "idleMs") == 0) {
			if (get_uint(v, "pool.idleMs", 7 * 86400000ull,
			        &c->pool_idle_ms, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "reuse") == 0) {
			if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
				return bad(
				    msg, len, "pool.reuse", "true or false");
			c->pool_reuse = YAJL_IS_TRUE(v);
		} else {
			snprintf(msg, len, "unknown key `pool.%s`", k);
			return -1;
		}
	}
	return 0;
}

/* "batch": what `isol8 batch` does when dockerd goes away. */
static int
config_batch_obj(struct cli_config *c, yajl_val o, char *msg, size_t len)
{
	size_t i;
	yajl_val v;

	for (i = 0; i < o->u.object.len; i++) {
		v = o->u.object.values[i];
		if (strcmp(o->u.object.keys[i], "dockerWaitMs") != 0) {
			snprintf(msg, len, "unknown key `batch.%s`",
			    o->u.object.keys[i]);
			return -1;
		}
		/* 0 is allowed: fail at once, do not wait. */
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
		    (uint64_t)YAJL_GET_INTEGER(v) > BATCH_DOCKER_WAIT_MAX)
			return bad(msg, len, "batch.dockerWaitMs",
			    "a whole number of ms from 0 to 86400000");
		c->batch_docker_wait_ms = (uint64_t)YAJL_GET_INTEGER(v);
	}
	return 0;
}

static int
config_apply(struct cli_config *c, yajl_val root, char *msg, size_t len)
{
	size_t i, j;
	uint64_t u;
	const char *k;
	yajl_val v;

	if (!YAJL_IS_OBJECT(root))
		return bad(msg, len, "(top level)", "a JSON object");
	for (i = 0; i < root->u.object.len; i++) {
		k = root->u.object.keys[i];
		v = root->u.object.values[i];
		if (strcmp(k, "$schema") == 0)
			continue;
		if (strcmp(k, "defaults") == 0 || strcmp(k, "pool") == 0 ||
		    strcmp(k, "env") == 0 || strcmp(k, "network") == 0 ||
		    strcmp(k, "batch") == 0) {
			if (!YAJL_IS_OBJECT(v))
				return bad(msg, len, k, "an object");
		}
		if (strcmp(k, "defaults") == 0) {
			if (config_defaults_obj(c, v, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "pool") == 0) {
			if (config_pool_obj(c, v, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "network") == 0) {
			if (config_network_obj(c, v, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "batch") == 0) {
			if (config_batch_obj(c, v, msg, len) == -1)
				return -1;
		} else if (strcmp(k, "env") == 0) {
			for (j = 0; j < v->u.object.len; j++) {
				yajl_val ev = v->u.object.values[j];
				const char *ek = v->u.object.keys[j];

				if (!YAJL_IS_STRING(ev) || *ek == '\0' ||
				    strchr(ek, '=') != NULL) {
					snprintf(msg, len,
					    "`env.%s` must be a "
					    "string with a valid name",
					    ek);
					return -1;
				}
				c->env = xreallocarray(
				    c->env, c->env_len + 1, sizeof *c->env);
				c->env[c->env_len].key = xstrdup(ek);
				c->env[c->env_len++].value =
				    xstrdup(ev->u.string);
			}
		} else if (strcmp(k, "session") == 0) {
			if (!YAJL_IS_OBJECT(v))
				return bad(msg, len, k, "an object");
			for (j = 0; j < v->u.object.len; j++) {
				if (strcmp(v->u.object.keys[j], "idleMs") !=
				    0) {
					snprintf(msg, len,
					    "unknown key "
					    "`session.%s`",
					    v->u.object.keys[j]);
					return -1;
				}
				if (get_uint(v->u.object.values[j],
				        "session.idleMs", 30 * 86400000ull,
				        &c->session_idle_ms, msg, len) == -1)
					return -1;
			}
		} else if (strcmp(k, "maxConcurrent") == 0) {
			if (get_uint(v, "maxConcurrent", 4096, &u, msg, len) ==
			    -1)
				return -1;
			c->max_concurrent = (unsigned)u;
		} else if (strcmp(k, "dockerHost") == 0) {
			if (get_str(v, "dockerHost", &c->docker_host, msg,
			        len) == -1)
				return -1;
		} else {
			snprintf(msg, len, "unknown key `%s`", k);
			return -1;
		}
	}
	return 0;
}

/*
 * Defaults, then the first configuration file found (or `path` when given).
 * -1 with a message naming the file and the key on error (and nothing
 * left to free).
 */
int
config_load(struct cli_config *c, const char *path, char *msg, size_t len)
{
	cleanup_buf struct buf text = { 0 };
	cleanup_free char *home_cfg = NULL;
	cleanup_err struct err *e = NULL;
	cleanup_yajl yajl_val root = NULL;
	const char *home = getenv("HOME");
	char inner[512];

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
	if (read_file(path, CONFIG_MAX_SIZE, &text, &e) == -1 ||
	    (root = json_parse(text.data ? text.data : "", text.len, &e)) ==
	        NULL) {
		snprintf(msg, len, "%s: %s", path, e->msg);
		config_free(c);
		return -1;
	}
	if (config_apply(c, root, inner, sizeof inner) == -1) {
		snprintf(msg, len, "%s: %s", path, inner);
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
	req->timeout_ms = c->timeout_ms;
	req->memory = c->memory;
	req->cpus = c->cpus;
	req->pids = c->pids;
	req->sandbox_size = c->sandbox_size;
	req->tmp_size = c->tmp_size;
	req->max_output = c->max_output;
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

static void
json_strv(struct buf *b, char *const *v, size_t n)
{
	size_t i;

	buf_addstr(b, "[");
	for (i = 0; i < n; i++) {
		buf_addstr(b, i ? ",\"" : "\"");
		json_escape(b, v[i], strlen(v[i]));
		buf_addstr(b, "\"");
	}
	buf_addstr(b, "]");
}

/* The resolved configuration, for people or (json) for programs. */
void
config_print(const struct cli_config *c, int json)
{
	struct buf b = { 0 };
	size_t i;

	if (!json) {
		printf("source:         %s\n",
		    c->source ? c->source : "(built-in defaults)");
		printf("runtime:        %s\n", c->runtime);
		printf("timeout:        %llu ms\n",
		    (unsigned long long)c->timeout_ms);
		printf("memory:         %llu bytes\n",
		    (unsigned long long)c->memory);
		printf("cpu:            %g cores\n", c->cpus);
		printf("pids:           %lld\n", (long long)c->pids);
		printf("sandbox size:   %llu bytes\n",
		    (unsigned long long)c->sandbox_size);
		printf("tmp size:       %llu bytes\n",
		    (unsigned long long)c->tmp_size);
		printf("max output:     %llu bytes\n",
		    (unsigned long long)c->max_output);
		printf("network:        %s\n", c->network);
		for (i = 0; i < c->net_allow_len; i++)
			printf("network allow:  %s\n", c->net_allow[i]);
		for (i = 0; i < c->net_deny_len; i++)
			printf("network deny:   %s\n", c->net_deny[i]);
		if (c->net_allow_private)
			printf("network:        private addresses allowed\n");
		printf("image:          %s\n",
		    c->image ? c->image : "(isol8/<runtime>:latest)");
		printf("docker host:    %s\n",
		    c->docker_host
		        ? c->docker_host
		        : "(DOCKER_HOST or unix:///var/run/docker.sock)");
		printf("max concurrent: %u\n", c->max_concurrent);
		printf("pool:           size %u, idle %llu ms, reuse %s\n",
		    c->pool_size, (unsigned long long)c->pool_idle_ms,
		    c->pool_reuse ? "on" : "off");
		printf("batch:          wait %llu ms for dockerd\n",
		    (unsigned long long)c->batch_docker_wait_ms);
		for (i = 0; i < c->env_len; i++)
			printf("env:            %s=%s\n", c->env[i].key,
			    c->env[i].value);
		return;
	}
	buf_addstr(&b, "{\"source\":");
	if (c->source != NULL) {
		buf_addstr(&b, "\"");
		json_escape(&b, c->source, strlen(c->source));
		buf_addstr(&b, "\"");
	} else
		buf_addstr(&b, "null");
	buf_printf(&b,
	    ",\"defaults\":{\"runtime\":\"%s\",\"timeoutMs\":%llu,"
	    "\"memory\":%llu,\"cpu\":%g,\"pids\":%lld,\"sandboxSize\":%llu,"
	    "\"tmpSize\":%llu,\"maxOutput\":%llu,\"network\":\"%s\","
	    "\"image\":",
	    c->runtime, (unsigned long long)c->timeout_ms,
	    (unsigned long long)c->memory, c->cpus, (long long)c->pids,
	    (unsigned long long)c->sandbox_size,
	    (unsigned long long)c->tmp_size, (unsigned long long)c->max_output,
	    c->network);
	if (c->image != NULL) {
		buf_addstr(&b, "\"");
		json_escape(&b, c->image, strlen(c->image));
		buf_addstr(&b, "\"");
	} else
		buf_addstr(&b, "null");
	buf_printf(&b,
	    "},\"pool\":{\"size\":%u,\"idleMs\":%llu,\"reuse\":%s},"
	    "\"batch\":{\"dockerWaitMs\":%llu},\"maxConcurrent\":%u,"
	    "\"env\":{",
	    c->pool_size, (unsigned long long)c->pool_idle_ms,
	    c->pool_reuse ? "true" : "false",
	    (unsigned long long)c->batch_docker_wait_ms, c->max_concurrent);
	for (i = 0; i < c->env_len; i++) {
		buf_printf(&b, "%s\"", i ? "," : "");
		json_escape(&b, c->env[i].key, strlen(c->env[i].key));
		buf_addstr(&b, "\":\"");
		json_escape(&b, c->env[i].value, strlen(c->env[i].value));
		buf_addstr(&b, "\"");
	}
	buf_addstr(&b, "},\"network\":{\"allow\":");
	json_strv(&b, c->net_allow, c->net_allow_len);
	buf_addstr(&b, ",\"deny\":");
	json_strv(&b, c->net_deny, c->net_deny_len);
	buf_printf(&b, ",\"allowPrivate\":%s}}",
	    c->net_allow_private ? "true" : "false");
	printf("%s\n", b.data);
	buf_free(&b);
}
