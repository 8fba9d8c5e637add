/*
 * The installers, one table for both times a package is installed: at
 * build time (`isol8 setup --python numpy`: a RUN step of the runtime
 * image, as root, with the host's network) and at run time (the engine's
 * install step: in the run's own container, as the sandbox user, into
 * /sandbox, through the filtered proxy).
 *
 * Each installer is an argv template, never a shell command line: the
 * packages (normalised by packages.c, so none looks like an option, a
 * path or a URL) are separate argv elements after a "--" where the
 * installer has one (pip, npm, apt; bun and deno have none). Template
 * elements:
 *
 *	$PIP $NPM   the configured registry (the URL was checked here)
 *	$DIR        where packages go: build_dir or run_dir
 *	$CACHE      the installer's cache, inside the image's /tmp
 *	$HOME       /root at build time, /sandbox at run time
 *	$PKGS       the packages (last)
 *	build:X     X at build time only; run:X at run time only
 *
 * At build time the argv runs under a fixed /bin/sh script that does the
 * table's constant pre and post steps (apt-get update; link the
 * node_modules; remove caches and apt lists so no layer keeps them): the
 * argv travels as the script's positional parameters ("$@"), so the shell
 * never parses a package or a registry.
 *
 * Where baked packages live, so that a run finds them with no flag:
 *	python  /usr/local/lib/python3.X/dist-packages (Debian pip, as root)
 *	node    /opt/isol8/node/node_modules, linked from /node_modules: the
 *	bun     one directory above both /sandbox and /tmp/.isol8 (the code),
 *	        which Node's ESM resolution (it ignores NODE_PATH) walks to
 *	deno    DENO_DIR=/opt/isol8/deno (read-only is enough for deno to use
 *	        a cache): a run in such an image needs install_baked_env()
 *	bash    the system (apt)
 */
#include <stdlib.h>
#include <string.h>

#include "images.h"

#define BUILD_CACHE "/tmp/isol8-cache"
#define RUN_CACHE "/tmp/.isol8-cache"

/* Every image trusts the CA bundle setup added (packages.caBundle) through
 * the system store; these make each runtime's own TLS stack use it too. */
const char *const install_trust_env[] = {
	"SSL_CERT_FILE=" CA_SYSTEM_BUNDLE,
	"REQUESTS_CA_BUNDLE=" CA_SYSTEM_BUNDLE,
	"PIP_CERT=" CA_SYSTEM_BUNDLE,
	"NODE_EXTRA_CA_CERTS=" CA_SYSTEM_BUNDLE,
	"DENO_CERT=" CA_SYSTEM_BUNDLE,
	NULL,
};

/* -s -P: neither the user site nor the working directory (both the
 * sandbox's, at run time) is on pip's own sys.path: code a session left
 * there cannot stand in for pip. */
static const char *const pip_argv[] = { "python3", "-s", "-P", "-m", "pip",
	"install", "--no-input", "--disable-pip-version-check",
	"--no-cache-dir", "--index-url", "$PIP", "run:--user", "--", "$PKGS",
	NULL };
/* Debian marks its Python "externally managed" (PEP 668): these images
 * are isol8's own, and run-time installs go to the user site anyway. */
static const char *const pip_env[] = { "HOME=$HOME",
	"PIP_BREAK_SYSTEM_PACKAGES=1", "PIP_NO_WARN_SCRIPT_LOCATION=1",
	"build:PIP_ROOT_USER_ACTION=ignore",
	"run:PYTHONUSERBASE=/sandbox/.local", NULL };

static const char *const npm_argv[] = { "npm", "install", "--no-audit",
	"--no-fund", "--no-package-lock", "--prefix", "$DIR", "--registry",
	"$NPM", "--", "$PKGS", NULL };
static const char *const npm_env[] = { "HOME=$HOME", "npm_config_cache=$CACHE",
	"npm_config_update_notifier=false", NULL };

static const char *const bun_argv[] = { "bun", "add", "--no-progress", "--cwd",
	"$DIR", "$PKGS", NULL };
static const char *const bun_env[] = { "HOME=$HOME",
	"BUN_INSTALL_CACHE_DIR=$CACHE", "NPM_CONFIG_REGISTRY=$NPM",
	"DO_NOT_TRACK=1", NULL };

