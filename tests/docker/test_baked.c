/*
 * Baked packages (src/images, docs/packages.md) against the real dockerd:
 * images_setup() builds every runtime image with its list installed at
 * build time and the sandbox runs it with no network -- pip from a PEP 503
 * index this test serves on the host's loopback (tests/docker/
 * pkg_index.py: wheels it makes itself), npm packages from the npm
 * registry for node, bun and deno, jq from the Debian mirror for bash.
 * Then: an unchanged setup builds nothing; lists add to what an image
 * carries and a later spec re-pins; an unknown package, an unreachable
 * registry or an unknown npm package fail naming them, move no tag and
 * leave no layer; replace with no lists gives back the plain images, hash
 * for hash; superseded images are gone.
 *
 * Everything is built under the repository isol8test-pkg (never the
 * isol8/<runtime> images everyone else on the machine runs); its base
 * (debootstrap, ~1 min) stays as a cache for the next run, the runtime
 * images are removed at the end.
 */
#include <sys/wait.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "engine/engine.h"
#include "support.h"

#define REPO "isol8test-pkg"
#define SMALL_NPM "is-number@7.0.0" /* no dependencies, 3 kB */

static const char *const rts[] = { "python", "node", "bun", "deno", "bash" };

static struct loop *lp;
static struct docker *dk;
static struct isol8_engine *eng;
static char index_url[64];
static pid_t index_pid;
static int index_fd = -1;
static char plain_hash[5][65], plain_id[5][80];
static char base_id[80];
static struct buf progress;

static void
on_progress(const char *line, void *arg)
{
	(void)arg;
	buf_printf(&progress, "%s\n", line);
	fprintf(stderr, "# %s\n", line);
}

/* Options for a setup of our own repository, the index on loopback and
 * (the host inspects TLS) its CA bundle. */
static void
opts_init(struct images_opts *o)
{
	memset(o, 0, sizeof *o);
	o->repo = REPO;
	o->progress = on_progress;
	o->registries.pip_index_url = index_url;
	o->ca_bundle = CA_SYSTEM_BUNDLE;
}

static int
setup(const struct images_opts *o, struct err **errp)
{
	buf_free(&progress);
	return images_setup(dk, o, errp);
}

/* GET path on dockerd, parsed; NULL if it failed. */
static yajl_val
docker_get(const char *path)
{
	struct docker_sync c = { 0 };
	yajl_val v = NULL;

	docker_call(dk, "GET", path, NULL, docker_sync_cb, &c);
	docker_sync_wait(dk, &c);
	if (c.err == NULL)
		v = json_parse(
		    c.body.data ? c.body.data : "null", c.body.len, NULL);
	err_free(&c.err);
	buf_free(&c.body);
	return v;
}

static yajl_val
inspect(const char *rt)
{
	char path[128];

	snprintf(path, sizeof path, "/images/" REPO "/%s:latest/json", rt);
	return docker_get(path);
}

/* The image's id and a label (either may be NULL), copied out. */
static void
image_facts(
    const char *rt, char id[80], const char *label, char *val, size_t size)
{
	yajl_val v = inspect(rt);
	const char *s;

	id[0] = '\0';
	if (val != NULL)
		val[0] = '\0';
	if ((s = json_str(v, "Id", NULL)) != NULL)
		snprintf(id, 80, "%s", s);
	if (label != NULL &&
	    (s = json_str(v, "Config", "Labels", label, NULL)) != NULL)
		snprintf(val, size, "%s", s);
	yajl_tree_free(v);
}

static int
image_exists(const char *id)
{
	char path[160];
	yajl_val v;

	snprintf(path, sizeof path, "/images/%s/json", id);
	v = docker_get(path);
	yajl_tree_free(v);
	return v != NULL;
}

/* Run code (or a command, or argv) in our image of rt; its stdout
 * (trimmed) into out. */
static int
run_argv(const char *rt, const char *code, const char *cmd,
    const char *const *argv, char *out, size_t size)
{
	struct isol8_request req;
	struct isol8_output o;
	struct isol8_error err;
	char image[64];
	int rc;

	isol8_request_init(&req);
	snprintf(image, sizeof image, REPO "/%s:latest", rt);
	req.runtime = rt;
	req.image = image;
	req.code = code;
	req.cmd = cmd;
	req.argv = argv;
	req.timeout_ms = 60000;
	if (isol8_run_sync(eng, &req, &o, &err) == -1) {
		fprintf(stderr, "# run in %s: %s\n", image, err.message);
		return -1;
	}
	snprintf(out, size, "%s", o.stdout_data ? o.stdout_data : "");
	out[strcspn(out, "\n")] = '\0';
	rc = o.result.exit_code;
	if (rc != 0)
		fprintf(stderr, "# %s exited %d: %s\n", rt, rc, o.stderr_data);
	isol8_output_free(&o);
	return rc;
}

