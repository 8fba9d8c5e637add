/*
 * The pool against the real dockerd: the agent's HELLO arbitration (two
 * claims of one warm container: exactly one wins, even without the rename
 * filter), local refill keeping `size` boxes ready, prewarm, and ready
 * boxes going away at shutdown.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "pool/pool.h"
#include "support.h"

static struct loop *loop;
static struct docker *d;
static const struct pool_spec spec = { "isol8/bash:latest", 96ll << 20,
	500000000, 16, 16ll << 20, 16ll << 20, "none" };

struct call {
	int done;
	struct err *err;
	char *body;
};

static void
call_cb(const struct docker_reply *r, const struct err *e, void *arg)
{
	struct call *c = arg;

	c->done = 1;
	c->body = xstrndup(r->body ? r->body : "", r->len);
	if (e != NULL)
		c->err = err_dup(e);
}

static void
spin(int *flag)
{
	while (!*flag)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
}

/* Start an unclaimed warm container the way a shared pool does. */
static char *
warm_container(void)
{
	struct box_conf bc;
	struct call c = { 0 }, s = { 0 };
	yajl_val v;
	char *id;

	box_config(&spec, "warm", 60000, NULL, &bc);
	docker_container_create(d, &bc.c, call_cb, &c);
	spin(&c.done);
	if (c.err != NULL)
		return NULL;
	v = json_parse(c.body, strlen(c.body), NULL);
	id = xstrdup(json_str(v, "Id", NULL));
	yajl_tree_free(v);
	free(c.body);
	docker_container_start(d, id, call_cb, &s);
	spin(&s.done);
	free(s.body);
	return id;
}

static int
test_hello_arbitrates_claims(void)
{
	struct got a = { 0 }, b = { 0 };
	struct box *winner;
	char *id;

	CHECK((id = warm_container()) != NULL);
	box_claim(d, id, got_cb, &a);
	box_claim(d, id, got_cb, &b);
	spin(&a.done);
	spin(&b.done);
	CHECK((a.box != NULL) + (b.box != NULL) == 1);
	CHECK((a.err != NULL) + (b.err != NULL) == 1);
	CHECK(strstr(a.err ? a.err->msg : b.err->msg, "claimed by another") !=
	    NULL);
	winner = a.box ? a.box : b.box;
	CHECK(strcmp(box_id(winner), id) == 0);
	box_close(winner, BOX_BYE);
	err_free(&a.err);
	err_free(&b.err);
	free(id);
	return 0;
}

static int
test_local_refill_and_drain(void)
{
	struct pool_opts o;
	struct pool *p;
	struct got g = { 0 };
	struct call l = { 0 };
	char key[17], filter[256];
	yajl_val v;
	uint64_t t0;
	int n = 0;

	pool_opts_init(&o);
	o.size = 2;
	o.idle_ms = 60000;
	p = pool_new(d, &o);
	pool_prewarm(p, &spec);
	t0 = now_ms();
	while (pool_busy(p) && now_ms() - t0 < 20000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	/* Two ready: an acquire is served without a round trip. */
	t0 = now_us();
	pool_acquire(p, &spec, got_cb, &g);
	spin(&g.done);
	CHECK(g.box != NULL && now_us() - t0 < 5000);
	pool_release(p, &spec, g.box, 0);
	pool_drain(p);
	t0 = now_ms();
	while (pool_busy(p) && now_ms() - t0 < 20000)
		event_base_loop(loop_base(loop), EVLOOP_ONCE);
	pool_free(p);
	/* Drained: the ready boxes' agents were told BYE and went away. */
	pool_spec_key(&spec, key);
	snprintf(filter, sizeof filter,
	    "{\"label\":[\"" LABEL_KEY "=%s\"],\"name\":[\"^/isol8-run-%d-\"]}",
	    key, (int)getpid());
	for (t0 = now_ms(); now_ms() - t0 < 5000; usleep(100000)) {
		l.done = 0;
		free(l.body);
		docker_container_list(d, filter, 1, call_cb, &l);
		spin(&l.done);
		v = json_parse(l.body, strlen(l.body), NULL);
		n = YAJL_IS_ARRAY(v) ? (int)v->u.array.len : -1;
		yajl_tree_free(v);
		if (n == 0)
			break;
	}
	free(l.body);
	CHECK(n == 0);
	return 0;
}

int
main(void)
{
	int rc;

	if (!docker_available())
		return 77;
	loop = loop_new(NULL, NULL, NULL);
	d = docker_new(loop, NULL, NULL);
	RUN_TEST(test_hello_arbitrates_claims);
	RUN_TEST(test_local_refill_and_drain);
	rc = TAP_DONE();
	docker_free(d);
	event_base_loop(loop_base(loop), EVLOOP_NONBLOCK);
	loop_free(loop);
	return rc;
}