/* No "--": deno takes what follows it as the script's arguments and
 * caches nothing (and says nothing). */
static const char *const deno_argv[] = { "deno", "cache", "$PKGS", NULL };
static const char *const deno_env[] = { "HOME=$HOME", "DENO_DIR=$DIR",
	"NPM_CONFIG_REGISTRY=$NPM", "DENO_NO_UPDATE_CHECK=1", NULL };
static const char *const deno_baked_env[] = { "DENO_DIR=" PKG_DENO_DIR, NULL };

static const char *const apt_argv[] = { "apt-get", "install", "-y", "-q",
	"--no-install-recommends", "--", "$PKGS", NULL };
static const char *const apt_env[] = { "HOME=$HOME",
	"DEBIAN_FRONTEND=noninteractive", NULL };

static const char *const no_env[] = { NULL };

static const struct installer {
	const char *runtime;
	const char *const *argv;
	const char *const *env;
	const char *build_dir, *run_dir; /* $DIR, and the working directory */
	const char *pre, *post;          /* constant build-time steps */
	const char *const *baked_env;    /* a run in a baked image needs */
	const char *no_run;              /* why not at run time, or NULL */
} installers[] = {
	{ "python", pip_argv, pip_env, "/", "/sandbox", ":", ":", no_env,
	    NULL },
	{ "node", npm_argv, npm_env, PKG_NODE_DIR, "/sandbox",
	    "mkdir -p " PKG_NODE_DIR,
	    "ln -s " PKG_NODE_DIR "/node_modules /node_modules", no_env, NULL },
	{ "bun", bun_argv, bun_env, PKG_BUN_DIR, "/sandbox",
	    "mkdir -p " PKG_BUN_DIR,
	    "ln -s " PKG_BUN_DIR "/node_modules /node_modules", no_env, NULL },
	{ "deno", deno_argv, deno_env, PKG_DENO_DIR, "/sandbox/.deno", ":", ":",
	    deno_baked_env, NULL },
	{ "bash", apt_argv, apt_env, "/", NULL, "apt-get update -q",
	    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb",
	    no_env,
	    "bash packages are Debian packages: apt needs root and writes the image's system directories, which are read-only in the sandbox -- bake them into the image with `isol8 setup --bash PKGS` instead" },
};

static const struct installer *
installer_find(const char *runtime, struct err **errp)
{
	size_t i;

	for (i = 0; runtime != NULL && i < nitems(installers); i++)
		if (strcmp(installers[i].runtime, runtime) == 0)
			return &installers[i];
	err_set(errp, ERR_INVALID, "no installer for runtime `%s`",
	    runtime ? runtime : "(null)");
	return NULL;
}

/* ---- registries ---- */

const char *
registry_url(const struct registries *r, int npm)
{
	const char *u = r == NULL ? NULL
	    : npm                 ? r->npm_registry
	                          : r->pip_index_url;

	return u != NULL ? u
	    : npm        ? REGISTRY_NPM_DEFAULT
	                 : REGISTRY_PIP_DEFAULT;
}

/*
 * http(s)://host[:port][/path]: no credentials (they would be kept in the
 * image's build history), no query, nothing a shell or an installer could
 * read as more than a URL. The host, lower case, into host (may be NULL),
 * and its port (the scheme's when none is given) into *port.
 */
