/*
 * Package specs and installers (src/images/packages.c, install.c,
 * trust.c): what each ecosystem accepts and how it is normalised, what it
 * refuses and what the message says, lists (sorted, de-duplicated, a later
 * spec re-pins, bounded), labels read back, what a baked list covers, the
 * installers' argv and environment at build and at run time, the
 * Dockerfile step, registries and their hosts, the CA bundle.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "images/images.h"

static char msg[1024];

/* The normalised list of one item, as its label; NULL (msg set) if bad. */
static char *
norm(const char *runtime, const char *item)
{
	struct pkgs l = { 0 };
	struct err *e = NULL;
	char *out = NULL;

	msg[0] = '\0';
	if (pkgs_add(&l, runtime, item, &e) == 0)
		out = pkgs_label(&l);
	else
		snprintf(msg, sizeof msg, "%s", e->msg);
	err_free(&e);
	pkgs_free(&l);
	return out;
}

static int
expect_norm(const char *runtime, const char *item, const char *want)
{
	char *got = norm(runtime, item);
	int ok = got != NULL && strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "%s `%s`: want `%s`, got `%s` %s\n", runtime,
		    item, want, got ? got : "(refused)", msg);
	free(got);
	return ok;
}

/* Refused, with a message that names the runtime's ecosystem and has
 * `why` in it. */
static int
expect_bad(const char *runtime, const char *item, const char *why)
{
	char *got = norm(runtime, item);
	int ok = got == NULL && strstr(msg, why) != NULL &&
	    strstr(msg, "package") != NULL;

	if (!ok)
		fprintf(stderr,
		    "%s `%s`: want refusal with `%s`, got `%s` %s\n", runtime,
		    item, why, got ? got : "(refused)", msg);
	free(got);
	return ok;
}

static int
test_python(void)
{
	static const char *const good[][2] = {
		{ "numpy", "numpy" },
		{ "NumPy", "numpy" },
		{ "Django_REST.framework", "django-rest-framework" },
		{ "a", "a" },
		{ "zope.interface", "zope-interface" },
		{ "numpy==1.26.4", "numpy==1.26.4" },
		{ "pandas>=2,<3", "pandas<3,>=2" },
		{ "pandas<3,>=2", "pandas<3,>=2" },
		{ "requests[socks]", "requests[socks]" },
		{ "requests[Security,socks,security]",
		    "requests[security,socks]" },
		{ "requests[socks]>=2.31", "requests[socks]>=2.31" },
		{ "pip~=23.0", "pip~=23.0" },
		{ "foo!=1.5.*", "foo!=1.5.*" },
		{ "foo==2.*", "foo==2.*" },
		{ "foo==1.0RC1", "foo==1.0rc1" },
		{ "foo==1!2.0+local.7", "foo==1!2.0+local.7" },
		{ "numpy,pandas", "numpy pandas" },
		{ "pandas,numpy,pandas", "numpy pandas" },
		{ "numpy>=1,<2,scipy", "numpy<2,>=1 scipy" },
		{ "requests[socks,security],six",
		    "requests[security,socks] six" },
		{ ",numpy,,", "numpy" },
		{ "", "" },
	};
	static const char *const bad[][2] = {
		{ "-e", "looks like an option" },
		{ "--index-url=https://evil.example/simple", "option" },
		{ "-rrequirements.txt", "option" },
		{ "../x", "is a path" },
		{ "./x", "is a path" },
		{ "/x", "is a path" },
		{ "~/x", "is a path" },
		{ "a/b", "is a path" },
		{ "x..y", "is a path" },
		{ "file:x", "URL, path or alias" },
		{ "git+https://github.com/a/b", "is a URL" },
		{ "https://x/y.whl", "is a URL" },
		{ "numpy @ https://x/y.whl", "space" },
		{ "numpy@https:x", "URL, path or alias" },
		{ "numpy;python_version<'3.8'", "contains `;`" },
		{ "numpy$(id)", "contains `$`" },
		{ "numpy`id`", "contains" },
		{ "numpy|sh", "contains `|`" },
		{ "numpy&", "contains `&`" },
		{ "numpy\"", "contains" },
		{ "num py", "space" },
		{ "numpy\n", "control" },
		{ "numpy\t", "control" },
		{ "nump\xc3\xbd", "non-ASCII" },
		{ "numpy===1.0", "version clause" },
		{ "numpy=1.0", "PEP 508" },
		{ "numpy>=", "version clause" },
		{ "numpy>=1.0.", "version clause" },
		{ "numpy~=1.*", "version clause" },
		{ "numpy>=1.*", "version clause" },
		{ "numpy[]", "extras" },
		{ "numpy[a", "extras" },
		{ "numpy[a]b", "PEP 508" },
		{ "numpy-", "PEP 508" },
		{ "_numpy", "PEP 508" },
		{ "numpy,>=1", "version clause" },
		{ "[socks]", "PEP 508" },
	};
	char big[300];
	size_t i;

	for (i = 0; i < nitems(good); i++)
		CHECK(expect_norm("python", good[i][0], good[i][1]));
	for (i = 0; i < nitems(bad); i++)
		CHECK(expect_bad("python", bad[i][0], bad[i][1]));
	/* The message names the item and the ecosystem. */
	free(norm("python", "--index-url=x"));
	CHECK(strstr(msg, "python package `--index-url=x`") != NULL);
	/* 214 bytes is the most. */
	memset(big, 'a', 214);
	big[214] = '\0';
	CHECK(expect_norm("python", big, big));
	big[214] = 'a';
	big[215] = '\0';
	CHECK(expect_bad("python", big, "longer than 214"));
	return 0;
}

