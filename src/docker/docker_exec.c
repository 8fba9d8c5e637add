/*
 * Exec operations. isol8's own hot path never execs (the in-container agent
 * replaces it); these exist for `isol8 bench`'s Docker-API baseline and for
 * diagnostics. The start stream is stdcopy-framed and read until EOF; the
 * exit code then comes from inspect, never from the HTTP status.
 */
#include <stdlib.h>
#include <string.h>

#include "docker.h"

struct exec_start {
	struct stdcopy sc;
	docker_output_cb out;
	docker_cb cb;
	void *arg;
	struct err *err;
};

struct http_req *
docker_exec_create(struct docker *d, const char *id, const char *const *argv,
    const char *user, docker_cb cb, void *arg)
{
	cleanup_free char *path = xasprintf("/containers/%s/exec", id);
	cleanup_buf struct buf body = { 0 };
	yajl_gen g = json_gen_new();

	yajl_gen_map_open(g);
	json_key(g, "Cmd");
	yajl_gen_array_open(g);
	for (; *argv != NULL; argv++)
		json_str_add(g, *argv);
	yajl_gen_array_close(g);
	json_kbool(g, "AttachStdout", 1);
	json_kbool(g, "AttachStderr", 1);
	if (user != NULL)
		json_kstr(g, "User", user);
	yajl_gen_map_close(g);
	json_gen_take(g, &body);
	return docker_call(d, "POST", path, &body, cb, arg);
}

static int
exec_start_data(const char *data, size_t len, void *arg)
{
	struct exec_start *s = arg;

	return stdcopy_feed(&s->sc, data, len, s->out, s->arg, &s->err);
}

static void
exec_start_done(struct http_req *r, const struct err *herr, void *arg)
{
	struct exec_start *s = arg;
	struct docker_reply reply;

	memset(&reply, 0, sizeof reply);
	reply.status = http_req_status(r);
	reply.body = "";
	if (s->err == NULL && herr != NULL)
		s->err = err_dup(herr);
	if (s->err == NULL && reply.status >= 400)
		s->err = err_new(ERR_DOCKER,
		    "dockerd: exec start failed (HTTP %ld)", reply.status);
	s->cb(&reply, s->err, s->arg);
	err_free(&s->err);
	free(s);
}

/* Start an exec and stream its output to out until EOF. */
struct http_req *
docker_exec_start(struct docker *d, const char *eid, docker_output_cb out,
    docker_cb cb, void *arg)
{
	struct exec_start *s = xcalloc(1, sizeof *s);
	static const char body[] = "{\"Detach\":false,\"Tty\":false}";
	cleanup_free char *path = xasprintf("/exec/%s/start", eid);
	struct http_req *r;

	stdcopy_init(&s->sc);
	s->out = out;
	s->cb = cb;
	s->arg = arg;
	r = docker_req_new(d, "POST", path);
	http_req_header(r, "Content-Type: application/json");
	http_req_body(r, body, sizeof body - 1);
	http_req_stream(r, exec_start_data, s);
	http_req_submit(r, exec_start_done, s);
	return r;
}

struct http_req *
docker_exec_inspect(struct docker *d, const char *eid, docker_cb cb, void *arg)
{
	cleanup_free char *path = xasprintf("/exec/%s/json", eid);

	return docker_call(d, "GET", path, NULL, cb, arg);
}
