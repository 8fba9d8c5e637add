/*
 * JSON over yajl. Parsing is capped before yajl sees a byte: at most
 * JSON_MAX_BODY bytes and JSON_MAX_DEPTH levels of arrays and objects
 * (yajl's tree is built and freed recursively: a line of 4 million `[`
 * took 350 MB and overflowed the stack). Lookups take a NULL-terminated
 * path of object keys.
 *
 * Generation goes through a yajl_gen whose output is taken into a struct
 * buf. Every string passes json_utf8() first: yajl_gen writes the bytes it
 * is given (its validation is off: with it on, a bad string is silently
 * left out), and sandbox output, file names and error messages are
 * arbitrary bytes, so invalid UTF-8 is repaired to U+FFFD before it is
 * written. The output is always valid JSON.
 */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "util.h"

/*
 * Whether text nests arrays and objects deeper than max. Strings are
 * skipped; for valid JSON the count is exact, and for a prefix yajl
 * accepts before an error it is the depth yajl builds, so an input that
 * passes never makes yajl nest deeper.
 */
static int
json_too_deep(const char *text, size_t len, unsigned max)
{
	unsigned depth = 0;
	int in_string = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_string = 0;
		} else if (c == '"')
			in_string = 1;
		else if (c == '[' || c == '{') {
			if (++depth > max)
				return 1;
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return 0;
}

/*
 * Where a document that yajl refused goes wrong: the byte yajl stopped at,
 * as "line L, column C" (both from 1), found by a second parse without
 * callbacks (the tree parser does not say).
 */
static void
json_where(const char *text, size_t len, char *out, size_t outlen)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	size_t at, i, line = 1, col = 1;
	yajl_status st;

	if (h == NULL)
		fatalx("yajl_alloc");
	st = yajl_parse(h, (const unsigned char *)text, len);
	at = yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok) {
		yajl_complete_parse(h);
		at = len; /* it ended too soon */
	}
	yajl_free(h);
	for (i = 0; i < at && i < len; i++) {
		if (text[i] == '\n')
			line++, col = 1;
		else
			col++;
	}
	snprintf(out, outlen, "line %zu, column %zu", line, col);
}

yajl_val
json_parse(const char *text, size_t len, struct err **errp)
{
	char errbuf[256], *copy;
	yajl_val v;

	if (len > JSON_MAX_BODY) {
		err_set(errp, ERR_LIMIT,
		    "JSON document of %zu bytes is over the %u-byte limit", len,
		    JSON_MAX_BODY);
		return NULL;
	}
	/* yajl_tree_parse wants a C string; a NUL inside is malformed. */
	if (memchr(text, '\0', len) != NULL) {
		err_set(errp, ERR_PROTO, "JSON document contains a NUL byte");
		return NULL;
	}
	if (json_too_deep(text, len, JSON_MAX_DEPTH)) {
		err_set(errp, ERR_LIMIT,
		    "JSON document nested deeper than %u levels",
		    JSON_MAX_DEPTH);
		return NULL;
	}
	copy = xstrndup(text, len);
	errbuf[0] = '\0';
	v = yajl_tree_parse(copy, errbuf, sizeof errbuf);
	free(copy);
	if (v == NULL) {
		char where[64];

		errbuf[strcspn(errbuf, "\n")] = '\0';
		json_where(text, len, where, sizeof where);
		err_set(errp, ERR_PROTO, "malformed JSON at %s: %s", where,
		    errbuf[0] ? errbuf : "parse error");
	}
	return v;
}

static yajl_val
json_vget(yajl_val v, const char *key, va_list ap)
{
	const char *k;
	size_t i;

	for (k = key; k != NULL && v != NULL; k = va_arg(ap, const char *)) {
		if (!YAJL_IS_OBJECT(v))
			return NULL;
		for (i = 0; i < v->u.object.len; i++)
			if (strcmp(v->u.object.keys[i], k) == 0)
				break;
		v = i < v->u.object.len ? v->u.object.values[i] : NULL;
	}
	return v;
}

/* The value at a path of keys ending in NULL; json_get(v, NULL) is v. */
yajl_val
json_get(yajl_val v, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	v = json_vget(v, key, ap);
	va_end(ap);
	return v;
}

