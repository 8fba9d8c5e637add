/*
 * Server-Sent Events, as /execute/stream writes them (docs/api.md):
 *
 *	event: stdout
 *	id: 2
 *	data: {"data":"hello\n"}
 *
 * One `data:` line a event (the JSON has no raw newline), ids counting
 * from 1 in each stream, a blank line after each event, and comment lines
 * (": keep-alive") as heartbeats. Output is a JSON string when it is
 * UTF-8 without NUL bytes, else {"base64": ...}: bytes arrive exactly as
 * the program wrote them (a chunk may end inside a UTF-8 sequence: then it
 * is base64).
 */
#include <string.h>

#include "server.h"

void
sse_event(
    struct buf *b, uint64_t id, const char *event, const char *data, size_t len)
{
	buf_printf(
	    b, "event: %s\nid: %llu\ndata: ", event, (unsigned long long)id);
	buf_add(b, data, len);
	buf_addstr(b, "\n\n");
}

/* A chunk of the program's output (stream 1 stdout, 2 stderr). */
void
sse_output(struct buf *b, uint64_t id, int stream, const char *data, size_t len)
{
	struct buf tmp = { 0 }, json = { 0 };
	yajl_gen g = json_gen_new();
	size_t n;

	yajl_gen_map_open(g);
	if (memchr(data, '\0', len) == NULL &&
	    json_utf8(data, len, &tmp, &n) == data)
		json_kstrn(g, "data", data, len);
	else {
		buf_drain(&tmp, tmp.len);
		base64_encode(&tmp, data, len);
		json_kstrn(g, "base64", tmp.data ? tmp.data : "", tmp.len);
	}
	yajl_gen_map_close(g);
	json_gen_take(g, &json);
	sse_event(
	    b, id, stream == 1 ? "stdout" : "stderr", json.data, json.len);
	buf_free(&tmp);
	buf_free(&json);
}

void
sse_comment(struct buf *b, const char *text)
{
	buf_printf(b, ": %s\n\n", text);
}
