/*
 * A request as JSON (api.h, docs/batch.md "Jobs", docs/api.md) into a
 * struct isol8_request with owned storage. One table says which fields
 * exist and which function takes each; a field given twice, an unknown
 * field and a value of the wrong type are errors naming the field. Everything from outside
 * is bounded before it is kept: the text by json_parse (size and depth),
 * the counts here, a `file` by read_file, the limits by the engine's own
 * table (isol8_request_parse_limit). Bytes that are not UTF-8 travel as
 * {"base64": "..."} (code, stdin, files): a JSON string cannot carry them.
 *
 * Invariant: whatever api_request_parse() returns, the request is
 * initialised and owns only what api_request_free() frees; r->req points
 * into that storage (or at the defaults' strings, after
 * api_request_defaults()).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../util/util.h"

/* The parse of one request: the fields seen so far. */
struct parse {
	struct api_request *r;
	const struct api_request_opts *o;
	const char *file; /* `file`'s path, read once every field is known */
	int sources;      /* of code, file, cmd */
	int filter_rules; /* allow, deny, allowPrivate given */
	uint32_t seen;    /* a bit per field of the table */
};

struct field {
	const char *key;
	int (*take)(
	    struct parse *, const struct field *, yajl_val, struct err **);
	enum isol8_limit limit; /* field_limit's */
};

static int
not_a(const struct field *f, const char *what, struct err **errp)
{
	return err_set(errp, ERR_INVALID, "`%s` must be %s", f->key, what);
}

/* A string field into *out (owned); its length in *len. */
static int
take_string(const struct field *f, yajl_val v, char **out, size_t *len,
    struct err **errp)
{
	if (!YAJL_IS_STRING(v))
		return not_a(f, "a string", errp);
	*out = xstrdup(v->u.string);
	if (len != NULL)
		*len = strlen(*out);
	return 0;
}

/*
 * Bytes: a JSON string, or {"base64": "..."} for bytes that are not UTF-8
 * (or hold a NUL); into *out (owned, NUL-terminated) and *len.
 */
static int
take_bytes(const struct field *f, yajl_val v, char **out, size_t *len,
    struct err **errp)
{
	struct buf b = { 0 };
	yajl_val b64;

	if (YAJL_IS_STRING(v))
		return take_string(f, v, out, len, errp);
	if (!YAJL_IS_OBJECT(v) || v->u.object.len != 1 ||
	    !YAJL_IS_STRING(b64 = json_get(v, "base64", NULL)))
		return not_a(f, "a string or {\"base64\": \"...\"}", errp);
	if (base64_decode(&b, b64->u.string, strlen(b64->u.string)) == -1) {
		buf_free(&b); /* what the decoder reserved */
		return err_set(
		    errp, ERR_INVALID, "`%s.base64` is not base64", f->key);
	}
	*out = b.data != NULL ? b.data : xstrdup("");
	*len = b.len;
	return 0;
}

/* `id` is read before the other fields (api_request_parse). */
static int
field_id(struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	(void)p;
	(void)f;
	(void)v;
	(void)errp;
	return 0;
}

static int
field_runtime(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (take_string(f, v, &r->runtime, NULL, errp) == -1)
		return -1;
	if (!isol8_runtime_known(r->runtime))
		return err_set(errp, ERR_INVALID,
		    "unknown runtime `%.64s` (python, node, bun, deno, bash)",
		    r->runtime);
	r->req.runtime = r->runtime;
	return 0;
}

static int
field_code(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	p->sources++;
	if (take_bytes(f, v, &r->code, &r->req.code_len, errp) == -1)
		return -1;
	r->req.code = r->code;
	return 0;
}

static int
field_cmd(struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	p->sources++;
	if (take_string(f, v, &r->cmd, NULL, errp) == -1)
		return -1;
	r->req.cmd = r->cmd;
	return 0;
}

static int
field_file(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	p->sources++;
	if (!p->o->allow_file)
		return err_set(errp, ERR_INVALID,
		    "`file` (a local file) is not allowed here: give `code`");
	if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
		return not_a(f, "a path", errp);
	if (strlen(v->u.string) > API_MAX_PATH)
		return err_set(errp, ERR_LIMIT,
		    "`file` is longer than %d bytes", API_MAX_PATH);
	p->file = v->u.string;
	return 0;
}

static int
field_stdin(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (take_bytes(f, v, &r->stdin_data, &r->req.stdin_len, errp) == -1)
		return -1;
	r->req.stdin_data = r->stdin_data;
	return 0;
}

