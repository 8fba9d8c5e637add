/*
 * Base64 (RFC 4648, with padding), for file contents in JSON results.
 */
#include <string.h>

#include "util.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
base64_encode(struct buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	char q[4];
	size_t i;

	buf_reserve(b, (len + 2) / 3 * 4);
	for (i = 0; i + 2 < len; i += 3) {
		q[0] = b64[p[i] >> 2];
		q[1] = b64[(p[i] & 3) << 4 | p[i + 1] >> 4];
		q[2] = b64[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		q[3] = b64[p[i + 2] & 63];
		buf_add(b, q, 4);
	}
	if (i < len) {
		q[0] = b64[p[i] >> 2];
		if (i + 1 < len) {
			q[1] = b64[(p[i] & 3) << 4 | p[i + 1] >> 4];
			q[2] = b64[(p[i + 1] & 15) << 2];
		} else {
			q[1] = b64[(p[i] & 3) << 4];
			q[2] = '=';
		}
		q[3] = '=';
		buf_add(b, q, 4);
	}
}
