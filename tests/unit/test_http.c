/*
 * The HTTP layer (src/loop/loop_http.c) against the fake dockerd: a
 * response body is capped (an endless one fails with ERR_LIMIT and the
 * client stops reading it), a streamed body goes to its callback and
 * stops when that returns -1, a cancelled request never calls back (before
 * its transfer started, in flight, from inside another request's
 * callback, or at http_free()), and timeouts end stalled requests and
 * bodies. Each request's done callback runs exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "loop/loop.h"
#include "fake/fake_dockerd.h"

#define MAX_BODY (4u << 20) /* HTTP_DEFAULT_MAX_BODY */
#define URL "http://docker/v1.41/containers/json"

static struct loop *loop;

struct got {
	int calls;
	struct err *err;
	long status;
	size_t body_len; /* the buffered body, when done */
	size_t streamed; /* bytes the data callback took */
	int data_calls;
	int abort_after; /* the data callback returns -1 past this many */
	int late_data;   /* data calls after it returned -1 */
	int aborted;
};

static void
done_cb(struct http_req *r, const struct err *e, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->status = http_req_status(r);
	g->body_len = http_req_response(r)->len;
	if (e != NULL && g->err == NULL)
		g->err = err_dup(e);
}

static int
data_cb(const char *p, size_t len, void *arg)
{
	struct got *g = arg;

	(void)p;
	g->data_calls++;
	if (g->aborted) {
		g->late_data++;
		return -1;
	}
	g->streamed += len;
	if (g->abort_after > 0 && g->streamed > (size_t)g->abort_after) {
		g->aborted = 1;
		return -1;
	}
	return 0;
}

/* Turn the loop until *flag or ms have passed. */
static void
spin(int *flag, int ms)
{
	uint64_t until = now_ms() + (uint64_t)ms;
	struct timeval tv = { 0, 5000 };

	while (!*flag && now_ms() < until) {
		event_base_loopexit(loop_base(loop), &tv);
		event_base_dispatch(loop_base(loop));
	}
}

static void
turn(int ms)
{
	int never = 0;

	spin(&never, ms);
}

static struct http *
client(struct fake_dockerd *f)
{
	return http_new(loop, fake_dockerd_path(f), 4, NULL);
}

static struct http_req *
get(struct http *h, struct got *g, long timeout_ms)
{
	struct http_req *r = http_req_new(h, "GET", URL);

	if (timeout_ms > 0)
		http_req_timeout(r, timeout_ms);
	http_req_submit(r, done_cb, g);
	return r;
}

/*
 * A body that never ends (well: FAKE_ENDLESS_MAX bytes): ERR_LIMIT at
 * 4 MiB, with no more than that buffered, and the client stops reading:
 * the fake wrote little more than the cap before the connection went.
 */
static int
test_body_cap(void)
{
	struct fake_dockerd *f =
	    fake_dockerd_new(loop_base(loop), FAKE_ENDLESS);
	struct http *h = client(f);
	struct got g = { 0 };

	get(h, &g, 10000);
	spin(&g.calls, 10000);
	CHECK(g.calls == 1 && g.err != NULL);
	CHECK(g.err->kind == ERR_LIMIT);
	CHECK(strstr(g.err->msg, "response body over") != NULL);
	CHECK(g.body_len <= MAX_BODY);
	turn(100); /* the fake notices the connection is gone */
	CHECK(fake_dockerd_sent(f) >= MAX_BODY);
	CHECK(fake_dockerd_sent(f) < 2 * MAX_BODY);
	turn(50);
	CHECK(g.calls == 1);
	err_free(&g.err);
	http_free(h);
	fake_dockerd_free(f);
	return 0;
}

/* Streamed, the same endless body is not capped and not buffered. */
static int
test_stream_is_not_buffered(void)
{
	struct fake_dockerd *f =
	    fake_dockerd_new(loop_base(loop), FAKE_ENDLESS);
	struct http *h = client(f);
	struct http_req *r = http_req_new(h, "GET", URL);
	struct got g = { 0 };

	http_req_stream(r, data_cb, &g);
	http_req_timeout(r, 20000);
	http_req_submit(r, done_cb, &g);
	spin(&g.calls, 20000);
	CHECK(g.calls == 1 && g.err == NULL && g.status == 200);
	CHECK(g.streamed == FAKE_ENDLESS_MAX);
	CHECK(g.body_len == 0);
	http_free(h);
	fake_dockerd_free(f);
	return 0;
}

/* A data callback that returns -1 ends the transfer: ERR_CANCELLED. */
static int
test_stream_abort(void)
{
	struct fake_dockerd *f =
	    fake_dockerd_new(loop_base(loop), FAKE_ENDLESS);
	struct http *h = client(f);
	struct http_req *r = http_req_new(h, "GET", URL);
	struct got g = { 0 };

	g.abort_after = 100000;
	http_req_stream(r, data_cb, &g);
	http_req_timeout(r, 10000);
	http_req_submit(r, done_cb, &g);
	spin(&g.calls, 10000);
	CHECK(g.calls == 1 && g.err != NULL);
	CHECK(g.err->kind == ERR_CANCELLED);
	CHECK(strcmp(g.err->msg, "response stream aborted") == 0);
	CHECK(g.aborted && g.late_data == 0);
	turn(100);
	CHECK(fake_dockerd_sent(f) < FAKE_ENDLESS_MAX / 2);
	CHECK(g.calls == 1);
	err_free(&g.err);
	http_free(h);
	fake_dockerd_free(f);
	return 0;
}