static int
test_npm(void)
{
	static const char *const good[][2] = {
		{ "zod", "zod" },
		{ "zod@3", "zod@3" },
		{ "zod@3.23.8", "zod@3.23.8" },
		{ "zod@^3.2", "zod@^3.2" },
		{ "zod@~3.2.0", "zod@~3.2.0" },
		{ "zod@>=3<4", "zod@>=3<4" },
		{ "zod@1||2", "zod@1||2" },
		{ "zod@3.x", "zod@3.x" },
		{ "zod@*", "zod@*" },
		{ "hono@latest", "hono@latest" },
		{ "hono@NEXT", "hono@NEXT" },
		{ "@types/node", "@types/node" },
		{ "@types/node@20", "@types/node@20" },
		{ "lodash.merge", "lodash.merge" },
		{ "a_b-c.d", "a_b-c.d" },
		{ "zod,lodash,zod@3", "lodash zod@3" },
		{ "@b/x,@a/y,a", "@a/y @b/x a" },
	};
	static const char *const bad[][2] = {
		{ "-g", "option" },
		{ "--registry=http://evil", "option" },
		{ "./pkg", "path" },
		{ "../pkg", "path" },
		{ "/tmp/pkg.tgz", "path" },
		{ "file:../x", "path" },
		{ "file:x.tgz", "URL, path or alias" },
		{ "npm:zod", "URL, path or alias" },
		{ "zod@npm:evil", "URL, path or alias" },
		{ "github:user/repo", "URL, path or alias" },
		{ "git+ssh://git@github.com/a/b", "URL" },
		{ "https://x/y.tgz", "URL" },
		{ "user/repo", "GitHub" },
		{ "Zod", "lower case" },
		{ "@Types/node", "lower case" },
		{ ".hidden", "path" },
		{ "_private", "npm name" },
		{ "@scope", "npm name" },
		{ "@scope/", "npm name" },
		{ "@/x", "npm name" },
		{ "zod@", "npm name" },
		{ "zod@-1", "npm name" },
		{ "zod@1 - 2", "space" },
		{ "zod@$(id)", "contains `$`" },
		{ "zod;id", "contains `;`" },
		{ "node_modules", "reserved" },
		{ "favicon.ico", "reserved" },
		{ "a@b@c", "npm name" },
		{ "zod@1/2", "npm name" },
	};
	size_t i;

	for (i = 0; i < nitems(good); i++) {
		CHECK(expect_norm("node", good[i][0], good[i][1]));
		CHECK(expect_norm("bun", good[i][0], good[i][1]));
	}
	for (i = 0; i < nitems(bad); i++) {
		CHECK(expect_bad("node", bad[i][0], bad[i][1]));
		CHECK(expect_bad("bun", bad[i][0], bad[i][1]));
	}
	free(norm("bun", "-g"));
	CHECK(strstr(msg, "bun (npm) package `-g`") != NULL);
	/* A name that is a prefix of a reserved one is fine. */
	CHECK(expect_norm("node", "node", "node"));
	CHECK(expect_norm("node", "favicon", "favicon"));
	return 0;
}

