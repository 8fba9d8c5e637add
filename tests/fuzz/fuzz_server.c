/*
 * Fuzz what the server reads from outside and writes back (src/server):
 * a --keys file (any bytes: keys or an error naming the line, and a key
 * found by its bearer token is one of them), a request body as POST
 * /execute parses it (no local files), a session name under a key's
 * prefix (accepted names stay within the engine's bound, have no `/`),
 * and the SSE writer (any output bytes: every line of an event is
 * `event:`, `id:` or `data:` with JSON that parses, so no output can
 * forge an event). A request that parses goes round the remote client:
 * written as `isol8 run --host` sends it (remote_request_write), it
 * parses again to the same code, argv, workdir, env and files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "remote/remote.h"
#include "server/server.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_keys(const uint8_t *data, size_t len)
{
	struct server_keys keys;
	struct server_key *k, *found;
	struct err *e = NULL;
	char *text = xmalloc(len + 1);

	memcpy(text, data, len);
	text[len] = '\0';
	if (keys_parse("fuzz", text, &keys, &e) == -1) {
		if (e == NULL || e->msg == NULL)
			__builtin_trap();
		err_free(&e);
		free(text);
		return;
	}
	found = keys_auth(&keys, "Bearer fuzz");
	if (found != NULL) {
		TAILQ_FOREACH (k, &keys, entry)
			if (k == found)
				break;
		if (k == NULL)
			__builtin_trap();
	}
	keys_free(&keys);
	free(text);
}

static void
check_session(const uint8_t *data, size_t len)
{
	struct server_key k;
	struct err *e = NULL;
	char name[200], out[128];

	memset(&k, 0, sizeof k);
	snprintf(k.name, sizeof k.name, "alice");
	if (len >= sizeof name)
		len = sizeof name - 1;
	memcpy(name, data, len);
	name[len] = '\0';
	if (session_internal(&k, name, out, sizeof out, &e) == -1) {
		err_free(&e);
		return;
	}
	if (strlen(out) > 64 || strchr(out, '/') != NULL ||
	    strncmp(out, "alice.", 6) != 0)
		__builtin_trap();
}

static void
check_sse(const uint8_t *data, size_t len)
{
	struct buf b = { 0 };
	char *line, *next, *text;
	yajl_val v;
	int lines = 0;

	sse_output(&b, 7, 1 + (int)(len & 1), (const char *)data, len);
	text = b.data;
	if (text == NULL || b.len < 2 || strcmp(text + b.len - 2, "\n\n") != 0)
		__builtin_trap();
	if (memchr(text, '\0', b.len) != NULL)
		__builtin_trap();
	text[b.len - 2] = '\0';
	for (line = text; line != NULL; line = next, lines++) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, "data: ", 6) == 0) {
			v = json_parse(line + 6, strlen(line + 6), NULL);
			if (v == NULL || !YAJL_IS_OBJECT(v))
				__builtin_trap();
			yajl_tree_free(v);
		} else if (strncmp(line, "event: std", 10) != 0 &&
		    strcmp(line, "id: 7") != 0)
			__builtin_trap();
	}
	if (lines != 3)
		__builtin_trap();
	buf_free(&b);
}

/* What the two parses of one request must agree on. */
static int
same_request(const struct isol8_request *a, const struct isol8_request *b)
{
	size_t i;

	if ((a->code == NULL) != (b->code == NULL) ||
	    (a->code != NULL &&
	        (a->code_len != b->code_len ||
	            memcmp(a->code, b->code, a->code_len))))
		return 0;
	if ((a->argv == NULL) != (b->argv == NULL) ||
	    (a->workdir == NULL) != (b->workdir == NULL) ||
	    (a->workdir != NULL && strcmp(a->workdir, b->workdir) != 0))
		return 0;
	for (i = 0; a->argv != NULL && a->argv[i] != NULL; i++)
		if (b->argv[i] == NULL || strcmp(a->argv[i], b->argv[i]) != 0)
			return 0;
	if (a->argv != NULL && b->argv[i] != NULL)
		return 0;
	if (a->env_len != b->env_len || a->files_len != b->files_len)
		return 0;
	for (i = 0; i < a->env_len; i++)
		if (strcmp(a->env[i].value, b->env[i].value) != 0)
			return 0;
	for (i = 0; i < a->files_len; i++)
		if (a->files[i].len != b->files[i].len ||
		    memcmp(a->files[i].data, b->files[i].data, a->files[i].len))
			return 0;
	return 1;
}

/* A request the API took, as the remote client sends it, taken again. */
static void
check_round_trip(const struct api_request *r)
{
	struct api_request again;
	struct buf b = { 0 };
	struct err *e = NULL;

	if (r->req.stdin_stream) /* the one thing a client does not send */
		return;
	if (remote_request_write(&r->req, &b, &e) == -1 ||
	    api_request_parse(b.data, b.len, NULL, &again, &e) == -1 ||
	    !same_request(&r->req, &again.req))
		__builtin_trap();
	api_request_free(&again);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct api_request r;
	struct err *e = NULL;

	check_keys(data, len);
	check_session(data, len);
	check_sse(data, len);
	/* r is set either way (free it either way). */
	if (api_request_parse((const char *)data, len, NULL, &r, &e) == -1) {
		if (e == NULL || e->msg == NULL)
			__builtin_trap();
		err_free(&e);
	} else
		check_round_trip(&r);
	api_request_free(&r);
	return 0;
}