static int
run_in(
    const char *rt, const char *code, const char *cmd, char *out, size_t size)
{
	return run_argv(rt, code, cmd, NULL, out, size);
}

/* Every image id (all=1) with its parent: "id parent\n" lines. */
static char *
image_graph(void)
{
	yajl_val v = docker_get("/images/json?all=1");
	struct buf b = { 0 };
	const char *id, *parent;
	size_t i;

	for (i = 0; YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
		id = json_str(v->u.array.values[i], "Id", NULL);
		parent = json_str(v->u.array.values[i], "ParentId", NULL);
		buf_printf(&b, "%s %s\n", id ? id : "-",
		    parent && *parent ? parent : "-");
	}
	yajl_tree_free(v);
	return buf_cstr(&b);
}

/* The line of graph g that starts with id, or NULL. */
static const char *
graph_line(const char *g, const char *id)
{
	size_t n = strlen(id);

	for (; g != NULL && *g != '\0'; g = strchr(g, '\n') + 1) {
		if (strncmp(g, id, n) == 0 && g[n] == ' ')
			return g;
		if (strchr(g, '\n') == NULL)
			break;
	}
	return NULL;
}

/* Whether an image new in after (not in before) descends from our base:
 * a layer a failed build left behind. */
static int
layers_left(const char *before, const char *after)
{
	char id[80], parent[80], cur[80];
	const char *p, *q;
	int steps;

	for (p = after; sscanf(p, "%79s %79s", id, parent) == 2;
	     p = strchr(p, '\n') + 1) {
		if (graph_line(before, id) != NULL)
			continue;
		snprintf(cur, sizeof cur, "%s", parent);
		for (steps = 0; steps < 64 && strcmp(cur, "-") != 0; steps++) {
			if (strcmp(cur, base_id) == 0) {
				fprintf(stderr, "# left behind: %s\n", id);
				return 1;
			}
			if ((q = graph_line(after, cur)) == NULL ||
			    sscanf(q, "%*s %79s", cur) != 1)
				break;
		}
	}
	return 0;
}

/* The index server: a child we started, ended by closing its stdin. */
static int
index_start(void)
{
	int port = pkg_index_start(&index_pid, &index_fd);

	if (port <= 0)
		return -1;
	snprintf(
	    index_url, sizeof index_url, "http://127.0.0.1:%d/simple", port);
	return 0;
}

/* Bad input: refused before any build, naming the item. */
static int
test_bad_input(void)
{
	static const char *const bad[] = { "numpy", "--index-url=http://x/" };
	static const char *const dots[] = { "../evil" };
	struct images_opts o;
	struct err *e = NULL;

	opts_init(&o);
	o.python.items = bad;
	o.python.len = 2;
	CHECK(setup(&o, &e) == -1 && e->kind == ERR_INVALID &&
	    strstr(e->msg, "`--index-url=http://x/`") != NULL);
	err_free(&e);
	CHECK(strstr(progress.data ? progress.data : "", "building") == NULL);
	opts_init(&o);
	o.node.items = dots;
	o.node.len = 1;
	CHECK(setup(&o, &e) == -1 && e->kind == ERR_INVALID &&
	    strstr(e->msg, "node (npm) package `../evil`") != NULL);
	err_free(&e);
	opts_init(&o);
	o.registries.npm_registry = "https://user:secret@npm.example/";
	CHECK(setup(&o, &e) == -1 && e->kind == ERR_INVALID &&
	    strstr(e->msg, "npmRegistry") != NULL);
	err_free(&e);
	opts_init(&o);
	o.ca_bundle = "/nonexistent.pem";
	CHECK(setup(&o, &e) == -1 && e->kind == ERR_INVALID &&
	    strstr(e->msg, "caBundle") != NULL);
	err_free(&e);
	return 0;
}

