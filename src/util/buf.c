/*
 * Growable byte buffers. The buffer itself has no cap: every caller that
 * fills one from outside checks its own limit first (STYLE.md G6). The data
 * is always NUL-terminated past len, so text can be read in place.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof *b);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reserve(struct buf *b, size_t more)
{
	size_t cap;

	if (more > SIZE_MAX - b->len - 1)
		fatalx("buf_reserve: overflow");
	if (b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap = cap > SIZE_MAX / 2 ? b->len + more + 1 : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Remove the first n bytes. */
void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		if (b->data != NULL)
			b->data[0] = '\0';
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* The contents as a C string (an empty buffer gives ""). */
char *
buf_cstr(struct buf *b)
{
	buf_reserve(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

uint32_t
be32_get(const void *p)
{
	const unsigned char *c = p;

	return (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 |
	    (uint32_t)c[2] << 8 | c[3];
}

void
be32_put(void *p, uint32_t v)
{
	unsigned char *c = p;

	c[0] = v >> 24;
	c[1] = v >> 16;
	c[2] = v >> 8;
	c[3] = v;
}

void
be64_put(void *p, uint64_t v)
{
	unsigned char *c = p;

	be32_put(c, v >> 32);
	be32_put(c + 4, (uint32_t)v);
}
