/*
 * Package specs, per ecosystem: what `isol8 setup --python ...` bakes into
 * an image and what a run asks to install. A list ("numpy,pandas", or an
 * array whose items are such lists) becomes a normalised, sorted,
 * de-duplicated list of specs, each of which is safe as one argv element
 * of an installer (install.c): never an option, a path, a URL, an alias,
 * whitespace, a control byte or a shell metacharacter.
 *
 *	python  PEP 508 name, optional [extras], optional version specifier
 *	        (== >= <= ~= != < >, comma-separated): no URL, no marker
 *	node,   npm name, scoped or not (@scope/name), lower case, at most
 *	bun     214 bytes, optional @version, @range or @tag
 *	deno    npm:NAME[@VERSION] or jsr:@SCOPE/NAME[@VERSION]
 *	bash    Debian package name, optional =version
 *
 * Invariants: a list holds at most PKG_MAX specs of at most PKG_MAX_LEN
 * bytes, sorted by the package's identity (its normalised name: the "key",
 * always a prefix of the spec), one spec per identity -- a later spec for
 * the same package replaces the earlier one, so a list given on the
 * command line can re-pin what an image carries. Normalising is
 * idempotent: a list read back from an image's label is the list written.
 * Python specs are normalised the PEP 503 way (lower case, runs of - _ .
 * made one -), extras and version clauses sorted; other ecosystems' names
 * must already be in their canonical (lower) case.
 */
#include <stdlib.h>
#include <string.h>

#include "images.h"

enum eco { ECO_PYTHON, ECO_NPM, ECO_DENO, ECO_APT };

static const struct {
	const char *runtime;
	enum eco eco;
	const char *what;    /* "a python package" in messages */
	const char *grammar; /* what a spec is, with examples */
} ecos[] = {
	{ "python", ECO_PYTHON, "python package",
	    "a PEP 508 name with optional [extras] and version clauses (numpy, numpy==1.26.4, pandas>=2,<3, requests[socks])" },
	{ "node", ECO_NPM, "node (npm) package",
	    "an npm name, scoped or not, with an optional @version, range or tag (zod, zod@3.23.8, @types/node@^20, hono@latest)" },
	{ "bun", ECO_NPM, "bun (npm) package",
	    "an npm name, scoped or not, with an optional @version, range or tag (zod, zod@3.23.8, @types/node@^20, hono@latest)" },
	{ "deno", ECO_DENO, "deno package",
	    "an npm: or jsr: specifier (npm:zod, npm:zod@3, jsr:@std/path@1)" },
	{ "bash", ECO_APT, "bash (Debian) package",
	    "a Debian package name with an optional =version (jq, curl=7.88.1-10+deb12u8)" },
};

/* Characters any spec of an ecosystem may hold (the grammar decides
 * where); the message for any other names it. */
static const char *const alphabets[] = {
	[ECO_PYTHON] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	               "0123456789._-[],<>=!~*+",
	[ECO_NPM] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	            "0123456789._-@/^~<>=*|+",
	[ECO_DENO] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	             "0123456789._-@/^~<>=*|+:",
	[ECO_APT] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	            "0123456789.+-=~:",
};

#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALNUM(c) (IS_LOWER(c) || IS_UPPER(c) || IS_DIGIT(c))

/* A spec being normalised: the input, a cursor, the output. */
struct scan {
	const char *s;
	size_t len, i;
	struct buf out;
	size_t key;      /* the identity's length in out */
	const char *why; /* set when the grammar refuses it */
};

static int
eco_find(const char *runtime, size_t *idx, struct err **errp)
{
	size_t i;

	for (i = 0; runtime != NULL && i < nitems(ecos); i++)
		if (strcmp(ecos[i].runtime, runtime) == 0) {
			*idx = i;
			return 0;
		}
	return err_set(errp, ERR_INVALID,
	    "packages for runtime `%s`: no such runtime (python, node, bun, deno, bash)",
	    runtime ? runtime : "(null)");
}

/* An item as it may appear in a message: printable, at most 80 bytes. */
static void
quoted(char *dst, size_t size, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= 80) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '`')
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

static int refuse(size_t e, const char *s, size_t len, struct err **errp,
    const char *fmt, ...) PRINTFLIKE(5, 6);

static int
refuse(size_t e, const char *s, size_t len, struct err **errp, const char *fmt,
    ...)
{
	char q[128], why[512];
	va_list ap;

	quoted(q, sizeof q, s, len);
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return err_set(errp, ERR_INVALID, "%s `%s`: %s", ecos[e].what, q, why);
}

