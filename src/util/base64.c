/*
 * Base64 (RFC 4648, with padding), for bytes in JSON: file contents in
 * results, and code, stdin and output that are not valid UTF-8 on the
 * server's wire (docs/api.md). Decoding is strict: the alphabet, padding
 * only at the end, a length that is a multiple of 4.
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

static int
b64_value(unsigned char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

/*
 * Decode len bytes of text into b (appended); -1 when the text is not
 * base64 (nothing is appended then).
 */
int
base64_decode(struct buf *b, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t start = b->len, i;
	unsigned char out[3];
	int v[4], k, pad;

	if (len % 4 != 0)
		return -1;
	buf_reserve(b, len / 4 * 3);
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 ||
			    (v[k] = b64_value(s[i + k])) < 0) {
				b->len = start;
				if (b->data != NULL)
					b->data[start] = '\0';
				return -1;
			}
		}
		out[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		out[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		buf_add(b, out, 3 - (size_t)pad);
	}
	return 0;
}