static int
test_deno(void)
{
	static const char *const good[][2] = {
		{ "npm:zod", "npm:zod" },
		{ "npm:zod@3", "npm:zod@3" },
		{ "npm:@types/node@20", "npm:@types/node@20" },
		{ "jsr:@std/path", "jsr:@std/path" },
		{ "jsr:@std/path@^1.0", "jsr:@std/path@^1.0" },
		{ "npm:zod,jsr:@std/path,npm:zod@3",
		    "jsr:@std/path npm:zod@3" },
	};
	static const char *const bad[][2] = {
		{ "zod", "npm: or jsr:" },
		{ "-A", "option" },
		{ "npm:-x", "npm: or jsr:" },
		{ "npm:", "npm: or jsr:" },
		{ "jsr:std/path", "npm: or jsr:" },
		{ "jsr:@std", "npm: or jsr:" },
		{ "jsr:@std/path/posix", "npm: or jsr:" },
		{ "jsr:@Std/path", "npm: or jsr:" },
		{ "npm:zod/v4", "GitHub" },
		{ "https://deno.land/x/oak/mod.ts", "URL" },
		{ "file:///etc/passwd", "URL" },
		{ "npm:file:x", "npm: or jsr:" },
		{ "npm:zod@npm:x", "npm: or jsr:" },
		{ "./mod.ts", "path" },
		{ "NPM:zod", "npm: or jsr:" },
	};
	size_t i;

	for (i = 0; i < nitems(good); i++)
		CHECK(expect_norm("deno", good[i][0], good[i][1]));
	for (i = 0; i < nitems(bad); i++)
		CHECK(expect_bad("deno", bad[i][0], bad[i][1]));
	return 0;
}

static int
test_apt(void)
{
	static const char *const good[][2] = {
		{ "jq", "jq" },
		{ "curl,git,jq", "curl git jq" },
		{ "libstdc++6", "libstdc++6" },
		{ "python3.11", "python3.11" },
		{ "curl=7.88.1-10+deb12u8", "curl=7.88.1-10+deb12u8" },
		{ "vim=2:9.0.1378-2", "vim=2:9.0.1378-2" },
		{ "jq,jq=1.6-2.1", "jq=1.6-2.1" },
	};
	static const char *const bad[][2] = {
		{ "-y", "option" },
		{ "--allow-unauthenticated", "option" },
		{ "j", "Debian package name" },
		{ "Jq", "lower case" },
		{ "jq:amd64", "URL, path or alias" },
		{ "jq/bookworm", "path" },
		{ "./x.deb", "path" },
		{ "/tmp/x.deb", "path" },
		{ "jq=", "Debian package name" },
		{ "jq=abc", "Debian package name" },
		{ "jq=1.6;id", "contains `;`" },
		{ "jq*", "contains `*`" },
		{ "jq?", "contains `?`" },
		{ "+jq", "Debian package name" },
	};
	size_t i;

	for (i = 0; i < nitems(good); i++)
		CHECK(expect_norm("bash", good[i][0], good[i][1]));
	for (i = 0; i < nitems(bad); i++)
		CHECK(expect_bad("bash", bad[i][0], bad[i][1]));
	free(norm("bash", "-y"));
	CHECK(strstr(msg, "bash (Debian) package `-y`") != NULL);
	return 0;
}

