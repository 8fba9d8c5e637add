/* Fuzz the batch job-line parser: any bytes give a job or a line error. */
#include <stdint.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct batch_job j;
	int rc;

	rc = batch_job_parse((const char *)data, len, 1, "/nonexistent", &j);
	if (j.id == NULL || (rc == -1) != (j.error != NULL))
		__builtin_trap();
	if (rc == 0 && (j.code == NULL) + (j.cmd == NULL) != 1)
		__builtin_trap();
	batch_job_free(&j);
	return 0;
}
