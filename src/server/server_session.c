/*
 * Sessions through the server: GET /sessions and DELETE /sessions/{name},
 * and the names sessions have inside.
 *
 * A session belongs to the key that made it: the name a client gives,
 * NAME, is the engine's session `KEY.NAME` (key names have no dot, so the
 * first dot splits them). A key lists, runs in, reads, writes and removes
 * only sessions under its own prefix; another key's NAME is another
 * container. The engine's calls are asynchronous (isol8_session_*_start):
 * the request waits for the callback, whether its client is still there
 * or not, and answers if it is.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "server.h"

#define SESSION_NAME_MAX 64 /* the engine's bound, the prefix included */

/* The engine's name of a key's session NAME, or -1 for a bad name. */
int
session_internal(const struct server_key *k, const char *name, char *out,
    size_t len, struct err **errp)
{
	size_t i, n = strlen(name), room;

	room = SESSION_NAME_MAX - strlen(k->name) - 1;
	if (n == 0 || n > room || name[0] == '.' || name[0] == '-')
		return err_set(errp, ERR_INVALID,
		    "bad session name `%.64s` (letters, digits, `.`, `_`, `-`; at most %zu; not starting with `.` or `-`)",
		    name, room);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return err_set(errp, ERR_INVALID,
			    "bad session name `%.64s` (letters, digits, `.`, `_`, `-`)",
			    name);
	snprintf(out, len, "%s.%s", k->name, name);
	return 0;
}

/*
 * An engine error in the client's names: the engine names a key's session
 * KEY.NAME (`no session`, `created with other limits`, `still busy`, the
 * `isol8 session rm` it suggests); the client said NAME. own is the copy
 * (never longer); NULL for no error.
 */
const struct isol8_error *
session_error_external(const struct server_key *k, const struct isol8_error *e,
    struct isol8_error *own)
{
	const char *p;
	char pat[40], *o;
	size_t n;

	if (e == NULL)
		return NULL;
	*own = *e;
	n = (size_t)snprintf(pat, sizeof pat, "%s.", k->name);
	for (p = e->message, o = own->message; *p != '\0';) {
		if ((p == e->message || p[-1] == '`' || p[-1] == ' ') &&
		    strncmp(p, pat, n) == 0)
			p += n;
		else
			*o++ = *p++;
	}
	*o = '\0';
	return own;
}

/* The client's name of an engine session, if it is the key's. */
static const char *
session_external(const struct server_key *k, const char *internal)
{
	size_t n = strlen(k->name);

	if (strncmp(internal, k->name, n) != 0 || internal[n] != '.')
		return NULL;
	return internal + n + 1;
}

struct sess {
	struct server_req *r;
	int status;
	struct buf answer;
};

static void
sess_finish(struct server_req *r)
{
	struct sess *x = r->kind;

	if (!r->gone)
		req_reply(r, x->status, NULL, &x->answer);
}

static void
sess_free(struct server_req *r)
{
	struct sess *x = r->kind;

	buf_free(&x->answer);
	free(x);
}

static const struct req_ops sess_ops = {
	"sessions",
	NULL,
	NULL,
	NULL,
	sess_finish,
	sess_free,
};

static void
sess_error(struct sess *x, const struct isol8_error *e)
{
	yajl_gen g = json_gen_new();
	struct isol8_error own;

	e = session_error_external(x->r->key, e, &own);
	x->status = req_status_for(e->code);
	yajl_gen_map_open(g);
	json_kstr(g, "error", e->message);
	json_kstr(g, "errorCode", isol8_code_name(e->code));
	yajl_gen_map_close(g);
	json_gen_take(g, &x->answer);
	buf_addstr(&x->answer, "\n");
}

/* The engine's list: the key's sessions, by the names the client gave. */
static void
sess_listed(const struct isol8_session_info *list, size_t n,
    const struct isol8_error *e, void *arg)
{
	struct sess *x = arg;
	struct server_req *r = x->r;
	const char *name;
	yajl_gen g;
	size_t i;

	if (e != NULL)
		sess_error(x, e);
	else {
		g = json_gen_new();
		yajl_gen_map_open(g);
		json_key(g, "sessions");
		yajl_gen_array_open(g);
		for (i = 0; i < n; i++) {
			if ((name = session_external(r->key, list[i].name)) ==
			    NULL)
				continue;
			api_session_write(g, &list[i], name);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		json_gen_take(g, &x->answer);
		buf_addstr(&x->answer, "\n");
		x->status = 200;
	}
	r->runs--;
	r->finished = 1;
	req_step(r);
}

static void
sess_removed(const struct isol8_error *e, void *arg)
{
	struct sess *x = arg;

	if (e != NULL)
		sess_error(x, e);
	else {
		x->status = 200;
		buf_addstr(&x->answer, "{\"ok\":true}\n");
	}
	x->r->runs--;
	x->r->finished = 1;
	req_step(x->r);
}

/* The request object of an engine call, started at once (no run slot). */
static struct sess *
sess_new(struct server *s, struct evhttp_request *h, struct server_key *k)
{
	struct sess *x = xcalloc(1, sizeof *x);

	x->r = req_new(s, h, &sess_ops, x);
	x->r->key = k;
	key_ref(k);
	x->r->state = REQ_WORKING;
	x->r->runs = 1;
	return x;
}

/* The engine refused at once: the answer is its error. */
static void
sess_refused(struct sess *x, const struct isol8_error *e)
{
	sess_error(x, e);
	x->r->runs = 0;
	x->r->finished = 1;
	req_step(x->r);
}

void
route_sessions(struct server *s, struct evhttp_request *h, struct server_key *k)
{
	struct sess *x = sess_new(s, h, k);
	struct isol8_error e;

	if (isol8_session_list_start(s->e, sess_listed, x, &e) == -1)
		sess_refused(x, &e);
}

void
route_session_delete(struct server *s, struct evhttp_request *h,
    struct server_key *k, const char *name)
{
	struct err *err = NULL;
	struct isol8_error e;
	struct sess *x;
	char internal[128];

	if (session_internal(k, name, internal, sizeof internal, &err) == -1) {
		req_refuse(s, h, 400, ISOL8_EINVAL, err->msg);
		err_free(&err);
		return;
	}
	x = sess_new(s, h, k);
	if (isol8_session_remove_start(s->e, internal, sess_removed, x, &e) ==
	    -1)
		sess_refused(x, &e);
}