/* Lists: items added in order, a later spec re-pins, bounded. */
static int
test_lists(void)
{
	static const char *const items[] = { "numpy==1.0", "scipy",
		"NumPy==2.0,pandas" };
	struct pkgs l = { 0 }, have = { 0 }, want = { 0 }, miss = { 0 };
	struct err *e = NULL;
	char *s, name[32];
	int i;

	CHECK(pkgs_add_items(&l, "python", items, 3, &e) == 0);
	s = pkgs_label(&l);
	CHECK(strcmp(s, "numpy==2.0 pandas scipy") == 0);
	free(s);
	pkgs_free(&l);

	/* An unknown runtime, and control bytes kept out of the message. */
	CHECK(pkgs_add(&l, "ruby", "rails", &e) == -1 &&
	    strstr(e->msg, "ruby") != NULL && e->kind == ERR_INVALID);
	err_free(&e);
	CHECK(pkgs_add(&l, "python", "a\x1b[2Jb", &e) == -1 &&
	    strchr(e->msg, 0x1b) == NULL && strstr(e->msg, "\\x1b") != NULL);
	err_free(&e);

	/* 256 packages, then one more is refused; a re-pin is not more. */
	for (i = 0; i < PKG_MAX; i++) {
		snprintf(name, sizeof name, "p%d", i);
		CHECK(pkgs_add(&l, "node", name, &e) == 0);
	}
	CHECK(l.n == PKG_MAX);
	CHECK(pkgs_add(&l, "node", "p7@1", &e) == 0 && l.n == PKG_MAX);
	CHECK(pkgs_add(&l, "node", "one-more", &e) == -1 &&
	    strstr(e->msg, "more than 256") != NULL);
	err_free(&e);
	pkgs_free(&l);

	/* Labels read back as written; a bad label is an error. */
	CHECK(pkgs_from_label(
	          &l, "python", "numpy<2,>=1 requests[socks] six", &e) == 0 &&
	    l.n == 3);
	s = pkgs_label(&l);
	CHECK(strcmp(s, "numpy<2,>=1 requests[socks] six") == 0);
	free(s);
	pkgs_free(&l);
	CHECK(pkgs_from_label(&l, "python", "numpy -e", &e) == -1 &&
	    strstr(e->msg, LABEL_PACKAGES) != NULL);
	err_free(&e);
	pkgs_free(&l);
	CHECK(pkgs_from_label(&l, "python", "", &e) == 0 && l.n == 0);

	/* Coverage: the same spec, or a bare name of anything baked. */
	CHECK(pkgs_from_label(
	          &have, "node", "@types/node@20 lodash zod@3", &e) == 0);
	CHECK(pkgs_add(&want, "node", "zod,lodash@4,@types/node@20,hono", &e) ==
	    0);
	CHECK(pkgs_missing("node", &have, &want, &miss, &e) == 0);
	s = pkgs_label(&miss);
	CHECK(strcmp(s, "hono lodash@4") == 0);
	free(s);
	pkgs_free(&have);
	pkgs_free(&want);
	pkgs_free(&miss);
	return 0;
}

static int
has(char **v, const char *s)
{
	for (; v != NULL && *v != NULL; v++)
		if (strcmp(*v, s) == 0)
			return 1;
	return 0;
}

/* Where s is in v, or -1. */
static int
idx(char **v, const char *s)
{
	int i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return -1;
}

