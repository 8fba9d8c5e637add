/*
 * run --setup and --workdir. A setup script (the --setup values, each a
 * command or the text of an existing file, joined by newlines, as the
 * original isol8 does) runs with bash in /sandbox before the code, in the
 * same container; when it fails the code does not run, the run says
 * "Setup script failed (exit code N)" and its status is 1.
 *
 * It is built on the public API alone, with no engine feature:
 * - a one-use run becomes one bash command line (the prelude): the setup
 *   script and the code travel as request files to /sandbox/.isol8-setup/,
 *   the prelude moves them to /tmp/.isol8/ -- the code where the engine
 *   would have written it -- runs the setup, then cd's to --workdir and
 *   exec's the runtime's own command on the code through env(1), which
 *   takes away what bash added to the environment (PWD, OLDPWD, SHLVL,
 *   unless the run set them). So the program runs as it would have: same
 *   process (exec), argv, file, environment, stdin, limits; only /tmp/.isol8
 *   is made by the prelude, as the sandbox user, as the agent would have;
 * - a session run is two runs in the session: the setup's prelude (with
 *   the run's files, so the setup sees them), then the code, unchanged --
 *   into the session's interpreter as always.
 * The runtimes' commands below mirror the engine's table (src/images/
 * runtime.c); test_run_setup.c fails when they differ.
 *
 * --workdir is where the code runs: inside /sandbox (a relative path is
 * below it, `..` resolved), else "Working directory must be inside
 * /sandbox". Without --setup it is the request's workdir; with it the
 * prelude cd's there after the setup, which may be what creates it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "../util/util.h"

#define STAGE "/sandbox/.isol8-setup"
#define STAGE_REL ".isol8-setup"
#define CODE_DIR "/tmp/.isol8"

static const char *const py_argv[] = { "python3", "@", NULL };
static const char *const node_argv[] = { "node", "@", NULL };
static const char *const bun_argv[] = { "bun", "run", "@", NULL };
static const char *const deno_argv[] = { "deno", "run", "--no-prompt",
	"--allow-read=/sandbox,/tmp", "--allow-write=/sandbox,/tmp",
	"--allow-env", "--allow-net", "@", NULL };
static const char *const bash_argv[] = { "bash", "@", NULL };

/* How the engine runs each runtime's code (src/images/runtime.c). */
static const struct {
	const char *name;
	const char *file;        /* where the engine writes the code */
	const char *const *argv; /* "@" is that file */
} runtimes[] = {
	{ "python", CODE_DIR "/main.py", py_argv },
	{ "node", CODE_DIR "/main.mjs", node_argv },
	{ "bun", CODE_DIR "/main.ts", bun_argv },
	{ "deno", CODE_DIR "/main.ts", deno_argv },
	{ "bash", CODE_DIR "/main.sh", bash_argv },
};

/* The mirrored command of a runtime (for the test), or NULL. */
const char *const *
run_setup_argv(const char *runtime, const char **file)
{
	size_t i;

	for (i = 0; i < nitems(runtimes); i++)
		if (strcmp(runtimes[i].name, runtime) == 0) {
			*file = runtimes[i].file;
			return runtimes[i].argv;
		}
	return NULL;
}

/* s, single-quoted for bash: any bytes but NUL. */
static void
quote(struct buf *b, const char *s)
{
	buf_addstr(b, "'");
	for (; *s != '\0'; s++)
		if (*s == '\'')
			buf_addstr(b, "'\\''");
		else
			buf_add(b, s, 1);
	buf_addstr(b, "'");
}

/*
 * --workdir into an absolute path inside /sandbox, `.`, `..` and empty
 * parts resolved as the original does (path.posix.resolve from /sandbox).
 */
