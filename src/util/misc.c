/*
 * Small helpers: monotonic time, number and size parsing for flags and
 * config values, bounded file reads, randomness from the kernel, and the
 * cleanup-attribute functions.
 */
#include <sys/random.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
now_ms(void)
{
	return now_us() / 1000;
}

/* A decimal integer in [0, max]; -1 on anything else. */
int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "512m", "1g", "64k", "1.5g", "1048576" (bytes); suffixes are powers of 1024. */
int
parse_size(const char *s, uint64_t *out)
{
	double v, mult = 1;
	char *end;

	if (s == NULL || !(isdigit((unsigned char)*s) || *s == '.'))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case 'k':
		mult = 1024.0;
		end++;
		break;
	case 'm':
		mult = 1024.0 * 1024;
		end++;
		break;
	case 'g':
		mult = 1024.0 * 1024 * 1024;
		end++;
		break;
	case 't':
		mult = 1024.0 * 1024 * 1024 * 1024;
		end++;
		break;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end != '\0' || v * mult > 9e18)
		return -1;
	*out = (uint64_t)(v * mult);
	return 0;
}

/* Read a whole file of at most max bytes. */
int
read_file(const char *path, size_t max, struct buf *b, struct err **errp)
{
	cleanup_close int fd = -1;
	char chunk[65536];
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_set(errp, ERR_INVALID, "cannot open `%s`: %s", path,
		    strerror(errno));
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return err_set(errp, ERR_SYS, "reading `%s`: %s", path,
			    strerror(errno));
		}
		if (b->len + (size_t)n > max)
			return err_set(errp, ERR_LIMIT,
			    "`%s` is larger than "
			    "%zu bytes",
			    path, max);
		buf_add(b, chunk, (size_t)n);
	}
	return 0;
}

/* Fill p with random bytes from the kernel (getrandom(2)). */
void
random_bytes(void *p, size_t n)
{
	unsigned char *b = p;
	ssize_t got;

	while (n > 0) {
		got = getrandom(b, n, 0);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			fatal("getrandom"); /* no entropy source: cannot go on */
		b += got, n -= (size_t)got;
	}
}

/* nbytes random bytes as 2*nbytes hex digits and a NUL, into out. */
void
random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[64];
	size_t i;

	if (nbytes > sizeof r)
		nbytes = sizeof r;
	random_bytes(r, nbytes);
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* A uniformly random number below n (n > 0). */
uint32_t
random_below(uint32_t n)
{
	uint32_t r, limit = UINT32_MAX - UINT32_MAX % n;

	do
		random_bytes(&r, sizeof r);
	while (r >= limit);
	return r % n;
}

void
cleanup_freep(void *p)
{
	free(*(void **)p);
}

void
cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

void
cleanup_filep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

void
cleanup_yajlp(yajl_val *v)
{
	yajl_tree_free(*v);
}

void
cleanup_bufp(struct buf *b)
{
	buf_free(b);
}

void
cleanup_errp(struct err **e)
{
	err_free(e);
}