static int
test_installers(void)
{
	struct registries r = { "http://127.0.0.1:8080/simple",
		"https://npm.example.com/" };
	struct install_cmd c;
	struct pkgs p = { 0 };
	struct err *e = NULL;
	char **hosts;
	int i;

	CHECK(pkgs_add(&p, "python", "six,numpy>=1", &e) == 0);
	CHECK(install_cmd(&c, "python", INSTALL_RUN, &r, &p, &e) == 0);
	CHECK(strcmp(c.argv[0], "python3") == 0 && has(c.argv, "--user") &&
	    has(c.argv, "http://127.0.0.1:8080/simple"));
	i = idx(c.argv, "--");
	CHECK(i > 0 && strcmp(c.argv[i + 1], "numpy>=1") == 0 &&
	    strcmp(c.argv[i + 2], "six") == 0 && c.argv[i + 3] == NULL);
	CHECK(has(c.env, "HOME=/sandbox") &&
	    has(c.env, "PYTHONUSERBASE=/sandbox/.local") &&
	    has(c.env, "SSL_CERT_FILE=" CA_SYSTEM_BUNDLE));
	CHECK(strcmp(c.cwd, "/sandbox") == 0);
	install_cmd_free(&c);
	/* At build time: as root, no --user, the default index. */
	CHECK(install_cmd(&c, "python", INSTALL_BUILD, NULL, &p, &e) == 0);
	CHECK(!has(c.argv, "--user") && has(c.argv, REGISTRY_PIP_DEFAULT) &&
	    has(c.env, "HOME=/root") && !has(c.env, "HOME=/sandbox"));
	install_cmd_free(&c);
	pkgs_free(&p);

	CHECK(pkgs_add(&p, "node", "zod", &e) == 0);
	CHECK(install_cmd(&c, "node", INSTALL_RUN, &r, &p, &e) == 0);
	CHECK(strcmp(c.argv[0], "npm") == 0 &&
	    has(c.argv, "https://npm.example.com/") &&
	    has(c.argv, "/sandbox") && has(c.argv, "--no-audit") &&
	    has(c.argv, "--no-fund"));
	CHECK(strcmp(c.argv[idx(c.argv, "--") + 1], "zod") == 0);
	install_cmd_free(&c);
	CHECK(install_cmd(&c, "node", INSTALL_BUILD, &r, &p, &e) == 0);
	CHECK(has(c.argv, PKG_NODE_DIR));
	install_cmd_free(&c);
	CHECK(install_cmd(&c, "bun", INSTALL_RUN, &r, &p, &e) == 0);
	CHECK(strcmp(c.argv[0], "bun") == 0 &&
	    has(c.env, "NPM_CONFIG_REGISTRY=https://npm.example.com/"));
	install_cmd_free(&c);
	pkgs_free(&p);

	CHECK(pkgs_add(&p, "deno", "npm:zod", &e) == 0);
	CHECK(install_cmd(&c, "deno", INSTALL_RUN, &r, &p, &e) == 0);
	CHECK(has(c.env, "DENO_DIR=/sandbox/.deno") &&
	    has(c.env, "NPM_CONFIG_REGISTRY=https://npm.example.com/"));
	install_cmd_free(&c);
	CHECK(install_cmd(&c, "deno", INSTALL_BUILD, &r, &p, &e) == 0);
	CHECK(has(c.env, "DENO_DIR=" PKG_DENO_DIR));
	install_cmd_free(&c);
	CHECK(strcmp(install_baked_env("deno")[0], "DENO_DIR=" PKG_DENO_DIR) ==
	    0);
	CHECK(install_baked_env("python")[0] == NULL);
	pkgs_free(&p);

	/* bash: at build time only, and the refusal says why. */
	CHECK(pkgs_add(&p, "bash", "jq", &e) == 0);
	CHECK(install_cmd(&c, "bash", INSTALL_BUILD, &r, &p, &e) == 0);
	CHECK(strcmp(c.argv[0], "apt-get") == 0 && has(c.argv, "jq"));
	install_cmd_free(&c);
	CHECK(install_cmd(&c, "bash", INSTALL_RUN, &r, &p, &e) == -1 &&
	    e->kind == ERR_INVALID && strstr(e->msg, "root") != NULL &&
	    strstr(e->msg, "isol8 setup --bash") != NULL);
	err_free(&e);
	CHECK(install_endpoints("bash", &r, &hosts, &e) == -1);
	err_free(&e);
	pkgs_free(&p);

	/* Nothing to install is an error, not an empty argv. */
	CHECK(install_cmd(&c, "node", INSTALL_RUN, &r, &p, &e) == -1);
	err_free(&e);

	/* The proxy's allow lists. */
	CHECK(install_endpoints("python", NULL, &hosts, &e) == 0 &&
	    strcmp(hosts[0], "pypi.org:443") == 0 &&
	    strcmp(hosts[1], "files.pythonhosted.org:443") == 0 &&
	    hosts[2] == NULL);
	strv_free(hosts);
	CHECK(install_endpoints("python", &r, &hosts, &e) == 0 &&
	    strcmp(hosts[0], "127.0.0.1:8080") == 0 && hosts[1] == NULL);
	strv_free(hosts);
	CHECK(install_endpoints("node", NULL, &hosts, &e) == 0 &&
	    strcmp(hosts[0], "registry.npmjs.org:443") == 0 &&
	    hosts[1] == NULL);
	strv_free(hosts);
	CHECK(install_endpoints("deno", &r, &hosts, &e) == 0 &&
	    strcmp(hosts[0], "npm.example.com:443") == 0 &&
	    strcmp(hosts[1], "jsr.io:443") == 0);
	strv_free(hosts);
	return 0;
}

