/*
 * Small helpers: monotonic time, strict parsing of numbers, sizes and
 * durations (plain decimals only, independent of the locale, saturating
 * instead of wrapping: the engine's limits check the result), bounded file
 * reads, randomness from the kernel, and the cleanup-attribute functions.
 */
#include <sys/random.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* 10^n as a double: exact up to 10^22, then as close as repeated products. */
static double
pow10_of(int n)
{
	double p = 1;

	while (n-- > 0)
		p *= 10;
	return p;
}

/*
 * A plain decimal number at the start of s -- digits, an optional fraction,
 * an optional exponent ("1.5", ".5", "1e3") -- into *v, and *end past it.
 * Nothing else is a number: no sign, space, hex, "nan" or "inf"; -1 then.
 * Computed without strtod(), so the caller's locale cannot change what a
 * number means; too large a number gives HUGE_VAL (over any bound).
 */
int
parse_number(const char *s, double *v, const char **end)
{
	uint64_t mant = 0;
	long exp10 = 0, e = 0;
	const char *p = s, *q;
	int digits = 0, sig = 0, eneg = 0;

	if (s == NULL)
		return -1;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (sig < 19) {
			mant = mant * 10 + (uint64_t)(*p - '0');
			sig += mant != 0;
		} else
			exp10++; /* past 19 digits only the magnitude counts */
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			if (sig < 19) {
				mant = mant * 10 + (uint64_t)(*p - '0');
				sig += mant != 0;
				exp10--;
			}
		}
	}
	if (digits == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		q = p + 1;
		if (*q == '+' || *q == '-')
			eneg = *q++ == '-';
		if (isdigit((unsigned char)*q)) {
			for (; isdigit((unsigned char)*q); q++)
				if (e < 100000)
					e = e * 10 + (*q - '0');
			exp10 += eneg ? -e : e;
			p = q;
		}
	}
	*end = p;
	if (mant == 0)
		*v = 0;
	else if (exp10 > 400)
		*v = HUGE_VAL;
	else if (exp10 < -400)
		*v = 0;
	else if (exp10 >= 0)
		*v = (double)mant * pow10_of((int)exp10);
	else
		*v = (double)mant / pow10_of((int)-exp10);
	return 0;
}

/* v in whole units, rounded down; UINT64_MAX when it does not fit. */
static uint64_t
whole(double v)
{
	return v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
}

/*
 * A size in bytes: a number with an optional k, m, g or t (powers of 1024)
 * and an optional b -- "512m", "1.5g", "64KB", "1048576". Rounded down to
 * whole bytes; too large a size gives UINT64_MAX (over any bound).
 */
int
parse_size(const char *s, uint64_t *out)
{
	const char *end;
	double v, mult = 1;

	if (parse_number(s, &v, &end) == -1)
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
	if (*end != '\0')
		return -1;
	*out = whole(v * mult);
	return 0;
}

/*
 * A duration in milliseconds: a number, alone (milliseconds) or with a unit
 * ms, s, m or h -- "30000", "30s", "1.5m". Rounded down to whole
 * milliseconds; too long a duration gives UINT64_MAX.
 */
int
parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 } };
	const char *end;
	double v;
	size_t i;

	if (parse_number(s, &v, &end) == -1)
		return -1;
	for (i = 0; i < nitems(units); i++)
		if (strcasecmp(end, units[i].unit) == 0) {
			*out = whole(v * units[i].ms);
			return 0;
		}
	return -1;
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
			    "`%s` is larger than %zu bytes", path, max);
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
			fatal(
			    "getrandom"); /* no entropy source: cannot go on */
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
