/*
 * API keys: who may call the server, and what each may ask for.
 *
 * `--key KEY` (or ISOL8_API_KEY) is one key named `default` with no
 * ceilings beyond the configuration's. `--keys FILE` holds many, one a
 * line (docs/api.md "Keys"):
 *
 *	# name   SHA-256 of the key (hex)                          ceilings
 *	alice    9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c...  memory=1g cpu=2 network=none,filtered sessions=2
 *
 * The file never holds a key itself, only its hash. A request's bearer
 * token is hashed and compared with every key's hash in constant time
 * (CRYPTO_memcmp, and every key is compared, whichever matches). The file
 * is re-read on SIGHUP: a key that stays keeps its state (its runs in
 * flight), a key that goes is revoked at once for new requests and freed
 * when its last request ends.
 *
 * Ceilings are checked on the request as it will run (the server's
 * defaults filled in, clamped to the ceilings first so that a key under
 * the configuration's default memory is not refused for a request that
 * says nothing); a refusal names the ceiling. `sessions=N` above 0 is
 * counted against what the key owns when a run names a session
 * (server_claim.c); here only `sessions=0` refuses at once.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server.h"

#define KEYS_MAX_FILE (1u << 20)
#define KEYS_MAX 4096
#define KEYS_MAX_LIST 16 /* runtimes, images */

int
key_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32 || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void
key_free(struct server_key *k)
{
	strv_free(k->c.runtimes);
	strv_free(k->c.images);
	free(k);
}

void
key_ref(struct server_key *k)
{
	k->refs++;
}

