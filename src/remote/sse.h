/*
 * sse: an incremental reader of Server-Sent Events (the text/event-stream
 * of the WHATWG HTML standard, as `isol8 serve` writes it: docs/api.md).
 * Bytes are fed as they arrive, split anywhere; each complete event (its
 * name and its data lines joined by "\n") goes to a callback.
 *
 * Invariants:
 * - memory is bounded: a line, and an event's data, of more than `max`
 *   bytes in all is an error (ERR_LIMIT), never a bigger buffer; an event
 *   name is at most SSE_MAX_NAME bytes;
 * - lines end with CRLF, LF or CR (a CR at the end of one feed and an LF
 *   at the start of the next are one line end);
 * - comment lines (":"), `id` and `retry` fields and unknown fields are
 *   skipped; an event without data is not delivered;
 * - after an error or a callback's -1 the reader refuses more input.
 */
#ifndef ISOL8_SSE_H
#define ISOL8_SSE_H

#include <stddef.h>

#include "../util/util.h"

#define SSE_MAX_NAME 64

/* One event: its name ("message" when none was given) and data. */
typedef int (*sse_event_cb)(const char *, const char *, size_t, void *);

struct sse {
	size_t max;      /* bytes of a line plus its event's data */
	struct buf line; /* the line being read */
	struct buf data; /* the event's data lines so far */
	char name[SSE_MAX_NAME + 1];
	int cr; /* the last byte was a CR */
	int failed;
};

void sse_init(struct sse *, size_t);
int sse_feed(
    struct sse *, const char *, size_t, sse_event_cb, void *, struct err **);
void sse_free(struct sse *);

#endif
