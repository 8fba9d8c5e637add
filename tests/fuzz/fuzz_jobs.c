/* Fuzz the batch job-line parser: any bytes give a job or a line error. */
#include <stdint.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct batch_job j;
	struct isol8_request req;
	struct engine_limits lim;
	int rc;

	rc = batch_job_parse((const char *)data, len, 1, "/nonexistent", &j);
	if (j.id == NULL || (rc == -1) != (j.error != NULL))
		__builtin_trap();
	if (rc == 0 && (j.code == NULL) + (j.cmd == NULL) != 1)
		__builtin_trap();
	/* A job's limits, as parsed, are ones the engine takes. */
	if (rc == 0) {
		isol8_request_init(&req);
		if (j.timeout_ms)
			req.timeout_ms = j.timeout_ms;
		if (j.memory)
			req.memory = j.memory;
		if (j.cpus > 0)
			req.cpus = j.cpus;
		if (j.pids)
			req.pids = j.pids;
		if (engine_limits(&req, &lim, NULL) == -1)
			__builtin_trap();
	}
	batch_job_free(&j);
	return 0;
}
