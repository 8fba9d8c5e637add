/*
 * The Docker client against the real dockerd: create -> attach -> start ->
 * stdin in, stdout/stderr out -> wait -> remove; 64 requests at once;
 * error statuses carry dockerd's message; list by label and rename.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "docker/docker.h"
#include "support.h"

#define IMAGE "isol8/bash:latest"
#define LABEL "org.isol8.test"

static struct loop *loop;
static struct docker *d;

struct call {
	int done;
	struct err *err;
	long status;
	char *body;
};

static void
call_cb(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct call *c = arg;

	c->done++;
	c->status = r->status;
	c->body = xstrndup(r->body ? r->body : "", r->len);
	if (e != NULL)
		c->err = err_dup(e);
}

static void
spin(int *flag, int want)
{
	while (*flag < want)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
}

static void
call_free(struct call *c)
{
	free(c->body);
	err_free(&c->err);
}

static int
test_ping_and_version(void)
{
	struct call c = { 0 }, v = { 0 };

	docker_ping(d, call_cb, &c);
	docker_call(d, "GET", "/version", NULL, call_cb, &v);
	spin(&c.done, 1);
	spin(&v.done, 1);
	CHECK(c.err == NULL && strcmp(c.body, "OK") == 0);
	CHECK(v.err == NULL && strstr(v.body, "ApiVersion") != NULL);
	call_free(&c);
	call_free(&v);
	return 0;
}

static int
test_error_statuses(void)
{
	struct call c = { 0 }, i = { 0 };
	static const char *cmd[] = { "true", NULL };
	struct docker_create cr = { 0 };

	docker_container_inspect(
	    d, "isol8-test-no-such-container", call_cb, &c);
	spin(&c.done, 1);
	CHECK(c.err != NULL && c.err->kind == ERR_NOTFOUND);
	CHECK(c.err->http_status == 404);
	CHECK(strstr(c.err->msg, "No such container") != NULL);
	cr.image = "isol8/no-such-image:none";
	cr.cmd = cmd;
	docker_container_create(d, &cr, call_cb, &i);
	spin(&i.done, 1);
	CHECK(i.err != NULL && i.err->kind == ERR_NOTFOUND);
	CHECK(strstr(i.err->msg, "no-such-image") != NULL);
	call_free(&c);
	call_free(&i);
	return 0;
}

struct stream {
	int ready;
	int closed;
	struct buf out;
	struct buf err;
	struct err *e;
};

static void
st_ready(void *arg)
{
	((struct stream *)arg)->ready = 1;
}

static void
st_data(int stream, const char *data, size_t len, void *arg)
{
	struct stream *s = arg;

	buf_add(stream == 2 ? &s->err : &s->out, data, len);
}

static void
st_closed(const struct err *e, void *arg)
{
	struct stream *s = arg;

	s->closed = 1;
	if (e != NULL)
		s->e = err_dup(e);
}

static char *
create(const char *const *cmd, int open_stdin)
{
	static const char *labels[] = { LABEL, "1", NULL };
	struct docker_create cr = { 0 };
	struct call c = { 0 };
	char *id;
	yajl_val v;

	cr.image = IMAGE;
	cr.cmd = cmd;
	cr.labels = labels;
	cr.open_stdin = open_stdin;
	cr.network_mode = "none";
	docker_container_create(d, &cr, call_cb, &c);
	spin(&c.done, 1);
	if (c.err != NULL) {
		fprintf(stderr, "create: %s\n", c.err->msg);
		call_free(&c);
		return NULL;
	}
	v = json_parse(c.body, strlen(c.body), NULL);
	id = xstrdup(json_str(v, "Id", NULL));
	yajl_tree_free(v);
	call_free(&c);
	return id;
}

static void
remove_container(const char *id)
{
	struct call c = { 0 };

	docker_container_remove(d, id, 1, call_cb, &c);
	spin(&c.done, 1);
	call_free(&c);
}

static int
test_attach_roundtrip(void)
{
	static const char *cmd[] = { "sh", "-c",
		"read x; echo \"in:$x\"; echo err >&2; head -c 4; exit 3",
		NULL };
	static const struct docker_attach_cbs cbs = { st_ready, st_data,
		st_closed };
	struct stream s;
	struct call st = { 0 }, w = { 0 };
	struct docker_attach *a;
	struct err *e = NULL;
	char *id;
	long long code = -1;
	yajl_val v;

	memset(&s, 0, sizeof s);
	CHECK((id = create(cmd, 1)) != NULL);
	CHECK((a = docker_attach_start(d, id, &cbs, &s, &e)) != NULL);
	/* Written before the upgrade: held until dockerd answers 101. */
	docker_attach_write(a, "hello\nrest", 10);
	spin(&s.ready, 1);
	docker_container_start(d, id, call_cb, &st);
	spin(&st.done, 1);
	CHECK(st.err == NULL);
	spin(&s.closed, 1);
	CHECK(s.e == NULL);
	if (strcmp(buf_cstr(&s.out), "in:hello\nrest") != 0)
		fprintf(stderr, "out=[%s] err=[%s]\n", buf_cstr(&s.out),
		    buf_cstr(&s.err));
	CHECK(strcmp(buf_cstr(&s.out), "in:hello\nrest") == 0);
	CHECK(strcmp(buf_cstr(&s.err), "err\n") == 0);
	docker_container_wait(d, id, call_cb, &w);
	spin(&w.done, 1);
	CHECK(w.err == NULL);
	v = json_parse(w.body, strlen(w.body), NULL);
	CHECK(json_int(v, &code, "StatusCode", NULL) == 0 && code == 3);
	yajl_tree_free(v);
	docker_attach_free(a);
	remove_container(id);
	free(id);
	buf_free(&s.out);
	buf_free(&s.err);
	call_free(&st);
	call_free(&w);
	return 0;
}