/*
 * What every ecosystem refuses before its grammar looks: too long, bytes
 * no spec has, options, URLs, paths. The messages say which, since these
 * are the items someone may have tried on purpose.
 */
static int
spec_shape(size_t e, const char *s, size_t len, struct err **errp)
{
	enum eco eco = ecos[e].eco;
	const char *colon;
	size_t i;

	if (len > PKG_MAX_LEN)
		return refuse(e, s, len, errp,
		    "longer than %d bytes; no package name is that long",
		    PKG_MAX_LEN);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return refuse(e, s, len, errp,
			    "contains a space, a control byte or a non-ASCII byte; give one package per item, without quotes or spaces");
	if (s[0] == '-')
		return refuse(e, s, len, errp,
		    "looks like an option: only package names are accepted (registries and installer options come from the configuration)");
	if (memmem(s, len, "://", 3) != NULL)
		return refuse(e, s, len, errp,
		    "is a URL: only package names are accepted (registries come from the configuration)");
	if (s[0] == '.' || s[0] == '/' || s[0] == '~' ||
	    memmem(s, len, "..", 2) != NULL || memchr(s, '\\', len) != NULL ||
	    ((eco == ECO_PYTHON || eco == ECO_APT) && memchr(s, '/', len)))
		return refuse(e, s, len, errp,
		    "is a path: only package names are accepted");
	/* Schemes and aliases (file:, git+https:, npm:x for npm itself);
	 * deno's own npm:/jsr: prefixes and apt's epochs are the grammar's. */
	colon = memchr(s, ':', len);
	if (colon != NULL && eco != ECO_DENO &&
	    (eco != ECO_APT || memchr(s, '=', (size_t)(colon - s)) == NULL))
		return refuse(e, s, len, errp,
		    "is a URL, path or alias (`%.*s`): only package names are accepted",
		    (int)(colon - s + 1), s);
	for (i = 0; i < len; i++)
		if (strchr(alphabets[eco], s[i]) == NULL)
			return refuse(e, s, len, errp,
			    "contains `%c`, which no %s spec has: expected %s",
			    s[i], ecos[e].what, ecos[e].grammar);
	return 0;
}

/* ---- python (PEP 508 subset) ---- */

/* A PEP 508 name, emitted PEP 503-normalised. */
static int
py_name(struct scan *sc)
{
	size_t start = sc->i;
	int sep = 0;

	if (sc->i >= sc->len || !IS_ALNUM(sc->s[sc->i]))
		return -1;
	for (; sc->i < sc->len; sc->i++) {
		char c = sc->s[sc->i];

		if (c == '-' || c == '_' || c == '.') {
			sep = 1;
			continue;
		}
		if (!IS_ALNUM(c))
			break;
		if (sep)
			buf_add(&sc->out, "-", 1);
		sep = 0;
		c = IS_UPPER(c) ? (char)(c - 'A' + 'a') : c;
		buf_add(&sc->out, &c, 1);
	}
	/* A name ends with a letter or digit. */
	return sep || sc->i == start ? -1 : 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and de-duplicate n strings; emit them joined with sep. */
static void
emit_sorted(struct scan *sc, char **v, size_t n, char sep)
{
	size_t i;

	qsort(v, n, sizeof *v, cmp_str);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		if (i > 0)
			buf_add(&sc->out, &sep, 1);
		buf_addstr(&sc->out, v[i]);
	}
}

static void
strs_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
}

/* [extra,extra,...]: names, normalised, sorted. */
static int
py_extras(struct scan *sc)
{
	char *v[PKG_MAX_LEN / 2];
	size_t n = 0, mark;
	int rc = -1;

	sc->i++; /* '[' */
	for (;;) {
		mark = sc->out.len;
		if (n == nitems(v) || py_name(sc) == -1)
			break;
		v[n++] = xstrndup(sc->out.data + mark, sc->out.len - mark);
		sc->out.len = mark;
		if (sc->i < sc->len && sc->s[sc->i] == ',') {
			sc->i++;
			continue;
		}
		if (sc->i < sc->len && sc->s[sc->i] == ']') {
			sc->i++;
			rc = 0;
		}
		break;
	}
	if (rc == 0) {
		buf_add(&sc->out, "[", 1);
		emit_sorted(sc, v, n, ',');
		buf_add(&sc->out, "]", 1);
	} else
		sc->why = "extras are names in brackets, e.g. requests[socks]";
	strs_free(v, n);
	return rc;
}

