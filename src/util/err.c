/*
 * Errors as values (crun style): a fallible function takes `struct err **`
 * last, returns -1 and sets it. err_wrap prefixes context. The first error
 * wins: err_set never overwrites one already set, so a rollback cannot hide
 * the original cause.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

static struct err *err_vnew(enum err_kind, const char *, va_list)
    PRINTFLIKE(2, 0);

static struct err *
err_vnew(enum err_kind kind, const char *fmt, va_list ap)
{
	struct err *e = xcalloc(1, sizeof *e);

	e->kind = kind;
	if (vasprintf(&e->msg, fmt, ap) == -1)
		fatal("err_vnew");
	return e;
}

struct err *
err_new(enum err_kind kind, const char *fmt, ...)
{
	struct err *e;
	va_list ap;

	va_start(ap, fmt);
	e = err_vnew(kind, fmt, ap);
	va_end(ap);
	return e;
}

int
err_set(struct err **errp, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (errp == NULL || *errp != NULL)
		return -1;
	va_start(ap, fmt);
	*errp = err_vnew(kind, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_wrap(struct err **errp, const char *fmt, ...)
{
	va_list ap;
	char *ctx, *msg;

	if (errp == NULL || *errp == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) == -1)
		fatal("err_wrap");
	va_end(ap);
	msg = xasprintf("%s: %s", ctx, (*errp)->msg);
	free(ctx);
	free((*errp)->msg);
	(*errp)->msg = msg;
	return -1;
}

struct err *
err_dup(const struct err *e)
{
	struct err *d;

	if (e == NULL)
		return NULL;
	d = xcalloc(1, sizeof *d);
	d->kind = e->kind;
	d->http_status = e->http_status;
	d->msg = xstrdup(e->msg);
	return d;
}

void
err_free(struct err **errp)
{
	if (errp == NULL || *errp == NULL)
		return;
	free((*errp)->msg);
	free(*errp);
	*errp = NULL;
}