/* A request let go of its key; a revoked key goes with its last one. */
void
key_unref(struct server_keys *keys, struct server_key *k)
{
	(void)keys;
	if (--k->refs == 0 && k->revoked)
		key_free(k);
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
parse_hash(const char *hex, unsigned char out[32])
{
	size_t i;
	int hi, lo;

	if (strlen(hex) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		if ((hi = hex_value(hex[2 * i])) < 0 ||
		    (lo = hex_value(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void
hash_secret(const char *secret, unsigned char out[32])
{
	struct sha256 h;
	char hex[65];

	sha256_init(&h);
	sha256_add(&h, secret, strlen(secret));
	sha256_hex(&h, hex);
	parse_hash(hex, out);
}

/* A comma-separated list into a NULL-terminated vector. */
static int
parse_list(const char *v, char ***out, struct err **errp)
{
	char *copy = xstrdup(v), *p, *save = NULL;
	size_t n = 0;

	strv_free(*out);
	*out = xcalloc(KEYS_MAX_LIST + 1, sizeof **out);
	for (p = strtok_r(copy, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (n == KEYS_MAX_LIST) {
			free(copy);
			return err_set(errp, ERR_INVALID,
			    "at most %d names in a list", KEYS_MAX_LIST);
		}
		(*out)[n++] = xstrdup(p);
	}
	free(copy);
	if (n == 0)
		return err_set(errp, ERR_INVALID, "an empty list");
	return 0;
}

static int
parse_networks(const char *v, unsigned *out, struct err **errp)
{
	char **names = NULL;
	size_t i;
	int rc = 0;

	if (parse_list(v, &names, errp) == -1) {
		strv_free(names);
		return -1;
	}
	*out = 0;
	for (i = 0; names[i] != NULL && rc == 0; i++) {
		if (strcmp(names[i], "none") == 0)
			*out |= NET_NONE;
		else if (strcmp(names[i], "host") == 0)
			*out |= NET_HOST;
		else if (strcmp(names[i], "filtered") == 0)
			*out |= NET_FILTERED;
		else if (strcmp(names[i], "private") == 0)
			*out |= NET_PRIVATE | NET_FILTERED;
		else
			rc = err_set(errp, ERR_INVALID,
			    "unknown network `%s` (none, filtered, private, host)",
			    names[i]);
	}
	strv_free(names);
	return rc;
}

/* A count from 0 (or 1) to max. */
static int
parse_count(const char *k, const char *v, uint64_t min, uint64_t max,
    uint64_t *out, struct err **errp)
{
	if (parse_uint(v, max, out) == -1 || *out < min)
		return err_set(errp, ERR_INVALID,
		    "`%s` must be a whole number from %llu to %llu, got `%s`",
		    k, (unsigned long long)min, (unsigned long long)max, v);
	return 0;
}

/* One ceiling, k=v, into c; the limits through the engine's table. */
static int
parse_ceiling(
    struct server_ceilings *c, const char *k, const char *v, struct err **errp)
{
	static const struct {
		const char *name;
		enum isol8_limit limit;
	} limits[] = {
		{ "memory", ISOL8_LIMIT_MEMORY },
		{ "cpu", ISOL8_LIMIT_CPUS },
		{ "pids", ISOL8_LIMIT_PIDS },
		{ "timeout", ISOL8_LIMIT_TIMEOUT },
		{ "output", ISOL8_LIMIT_MAX_OUTPUT },
	};
	struct isol8_request r;
	struct isol8_error e;
	uint64_t n;
	size_t i;

	for (i = 0; i < nitems(limits); i++) {
		if (strcmp(k, limits[i].name) != 0)
			continue;
		memset(&r, 0, sizeof r);
		if (isol8_request_parse_limit(&r, limits[i].limit, v, k, &e) ==
		    -1)
			return err_set(errp, ERR_INVALID, "%s", e.message);
		c->memory = r.memory ? r.memory : c->memory;
		c->cpus = r.cpus > 0 ? r.cpus : c->cpus;
		c->pids = r.pids ? (uint64_t)r.pids : c->pids;
		c->timeout_ms = r.timeout_ms ? r.timeout_ms : c->timeout_ms;
		c->max_output = r.max_output ? r.max_output : c->max_output;
		return 0;
	}
	if (strcmp(k, "network") == 0)
		return parse_networks(v, &c->networks, errp);
	if (strcmp(k, "runtimes") == 0) {
		if (parse_list(v, &c->runtimes, errp) == -1)
			return -1;
		for (i = 0; c->runtimes[i] != NULL; i++)
			if (!isol8_runtime_known(c->runtimes[i]))
				return err_set(errp, ERR_INVALID,
				    "unknown runtime `%s`", c->runtimes[i]);
		return 0;
	}
	if (strcmp(k, "images") == 0)
		return parse_list(v, &c->images, errp);
	if (strcmp(k, "concurrency") == 0) {
		if (parse_count(k, v, 1, 4096, &n, errp) == -1)
			return -1;
		c->concurrency = (unsigned)n;
		return 0;
	}
	if (strcmp(k, "sessions") == 0) {
		/* 0: none at all; N: counted (server_claim.c) */
		if (parse_count(k, v, 0, 4096, &n, errp) == -1)
			return -1;
		c->sessions = (unsigned)n;
		c->has_sessions = 1;
		return 0;
	}
	return err_set(errp, ERR_INVALID,
	    "unknown ceiling `%s` (memory, cpu, pids, timeout, output, network, runtimes, images, concurrency, sessions)",
	    k);
}

/* One line of the file: name, hash, ceilings. NULL for a blank line. */
static struct server_key *
parse_line(char *line, struct err **errp)
{
	struct server_key *k;
	char *tok, *save = NULL, *eq;
	int field = 0;

	if ((tok = strchr(line, '#')) != NULL)
		*tok = '\0';
	k = xcalloc(1, sizeof *k);
	for (tok = strtok_r(line, " \t\r", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r", &save), field++) {
		if (field == 0) {
			if (!key_name_valid(tok)) {
				err_set(errp, ERR_INVALID,
				    "bad key name `%.40s` (letters, digits, `_`, `-`; at most 32, a letter or digit first)",
				    tok);
				break;
			}
			snprintf(k->name, sizeof k->name, "%s", tok);
		} else if (field == 1) {
			if (parse_hash(tok, k->hash) == -1) {
				err_set(errp, ERR_INVALID,
				    "key `%s`: the second field must be the SHA-256 of the key, 64 hex digits (sha256sum)",
				    k->name);
				break;
			}
		} else if ((eq = strchr(tok, '=')) == NULL || eq == tok) {
			err_set(errp, ERR_INVALID,
			    "key `%s`: a ceiling is NAME=VALUE, got `%.40s`",
			    k->name, tok);
			break;
		} else {
			*eq = '\0';
			if (parse_ceiling(&k->c, tok, eq + 1, errp) == -1) {
				err_wrap(errp, "key `%s`", k->name);
				break;
			}
		}
	}
	if (*errp == NULL && field == 1)
		err_set(errp, ERR_INVALID,
		    "key `%s`: no hash (name, SHA-256, ceilings)", k->name);
	if (*errp != NULL || field == 0) {
		key_free(k);
		return NULL;
	}
	return k;
}

/* Whether a key of this name or hash is in the list already. */
static int
keys_clash(struct server_keys *keys, const struct server_key *k)
{
	struct server_key *o;

	TAILQ_FOREACH (o, keys, entry)
		if (strcmp(o->name, k->name) == 0 ||
		    memcmp(o->hash, k->hash, sizeof k->hash) == 0)
			return 1;
	return 0;
}

/* The keys of a file, into an empty list; -1 naming file and line. */
int
keys_load_file(const char *path, struct server_keys *keys, struct err **errp)
{
	cleanup_buf struct buf text = { 0 };

	TAILQ_INIT(keys);
	if (read_file(path, KEYS_MAX_FILE, &text, errp) == -1)
		return -1;
	buf_addstr(&text, "");
	return keys_parse(path, text.data, keys, errp);
}

/*
 * The keys in text (a NUL-terminated copy, cut into lines in place);
 * `from` names it in errors. Nothing in keys when it fails.
 */
int
keys_parse(
    const char *from, char *text, struct server_keys *keys, struct err **errp)
{
	char *line, *next;
	struct server_key *k;
	size_t n = 0;
	long lineno = 0;

	TAILQ_INIT(keys);
	for (line = text; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((k = parse_line(line, errp)) == NULL) {
			if (*errp == NULL)
				continue;
			err_wrap(errp, "%s: line %ld", from, lineno);
			keys_free(keys);
			return -1;
		}
		if (keys_clash(keys, k) || ++n > KEYS_MAX) {
			err_set(errp, ERR_INVALID, "%s: line %ld: key `%s` %s",
			    from, lineno, k->name,
			    n > KEYS_MAX ? "is one too many (4096 at most)"
			                 : "repeats a name or a hash");
			key_free(k);
			keys_free(keys);
			return -1;
		}
		TAILQ_INSERT_TAIL(keys, k, entry);
	}
	if (TAILQ_EMPTY(keys))
		return err_set(errp, ERR_INVALID, "%s: no keys in it", from);
	return 0;
}

/* The one key of --key: named `default`, no ceilings. */
void
keys_single(const char *secret, struct server_keys *keys)
{
	struct server_key *k = xcalloc(1, sizeof *k);

	TAILQ_INIT(keys);
	snprintf(k->name, sizeof k->name, "default");
	hash_secret(secret, k->hash);
	TAILQ_INSERT_TAIL(keys, k, entry);
}

/*
 * A reload: `next` becomes the set. A key that stays (by name) keeps its
 * struct -- its requests and runs in flight -- with the new hash and
 * ceilings; one that goes is revoked (freed when unreferenced).
 */
void
keys_replace(struct server_keys *keys, struct server_keys *next)
{
	struct server_key *k, *n, *tmp;
	struct server_keys out = TAILQ_HEAD_INITIALIZER(out);

	TAILQ_FOREACH_SAFE (n, next, entry, tmp) {
		TAILQ_REMOVE(next, n, entry);
		TAILQ_FOREACH (k, keys, entry)
			if (strcmp(k->name, n->name) == 0)
				break;
		if (k != NULL) {
			TAILQ_REMOVE(keys, k, entry);
			memcpy(k->hash, n->hash, sizeof k->hash);
			strv_free(k->c.runtimes);
			strv_free(k->c.images);
			k->c = n->c;
			n->c.runtimes = n->c.images = NULL;
			key_free(n);
			n = k;
		}
		TAILQ_INSERT_TAIL(&out, n, entry);
	}
	keys_free(keys);
	TAILQ_INIT(keys);
	TAILQ_CONCAT(keys, &out, entry);
}

/* Revoke every key: those still referenced go with their last request. */
void
keys_free(struct server_keys *keys)
{
	struct server_key *k;

	while ((k = TAILQ_FIRST(keys)) != NULL) {
		TAILQ_REMOVE(keys, k, entry);
		k->revoked = 1;
		if (k->refs == 0)
			key_free(k);
	}
}

/*
 * The key an Authorization header names ("Bearer TOKEN"), or NULL. Every
 * key's hash is compared, in constant time, whatever matched first.
 */
struct server_key *
keys_auth(struct server_keys *keys, const char *header)
{
	struct server_key *k, *found = NULL;
	unsigned char h[32];
	const char *tok;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	for (tok = header + 7; *tok == ' '; tok++)
		;
	if (*tok == '\0')
		return NULL;
	hash_secret(tok, h);
	TAILQ_FOREACH (k, keys, entry)
		if (CRYPTO_memcmp(k->hash, h, sizeof h) == 0 && found == NULL)
			found = k;
	return found;
}

/*
 * A key's defaults: the server's, each limit lowered to the key's ceiling
 * (a request that says nothing must fit its key).
 */
void
key_defaults(const struct server_key *k, const struct isol8_request *def,
    struct isol8_request *out)
{
	const struct server_ceilings *c = &k->c;

	*out = *def;
	if (c->memory && out->memory > c->memory)
		out->memory = c->memory;
	if (c->cpus > 0 && out->cpus > c->cpus)
		out->cpus = c->cpus;
	if (c->pids && (uint64_t)out->pids > c->pids)
		out->pids = (int64_t)c->pids;
	if (c->timeout_ms && out->timeout_ms > c->timeout_ms)
		out->timeout_ms = c->timeout_ms;
	if (c->max_output && out->max_output > c->max_output)
		out->max_output = c->max_output;
}

static int
in_list(char **list, const char *s)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int
over(struct err **errp, const struct server_key *k, const char *ceiling,
    const char *what)
{
	return err_set(errp, ERR_LIMIT,
	    "key `%s` may not %s (its `%s` ceiling)", k->name, what, ceiling);
}

/* The network a request asks for, as one NET_* bit. */
static unsigned
request_network(const struct isol8_request *q)
{
	if (q->network == NULL || strcmp(q->network, "none") == 0)
		return NET_NONE;
	if (strcmp(q->network, "host") == 0)
		return NET_HOST;
	return q->net_allow_private ? NET_PRIVATE : NET_FILTERED;
}

/*
 * Whether the request (defaults filled in) stays under the key's
 * ceilings; -1 (ERR_LIMIT) naming the first ceiling it goes over.
 */
int
key_check(const struct server_key *k, const struct isol8_request *q,
    struct err **errp)
{
	const struct server_ceilings *c = &k->c;
	char what[160];
	unsigned net = request_network(q);

	if (c->memory && q->memory > c->memory) {
		snprintf(what, sizeof what,
		    "use more than %llu MiB of memory (asked for %llu MiB)",
		    (unsigned long long)(c->memory >> 20),
		    (unsigned long long)(q->memory >> 20));
		return over(errp, k, "memory", what);
	}
	if (c->cpus > 0 && q->cpus > c->cpus) {
		snprintf(what, sizeof what,
		    "use more than %g CPUs (asked for %g)", c->cpus, q->cpus);
		return over(errp, k, "cpu", what);
	}
	if (c->pids && (uint64_t)q->pids > c->pids) {
		snprintf(what, sizeof what,
		    "run more than %llu processes (asked for %lld)",
		    (unsigned long long)c->pids, (long long)q->pids);
		return over(errp, k, "pids", what);
	}
	if (c->timeout_ms && q->timeout_ms > c->timeout_ms) {
		snprintf(what, sizeof what,
		    "run longer than %llu ms (asked for %llu ms)",
		    (unsigned long long)c->timeout_ms,
		    (unsigned long long)q->timeout_ms);
		return over(errp, k, "timeout", what);
	}
	if (c->max_output && q->max_output > c->max_output) {
		snprintf(what, sizeof what,
		    "write more than %llu bytes of output (asked for %llu)",
		    (unsigned long long)c->max_output,
		    (unsigned long long)q->max_output);
		return over(errp, k, "output", what);
	}
	if (c->networks && (c->networks & net) == 0) {
		snprintf(what, sizeof what, "use the network `%s`%s",
		    q->network ? q->network : "none",
		    net == NET_PRIVATE ? " with allowPrivate" : "");
		return over(errp, k, "network", what);
	}
	if (c->runtimes != NULL && !in_list(c->runtimes, q->runtime)) {
		snprintf(what, sizeof what, "run %s", q->runtime);
		return over(errp, k, "runtimes", what);
	}
	if (q->image != NULL && c->images != NULL &&
	    !in_list(c->images, q->image)) {
		snprintf(
		    what, sizeof what, "run in the image `%.64s`", q->image);
		return over(errp, k, "images", what);
	}
	if (q->session != NULL && c->has_sessions && c->sessions == 0)
		return over(errp, k, "sessions", "use sessions");
	return 0;
}