static int
test_registries(void)
{
	static const char *const good[] = { "https://pypi.org/simple",
		"http://127.0.0.1:8080/simple/", "https://NPM.Example.com",
		"http://[::1]:4873/", "https://h/a/b%20c/~x/+y", NULL };
	static const char *const bad[] = { "ftp://x/", "pypi.org/simple",
		"https://", "https://user:pw@host/", "https://host:0/",
		"https://host:99999/", "https://host/?q=1", "https://host/#x",
		"https://host/a b", "https://host/\"", "https://host;id/",
		"-https://x", "https://[::1/", NULL };
	struct registries r = { 0 };
	struct err *e = NULL;
	char **hosts;
	size_t i;

	CHECK(registries_check(&r, &e) == 0);
	for (i = 0; good[i] != NULL; i++) {
		r.npm_registry = good[i];
		if (registries_check(&r, &e) != 0) {
			fprintf(stderr, "refused `%s`: %s\n", good[i], e->msg);
			return 1;
		}
	}
	r.npm_registry = "https://NPM.Example.com:8443/x";
	CHECK(install_endpoints("bun", &r, &hosts, &e) == 0 &&
	    strcmp(hosts[0], "npm.example.com:8443") == 0);
	strv_free(hosts);
	for (i = 0; bad[i] != NULL; i++) {
		r.npm_registry = NULL;
		r.pip_index_url = bad[i];
		if (registries_check(&r, &e) != -1 || e->kind != ERR_INVALID ||
		    strstr(e->msg, "pipIndexUrl") == NULL) {
			fprintf(stderr, "accepted `%s`\n", bad[i]);
			return 1;
		}
		err_free(&e);
	}
	return 0;
}

/* The RUN step: exec form, valid JSON, the constant script first and the
 * packages as separate elements after it. */