/* One version clause: an operator and a PEP 440 version, lower case. */
static char *
py_clause(struct scan *sc)
{
	static const char *const ops[] = { "~=", "==", "!=", "<=", ">=", "<",
		">" };
	const char *op = NULL;
	struct buf b = { 0 };
	size_t i, start;

	for (i = 0; i < nitems(ops); i++)
		if (sc->len - sc->i >= strlen(ops[i]) &&
		    memcmp(sc->s + sc->i, ops[i], strlen(ops[i])) == 0) {
			op = ops[i];
			break;
		}
	if (op == NULL ||
	    (sc->len - sc->i >= 3 && memcmp(sc->s + sc->i, "===", 3) == 0))
		return NULL; /* none, or === (arbitrary equality) */
	sc->i += strlen(op);
	start = sc->i;
	if (sc->i >= sc->len || !IS_ALNUM(sc->s[sc->i]))
		return NULL;
	while (sc->i < sc->len &&
	    (IS_ALNUM(sc->s[sc->i]) || strchr(".!+_-", sc->s[sc->i]) != NULL))
		sc->i++;
	/* A trailing .* (a prefix match) only with == and !=. */
	if (sc->i < sc->len && sc->s[sc->i] == '*') {
		if (sc->s[sc->i - 1] != '.' || op[1] != '=' ||
		    (op[0] != '=' && op[0] != '!'))
			return NULL;
		sc->i++;
	}
	if (!IS_ALNUM(sc->s[sc->i - 1]) && sc->s[sc->i - 1] != '*')
		return NULL;
	buf_addstr(&b, op);
	for (i = start; i < sc->i; i++) {
		char c = sc->s[i];

		c = IS_UPPER(c) ? (char)(c - 'A' + 'a') : c;
		buf_add(&b, &c, 1);
	}
	return buf_cstr(&b);
}

static int
py_spec(struct scan *sc)
{
	char *v[PKG_MAX_LEN / 2];
	size_t n = 0;
	int rc = 0;

	if (py_name(sc) == -1)
		return -1;
	sc->key = sc->out.len;
	if (sc->i < sc->len && sc->s[sc->i] == '[' && py_extras(sc) == -1)
		return -1;
	while (sc->i < sc->len && n < nitems(v)) {
		if (n > 0 && sc->s[sc->i++] != ',') {
			rc = -1;
			break;
		}
		if ((v[n] = py_clause(sc)) == NULL) {
			sc->why =
			    "a version clause is an operator (== >= <= ~= != < >) and a version, e.g. >=2,<3";
			rc = -1;
			break;
		}
		n++;
	}
	if (rc == 0 && sc->i < sc->len)
		rc = -1;
	if (rc == 0)
		emit_sorted(sc, v, n, ',');
	strs_free(v, n);
	return rc;
}

/* ---- npm, deno, apt ---- */

/* [a-z0-9][a-z0-9._-]* (more_chars widens the tail), lower case only. */
static int
word(struct scan *sc, const char *tail)
{
	size_t start = sc->i;

	if (sc->i >= sc->len ||
	    !(IS_LOWER(sc->s[sc->i]) || IS_DIGIT(sc->s[sc->i])))
		return -1;
	while (sc->i < sc->len &&
	    (IS_LOWER(sc->s[sc->i]) || IS_DIGIT(sc->s[sc->i]) ||
	        strchr(tail, sc->s[sc->i]) != NULL))
		sc->i++;
	buf_add(&sc->out, sc->s + start, sc->i - start);
	return 0;
}

/* @version, @range or @tag: no path, alias or URL can hide there. */
static int
npm_version(struct scan *sc)
{
	size_t start = sc->i;

	if (sc->i >= sc->len)
		return 0;
	if (sc->s[sc->i] != '@')
		return -1;
	sc->i++;
	if (sc->i >= sc->len || sc->s[sc->i] == '-')
		return -1;
	while (sc->i < sc->len &&
	    (IS_ALNUM(sc->s[sc->i]) ||
	        strchr(".^~<>=*|+_-", sc->s[sc->i]) != NULL))
		sc->i++;
	if (sc->i < sc->len)
		return -1;
	buf_add(&sc->out, sc->s + start, sc->i - start);
	return 0;
}

static int
reserved(const char *name, size_t len)
{
	return (len == 12 && memcmp(name, "node_modules", 12) == 0) ||
	    (len == 11 && memcmp(name, "favicon.ico", 11) == 0);
}

