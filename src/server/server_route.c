/*
 * The routes of docs/api.md: a request read whole by evhttp comes here
 * (evhttp's generic callback), is matched by path, then authenticated
 * (all but /health), then by method, and goes to its handler:
 *
 *	GET    /health                      no key
 *	GET    /version
 *	GET    /metrics
 *	POST   /execute                     server_exec.c
 *	POST   /execute/stream              server_exec.c
 *	POST   /batch                       server_batch.c
 *	GET    /sessions                    server_session.c
 *	DELETE /sessions/{name}             server_session.c
 *	PUT    /sessions/{name}/files?path= server_exec.c
 *	GET    /sessions/{name}/files?path= server_exec.c
 *
 * An unknown path is 404, a known one with another method 405 (with
 * Allow), no or a wrong key 401, a shutting-down server 503.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "server.h"

enum route_id {
	R_HEALTH,
	R_VERSION,
	R_METRICS,
	R_EXECUTE,
	R_STREAM,
	R_BATCH,
	R_SESSIONS,
	R_SESSION,
	R_FILES,
	R_NONE,
};

/* The methods each route takes (for 405 and its Allow header). */
static const struct {
	unsigned methods;
	const char *allow;
} route_methods[] = {
	[R_HEALTH] = { EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD" },
	[R_VERSION] = { EVHTTP_REQ_GET, "GET" },
	[R_METRICS] = { EVHTTP_REQ_GET, "GET" },
	[R_EXECUTE] = { EVHTTP_REQ_POST, "POST" },
	[R_STREAM] = { EVHTTP_REQ_POST, "POST" },
	[R_BATCH] = { EVHTTP_REQ_POST, "POST" },
	[R_SESSIONS] = { EVHTTP_REQ_GET, "GET" },
	[R_SESSION] = { EVHTTP_REQ_DELETE, "DELETE" },
	[R_FILES] = { EVHTTP_REQ_GET | EVHTTP_REQ_PUT, "GET, PUT" },
};

/* The route of a path; {name} into name (decoded). */
static enum route_id
route_match(const char *path, char *name, size_t len)
{
	static const struct {
		const char *path;
		enum route_id id;
	} fixed[] = {
		{ "/health", R_HEALTH },
		{ "/version", R_VERSION },
		{ "/metrics", R_METRICS },
		{ "/execute", R_EXECUTE },
		{ "/execute/stream", R_STREAM },
		{ "/batch", R_BATCH },
		{ "/sessions", R_SESSIONS },
	};
	const char *p, *slash;
	char *dec;
	size_t i, n;

	for (i = 0; i < nitems(fixed); i++)
		if (strcmp(path, fixed[i].path) == 0)
			return fixed[i].id;
	if (strncmp(path, "/sessions/", 10) != 0)
		return R_NONE;
	p = path + 10;
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || (slash != NULL && strcmp(slash, "/files") != 0))
		return R_NONE;
	dec = evhttp_uridecode(p, 0, NULL);
	if (dec == NULL)
		return R_NONE;
	if (slash != NULL)
		dec[strcspn(dec, "/")] = '\0';
	snprintf(name, len, "%s", dec);
	free(dec);
	return slash ? R_FILES : R_SESSION;
}

static void
route_reply(struct server *s, struct evhttp_request *h, int status,
    const char *type, const struct buf *b)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hd = evhttp_request_get_output_headers(h);
	int cls = status / 100;

	s->m.requests[cls >= 1 && cls <= 5 ? cls : 0]++;
	evhttp_add_header(hd, "Content-Type", type);
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "Server", "isol8/" ISOL8_VERSION);
	evbuffer_add(out, b->data, b->len);
	evhttp_send_reply(h, status, NULL, out);
	evbuffer_free(out);
}

/* GET /health and /version: what runs here. */
static void
route_health(struct server *s, struct evhttp_request *h, int version)
{
	struct buf b = { 0 };
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	if (!version)
		json_kstr(g, "status",
		    s->state == SERVER_RUNNING ? "ok" : "stopping");
	json_kstr(g, "version", isol8_version());
	if (version) {
		json_kint(g, "apiVersion", 1);
		json_kuint(g, "maxBody", s->o.max_body);
		json_kuint(g, "maxRuns", s->max_runs);
		json_kuint(g, "maxQueue", s->o.max_queue);
	}
	yajl_gen_map_close(g);
	json_gen_take(g, &b);
	buf_addstr(&b, "\n");
	route_reply(s, h, 200, "application/json", &b);
	buf_free(&b);
}

static void
route_metrics(struct server *s, struct evhttp_request *h)
{
	struct buf b = { 0 };

	metrics_write(s, &b);
	route_reply(s, h, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
	buf_free(&b);
}

/* The connection goes back to waiting when this response is written. */
static void
route_complete_cb(struct evhttp_request *h, void *arg)
{
	(void)h;
	conn_busy(arg, 0);
}

/* The request is ours now: which connection, busy until answered. */
static void
route_conn(struct server *s, struct evhttp_request *h)
{
	struct server_conn *c = conn_find(s, evhttp_request_get_connection(h));

	if (c == NULL)
		return;
	conn_busy(c, 1);
	evhttp_request_set_on_complete_cb(h, route_complete_cb, c);
}

static void
route_dispatch(struct server *s, struct evhttp_request *h, enum route_id id,
    struct server_key *k, const char *name)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(h);

	switch (id) {
	case R_VERSION:
		route_health(s, h, 1);
		break;
	case R_METRICS:
		route_metrics(s, h);
		break;
	case R_EXECUTE:
	case R_STREAM:
		route_execute(s, h, k, id == R_STREAM);
		break;
	case R_BATCH:
		route_batch(s, h, k);
		break;
	case R_SESSIONS:
		route_sessions(s, h, k);
		break;
	case R_SESSION:
		route_session_delete(s, h, k, name);
		break;
	case R_FILES:
		route_files(s, h, k, name, m == EVHTTP_REQ_PUT);
		break;
	case R_HEALTH:
	case R_NONE:
		break;
	}
}

/* evhttp's callback for every request read whole. */
void
server_handle(struct evhttp_request *h, void *arg)
{
	struct server *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(h);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(h);
	struct server_key *k;
	enum route_id id;
	char name[128] = "";

	route_conn(s, h);
	id = route_match(path != NULL ? path : "", name, sizeof name);
	if (id == R_NONE) {
		req_refuse(s, h, 404, ISOL8_ENOTFOUND,
		    "no such endpoint (see docs/api.md)");
		return;
	}
	if ((route_methods[id].methods & m) == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(h), "Allow",
		    route_methods[id].allow);
		req_refuse(s, h, 405, ISOL8_EINVAL, "method not allowed here");
		return;
	}
	if (id == R_HEALTH) {
		route_health(s, h, 0);
		return;
	}
	k = keys_auth(&s->keys,
	    evhttp_find_header(
	        evhttp_request_get_input_headers(h), "Authorization"));
	if (k == NULL) {
		req_refuse(s, h, 401, ISOL8_EINVAL,
		    "a valid API key is required: Authorization: Bearer KEY");
		return;
	}
	if (s->state != SERVER_RUNNING) {
		req_refuse(
		    s, h, 503, ISOL8_ECANCELLED, "the server is shutting down");
		return;
	}
	route_dispatch(s, h, id, k, name);
}
