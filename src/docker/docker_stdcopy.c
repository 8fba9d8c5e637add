/*
 * Incremental demultiplexer for Docker's stdcopy framing: an 8-byte header
 * (stream 0-3, three zero bytes, big-endian payload length) then the
 * payload. Input may be split anywhere; payload bytes are handed on as they
 * arrive, never buffered, so a frame's length costs no memory.
 */
#include <string.h>

#include "docker.h"

void
stdcopy_init(struct stdcopy *s)
{
	memset(s, 0, sizeof *s);
}

int
stdcopy_feed(struct stdcopy *s, const char *data, size_t len,
    docker_output_cb cb, void *arg, struct err **errp)
{
	size_t take;

	while (len > 0) {
		if (s->left == 0) {
			take = 8 - s->hlen < len ? 8 - s->hlen : len;
			memcpy(s->hdr + s->hlen, data, take);
			s->hlen += take, data += take, len -= take;
			if (s->hlen < 8)
				break;
			if (s->hdr[0] > 3 || s->hdr[1] || s->hdr[2] ||
			    s->hdr[3])
				return err_set(errp, ERR_PROTO,
				    "bad stream frame header %02x %02x %02x %02x",
				    s->hdr[0], s->hdr[1], s->hdr[2], s->hdr[3]);
			s->stream = s->hdr[0];
			s->left = be32_get(s->hdr + 4);
			s->hlen = 0;
			continue;
		}
		take = s->left < len ? s->left : len;
		cb(s->stream, data, take, arg);
		s->left -= (uint32_t)take, data += take, len -= take;
	}
	return 0;
}
