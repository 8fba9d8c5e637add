/*
 * Sessions through the library: a 5 MB binary file (every byte value,
 * NULs included) put into a session and read back intact; a run in the
 * session sees it; paths that leave /sandbox are refused. Python
 * variables persist between runs (the session's kernel), and
 * result.state_lost says when a timeout ended that interpreter (LOST) and
 * when the next run started a fresh one (FRESH).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "isol8.h"
#include "support.h"

#define BIG (5u << 20)

static int
test_put_get_5mb(void)
{
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_error err;
	struct isol8_output out;
	char name[64], *back = NULL, *data;
	size_t len = 0, i;

	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
	snprintf(name, sizeof name, "lib%d", (int)getpid());
	isol8_request_init(&req);
	req.session = name;
	req.runtime = "bash";
	data = malloc(BIG);
	for (i = 0; i < BIG; i++)
		data[i] = (char)(i * 7 + i / 251);
	CHECK(isol8_session_put_file(
	          e, &req, "dir/blob.bin", data, BIG, &err) == 0);
	req.code = "wc -c < /sandbox/dir/blob.bin";
	CHECK(isol8_run_sync(e, &req, &out, &err) == 0);
	CHECK(atoi(out.stdout_data) == (int)BIG);
	isol8_output_free(&out);
	req.code = NULL;
	CHECK(isol8_session_get_file(
	          e, &req, "dir/blob.bin", &back, &len, &err) == 0);
	CHECK(len == BIG && memcmp(back, data, BIG) == 0);
	free(back);
	CHECK(isol8_session_get_file(
	          e, &req, "../etc/passwd", &back, &len, &err) == -1 &&
	    err.code == ISOL8_EINVAL);
	CHECK(
	    isol8_session_put_file(e, &req, "/etc/evil", "x", 1, &err) == -1 &&
	    err.code == ISOL8_EINVAL);
	CHECK(isol8_session_get_file(e, &req, "missing", &back, &len, &err) ==
	        -1 &&
	    err.code == ISOL8_ENOTFOUND);
	CHECK(isol8_session_remove(e, name, &err) == 0);
	/* Reading from a session that does not exist makes none. */
	CHECK(isol8_session_get_file(
	          e, &req, "dir/blob.bin", &back, &len, &err) == -1 &&
	    err.code == ISOL8_ENOTFOUND && strstr(err.message, "no session"));
	CHECK(isol8_session_remove(e, name, &err) == -1 &&
	    err.code == ISOL8_ENOTFOUND);
	free(data);
	isol8_engine_free(e);
	return 0;
}

static int
run_in(struct isol8_engine *e, struct isol8_request *req, const char *code,
    struct isol8_output *out)
{
	struct isol8_error err;

	req->code = code;
	return isol8_run_sync(e, req, out, &err);
}

static int
test_kernel_state(void)
{
	struct isol8_engine *e;
	struct isol8_request req;
	struct isol8_error err;
	struct isol8_output out;
	char name[64];

	CHECK((e = isol8_engine_new(NULL, NULL, &err)) != NULL);
	snprintf(name, sizeof name, "libk%d", (int)getpid());
	isol8_request_init(&req);
	req.session = name;
	req.runtime = "python";
	CHECK(run_in(e, &req, "x = 41", &out) == 0);
	CHECK(out.result.state_lost == ISOL8_STATE_KEPT);
	isol8_output_free(&out);
	CHECK(run_in(e, &req, "print(x + 1)", &out) == 0);
	CHECK(strcmp(out.stdout_data, "42\n") == 0);
	isol8_output_free(&out);
	req.timeout_ms = 500;
	CHECK(run_in(e, &req, "while True: pass", &out) == 0);
	CHECK(
	    out.result.timed_out && out.result.state_lost == ISOL8_STATE_LOST);
	isol8_output_free(&out);
	req.timeout_ms = 10000;
	CHECK(run_in(e, &req, "print('x' in globals())", &out) == 0);
	CHECK(strcmp(out.stdout_data, "False\n") == 0);
	CHECK(out.result.state_lost == ISOL8_STATE_FRESH);
	isol8_output_free(&out);
	CHECK(isol8_session_remove(e, name, &err) == 0);
	isol8_engine_free(e);
	return 0;
}

int
main(void)
{
	if (!docker_available())
		return 77;
	RUN_TEST(test_put_get_5mb);
	RUN_TEST(test_kernel_state);
	return TAP_DONE();
}