/*
 * A cancelled request never calls back: cancelled in flight (the fake has
 * it) and at once after its submit (before its transfer started). Cancel
 * returns the callback's argument once, then NULL. A request after them
 * ends normally, by its timeout, once they had every chance to call.
 */
static int
test_cancel_never_calls_back(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct http *h = client(f);
	struct got early = { 0 }, flying = { 0 }, other = { 0 };
	struct http_req *r;

	r = get(h, &flying, 200);
	while (fake_dockerd_requests(f) < 1)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	CHECK(http_req_cancel(r) == &flying);
	CHECK(http_req_cancel(r) == NULL);
	r = get(h, &early, 200);
	CHECK(http_req_cancel(r) == &early);
	get(h, &other, 300);
	spin(&other.calls, 5000);
	turn(300); /* the cancelled ones' timeouts were 200 ms */
	CHECK(other.calls == 1 && other.err != NULL);
	CHECK(other.err->kind == ERR_TIMEOUT);
	CHECK(early.calls == 0 && flying.calls == 0);
	err_free(&other.err);
	http_free(h);
	fake_dockerd_free(f);
	return 0;
}

/* From inside a done callback: cancel one request, submit another. */
struct chain {
	struct http *h;
	struct http_req *victim;
	struct got *next;
	int calls;
};

static void
chain_cb(struct http_req *r, const struct err *e, void *arg)
{
	struct chain *c = arg;

	(void)r;
	(void)e;
	c->calls++;
	http_req_cancel(c->victim);
	get(c->h, c->next, 2000);
}

static int
test_callback_may_cancel_and_submit(void)
{
	struct fake_dockerd *ok = fake_dockerd_new(loop_base(loop), FAKE_OK);
	struct fake_dockerd *stall =
	    fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct http *hok = client(ok), *hstall = client(stall);
	struct got victim = { 0 }, next = { 0 };
	struct chain c = { hok, NULL, &next, 0 };
	struct http_req *r;

	c.victim = get(hstall, &victim, 300);
	r = http_req_new(hok, "GET", URL);
	http_req_submit(r, chain_cb, &c);
	spin(&next.calls, 3000);
	turn(400); /* past the victim's timeout */
	CHECK(c.calls == 1 && next.calls == 1);
	CHECK(next.err == NULL && next.status == 200 && next.body_len == 2);
	CHECK(victim.calls == 0);
	http_free(hok);
	http_free(hstall);
	fake_dockerd_free(ok);
	fake_dockerd_free(stall);
	return 0;
}

/* A silent server and a body that stops halfway: ERR_TIMEOUT, once. */
static int
test_timeouts(void)
{
	struct fake_dockerd *stall =
	    fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct fake_dockerd *half =
	    fake_dockerd_new(loop_base(loop), FAKE_HALF_BODY);
	struct http *hs = client(stall), *hh = client(half);
	struct got a = { 0 }, b = { 0 };

	get(hs, &a, 200);
	get(hh, &b, 200);
	spin(&a.calls, 5000);
	spin(&b.calls, 5000);
	turn(100);
	CHECK(a.calls == 1 && a.err != NULL && a.err->kind == ERR_TIMEOUT);
	CHECK(b.calls == 1 && b.err != NULL && b.err->kind == ERR_TIMEOUT);
	CHECK(strstr(b.err->msg, "timed out") != NULL);
	err_free(&a.err);
	err_free(&b.err);
	http_free(hs);
	http_free(hh);
	fake_dockerd_free(stall);
	fake_dockerd_free(half);
	return 0;
}

/* Freed with requests in flight: none calls back, nothing leaks. */
static int
test_free_in_flight(void)
{
	struct fake_dockerd *f = fake_dockerd_new(loop_base(loop), FAKE_STALL);
	struct http *h = client(f);
	struct got a = { 0 }, b = { 0 };

	get(h, &a, 200);
	get(h, &b, 200);
	while (fake_dockerd_requests(f) < 2)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	http_free(h);
	turn(300);
	CHECK(a.calls == 0 && b.calls == 0);
	fake_dockerd_free(f);
	return 0;
}

/* Nobody listening: ERR_UNAVAILABLE naming the socket. */
static int
test_unavailable(void)
{
	struct http *h =
	    http_new(loop, "/nonexistent/isol8-test.sock", 4, NULL);
	struct got g = { 0 };

	get(h, &g, 2000);
	spin(&g.calls, 5000);
	CHECK(g.calls == 1 && g.err != NULL);
	CHECK(g.err->kind == ERR_UNAVAILABLE);
	err_free(&g.err);
	http_free(h);
	return 0;
}

int
main(void)
{
	int rc;

	loop = loop_new(NULL, NULL, NULL);
	RUN_TEST(test_body_cap);
	RUN_TEST(test_stream_is_not_buffered);
	RUN_TEST(test_stream_abort);
	RUN_TEST(test_cancel_never_calls_back);
	RUN_TEST(test_callback_may_cancel_and_submit);
	RUN_TEST(test_timeouts);
	RUN_TEST(test_free_in_flight);
	RUN_TEST(test_unavailable);
	rc = TAP_DONE();
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
