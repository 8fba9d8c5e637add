/*
 * Logging to stderr with a level. Messages start with the function name;
 * _warn variants append strerror(errno). fatal/fatalx are for start-up and
 * for what cannot happen: a request path never exits the process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static enum log_level log_level = LOG_LEVEL_WARN;

static void log_vwrite(const char *, const char *, int, va_list)
    PRINTFLIKE(2, 0);

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

static void
log_vwrite(const char *prefix, const char *fmt, int errnum, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	if (errnum != 0)
		fprintf(stderr, "isol8: %s%s: %s\n", prefix, line,
		    strerror(errnum));
	else
		fprintf(stderr, "isol8: %s%s\n", prefix, line);
}

#define LOG_FN(name, level, prefix, witherr)                                   \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		int e = errno;                                                 \
		if (!log_enabled(level))                                       \
			return;                                                \
		va_start(ap, fmt);                                             \
		log_vwrite(prefix, fmt, witherr ? e : 0, ap);                  \
		va_end(ap);                                                    \
		errno = e;                                                     \
	}

LOG_FN(log_warn, LOG_LEVEL_WARN, "warning: ", 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, "warning: ", 0)
LOG_FN(log_info, LOG_LEVEL_INFO, "", 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug: ", 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	log_vwrite("fatal: ", fmt, e, ap);
	va_end(ap);
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("fatal: ", fmt, 0, ap);
	va_end(ap);
	abort();
}
