/* util: sizes, numbers, SHA-256 test vectors, buffers, JSON helpers. */
#include <math.h>
#include <string.h>

#include "tap.h"
#include "util/util.h"

/* Numbers are plain decimals: no sign, space, hex, nan or inf. */
static int
test_parse_number(void)
{
	static const char *const bad[] = { "", ".", "-1", "+1", "-0", " 1",
		"nan", "NaN", "inf", "infinity", "e5", "x", NULL };
	const char *end;
	double v;
	size_t i;

	CHECK(parse_number("0.5", &v, &end) == 0 && v == 0.5 && *end == 0);
	CHECK(parse_number("0.01", &v, &end) == 0 && v == 0.01);
	CHECK(parse_number(".5", &v, &end) == 0 && v == 0.5);
	CHECK(parse_number("1.", &v, &end) == 0 && v == 1);
	CHECK(parse_number("2.0000001", &v, &end) == 0 && v == 2.0000001);
	CHECK(parse_number("1e3", &v, &end) == 0 && v == 1000 && *end == 0);
	CHECK(parse_number("5E-1", &v, &end) == 0 && v == 0.5);
	CHECK(parse_number("007", &v, &end) == 0 && v == 7);
	CHECK(parse_number("4194305", &v, &end) == 0 && v == 4194305);
	CHECK(parse_number("1125899906842625", &v, &end) == 0 &&
	    v == 1125899906842625.0);
	/* The number stops where the grammar does; the rest is the caller's. */
	CHECK(parse_number("0x10", &v, &end) == 0 && v == 0 &&
	    strcmp(end, "x10") == 0);
	CHECK(parse_number("12abc", &v, &end) == 0 && strcmp(end, "abc") == 0);
	CHECK(parse_number("1e", &v, &end) == 0 && strcmp(end, "e") == 0);
	CHECK(parse_number("1 ", &v, &end) == 0 && strcmp(end, " ") == 0);
	/* Too large: over any bound, never a wrapped or UB value. */
	CHECK(parse_number("1e30", &v, &end) == 0 && v > 0.999e30 &&
	    v < 1.001e30);
	CHECK(parse_number("1e999", &v, &end) == 0 && v == HUGE_VAL);
	CHECK(parse_number("99999999999999999999999999", &v, &end) == 0 &&
	    v > 9.9e25 && v < 1.1e26);
	CHECK(parse_number("1e-999", &v, &end) == 0 && v == 0);
	for (i = 0; bad[i] != NULL; i++)
		if (parse_number(bad[i], &v, &end) != -1) {
			fprintf(stderr, "accepted `%s`\n", bad[i]);
			return 1;
		}
	return 0;
}

static int
test_parse_size(void)
{
	static const char *const bad[] = { "", "m", "-1m", "12x", "12abc",
		"0x10", " 5m", "5m ", "5 m", "nan", "inf", "-0", "1mm", "1kbb",
		"1e", NULL };
	uint64_t v;
	size_t i;

	CHECK(parse_size("512m", &v) == 0 && v == 512ull << 20);
	CHECK(parse_size("1g", &v) == 0 && v == 1ull << 30);
	CHECK(parse_size("64K", &v) == 0 && v == 64ull << 10);
	CHECK(parse_size("1.5g", &v) == 0 && v == 3ull << 29);
	CHECK(parse_size("100", &v) == 0 && v == 100);
	CHECK(parse_size("2mb", &v) == 0 && v == 2ull << 20);
	CHECK(parse_size("1e3", &v) == 0 && v == 1000);
	CHECK(parse_size("0.1k", &v) == 0 && v == 102); /* rounded down */
	CHECK(parse_size("0", &v) == 0 && v == 0);
	/* Overflow saturates: over every bound, never wrapped. */
	CHECK(parse_size("99999999999g", &v) == 0 && v == UINT64_MAX);
	CHECK(parse_size("1e30g", &v) == 0 && v == UINT64_MAX);
	CHECK(parse_size("18446744073709551616", &v) == 0 && v == UINT64_MAX);
	for (i = 0; bad[i] != NULL; i++)
		if (parse_size(bad[i], &v) != -1) {
			fprintf(stderr, "accepted `%s`\n", bad[i]);
			return 1;
		}
	return 0;
}

static int
test_parse_duration(void)
{
	static const char *const bad[] = { "", "s", "-1", "30x", "30 s", " 30",
		"0x10", "nan", "inf", "1sec", "1e", NULL };
	uint64_t v;
	size_t i;

	CHECK(parse_duration("30000", &v) == 0 && v == 30000);
	CHECK(parse_duration("500ms", &v) == 0 && v == 500);
	CHECK(parse_duration("30s", &v) == 0 && v == 30000);
	CHECK(parse_duration("1.5m", &v) == 0 && v == 90000);
	CHECK(parse_duration("1H", &v) == 0 && v == 3600000);
	CHECK(parse_duration("1.9", &v) == 0 && v == 1); /* whole ms */
	CHECK(parse_duration("1e30", &v) == 0 && v == UINT64_MAX);
	for (i = 0; bad[i] != NULL; i++)
		if (parse_duration(bad[i], &v) != -1) {
			fprintf(stderr, "accepted `%s`\n", bad[i]);
			return 1;
		}
	return 0;
}