static int
field_stdin_stream(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return not_a(f, "true or false", errp);
	p->r->req.stdin_stream = YAJL_IS_TRUE(v);
	return 0;
}

/*
 * A limit: a JSON number as written ("1e3" stays 1e3) or a string ("256m",
 * "30s"), checked by the engine's table.
 */
static int
field_limit(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct isol8_error e;
	const char *text = NULL;
	char name[80];

	if (YAJL_IS_STRING(v))
		text = v->u.string;
	else if (YAJL_IS_NUMBER(v))
		text = v->u.number.r;
	snprintf(name, sizeof name, "`%.64s`", f->key);
	if (text == NULL)
		return err_set(
		    errp, ERR_INVALID, "%s must be a number or a string", name);
	if (isol8_request_parse_limit(&p->r->req, f->limit, text, name, &e) ==
	    -1)
		return err_set(errp, ERR_INVALID, "%s", e.message);
	return 0;
}

/* Variables: an object of strings (env, secrets) into owned pairs. */
static int
take_vars(const struct field *f, yajl_val v, struct isol8_kv **kv, size_t *n,
    struct err **errp)
{
	size_t i;

	if (!YAJL_IS_OBJECT(v))
		return not_a(f, "an object of strings", errp);
	if (v->u.object.len > API_MAX_ENV)
		return err_set(errp, ERR_LIMIT, "`%s` has more than %d names",
		    f->key, API_MAX_ENV);
	*kv = v->u.object.len ? xcalloc(v->u.object.len, sizeof **kv) : NULL;
	for (i = 0; i < v->u.object.len; i++) {
		const char *k = v->u.object.keys[i];

		if (!YAJL_IS_STRING(v->u.object.values[i]) || *k == '\0' ||
		    strchr(k, '=') != NULL)
			return err_set(errp, ERR_INVALID,
			    "`%s.%.64s` must be a string with a valid name",
			    f->key, k);
		(*kv)[*n].key = xstrdup(k);
		(*kv)[(*n)++].value = xstrdup(v->u.object.values[i]->u.string);
	}
	return 0;
}

static int
field_env(struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (take_vars(f, v, &r->env, &r->env_len, errp) == -1)
		return -1;
	r->req.env = r->env;
	r->req.env_len = r->env_len;
	return 0;
}

static int
field_secrets(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (take_vars(f, v, &r->secrets, &r->secrets_len, errp) == -1)
		return -1;
	r->req.secrets = r->secrets;
	r->req.secrets_len = r->secrets_len;
	return 0;
}

static int
field_files(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;
	struct field one = { NULL, NULL, 0 };
	char name[80], *data = NULL;
	size_t i, len = 0;

	if (!YAJL_IS_OBJECT(v))
		return not_a(f, "an object of path: content", errp);
	if (v->u.object.len > ISOL8_MAX_FILES)
		return err_set(errp, ERR_LIMIT,
		    "`files` has more than %d entries", ISOL8_MAX_FILES);
	r->files =
	    v->u.object.len ? xcalloc(v->u.object.len, sizeof *r->files) : NULL;
	for (i = 0; i < v->u.object.len; i++) {
		snprintf(name, sizeof name, "files.%.64s", v->u.object.keys[i]);
		one.key = name;
		if (take_bytes(
		        &one, v->u.object.values[i], &data, &len, errp) == -1)
			return -1;
		r->files[r->files_len].path = xstrdup(v->u.object.keys[i]);
		r->files[r->files_len].data = data;
		r->files[r->files_len++].len = len;
	}
	r->req.files = r->files;
	r->req.files_len = r->files_len;
	return 0;
}

/* An array of at most max strings, copied into *out. */
static int
strings(const struct field *f, yajl_val v, size_t max, const char *what,
    char ***out, size_t *n, struct err **errp)
{
	size_t i;

	if (!YAJL_IS_ARRAY(v))
		return not_a(f, what, errp);
	if (v->u.array.len > max)
		return err_set(errp, ERR_LIMIT, "`%s` has more than %zu items",
		    f->key, max);
	*out = v->u.array.len ? xcalloc(v->u.array.len, sizeof **out) : NULL;
	for (i = 0; i < v->u.array.len; i++) {
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return err_set(errp, ERR_INVALID,
			    "`%s` must hold strings", f->key);
		(*out)[(*n)++] = xstrdup(v->u.array.values[i]->u.string);
	}
	return 0;
}