static int
test_64_concurrent_requests(void)
{
	struct call c[64];
	int i, done = 0;

	memset(c, 0, sizeof c);
	for (i = 0; i < 64; i++)
		docker_container_list(
		    d, "{\"label\":[\"" LABEL "\"]}", 1, call_cb, &c[i]);
	for (;;) {
		for (done = 0, i = 0; i < 64; i++)
			done += c[i].done;
		if (done == 64)
			break;
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	}
	for (i = 0; i < 64; i++) {
		CHECK(c[i].done == 1 && c[i].err == NULL);
		CHECK(c[i].status == 200 && c[i].body[0] == '[');
		call_free(&c[i]);
	}
	return 0;
}

static int
test_list_and_rename(void)
{
	static const char *cmd[] = { "true", NULL };
	struct call l = { 0 }, r = { 0 }, i = { 0 };
	char *id, name[64];

	CHECK((id = create(cmd, 0)) != NULL);
	snprintf(name, sizeof name, "isol8-test-renamed-%d", (int)getpid());
	docker_container_rename(d, id, name, call_cb, &r);
	spin(&r.done, 1);
	CHECK(r.err == NULL);
	docker_container_list(
	    d, "{\"label\":[\"" LABEL "=1\"]}", 1, call_cb, &l);
	spin(&l.done, 1);
	CHECK(l.err == NULL && strstr(l.body, id) != NULL);
	CHECK(strstr(l.body, name) != NULL);
	docker_container_inspect(d, name, call_cb, &i);
	spin(&i.done, 1);
	CHECK(i.err == NULL && strstr(i.body, id) != NULL);
	remove_container(id);
	free(id);
	call_free(&l);
	call_free(&r);
	call_free(&i);
	return 0;
}

/* Remove every container this test made, even after a failed check. */
static void
sweep_test_containers(void)
{
	struct call l = { 0 };
	yajl_val v;
	size_t i;

	docker_container_list(d, "{\"label\":[\"" LABEL "\"]}", 1, call_cb, &l);
	spin(&l.done, 1);
	v = json_parse(l.body, strlen(l.body), NULL);
	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++)
		remove_container(json_str(v->u.array.values[i], "Id", NULL));
	yajl_tree_free(v);
	call_free(&l);
}

int
main(void)
{
	struct err *e = NULL;
	int rc;

	if (!docker_available())
		return 77;
	loop = loop_new(NULL, NULL, NULL);
	if ((d = docker_new(loop, NULL, &e)) == NULL)
		return 1;
	sweep_test_containers();
	RUN_TEST(test_ping_and_version);
	RUN_TEST(test_error_statuses);
	RUN_TEST(test_attach_roundtrip);
	RUN_TEST(test_64_concurrent_requests);
	RUN_TEST(test_list_and_rename);
	rc = TAP_DONE();
	sweep_test_containers();
	docker_free(d);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
