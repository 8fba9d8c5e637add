/*
 * Fuzz the filtered network's request parser with what a sandbox sends:
 * any bytes give a target that is a clean host name or address and a
 * valid port, or a refusal -- never a read past the head.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct egress_target t;
	struct buf req = { 0 };
	char *head = malloc(len + 1), *end;
	int port;

	memcpy(head, data, len);
	head[len] = '\0';
	if ((end = strstr(head, "\r\n\r\n")) != NULL &&
	    egress_parse(head, (size_t)(end - head), &t, &req) == 0) {
		port = atoi(t.port);
		if (t.host[0] == '\0' || port <= 0 || port > 65535 ||
		    strspn(
		        t.host, "abcdefghijklmnopqrstuvwxyz0123456789.-_:") !=
		        strlen(t.host) ||
		    (!t.tunnel && (req.len == 0 || buf_cstr(&req)[0] == ' ')))
			__builtin_trap();
	}
	buf_free(&req);
	free(head);
	return 0;
}
