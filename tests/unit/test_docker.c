/* docker: the stdcopy demuxer, the tar writer, the create configuration. */
#include <string.h>

#include "tap.h"
#include "docker/docker.h"
#include "pool/pool.h"

struct collect {
	struct buf out[4];
};

static void
collect_cb(int stream, const char *data, size_t len, void *arg)
{
	struct collect *c = arg;

	buf_add(&c->out[stream], data, len);
}

static void
frame(struct buf *b, int stream, const char *data)
{
	unsigned char h[8] = { (unsigned char)stream, 0, 0, 0 };

	be32_put(h + 4, (uint32_t)strlen(data));
	buf_add(b, h, 8);
	buf_addstr(b, data);
}

/* Every split of a multi-frame stream into two writes demuxes the same. */
static int
test_stdcopy_split_anywhere(void)
{
	struct buf in = { 0 };
	size_t cut, i;

	frame(&in, 1, "hello ");
	frame(&in, 2, "oops");
	frame(&in, 1, "");
	frame(&in, 1, "world\n");
	for (cut = 0; cut <= in.len; cut++) {
		struct collect c;
		struct stdcopy sc;
		struct err *e = NULL;

		memset(&c, 0, sizeof c);
		stdcopy_init(&sc);
		CHECK(stdcopy_feed(&sc, in.data, cut, collect_cb, &c, &e) == 0);
		CHECK(stdcopy_feed(&sc, in.data + cut, in.len - cut, collect_cb,
		          &c, &e) == 0);
		CHECK(strcmp(buf_cstr(&c.out[1]), "hello world\n") == 0);
		CHECK(strcmp(buf_cstr(&c.out[2]), "oops") == 0);
		CHECK(sc.hlen == 0 && sc.left == 0);
		for (i = 0; i < 4; i++)
			buf_free(&c.out[i]);
	}
	buf_free(&in);
	return 0;
}

static int
test_stdcopy_byte_at_a_time(void)
{
	struct buf in = { 0 };
	struct collect c;
	struct stdcopy sc;
	struct err *e = NULL;
	size_t i;

	memset(&c, 0, sizeof c);
	frame(&in, 2, "slow");
	frame(&in, 1, "drip");
	stdcopy_init(&sc);
	for (i = 0; i < in.len; i++)
		CHECK(
		    stdcopy_feed(&sc, in.data + i, 1, collect_cb, &c, &e) == 0);
	CHECK(strcmp(buf_cstr(&c.out[2]), "slow") == 0);
	CHECK(strcmp(buf_cstr(&c.out[1]), "drip") == 0);
	for (i = 0; i < 4; i++)
		buf_free(&c.out[i]);
	buf_free(&in);
	return 0;
}

static int
test_stdcopy_rejects_bad_headers(void)
{
	static const unsigned char bad_stream[8] = { 7, 0, 0, 0, 0, 0, 0, 1 };
	static const unsigned char bad_pad[8] = { 1, 0, 1, 0, 0, 0, 0, 1 };
	struct collect c;
	struct stdcopy sc;
	struct err *e = NULL;

	memset(&c, 0, sizeof c);
	stdcopy_init(&sc);
	CHECK(stdcopy_feed(
	          &sc, (const char *)bad_stream, 8, collect_cb, &c, &e) == -1);
	CHECK(e != NULL && e->kind == ERR_PROTO);
	err_free(&e);
	stdcopy_init(&sc);
	CHECK(stdcopy_feed(&sc, (const char *)bad_pad, 8, collect_cb, &c, &e) ==
	    -1);
	err_free(&e);
	return 0;
}

static unsigned
octal(const unsigned char *p, size_t n)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (unsigned)(p[i] - '0');
	return v;
}

