/* Fuzz the configuration file parser (strict keys, sizes, numbers). */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char path[64];
	struct cli_config c;
	char msg[512];
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof path, "/tmp/isol8-fuzz-config-%d",
		    (int)getpid());
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, len, f);
	fclose(f);
	if (config_load(&c, path, msg, sizeof msg) == 0 &&
	    (c.timeout_ms == 0 || c.memory == 0 || c.pids <= 0))
		__builtin_trap();
	config_free(&c);
	unlink(path);
	return 0;
}
