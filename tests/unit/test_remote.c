/*
 * remote: the engine's remote backend without a real server. The SSE
 * reader (events split at every byte, CRLF and CR line ends, comments as
 * heartbeats, the bound on a line and an event); the request written as
 * api_request_parse() reads it and the result read back as
 * api_result_write() writes it; and whole runs against a scripted evhttp
 * server on loopback: output as it comes (text and base64), the exit
 * result, a refusal with its status, a stream cut before `exit`, and a
 * cancel that closes the connection (what makes a server cancel the run).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "tap.h"
#include "api/api.h"
#include "remote/remote.h"
#include "remote/sse.h"
#include "util/util.h"

/* ---- the SSE reader ---- */

/* What a stream's events were: "name=data|" each. */
static int
collect(const char *name, const char *data, size_t len, void *arg)
{
	struct buf *b = arg;

	buf_printf(b, "%s=", name);
	buf_add(b, data, len);
	buf_addstr(b, "|");
	return 0;
}

/* Feed text in pieces of `step` bytes (0: whole); the events, or NULL. */
static int
feed(const char *text, size_t step, size_t max, struct buf *out)
{
	struct sse s;
	struct err *e = NULL;
	size_t len = strlen(text), off, n;
	int rc = 0;

	sse_init(&s, max);
	for (off = 0; off < len && rc == 0; off += n) {
		n = step == 0 || step > len - off ? len - off : step;
		rc = sse_feed(&s, text + off, n, collect, out, &e);
	}
	sse_free(&s);
	err_free(&e);
	return rc;
}