static int
test_tar_layout(void)
{
	struct buf t = { 0 };
	struct err *e = NULL;
	const unsigned char *h;
	unsigned sum = 0;
	size_t i;

	CHECK(tar_add(&t, "Dockerfile", "FROM x\n", 7, 0644, &e) == 0);
	CHECK(tar_add(&t, "bin",
	          "\x7f"
	          "ELF",
	          4, 0755, &e) == 0);
	tar_end(&t);
	CHECK(t.len == 512 * 4 + 1024);
	h = (const unsigned char *)t.data;
	CHECK(strcmp((const char *)h, "Dockerfile") == 0);
	CHECK(octal(h + 124, 12) == 7);
	CHECK(octal(h + 100, 8) == 0644);
	CHECK(memcmp(h + 257, "ustar", 5) == 0);
	for (i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	CHECK(octal(h + 148, 8) == sum);
	CHECK(memcmp(t.data + 512, "FROM x\n", 7) == 0);
	CHECK(octal(h + 1024 + 100, 8) == 0755);
	for (i = t.len - 1024; i < t.len; i++)
		CHECK(t.data[i] == 0);
	buf_free(&t);
	return 0;
}

static int
test_tar_rejects_long_names(void)
{
	struct buf t = { 0 };
	struct err *e = NULL;
	char name[200];

	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	CHECK(tar_add(&t, name, "x", 1, 0644, &e) == -1);
	CHECK(e != NULL && e->kind == ERR_INVALID);
	err_free(&e);
	CHECK(tar_add(&t, "", "x", 1, 0644, &e) == -1);
	err_free(&e);
	buf_free(&t);
	return 0;
}

/* The container configuration carries every hardening setting. */
static int
test_create_json_hardening(void)
{
	struct pool_spec spec = { "isol8/python:latest", 256ll << 20, 500000000,
		32, 64ll << 20, 16ll << 20, "none" };
	struct box_conf bc;
	struct buf b = { 0 };
	struct err *e = NULL;
	yajl_val v, hc, a;
	long long n;
	size_t i;
	int found_nnp = 0;

	box_config(&spec, "run", 60000, NULL, &bc);
	docker_create_json(&bc.c, &b);
	v = json_parse(b.data, b.len, &e);
	CHECK(v != NULL);
	hc = json_get(v, "HostConfig", NULL);
	CHECK(json_int(hc, &n, "Memory", NULL) == 0 && n == 256ll << 20);
	CHECK(json_int(hc, &n, "MemorySwap", NULL) == 0 && n == 256ll << 20);
	CHECK(json_int(hc, &n, "NanoCpus", NULL) == 0 && n == 500000000);
	CHECK(json_int(hc, &n, "PidsLimit", NULL) == 0 && n == 32);
	CHECK(json_bool(hc, "ReadonlyRootfs", NULL) == 1);
	CHECK(json_bool(hc, "AutoRemove", NULL) == 1);
	CHECK(strcmp(json_str(hc, "NetworkMode", NULL), "none") == 0);
	CHECK(json_bool(v, "NetworkDisabled", NULL) == 1);
	CHECK(strcmp(json_str(hc, "LogConfig", "Type", NULL), "none") == 0);
	CHECK(strstr(json_str(hc, "Tmpfs", "/sandbox", NULL),
	          "size=67108864") != NULL);
	CHECK(strstr(json_str(hc, "Tmpfs", "/tmp", NULL), "noexec") != NULL);
	a = json_get(hc, "CapDrop", NULL);
	CHECK(YAJL_IS_ARRAY(a) && a->u.array.len == 1 &&
	    strcmp(a->u.array.values[0]->u.string, "ALL") == 0);
	a = json_get(hc, "CapAdd", NULL);
	CHECK(YAJL_IS_ARRAY(a) && a->u.array.len == 3);
	a = json_get(hc, "SecurityOpt", NULL);
	for (i = 0; a != NULL && i < a->u.array.len; i++)
		found_nnp |= strcmp(a->u.array.values[i]->u.string,
		                 "no-new-privileges") == 0;
	CHECK(found_nnp);
	a = json_get(hc, "Ulimits", NULL);
	CHECK(YAJL_IS_ARRAY(a) && a->u.array.len == 3);
	CHECK(strcmp(json_str(v, "Labels", LABEL_MANAGED, NULL), "true") == 0);
	CHECK(json_bool(v, "OpenStdin", NULL) == 1);
	CHECK(json_bool(v, "StdinOnce", NULL) == 0);
	CHECK(strcmp(json_get(v, "Cmd", NULL)->u.array.values[0]->u.string,
	          "/isol8-agent") == 0);
	yajl_tree_free(v);
	buf_free(&b);
	return 0;
}

static int
test_pool_key_depends_on_every_field(void)
{
	struct pool_spec a = { "img", 1, 2, 3, 4, 5, "none" }, b;
	char ka[17], kb[17];

	pool_spec_key(&a, ka);
	b = a;
	pool_spec_key(&b, kb);
	CHECK(strcmp(ka, kb) == 0);
	b.memory = 9;
	pool_spec_key(&b, kb);
	CHECK(strcmp(ka, kb) != 0);
	b = a;
	b.network = "host";
	pool_spec_key(&b, kb);
	CHECK(strcmp(ka, kb) != 0);
	b = a;
	b.tmp_size = 6;
	pool_spec_key(&b, kb);
	CHECK(strcmp(ka, kb) != 0);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_stdcopy_split_anywhere);
	RUN_TEST(test_stdcopy_byte_at_a_time);
	RUN_TEST(test_stdcopy_rejects_bad_headers);
	RUN_TEST(test_tar_layout);
	RUN_TEST(test_tar_rejects_long_names);
	RUN_TEST(test_create_json_hardening);
	RUN_TEST(test_pool_key_depends_on_every_field);
	return TAP_DONE();
}
