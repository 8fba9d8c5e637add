/*
 * A request, checked and made into what a run sends: its pool key (the
 * container it needs), the PUT_FILE frames of its files and code, and the
 * RUN frame. Every check that needs no container happens here, before
 * anything is created (engine_limits for the numbers; paths, names,
 * counts and sizes), so that what Docker or the agent would refuse never
 * becomes an internal error once a container was made.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

void
isol8_request_init(struct isol8_request *r)
{
	memset(r, 0, sizeof *r);
	r->timeout_ms = ENGINE_DEFAULT_TIMEOUT_MS;
	r->memory = ENGINE_DEFAULT_MEMORY;
	r->cpus = (double)ENGINE_DEFAULT_NANO_CPUS / 1e9;
	r->pids = ENGINE_DEFAULT_PIDS;
	r->sandbox_size = ENGINE_DEFAULT_SANDBOX;
	r->tmp_size = ENGINE_DEFAULT_TMP;
	r->max_output = ENGINE_DEFAULT_MAX_OUTPUT;
	r->network = "none";
}

/*
 * A sandbox path: relative ones are below /sandbox; absolute ones must be
 * below /sandbox (or /tmp when allowed). No empty, `.` or `..` parts.
 */
static char *
sandbox_path(const char *in, int allow_tmp, struct err **errp)
{
	char *p, *c, *save = NULL, *copy;
	int bad = 0;

	if (in == NULL || *in == '\0' || strlen(in) > 1024) {
		err_set(
		    errp, ERR_INVALID, "bad sandbox path `%s`", in ? in : "");
		return NULL;
	}
	if (*in == '/')
		p = xstrdup(in);
	else
		p = xasprintf("/sandbox/%s", in);
	if (strncmp(p, "/sandbox/", 9) != 0 &&
	    !(allow_tmp && strncmp(p, "/tmp/", 5) == 0))
		bad = 1;
	copy = xstrdup(p + 1);
	for (c = strtok_r(copy, "/", &save); c != NULL && !bad;
	     c = strtok_r(NULL, "/", &save))
		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
			bad = 1;
	if (strstr(p, "//") != NULL || p[strlen(p) - 1] == '/')
		bad = 1;
	free(copy);
	if (bad) {
		err_set(errp, ERR_INVALID,
		    "path `%s` is not a file below /sandbox%s", in,
		    allow_tmp ? " or /tmp" : "");
		free(p);
		return NULL;
	}
	return p;
}

/*
 * A request's workdir: NULL or /sandbox, or a path below it as
 * sandbox_path() takes it. The one check, for the plan and for front ends
 * that take a workdir from outside (isol8_workdir_check: the API).
 */
static int
workdir_check(const char *workdir, struct err **errp)
{
	char *wd;

	if (workdir == NULL || strcmp(workdir, "/sandbox") == 0)
		return 0;
	if ((wd = sandbox_path(workdir, 0, errp)) == NULL)
		return err_wrap(errp, "workdir");
	free(wd);
	return 0;
}

