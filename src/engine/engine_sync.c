/*
 * The blocking conveniences: start an async operation with callbacks that
 * collect its results, then turn the engine's loop until it is done.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct sync_run {
	struct buf out;
	struct buf err;
	struct isol8_result result;
	struct isol8_error error;
	int failed;
	int done;
};

static void
sync_stdout(const char *data, size_t len, void *arg)
{
	buf_add(&((struct sync_run *)arg)->out, data, len);
}

static void
sync_stderr(const char *data, size_t len, void *arg)
{
	buf_add(&((struct sync_run *)arg)->err, data, len);
}

static void
sync_done(
    const struct isol8_result *res, const struct isol8_error *e, void *arg)
{
	struct sync_run *s = arg;

	s->result = *res;
	s->result.container_id = NULL;
	if (e != NULL) {
		s->error = *e;
		s->failed = 1;
	}
	s->done = 1;
}

/*
 * Run to completion. 0 when the program ran (whatever its exit code), -1
 * with *errp set when it could not. Output is bounded by max_output.
 */
int
isol8_run_sync(struct isol8_engine *e, const struct isol8_request *req,
    struct isol8_output *out, struct isol8_error *errp)
{
	static const struct isol8_callbacks cbs = { sync_stdout, sync_stderr,
		sync_done };
	struct sync_run s;

	memset(&s, 0, sizeof s);
	memset(out, 0, sizeof *out);
	if (isol8_run_start(e, req, &cbs, &s, errp) == NULL)
		return -1;
	engine_wait(e, &s.done);
	out->stdout_data = xstrdup(buf_cstr(&s.out));
	out->stdout_len = s.out.len;
	out->stderr_data = xstrdup(buf_cstr(&s.err));
	out->stderr_len = s.err.len;
	out->result = s.result;
	buf_free(&s.out);
	buf_free(&s.err);
	if (s.failed) {
		if (errp != NULL)
			*errp = s.error;
		return -1;
	}
	return 0;
}

void
isol8_output_free(struct isol8_output *out)
{
	free(out->stdout_data);
	free(out->stderr_data);
	memset(out, 0, sizeof *out);
}
