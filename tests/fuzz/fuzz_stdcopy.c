/* Fuzz the stdcopy demuxer: any bytes, split at an input-chosen point. */
#include <stdint.h>
#include <string.h>

#include "docker/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
sink(int stream, const char *data, size_t len, void *arg)
{
	size_t *total = arg;

	if (stream < 0 || stream > 3 || (len > 0 && data == NULL))
		__builtin_trap();
	*total += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct stdcopy sc;
	struct err *e = NULL;
	size_t cut, total = 0;

	if (len == 0)
		return 0;
	cut = data[0] % len;
	stdcopy_init(&sc);
	if (stdcopy_feed(&sc, (const char *)data + 1, cut ? cut - 1 : 0, sink,
	        &total, &e) == 0)
		stdcopy_feed(&sc, (const char *)data + (cut ? cut : 1),
		    len - (cut ? cut : 1), sink, &total, &e);
	err_free(&e);
	if (total > len)
		__builtin_trap();
	return 0;
}
