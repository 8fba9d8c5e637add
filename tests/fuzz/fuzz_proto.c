/* Fuzz the agent protocol decoders: headers and every TLV payload kind. */
#include <stdint.h>
#include <string.h>

#include "agent/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct proto_run run;
	struct proto_exit ex;
	struct proto_file f;
	const unsigned char *p = data, *val;
	size_t left = len;
	uint32_t plen, vlen;
	int type, tag, i;

	if (len >= PROTO_HDR_LEN && proto_header(data, &type, &plen) == 0 &&
	    plen > PROTO_MAX_PAYLOAD)
		__builtin_trap();
	if (len > UINT32_MAX)
		return 0;
	if (proto_run_decode(data, (uint32_t)len, &run) == 0) {
		for (i = 0; i < run.argc; i++)
			if (run.argv[i] == NULL || strlen(run.argv[i]) >= len)
				__builtin_trap();
		if (run.argv[run.argc] != NULL || run.env[run.envc] != NULL ||
		    run.kernelc > PROTO_MAX_KERNEL_ARGS ||
		    run.kernel[run.kernelc] != NULL)
			__builtin_trap();
		for (i = 0; i < run.kernelc; i++)
			if (run.kernel[i] == NULL ||
			    (i == 0 && *run.kernel[0] == '\0'))
				__builtin_trap();
	}
	if (proto_file_decode(data, (uint32_t)len, &f) == 0 && f.data != NULL &&
	    (f.data < data || f.data + f.len > data + len))
		__builtin_trap();
	proto_exit_decode(data, (uint32_t)len, &ex);
	while (proto_tlv_next(&p, &left, &tag, &val, &vlen) == 1)
		if (val + vlen > data + len)
			__builtin_trap();
	return 0;
}
