/*
 * The configuration's "remoteCode" section: whether `run --url`,
 * `--github` and `--gist` may fetch code, and from where -- the original
 * isol8's policy under its names (enabled, allowedSchemes, allowedHosts,
 * blockedHosts, maxCodeSize, fetchTimeoutMs, requireHash), plus ours:
 * allowPrivate (connect to private, loopback and link-local addresses,
 * refused by default whatever the name) and githubBaseUrl/gistBaseUrl
 * (where the shorthands point: GitHub Enterprise, a mirror, a test
 * server). run_fetch.c applies it.
 *
 * Host patterns are POSIX extended regular expressions, case-insensitive,
 * as the filtered network's; the original's are JavaScript's, whose
 * non-capturing groups `(?:...)` are read as plain groups, so that its
 * default list (and files copied from it) compile here too.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

/* The original's default blockedHosts, as POSIX patterns. */
static const char *const default_blocked[] = {
	"^localhost$",
	"^127(\\.[0-9]{1,3}){3}$",
	"^\\[::1\\]$",
	"^::1$",
	"^10(\\.[0-9]{1,3}){3}$",
	"^172\\.(1[6-9]|2[0-9]|3[0-1])(\\.[0-9]{1,3}){2}$",
	"^192\\.168(\\.[0-9]{1,3}){2}$",
	"^169\\.254(\\.[0-9]{1,3}){2}$",
	"^metadata\\.google\\.internal$",
	"^169\\.254\\.169\\.254$",
};

static char **
strv_dup(const char *const *v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof *out);
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void
config_remote_defaults(struct cli_remote *r)
{
	static const char *const https[] = { "https" };

	memset(r, 0, sizeof *r);
	r->schemes = strv_dup(https, 1);
	r->schemes_len = 1;
	r->block_hosts = strv_dup(default_blocked, nitems(default_blocked));
	r->block_hosts_len = nitems(default_blocked);
	r->max_size = REMOTE_MAX_SIZE_DEFAULT;
	r->timeout_ms = REMOTE_TIMEOUT_DEFAULT;
	r->github_base = xstrdup(REMOTE_GITHUB_BASE);
	r->gist_base = xstrdup(REMOTE_GIST_BASE);
}

void
config_remote_free(struct cli_remote *r)
{
	config_strv_free(r->schemes, r->schemes_len);
	config_strv_free(r->allow_hosts, r->allow_hosts_len);
	config_strv_free(r->block_hosts, r->block_hosts_len);
	free(r->github_base);
	free(r->gist_base);
	memset(r, 0, sizeof *r);
}

/*
 * Compile a host pattern (its `(?:` read as `(`) into re; key names it in
 * the error. The caller regfree()s re after a 0.
 */
