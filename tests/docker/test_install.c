/*
 * Run-time installs (isol8_request.packages, docs/packages.md) against the
 * real dockerd and the plain runtime images: the packages come from a
 * PEP 503 index and an npm registry this test serves on the host's
 * loopback (tests/docker/pkg_index.py), configured as the engine's
 * registries -- so reachable at a private address -- and reached only by
 * the installer, through the filtered proxy, whatever the run's network.
 * Checked: python (pip --user) and node (npm, an ESM import) installs
 * before the code, the code running with no network; a session keeps what
 * it installed; a failing install ends the run with ISOL8_EINSTALL naming
 * the package and the installer's words, the code never running; bad specs
 * and bash are refused before anything starts; and the user's code still
 * cannot reach the registry the installer used.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "isol8.h"
#include "support.h"

static struct isol8_engine *eng;
static char pip_url[64], npm_url[64];
static int index_port;
static pid_t index_pid;
static int index_fd = -1;

/* The index server: a child we started, ended by closing its stdin. */
static int
index_start(void)
{
	if ((index_port = pkg_index_start(&index_pid, &index_fd)) <= 0)
		return -1;
	snprintf(
	    pip_url, sizeof pip_url, "http://127.0.0.1:%d/simple", index_port);
	snprintf(
	    npm_url, sizeof npm_url, "http://127.0.0.1:%d/npm/", index_port);
	return 0;
}

/* One run of code with packages; out and err are the caller's to free. */
static int
run(const char *runtime, const char *code, const char *const *pkgs, size_t n,
    const char *session, struct isol8_output *out, struct isol8_error *err)
{
	struct isol8_request req;

	isol8_request_init(&req);
	req.runtime = runtime;
	req.code = code;
	req.packages = pkgs;
	req.packages_len = n;
	req.session = session;
	req.timeout_ms = 120000;
	memset(out, 0, sizeof *out);
	memset(err, 0, sizeof *err);
	return isol8_run_sync(eng, &req, out, err);
}

static int
test_python(void)
{
	static const char *const pkgs[] = { "isol8probe==2.0" };
	struct isol8_output out;
	struct isol8_error err;
	int rc = run("python", "import isol8probe; print(isol8probe.VALUE)",
	    pkgs, 1, NULL, &out, &err);

	if (rc != 0)
		fprintf(stderr, "# %s\n", err.message);
	CHECK(rc == 0);
	CHECK(out.result.exit_code == 0);
	CHECK(strcmp(out.stdout_data, "isol8probe 2.0\n") == 0);
	CHECK(out.result.install_ms > 0);
	isol8_output_free(&out);
	return 0;
}

/* npm into /sandbox; the code is an ES module that imports it by name. */
static int
test_node_esm(void)
{
	static const char *const pkgs[] = { "isol8-probe@1.0.0" };
	struct isol8_output out;
	struct isol8_error err;
	int rc =
	    run("node", "import p from 'isol8-probe'; console.log(p.value)",
	        pkgs, 1, NULL, &out, &err);

	if (rc != 0)
		fprintf(stderr, "# %s\n", err.message);
	else if (out.result.exit_code != 0)
		fprintf(stderr, "# %s\n", out.stderr_data);
	CHECK(rc == 0);
	CHECK(out.result.exit_code == 0);
	CHECK(strcmp(out.stdout_data, "isol8-probe 1.0.0\n") == 0);
	isol8_output_free(&out);
	return 0;
}

/* bun: into /sandbox/node_modules too; deno: npm: specs, its cache. */
static int
test_bun_deno(void)
{
	static const char *const bun[] = { "isol8-probe@2.0.0" };
	static const char *const deno[] = { "npm:isol8-probe@1.0.0" };
	struct isol8_output out;
	struct isol8_error err;
	int rc;

	rc = run("bun", "import p from 'isol8-probe'; console.log(p.value)",
	    bun, 1, NULL, &out, &err);
	if (rc != 0)
		fprintf(stderr, "# bun: %s\n", err.message);
	CHECK(rc == 0);
	CHECK(strcmp(out.stdout_data, "isol8-probe 2.0.0\n") == 0);
	isol8_output_free(&out);
	rc = run("deno",
	    "import p from 'npm:isol8-probe@1.0.0'; console.log(p.value)", deno,
	    1, NULL, &out, &err);
	if (rc != 0)
		fprintf(stderr, "# deno: %s\n", err.message);
	else if (out.result.exit_code != 0)
		fprintf(stderr, "# deno: %s\n", out.stderr_data);
	CHECK(rc == 0);
	CHECK(strcmp(out.stdout_data, "isol8-probe 1.0.0\n") == 0);
	isol8_output_free(&out);
	return 0;
}

/* A package no registry has: the run fails, the code never runs. */
static int
test_failing(void)
{
	static const char *const pkgs[] = { "isol8-nosuch" };
	struct isol8_output out;
	struct isol8_error err;
	int rc = run("python", "print('RAN')", pkgs, 1, NULL, &out, &err);

	fprintf(stderr, "# %s\n", err.message);
	CHECK(rc == -1);
	CHECK(err.code == ISOL8_EINSTALL);
	CHECK(strstr(err.message, "isol8-nosuch") != NULL);
	CHECK(strstr(err.message, "No matching distribution") != NULL);
	CHECK(
	    out.stdout_data == NULL || strstr(out.stdout_data, "RAN") == NULL);
	isol8_output_free(&out);
	return 0;
}