/* The plain images first: their hashes are what "plain again" means. */
static int
test_plain(void)
{
	struct images_opts o;
	struct err *e = NULL;
	yajl_val v;
	char pk[512], id[80];
	size_t i;

	opts_init(&o);
	o.ca_bundle = NULL;
	if (setup(&o, &e) == -1) {
		fprintf(stderr, "# %s\n", e->msg);
		return 1;
	}
	for (i = 0; i < nitems(rts); i++) {
		image_facts(rts[i], plain_id[i], LABEL_HASH, plain_hash[i], 65);
		CHECK(plain_hash[i][0] != '\0');
		image_facts(rts[i], id, LABEL_PACKAGES, pk, sizeof pk);
		CHECK(pk[0] == '\0');
	}
	/* Our base (one: setup prunes older ones): what layers descend from. */
	v = docker_get("/images/json?filters=%7B%22reference%22%3A%5B%22" REPO
	               "%2Fbase%22%5D%7D");
	CHECK(YAJL_IS_ARRAY(v) && v->u.array.len == 1 &&
	    json_str(v->u.array.values[0], "Id", NULL) != NULL);
	snprintf(base_id, sizeof base_id, "%s",
	    json_str(v->u.array.values[0], "Id", NULL));
	yajl_tree_free(v);
	return 0;
}

static int
test_bake(void)
{
	static const char *const py[] = { "isol8probe==1.0" };
	static const char *const npm[] = { SMALL_NPM };
	static const char *const deno[] = { "npm:" SMALL_NPM };
	static const char *const apt[] = { "jq" };
	static const char *const deno_argv[] = { "env",
		"DENO_DIR=" PKG_DENO_DIR, "deno", "eval",
		"import isNumber from 'npm:" SMALL_NPM "';\n"
		"console.log(isNumber(5));",
		NULL };
	struct images_opts o;
	struct err *e = NULL;
	char id[80], pk[512], out[256];
	size_t i;

	opts_init(&o);
	o.python = (struct isol8_packages){ py, 1 };
	o.node = (struct isol8_packages){ npm, 1 };
	o.bun = (struct isol8_packages){ npm, 1 };
	o.deno = (struct isol8_packages){ deno, 1 };
	o.bash = (struct isol8_packages){ apt, 1 };
	if (setup(&o, &e) == -1) {
		fprintf(stderr, "# %s\n", e->msg);
		return 1;
	}
	image_facts("python", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, "isol8probe==1.0") == 0);
	image_facts("node", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, SMALL_NPM) == 0);
	image_facts("deno", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, "npm:" SMALL_NPM) == 0);
	image_facts("bash", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, "jq") == 0);

	/* Each runs with no network at all: baked, not fetched. */
	CHECK(run_in("python", "import isol8probe; print(isol8probe.VALUE)",
	          NULL, out, sizeof out) == 0 &&
	    strcmp(out, "isol8probe 1.0") == 0);
	CHECK(run_in("node",
	          "import isNumber from 'is-number';\n"
	          "import { createRequire } from 'module';\n"
	          "const require = createRequire(import.meta.url);\n"
	          "console.log(isNumber(5), require('is-number')('x'));\n",
	          NULL, out, sizeof out) == 0 &&
	    strcmp(out, "true false") == 0);
	CHECK(run_in("bun",
	          "import isNumber from 'is-number';\n"
	          "console.log(isNumber(5), require('is-number')('x'));\n",
	          NULL, out, sizeof out) == 0 &&
	    strcmp(out, "true false") == 0);
	/*
	 * Deno reads its cache from DENO_DIR: a run in this image needs
	 * install_baked_env("deno") in place of the engine's DENO_DIR (the
	 * engine's part; a duplicate key in the run's env loses to the
	 * engine's, which comes first). Until then, env(1) sets it here.
	 */
	CHECK(strcmp(install_baked_env("deno")[0], "DENO_DIR=" PKG_DENO_DIR) ==
	    0);
	CHECK(run_argv("deno", NULL, NULL, deno_argv, out, sizeof out) == 0 &&
	    strcmp(out, "true") == 0);
	CHECK(run_in("bash", NULL, "jq --version", out, sizeof out) == 0 &&
	    strncmp(out, "jq-1.", 5) == 0);
	/* The plain images they superseded are gone. */
	for (i = 0; i < nitems(rts); i++)
		CHECK(!image_exists(plain_id[i]));
	return 0;
}

