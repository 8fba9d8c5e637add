/*
 * Fuzz the remote backend's reading of a server's stream: the SSE reader
 * (whole and cut in two must give the same events; memory stays within
 * its bound) and the `exit` result reader on every event's data.
 */
#include <stdint.h>
#include <string.h>

#include "remote/remote.h"
#include "remote/sse.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX 512

static int
on_event(const char *name, const char *data, size_t len, void *arg)
{
	struct buf *b = arg;
	struct remote_result rr;
	struct err *e = NULL;

	if (len > FUZZ_MAX || strlen(name) > SSE_MAX_NAME)
		__builtin_trap();
	buf_printf(b, "%s\n%zu\n", name, len);
	buf_add(b, data, len);
	remote_result_read(data, len, &rr, &e);
	remote_result_free(&rr);
	err_free(&e);
	return 0;
}

/* The events of data fed cut at `cut`; -1 if the reader refused it. */
static int
read_events(const char *data, size_t len, size_t cut, struct buf *out)
{
	struct sse s;
	struct err *e = NULL;
	int rc;

	sse_init(&s, FUZZ_MAX);
	rc = sse_feed(&s, data, cut, on_event, out, &e);
	if (rc == 0)
		rc = sse_feed(&s, data + cut, len - cut, on_event, out, &e);
	if (s.line.len + s.data.len > FUZZ_MAX)
		__builtin_trap();
	sse_free(&s);
	err_free(&e);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct buf whole = { 0 }, split = { 0 };
	size_t cut = len > 0 ? data[0] % (len + 1) : 0;
	int a, b;

	a = read_events((const char *)data, len, len, &whole);
	b = read_events((const char *)data, len, cut, &split);
	/* Where both read it all, the events are the same. */
	if (a == 0 && b == 0 &&
	    (whole.len != split.len ||
	        (whole.len > 0 && memcmp(whole.data, split.data, whole.len))))
		__builtin_trap();
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
