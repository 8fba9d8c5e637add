/*
 * run --setup and --workdir (src/cli/run_setup.c): the runtimes' commands
 * the prelude exec's are the engine's own (a copy that drifts fails
 * here); --workdir resolves as the original does; the prelude and the
 * session's first run carry what they must.
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "cli/run.h"
#include "images/images.h"
#include "util/util.h"

/* Every runtime of the engine's table, mirrored exactly. */
static int
test_mirror(void)
{
	const struct runtime *all;
	const char *const *argv;
	const char *file;
	size_t n, i, j;

	all = runtime_all(&n);
	CHECK(n == 5);
	for (i = 0; i < n; i++) {
		argv = run_setup_argv(all[i].name, &file);
		CHECK(argv != NULL);
		CHECK(strcmp(file, all[i].file) == 0);
		for (j = 0; all[i].argv[j] != NULL; j++)
			CHECK(argv[j] != NULL &&
			    strcmp(argv[j], all[i].argv[j]) == 0);
		CHECK(argv[j] == NULL);
	}
	CHECK(run_setup_argv("ruby", &file) == NULL);
	return 0;
}

static int
test_workdir(void)
{
	static const struct {
		const char *in, *want; /* NULL: refused */
	} cases[] = {
		{ "/sandbox", "/sandbox" },
		{ "/sandbox/", "/sandbox" },
		{ "/sandbox/project", "/sandbox/project" },
		{ "project", "/sandbox/project" },
		{ "a/./b//c/", "/sandbox/a/b/c" },
		{ "/sandbox/a/../b", "/sandbox/b" },
		{ ".", "/sandbox" },
		{ "/etc", NULL },
		{ "/", NULL },
		{ "..", NULL },
		{ "../../etc", NULL },
		{ "/sandbox/..", NULL },
		{ "/sandboxes", NULL },
		{ "/sandbox/../sandbox2", NULL },
		{ "/tmp", NULL },
	};
	struct err *e = NULL;
	char *out;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		out = NULL;
		if (cases[i].want == NULL) {
			CHECK(run_workdir(cases[i].in, &out, &e) == -1);
			CHECK(
			    strstr(e->msg,
			        "Working directory must be inside /sandbox") !=
			    NULL);
			err_free(&e);
			continue;
		}
		CHECK(run_workdir(cases[i].in, &out, &e) == 0);
		if (strcmp(out, cases[i].want) != 0) {
			fprintf(stderr, "%s -> %s\n", cases[i].in, out);
			return 1;
		}
		free(out);
	}
	return 0;
}

static void
never(const struct isol8_result *r, const struct isol8_error *e, void *arg)
{
	(void)r;
	(void)e;
	*(int *)arg = 1;
}

/*
 * The engine's side of --workdir (req.workdir, engine_plan.c): a path
 * outside /sandbox or not in its plain form is refused at once, without
 * Docker; so is one with a session's interpreter.
 */
static int
test_request_workdir(void)
{
	static const struct isol8_callbacks cbs = { NULL, NULL, never };
	static const char *const bad[] = { "/etc", "/", "/sandbox/..",
		"/sandbox/./x", "/sandboxes", "/tmp" };
	struct isol8_engine *eng;
	struct isol8_request req;
	struct isol8_error err;
	int called = 0;
	size_t i;

	CHECK((eng = isol8_engine_new(NULL, NULL, &err)) != NULL);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "1";
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		req.workdir = bad[i];
		CHECK(isol8_run_start(eng, &req, &cbs, &called, &err) == NULL);
		CHECK(err.code == ISOL8_EINVAL &&
		    strstr(err.message, "workdir") != NULL);
	}
	req.workdir = "/sandbox/w";
	req.session = "nb";
	CHECK(isol8_run_start(eng, &req, &cbs, &called, &err) == NULL);
	CHECK(err.code == ISOL8_EINVAL &&
	    strstr(err.message, "a workdir does not go with a session") !=
	        NULL);
	isol8_engine_free(eng);
	CHECK(!called);
	return 0;
}

