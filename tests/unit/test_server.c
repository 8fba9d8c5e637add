/*
 * server: the parts of `isol8 serve` that read what clients and operators
 * write, without a socket: the --keys file (lines, ceilings, errors naming
 * the line), bearer-token auth, the ceilings a request is checked against
 * (a refusal names its ceiling; a request that says nothing fits its key),
 * session names under a key's prefix, the SSE writer (any bytes), and the
 * request body's own fields (network, patterns, secrets, session, base64).
 * The HTTP side is tests/docker/serve.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "api/api.h"
#include "server/server.h"
#include "util/util.h"

/* The SHA-256 of a secret in hex, as a --keys file holds it. */
static void
hex_of(const char *secret, char out[65])
{
	struct sha256 h;

	sha256_init(&h);
	sha256_add(&h, secret, strlen(secret));
	sha256_hex(&h, out);
}

/* Parse a keys file's text; its error (or "") into msg. */
static int
keys_text(const char *text, struct server_keys *keys, char *msg, size_t len)
{
	char *copy = xstrdup(text);
	struct err *e = NULL;
	int rc = keys_parse("keys", copy, keys, &e);

	snprintf(msg, len, "%s", e != NULL ? e->msg : "");
	err_free(&e);
	free(copy);
	return rc;
}

static int
test_keys_file(void)
{
	struct server_keys keys;
	struct server_key *a, *b;
	char ha[65], hb[65], text[512], msg[256];

	hex_of("alice-secret", ha);
	hex_of("bob-secret", hb);
	snprintf(text, sizeof text,
	    "# a comment\n\n"
	    "alice %s memory=1g cpu=2 network=none,filtered sessions=3\n"
	    "bob   %s runtimes=python,bash concurrency=2 timeout=60s sessions=0 # trailing\n",
	    ha, hb);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == 0);
	a = keys_auth(&keys, "Bearer alice-secret");
	b = keys_auth(&keys, "bearer   bob-secret");
	CHECK(a != NULL && strcmp(a->name, "alice") == 0);
	CHECK(a->c.memory == 1ull << 30 && a->c.cpus == 2);
	CHECK(a->c.networks == (NET_NONE | NET_FILTERED));
	CHECK(a->c.has_sessions && a->c.sessions == 3);
	CHECK(b != NULL && strcmp(b->name, "bob") == 0);
	CHECK(b->c.concurrency == 2 && b->c.timeout_ms == 60000);
	CHECK(b->c.has_sessions && b->c.sessions == 0);
	CHECK(strcmp(b->c.runtimes[0], "python") == 0 &&
	    strcmp(b->c.runtimes[1], "bash") == 0 && b->c.runtimes[2] == NULL);
	/* Not a key: wrong secret, another scheme, nothing. */
	CHECK(keys_auth(&keys, "Bearer alice-secreT") == NULL);
	CHECK(keys_auth(&keys, "Basic alice-secret") == NULL);
	CHECK(keys_auth(&keys, "Bearer ") == NULL);
	CHECK(keys_auth(&keys, NULL) == NULL);
	keys_free(&keys);
	return 0;
}

static int
test_keys_errors(void)
{
	struct server_keys keys;
	char h[65], text[512], msg[256];

	hex_of("x", h);
	snprintf(text, sizeof text, "a %s\nb %s memory=lots\n", h, h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "keys: line 2") != NULL && strstr(msg, "memory"));
	snprintf(text, sizeof text, "a %s\na %s\n", h, h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "line 2") != NULL && strstr(msg, "repeats"));
	snprintf(text, sizeof text, "a %s color=blue\n", h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "unknown ceiling `color`") != NULL);
	snprintf(text, sizeof text, "a %s sessions=4097\n", h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "`sessions` must be a whole number from 0 to 4096") !=
	    NULL);
	snprintf(text, sizeof text, "a %s sessions=many\n", h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == -1);
	CHECK(keys_text("a 1234\n", &keys, msg, sizeof msg) == -1);
	CHECK(keys_text("# only a comment\n", &keys, msg, sizeof msg) == -1);
	CHECK(strstr(msg, "no keys") != NULL);
	CHECK(keys_text("a.b 1\n", &keys, msg, sizeof msg) == -1);
	return 0;
}