/* [@scope/]name[@version], npm's naming rules. */
static int
npm_spec(struct scan *sc, const char *tail)
{
	size_t name = sc->out.len, j;

	for (j = sc->i; j < sc->len && (j == sc->i || sc->s[j] != '@'); j++)
		if (IS_UPPER(sc->s[j])) {
			sc->why = "package names are lower case";
			return -1;
		}
	if (sc->i < sc->len && sc->s[sc->i] == '@') {
		buf_add(&sc->out, "@", 1);
		sc->i++;
		if (word(sc, tail) == -1 || sc->i >= sc->len ||
		    sc->s[sc->i] != '/')
			return -1;
		buf_add(&sc->out, "/", 1);
		sc->i++;
	}
	if (word(sc, tail) == -1)
		return -1;
	if (sc->i < sc->len && sc->s[sc->i] == '/') {
		sc->why =
		    "user/repo (a GitHub shorthand) and paths are not package names";
		return -1;
	}
	sc->key = sc->out.len;
	if (reserved(sc->out.data + name, sc->key - name)) {
		sc->why = "that name is reserved";
		return -1;
	}
	return npm_version(sc);
}

static int
deno_spec(struct scan *sc)
{
	if (sc->len > 4 && memcmp(sc->s, "npm:", 4) == 0) {
		buf_add(&sc->out, "npm:", 4);
		sc->i = 4;
		return npm_spec(sc, "._-");
	}
	if (sc->len > 5 && memcmp(sc->s, "jsr:@", 5) == 0) {
		/* JSR: @scope/name, lower-case letters, digits, hyphens. */
		buf_add(&sc->out, "jsr:@", 5);
		sc->i = 5;
		if (word(sc, "-") == -1 || sc->i >= sc->len ||
		    sc->s[sc->i] != '/')
			return -1;
		buf_add(&sc->out, "/", 1);
		sc->i++;
		if (word(sc, "-") == -1)
			return -1;
		sc->key = sc->out.len;
		return npm_version(sc);
	}
	return -1;
}

static int
apt_spec(struct scan *sc)
{
	size_t start;

	if (word(sc, "+.-") == -1 || sc->i < 2) {
		if (sc->len > 0 && IS_UPPER(sc->s[0]))
			sc->why = "Debian package names are lower case";
		return -1;
	}
	sc->key = sc->out.len;
	if (sc->i == sc->len)
		return 0;
	if (sc->s[sc->i] != '=' || sc->i + 1 >= sc->len ||
	    !IS_DIGIT(sc->s[sc->i + 1]))
		return -1;
	start = sc->i;
	for (sc->i++; sc->i < sc->len; sc->i++)
		if (!IS_ALNUM(sc->s[sc->i]) &&
		    strchr(".+~:-", sc->s[sc->i]) == NULL)
			return -1;
	buf_add(&sc->out, sc->s + start, sc->i - start);
	return 0;
}

/*
 * Normalise one spec of ecosystem e into *out (the caller's to free) and
 * its identity's length into *key; -1 with ERR_INVALID naming it.
 */
static int
spec_norm(size_t e, const char *s, size_t len, char **out, size_t *key,
    struct err **errp)
{
	struct scan sc = { .s = s, .len = len };
	int rc = -1;

	if (spec_shape(e, s, len, errp) == -1)
		return -1;
	switch (ecos[e].eco) {
	case ECO_PYTHON:
		rc = py_spec(&sc);
		break;
	case ECO_NPM:
		rc = npm_spec(&sc, "._-");
		break;
	case ECO_DENO:
		rc = deno_spec(&sc);
		break;
	case ECO_APT:
		rc = apt_spec(&sc);
		break;
	}
	if (rc == -1 || sc.out.len > PKG_MAX_LEN) {
		buf_free(&sc.out);
		if (sc.why != NULL)
			return refuse(e, s, len, errp, "%s: expected %s",
			    sc.why, ecos[e].grammar);
		return refuse(e, s, len, errp, "expected %s", ecos[e].grammar);
	}
	*key = sc.key;
	*out = buf_cstr(&sc.out);
	return 0;
}

/* The identity's length in a normalised spec of ecosystem e. */
static size_t
spec_key(size_t e, const char *spec)
{
	const char *s = spec, *at;
	size_t skip = 0;

	switch (ecos[e].eco) {
	case ECO_PYTHON:
		return strcspn(spec, "[<>=!~,");
	case ECO_APT:
		return strcspn(spec, "=");
	case ECO_DENO:
		skip = 4;
		s = spec + 4;
		/* FALLTHROUGH */
	case ECO_NPM:
		at = strchr(s + 1, '@');
		return skip + (at ? (size_t)(at - s) : strlen(s));
	}
	return strlen(spec);
}

