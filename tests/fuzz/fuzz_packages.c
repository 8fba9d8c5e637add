/*
 * Fuzz the package spec parser (src/images/packages.c). The first byte
 * picks the runtime; the rest, split at NUL bytes, are the items. Whatever
 * is accepted must be safe as one argv element of an installer: no option,
 * no whitespace, control or non-ASCII byte, no quote or shell
 * metacharacter, no path (a '/' only inside an npm or jsr scope), no URL
 * or alias (a ':' only in deno's prefix or a Debian epoch), at most 214
 * bytes. Lists are sorted with one spec per package, normalising is
 * idempotent (the label reads back as written, each spec alone gives
 * itself), and the installers put exactly the specs after their "--".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const runtimes[] = { "python", "node", "bun", "deno",
	"bash" };

#define FAIL() __builtin_trap()

/* One accepted spec of runtime rt: the argv-safety oracle. */
static void
check_spec(const char *rt, const char *s)
{
	size_t len = strlen(s), i, slash = 0, colon = 0;
	const char *body = s, *at;

	if (len == 0 || len > PKG_MAX_LEN)
		FAIL();
	if (s[0] == '-' || s[0] == '.' || s[0] == '/' || s[0] == '~')
		FAIL();
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || strchr("\"'`$;&(){}#?\\%,", c))
			if (!(c == ',' && strcmp(rt, "python") == 0))
				FAIL();
		slash += c == '/';
		colon += c == ':';
	}
	if (strstr(s, "..") != NULL || strstr(s, "://") != NULL)
		FAIL();
	if (strcmp(rt, "deno") == 0) {
		if (strncmp(s, "npm:", 4) != 0 && strncmp(s, "jsr:", 4) != 0)
			FAIL();
		body = s + 4;
		colon--;
		if (body[0] == '-' || body[0] == '.' || body[0] == '\0')
			FAIL();
	}
	if (strcmp(rt, "python") == 0 || strcmp(rt, "bash") == 0) {
		if (slash != 0)
			FAIL();
	} else if (slash > 1 || (slash == 1 && body[0] != '@'))
		FAIL();
	if (slash == 1) {
		/* The scope's slash comes before any version. */
		at = strchr(body + 1, '@');
		if (at != NULL && strchr(body, '/') > at)
			FAIL();
	}
	if (colon > 0 &&
	    !(strcmp(rt, "bash") == 0 && strchr(s, '=') != NULL &&
	        strchr(s, '=') < strchr(s, ':')))
		FAIL();
}

/* Each spec alone normalises to itself. */
static void
check_alone(const char *rt, const char *s)
{
	struct pkgs one = { 0 };
	struct err *e = NULL;
	char *label;

	if (pkgs_from_label(&one, rt, s, &e) == -1 || one.n != 1)
		FAIL();
	label = pkgs_label(&one);
	if (strcmp(label, s) != 0)
		FAIL();
	free(label);
	pkgs_free(&one);
}

/* One spec per package: any two specs make a list of two. */
static void
check_distinct(const char *rt, const struct pkgs *l)
{
	struct err *e = NULL;
	size_t i, j;

	for (i = 0; i < l->n; i++)
		for (j = i + 1; j < l->n; j++) {
			struct pkgs two = { 0 };

			if (pkgs_add(&two, rt, l->v[i], &e) == -1 ||
			    pkgs_from_label(&two, rt, l->v[j], &e) == -1 ||
			    two.n != 2)
				FAIL();
			pkgs_free(&two);
		}
}

/* The installer puts exactly the specs after its "--" (or last). */
static void
check_installer(const char *rt, const struct pkgs *l)
{
	struct install_cmd c;
	struct err *e = NULL;
	size_t i, n = 0, first;

	if (install_cmd(&c, rt, INSTALL_BUILD, NULL, l, &e) == -1)
		FAIL();
	while (c.argv[n] != NULL)
		n++;
	if (n < l->n)
		FAIL();
	first = n - l->n;
	for (i = 0; i < l->n; i++)
		if (strcmp(c.argv[first + i], l->v[i]) != 0)
			FAIL();
	/* Options end before the specs, where the installer can say so. */
	if (strcmp(rt, "bun") != 0 && strcmp(rt, "deno") != 0 &&
	    strcmp(c.argv[first - 1], "--") != 0)
		FAIL();
	install_cmd_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *rt;
	struct pkgs l = { 0 }, back = { 0 };
	struct err *e = NULL;
	char *text, *item, *label, *label2;
	size_t i;
	int rc = 0;

	if (len == 0 || len > 64 * 1024)
		return 0;
	rt = runtimes[data[0] % nitems(runtimes)];
	text = xmalloc(len);
	memcpy(text, data + 1, len - 1);
	text[len - 1] = '\0';
	/* Items: the NUL-separated pieces (each may be a comma list). */
	for (item = text; rc == 0 && item < text + len - 1;
	     item += strlen(item) + 1)
		rc = pkgs_add(&l, rt, item, &e);
	if ((rc == -1) != (e != NULL) || (e != NULL && e->kind != ERR_INVALID))
		FAIL();
	if (rc == 0) {
		if (l.n > PKG_MAX)
			FAIL();
		for (i = 0; i < l.n; i++) {
			check_spec(rt, l.v[i]);
			check_alone(rt, l.v[i]);
		}
		if (l.n <= 32)
			check_distinct(rt, &l);
		label = pkgs_label(&l);
		if (pkgs_from_label(&back, rt, label, &e) == -1)
			FAIL();
		label2 = pkgs_label(&back);
		if (strcmp(label, label2) != 0)
			FAIL();
		free(label);
		free(label2);
		pkgs_free(&back);
		if (l.n > 0)
			check_installer(rt, &l);
	}
	err_free(&e);
	pkgs_free(&l);
	free(text);
	return 0;
}