static int
test_dockerfile(void)
{
	struct buf df = { 0 };
	struct pkgs p = { 0 };
	struct err *e = NULL;
	yajl_val v;
	const char *line;
	size_t n;

	CHECK(pkgs_add(&p, "bash", "jq,curl", &e) == 0);
	CHECK(install_dockerfile(&df, "bash", NULL, &p, &e) == 0);
	line = buf_cstr(&df);
	CHECK(strncmp(line, "RUN [", 5) == 0);
	CHECK((v = json_parse(line + 4, strlen(line + 4), &e)) != NULL);
	CHECK(YAJL_IS_ARRAY(v));
	n = v->u.array.len;
	CHECK(n > 6);
	CHECK(strcmp(v->u.array.values[0]->u.string, "/bin/sh") == 0);
	CHECK(strcmp(v->u.array.values[1]->u.string, "-c") == 0);
	CHECK(strstr(v->u.array.values[2]->u.string, "\"$@\"") != NULL);
	CHECK(strstr(v->u.array.values[2]->u.string, "apt-get update") != NULL);
	CHECK(strcmp(v->u.array.values[4]->u.string, "env") == 0);
	CHECK(strcmp(v->u.array.values[n - 2]->u.string, "curl") == 0);
	CHECK(strcmp(v->u.array.values[n - 1]->u.string, "jq") == 0);
	CHECK(strcmp(v->u.array.values[n - 3]->u.string, "--") == 0);
	yajl_tree_free(v);
	buf_free(&df);
	pkgs_free(&p);
	return 0;
}

static int
write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

#define CERT(b) "-----BEGIN CERTIFICATE-----\n" b "\n-----END CERTIFICATE-----"

static int
test_ca(void)
{
	char path[] = "/tmp/isol8-test-ca.XXXXXX";
	static struct ca_bundle ca;
	struct err *e = NULL;

	CHECK(write_tmp(path,
	          "# a comment\n" CERT("QUJD\nREVG") "\ntext\n" CERT(
	              "R0hJ") "\n") == 0);
	CHECK(ca_load(&ca, path, &e) == 0 && ca.n == 2);
	CHECK(ca.len[0] == strlen(CERT("QUJD\nREVG")) + 1);
	CHECK(memcmp(ca.data.data + ca.off[1], CERT("R0hJ"),
	          strlen(CERT("R0hJ"))) == 0);
	ca_free(&ca);
	unlink(path);

	strcpy(path, "/tmp/isol8-test-ca.XXXXXX");
	CHECK(write_tmp(path, "not a certificate\n") == 0);
	CHECK(ca_load(&ca, path, &e) == -1 && e->kind == ERR_INVALID &&
	    strstr(e->msg, "no PEM certificate") != NULL);
	err_free(&e);
	unlink(path);

	strcpy(path, "/tmp/isol8-test-ca.XXXXXX");
	CHECK(write_tmp(path, CERT("QU\"JD")) == 0);
	CHECK(ca_load(&ca, path, &e) == -1 &&
	    strstr(e->msg, "not base64") != NULL);
	err_free(&e);
	unlink(path);

	CHECK(ca_load(&ca, "/nonexistent/ca.pem", &e) == -1 &&
	    strstr(e->msg, "packages.caBundle") != NULL);
	err_free(&e);
	return 0;
}

/* The public check: ISOL8_EINVAL naming the item. */
static int
test_public(void)
{
	static const char *const ok[] = { "numpy", "pandas>=2,<3" };
	static const char *const bad[] = { "numpy", "-e" };
	struct isol8_packages p = { ok, 2 };
	struct isol8_error err;

	CHECK(isol8_packages_check("python", &p, &err) == 0);
	CHECK(isol8_packages_check("python", NULL, &err) == 0);
	p.items = bad;
	CHECK(isol8_packages_check("python", &p, &err) == -1 &&
	    err.code == ISOL8_EINVAL && strstr(err.message, "`-e`") != NULL);
	p.items = NULL;
	CHECK(isol8_packages_check("node", &p, &err) == -1 &&
	    err.code == ISOL8_EINVAL);
	p.len = 0;
	CHECK(isol8_packages_check("cobol", &p, &err) == -1);
	return 0;
}

/* What an installer said: lines split anywhere, cleaned, the telling
 * ones picked for the error. */
