/*
 * Server-Sent Events, read incrementally (sse.h). The reader keeps the
 * current line and the current event's data; a line end hands the line to
 * sse_line(), a blank line dispatches the event.
 */
#include <string.h>

#include "sse.h"

void
sse_init(struct sse *s, size_t max)
{
	memset(s, 0, sizeof *s);
	s->max = max;
	buf_init(&s->line);
	buf_init(&s->data);
}

void
sse_free(struct sse *s)
{
	buf_free(&s->line);
	buf_free(&s->data);
}

/* A blank line: deliver the event (if it has data), then forget it. */
static int
sse_dispatch(struct sse *s, sse_event_cb cb, void *arg)
{
	int rc = 0;

	if (s->data.len > 0) {
		/* The last data line's "\n" is not part of the data. */
		s->data.len--;
		s->data.data[s->data.len] = '\0';
		rc = cb(s->name[0] != '\0' ? s->name : "message", s->data.data,
		    s->data.len, arg);
	}
	buf_drain(&s->data, s->data.len);
	s->name[0] = '\0';
	return rc;
}

/* One whole line (without its end) of len bytes. */
static int
sse_line(struct sse *s, const char *p, size_t len, sse_event_cb cb, void *arg,
    struct err **errp)
{
	const char *colon, *v;
	size_t klen, vlen;

	if (len == 0)
		return sse_dispatch(s, cb, arg);
	if (p[0] == ':')
		return 0; /* a comment: a heartbeat */
	if ((colon = memchr(p, ':', len)) != NULL) {
		klen = (size_t)(colon - p);
		v = colon + 1;
		vlen = len - klen - 1;
		if (vlen > 0 && v[0] == ' ')
			v++, vlen--;
	} else {
		klen = len;
		v = p + len;
		vlen = 0;
	}
	if (klen == 4 && memcmp(p, "data", 4) == 0) {
		buf_add(&s->data, v, vlen);
		buf_add(&s->data, "\n", 1);
	} else if (klen == 5 && memcmp(p, "event", 5) == 0) {
		if (vlen > SSE_MAX_NAME)
			return err_set(errp, ERR_LIMIT,
			    "an event name over %d bytes", SSE_MAX_NAME);
		memcpy(s->name, v, vlen);
		s->name[vlen] = '\0';
	}
	return 0;
}

/*
 * Feed len bytes; 0, or -1 when the stream is over its bound or malformed
 * (errp) or a callback returned -1 (errp untouched).
 */
int
sse_feed(struct sse *s, const char *p, size_t len, sse_event_cb cb, void *arg,
    struct err **errp)
{
	const char *end = p + len, *eol;
	int rc;

	if (s->failed)
		return err_set(errp, ERR_INVALID, "the event stream failed");
	while (p < end) {
		if (s->cr && *p == '\n') {
			p++; /* the LF of a CRLF split between feeds */
			s->cr = 0;
			continue;
		}
		s->cr = 0;
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		if (s->line.len + (size_t)(eol - p) + s->data.len > s->max) {
			s->failed = 1;
			return err_set(
			    errp, ERR_LIMIT, "an event over %zu bytes", s->max);
		}
		buf_add(&s->line, p, (size_t)(eol - p));
		if (eol == end)
			break;
		s->cr = *eol == '\r';
		p = eol + 1;
		rc = sse_line(s, s->line.data != NULL ? s->line.data : "",
		    s->line.len, cb, arg, errp);
		buf_drain(&s->line, s->line.len);
		if (rc == -1) {
			s->failed = 1;
			return -1;
		}
	}
	return 0;
}
