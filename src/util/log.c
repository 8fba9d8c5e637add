/*
 * Logging with no global state: a struct log says how verbose to be and
 * where lines go (a callback, or stderr as "isol8: ..." lines). Each engine
 * carries its own in its loop, so two engines in one program log apart.
 * fatal/fatalx are for what cannot be survived (memory exhausted) and never
 * for anything that comes from outside: a request path returns an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void log_vwrite(
    const struct log *, enum log_level, const char *, va_list) PRINTFLIKE(3, 0);

void
log_init(struct log *l, enum log_level level)
{
	memset(l, 0, sizeof *l);
	l->level = level;
}

int
log_enabled(const struct log *l, enum log_level level)
{
	return l != NULL && level <= l->level;
}

static void
log_vwrite(
    const struct log *l, enum log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { [LOG_LEVEL_ERROR] = "error: ",
		[LOG_LEVEL_WARN] = "warning: ",
		[LOG_LEVEL_INFO] = "",
		[LOG_LEVEL_DEBUG] = "debug: " };
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	if (l != NULL && l->cb != NULL)
		l->cb(level, line, l->arg);
	else
		fprintf(stderr, "isol8: %s%s\n", prefix[level], line);
}

#define LOG_FN(name, level)                                                    \
	void name(const struct log *l, const char *fmt, ...)                   \
	{                                                                      \
		va_list ap;                                                    \
		int e = errno;                                                 \
		if (!log_enabled(l, level))                                    \
			return;                                                \
		va_start(ap, fmt);                                             \
		log_vwrite(l, level, fmt, ap);                                 \
		va_end(ap);                                                    \
		errno = e;                                                     \
	}

LOG_FN(log_warnx, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

static void
fatal_write(const char *fmt, int errnum, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	if (errnum != 0)
		fprintf(
		    stderr, "isol8: fatal: %s: %s\n", line, strerror(errnum));
	else
		fprintf(stderr, "isol8: fatal: %s\n", line);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	fatal_write(fmt, e, ap);
	va_end(ap);
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fatal_write(fmt, 0, ap);
	va_end(ap);
	abort();
}
