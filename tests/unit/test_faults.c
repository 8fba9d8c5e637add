/*
 * Faults the real dockerd will not produce on demand, from the fake
 * dockerd: 500s, a stall, a reset, truncated and corrupt attach streams,
 * no socket at all, and dockerd going away and coming back (refusing
 * connections for a while, every stream closed at once). Each gives a
 * clear error exactly once, the loop keeps running, and nothing leaks
 * (the ASan build checks).
 */
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "docker/docker.h"
#include "engine/engine.h"
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

/* Run the loop for ms, or until *flag (when flag is not NULL). */
static void
spin_for(uint64_t ms, int *flag)
{
	uint64_t until = now_ms() + ms;

	while ((flag == NULL || !*flag) && now_ms() < until)
		event_base_loop(loop_base(loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/*
 * A removal that finds dockerd gone is not forgotten: once dockerd
 * answers again, the container is removed after all.
 */
static int
test_removal_outlives_an_outage(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct docker *d = client(f);
	struct result r = { 0 }, p = { 0 };
	struct fake_sim *sim = fake_dockerd_sim(f);

	fake_dockerd_down(f);
	docker_container_remove(d, "gone-while-down", 1, rest_cb, &r);
	spin(&r.calls);
	CHECK(r.err != NULL && r.err->kind == ERR_UNAVAILABLE);
	CHECK(docker_unreachable(d) == 1 && sim->deletes == 0);
	fake_dockerd_up(f);
	docker_ping(d, rest_cb, &p);
	spin(&p.calls);
	CHECK(p.err == NULL);
	spin_for(3000, &sim->deletes);
	CHECK(sim->deletes == 1);
	while (docker_busy(d))
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	err_free(&r.err);
	docker_free(d);
	fake_dockerd_free(f);
	return 0;
}

struct job {
	struct isol8_run *run;
	int done;
	int failed;
	enum isol8_code code;
	int may_have_run;
	char msg[512];
	struct buf out;
};

static void
job_out(const char *d, size_t n, void *arg)
{
	buf_add(&((struct job *)arg)->out, d, n);
}

static void
job_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct job *j = arg;

	j->done = 1;
	j->may_have_run = r->may_have_run;
	if (e != NULL) {
		j->failed = 1;
		j->code = e->code;
		snprintf(j->msg, sizeof j->msg, "%s", e->message);
	}
}

/*
 * What the simulated agent does with a run: "echo ok" says ok; "vanish"
 * gets no answer, its stream just ends, as when dockerd dies during it.
 */
static const struct fake_script scripts[] = {
	{ "echo ok", FAKE_RUN_EXIT, "ok\n", NULL, 0, 0, 0, 0 },
	{ "vanish", FAKE_RUN_CLOSE, NULL, NULL, 0, 0, 0, 0 },
	{ NULL, FAKE_RUN_HANG, NULL, NULL, 0, 0, 0, 0 },
};

static struct isol8_engine *
engine_on(struct fake_dockerd *f, uint64_t wait_ms)
{
	struct isol8_engine_opts o;
	struct isol8_error err;

	fake_dockerd_sim(f)->scripts = scripts;
	isol8_engine_opts_init(&o);
	o.docker_host = fake_dockerd_host(f);
	o.pool_size = 0;
	o.docker_wait_ms = wait_ms;
	return isol8_engine_new(loop_base(loop), &o, &err);
}

/* Run cmd (one of the scripts) in bash. */
static void
job_run(struct isol8_engine *e, struct job *j, const char *cmd)
{
	static const struct isol8_callbacks cbs = { job_out, NULL, job_done };
	struct isol8_request req;
	struct isol8_error err;

	isol8_request_init(&req);
	req.runtime = "bash";
	req.cmd = cmd;
	j->run = isol8_run_start(e, &req, &cbs, j, &err);
}

static void
job_start(struct isol8_engine *e, struct job *j)
{
	job_run(e, j, "echo ok");
}

/*
 * On our base the engine goes on a later turn, once its removals are
 * done (include/isol8.h): wait for them first, turn the base so that its
 * last step runs, then the fake goes.
 */
static void
engine_and_fake_free(struct isol8_engine *e, struct fake_dockerd *f)
{
	uint64_t until = now_ms() + 3000;

	while (isol8_engine_busy(e) && now_ms() < until)
		event_base_loop(loop_base(loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	isol8_engine_free(e);
	spin_for(20, NULL);
	fake_dockerd_free(f);
}

static int
jobs_done(struct job *j, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!j[i].done)
			return 0;
	return 1;
}

static void
fake_up_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fake_dockerd_up(arg);
}

/*
 * dockerd killed and back 600 ms later: runs started meanwhile are held,
 * not failed, and all of them run once it answers again.
 */
static int
test_outage_is_waited_out(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine *e = engine_on(f, 10000);
	struct job first = { 0 }, j[6];
	struct timeval tv = { 0, 600000 };
	uint64_t t0 = now_ms();
	int i;

	memset(j, 0, sizeof j);
	CHECK(e != NULL);
	job_start(e, &first); /* dockerd answers once: worth waiting for */
	spin(&first.done);
	CHECK(!first.failed && strcmp(buf_cstr(&first.out), "ok\n") == 0);
	fake_dockerd_down(f);
	event_base_once(loop_base(loop), -1, EV_TIMEOUT, fake_up_cb, f, &tv);
	for (i = 0; i < 6; i++)
		job_start(e, &j[i]);
	while (!jobs_done(j, 6) && now_ms() - t0 < 20000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	for (i = 0; i < 6; i++) {
		if (j[i].failed)
			fprintf(stderr, "job %d: %s\n", i, j[i].msg);
		CHECK(j[i].done && !j[i].failed);
		CHECK(strcmp(buf_cstr(&j[i].out), "ok\n") == 0);
		buf_free(&j[i].out);
	}
	CHECK(fake_dockerd_sim(f)->pings > 0);
	buf_free(&first.out);
	engine_and_fake_free(e, f);
	return 0;
}

/* Down longer than the wait: the held runs fail, saying so. */
static int
test_outage_wait_ends(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine *e = engine_on(f, 400);
	struct job first = { 0 }, j = { 0 };
	uint64_t t0;

	CHECK(e != NULL);
	job_start(e, &first);
	spin(&first.done);
	CHECK(!first.failed);
	fake_dockerd_down(f);
	t0 = now_ms();
	job_start(e, &j);
	while (!j.done && now_ms() - t0 < 20000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	CHECK(j.done && j.failed && j.code == ISOL8_EUNAVAILABLE);
	CHECK(strstr(j.msg, "has not answered") != NULL);
	CHECK(!j.may_have_run);
	buf_free(&first.out);
	engine_and_fake_free(e, f);
	return 0;
}

/* An engine that never reached dockerd does not wait for it. */
static int
test_never_reached_fails_at_once(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine *e;
	struct job j = { 0 };

	fake_dockerd_down(f);
	CHECK((e = engine_on(f, 60000)) != NULL);
	job_start(e, &j);
	spin_for(10000, &j.done);
	CHECK(j.done && j.failed && j.code == ISOL8_EUNAVAILABLE);
	engine_and_fake_free(e, f);
	return 0;
}

/*
 * A sandbox lost mid-run (dockerd died with its stream) is ISOL8_ELOST
 * and may_have_run: the caller knows the code may have run.
 */
static int
test_lost_sandbox_says_so(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine *e = engine_on(f, 10000);
	struct job j = { 0 };

	job_run(e, &j, "vanish");
	spin_for(10000, &j.done);
	CHECK(j.done && j.failed && j.code == ISOL8_ELOST);
	CHECK(j.may_have_run);
	CHECK(fake_dockerd_sim(f)->runs == 1);
	engine_and_fake_free(e, f);
	return 0;
}

/*
 * A stream that ends before the agent answered is what a dying dockerd
 * does to a starting container, too: the run is held while a probe asks
 * dockerd, and gets one more container -- once, not forever.
 */
static int
test_suspect_failure_gets_one_more_try(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine *e = engine_on(f, 10000);
	struct fake_sim *sim = fake_dockerd_sim(f);
	struct job first = { 0 }, j = { 0 }, k = { 0 };

	job_start(e, &first);
	spin_for(10000, &first.done);
	CHECK(first.done && !first.failed);
	sim->vanish_on_hello = 1;
	job_start(e, &j);
	spin_for(10000, &j.done);
	if (j.failed)
		fprintf(stderr, "j: %s\n", j.msg);
	CHECK(j.done && !j.failed && strcmp(buf_cstr(&j.out), "ok\n") == 0);
	CHECK(sim->vanish_on_hello == 0 && sim->pings >= 1);
	/* Every start fails: one more try, then the error is the run's. */
	sim->vanish_on_hello = 1000;
	job_start(e, &k);
	spin_for(10000, &k.done);
	CHECK(k.done && k.failed && k.code != ISOL8_EUNAVAILABLE);
	CHECK(1000 - sim->vanish_on_hello == 2);
	buf_free(&first.out);
	buf_free(&j.out);
	engine_and_fake_free(e, f);
	return 0;
}

/*
 * A cancelled run at the head of the queue (its cancel not yet carried
 * out) while another run ends: admission steps over it. It used to spin
 * on it for ever (100% CPU, even SIGTERM unheard); alarm() ends the test
 * if it does.
 */
static int
test_cancelled_head_of_queue(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_SIM);
	struct isol8_engine_opts o;
	struct isol8_error err;
	struct isol8_engine *e;
	struct job a = { 0 }, b = { 0 };

	isol8_engine_opts_init(&o);
	o.docker_host = fake_dockerd_host(f);
	o.pool_size = 0;
	o.max_concurrent = 1;
	CHECK((e = isol8_engine_new(loop_base(loop), &o, &err)) != NULL);
	fake_dockerd_sim(f)->create_delay_ms = 500; /* a stays in flight */
	job_start(e, &a);
	job_start(e, &b);
	/* a is admitted, b waits behind it. */
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	CHECK(!a.done && !b.done);
	alarm(20);
	isol8_run_cancel(a.run); /* ends first: admission looks at b */
	isol8_run_cancel(b.run);
	spin_for(10000, &b.done);
	alarm(0);
	CHECK(a.done && a.failed && a.code == ISOL8_ECANCELLED);
	CHECK(b.done && b.failed && b.code == ISOL8_ECANCELLED);
	engine_and_fake_free(e, f);
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
	RUN_TEST(test_removal_outlives_an_outage);
	RUN_TEST(test_outage_is_waited_out);
	RUN_TEST(test_outage_wait_ends);
	RUN_TEST(test_never_reached_fails_at_once);
	RUN_TEST(test_lost_sandbox_says_so);
	RUN_TEST(test_suspect_failure_gets_one_more_try);
	RUN_TEST(test_cancelled_head_of_queue);
	rc = TAP_DONE();
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