const char *
json_str(yajl_val v, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	v = json_vget(v, key, ap);
	va_end(ap);
	return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

int
json_int(yajl_val v, long long *out, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	v = json_vget(v, key, ap);
	va_end(ap);
	if (!YAJL_IS_INTEGER(v))
		return -1;
	*out = YAJL_GET_INTEGER(v);
	return 0;
}

/* 1 for true, 0 for false, -1 when absent or not a boolean. */
int
json_bool(yajl_val v, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	v = json_vget(v, key, ap);
	va_end(ap);
	if (YAJL_IS_TRUE(v))
		return 1;
	if (YAJL_IS_FALSE(v))
		return 0;
	return -1;
}

yajl_gen
json_gen_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		fatalx("yajl_gen_alloc");
	yajl_gen_config(g, yajl_gen_validate_utf8, 0);
	return g;
}

/* Move what the generator wrote into b and free the generator. */
void
json_gen_take(yajl_gen g, struct buf *b)
{
	const unsigned char *out;
	size_t len;

	yajl_gen_get_buf(g, &out, &len);
	buf_add(b, out, len);
	yajl_gen_free(g);
}

/*
 * The length of the valid UTF-8 sequence at p (left bytes available), or 0
 * when p does not start one: a stray continuation byte, a truncated
 * sequence, an overlong form, a surrogate, or beyond U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *p, size_t left)
{
	uint32_t cp;
	size_t n, k;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 1, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 2, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 3, cp = p[0] & 0x07;
	else
		return 0;
	if (n >= left)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n + 1;
}

/*
 * s as valid UTF-8: s itself when it is (the common case, no copy), else
 * a copy in tmp where every byte that does not start a valid sequence is
 * U+FFFD. *outlen is the length of what is returned.
 */
const char *
json_utf8(const char *s, size_t len, struct buf *tmp, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len && (n = utf8_seq(p + i, len - i)) > 0)
		i += n;
	*outlen = len;
	if (i == len)
		return s;
	buf_add(tmp, s, i);
	while (i < len) {
		if ((n = utf8_seq(p + i, len - i)) > 0)
			buf_add(tmp, p + i, n);
		else
			buf_addstr(tmp, "\xef\xbf\xbd");
		i += n > 0 ? n : 1;
	}
	*outlen = tmp->len;
	return tmp->data;
}

void
json_str_add(yajl_gen g, const char *s)
{
	json_strn_add(g, s, strlen(s));
}

/* A string of len bytes (NULs included: they become \u0000), repaired. */
void
json_strn_add(yajl_gen g, const char *s, size_t len)
{
	struct buf tmp = { 0 };
	const char *v = json_utf8(s, len, &tmp, &len);

	yajl_gen_string(g, (const unsigned char *)v, len);
	buf_free(&tmp);
}

void
json_key(yajl_gen g, const char *k)
{
	json_str_add(g, k);
}

void
json_kstr(yajl_gen g, const char *k, const char *v)
{
	json_key(g, k);
	json_str_add(g, v);
}

void
json_kstrn(yajl_gen g, const char *k, const char *v, size_t len)
{
	json_key(g, k);
	json_strn_add(g, v, len);
}

/* k: v, or k: null when v is NULL. */
void
json_kstr_or_null(yajl_gen g, const char *k, const char *v)
{
	json_key(g, k);
	if (v != NULL)
		json_str_add(g, v);
	else
		yajl_gen_null(g);
}

void
json_kint(yajl_gen g, const char *k, long long v)
{
	json_key(g, k);
	yajl_gen_integer(g, v);
}

/* An unsigned 64-bit value, exact (yajl_gen_integer takes long long). */
void
json_kuint(yajl_gen g, const char *k, uint64_t v)
{
	char text[24];
	int n = snprintf(text, sizeof text, "%llu", (unsigned long long)v);

	json_key(g, k);
	yajl_gen_number(g, text, (size_t)n);
}

/*
 * A number written with a printf format ("%.2f"), so that a figure keeps
 * the precision people read; the caller passes finite values only.
 */
void
json_knumf(yajl_gen g, const char *k, const char *fmt, ...)
{
	char text[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	json_key(g, k);
	if (n < 0 || (size_t)n >= sizeof text)
		yajl_gen_null(g);
	else
		yajl_gen_number(g, text, (size_t)n);
}

void
json_kbool(yajl_gen g, const char *k, int v)
{
	json_key(g, k);
	yajl_gen_bool(g, v);
}