/* Refused at isol8_run_start, naming the item: nothing starts. */
static int
test_refused(void)
{
	static const char *const opt[] = { "--index-url=http://evil/" };
	static const char *const path[] = { "../x" };
	static const char *const deb[] = { "jq" };
	struct isol8_output out;
	struct isol8_error err;

	CHECK(run("python", "print(1)", opt, 1, NULL, &out, &err) == -1);
	CHECK(err.code == ISOL8_EINVAL);
	CHECK(strstr(err.message, "--index-url") != NULL);
	isol8_output_free(&out);
	CHECK(run("node", "1", path, 1, NULL, &out, &err) == -1);
	CHECK(err.code == ISOL8_EINVAL);
	CHECK(strstr(err.message, "../x") != NULL);
	isol8_output_free(&out);
	CHECK(run("bash", "jq --version", deb, 1, NULL, &out, &err) == -1);
	CHECK(err.code == ISOL8_EINVAL);
	CHECK(strstr(err.message, "isol8 setup --bash") != NULL);
	isol8_output_free(&out);
	return 0;
}

/* The installer's network is not the code's: it cannot reach the index. */
static int
test_code_offline(void)
{
	static const char *const pkgs[] = { "isol8probe==1.0" };
	struct isol8_output out;
	struct isol8_error err;
	char code[256];

	snprintf(code, sizeof code,
	    "import isol8probe, urllib.request\n"
	    "try:\n urllib.request.urlopen('%s', timeout=3); print('reached')\n"
	    "except Exception: print('blocked')\n",
	    pip_url);
	CHECK(run("python", code, pkgs, 1, NULL, &out, &err) == 0);
	CHECK(strcmp(out.stdout_data, "blocked\n") == 0);
	isol8_output_free(&out);
	return 0;
}

/*
 * A session keeps what a run installed; its interpreter, started before
 * the install, imports what was installed after.
 */
static int
test_session(void)
{
	static const char *const pkgs[] = { "isol8probe==1.0" };
	static const char *const sess = "isol8-install-test";
	struct isol8_output out;
	struct isol8_error err;

	isol8_session_remove(eng, sess, &err);
	CHECK(run("python", "x = 1", NULL, 0, sess, &out, &err) == 0);
	isol8_output_free(&out);
	CHECK(run("python", "import isol8probe; print(isol8probe.VALUE, x)",
	          pkgs, 1, sess, &out, &err) == 0);
	CHECK(strcmp(out.stdout_data, "isol8probe 1.0 1\n") == 0);
	CHECK(out.result.install_ms > 0);
	isol8_output_free(&out);
	CHECK(run("python", "import isol8probe; print(isol8probe.VALUE)", NULL,
	          0, sess, &out, &err) == 0);
	CHECK(strcmp(out.stdout_data, "isol8probe 1.0\n") == 0);
	CHECK(out.result.install_ms == 0);
	isol8_output_free(&out);
	/* A failed install keeps the session and what it had. */
	CHECK(run("python", "print(x)", (const char *const[]){ "isol8-nosuch" },
	          1, sess, &out, &err) == -1);
	CHECK(err.code == ISOL8_EINSTALL);
	isol8_output_free(&out);
	CHECK(run("python", "print(x)", NULL, 0, sess, &out, &err) == 0);
	CHECK(strcmp(out.stdout_data, "1\n") == 0);
	isol8_output_free(&out);
	CHECK(isol8_session_remove(eng, sess, &err) == 0);
	return 0;
}

/*
 * A hostile registry points a package at another port of its host: the
 * installer's proxy lets only the registry's own host:port through, and
 * the error says what it refused.
 */
static int
test_other_port(void)
{
	static const char *const pkgs[] = { "isol8-elsewhere" };
	struct isol8_output out;
	struct isol8_error err;
	char want[64];

	CHECK(run("node", "1", pkgs, 1, NULL, &out, &err) == -1);
	fprintf(stderr, "# %s\n", err.message);
	CHECK(err.code == ISOL8_EINSTALL);
	snprintf(want, sizeof want, "refused 127.0.0.1:%d", index_port + 1);
	CHECK(strstr(err.message, want) != NULL);
	isol8_output_free(&out);
	return 0;
}

int
main(void)
{
	struct isol8_engine_opts eo;
	struct isol8_error err;
	int rc;

	if (!docker_available())
		return 77;
	signal(SIGPIPE, SIG_IGN);
	if (index_start() == -1) {
		fprintf(stderr, "cannot start the package index\n");
		return 1;
	}
	isol8_engine_opts_init(&eo);
	eo.pool_size = 0;
	eo.pip_index_url = pip_url;
	eo.npm_registry = npm_url;
	if ((eng = isol8_engine_new(NULL, &eo, &err)) == NULL) {
		fprintf(stderr, "engine: %s\n", err.message);
		return 1;
	}
	RUN_TEST(test_refused);
	RUN_TEST(test_python);
	RUN_TEST(test_node_esm);
	RUN_TEST(test_bun_deno);
	RUN_TEST(test_failing);
	RUN_TEST(test_code_offline);
	RUN_TEST(test_session);
	RUN_TEST(test_other_port);
	isol8_engine_free(eng);
	close(index_fd);
	kill(index_pid, SIGTERM);
	rc = TAP_DONE();
	return rc;
}
