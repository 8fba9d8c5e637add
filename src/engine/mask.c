/*
 * Secret masking on streams: every occurrence of a secret value becomes
 * "***", even when it arrives split across chunks. Per stream, the last
 * (longest secret - 1) bytes are held back until more data or the end
 * shows they are not the start of a secret. Longer secrets are tried first.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define MASK_TEXT "***"

struct mask {
	char **val;
	size_t *len;
	size_t n;
	size_t maxlen;
	struct buf held[3];
};

static int
mask_cmp(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* NULL when there is nothing to mask. */
struct mask *
mask_new(const struct isol8_kv *secrets, size_t n)
{
	struct mask *m;
	size_t i;

	for (i = 0; i < n; i++)
		if (secrets[i].value != NULL && secrets[i].value[0] != '\0')
			break;
	if (i == n)
		return NULL;
	m = xcalloc(1, sizeof *m);
	m->val = xcalloc(n, sizeof *m->val);
	m->len = xcalloc(n, sizeof *m->len);
	for (i = 0; i < n; i++)
		if (secrets[i].value != NULL && secrets[i].value[0] != '\0')
			m->val[m->n++] = xstrdup(secrets[i].value);
	qsort(m->val, m->n, sizeof *m->val, mask_cmp);
	for (i = 0; i < m->n; i++) {
		m->len[i] = strlen(m->val[i]);
		if (m->len[i] > m->maxlen)
			m->maxlen = m->len[i];
	}
	for (i = 0; i < nitems(m->held); i++)
		buf_init(&m->held[i]);
	return m;
}

void
mask_free(struct mask *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->val[i]);
	for (i = 0; i < nitems(m->held); i++)
		buf_free(&m->held[i]);
	free(m->val);
	free(m->len);
	free(m);
}

/* Emit what can be decided of the held bytes; keep at most maxlen-1. */
static void
mask_scan(struct mask *m, int stream, int final, mask_emit_cb emit, void *arg)
{
	struct buf *h = &m->held[stream];
	size_t i = 0, from = 0, k, cut;

	if (final)
		cut = h->len;
	else if (h->len < m->maxlen)
		cut = 0;
	else
		cut = h->len - (m->maxlen - 1);
	while (i < cut) {
		for (k = 0; k < m->n; k++)
			if (h->len - i >= m->len[k] &&
			    h->data[i] == m->val[k][0] &&
			    memcmp(h->data + i, m->val[k], m->len[k]) == 0)
				break;
		if (k == m->n) {
			i++;
			continue;
		}
		if (i > from)
			emit(stream, h->data + from, i - from, arg);
		emit(stream, MASK_TEXT, strlen(MASK_TEXT), arg);
		i += m->len[k];
		from = i;
	}
	if (i > cut)
		cut = i;
	if (cut > from)
		emit(stream, h->data + from, cut - from, arg);
	buf_drain(h, cut);
}

/* Pass data on stream (1 stdout, 2 stderr) through the mask to emit. */
void
mask_feed(struct mask *m, int stream, const char *data, size_t len,
    mask_emit_cb emit, void *arg)
{
	if (m == NULL) {
		emit(stream, data, len, arg);
		return;
	}
	buf_add(&m->held[stream], data, len);
	mask_scan(m, stream, 0, emit, arg);
}

/* The stream ended: emit everything still held. */
void
mask_flush(struct mask *m, int stream, mask_emit_cb emit, void *arg)
{
	if (m != NULL)
		mask_scan(m, stream, 1, emit, arg);
}