int
config_host_regex(
    regex_t *re, const char *pattern, const char *key, struct err **errp)
{
	cleanup_free char *p = xstrdup(pattern);
	char *q;

	while ((q = strstr(p, "(?:")) != NULL)
		memmove(q + 1, q + 3, strlen(q + 3) + 1);
	if (regcomp(re, p, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
		return err_set(errp, ERR_INVALID,
		    "`%s`: `%s` is not a valid regular expression", key,
		    pattern);
	return 0;
}

/* A list of host patterns, each checked by compiling it. */
static int
get_patterns(
    yajl_val v, const char *key, char ***out, size_t *n, struct err **errp)
{
	regex_t re;
	size_t i;

	if (config_strv(v, key, out, n, errp) == -1)
		return -1;
	for (i = 0; i < *n; i++) {
		if (config_host_regex(&re, (*out)[i], key, errp) == -1)
			return -1;
		regfree(&re);
	}
	return 0;
}

/* allowedSchemes: http and https are the ones there are. */
static int
get_schemes(struct cli_remote *r, yajl_val v, struct err **errp)
{
	size_t i;

	if (config_strv(v, "remoteCode.allowedSchemes", &r->schemes,
	        &r->schemes_len, errp) == -1)
		return -1;
	for (i = 0; i < r->schemes_len; i++)
		if (strcasecmp(r->schemes[i], "http") != 0 &&
		    strcasecmp(r->schemes[i], "https") != 0)
			return err_set(errp, ERR_INVALID,
			    "`remoteCode.allowedSchemes`: `%s` is not http or https",
			    r->schemes[i]);
	return 0;
}

/* A size or a duration of the section, in the syntax of the flags. */
static int
get_number(yajl_val v, const char *key, enum isol8_limit id, uint64_t max,
    uint64_t *out, struct err **errp)
{
	struct isol8_request req;
	struct isol8_error e;
	const char *text = NULL;
	char name[64];

	if (YAJL_IS_STRING(v))
		text = v->u.string;
	else if (YAJL_IS_NUMBER(v))
		text = v->u.number.r;
	snprintf(name, sizeof name, "`%s`", key);
	isol8_request_init(&req);
	if (text == NULL)
		return err_set(errp, ERR_INVALID, "`%s` must be a number", key);
	if (isol8_request_parse_limit(&req, id, text, name, &e) == -1)
		return err_set(errp, ERR_INVALID, "%s", e.message);
	*out = id == ISOL8_LIMIT_TIMEOUT ? req.timeout_ms : req.max_output;
	if (*out > max)
		return err_set(errp, ERR_INVALID,
		    "`%s` must be at most %llu, got `%s`", key,
		    (unsigned long long)max, text);
	return 0;
}

static int
get_flag(yajl_val v, const char *key, int *out, struct err **errp)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return err_set(
		    errp, ERR_INVALID, "`%s` must be true or false", key);
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/* githubBaseUrl, gistBaseUrl: an http(s) URL, kept without a final `/`. */
static int
get_base(yajl_val v, const char *key, char **out, struct err **errp)
{
	size_t n;

	if (!YAJL_IS_STRING(v) ||
	    (strncmp(v->u.string, "https://", 8) != 0 &&
	        strncmp(v->u.string, "http://", 7) != 0))
		return err_set(errp, ERR_INVALID,
		    "`%s` must be an http:// or https:// URL", key);
	free(*out);
	*out = xstrdup(v->u.string);
	n = strlen(*out);
	while (n > 0 && (*out)[n - 1] == '/')
		(*out)[--n] = '\0';
	return 0;
}

/* One key of "remoteCode". */
static int
remote_key(struct cli_config *c, const char *k, yajl_val v, struct err **errp)
{
	struct cli_remote *r = &c->remote;
	int on;

	if (strcmp(k, "enabled") == 0)
		return get_flag(v, "remoteCode.enabled", &r->enabled, errp);
	if (strcmp(k, "allowedSchemes") == 0)
		return get_schemes(r, v, errp);
	if (strcmp(k, "allowedHosts") == 0)
		return get_patterns(v, "remoteCode.allowedHosts",
		    &r->allow_hosts, &r->allow_hosts_len, errp);
	if (strcmp(k, "blockedHosts") == 0)
		return get_patterns(v, "remoteCode.blockedHosts",
		    &r->block_hosts, &r->block_hosts_len, errp);
	if (strcmp(k, "maxCodeSize") == 0)
		return get_number(v, "remoteCode.maxCodeSize",
		    ISOL8_LIMIT_MAX_OUTPUT, REMOTE_MAX_SIZE_MAX, &r->max_size,
		    errp);
	if (strcmp(k, "fetchTimeoutMs") == 0)
		return get_number(v, "remoteCode.fetchTimeoutMs",
		    ISOL8_LIMIT_TIMEOUT, UINT64_MAX, &r->timeout_ms, errp);
	if (strcmp(k, "requireHash") == 0)
		return get_flag(
		    v, "remoteCode.requireHash", &r->require_hash, errp);
	if (strcmp(k, "allowPrivate") == 0)
		return get_flag(
		    v, "remoteCode.allowPrivate", &r->allow_private, errp);
	if (strcmp(k, "githubBaseUrl") == 0)
		return get_base(
		    v, "remoteCode.githubBaseUrl", &r->github_base, errp);
	if (strcmp(k, "gistBaseUrl") == 0)
		return get_base(
		    v, "remoteCode.gistBaseUrl", &r->gist_base, errp);
	if (strcmp(k, "enableCache") == 0) {
		if (get_flag(v, "remoteCode.enableCache", &on, errp) == -1)
			return -1;
		if (on)
			config_warnf(c,
			    "`remoteCode.enableCache` is ignored: code is fetched for every run");
		return 0;
	}
	if (strcmp(k, "cacheTtl") == 0) {
		if (!YAJL_IS_NUMBER(v))
			return err_set(errp, ERR_INVALID,
			    "`remoteCode.cacheTtl` must be a number");
		return 0; /* said with enableCache: nothing is cached */
	}
	return err_set(errp, ERR_INVALID, "unknown key `remoteCode.%s`", k);
}

int
config_remote_obj(struct cli_config *c, yajl_val o, struct err **errp)
{
	size_t i;

	for (i = 0; i < o->u.object.len; i++)
		if (remote_key(c, o->u.object.keys[i], o->u.object.values[i],
		        errp) == -1)
			return -1;
	return 0;
}