/* An unchanged setup, with no lists, keeps what is baked: builds nothing. */
static int
test_unchanged(void)
{
	struct images_opts o;
	struct err *e = NULL;
	char before[5][80], after[80];
	size_t i;

	for (i = 0; i < nitems(rts); i++)
		image_facts(rts[i], before[i], NULL, NULL, 0);
	opts_init(&o);
	CHECK(setup(&o, &e) == 0);
	CHECK(strstr(progress.data, "building image") == NULL);
	CHECK(strstr(progress.data,
	          REPO
	          "/python:latest: Up to date, with isol8probe==1.0") != NULL);
	for (i = 0; i < nitems(rts); i++) {
		image_facts(rts[i], after, NULL, NULL, 0);
		CHECK(strcmp(before[i], after) == 0);
	}
	return 0;
}

/* Lists add to what is baked; a later spec of a package re-pins it. */
static int
test_add_and_repin(void)
{
	static const char *const extra[] = { "isol8extra" };
	static const char *const repin[] = { "isol8probe==2.0" };
	struct images_opts o;
	struct err *e = NULL;
	char old[80], id[80], pk[512], out[256];

	image_facts("python", old, NULL, NULL, 0);
	opts_init(&o);
	o.python = (struct isol8_packages){ extra, 1 };
	CHECK(setup(&o, &e) == 0);
	image_facts("python", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, "isol8extra isol8probe==1.0") == 0);
	CHECK(strcmp(id, old) != 0 && !image_exists(old));
	CHECK(run_in("python",
	          "import isol8probe, isol8extra\n"
	          "print(isol8probe.VALUE + ', ' + isol8extra.VALUE)",
	          NULL, out, sizeof out) == 0 &&
	    strcmp(out, "isol8probe 1.0, isol8extra 1.0") == 0);
	/* node was not given a list: untouched. */
	CHECK(strstr(progress.data, REPO "/node:latest: Up to date") != NULL);

	opts_init(&o);
	o.python = (struct isol8_packages){ repin, 1 };
	CHECK(setup(&o, &e) == 0);
	image_facts("python", id, LABEL_PACKAGES, pk, sizeof pk);
	CHECK(strcmp(pk, "isol8extra isol8probe==2.0") == 0);
	CHECK(run_in("python", "import isol8probe; print(isol8probe.VALUE)",
	          NULL, out, sizeof out) == 0 &&
	    strcmp(out, "isol8probe 2.0") == 0);
	return 0;
}

/* A failing install: a clear error naming the packages and carrying the
 * installer's words; the tag stays where it was; no layer is left. */
static int
failed_setup(struct images_opts *o, const char *rt, const char *want_in_msg,
    const char *reason)
{
	struct err *e = NULL;
	char before[80], after[80];
	cleanup_free char *g0 = image_graph(), *g1 = NULL;
	int rc;

	image_facts(rt, before, NULL, NULL, 0);
	rc = setup(o, &e);
	if (rc != -1 || e == NULL || strstr(e->msg, want_in_msg) == NULL) {
		fprintf(stderr, "# want an error with `%s`, got %s\n",
		    want_in_msg, e ? e->msg : "success");
		err_free(&e);
		return 1;
	}
	fprintf(stderr, "# the error: %s\n", e->msg);
	/* The installer's own words, within what isol8_error carries. */
	CHECK(strstr(e->msg, reason) != NULL &&
	    (size_t)(strstr(e->msg, reason) - e->msg) + strlen(reason) < 512);
	err_free(&e);
	image_facts(rt, after, NULL, NULL, 0);
	CHECK(strcmp(before, after) == 0);
	g1 = image_graph();
	CHECK(!layers_left(g0, g1));
	return 0;
}

/* A CA file of one certificate of the system's, picked by the time (so
 * that its layers are new to the build cache). */
static int
one_cert(char *path)
{
	struct buf all = { 0 };
	struct err *e = NULL;
	const char *p, *q;
	int fd, k, rc = -1;

	if (read_file(CA_SYSTEM_BUNDLE, 8u << 20, &all, &e) == -1 ||
	    (fd = mkstemp(path)) == -1) {
		err_free(&e);
		buf_free(&all);
		return -1;
	}
	buf_add(&all, "", 1);
	p = all.data;
	for (k = (int)(time(NULL) % 64); k > 0 && p != NULL; k--)
		if ((p = strstr(p + 1, "-----BEGIN CERTIFICATE-----")) == NULL)
			p = strstr(all.data, "-----BEGIN CERTIFICATE-----");
	p = p ? strstr(p, "-----BEGIN CERTIFICATE-----") : NULL;
	q = p ? strstr(p, "-----END CERTIFICATE-----") : NULL;
	if (q != NULL && write(fd, p, (size_t)(q - p) + 25) == (q - p) + 25)
		rc = 0;
	close(fd);
	buf_free(&all);
	return rc;
}