static int
test_install_log(void)
{
	struct install_log l = { 0 };
	struct pkgs p = { 0 };
	struct buf why = { 0 };
	static const char out[] =
	    "Looking in indexes: http://127.0.0.1/simple\n"
	    "ERROR: Could not find a version that satisfies the requirement isol8-nosuch\n"
	    "\x1b[31mERROR: No matching distribution found for isol8-nosuch\x1b[0m";
	size_t i;

	CHECK(pkgs_add(&p, "python", "isol8-nosuch", NULL) == 0);
	/* Fed a byte at a time: the same lines as at once. */
	for (i = 0; i < sizeof out - 1; i++)
		install_log_feed(&l, out + i, 1);
	install_log_reason(&l, "python", &p, &why);
	CHECK(
	    strcmp(buf_cstr(&why),
	        "ERROR: Could not find a version that satisfies the requirement isol8-nosuch | ERROR: No matching distribution found for isol8-nosuch") ==
	    0);
	install_log_free(&l);
	buf_free(&why);
	/* Nothing said: "nothing"; a very long line keeps its end. */
	install_log_reason(&l, "python", &p, &why);
	CHECK(strcmp(buf_cstr(&why), "nothing") == 0);
	buf_free(&why);
	for (i = 0; i < 5000; i++)
		install_log_feed(&l, "x", 1);
	install_log_feed(&l, "the reason\n", 11);
	install_log_reason(&l, "python", &p, &why);
	CHECK(strlen(buf_cstr(&why)) <= INSTALL_TAIL_LINE_MAX);
	CHECK(strstr(buf_cstr(&why), "xthe reason") != NULL);
	install_log_free(&l);
	buf_free(&why);
	pkgs_free(&p);
	return 0;
}

/* isol8 build's image names: Docker's references, never isol8/... */
static int
test_tags(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "my-img", "my-img:latest" },
		{ "my-img:v1", "my-img:v1" },
		{ "team/py_env:2024.1-rc_2", "team/py_env:2024.1-rc_2" },
		{ "localhost:5000/a/b", "localhost:5000/a/b:latest" },
		{ "my-reg.example:443/a", "my-reg.example:443/a:latest" },
		{ "registry.example.com/x:Y", "registry.example.com/x:Y" },
		{ "isol8-test-setup-only:1796043946",
		    "isol8-test-setup-only:1796043946" },
		{ "isol8x/y", "isol8x/y:latest" },
		{ "isol8", "isol8:latest" },
	};
	static const char *const bad[] = { "", "Upper", "a//b", "/a", "a/",
		"-a", "a-", "a:", "a:-x", "a:.x", "a:b c", "a b", "a@sha256:00",
		"a:b:c", "a/..", "../x/y", "-h/x", "h-/x", "h..i/x", "h:/x",
		"h:123456/x", "h:1a/x", "a;b", "a\nb", "a\tb", "../x", "a/B" };
	struct err *e = NULL;
	char *t;
	size_t i;

	for (i = 0; i < nitems(good); i++) {
		t = images_tag_check(good[i].in, "isol8test", &e);
		CHECK(t != NULL && strcmp(t, good[i].out) == 0);
		free(t);
	}
	for (i = 0; i < nitems(bad); i++) {
		CHECK(images_tag_check(bad[i], NULL, &e) == NULL);
		CHECK(e != NULL && strstr(e->msg, "image name") != NULL);
		err_free(&e);
	}
	/* setup's repository, and the tests' */
	CHECK(images_tag_check("isol8/python:latest", NULL, &e) == NULL);
	CHECK(strstr(e->msg, "isol8/ is where setup keeps") != NULL);
	err_free(&e);
	CHECK(images_tag_check("isol8/mine", NULL, &e) == NULL);
	err_free(&e);
	CHECK(images_tag_check("isol8test/python", "isol8test", &e) == NULL);
	err_free(&e);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_python);
	RUN_TEST(test_npm);
	RUN_TEST(test_deno);
	RUN_TEST(test_apt);
	RUN_TEST(test_lists);
	RUN_TEST(test_installers);
	RUN_TEST(test_registries);
	RUN_TEST(test_dockerfile);
	RUN_TEST(test_ca);
	RUN_TEST(test_public);
	RUN_TEST(test_install_log);
	RUN_TEST(test_tags);
	return TAP_DONE();
}