static int
field_outputs(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (strings(f, v, ISOL8_MAX_OUTPUTS, "an array of paths", &r->outputs,
	        &r->outputs_len, errp) == -1)
		return -1;
	r->req.outputs = (const char *const *)r->outputs;
	r->req.outputs_len = r->outputs_len;
	return 0;
}

static int
field_network(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (!YAJL_IS_STRING(v) ||
	    (strcmp(v->u.string, "none") != 0 &&
	        strcmp(v->u.string, "host") != 0 &&
	        strcmp(v->u.string, "filtered") != 0))
		return not_a(f, "\"none\", \"host\" or \"filtered\"", errp);
	r->network = xstrdup(v->u.string);
	r->req.network = r->network;
	return 0;
}

/* `allow` and `deny`: the filtered network's patterns. */
static int
field_patterns(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;
	int allow = strcmp(f->key, "allow") == 0;

	p->filter_rules++;
	if (allow) {
		if (strings(f, v, API_MAX_PATTERNS, "an array of patterns",
		        &r->allow, &r->allow_len, errp) == -1)
			return -1;
		r->req.net_allow = (const char *const *)r->allow;
		r->req.net_allow_len = r->allow_len;
	} else {
		if (strings(f, v, API_MAX_PATTERNS, "an array of patterns",
		        &r->deny, &r->deny_len, errp) == -1)
			return -1;
		r->req.net_deny = (const char *const *)r->deny;
		r->req.net_deny_len = r->deny_len;
	}
	return 0;
}

static int
field_allow_private(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return not_a(f, "true or false", errp);
	p->filter_rules++;
	p->r->req.net_allow_private = YAJL_IS_TRUE(v);
	return 0;
}

static int
field_must_exist(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return not_a(f, "true or false", errp);
	p->r->req.session_must_exist = YAJL_IS_TRUE(v);
	return 0;
}

/* A plain string field kept as it is (the engine checks it). */
static int
field_text(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
		return not_a(f, "a non-empty string", errp);
	if (strcmp(f->key, "session") == 0)
		r->req.session = r->session = xstrdup(v->u.string);
	else if (strcmp(f->key, "image") == 0)
		r->req.image = r->image = xstrdup(v->u.string);
	else
		r->req.file_ext = r->file_ext = xstrdup(v->u.string);
	return 0;
}

/* Checked by the engine against the runtime (docs/packages.md). */
static int
field_packages(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	if (strings(f, v, API_MAX_PACKAGES, "an array of package specs",
	        &r->packages, &r->packages_len, errp) == -1)
		return -1;
	r->req.packages = (const char *const *)r->packages;
	r->req.packages_len = r->packages_len;
	return 0;
}

/*
 * argv: a program already in the image, run as is (no shell): an array of
 * 1 to API_MAX_ARGV strings, NULL-terminated in the request.
 */
static int
field_argv(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;

	p->sources++;
	if (strings(f, v, API_MAX_ARGV, "an array of strings", &r->argv,
	        &r->argv_len, errp) == -1)
		return -1;
	if (r->argv_len == 0)
		return err_set(
		    errp, ERR_INVALID, "`argv` must hold at least the program");
	/* strings() made room for the items: one more for the NULL. */
	r->argv = xreallocarray(r->argv, r->argv_len + 1, sizeof *r->argv);
	r->argv[r->argv_len] = NULL;
	r->req.argv = (const char *const *)r->argv;
	return 0;
}

/* workdir: where the program starts, by the engine's own rule. */
static int
field_workdir(
    struct parse *p, const struct field *f, yajl_val v, struct err **errp)
{
	struct api_request *r = p->r;
	struct isol8_error e;

	if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
		return not_a(f, "a path below /sandbox", errp);
	if (isol8_workdir_check(v->u.string, &e) == -1)
		return err_set(
		    errp, ERR_INVALID, "`%s`: %s", f->key, e.message);
	r->req.workdir = r->workdir = xstrdup(v->u.string);
	return 0;
}

/*
 * Every field of a request (docs/batch.md, docs/api.md): at most 32, one
 * bit each.
 */
