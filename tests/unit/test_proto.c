/* agent protocol: frames and TLV payloads, round trips and malformed input. */
#include <string.h>

#include "tap.h"
#include "agent/proto.h"

static int
test_run_roundtrip(void)
{
	struct proto_buf b = { 0 };
	struct proto_run r;
	uint32_t len;
	size_t at;
	int type;

	at = proto_frame_begin(&b, PROTO_RUN);
	proto_tlv_str(&b, PROTO_T_ARGV, "python3");
	proto_tlv_str(&b, PROTO_T_ARGV, "");
	proto_tlv_str(&b, PROTO_T_ENV, "A=1");
	proto_tlv_str(&b, PROTO_T_CWD, "/sandbox");
	proto_tlv_u64(&b, PROTO_T_TIMEOUT_MS, 1234);
	proto_tlv_u64(&b, PROTO_T_OUTPUT_CAP, 1 << 20);
	proto_tlv_u64(&b, PROTO_T_STDIN, 1);
	proto_tlv_u64(&b, 999, 5); /* unknown tags are skipped */
	proto_frame_end(&b, at);
	CHECK(proto_header(b.data, &type, &len) == 0);
	CHECK(type == PROTO_RUN && len == b.len - PROTO_HDR_LEN);
	CHECK(proto_run_decode(b.data + 8, len, &r) == 0);
	CHECK(r.argc == 2 && strcmp(r.argv[0], "python3") == 0);
	CHECK(strcmp(r.argv[1], "") == 0 && r.argv[2] == NULL);
	CHECK(r.envc == 1 && strcmp(r.env[0], "A=1") == 0);
	CHECK(strcmp(r.cwd, "/sandbox") == 0);
	CHECK(r.timeout_ms == 1234 && r.output_cap == 1 << 20);
	CHECK(r.stdin_pipe == 1 && r.oneshot == 0);
	proto_buf_free(&b);
	return 0;
}

static int
test_run_rejects_malformed(void)
{
	struct proto_buf b = { 0 };
	struct proto_run r;
	size_t i;

	/* No argv. */
	proto_tlv_str(&b, PROTO_T_CWD, "/sandbox");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	/* A string without its NUL, and one with a NUL inside. */
	proto_tlv(&b, PROTO_T_ARGV, "abc", 3);
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	proto_tlv(&b, PROTO_T_ARGV, "a\0b", 4);
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	/* An env entry without '='. */
	proto_tlv_str(&b, PROTO_T_ARGV, "x");
	proto_tlv_str(&b, PROTO_T_ENV, "NOEQUALS");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	/* A number of the wrong width. */
	proto_tlv_str(&b, PROTO_T_ARGV, "x");
	proto_tlv(&b, PROTO_T_TIMEOUT_MS, "1234", 4);
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	/* Every truncation of a valid payload is rejected or still valid. */
	proto_tlv_str(&b, PROTO_T_ARGV, "python3");
	proto_tlv_u64(&b, PROTO_T_TIMEOUT_MS, 5);
	for (i = 1; i < b.len; i++)
		CHECK(proto_run_decode(b.data, (uint32_t)i, &r) == -1 ||
		    i == 6 + 8);
	proto_buf_free(&b);
	return 0;
}

static int
test_too_many_args(void)
{
	struct proto_buf b = { 0 };
	struct proto_run r;
	int i;

	for (i = 0; i < PROTO_MAX_ARGS + 1; i++)
		proto_tlv_str(&b, PROTO_T_ARGV, "a");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	return 0;
}

/* A session kernel's argv: decoded in order, bounded, never empty. */
static int
test_kernel_argv(void)
{
	struct proto_buf b = { 0 };
	struct proto_run r;
	int i;

	proto_tlv_str(&b, PROTO_T_ARGV, "python3");
	proto_tlv_str(&b, PROTO_T_KERNEL, "python3");
	proto_tlv_str(&b, PROTO_T_KERNEL, "/usr/lib/isol8/kernel.py");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == 0);
	CHECK(r.kernelc == 2 &&
	    strcmp(r.kernel[1], "/usr/lib/isol8/kernel.py") == 0);
	CHECK(r.kernel[2] == NULL);
	proto_buf_free(&b);
	proto_tlv_str(&b, PROTO_T_ARGV, "x");
	proto_tlv(&b, PROTO_T_KERNEL, "", 1);
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	proto_tlv_str(&b, PROTO_T_ARGV, "x");
	for (i = 0; i < PROTO_MAX_KERNEL_ARGS + 1; i++)
		proto_tlv_str(&b, PROTO_T_KERNEL, "k");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == -1);
	proto_buf_free(&b);
	/* A plain run has none. */
	proto_tlv_str(&b, PROTO_T_ARGV, "x");
	CHECK(proto_run_decode(b.data, (uint32_t)b.len, &r) == 0);
	CHECK(r.kernelc == 0 && r.kernel[0] == NULL);
	proto_buf_free(&b);
	return 0;
}

static int
test_header_limits(void)
{
	unsigned char h[8] = { PROTO_OUT, 0, 0, 0, 0, 0x10, 0, 0 };
	uint32_t len;
	int type;

	CHECK(proto_header(h, &type, &len) == 0 && len == PROTO_MAX_PAYLOAD);
	h[5] = 0x10, h[7] = 1;
	CHECK(proto_header(h, &type, &len) == -1);
	h[5] = 0, h[7] = 0, h[2] = 1;
	CHECK(proto_header(h, &type, &len) == -1);
	return 0;
}

static int
test_exit_and_file_roundtrip(void)
{
	struct proto_buf b = { 0 };
	struct proto_exit x;
	struct proto_file f;

	proto_tlv_u64(&b, PROTO_T_EXIT_CODE, 137);
	proto_tlv_u64(&b, PROTO_T_SIGNAL, 9);
	proto_tlv_u64(&b, PROTO_T_FLAGS, PROTO_F_OOM | PROTO_F_TRUNCATED);
	CHECK(proto_exit_decode(b.data, (uint32_t)b.len, &x) == 0);
	CHECK(x.exit_code == 137 && x.signal == 9);
	CHECK(x.flags == (PROTO_F_OOM | PROTO_F_TRUNCATED));
	proto_buf_free(&b);
	proto_tlv_u64(&b, PROTO_T_SIGNAL, 9); /* no exit code */
	CHECK(proto_exit_decode(b.data, (uint32_t)b.len, &x) == -1);
	proto_buf_free(&b);

	proto_tlv_str(&b, PROTO_T_PATH, "/sandbox/a");
	proto_tlv(&b, PROTO_T_DATA, "xyz", 3);
	proto_tlv_u64(&b, PROTO_T_END, 1);
	CHECK(proto_file_decode(b.data, (uint32_t)b.len, &f) == 0);
	CHECK(strcmp(f.path, "/sandbox/a") == 0 && f.len == 3 && f.end);
	CHECK(memcmp(f.data, "xyz", 3) == 0 && f.mode == 0644);
	proto_buf_free(&b);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_run_roundtrip);
	RUN_TEST(test_run_rejects_malformed);
	RUN_TEST(test_too_many_args);
	RUN_TEST(test_kernel_argv);
	RUN_TEST(test_header_limits);
	RUN_TEST(test_exit_and_file_roundtrip);
	return TAP_DONE();
}