/* A one-use run: the prelude, the files staged, the code moved. */
static int
test_prelude(void)
{
	static const char *const setups[] = { "echo a", "echo 'b'" };
	static const struct isol8_kv env[] = { { "PWD", "/x'y" } };
	struct isol8_file mine = { "data.txt", "d", 1 };
	struct run_setup s;
	struct isol8_request req;
	struct err *e = NULL;

	memset(&s, 0, sizeof s);
	isol8_request_init(&req);
	req.runtime = "node";
	req.code = "console.log(1)";
	req.file_ext = ".c'js";
	req.files = &mine;
	req.files_len = 1;
	req.env = env;
	req.env_len = 1;
	CHECK(run_setup_script(&s, setups, 2, &e) == 0);
	CHECK(strcmp(s.script.data, "echo a\necho 'b'") == 0);
	CHECK(run_setup_apply(&s, &req, "/sandbox/w d", &e) == 0);
	CHECK(req.code == NULL && req.file_ext == NULL && req.cmd != NULL);
	CHECK(req.files_len == 3);
	CHECK(strcmp(req.files[0].path, "data.txt") == 0);
	CHECK(strcmp(req.files[1].path, "/sandbox/.isol8-setup/setup.sh") == 0);
	CHECK(strcmp(req.files[2].path, "/sandbox/.isol8-setup/code") == 0);
	CHECK(req.files[2].len == strlen("console.log(1)"));
	/* The code where the engine would put it, quoted; the setup's
	 * verdict; the directory; the run's own PWD given back. */
	CHECK(strstr(req.cmd, "'/tmp/.isol8/main.c'\\''js'") != NULL);
	CHECK(strstr(req.cmd, "bash /tmp/.isol8/setup.sh </dev/null") != NULL);
	CHECK(strstr(req.cmd, "Setup script failed (exit code $s)") != NULL);
	CHECK(strstr(req.cmd, "cd -- '/sandbox/w d'") != NULL);
	CHECK(
	    strstr(req.cmd,
	        "exec env -u PWD -u OLDPWD -u SHLVL -- PWD='/x'\\''y' 'node' '/tmp/.isol8/main.c'\\''js'\n") !=
	    NULL);
	CHECK(!s.two_runs);
	run_setup_free(&s);
	return 0;
}

/* A session: the setup's own run first, the code's left as it was. */
static int
test_session(void)
{
	static const char *const setups[] = { "pip --version" };
	struct isol8_file mine = { "data.txt", "d", 1 };
	struct run_setup s;
	struct isol8_request req;
	struct err *e = NULL;

	memset(&s, 0, sizeof s);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "print(1)";
	req.session = "nb";
	req.files = &mine;
	req.files_len = 1;
	req.stdin_data = "in";
	req.stdin_len = 2;
	CHECK(run_setup_script(&s, setups, 1, &e) == 0);
	CHECK(run_setup_apply(&s, &req, NULL, &e) == 0);
	CHECK(s.two_runs);
	CHECK(s.first.cmd != NULL && s.first.code == NULL);
	CHECK(strcmp(s.first.session, "nb") == 0);
	CHECK(s.first.files_len == 2 && s.first.stdin_data == NULL);
	CHECK(strstr(s.first.cmd, "exec") == NULL);
	CHECK(strcmp(req.code, "print(1)") == 0 && req.cmd == NULL);
	CHECK(req.files_len == 0 && req.stdin_data != NULL);
	run_setup_free(&s);
	return 0;
}

/* Our staging place is ours: a --files entry there is refused. */
static int
test_staging_is_ours(void)
{
	static const char *const setups[] = { "true" };
	struct isol8_file f = { ".isol8-setup/x", "d", 1 };
	struct run_setup s;
	struct isol8_request req;
	struct err *e = NULL;

	memset(&s, 0, sizeof s);
	isol8_request_init(&req);
	req.runtime = "python";
	req.code = "1";
	req.files = &f;
	req.files_len = 1;
	CHECK(run_setup_script(&s, setups, 1, &e) == 0);
	CHECK(run_setup_apply(&s, &req, NULL, &e) == -1);
	CHECK(strstr(e->msg, "is where --setup stages") != NULL);
	err_free(&e);
	run_setup_free(&s);
	return 0;
}

int
main(void)
{
	RUN_TEST(test_mirror);
	RUN_TEST(test_workdir);
	RUN_TEST(test_request_workdir);
	RUN_TEST(test_prelude);
	RUN_TEST(test_session);
	RUN_TEST(test_staging_is_ours);
	return TAP_DONE();
}