static const struct field fields[] = {
	{ "id", field_id, 0 },
	{ "runtime", field_runtime, 0 },
	{ "code", field_code, 0 },
	{ "file", field_file, 0 },
	{ "cmd", field_cmd, 0 },
	{ "argv", field_argv, 0 },
	{ "workdir", field_workdir, 0 },
	{ "stdin", field_stdin, 0 },
	{ "stdinStream", field_stdin_stream, 0 },
	{ "timeout", field_limit, ISOL8_LIMIT_TIMEOUT },
	{ "memory", field_limit, ISOL8_LIMIT_MEMORY },
	{ "cpu", field_limit, ISOL8_LIMIT_CPUS },
	{ "pids", field_limit, ISOL8_LIMIT_PIDS },
	{ "sandboxSize", field_limit, ISOL8_LIMIT_SANDBOX_SIZE },
	{ "tmpSize", field_limit, ISOL8_LIMIT_TMP_SIZE },
	{ "maxOutput", field_limit, ISOL8_LIMIT_MAX_OUTPUT },
	{ "maxOutputFile", field_limit, ISOL8_LIMIT_MAX_OUTPUT_FILE },
	{ "env", field_env, 0 },
	{ "secrets", field_secrets, 0 },
	{ "files", field_files, 0 },
	{ "outputs", field_outputs, 0 },
	{ "network", field_network, 0 },
	{ "allow", field_patterns, 0 },
	{ "deny", field_patterns, 0 },
	{ "allowPrivate", field_allow_private, 0 },
	{ "session", field_text, 0 },
	{ "sessionMustExist", field_must_exist, 0 },
	{ "image", field_text, 0 },
	{ "fileExt", field_text, 0 },
	{ "packages", field_packages, 0 },
};
_Static_assert(sizeof fields / sizeof fields[0] <= 32, "one bit a field");

/*
 * The id, before anything else can fail: a non-empty string of at most
 * API_MAX_ID bytes, or an integer (kept as its digits).
 */
static int
request_id(struct api_request *r, yajl_val root, struct err **errp)
{
	yajl_val v = json_get(root, "id", NULL);

	if (v == NULL)
		return 0;
	if (YAJL_IS_STRING(v) && v->u.string[0] != '\0' &&
	    strlen(v->u.string) <= API_MAX_ID)
		r->id = xstrdup(v->u.string);
	else if (YAJL_IS_INTEGER(v))
		r->id = xasprintf("%lld", YAJL_GET_INTEGER(v));
	else
		return err_set(errp, ERR_INVALID,
		    "`id` must be a non-empty string of at most %d bytes",
		    API_MAX_ID);
	return 0;
}

/* `file`'s contents become the code; its extension may tell the runtime. */
static int
request_file(struct parse *p, struct err **errp)
{
	struct api_request *r = p->r;
	cleanup_free char *full = NULL;
	struct buf b = { 0 };
	const char *rt;

	full = p->file[0] == '/' || p->o->dir == NULL
	    ? xstrdup(p->file)
	    : xasprintf("%s/%s", p->o->dir, p->file);
	if (read_file(full, ISOL8_MAX_CODE, &b, errp) == -1) {
		buf_free(&b);
		return -1;
	}
	r->code = b.data ? b.data : xstrdup("");
	r->req.code = r->code;
	r->req.code_len = b.len;
	if (r->runtime == NULL &&
	    (rt = isol8_runtime_for_path(p->file)) != NULL) {
		r->runtime = xstrdup(rt);
		r->req.runtime = r->runtime;
	}
	return 0;
}

/* Each field of the object through its entry of the table. */
static int
request_fields(struct parse *p, yajl_val root, struct err **errp)
{
	const char *k;
	size_t i, j;

	for (i = 0; i < root->u.object.len; i++) {
		k = root->u.object.keys[i];
		for (j = 0; j < nitems(fields); j++)
			if (strcmp(k, fields[j].key) == 0)
				break;
		if (j == nitems(fields))
			return err_set(
			    errp, ERR_INVALID, "unknown key `%.64s`", k);
		if (p->seen & (1u << j))
			return err_set(
			    errp, ERR_INVALID, "`%s` is given twice", k);
		p->seen |= 1u << j;
		if (fields[j].take(
		        p, &fields[j], root->u.object.values[i], errp) == -1)
			return -1;
	}
	return 0;
}

