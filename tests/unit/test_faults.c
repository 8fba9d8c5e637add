/*
 * Faults the real dockerd will not produce on demand, from the fake
 * dockerd: 500s, a stall, a reset, truncated and corrupt attach streams,
 * no socket at all. Each gives a clear error exactly once, the loop keeps
 * running, and nothing leaks (the ASan build checks).
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "docker/docker.h"
#include "fake/fake_dockerd.h"

struct result {
	int calls;
	struct err *err;
	long status;
	struct buf out;
	int closed;
};

static struct loop *loop;

static void
rest_cb(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct result *res = arg;

	res->calls++;
	res->status = r->status;
	if (e != NULL)
		res->err = err_dup(e);
}

static void
spin(int *flag)
{
	while (!*flag)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
}

static struct docker *
client(struct fake_dockerd *f)
{
	struct err *e = NULL;
	struct docker *d = docker_new(loop, fake_dockerd_host(f), &e);

	docker_set_timeout(d, 300);
	return d;
}

static int
test_500_carries_dockers_message(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_500);
	struct docker *d = client(f);
	struct result r = { 0 };

	docker_container_inspect(d, "abc", rest_cb, &r);
	spin(&r.calls);
	CHECK(r.calls == 1 && r.err != NULL);
	CHECK(r.err->kind == ERR_DOCKER && r.err->http_status == 500);
	CHECK(strstr(r.err->msg, "boom") != NULL);
	err_free(&r.err);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

/* A stalled dockerd times the call out; the next call still works. */
static int
test_stall_times_out_and_loop_goes_on(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct docker *d = client(f);
	struct result r = { 0 }, r2 = { 0 };
	uint64_t t0 = now_ms();

	docker_ping(d, rest_cb, &r);
	spin(&r.calls);
	CHECK(r.err != NULL && r.err->kind == ERR_TIMEOUT);
	CHECK(now_ms() - t0 < 5000);
	fake_dockerd_mode(f, FAKE_OK);
	docker_container_inspect(d, "abc", rest_cb, &r2);
	spin(&r2.calls);
	CHECK(r2.err == NULL && r2.status == 200);
	CHECK(r.calls == 1 && r2.calls == 1);
	err_free(&r.err);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

static int
test_reset_is_an_error(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_RESET);
	struct docker *d = client(f);
	struct result r = { 0 };

	docker_container_start(d, "abc", rest_cb, &r);
	spin(&r.calls);
	CHECK(r.calls == 1 && r.err != NULL && r.err->msg[0] != '\0');
	err_free(&r.err);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

static int
test_no_socket_is_unavailable(void)
{
	struct err *e = NULL;
	struct docker *d =
	    docker_new(loop, "unix:///nonexistent/docker.sock", &e);
	struct result r = { 0 };

	docker_ping(d, rest_cb, &r);
	spin(&r.calls);
	CHECK(r.err != NULL && r.err->kind == ERR_UNAVAILABLE);
	CHECK(strstr(r.err->msg, "/nonexistent/docker.sock") != NULL);
	err_free(&r.err);
	docker_free(d);
	CHECK(docker_new(loop, "tcp://1.2.3.4:2375", &e) == NULL);
	CHECK(e != NULL && e->kind == ERR_INVALID);
	err_free(&e);
	return 0;
}

static void
att_data(int stream, const char *data, size_t len, void *arg)
{
	(void)stream;
	buf_add(&((struct result *)arg)->out, data, len);
}

static void
att_closed(const struct err *e, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->closed = 1;
	if (e != NULL)
		r->err = err_dup(e);
}

static int
attach_with(enum fake_mode mode, struct result *r)
{
	static const struct docker_attach_cbs cbs = { NULL, att_data,
		att_closed };
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), mode);
	struct docker *d = client(f);
	struct err *e = NULL;
	struct docker_attach *a;

	a = docker_attach_start(d, "abc", &cbs, r, &e);
	if (a == NULL)
		return -1;
	spin(&r->closed);
	docker_attach_free(a);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

static int
test_attach_faults(void)
{
	struct result r = { 0 };

	CHECK(attach_with(FAKE_ATTACH_OK, &r) == 0);
	CHECK(r.calls == 1 && r.err == NULL);
	CHECK(strcmp(buf_cstr(&r.out), "hi") == 0);
	buf_free(&r.out);

	memset(&r, 0, sizeof r);
	CHECK(attach_with(FAKE_ATTACH_TRUNCATED, &r) == 0);
	CHECK(r.calls == 1 && r.err != NULL && r.err->kind == ERR_PROTO);
	CHECK(strstr(r.err->msg, "inside a frame") != NULL);
	err_free(&r.err);
	buf_free(&r.out);

	memset(&r, 0, sizeof r);
	CHECK(attach_with(FAKE_ATTACH_BAD_FRAME, &r) == 0);
	CHECK(r.calls == 1 && r.err != NULL && r.err->kind == ERR_PROTO);
	err_free(&r.err);
	buf_free(&r.out);

	memset(&r, 0, sizeof r);
	CHECK(attach_with(FAKE_500, &r) == 0);
	CHECK(r.calls == 1 && r.err != NULL && strstr(r.err->msg, "boom"));
	err_free(&r.err);
	buf_free(&r.out);
	return 0;
}

/*
 * Cancelling means the callback never runs, so that the caller can free
 * its state at once (the pool and session openers do): a later callback
 * would use freed memory. Cancelled before it was sent, while in flight,
 * and twice: no call. A second request then completes normally, after
 * the cancelled one had every chance to call back.
 */
static int
test_cancel_never_calls_back(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct docker *d = client(f);
	struct result early = { 0 }, flying = { 0 }, other = { 0 };
	struct http_req *req;
	int i;

	docker_set_timeout(d, 300);
	req = docker_container_inspect(d, "early", rest_cb, &early);
	docker_cancel(req); /* not even sent yet */
	req = docker_container_inspect(d, "abc", rest_cb, &flying);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	docker_cancel(req);
	docker_container_inspect(d, "def", rest_cb, &other);
	spin(&other.calls); /* the stall times it out */
	for (i = 0; i < 10; i++)
		event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	CHECK(other.calls == 1 && other.err != NULL);
	CHECK(early.calls == 0 && flying.calls == 0);
	err_free(&other.err);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

int
main(void)
{
	int rc;

	loop = loop_new(NULL, NULL, NULL);
	RUN_TEST(test_500_carries_dockers_message);
	RUN_TEST(test_stall_times_out_and_loop_goes_on);
	RUN_TEST(test_reset_is_an_error);
	RUN_TEST(test_no_socket_is_unavailable);
	RUN_TEST(test_attach_faults);
	RUN_TEST(test_cancel_never_calls_back);
	rc = TAP_DONE();
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
