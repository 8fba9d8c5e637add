/*
 * JSON over yajl. Parsing is capped at JSON_MAX_BODY before yajl sees a
 * byte; lookups take a NULL-terminated path of object keys. Generation goes
 * through a yajl_gen whose output is taken into a struct buf.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

yajl_val
json_parse(const char *text, size_t len, struct err **errp)
{
	char errbuf[256], *copy;
	yajl_val v;

	if (len > JSON_MAX_BODY) {
		err_set(errp, ERR_LIMIT,
		    "JSON document of %zu bytes is over "
		    "the %u-byte limit",
		    len, JSON_MAX_BODY);
		return NULL;
	}
	/* yajl_tree_parse wants a C string; a NUL inside is malformed. */
	if (memchr(text, '\0', len) != NULL) {
		err_set(errp, ERR_PROTO, "JSON document contains a NUL byte");
		return NULL;
	}
	copy = xstrndup(text, len);
	errbuf[0] = '\0';
	v = yajl_tree_parse(copy, errbuf, sizeof errbuf);
	free(copy);
	if (v == NULL) {
		errbuf[strcspn(errbuf, "\n")] = '\0';
		err_set(errp, ERR_PROTO, "malformed JSON: %s",
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

void
json_str_add(yajl_gen g, const char *s)
{
	json_strn_add(g, s, strlen(s));
}

void
json_strn_add(yajl_gen g, const char *s, size_t len)
{
	yajl_gen_string(g, (const unsigned char *)s, len);
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
json_kint(yajl_gen g, const char *k, long long v)
{
	json_key(g, k);
	yajl_gen_integer(g, v);
}

void
json_kbool(yajl_gen g, const char *k, int v)
{
	json_key(g, k);
	yajl_gen_bool(g, v);
}

/*
 * Append s as a JSON string body (no quotes). Bytes that are not valid UTF-8
 * become U+FFFD so that output from sandboxed programs is always valid JSON.
 */
void
json_escape(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			switch (c) {
			case '"':
				buf_addstr(b, "\\\"");
				break;
			case '\\':
				buf_addstr(b, "\\\\");
				break;
			case '\n':
				buf_addstr(b, "\\n");
				break;
			case '\r':
				buf_addstr(b, "\\r");
				break;
			case '\t':
				buf_addstr(b, "\\t");
				break;
			default:
				if (c < 0x20)
					buf_printf(b, "\\u%04x", c);
				else
					buf_add(b, &c, 1);
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			goto bad;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 &&
		        (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			goto bad;
		buf_add(b, p + i, n + 1);
		i += n + 1;
		continue;
	bad:
		buf_addstr(b, "\xef\xbf\xbd");
		i++;
	}
}