static int
test_sse_split_anywhere(void)
{
	static const char *stream =
	    ": keep-alive\n\n"
	    "event: start\nid: 1\ndata: {\"run\":\"7\"}\n\n"
	    "event: stdout\r\nid: 2\r\ndata: {\"data\":\"a\"}\r\n\r\n"
	    "event:stderr\rdata: x\rdata:  y\r\r"
	    "data\n\n"
	    "retry: 5\nunknown: z\nevent: exit\ndata: {}\n\n"
	    "event: lost\n\n";
	static const char *want = "start={\"run\":\"7\"}|"
	                          "stdout={\"data\":\"a\"}|"
	                          "stderr=x\n y|"
	                          "message=|"
	                          "exit={}|";
	struct buf b = { 0 };
	size_t len = strlen(stream), cut, step;
	struct sse s;
	struct err *e = NULL;

	/* Whole, and in pieces of every size. */
	for (step = 0; step <= len; step++) {
		buf_drain(&b, b.len);
		CHECK(feed(stream, step, 4096, &b) == 0);
		CHECK(
		    b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
	}
	/* Cut in two at every place. */
	for (cut = 0; cut <= len; cut++) {
		buf_drain(&b, b.len);
		sse_init(&s, 4096);
		CHECK(sse_feed(&s, stream, cut, collect, &b, &e) == 0);
		CHECK(sse_feed(&s, stream + cut, len - cut, collect, &b, &e) ==
		    0);
		sse_free(&s);
		CHECK(
		    b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
	}
	buf_free(&b);
	return 0;
}

static int
stop_at_first(const char *name, const char *data, size_t len, void *arg)
{
	(void)name, (void)data, (void)len;
	++*(int *)arg;
	return -1;
}

static int
test_sse_bounds(void)
{
	struct buf b = { 0 }, big = { 0 };
	struct sse s;
	struct err *e = NULL;
	int calls = 0;

	/* A line over the bound is refused, whether or not it ends. */
	buf_addstr(&big, "data: ");
	while (big.len < 100)
		buf_addstr(&big, "x");
	CHECK(feed(big.data, 0, 64, &b) == -1 && b.len == 0);
	CHECK(feed(big.data, 7, 64, &b) == -1 && b.len == 0);
	/* So are data lines that add up over it within one event ... */
	CHECK(feed("data: 0123456789abcdef\ndata: 0123456789abcdef\n"
	           "data: 0123456789abcdef\ndata: 0123456789abcdef\n\n",
	          0, 64, &b) == -1);
	/* ... but not the same lines in events of their own. */
	buf_drain(&b, b.len);
	CHECK(feed("data: 0123456789abcdef\n\ndata: 0123456789abcdef\n\n"
	           "data: 0123456789abcdef\n\ndata: 0123456789abcdef\n\n",
	          3, 64, &b) == 0);
	CHECK(strcmp(b.data,
	          "message=0123456789abcdef|message=0123456789abcdef|"
	          "message=0123456789abcdef|message=0123456789abcdef|") == 0);
	/* An event name over SSE_MAX_NAME. */
	buf_drain(&big, big.len);
	buf_addstr(&big, "event: ");
	while (big.len < 7 + SSE_MAX_NAME + 1)
		buf_addstr(&big, "n");
	buf_addstr(&big, "\ndata: 1\n\n");
	CHECK(feed(big.data, 0, 4096, &b) == -1);
	/* A callback's -1 stops the reader; it refuses more after. */
	sse_init(&s, 4096);
	CHECK(sse_feed(&s, "data: 1\n\ndata: 2\n\n", 18, stop_at_first, &calls,
	          &e) == -1);
	CHECK(calls == 1 && e == NULL);
	CHECK(sse_feed(&s, "data: 3\n\n", 9, stop_at_first, &calls, &e) == -1);
	CHECK(calls == 1 && e != NULL);
	err_free(&e);
	sse_free(&s);
	buf_free(&b);
	buf_free(&big);
	return 0;
}

/* ---- the wire: the request out, the result in ---- */

static int
test_request_round_trip(void)
{
	static const struct isol8_kv env[] = { { "A", "1" }, { "B", "" } };
	static const struct isol8_kv sec[] = { { "TOKEN", "s3cret" } };
	static const char bin[] = { 'a', '\0', (char)0xff };
	static const struct isol8_file files[] = { { "d/f.txt", "hi", 2 },
		{ "bin", bin, sizeof bin } };
	static const char *const outs[] = { "o.txt" };
	static const char *const allow[] = { "^pypi\\.org$" };
	static const char *const pkgs[] = { "numpy", "zod@3" };
	static const char *const argv[] = { "python3", "", "a \"b\"\n\xc3\xa9",
		NULL };
	static const char *const bad_argv[] = { "echo", "\xff\xfe", NULL };
	static const struct isol8_kv bad_env[] = { { "A", "x\xe9y" } };
	struct isol8_request q;
	struct api_request r;
	struct buf b = { 0 };
	struct err *e = NULL;
	const struct isol8_request *p = &r.req;

	isol8_request_init(&q);
	q.runtime = "python";
	q.code = "print(1)\n\xe9";
	q.stdin_data = "in\n";
	q.stdin_len = 3;
	q.env = env;
	q.env_len = 2;
	q.secrets = sec;
	q.secrets_len = 1;
	q.timeout_ms = 2500;
	q.memory = 64u << 20;
	q.cpus = 0.25;
	q.pids = 9;
	q.sandbox_size = 1u << 20;
	q.tmp_size = 2u << 20;
	q.max_output = 12345;
	q.max_output_file = 4096;
	q.network = "filtered";
	q.net_allow = allow;
	q.net_allow_len = 1;
	q.net_allow_private = 1;
	q.files = files;
	q.files_len = 2;
	q.outputs = outs;
	q.outputs_len = 1;
	q.session = "s1";
	q.image = "my:img";
	q.file_ext = ".py";
	q.packages = pkgs;
	q.packages_len = 2;
	CHECK(remote_request_write(&q, &b, &e) == 0);
	CHECK(api_request_parse(b.data, b.len, NULL, &r, &e) == 0);
	CHECK(strcmp(p->runtime, "python") == 0);
	CHECK(p->code_len == strlen(q.code) &&
	    memcmp(p->code, q.code, p->code_len) == 0);
	CHECK(p->stdin_len == 3 && memcmp(p->stdin_data, "in\n", 3) == 0);
	CHECK(p->env_len == 2 && strcmp(p->env[1].key, "B") == 0 &&
	    strcmp(p->env[1].value, "") == 0);
	CHECK(
	    p->secrets_len == 1 && strcmp(p->secrets[0].value, "s3cret") == 0);
	CHECK(p->timeout_ms == 2500 && p->memory == 64u << 20);
	CHECK(p->cpus == 0.25 && p->pids == 9);
	CHECK(p->sandbox_size == 1u << 20 && p->tmp_size == 2u << 20);
	CHECK(p->max_output == 12345 && p->max_output_file == 4096);
	CHECK(strcmp(p->network, "filtered") == 0 && p->net_allow_len == 1 &&
	    strcmp(p->net_allow[0], allow[0]) == 0 && p->net_allow_private);
	CHECK(p->files_len == 2 && p->files[1].len == sizeof bin &&
	    memcmp(p->files[1].data, bin, sizeof bin) == 0);
	CHECK(p->outputs_len == 1 && strcmp(p->outputs[0], "o.txt") == 0);
	CHECK(strcmp(p->session, "s1") == 0 && strcmp(p->image, "my:img") == 0);
	CHECK(strcmp(p->file_ext, ".py") == 0);
	CHECK(p->packages_len == 2 && strcmp(p->packages[1], "zod@3") == 0);
	CHECK(p->argv == NULL && p->workdir == NULL);
	api_request_free(&r);
	/* argv and workdir go as they are (argv instead of code). */
	q.code = NULL;
	q.argv = argv;
	q.workdir = "/sandbox/sub dir";
	buf_drain(&b, b.len);
	CHECK(remote_request_write(&q, &b, &e) == 0);
	CHECK(api_request_parse(b.data, b.len, NULL, &r, &e) == 0);
	CHECK(p->code == NULL && p->argv != NULL);
	CHECK(strcmp(p->argv[0], "python3") == 0 && p->argv[1][0] == '\0');
	CHECK(strcmp(p->argv[2], "a \"b\"\n\xc3\xa9") == 0);
	CHECK(p->argv[3] == NULL);
	CHECK(strcmp(p->workdir, "/sandbox/sub dir") == 0);
	api_request_free(&r);
	/* What the API cannot carry is refused, naming it: a streamed
	 * stdin, and text that is not UTF-8 (JSON would change it). */
	q.stdin_stream = 1;
	buf_drain(&b, b.len);
	CHECK(remote_request_write(&q, &b, &e) == -1);
	CHECK(strstr(e->msg, "streamed stdin") != NULL && b.len == 0);
	err_free(&e);
	q.stdin_stream = 0;
	q.argv = bad_argv;
	CHECK(remote_request_write(&q, &b, &e) == -1);
	CHECK(strstr(e->msg, "`argv` holds bytes that are not UTF-8") != NULL);
	err_free(&e);
	q.argv = argv;
	q.env = bad_env;
	q.env_len = 1;
	CHECK(remote_request_write(&q, &b, &e) == -1);
	CHECK(strstr(e->msg, "`env` holds bytes") != NULL && b.len == 0);
	err_free(&e);
	q.env_len = 0;
	q.workdir = "/sandbox/\xff";
	CHECK(remote_request_write(&q, &b, &e) == -1);
	CHECK(strstr(e->msg, "`workdir` holds bytes") != NULL && b.len == 0);
	err_free(&e);
	buf_free(&b);
	return 0;
}

static int
test_result_round_trip(void)
{
	struct isol8_output_file of[] = { { "o.txt", "a\0b", 3, NULL },
		{ "gone", NULL, 0, "No such file" } };
	static const char *const paths[] = { "o.txt", "gone" };
	static const struct isol8_net_event ev[] = {
		{ "CONNECT", "pypi.org", "443", 1, NULL, 1 },
		{ "GET", "evil.test", "80", 0, "not in --allow", 0 },
	};
	struct isol8_result res;
	struct api_result a = { 0 };
	struct remote_result rr;
	struct buf b = { 0 };
	struct err *e = NULL;
	int c;

	memset(&res, 0, sizeof res);
	res.exit_code = 137;
	res.signal = 9;
	res.oom_killed = 1;
	res.truncated = 1;
	res.state_lost = ISOL8_STATE_FRESH;
	res.run_ms = 11;
	res.total_ms = 22;
	res.cpu_ms = 5;
	res.peak_rss_kb = 700;
	res.stdout_bytes = 3;
	res.container_id = "abc";
	res.outputs = of;
	res.outputs_len = 2;
	res.net_events = ev;
	res.net_events_len = 2;
	res.net_events_dropped = 7;
	a.runtime = "python";
	a.res = &res;
	a.outputs = paths;
	a.no_output = 1; /* as the server's `exit` event */
	api_result_write(API_RUN, &a, &b);
	CHECK(remote_result_read(b.data, b.len, &rr, &e) == 0);
	CHECK(rr.res.exit_code == 137 && rr.res.signal == 9);
	CHECK(rr.res.oom_killed && rr.res.truncated && !rr.res.timed_out);
	CHECK(rr.res.state_lost == ISOL8_STATE_FRESH);
	CHECK(rr.res.run_ms == 11 && rr.res.total_ms == 22);
	CHECK(rr.res.cpu_ms == 5 && rr.res.peak_rss_kb == 700);
	CHECK(rr.res.stdout_bytes == 3);
	CHECK(strcmp(rr.res.container_id, "abc") == 0 && rr.error == NULL);
	CHECK(rr.res.outputs_len == 2 && rr.res.outputs[0].len == 3 &&
	    memcmp(rr.res.outputs[0].data, "a\0b", 3) == 0);
	CHECK(strcmp(rr.res.outputs[1].error, "No such file") == 0);
	/* The network's decisions, as the server wrote them. */
	CHECK(rr.res.net_events_len == 2 && rr.res.net_events_dropped == 7);
	CHECK(strcmp(rr.res.net_events[0].method, "CONNECT") == 0 &&
	    strcmp(rr.res.net_events[0].host, "pypi.org") == 0 &&
	    strcmp(rr.res.net_events[0].port, "443") == 0 &&
	    rr.res.net_events[0].allowed && rr.res.net_events[0].install &&
	    rr.res.net_events[0].reason == NULL);
	CHECK(!rr.res.net_events[1].allowed && !rr.res.net_events[1].install &&
	    strcmp(rr.res.net_events[1].reason, "not in --allow") == 0 &&
	    strcmp(rr.res.net_events[1].port, "80") == 0);
	remote_result_free(&rr);
	/* An error comes back with its code: every code, by its name. */
	for (c = ISOL8_EINVAL; c <= ISOL8_EINSTALL; c++) {
		buf_drain(&b, b.len);
		a.error = "it failed";
		a.code = (enum isol8_code)c;
		api_result_write(API_RUN, &a, &b);
		CHECK(remote_result_read(b.data, b.len, &rr, &e) == 0);
		CHECK(rr.code == (enum isol8_code)c);
		CHECK(strcmp(rr.error, "it failed") == 0);
		remote_result_free(&rr);
	}
	CHECK(remote_result_read("[1]", 3, &rr, &e) == -1);
	err_free(&e);
	remote_result_free(&rr);
	buf_free(&b);
	return 0;
}

/* ---- whole runs against a scripted server ---- */

struct fake {
	struct event_base *base;
	struct evhttp *http;
	int port;
	int status;                  /* the answer's status */
	const char *body;            /* its body (a stream, or a JSON error) */
	int hold;                    /* 1: leave the stream open after body */
	int closed;                  /* the client closed the connection */
	struct evhttp_request *held; /* the stream left open */
	char auth[128];              /* the Authorization header it got */
	struct buf req_body;         /* and the request */
};

static void
fake_closed(struct evhttp_connection *c, void *arg)
{
	struct fake *f = arg;

	(void)c;
	f->closed = 1;
	/* evhttp detached the open request from the connection: ours. */
	if (f->held != NULL)
		evhttp_request_free(f->held);
	f->held = NULL;
}

static void
fake_handler(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *out = evbuffer_new(), *in;
	const char *a;

	in = evhttp_request_get_input_buffer(req);
	buf_drain(&f->req_body, f->req_body.len);
	buf_add(&f->req_body, evbuffer_pullup(in, -1), evbuffer_get_length(in));
	a = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	snprintf(f->auth, sizeof f->auth, "%s", a ? a : "");
	evhttp_connection_set_closecb(
	    evhttp_request_get_connection(req), fake_closed, f);
	evbuffer_add(out, f->body, strlen(f->body));
	if (f->status != 200)
		evhttp_send_reply(req, f->status, "No", out);
	else {
		evhttp_send_reply_start(req, 200, "OK");
		evhttp_send_reply_chunk(req, out);
		if (!f->hold)
			evhttp_send_reply_end(req);
		else
			f->held = req;
	}
	evbuffer_free(out);
}

struct outcome {
	struct buf out, err;
	int done;
	struct isol8_result res;
	struct isol8_error error;
	int failed;
	struct isol8_run *run;
	int cancel_on_output;
};

static void
o_stdout(const char *d, size_t n, void *arg)
{
	struct outcome *o = arg;

	buf_add(&o->out, d, n);
	if (o->cancel_on_output)
		isol8_run_cancel(o->run);
}

static void
o_stderr(const char *d, size_t n, void *arg)
{
	buf_add(&((struct outcome *)arg)->err, d, n);
}

static void
o_done(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	struct outcome *o = arg;

	o->res = *r;
	o->res.container_id = NULL;
	o->res.outputs = NULL;
	o->failed = e != NULL;
	if (e != NULL)
		o->error = *e;
	o->done = 1;
}

/*
 * One run on a remote engine at port on base, with these bounds on a
 * server that does not answer (0: the defaults); the outcome in o. It
 * must end within RUN_BOUND_MS, however slow the machine: that is the
 * only thing timed here.
 */
#define RUN_BOUND_MS 60000
static int
remote_try(struct event_base *base, int port, const char *key,
    uint64_t connect_ms, uint64_t stall_ms, struct outcome *o)
{
	static const struct isol8_callbacks cbs = { o_stdout, o_stderr,
		o_done };
	struct isol8_engine_opts eo;
	struct isol8_request q;
	struct isol8_error err;
	struct isol8_engine *e;
	char url[64];
	uint64_t until = now_ms() + RUN_BOUND_MS;
	int i;

	snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
	isol8_engine_opts_init(&eo);
	eo.docker_host = "unix:///nonexistent/docker.sock";
	eo.remote_url = url;
	eo.remote_key = key;
	eo.remote_connect_ms = connect_ms;
	eo.remote_stall_ms = stall_ms;
	CHECK((e = isol8_engine_new(base, &eo, &err)) != NULL);
	isol8_request_init(&q);
	q.runtime = "python";
	q.code = "print(1)";
	CHECK((o->run = isol8_run_start(e, &q, &cbs, o, &err)) != NULL);
	CHECK(!o->done); /* never inside the call */
	while (!o->done && now_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
	/* Let the server see what the client did with the connection. */
	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	isol8_engine_free(e);
	CHECK(o->done);
	return 0;
}

/* One run on a remote engine against f; the outcome in o. */
static int
fake_run(struct fake *f, const char *key, struct outcome *o)
{
	return remote_try(f->base, f->port, key, 0, 0, o);
}

static void
outcome_free(struct outcome *o)
{
	buf_free(&o->out);
	buf_free(&o->err);
	memset(o, 0, sizeof *o);
}

static int
test_remote_runs(void)
{
	struct fake f = { 0 };
	struct outcome o = { 0 };
	struct evhttp_bound_socket *bs;
	evutil_socket_t fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	f.base = event_base_new();
	f.http = evhttp_new(f.base);
	evhttp_set_cb(f.http, "/execute/stream", fake_handler, &f);
	CHECK((bs = evhttp_bind_socket_with_handle(f.http, "127.0.0.1", 0)) !=
	    NULL);
	fd = evhttp_bound_socket_get_fd(bs);
	CHECK(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0);
	f.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

	/* Output as it comes, text and base64 (a NUL); the exit result. */
	f.status = 200;
	f.body = ": keep-alive\n\n"
	         "event: start\nid: 1\ndata: {\"run\":\"1\"}\n\n"
	         "event: stdout\nid: 2\ndata: {\"data\":\"hi\\n\"}\n\n"
	         "event: stderr\nid: 3\ndata: {\"base64\":\"AGU=\"}\n\n"
	         "event: exit\nid: 4\ndata: {\"runtime\":\"python\","
	         "\"exitCode\":3,\"signal\":0,\"timedOut\":true,"
	         "\"containerId\":\"c1\",\"error\":null}\n\n";
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(!o.failed && o.res.exit_code == 3 && o.res.timed_out);
	CHECK(o.out.len == 3 && memcmp(o.out.data, "hi\n", 3) == 0);
	CHECK(o.err.len == 2 && memcmp(o.err.data, "\0e", 2) == 0);
	CHECK(strcmp(f.auth, "Bearer k1") == 0);
	CHECK(strstr(f.req_body.data, "\"code\":\"print(1)\"") != NULL);
	outcome_free(&o);

	/* A refusal: its status and the server's message, EINVAL. */
	f.status = 403;
	f.body = "{\"error\":\"`memory` is over this key's ceiling of 256m\","
	         "\"errorCode\":\"limit\"}";
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EINVAL);
	CHECK(strstr(o.error.message, "answered 403") != NULL);
	CHECK(strstr(o.error.message, "ceiling of 256m") != NULL);
	outcome_free(&o);

	/* 429: the server is busy, EUNAVAILABLE from its errorCode. */
	f.status = 429;
	f.body = "{\"error\":\"too many\",\"errorCode\":\"unavailable\"}";
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EUNAVAILABLE);
	outcome_free(&o);

	/* The stream ends before `exit`: lost, it may have run. */
	f.status = 200;
	f.body = "event: start\n"
	         "data: {}\n\n"
	         "event: stdout\n"
	         "data: {\"data\":\"x\"}\n\n";
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_ELOST);
	CHECK(o.res.may_have_run);
	outcome_free(&o);

	/* An output event that is not JSON fails the run. */
	f.body = "event: stdout\ndata: nope\n\n";
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EINTERNAL);
	outcome_free(&o);

	/* A cancel mid-stream: ECANCELLED, and the connection is closed. */
	f.hold = 1;
	f.closed = 0;
	f.body = "event: start\n"
	         "data: {}\n\n"
	         "event: stdout\n"
	         "data: {\"data\":\"x\"}\n\n";
	o.cancel_on_output = 1;
	CHECK(fake_run(&f, "k1", &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_ECANCELLED);
	CHECK(f.closed);
	outcome_free(&o);

	evhttp_free(f.http);
	event_base_free(f.base);
	buf_free(&f.req_body);
	return 0;
}

