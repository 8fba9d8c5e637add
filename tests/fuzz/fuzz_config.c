/* Fuzz the configuration file parser (strict keys, sizes, numbers). */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[64];
	struct cli_config c;
	struct isol8_request req;
	struct engine_limits lim;
	struct isol8_engine_opts eo;
	struct err *e = NULL;
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof path, "/tmp/isol8-fuzz-config-%d",
		    (int)getpid());
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, len, f);
	fclose(f);
	/* Whatever the file sets, the engine takes: one table for both. */
	if (config_load(&c, path, &e) == 0) {
		isol8_request_init(&req);
		config_request(&c, &req);
		config_engine_opts(&c, &eo);
		if (engine_limits(&req, &lim, NULL) == -1 ||
		    engine_limits_opts(&eo, NULL) == -1)
			__builtin_trap();
	}
	err_free(&e);
	config_free(&c);
	unlink(path);
	return 0;
}