/* Where key k goes in l: its index if present (*found), else the slot. */
static size_t
list_find(
    size_t e, const struct pkgs *l, const char *spec, size_t k, int *found)
{
	size_t lo = 0, hi = l->n, mid, mk;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		mk = spec_key(e, l->v[mid]);
		c = memcmp(l->v[mid], spec, mk < k ? mk : k);
		if (c == 0)
			c = mk < k ? -1 : mk > k ? 1 : 0;
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Normalise one spec and put it in the list (replacing its package). */
static int
list_add(size_t e, struct pkgs *l, const char *s, size_t len, struct err **errp)
{
	char *spec = NULL;
	size_t k = 0, at;
	int found;

	if (spec_norm(e, s, len, &spec, &k, errp) == -1)
		return -1;
	at = list_find(e, l, spec, k, &found);
	if (found) {
		free(l->v[at]);
		l->v[at] = spec;
		return 0;
	}
	if (l->n >= PKG_MAX) {
		free(spec);
		return err_set(errp, ERR_INVALID,
		    "more than %d %ss: bake or install fewer", PKG_MAX,
		    ecos[e].what);
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
	l->v[at] = spec;
	l->n++;
	return 0;
}

/*
 * Add an item: one spec or a comma-separated list. Python's version
 * clauses hold commas too ("pandas>=2,<3"): a piece that starts with an
 * operator continues the spec before it, and commas in [extras] do not
 * split. Empty pieces are nothing.
 */
int
pkgs_add(
    struct pkgs *l, const char *runtime, const char *item, struct err **errp)
{
	size_t e, start = 0, i, depth = 0, len;

	if (eco_find(runtime, &e, errp) == -1)
		return -1;
	if (item == NULL)
		return 0;
	len = strlen(item);
	for (i = 0; i <= len; i++) {
		if (i < len && item[i] != ',') {
			depth += item[i] == '[';
			depth -= item[i] == ']' && depth > 0;
			continue;
		}
		if (i < len && ecos[e].eco == ECO_PYTHON &&
		    (depth > 0 || strchr("<>=!~", item[i + 1]) != NULL) &&
		    item[i + 1] != '\0')
			continue;
		if (i > start &&
		    list_add(e, l, item + start, i - start, errp) == -1)
			return -1;
		start = i + 1;
		depth = 0;
	}
	return 0;
}

int
pkgs_add_items(struct pkgs *l, const char *runtime, const char *const *items,
    size_t n, struct err **errp)
{
	size_t i;

	if (eco_find(runtime, &i, errp) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (pkgs_add(l, runtime, items[i], errp) == -1)
			return -1;
	return 0;
}

/* A list as written in an image's label: specs separated by spaces. */
int
pkgs_from_label(
    struct pkgs *l, const char *runtime, const char *label, struct err **errp)
{
	const char *p = label, *end;
	size_t e;

	if (eco_find(runtime, &e, errp) == -1)
		return -1;
	while (p != NULL && *p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if (list_add(e, l, p, (size_t)(end - p), errp) == -1)
			return err_wrap(
			    errp, "the image's label " LABEL_PACKAGES);
		p = end;
	}
	return 0;
}

/* The label's form: "a b c", "" for none. */
char *
pkgs_label(const struct pkgs *l)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (i > 0)
			buf_add(&b, " ", 1);
		buf_addstr(&b, l->v[i]);
	}
	return b.data != NULL ? buf_cstr(&b) : xstrdup("");
}

/*
 * What of want an image carrying have does not cover, into *missing: a
 * spec is covered by the same spec, and a bare name by any spec of that
 * package (what is baked is installed; a pin asks for that pin).
 */
int
pkgs_missing(const char *runtime, const struct pkgs *have,
    const struct pkgs *want, struct pkgs *missing, struct err **errp)
{
	size_t e, i, k, at;
	int found;

	if (eco_find(runtime, &e, errp) == -1)
		return -1;
	for (i = 0; i < want->n; i++) {
		k = spec_key(e, want->v[i]);
		at = list_find(e, have, want->v[i], k, &found);
		if (found &&
		    (strcmp(have->v[at], want->v[i]) == 0 ||
		        want->v[i][k] == '\0'))
			continue;
		if (list_add(
		        e, missing, want->v[i], strlen(want->v[i]), errp) == -1)
			return -1;
	}
	return 0;
}

/* The length of a normalised spec's package name (deno: with npm:/jsr:). */
size_t
pkg_name_len(const char *runtime, const char *spec)
{
	size_t e;

	return eco_find(runtime, &e, NULL) == 0 ? spec_key(e, spec)
	                                        : strlen(spec);
}

void
pkgs_free(struct pkgs *l)
{
	strs_free(l->v, l->n);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