static int
url_check(const char *name, const char *url, char *host, size_t hostsize,
    unsigned *port, struct err **errp)
{
	const char *p, *h, *end;
	size_t n;

	if (strlen(url) > 1024)
		return err_set(
		    errp, ERR_INVALID, "%s: longer than 1024 bytes", name);
	if (strncmp(url, "https://", 8) == 0)
		h = url + 8, *port = 443;
	else if (strncmp(url, "http://", 7) == 0)
		h = url + 7, *port = 80;
	else
		return err_set(errp, ERR_INVALID,
		    "%s `%.80s`: expected an http:// or https:// URL", name,
		    url);
	if (*h == '[') /* an IPv6 literal */
		end = h + 1 + strspn(h + 1, "0123456789abcdefABCDEF:") + 1;
	else
		end = h +
		    strspn(h,
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789.-");
	n = (size_t)(end - h);
	if (n == 0 || n >= hostsize || (*h == '[' && end[-1] != ']'))
		return err_set(errp, ERR_INVALID,
		    "%s `%.80s`: no valid host name after the scheme", name,
		    url);
	if (host != NULL) {
		for (p = h; p < end; p++)
			host[p - h] =
			    (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		host[n] = '\0';
	}
	p = end;
	if (*p == ':') {
		n = strspn(p + 1, "0123456789");
		if (n == 0 || n > 5 || strtoul(p + 1, NULL, 10) > 65535 ||
		    strtoul(p + 1, NULL, 10) == 0)
			return err_set(errp, ERR_INVALID,
			    "%s `%.80s`: a port is 1 to 65535", name, url);
		*port = (unsigned)strtoul(p + 1, NULL, 10);
		p += 1 + n;
	}
	if (*p != '\0' && *p != '/')
		return err_set(errp, ERR_INVALID,
		    "%s `%.80s`: unexpected `%c` after the host (credentials in a URL are not supported)",
		    name, url, *p);
	if (p[strspn(p,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._~%/+-")] != '\0')
		return err_set(errp, ERR_INVALID,
		    "%s `%.80s`: only a path may follow the host (no query, space or quote)",
		    name, url);
	return 0;
}

int
registries_check(const struct registries *r, struct err **errp)
{
	char host[256];
	unsigned port;

	if (url_check("the pip index URL (packages.pipIndexUrl)",
	        registry_url(r, 0), host, sizeof host, &port, errp) == -1 ||
	    url_check("the npm registry (packages.npmRegistry)",
	        registry_url(r, 1), host, sizeof host, &port, errp) == -1)
		return -1;
	return 0;
}

static void
strv_add(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof **v);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Where a runtime's installer connects (for the filtered proxy's allow
 * list at run time), as "host:port": the registry's, and where the public
 * ones keep their files. NULL-terminated, the caller's to strv_free().
 */
int
install_endpoints(const char *runtime, const struct registries *r, char ***eps,
    struct err **errp)
{
	const struct installer *in;
	char host[256];
	unsigned port;
	size_t n = 0;

	*eps = NULL;
	if ((in = installer_find(runtime, errp)) == NULL)
		return -1;
	if (in->no_run != NULL)
		return err_set(errp, ERR_INVALID, "%s", in->no_run);
	if (strcmp(runtime, "python") == 0) {
		if (url_check("the pip index URL", registry_url(r, 0), host,
		        sizeof host, &port, errp) == -1)
			return -1;
		strv_add(eps, &n, xasprintf("%s:%u", host, port));
		/* PyPI's index links its files on another host. */
		if (strcmp(host, "pypi.org") == 0)
			strv_add(
			    eps, &n, xstrdup("files.pythonhosted.org:443"));
		return 0;
	}
	if (url_check("the npm registry", registry_url(r, 1), host, sizeof host,
	        &port, errp) == -1)
		return -1;
	strv_add(eps, &n, xasprintf("%s:%u", host, port));
	if (strcmp(runtime, "deno") == 0)
		strv_add(eps, &n, xstrdup("jsr.io:443"));
	return 0;
}

/* ---- commands ---- */

/* One template element, expanded; NULL when it is not for this time. */
static char *
expand(const struct installer *in, const char *t, enum install_when when,
    const struct registries *r)
{
	const char *dollar;
	struct buf b = { 0 };

	if (strncmp(t, "build:", 6) == 0) {
		if (when != INSTALL_BUILD)
			return NULL;
		t += 6;
	} else if (strncmp(t, "run:", 4) == 0) {
		if (when != INSTALL_RUN)
			return NULL;
		t += 4;
	}
	while ((dollar = strchr(t, '$')) != NULL) {
		buf_add(&b, t, (size_t)(dollar - t));
		t = dollar + 1;
		if (strncmp(t, "PIP", 3) == 0 || strncmp(t, "NPM", 3) == 0) {
			buf_addstr(&b, registry_url(r, t[0] == 'N'));
			t += 3;
		} else if (strncmp(t, "DIR", 3) == 0) {
			buf_addstr(&b,
			    when == INSTALL_BUILD ? in->build_dir
			                          : in->run_dir);
			t += 3;
		} else if (strncmp(t, "CACHE", 5) == 0) {
			buf_addstr(&b,
			    when == INSTALL_BUILD ? BUILD_CACHE : RUN_CACHE);
			t += 5;
		} else if (strncmp(t, "HOME", 4) == 0) {
			buf_addstr(
			    &b, when == INSTALL_BUILD ? "/root" : "/sandbox");
			t += 4;
		} else
			buf_add(&b, "$", 1);
	}
	buf_addstr(&b, t);
	return buf_cstr(&b);
}

/*
 * The command that installs pkgs for runtime: argv, environment (the
 * installer's and the trust store's) and working directory. At run time it
 * runs as the sandbox user with the run's network set to the registries.
 */
int
install_cmd(struct install_cmd *c, const char *runtime, enum install_when when,
    const struct registries *r, const struct pkgs *pkgs, struct err **errp)
{
	const struct installer *in;
	const char *const *t;
	size_t na = 0, ne = 0, i;
	char *s;

	memset(c, 0, sizeof *c);
	if ((in = installer_find(runtime, errp)) == NULL)
		return -1;
	if (when == INSTALL_RUN && in->no_run != NULL)
		return err_set(errp, ERR_INVALID, "%s", in->no_run);
	if (pkgs->n == 0)
		return err_set(errp, ERR_INVALID, "no packages to install");
	if (registries_check(r, errp) == -1)
		return -1;
	for (t = in->argv; *t != NULL; t++) {
		if (strcmp(*t, "$PKGS") == 0) {
			for (i = 0; i < pkgs->n; i++)
				strv_add(&c->argv, &na, xstrdup(pkgs->v[i]));
		} else if ((s = expand(in, *t, when, r)) != NULL)
			strv_add(&c->argv, &na, s);
	}
	for (t = in->env; *t != NULL; t++)
		if ((s = expand(in, *t, when, r)) != NULL)
			strv_add(&c->env, &ne, s);
	for (t = install_trust_env; *t != NULL; t++)
		strv_add(&c->env, &ne, xstrdup(*t));
	/* The directories are the argv's and environment's ($DIR): deno's
	 * cache is made by deno itself, inside the sandbox's home. */
	c->cwd = xstrdup(when == INSTALL_BUILD ? "/" : "/sandbox");
	return 0;
}

void
install_cmd_free(struct install_cmd *c)
{
	strv_free(c->argv);
	strv_free(c->env);
	free(c->cwd);
	memset(c, 0, sizeof *c);
}

/* ", " and s as a JSON string (yajl escapes it). */
static void
json_strv(struct buf *b, const char *s)
{
	yajl_gen g = json_gen_new();

	buf_add(b, ", ", 2);
	json_str_add(g, s);
	json_gen_take(g, b);
}

/*
 * The Dockerfile step that bakes pkgs: RUN in exec form (a JSON array),
 * the constant script first, then `env K=V... argv...` as its "$@".
 */
int
install_dockerfile(struct buf *df, const char *runtime,
    const struct registries *r, const struct pkgs *pkgs, struct err **errp)
{
	struct install_cmd c;
	const struct installer *in;
	char **p;

	if ((in = installer_find(runtime, errp)) == NULL ||
	    install_cmd(&c, runtime, INSTALL_BUILD, r, pkgs, errp) == -1)
		return -1;
	buf_printf(df,
	    "RUN [\"/bin/sh\", \"-c\", \"set -e; %s; \\\"$@\\\"; %s; rm -rf " BUILD_CACHE
	    " /root/.cache /root/.npm\", \"isol8-install\", \"env\"",
	    in->pre, in->post);
	for (p = c.env; *p != NULL; p++)
		json_strv(df, *p);
	for (p = c.argv; *p != NULL; p++)
		json_strv(df, *p);
	buf_addstr(df, "]\n");
	install_cmd_free(&c);
	return 0;
}

/* The environment a run needs in an image carrying runtime's baked
 * packages (beyond the engine's own): NULL-terminated, static. */
const char *const *
install_baked_env(const char *runtime)
{
	const struct installer *in = installer_find(runtime, NULL);

	return in != NULL ? in->baked_env : no_env;
}

/* ---- what the installer said ---- */

/* An output line made printable: escape sequences dropped, capped. */
void
install_line_clean(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == 0x1b) { /* CSI ... final byte */
			if (i + 1 < len && src[i + 1] == '[')
				for (i += 2; i < len &&
				     !(src[i] >= '@' && src[i] <= '~');
				     i++)
					;
			continue;
		}
		dst[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[o] = '\0';
}

/* Keep a clean line; long ones (pip's retries) by their end, the reason. */
void
install_log_add(struct install_log *l, const char *clean)
{
	size_t n = strlen(clean);

	if (n == 0)
		return;
	free(l->tail[l->next]);
	l->tail[l->next] = n <= INSTALL_TAIL_LINE_MAX
	    ? xstrdup(clean)
	    : xasprintf("...%s", clean + n - (INSTALL_TAIL_LINE_MAX - 3));
	l->next = (l->next + 1) % INSTALL_TAIL_LINES;
}

/* Raw output as it comes (lines split anywhere): cleaned lines kept. */
void
install_log_feed(struct install_log *l, const void *data, size_t len)
{
	const char *p = data, *nl;
	char clean[1024];

	while (len > 0) {
		nl = memchr(p, '\n', len);
		if (nl == NULL) {
			/* Only the end of a long line is kept. */
			if (len > sizeof clean - 1) {
				p += len - (sizeof clean - 1);
				len = sizeof clean - 1;
			}
			if (l->partial.len + len > sizeof clean - 1)
				l->partial.len = 0;
			buf_add(&l->partial, p, len);
			return;
		}
		if (l->partial.len > 0) {
			buf_add(&l->partial, p, (size_t)(nl - p));
			install_line_clean(clean, sizeof clean,
			    (const char *)l->partial.data, l->partial.len);
			l->partial.len = 0;
		} else
			install_line_clean(
			    clean, sizeof clean, p, (size_t)(nl - p));
		install_log_add(l, clean);
		len -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

/*
 * How much a line of the installer's output tells: 2 if it names one of
 * the packages (pip's "No matching distribution found for x", npm's "404
 * ... x", apt's "Unable to locate package x"), 1 if it says error, else 0.
 */
static int
telling(const char *rt, const struct pkgs *pkgs, const char *line)
{
	size_t i, skip, n;

	if (strstr(line, "complete log") != NULL)
		return 0; /* npm's pointer to a file in the build container */
	for (i = 0; i < pkgs->n; i++) {
		skip = strcmp(rt, "deno") == 0 ? 4 : 0;
		skip += pkgs->v[i][skip] == '@';
		n = pkg_name_len(rt, pkgs->v[i]) - skip;
		if (n > 0 && memmem(line, strlen(line), pkgs->v[i] + skip, n))
			return 2;
	}
	return strstr(line, "rror") != NULL || strncmp(line, "E: ", 3) == 0;
}

/* The installer's last INSTALL_TAIL_TELL most telling lines, joined. */
void
install_log_reason(struct install_log *l, const char *rt,
    const struct pkgs *pkgs, struct buf *out)
{
	const char *pick[INSTALL_TAIL_TELL];
	size_t i, k, n, start = out->len;
	int want;

	if (l->partial.len > 0) /* the last line, unended */
		install_log_feed(l, "\n", 1);
	for (want = 2; want >= 0; want--) {
		for (n = 0, i = INSTALL_TAIL_LINES;
		     i > 0 && n < INSTALL_TAIL_TELL; i--) {
			k = (l->next + i - 1) % INSTALL_TAIL_LINES;
			if (l->tail[k] != NULL &&
			    telling(rt, pkgs, l->tail[k]) >= want)
				pick[n++] = l->tail[k];
		}
		if (n > 0)
			break;
	}
	while (n > 0)
		buf_printf(
		    out, "%s%s", out->len > start ? " | " : "", pick[--n]);
	if (out->len == start)
		buf_addstr(out, "nothing");
}

void
install_log_free(struct install_log *l)
{
	size_t i;

	for (i = 0; i < INSTALL_TAIL_LINES; i++)
		free(l->tail[i]);
	buf_free(&l->partial);
	memset(l, 0, sizeof *l);
}