int
api_request_parse(const char *text, size_t len,
    const struct api_request_opts *o, struct api_request *r, struct err **errp)
{
	static const struct api_request_opts none = { 0, NULL };
	cleanup_yajl yajl_val root = NULL;
	struct parse p;

	memset(r, 0, sizeof *r);
	memset(&p, 0, sizeof p);
	p.r = r;
	p.o = o != NULL ? o : &none;
	if ((root = json_parse(text, len, errp)) == NULL)
		return -1;
	if (!YAJL_IS_OBJECT(root))
		return err_set(
		    errp, ERR_INVALID, "a request must be a JSON object");
	if (request_id(r, root, errp) == -1 ||
	    request_fields(&p, root, errp) == -1)
		return -1;
	if (p.sources != 1)
		return err_set(errp, ERR_INVALID,
		    "give exactly one of `code`, `file`, `cmd` and `argv`");
	if (r->req.stdin_data != NULL && r->req.stdin_stream)
		return err_set(errp, ERR_INVALID,
		    "give `stdin` or `stdinStream`, not both");
	if (p.filter_rules > 0 &&
	    (r->network == NULL || strcmp(r->network, "filtered") != 0))
		return err_set(errp, ERR_INVALID,
		    "`allow`, `deny` and `allowPrivate` go with `\"network\": \"filtered\"`");
	if (p.file != NULL && request_file(&p, errp) == -1)
		return -1;
	if (r->req.code != NULL && r->req.code_len == 0)
		return err_set(errp, ERR_INVALID, "the code is empty");
	return 0;
}

void
api_request_defaults(struct api_request *r, const struct isol8_request *def)
{
	struct isol8_request *q = &r->req;
	size_t n = def->env_len + r->env_len;

	if (q->runtime == NULL)
		q->runtime = def->runtime;
	q->timeout_ms = q->timeout_ms ? q->timeout_ms : def->timeout_ms;
	q->memory = q->memory ? q->memory : def->memory;
	q->cpus = q->cpus > 0 ? q->cpus : def->cpus;
	q->pids = q->pids ? q->pids : def->pids;
	q->sandbox_size = q->sandbox_size ? q->sandbox_size : def->sandbox_size;
	q->tmp_size = q->tmp_size ? q->tmp_size : def->tmp_size;
	q->max_output = q->max_output ? q->max_output : def->max_output;
	q->max_output_file =
	    q->max_output_file ? q->max_output_file : def->max_output_file;
	if (q->network == NULL) {
		q->network = def->network;
		q->net_allow = def->net_allow;
		q->net_allow_len = def->net_allow_len;
		q->net_deny = def->net_deny;
		q->net_deny_len = def->net_deny_len;
		q->net_allow_private = def->net_allow_private;
	}
	if (q->image == NULL)
		q->image = def->image;
	/* The defaults' environment first, the request's after. */
	free(r->env_all);
	r->env_all = NULL;
	if (n > 0) {
		r->env_all = xcalloc(n, sizeof *r->env_all);
		if (def->env_len > 0)
			memcpy(r->env_all, def->env,
			    def->env_len * sizeof *r->env_all);
		if (r->env_len > 0)
			memcpy(r->env_all + def->env_len, r->env,
			    r->env_len * sizeof *r->env_all);
	}
	q->env = r->env_all;
	q->env_len = n;
}

void
api_request_free(struct api_request *r)
{
	size_t i;

	free(r->id);
	free(r->runtime);
	free(r->code);
	free(r->cmd);
	for (i = 0; i < r->argv_len; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->workdir);
	free(r->stdin_data);
	for (i = 0; i < r->env_len; i++) {
		free((char *)(uintptr_t)r->env[i].key);
		free((char *)(uintptr_t)r->env[i].value);
	}
	free(r->env);
	free(r->env_all);
	for (i = 0; i < r->files_len; i++) {
		free((char *)(uintptr_t)r->files[i].path);
		free((void *)(uintptr_t)r->files[i].data);
	}
	free(r->files);
	for (i = 0; i < r->outputs_len; i++)
		free(r->outputs[i]);
	free(r->outputs);
	for (i = 0; i < r->secrets_len; i++) {
		free((char *)(uintptr_t)r->secrets[i].key);
		free((char *)(uintptr_t)r->secrets[i].value);
	}
	free(r->secrets);
	for (i = 0; i < r->allow_len; i++)
		free(r->allow[i]);
	free(r->allow);
	for (i = 0; i < r->deny_len; i++)
		free(r->deny[i]);
	free(r->deny);
	free(r->network);
	free(r->session);
	free(r->image);
	free(r->file_ext);
	for (i = 0; i < r->packages_len; i++)
		free(r->packages[i]);
	free(r->packages);
	memset(r, 0, sizeof *r);
}