/* key_check on a request parsed from text, under the key's defaults. */
static int
check_request(struct server_key *k, const char *text, char *msg, size_t len)
{
	struct isol8_request def, kdef;
	struct api_request r;
	struct err *e = NULL;
	int rc;

	memset(&def, 0, sizeof def);
	def.memory = 512ull << 20;
	def.cpus = 1;
	def.timeout_ms = 30000;
	def.runtime = "python";
	key_defaults(k, &def, &kdef);
	if (api_request_parse(text, strlen(text), NULL, &r, &e) == -1) {
		snprintf(msg, len, "parse: %s", e->msg);
		err_free(&e);
		api_request_free(&r);
		return -2;
	}
	api_request_defaults(&r, &kdef);
	rc = key_check(k, &r.req, &e);
	snprintf(msg, len, "%s", e != NULL ? e->msg : "");
	err_free(&e);
	api_request_free(&r);
	return rc;
}

static int
test_ceilings(void)
{
	struct server_keys keys;
	struct server_key *k;
	char h[65], text[256], msg[256];

	hex_of("s", h);
	snprintf(text, sizeof text,
	    "small %s memory=256m cpu=0.5 runtimes=python network=none sessions=0\n",
	    h);
	CHECK(keys_text(text, &keys, msg, sizeof msg) == 0);
	k = TAILQ_FIRST(&keys);
	/* Nothing asked: the server's defaults, clamped, fit the key. */
	CHECK(check_request(k, "{\"code\":\"1\"}", msg, sizeof msg) == 0);
	CHECK(check_request(k, "{\"code\":\"1\",\"memory\":\"1g\"}", msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "memory") != NULL);
	CHECK(check_request(k, "{\"code\":\"1\",\"cpu\":2}", msg, sizeof msg) ==
	    -1);
	CHECK(strstr(msg, "cpu") != NULL);
	CHECK(check_request(k, "{\"runtime\":\"node\",\"code\":\"1\"}", msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "runtimes") != NULL);
	CHECK(check_request(k, "{\"code\":\"1\",\"network\":\"host\"}", msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "network") != NULL);
	CHECK(check_request(k, "{\"code\":\"1\",\"session\":\"s\"}", msg,
	          sizeof msg) == -1);
	CHECK(strstr(msg, "sessions") != NULL);
	keys_free(&keys);
	return 0;
}

static int
test_session_names(void)
{
	struct server_key k;
	struct err *e = NULL;
	struct isol8_error ie, own;
	char out[128], long_name[80];

	memset(&k, 0, sizeof k);
	snprintf(k.name, sizeof k.name, "alice");
	CHECK(session_internal(&k, "s1", out, sizeof out, &e) == 0);
	CHECK(strcmp(out, "alice.s1") == 0);
	CHECK(session_internal(&k, "a.b_c-d", out, sizeof out, &e) == 0);
	CHECK(session_internal(&k, "../x", out, sizeof out, &e) == -1);
	err_free(&e);
	CHECK(session_internal(&k, "a/b", out, sizeof out, &e) == -1);
	err_free(&e);
	CHECK(session_internal(&k, "", out, sizeof out, &e) == -1);
	err_free(&e);
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	CHECK(session_internal(&k, long_name, out, sizeof out, &e) == -1);
	err_free(&e);
	/* The engine's messages in the client's names: `alice.` goes where it
	 * starts a name, nowhere else. */
	memset(&ie, 0, sizeof ie);
	ie.code = ISOL8_EINVAL;
	snprintf(ie.message, sizeof ie.message,
	    "session `alice.s1` was created with other limits; remove it with "
	    "`isol8 session rm alice.s1` (not malice.s1, not bob.s1)");
	CHECK(session_error_external(&k, &ie, &own) == &own);
	CHECK(strcmp(own.message,
	          "session `s1` was created with other limits; remove it with "
	          "`isol8 session rm s1` (not malice.s1, not bob.s1)") == 0);
	CHECK(own.code == ISOL8_EINVAL);
	CHECK(session_error_external(&k, NULL, &own) == NULL);
	return 0;
}