/* A TCP listener on 127.0.0.1 with this backlog; its port in *port. */
static int
listener(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(fd, backlog) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * A server that takes the connection and then says nothing: the kernel
 * accepts it, nobody reads or answers. It used to hold the run forever;
 * now nothing for stall_ms ends it, ISOL8_EUNAVAILABLE saying so.
 */
static int
test_remote_silent_server(void)
{
	struct event_base *base = event_base_new();
	struct outcome o = { 0 };
	int fd, port;

	CHECK((fd = listener(16, &port)) != -1);
	CHECK(remote_try(base, port, "k", 0, 300, &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EUNAVAILABLE);
	CHECK(strstr(o.error.message,
	          "did not answer: nothing came for 300 ms") != NULL);
	CHECK(strstr(o.error.message, "--stall-timeout") != NULL);
	CHECK(!o.res.may_have_run && o.out.len == 0);
	outcome_free(&o);
	close(fd);
	event_base_free(base);
	return 0;
}

/*
 * A connection that cannot be made in time: the listener's accept queue
 * is full (backlog 0, one connection waiting), so the kernel drops the
 * run's SYN and libcurl's connect bound ends it.
 */
static int
test_remote_connect_timeout(void)
{
	struct event_base *base = event_base_new();
	struct outcome o = { 0 };
	struct sockaddr_in sin;
	int fd, filler, port;

	CHECK((fd = listener(0, &port)) != -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(filler, (struct sockaddr *)&sin, sizeof sin) == 0);
	CHECK(remote_try(base, port, "k", 300, 60000, &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EUNAVAILABLE);
	CHECK(strstr(o.error.message, "cannot reach the isol8 server") &&
	    strstr(o.error.message, "no connection within 300 ms"));
	outcome_free(&o);
	close(filler);
	close(fd);
	event_base_free(base);
	return 0;
}

/* A stream that sends heartbeats for beats x 50 ms, then the result. */
struct beating {
	struct evhttp_request *req;
	struct event *tick;
	int beats;
	int closed;
};

static void
beat_closed(struct evhttp_connection *c, void *arg)
{
	struct beating *b = arg;

	(void)c;
	b->closed = 1;
	if (b->req != NULL)
		evhttp_request_free(b->req);
	b->req = NULL;
	evtimer_del(b->tick);
}

static void
beat_tick(evutil_socket_t fd, short what, void *arg)
{
	static const char exit_ev[] = "event: exit\ndata: {\"exitCode\":0,"
	                              "\"error\":null}\n\n";
	struct beating *b = arg;
	struct evbuffer *out = evbuffer_new();

	(void)fd, (void)what;
	if (b->beats-- > 0) {
		evbuffer_add_printf(out, ": keep-alive\n\n");
		evhttp_send_reply_chunk(b->req, out);
	} else {
		evbuffer_add(out, exit_ev, sizeof exit_ev - 1);
		evhttp_send_reply_chunk(b->req, out);
		evhttp_send_reply_end(b->req);
		b->req = NULL;
		evtimer_del(b->tick);
	}
	evbuffer_free(out);
}

static void
beat_handler(struct evhttp_request *req, void *arg)
{
	static const struct timeval every = { 0, 50 * 1000 };
	struct beating *b = arg;
	struct evbuffer *out = evbuffer_new();

	evhttp_connection_set_closecb(
	    evhttp_request_get_connection(req), beat_closed, b);
	evbuffer_add_printf(out, "event: start\ndata: {}\n\n");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_send_reply_chunk(req, out);
	evbuffer_free(out);
	b->req = req;
	event_add(b->tick, &every);
}

/*
 * Mid-run: a server that sends heartbeats lives on past the stall bound
 * (it is no total timeout); one that stops mid-stream is cut off, the
 * output so far delivered, the run marked as maybe run, the connection
 * closed (the server cancels the run).
 */
static int
test_remote_stall_mid_run(void)
{
	struct fake f = { 0 };
	struct beating b = { 0 };
	struct outcome o = { 0 };
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	uint64_t t0;

	f.base = event_base_new();
	f.http = evhttp_new(f.base);
	CHECK((bs = evhttp_bind_socket_with_handle(f.http, "127.0.0.1", 0)) !=
	    NULL);
	CHECK(getsockname(evhttp_bound_socket_get_fd(bs),
	          (struct sockaddr *)&ss, &sl) == 0);
	f.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

	/* 30 heartbeats 50 ms apart: 1.5 s, over a 1 s bound; it ends. */
	b.tick = event_new(f.base, -1, EV_PERSIST, beat_tick, &b);
	b.beats = 30;
	evhttp_set_cb(f.http, "/execute/stream", beat_handler, &b);
	t0 = now_ms();
	CHECK(remote_try(f.base, f.port, "k", 0, 1000, &o) == 0);
	CHECK(!o.failed && o.res.exit_code == 0 && b.beats < 0);
	CHECK(now_ms() - t0 >= 1500); /* it did outlive the bound */
	outcome_free(&o);
	event_free(b.tick);
	evhttp_del_cb(f.http, "/execute/stream");

	/* Output, then nothing: stalled, not lost; may have run. */
	evhttp_set_cb(f.http, "/execute/stream", fake_handler, &f);
	f.status = 200;
	f.hold = 1;
	f.body = "event: start\n"
	         "data: {}\n\n"
	         "event: stdout\n"
	         "data: {\"data\":\"so far\\n\"}\n\n";
	CHECK(remote_try(f.base, f.port, "k", 0, 300, &o) == 0);
	CHECK(o.failed && o.error.code == ISOL8_EUNAVAILABLE);
	CHECK(strstr(o.error.message,
	          "stalled: nothing came for 300 ms mid-run") != NULL);
	CHECK(strstr(o.error.message, "the run may have run") != NULL);
	CHECK(o.res.may_have_run);
	CHECK(o.out.len == 7 && memcmp(o.out.data, "so far\n", 7) == 0);
	CHECK(f.closed);
	outcome_free(&o);
	evhttp_free(f.http);
	event_base_free(f.base);
	buf_free(&f.req_body);
	return 0;
}

/* The session calls: /sessions answers a list, /sessions/NAME a 404. */
static void
fake_sessions(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);

	(void)arg;
	if (strcmp(uri, "/sessions") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		evbuffer_add_printf(out,
		    "{\"sessions\":[{\"name\":\"s1\",\"image\":\"i\","
		    "\"status\":\"running\",\"created\":5,"
		    "\"memory\":1024}]}");
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evbuffer_add_printf(out,
		    "{\"error\":\"no session `%s`\","
		    "\"errorCode\":\"notfound\"}",
		    uri + 10);
		evhttp_send_reply(req, 404, "No", out);
	}
	evbuffer_free(out);
}

struct sess_outcome {
	int done;
	size_t n;
	struct isol8_session_info first;
	struct isol8_error err;
	int failed;
};

static void
sess_listed(const struct isol8_session_info *l, size_t n,
    const struct isol8_error *e, void *arg)
{
	struct sess_outcome *o = arg;

	o->done = 1;
	o->n = n;
	if (n > 0)
		o->first = l[0];
	if ((o->failed = e != NULL))
		o->err = *e;
}

static void
sess_removed(const struct isol8_error *e, void *arg)
{
	struct sess_outcome *o = arg;

	o->done = 1;
	if ((o->failed = e != NULL))
		o->err = *e;
}

static int
test_remote_sessions(void)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct isol8_engine_opts eo;
	struct isol8_engine *e;
	struct isol8_error err;
	struct sess_outcome a = { 0 }, b = { 0 }, c = { 0 };
	char url[64];
	int i;

	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(http, fake_sessions, NULL);
	CHECK((bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) !=
	    NULL);
	CHECK(getsockname(evhttp_bound_socket_get_fd(bs),
	          (struct sockaddr *)&ss, &sl) == 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	isol8_engine_opts_init(&eo);
	eo.docker_host = "unix:///nonexistent/docker.sock";
	eo.remote_url = url;
	eo.remote_key = "k";
	CHECK((e = isol8_engine_new(base, &eo, &err)) != NULL);
	CHECK(isol8_session_list_start(e, sess_listed, &a, &err) == 0);
	CHECK(
	    isol8_session_remove_start(e, "gone", sess_removed, &b, &err) == 0);
	/* A name that would change the URL is refused at once. */
	CHECK(isol8_session_remove_start(e, "../x", sess_removed, &c, &err) ==
	    -1);
	CHECK(err.code == ISOL8_EINVAL && !a.done && !b.done);
	for (i = 0; i < 500 && !(a.done && b.done); i++)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(a.done && !a.failed && a.n == 1);
	CHECK(strcmp(a.first.name, "s1") == 0 && a.first.created == 5);
	CHECK(a.first.memory == 1024 && strcmp(a.first.status, "running") == 0);
	CHECK(b.done && b.failed && b.err.code == ISOL8_ENOTFOUND);
	CHECK(strstr(b.err.message, "answered 404: no session `gone`") != NULL);
	/* Freed with a call in flight: it ends now, cancelled. */
	memset(&a, 0, sizeof a);
	CHECK(isol8_session_list_start(e, sess_listed, &a, &err) == 0);
	isol8_engine_free(e);
	CHECK(a.done && a.failed && a.err.code == ISOL8_ECANCELLED);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_sse_split_anywhere);
	RUN_TEST(test_sse_bounds);
	RUN_TEST(test_request_round_trip);
	RUN_TEST(test_result_round_trip);
	RUN_TEST(test_remote_runs);
	RUN_TEST(test_remote_sessions);
	RUN_TEST(test_remote_silent_server);
	RUN_TEST(test_remote_connect_timeout);
	RUN_TEST(test_remote_stall_mid_run);
	return TAP_DONE();
}