static int
test_parse_uint(void)
{
	uint64_t v;

	CHECK(parse_uint("30000", 100000, &v) == 0 && v == 30000);
	CHECK(parse_uint("100001", 100000, &v) == -1);
	CHECK(parse_uint("12a", 100, &v) == -1);
	CHECK(parse_uint("-3", 100, &v) == -1);
	CHECK(parse_uint(" 3", 100, &v) == -1);
	CHECK(parse_uint("99999999999999999999999", UINT64_MAX, &v) == -1);
	return 0;
}

static int
test_sha256_vectors(void)
{
	struct sha256 h;
	char hex[65];
	char million[1000];
	int i;

	sha256_init(&h);
	sha256_hex(&h, hex);
	CHECK(
	    strcmp(hex,
	        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
	    0);
	sha256_init(&h);
	sha256_add(&h, "abc", 3);
	sha256_hex(&h, hex);
	CHECK(
	    strcmp(hex,
	        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
	    0);
	/* One million 'a', fed in uneven pieces. */
	memset(million, 'a', sizeof million);
	sha256_init(&h);
	for (i = 0; i < 1000; i++)
		sha256_add(&h, million, 1000);
	sha256_hex(&h, hex);
	CHECK(
	    strcmp(hex,
	        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") ==
	    0);
	return 0;
}

static int
test_buf(void)
{
	struct buf b = { 0 };
	int i;

	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
	buf_drain(&b, 2);
	CHECK(strncmp(b.data, "1,2,", 4) == 0);
	buf_drain(&b, b.len + 10);
	CHECK(b.len == 0 && buf_cstr(&b)[0] == '\0');
	buf_free(&b);
	CHECK(be32_get("\x01\x02\x03\x04") == 0x01020304);
	return 0;
}

static int
test_json_parse_limits(void)
{
	struct err *e = NULL;
	yajl_val v;
	long long n;
	static char big[JSON_MAX_BODY + 2];

	v = json_parse("{\"a\":{\"b\":\"c\",\"n\":7}}", 21, &e);
	CHECK(v != NULL && e == NULL);
	CHECK(strcmp(json_str(v, "a", "b", NULL), "c") == 0);
	CHECK(json_int(v, &n, "a", "n", NULL) == 0 && n == 7);
	CHECK(json_str(v, "a", "missing", NULL) == NULL);
	CHECK(json_str(v, "a", "n", NULL) == NULL);
	yajl_tree_free(v);

	CHECK(json_parse("{\"a\":", 5, &e) == NULL);
	CHECK(e != NULL && e->kind == ERR_PROTO);
	err_free(&e);
	CHECK(json_parse("{\"a\":\0}", 7, &e) == NULL && e->kind == ERR_PROTO);
	err_free(&e);
	memset(big, ' ', sizeof big);
	CHECK(json_parse(big, sizeof big, &e) == NULL && e->kind == ERR_LIMIT);
	err_free(&e);
	/*
	 * Nesting: JSON_MAX_DEPTH levels parse, one more is refused before
	 * yajl builds it (4 million levels used to overflow the stack when
	 * yajl freed its tree); brackets inside strings do not count.
	 */
	memset(big, '[', JSON_MAX_DEPTH);
	memset(big + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	v = json_parse(big, 2 * JSON_MAX_DEPTH, &e);
	CHECK(v != NULL && e == NULL);
	yajl_tree_free(v);
	big[0] = '{';
	memcpy(big + 1, "\"a\":", 4);
	memset(big + 5, '[', JSON_MAX_DEPTH);
	CHECK(json_parse(big, 5 + JSON_MAX_DEPTH, &e) == NULL);
	CHECK(e->kind == ERR_LIMIT && strstr(e->msg, "deeper") != NULL);
	err_free(&e);
	memset(big, '[', 1u << 20);
	memset(big + (1u << 20), ']', 1u << 20);
	CHECK(json_parse(big, 2u << 20, &e) == NULL && e->kind == ERR_LIMIT);
	err_free(&e);
	v = json_parse("[\"[[[[\\\"[[\"]", strlen("[\"[[[[\\\"[[\"]"), &e);
	CHECK(v != NULL && YAJL_IS_ARRAY(v));
	yajl_tree_free(v);
	return 0;
}

/* A string generated by yajl, quotes included, as a C string in b. */
static const char *
gen_string(struct buf *b, const char *s, size_t len)
{
	yajl_gen g = json_gen_new();

	buf_drain(b, b->len);
	json_strn_add(g, s, len);
	json_gen_take(g, b);
	return buf_cstr(b);
}

static int
test_json_gen_utf8(void)
{
	struct buf b = { 0 }, tmp = { 0 };
	yajl_gen g;
	size_t n;

	/* Escapes as JSON wants them (yajl writes \u001F upper case). */
	CHECK(strcmp(gen_string(&b, "a\"b\\c\n\x01", 7),
	          "\"a\\\"b\\\\c\\n\\u0001\"") == 0);
	CHECK(strcmp(gen_string(&b, "x\0y", 3), "\"x\\u0000y\"") == 0);
	/* Valid UTF-8 passes; an invalid byte becomes U+FFFD. */
	CHECK(strcmp(gen_string(&b, "\xc3\xa9\xff", 3),
	          "\"\xc3\xa9\xef\xbf\xbd\"") == 0);
	/* Truncated sequence and overlong encoding are replaced. */
	CHECK(strcmp(gen_string(&b, "\xe2\x82", 2),
	          "\"\xef\xbf\xbd\xef\xbf\xbd\"") == 0);
	CHECK(strcmp(gen_string(&b, "\xc0\xaf", 2),
	          "\"\xef\xbf\xbd\xef\xbf\xbd\"") == 0);
	/* A surrogate and a code point over U+10FFFF. */
	CHECK(strcmp(gen_string(&b, "\xed\xa0\x80", 3),
	          "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"") == 0);
	CHECK(
	    strcmp(gen_string(&b, "\xf4\x90\x80\x80!", 5),
	        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"") == 0);
	/* Valid text is returned as it is, without a copy. */
	CHECK(json_utf8("\xf0\x9f\x98\x80", 4, &tmp, &n)[0] == '\xf0');
	CHECK(n == 4 && tmp.len == 0);
	/* Numbers: exact 64-bit, and formatted as asked. */
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_kuint(g, "u", UINT64_MAX);
	json_knumf(g, "f", "%.2f", 1.0);
	json_kstr_or_null(g, "n", NULL);
	yajl_gen_map_close(g);
	buf_drain(&b, b.len);
	json_gen_take(g, &b);
	CHECK(strcmp(buf_cstr(&b),
	          "{\"u\":18446744073709551615,\"f\":1.00,\"n\":null}") == 0);
	buf_free(&b);
	buf_free(&tmp);
	return 0;
}

static int
test_err_first_wins(void)
{
	struct err *e = NULL;

	CHECK(err_set(&e, ERR_DOCKER, "first %d", 1) == -1);
	err_set(&e, ERR_SYS, "second");
	CHECK(e->kind == ERR_DOCKER && strcmp(e->msg, "first 1") == 0);
	err_wrap(&e, "creating `%s`", "x");
	CHECK(strcmp(e->msg, "creating `x`: first 1") == 0);
	err_free(&e);
	CHECK(e == NULL);
	return 0;
}

/* Within 1 % of the true nearest-rank percentile, min and max exact. */
static int
test_hist_percentiles(void)
{
	static struct hist h; /* 10 KB: not on the stack */
	double p, got, want;
	int i;

	hist_init(&h);
	CHECK(hist_pct(&h, 50) == -1);
	/* 1..10000 ms: the p-th percentile is p * 100 ms. */
	for (i = 10000; i >= 1; i--)
		hist_add(&h, (double)i);
	CHECK(h.n == 10000);
	CHECK(hist_pct(&h, 0) == 1 && hist_pct(&h, 100) == 10000);
	for (p = 1; p < 100; p += 7) {
		got = hist_pct(&h, p);
		want = p * 100;
		if (fabs(got - want) > want * 0.01 + 1e-9)
			fprintf(stderr, "p%.0f: %f vs %f\n", p, got, want);
		CHECK(fabs(got - want) <= want * 0.01 + 1e-9);
	}
	CHECK(fabs(hist_pct(&h, 99.9) - 9990) <= 99.9);
	/* One sample: every percentile is that sample. */
	hist_init(&h);
	hist_add(&h, 13.6);
	CHECK(hist_pct(&h, 50) == 13.6 && hist_pct(&h, 99) == 13.6);
	/* Tiny, huge and nonsense values stay in range. */
	hist_add(&h, 0);
	hist_add(&h, -5);
	hist_add(&h, 1e12);
	CHECK(hist_pct(&h, 0) == 0 && hist_pct(&h, 100) == 1e12);
	CHECK(hist_pct(&h, 10) >= 0 && hist_pct(&h, 90) <= 1e12);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_parse_number);
	RUN_TEST(test_parse_size);
	RUN_TEST(test_parse_duration);
	RUN_TEST(test_parse_uint);
	RUN_TEST(test_sha256_vectors);
	RUN_TEST(test_buf);
	RUN_TEST(test_json_parse_limits);
	RUN_TEST(test_json_gen_utf8);
	RUN_TEST(test_err_first_wins);
	RUN_TEST(test_hist_percentiles);
	return TAP_DONE();
}