static int
test_sse(void)
{
	struct buf b = { 0 };

	sse_output(&b, 2, 1, "hi\n", 3);
	CHECK(strcmp(buf_cstr(&b),
	          "event: stdout\nid: 2\ndata: {\"data\":\"hi\\n\"}\n\n") == 0);
	buf_drain(&b, b.len);
	/* Not UTF-8 (a cut sequence): base64, byte for byte. */
	sse_output(&b, 3, 2, "\xe2\x82", 2);
	CHECK(
	    strcmp(buf_cstr(&b),
	        "event: stderr\nid: 3\ndata: {\"base64\":\"4oI=\"}\n\n") == 0);
	buf_drain(&b, b.len);
	/* Output cannot forge an event. */
	sse_output(&b, 4, 1, "x\n\nevent: exit\ndata: {}\n\n", 24);
	CHECK(strstr(buf_cstr(&b), "\n\nevent: exit") == NULL);
	buf_drain(&b, b.len);
	sse_comment(&b, "keep-alive");
	CHECK(strcmp(buf_cstr(&b), ": keep-alive\n\n") == 0);
	buf_free(&b);
	return 0;
}

/* The request fields the server brought to the format. */
static int
test_request_fields(void)
{
	const char *text =
	    "{\"runtime\":\"python\",\"code\":{\"base64\":\"cHJpbnQoMSk=\"},"
	    "\"stdin\":{\"base64\":\"AAE=\"},\"network\":\"filtered\","
	    "\"allow\":[\"^a\\\\.com$\"],\"deny\":[\"^b$\"],"
	    "\"allowPrivate\":true,\"secrets\":{\"TOKEN\":\"s3\"},"
	    "\"session\":\"s\",\"image\":\"isol8/python:latest\","
	    "\"fileExt\":\"py\",\"maxOutput\":\"2m\",\"tmpSize\":\"64m\"}";
	struct api_request r;
	struct err *e = NULL;

	CHECK(api_request_parse(text, strlen(text), NULL, &r, &e) == 0);
	CHECK(r.req.code_len == 8 && memcmp(r.req.code, "print(1)", 8) == 0);
	CHECK(r.req.stdin_len == 2 && r.req.stdin_data[0] == 0 &&
	    r.req.stdin_data[1] == 1);
	CHECK(strcmp(r.req.network, "filtered") == 0);
	CHECK(r.req.net_allow_len == 1 &&
	    strcmp(r.req.net_allow[0], "^a\\.com$") == 0);
	CHECK(r.req.net_deny_len == 1 && r.req.net_allow_private == 1);
	CHECK(r.req.secrets_len == 1 &&
	    strcmp(r.req.secrets[0].key, "TOKEN") == 0);
	CHECK(strcmp(r.req.session, "s") == 0 &&
	    strcmp(r.req.file_ext, "py") == 0);
	CHECK(r.req.max_output == 2u << 20 && r.req.tmp_size == 64u << 20);
	api_request_free(&r);
	/* Bad base64, a bad network, a bad pattern list: named. */
	text = "{\"code\":{\"base64\":\"@@@@\"}}";
	CHECK(api_request_parse(text, strlen(text), NULL, &r, &e) == -1);
	CHECK(strstr(e->msg, "code.base64") != NULL);
	err_free(&e);
	api_request_free(&r);
	text = "{\"code\":\"1\",\"network\":\"wide\"}";
	CHECK(api_request_parse(text, strlen(text), NULL, &r, &e) == -1);
	CHECK(strstr(e->msg, "network") != NULL);
	err_free(&e);
	api_request_free(&r);
	text = "{\"code\":\"1\",\"allow\":[1]}";
	CHECK(api_request_parse(text, strlen(text), NULL, &r, &e) == -1);
	CHECK(strstr(e->msg, "allow") != NULL);
	err_free(&e);
	api_request_free(&r);
	return 0;
}

static int
test_base64(void)
{
	struct buf b = { 0 };

	CHECK(base64_decode(&b, "aGVsbG8=", 8) == 0);
	CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
	buf_drain(&b, b.len);
	CHECK(base64_decode(&b, "aGk=", 4) == 0 && b.len == 2);
	buf_drain(&b, b.len);
	CHECK(base64_decode(&b, "", 0) == 0 && b.len == 0);
	CHECK(base64_decode(&b, "aGk", 3) == -1);      /* length */
	CHECK(base64_decode(&b, "a=Gk", 4) == -1);     /* padding inside */
	CHECK(base64_decode(&b, "aGk=aGk=", 8) == -1); /* padding, then more */
	CHECK(base64_decode(&b, "a*k=", 4) == -1);     /* alphabet */
	CHECK(b.len == 0);
	buf_free(&b);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_keys_file);
	RUN_TEST(test_keys_errors);
	RUN_TEST(test_ceilings);
	RUN_TEST(test_session_names);
	RUN_TEST(test_sse);
	RUN_TEST(test_request_fields);
	RUN_TEST(test_base64);
	return TAP_DONE();
}
