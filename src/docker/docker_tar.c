/*
 * An in-memory ustar writer for build contexts: regular files only, names
 * up to 100 bytes, owner root. Enough for a Dockerfile and the agent.
 */
#include <string.h>

#include "docker.h"

int
tar_add(struct buf *b, const char *name, const void *data, size_t len, int mode,
    struct err **errp)
{
	unsigned char h[512];
	unsigned sum = 0;
	size_t i, pad;

	if (strlen(name) == 0 || strlen(name) > 99)
		return err_set(
		    errp, ERR_INVALID, "tar: bad file name `%s`", name);
	if (len > 077777777777ULL)
		return err_set(errp, ERR_LIMIT, "tar: `%s` is too large", name);
	memset(h, 0, sizeof h);
	memcpy(h, name, strlen(name));
	snprintf((char *)h + 100, 8, "%07o", mode & 07777);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	buf_add(b, h, sizeof h);
	buf_add(b, data, len);
	pad = (512 - len % 512) % 512;
	memset(h, 0, sizeof h);
	buf_add(b, h, pad);
	return 0;
}

void
tar_end(struct buf *b)
{
	static const unsigned char zero[1024];

	buf_add(b, zero, sizeof zero);
}
