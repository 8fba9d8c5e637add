/*
 * Fuzz the request parser (src/api/, behind batch job lines, and later the
 * server): any bytes give a request or an error naming why, a request has
 * exactly one of code, cmd and argv, limits and a workdir the engine
 * takes, and the result writer turns any output into valid JSON of both
 * shapes.
 */
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "engine/engine.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Both result shapes, with the input as the program's output. */
static void
check_results(const struct api_request *r, const uint8_t *data, size_t len)
{
	struct isol8_result res;
	struct api_result a = { 0 };
	struct buf b = { 0 };
	yajl_val v;
	int shape;

	memset(&res, 0, sizeof res);
	res.exit_code = 1;
	a.id = r->id != NULL ? r->id : "1";
	a.runtime = r->req.runtime;
	a.res = &res;
	a.out = (const char *)data;
	a.out_len = len;
	a.err = (const char *)data;
	a.err_len = len / 2;
	for (shape = API_RUN; shape <= API_JOB; shape++) {
		buf_drain(&b, b.len);
		api_result_write((enum api_shape)shape, &a, &b);
		if ((v = json_parse(b.data, b.len, NULL)) == NULL ||
		    !YAJL_IS_OBJECT(v))
			__builtin_trap();
		yajl_tree_free(v);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const struct api_request_opts o = { 1, "/nonexistent" };
	struct api_request r;
	struct isol8_request def;
	struct engine_limits lim;
	struct err *e = NULL;
	int rc;

	rc = api_request_parse((const char *)data, len, &o, &r, &e);
	if ((rc == -1) != (e != NULL) || (e != NULL && e->msg[0] == '\0'))
		__builtin_trap();
	if (rc == 0 &&
	    (r.req.code == NULL) + (r.req.cmd == NULL) + (r.req.argv == NULL) !=
	        2)
		__builtin_trap();
	if (rc == 0 && r.req.argv != NULL && r.req.argv[0] == NULL)
		__builtin_trap();
	if (rc == 0 && isol8_workdir_check(r.req.workdir, NULL) == -1)
		__builtin_trap();
	/* A request's limits, as parsed and with defaults, the engine takes. */
	if (rc == 0) {
		isol8_request_init(&def);
		api_request_defaults(&r, &def);
		if (engine_limits(&r.req, &lim, NULL) == -1)
			__builtin_trap();
	}
	check_results(&r, data, len);
	err_free(&e);
	api_request_free(&r);
	return 0;
}