int
run_workdir(const char *in, char **out, struct err **errp)
{
	cleanup_free char *p = NULL;
	struct buf b = { 0 };
	char *part, *save = NULL;
	size_t len;

	p = in[0] == '/' ? xstrdup(in) : xasprintf("/sandbox/%s", in);
	for (part = strtok_r(p, "/", &save); part != NULL;
	     part = strtok_r(NULL, "/", &save)) {
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			while (b.len > 0 && b.data[--b.len] != '/')
				;
			continue;
		}
		buf_addstr(&b, "/");
		buf_addstr(&b, part);
	}
	buf_addstr(&b, "");
	len = b.len;
	if (len == 0 ||
	    (strcmp(b.data, "/sandbox") != 0 &&
	        strncmp(b.data, "/sandbox/", 9) != 0)) {
		buf_free(&b);
		return err_set(errp, ERR_INVALID,
		    "Working directory must be inside /sandbox (--workdir `%s`)",
		    in);
	}
	*out = xstrndup(b.data, len);
	buf_free(&b);
	return 0;
}

/*
 * The setup script from the --setup values: each one the text of the
 * file it names when there is one, else a command; joined by newlines.
 */
int
run_setup_script(
    struct run_setup *s, const char *const *values, size_t n, struct err **errp)
{
	struct buf text = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addstr(&s->script, "\n");
		if (access(values[i], F_OK) != 0) {
			buf_addstr(&s->script, values[i]);
			continue;
		}
		if (read_file(values[i], RUN_SETUP_MAX, &text, errp) == -1)
			return err_wrap(errp, "--setup");
		buf_add(&s->script, text.data, text.len);
		buf_free(&text);
	}
	if (s->script.len > RUN_SETUP_MAX)
		return err_set(errp, ERR_LIMIT,
		    "the --setup script is over %u bytes", RUN_SETUP_MAX);
	buf_addstr(&s->script, ""); /* NUL-terminated, not counted */
	return 0;
}

/* A request file of ours, appended to a copy of the request's files. */
static void
add_file(struct run_setup *s, const char *path, const void *data, size_t len)
{
	s->files = xreallocarray(s->files, s->nfiles + 1, sizeof *s->files);
	s->files[s->nfiles].path = path;
	s->files[s->nfiles].data = data;
	s->files[s->nfiles++].len = len;
}

/* The request's files, and whether one of them is in our staging place. */
static int
take_files(
    struct run_setup *s, const struct isol8_request *req, struct err **errp)
{
	const char *p;
	size_t i;

	for (i = 0; i < req->files_len; i++) {
		p = req->files[i].path;
		if (strncmp(p, "/sandbox/", 9) == 0)
			p += 9;
		if (strncmp(p, STAGE_REL, strlen(STAGE_REL)) == 0)
			return err_set(errp, ERR_INVALID,
			    "`%s`: " STAGE
			    " is where --setup stages its script",
			    req->files[i].path);
		add_file(s, req->files[i].path, req->files[i].data,
		    req->files[i].len);
	}
	return 0;
}

/*
 * The prelude's first part: the staged files into /tmp/.isol8 (code is
 * NULL when there is none), the setup run, and its verdict.
 */
static void
prelude_setup(struct buf *b, const char *code)
{
	buf_addstr(b,
	    "mkdir -p " CODE_DIR " && mv -f -- " STAGE "/setup.sh " CODE_DIR
	    "/setup.sh");
	if (code != NULL) {
		buf_addstr(b, " && mv -f -- " STAGE "/code ");
		quote(b, code);
	}
	buf_addstr(b,
	    " && rmdir -- " STAGE
	    " || { echo 'isol8: cannot move the setup script and the code to " CODE_DIR
	    " (raise --tmp-size)' >&2; exit 125; }\n"
	    "bash " CODE_DIR "/setup.sh </dev/null\n"
	    "s=$?\n"
	    "rm -f -- " CODE_DIR "/setup.sh\n"
	    "if [ \"$s\" -ne 0 ]; then echo \"isol8: Setup script failed (exit code $s); the code did not run\" >&2; exit 1; fi\n");
}

/* The last value of an environment variable the request sets, or NULL. */
static const char *
req_env(const struct isol8_request *req, const char *name)
{
	const char *v = NULL;
	size_t i;

	for (i = 0; i < req->env_len; i++)
		if (strcmp(req->env[i].key, name) == 0)
			v = req->env[i].value;
	for (i = 0; i < req->secrets_len; i++)
		if (strcmp(req->secrets[i].key, name) == 0)
			v = req->secrets[i].value;
	return v;
}