int
isol8_workdir_check(const char *workdir, struct isol8_error *errp)
{
	struct err *err = NULL;

	if (workdir_check(workdir, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		return -1;
	}
	return 0;
}

/* PUT_FILE frames for one file, in chunks; one OK will answer. */
static void
plan_put_file(struct plan *pl, const char *path, const void *data, size_t len)
{
	const char *p = data;
	size_t at, off = 0, n;

	do {
		n = len - off < PROTO_CHUNK ? len - off : PROTO_CHUNK;
		at = proto_frame_begin(&pl->frames, PROTO_PUT_FILE);
		proto_tlv_str(&pl->frames, PROTO_T_PATH, path);
		proto_tlv_u64(&pl->frames, PROTO_T_MODE, 0644);
		proto_tlv(&pl->frames, PROTO_T_DATA, p + off, n);
		proto_tlv_u64(&pl->frames, PROTO_T_APPEND, off > 0);
		proto_tlv_u64(&pl->frames, PROTO_T_END, off + n == len);
		proto_frame_end(&pl->frames, at);
		off += n;
	} while (off < len);
	pl->acks++;
}

static int
valid_session(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static int
valid_env_key(const char *k)
{
	return k != NULL && *k != '\0' && strchr(k, '=') == NULL;
}

/*
 * The pool key of a request: what its container is created with. The
 * strings are allocated into *image and *network.
 */
int
engine_spec(const struct isol8_request *req, struct pool_spec *spec,
    char **image, char **network, struct err **errp)
{
	const struct runtime *rt =
	    runtime_find(req->runtime ? req->runtime : "bash");
	struct engine_limits lim;

	if (rt == NULL)
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%s` (known: python, node, bun, deno, bash)",
		    req->runtime);
	if (req->network != NULL && strcmp(req->network, "none") != 0 &&
	    strcmp(req->network, "host") != 0 &&
	    strcmp(req->network, "filtered") != 0)
		return err_set(errp, ERR_INVALID,
		    "network mode `%s` is not supported (none, host, filtered)",
		    req->network);
	if (engine_limits(req, &lim, errp) == -1)
		return -1;
	*image = req->image ? xstrdup(req->image) : runtime_image(rt->name);
	/* Filtered: no network; the agent relays to the host's proxy. */
	*network = xstrdup(
	    req->network != NULL && strcmp(req->network, "filtered") != 0
	        ? req->network
	        : "none");
	memset(spec, 0, sizeof *spec);
	spec->image = *image;
	spec->network = *network;
	/* Bounded by engine_limits(): each fits an int64. */
	spec->memory = (int64_t)lim.memory;
	spec->nano_cpus = (int64_t)lim.nano_cpus;
	spec->pids = (int64_t)lim.pids;
	spec->sandbox_size = (int64_t)lim.sandbox_size;
	spec->tmp_size = (int64_t)lim.tmp_size;
	return 0;
}

int
isol8_engine_prewarm(struct isol8_engine *e, const struct isol8_request *req,
    struct isol8_error *errp)
{
	struct pool_spec spec;
	char *image = NULL, *network = NULL;
	struct err *err = NULL;

	if (engine_spec(req, &spec, &image, &network, &err) == -1) {
		engine_error(errp, err);
		err_free(&err);
		return -1;
	}
	pool_prewarm(e->pool, &spec);
	free(image);
	free(network);
	return 0;
}

_Static_assert(ISOL8_MAX_OUTPUTS <= PROTO_MAX_OUTPUTS,
    "the agent takes every output a request may name");

/* A file of len bytes (the code, or one of files) fits the limits. */
static int
plan_check_size(const char *what, size_t len, const struct engine_limits *lim,
    int in_tmp, struct err **errp)
{
	if (len > ISOL8_MAX_CODE)
		return err_set(errp, ERR_LIMIT,
		    "%s of %zu bytes is over the %u-byte limit", what, len,
		    ISOL8_MAX_CODE);
	/* sandbox_size is also the file-size ulimit of the container. */
	if (len > lim->sandbox_size)
		return err_set(errp, ERR_INVALID,
		    "%s of %zu bytes is larger than `sandbox_size` (%llu bytes), the largest file the sandbox may write",
		    what, len, (unsigned long long)lim->sandbox_size);
	if (in_tmp && len > lim->tmp_size)
		return err_set(errp, ERR_INVALID,
		    "%s of %zu bytes does not fit in `tmp_size` (%llu bytes), where it is written",
		    what, len, (unsigned long long)lim->tmp_size);
	return 0;
}

/*
 * What can be checked of a request before anything is built: its limits
 * (engine_limits), its source, names, counts and sizes. What passes is
 * not refused by Docker or the agent for its numbers, which used to end
 * as an internal error once a container was made.
 */
static int
plan_check(const struct isol8_request *req, struct engine_limits *lim,
    size_t *code_len, struct err **errp)
{
	size_t i;
	int filtered;

	if (req->session != NULL && !valid_session(req->session))
		return err_set(errp, ERR_INVALID,
		    "bad session name `%s` (letters, digits, `.`, `_`, `-`; at most 64)",
		    req->session);
	if ((req->code != NULL) + (req->cmd != NULL) + (req->argv != NULL) != 1)
		return err_set(
		    errp, ERR_INVALID, "give exactly one of code, cmd or argv");
	if (req->runtime == NULL && req->code != NULL)
		return err_set(errp, ERR_INVALID, "no runtime given");
	if (req->argv != NULL && req->argv[0] == NULL)
		return err_set(errp, ERR_INVALID, "empty argv");
	for (i = 0; req->argv != NULL && req->argv[i] != NULL; i++)
		if (i == PROTO_MAX_ARGS) /* what the agent takes */
			return err_set(errp, ERR_LIMIT,
			    "argv has more than %d items", PROTO_MAX_ARGS);
	if (workdir_check(req->workdir, errp) == -1)
		return -1;
	if (engine_limits(req, lim, errp) == -1)
		return -1;
	filtered =
	    req->network != NULL && strcmp(req->network, "filtered") == 0;
	if (!filtered && (req->net_allow_len > 0 || req->net_deny_len > 0))
		return err_set(errp, ERR_INVALID,
		    "allow and deny patterns need the filtered network");
	*code_len = 0;
	if (req->code != NULL) {
		*code_len = req->code_len ? req->code_len : strlen(req->code);
		if (plan_check_size("code", *code_len, lim, 1, errp) == -1)
			return -1;
	}
	if (req->file_ext != NULL &&
	    (req->file_ext[0] != '.' || strlen(req->file_ext) > 8 ||
	        strchr(req->file_ext, '/')))
		return err_set(errp, ERR_INVALID, "bad file extension `%s`",
		    req->file_ext);
	for (i = 0; i < req->env_len; i++)
		if (!valid_env_key(req->env[i].key) || !req->env[i].value)
			return err_set(errp, ERR_INVALID,
			    "bad environment variable name `%s`",
			    req->env[i].key ? req->env[i].key : "");
	for (i = 0; i < req->secrets_len; i++)
		if (!valid_env_key(req->secrets[i].key) ||
		    !req->secrets[i].value)
			return err_set(errp, ERR_INVALID,
			    "bad secret name `%s`",
			    req->secrets[i].key ? req->secrets[i].key : "");
	if (req->files_len > ISOL8_MAX_FILES ||
	    req->outputs_len > ISOL8_MAX_OUTPUTS)
		return err_set(errp, ERR_LIMIT,
		    "at most %d files and %d outputs", ISOL8_MAX_FILES,
		    ISOL8_MAX_OUTPUTS);
	for (i = 0; i < req->files_len; i++)
		if (plan_check_size("file", req->files[i].len, lim, 0, errp) ==
		    -1)
			return err_wrap(errp, "`%s`",
			    req->files[i].path ? req->files[i].path : "");
	return 0;
}

/* The RUN frame's program: the code's file, a command line, or argv. */
static void
plan_argv(struct plan *pl, const struct isol8_request *req,
    const struct runtime *rt, const char *file)
{
	const char *const *a;

	if (req->code != NULL && req->session != NULL && rt->kernel != NULL) {
		/* In a session, into its interpreter: variables persist. The
		 * kernel takes argv as the program would see it: the file. */
		for (a = rt->kernel; *a != NULL; a++)
			proto_tlv_str(&pl->run_head, PROTO_T_KERNEL, *a);
		proto_tlv_str(&pl->run_head, PROTO_T_ARGV, rt->kernel[0]);
		proto_tlv_str(&pl->run_head, PROTO_T_ARGV, file);
	} else if (req->code != NULL) {
		for (a = rt->argv; *a != NULL; a++)
			proto_tlv_str(&pl->run_head, PROTO_T_ARGV,
			    strcmp(*a, "@") == 0 ? file : *a);
	} else if (req->cmd != NULL) {
		proto_tlv_str(&pl->run_head, PROTO_T_ARGV, "bash");
		proto_tlv_str(&pl->run_head, PROTO_T_ARGV, "-c");
		proto_tlv_str(&pl->run_head, PROTO_T_ARGV, req->cmd);
	} else
		for (a = req->argv; *a != NULL; a++)
			proto_tlv_str(&pl->run_head, PROTO_T_ARGV, *a);
}

/* Whether the request sets the variable of "KEY=..." (env or secrets). */
static int
plan_sets(const struct isol8_request *req, const char *kv)
{
	size_t n = strcspn(kv, "="), i;

	for (i = 0; i < req->env_len; i++)
		if (strlen(req->env[i].key) == n &&
		    strncmp(req->env[i].key, kv, n) == 0)
			return 1;
	for (i = 0; i < req->secrets_len; i++)
		if (strlen(req->secrets[i].key) == n &&
		    strncmp(req->secrets[i].key, kv, n) == 0)
			return 1;
	return 0;
}

/*
 * The environment of the RUN frame: ours, unless the request sets the
 * same name (each name once: which of two a program sees varies), then
 * the request's and its secrets (the package environment plan_run adds
 * goes between, under the same rule).
 */
static void
plan_env(struct plan *pl, const struct isol8_request *req)
{
	static const char *const base_env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/sandbox",
		"LANG=C.UTF-8", "TMPDIR=/tmp", "PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH=/sandbox",
		"NODE_PATH=/sandbox/node_modules", "DENO_NO_UPDATE_CHECK=1",
		"NO_UPDATE_NOTIFIER=1", NULL
	};
	static const char *const proxy_env[] = { "HTTP_PROXY", "HTTPS_PROXY",
		"http_proxy", "https_proxy", NULL };
	static const char *const pkg_env[] = { "DENO_DIR",
		"NPM_CONFIG_REGISTRY", NULL };
	const char *const *a;
	char *kv;
	size_t i;

	for (a = base_env; *a != NULL; a++)
		if (!plan_sets(req, *a))
			proto_tlv_str(&pl->run_head, PROTO_T_ENV, *a);
	for (a = pkg_env; *a != NULL; a++)
		if (plan_sets(req, *a))
			pl->pkg_env_set |= 1u << (a - pkg_env);
	for (i = 0; i < req->env_len; i++) {
		kv = xasprintf("%s=%s", req->env[i].key, req->env[i].value);
		proto_tlv_str(&pl->run_env, PROTO_T_ENV, kv);
		free(kv);
	}
	for (i = 0; i < req->secrets_len; i++) {
		kv = xasprintf(
		    "%s=%s", req->secrets[i].key, req->secrets[i].value);
		proto_tlv_str(&pl->run_env, PROTO_T_ENV, kv);
		proto_tlv_str(
		    &pl->run_env, PROTO_T_SECRET, req->secrets[i].key);
		free(kv);
	}
	if (!pl->filtered)
		return;
	/* The filtered network: the agent's relay on the loopback. */
	for (a = proxy_env; *a != NULL; a++) {
		kv = xasprintf("%s=http://127.0.0.1:%d", *a, EGRESS_PORT);
		proto_tlv_str(&pl->run_env, PROTO_T_ENV, kv);
		free(kv);
	}
	proto_tlv_str(
	    &pl->run_env, PROTO_T_ENV, "NO_PROXY=localhost,127.0.0.1");
	proto_tlv_u64(&pl->run_env, PROTO_T_PROXY, EGRESS_PORT);
}

/* The request's files, then the code as a file of its own. */
static int
plan_files(struct plan *pl, const struct isol8_request *req,
    const struct runtime *rt, size_t code_len, char **file, struct err **errp)
{
	char *path;
	size_t i;

	for (i = 0; i < req->files_len; i++) {
		if ((path = sandbox_path(req->files[i].path, 0, errp)) == NULL)
			return -1;
		plan_put_file(pl, path, req->files[i].data, req->files[i].len);
		free(path);
	}
	if (req->code == NULL)
		return 0;
	*file = req->file_ext != NULL
	    ? xasprintf("/tmp/.isol8/main%s", req->file_ext)
	    : xstrdup(rt->file);
	plan_put_file(pl, *file, req->code, code_len);
	return 0;
}

/*
 * The request's packages: valid specs of its runtime, one that can install
 * at run time, and the registries' hosts (the installer's only network).
 */
static int
plan_packages(struct plan *pl, const struct isol8_request *req,
    const struct registries *reg, struct err **errp)
{
	/* deno finds its baked packages by DENO_DIR: the image decides. */
	pl->baked = req->packages_len > 0 ||
	    (pl->runtime != NULL && strcmp(pl->runtime, "deno") == 0);
	if (req->packages_len == 0)
		return 0;
	if (req->runtime == NULL)
		return err_set(errp, ERR_INVALID,
		    "packages need a runtime (python, node, bun or deno)");
	if (req->packages_len > PKG_MAX)
		return err_set(errp, ERR_LIMIT, "at most %d packages", PKG_MAX);
	if (pkgs_add_items(&pl->packages, pl->runtime, req->packages,
	        req->packages_len, errp) == -1 ||
	    install_endpoints(pl->runtime, reg, &pl->registry_eps, errp) == -1)
		return -1;
	pl->registry_private = strcmp(pl->runtime, "python") == 0
	    ? reg->pip_index_url != NULL
	    : reg->npm_registry != NULL;
	return 0;
}

/*
 * Check a request and make its plan: the pool key, the frames of its
 * files and the parts of its RUN frame. On error nothing is left to free
 * but the plan (plan_free).
 */
int
plan_make(const struct isol8_request *req, int reuse,
    const struct registries *reg, struct plan *pl, struct err **errp)
{
	struct engine_limits lim;
	const struct runtime *rt;
	char *file = NULL, *cwd;
	size_t i, code_len = 0;

	memset(pl, 0, sizeof *pl);
	if (plan_check(req, &lim, &code_len, errp) == -1 ||
	    engine_spec(req, &pl->spec, &pl->image, &pl->network, errp) == -1)
		return -1;
	rt = runtime_find(req->runtime ? req->runtime : "bash");
	if (req->workdir != NULL && strcmp(req->workdir, "/sandbox") != 0 &&
	    req->session != NULL && req->code != NULL && rt->kernel != NULL)
		return err_set(errp, ERR_INVALID,
		    "a workdir does not go with a session's %s interpreter (it stays where it started): change directory in the code",
		    rt->name);
	pl->runtime = req->runtime != NULL ? rt->name : NULL;
	pl->filtered =
	    req->network != NULL && strcmp(req->network, "filtered") == 0;
	if (plan_packages(pl, req, reg, errp) == -1 ||
	    plan_files(pl, req, rt, code_len, &file, errp) == -1)
		return -1;
	if (req->outputs_len > 0)
		pl->outputs = xcalloc(req->outputs_len, sizeof *pl->outputs);
	for (i = 0; i < req->outputs_len; i++, pl->noutputs++)
		if ((pl->outputs[i] = sandbox_path(req->outputs[i], 1, errp)) ==
		    NULL) {
			free(file);
			return -1;
		}

	plan_argv(pl, req, rt, file);
	free(file);
	plan_env(pl, req);
	cwd = req->workdir != NULL && strcmp(req->workdir, "/sandbox") != 0
	    ? sandbox_path(req->workdir, 0, NULL) /* checked */
	    : xstrdup("/sandbox");
	proto_tlv_str(&pl->run_tail, PROTO_T_CWD, cwd);
	free(cwd);
	proto_tlv_u64(&pl->run_tail, PROTO_T_OUTPUT_CAP, lim.max_output);
	for (i = 0; i < pl->noutputs; i++)
		proto_tlv_str(&pl->run_tail, PROTO_T_OUTPUT, pl->outputs[i]);
	proto_tlv_u64(&pl->run_tail, PROTO_T_MAX_SIZE, lim.max_output_file);
	proto_tlv_u64(&pl->run_tail, PROTO_T_STDIN,
	    req->stdin_data != NULL || req->stdin_stream);
	/* One-use: the agent exits after the run; with reuse it stays. */
	proto_tlv_u64(
	    &pl->run_tail, PROTO_T_ONESHOT, !reuse && req->session == NULL);
	/* One frame: room left for plan_run's environment and timeout. */
	if (pl->frames.len > PROTO_MAX_PAYLOAD + ENGINE_MAX_CODE * 2)
		return err_set(errp, ERR_LIMIT, "request too large");
	if (pl->run_head.len + pl->run_env.len + pl->run_tail.len + 4096 >
	    PROTO_MAX_PAYLOAD)
		return err_set(errp, ERR_LIMIT,
		    "the command, its arguments and environment take %zu bytes: at most %u",
		    pl->run_head.len + pl->run_env.len + pl->run_tail.len,
		    PROTO_MAX_PAYLOAD - 4096);

	pl->timeout_ms = lim.timeout_ms;
	pl->max_output = lim.max_output;
	pl->max_output_file = lim.max_output_file;
	pl->session = req->session ? xstrdup(req->session) : NULL;
	pl->session_must_exist =
	    req->session != NULL && req->session_must_exist;
	return 0;
}

/*
 * The RUN frame, into out: timeout_ms left, and the packages' environment
 * (DENO_DIR, NPM_CONFIG_REGISTRY: NULL-ended, in that order, either may be
 * NULL) where the request does not set it.
 */
void
plan_run(const struct plan *pl, uint64_t timeout_ms, const char *const *env,
    struct proto_buf *out)
{
	size_t at = proto_frame_begin(out, PROTO_RUN);
	unsigned i;

	proto_buf_add(out, pl->run_head.data, pl->run_head.len);
	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (!(pl->pkg_env_set & (1u << i)))
			proto_tlv_str(out, PROTO_T_ENV, env[i]);
	proto_buf_add(out, pl->run_env.data, pl->run_env.len);
	proto_tlv_u64(out, PROTO_T_TIMEOUT_MS, timeout_ms);
	proto_buf_add(out, pl->run_tail.data, pl->run_tail.len);
	proto_frame_end(out, at);
}

void
plan_free(struct plan *pl)
{
	size_t i;

	proto_buf_free(&pl->frames);
	proto_buf_free(&pl->run_head);
	proto_buf_free(&pl->run_env);
	proto_buf_free(&pl->run_tail);
	pkgs_free(&pl->packages);
	strv_free(pl->registry_eps);
	for (i = 0; i < pl->noutputs; i++)
		free(pl->outputs[i]);
	free(pl->outputs);
	free(pl->image);
	free(pl->network);
	free(pl->session);
	memset(pl, 0, sizeof *pl);
}