static int
test_failures(void)
{
	static const char *const nosuch[] = { "isol8-nosuch" };
	static const char *const npm_nosuch[] = { "isol8-no-such-package-zz9" };
	struct images_opts o;
	char ca[] = "/tmp/isol8-test-ca.XXXXXX";
	int rc;

	opts_init(&o);
	o.python = (struct isol8_packages){ nosuch, 1 };
	CHECK(failed_setup(&o, "python", "isol8-nosuch",
	          "No matching distribution found for isol8-nosuch") == 0);
	CHECK(strstr(progress.data, "isol8-nosuch") != NULL);

	/*
	 * The registry moved somewhere nothing answers: the baked list is
	 * installed again from it, and fails. With a CA bundle this image
	 * has not seen, the build makes layers before the install fails:
	 * they must go too.
	 */
	opts_init(&o);
	o.registries.pip_index_url = "http://127.0.0.1:1/simple";
	o.ca_bundle = ca;
	CHECK(one_cert(ca) == 0);
	rc = failed_setup(&o, "python",
	    "installing python packages (isol8extra isol8probe==2.0)",
	    "Connection refused");
	unlink(ca);
	CHECK(rc == 0);

	opts_init(&o);
	o.node = (struct isol8_packages){ npm_nosuch, 1 };
	CHECK(
	    failed_setup(&o, "node", "isol8-no-such-package-zz9",
	        "'isol8-no-such-package-zz9@*' is not in this registry") == 0);
	return 0;
}

/* replace with no lists: the plain images again, hash for hash. */
static int
test_replace_to_plain(void)
{
	struct images_opts o;
	struct err *e = NULL;
	char id[80], hash[65], pk[512], out[256];
	size_t i;

	opts_init(&o);
	o.ca_bundle = NULL;
	o.replace = 1;
	CHECK(setup(&o, &e) == 0);
	for (i = 0; i < nitems(rts); i++) {
		image_facts(rts[i], id, LABEL_HASH, hash, sizeof hash);
		CHECK(strcmp(hash, plain_hash[i]) == 0);
		image_facts(rts[i], id, LABEL_PACKAGES, pk, sizeof pk);
		CHECK(pk[0] == '\0');
	}
	CHECK(
	    run_in("python", "import isol8probe", NULL, out, sizeof out) != 0);
	CHECK(run_in("bash", NULL, "command -v jq || echo none", out,
	          sizeof out) == 0 &&
	    strcmp(out, "none") == 0);
	return 0;
}

/* Our runtime images go (before and after the tests); the base stays as
 * a cache for the next run. */
static void
cleanup_images(void)
{
	size_t i;

	for (i = 0; i < nitems(rts); i++) {
		struct docker_sync c = { 0 };
		char tag[64];

		snprintf(tag, sizeof tag, REPO "/%s:latest", rts[i]);
		docker_image_remove(dk, tag, 0, docker_sync_cb, &c);
		docker_sync_wait(dk, &c);
		err_free(&c.err);
		buf_free(&c.body);
	}
}

int
main(void)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;
	int rc, status;

	if (!docker_available())
		return 77;
	if (geteuid() != 0) {
		printf("1..0 # SKIP the base image needs root (debootstrap)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (index_start() == -1) {
		fprintf(stderr, "cannot start the package index\n");
		return 1;
	}
	lp = loop_new(NULL, NULL, NULL);
	dk = docker_new(lp, NULL, NULL);
	isol8_engine_opts_init(&eo);
	eo.pool_size = 0;
	if ((eng = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		fprintf(stderr, "engine: %s\n", err.message);
		return 1;
	}
	cleanup_images(); /* what an interrupted run may have left */
	RUN_TEST(test_bad_input);
	RUN_TEST(test_plain);
	RUN_TEST(test_bake);
	RUN_TEST(test_unchanged);
	RUN_TEST(test_add_and_repin);
	RUN_TEST(test_failures);
	RUN_TEST(test_replace_to_plain);
	rc = TAP_DONE();
	/* The last runs' containers are still being removed: an image in
	 * use would stay. */
	isol8_engine_drain(eng, 60000);
	cleanup_images();
	isol8_engine_free(eng);
	docker_free(dk);
	loop_free(lp);
	buf_free(&progress);
	close(index_fd);
	waitpid(index_pid, &status, 0);
	return rc;
}