/*
 * The prelude's end: into the working directory, and exec the program
 * with the environment as the run gave it (bash added PWD, OLDPWD and
 * SHLVL: env(1) takes them away, or puts back the run's own values).
 */
static void
prelude_exec(struct buf *b, const struct isol8_request *req,
    const char *workdir, const char *const *argv, const char *file)
{
	static const char *const added[] = { "PWD", "OLDPWD", "SHLVL" };
	const char *v;
	size_t i;

	if (workdir != NULL) {
		buf_addstr(b, "cd -- ");
		quote(b, workdir);
		buf_addstr(b, " 2>/dev/null || { echo ");
		quote(b, "isol8: cannot enter --workdir (no such directory)");
		buf_addstr(b, " >&2; exit 126; }\n");
	}
	buf_addstr(b, "exec env");
	for (i = 0; i < nitems(added); i++)
		buf_printf(b, " -u %s", added[i]);
	buf_addstr(b, " --");
	for (i = 0; i < nitems(added); i++)
		if ((v = req_env(req, added[i])) != NULL) {
			buf_printf(b, " %s=", added[i]);
			quote(b, v);
		}
	if (req->cmd != NULL) {
		buf_addstr(b, " bash -c ");
		quote(b, req->cmd);
	} else
		for (; *argv != NULL; argv++) {
			buf_addstr(b, " ");
			quote(b, strcmp(*argv, "@") == 0 ? file : *argv);
		}
	buf_addstr(b, "\n");
}

/*
 * A session: the setup is a run of its own before the code's, in the
 * session, with the run's files and limits; the code's run is left as it
 * is (files already sent), but for its working directory.
 */
static int
apply_session(struct run_setup *s, struct isol8_request *req,
    const char *workdir, struct err **errp)
{
	s->first = *req;
	if (take_files(s, req, errp) == -1)
		return -1;
	add_file(s, STAGE "/setup.sh", s->script.data, s->script.len);
	prelude_setup(&s->prelude, NULL);
	buf_addstr(&s->prelude, "");
	s->first.code = NULL;
	s->first.code_len = 0;
	s->first.argv = NULL;
	s->first.cmd = s->prelude.data;
	s->first.file_ext = NULL;
	s->first.files = s->files;
	s->first.files_len = s->nfiles;
	s->first.outputs = NULL;
	s->first.outputs_len = 0;
	s->first.stdin_data = NULL;
	s->first.stdin_len = 0;
	s->first.stdin_stream = 0;
	s->two_runs = 1;
	req->files = NULL;
	req->files_len = 0;
	req->workdir = workdir;
	return 0;
}

/*
 * The request with its setup: a one-use run's code and command become
 * the prelude (its files: the request's, the setup script, the code), a
 * session's setup a run of its own (s->first). workdir is checked.
 */
int
run_setup_apply(struct run_setup *s, struct isol8_request *req,
    const char *workdir, struct err **errp)
{
	const char *const *argv = NULL;
	const char *file = NULL;
	cleanup_free char *ext_file = NULL;

	if (req->session != NULL)
		return apply_session(s, req, workdir, errp);
	if (req->code != NULL) {
		if ((argv = run_setup_argv(req->runtime, &file)) == NULL)
			return err_set(errp, ERR_INVALID,
			    "unknown runtime `%s`", req->runtime);
		if (req->file_ext != NULL)
			file = ext_file =
			    xasprintf(CODE_DIR "/main%s", req->file_ext);
	}
	if (take_files(s, req, errp) == -1)
		return -1;
	add_file(s, STAGE "/setup.sh", s->script.data, s->script.len);
	if (req->code != NULL)
		add_file(s, STAGE "/code", req->code,
		    req->code_len ? req->code_len : strlen(req->code));
	prelude_setup(&s->prelude, file);
	prelude_exec(&s->prelude, req, workdir, argv, file);
	buf_addstr(&s->prelude, "");
	req->files = s->files;
	req->files_len = s->nfiles;
	req->code = NULL;
	req->code_len = 0;
	req->file_ext = NULL;
	req->cmd = s->prelude.data;
	return 0;
}

void
run_setup_free(struct run_setup *s)
{
	buf_free(&s->script);
	buf_free(&s->prelude);
	free(s->files);
	memset(s, 0, sizeof *s);
}
