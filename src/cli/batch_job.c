/*
 * The job-file format of `isol8 batch` (docs/batch.md): one JSON object a
 * line. Parsing is strict -- an unknown key or a value of the wrong type
 * is that job's error, naming the key and the line -- and bounded: lines
 * are capped before they get here, a `file` is read up to the code limit.
 * The limit fields go through the engine's table (isol8_request_parse_
 * limit), like the flags and the configuration file. A job's error is part
 * of its result (j->error), not a failure of the call: the batch reports
 * it in the job's place and goes on.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

static int job_error(struct batch_job *j, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static int
job_error(struct batch_job *j, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(j->error);
	j->error = xasprintf("line %ld: %s", j->line, msg);
	return -1;
}

static int
job_string(
    struct batch_job *j, yajl_val v, const char *key, char **out, size_t *len)
{
	if (!YAJL_IS_STRING(v))
		return job_error(j, "`%s` must be a string", key);
	free(*out);
	*out = xstrdup(v->u.string);
	if (len != NULL)
		*len = strlen(*out);
	return 0;
}

static int
job_files(struct batch_job *j, yajl_val v)
{
	size_t i;

	if (!YAJL_IS_OBJECT(v))
		return job_error(j,
		    "`files` must be an object of path: "
		    "content");
	if (v->u.object.len > ISOL8_MAX_FILES)
		return job_error(
		    j, "`files` has more than %d entries", ISOL8_MAX_FILES);
	j->files =
	    v->u.object.len ? xcalloc(v->u.object.len, sizeof *j->files) : NULL;
	for (i = 0; i < v->u.object.len; i++) {
		if (!YAJL_IS_STRING(v->u.object.values[i]))
			return job_error(j, "`files.%s` must be a string",
			    v->u.object.keys[i]);
		j->files[j->files_len].path = xstrdup(v->u.object.keys[i]);
		j->files[j->files_len].data =
		    xstrdup(v->u.object.values[i]->u.string);
		j->files[j->files_len].len =
		    strlen(v->u.object.values[i]->u.string);
		j->files_len++;
	}
	return 0;
}

static int
job_outputs(struct batch_job *j, yajl_val v)
{
	size_t i;

	if (!YAJL_IS_ARRAY(v))
		return job_error(j, "`outputs` must be an array of paths");
	if (v->u.array.len > ISOL8_MAX_OUTPUTS)
		return job_error(
		    j, "`outputs` has more than %d paths", ISOL8_MAX_OUTPUTS);
	j->outputs =
	    v->u.array.len ? xcalloc(v->u.array.len, sizeof *j->outputs) : NULL;
	for (i = 0; i < v->u.array.len; i++) {
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return job_error(j, "`outputs` must hold strings");
		j->outputs[j->outputs_len++] =
		    xstrdup(v->u.array.values[i]->u.string);
	}
	return 0;
}

static int
job_env(struct batch_job *j, yajl_val v)
{
	size_t i;

	if (!YAJL_IS_OBJECT(v))
		return job_error(j, "`env` must be an object of strings");
	j->env =
	    v->u.object.len ? xcalloc(v->u.object.len, sizeof *j->env) : NULL;
	for (i = 0; i < v->u.object.len; i++) {
		const char *k = v->u.object.keys[i];

		if (!YAJL_IS_STRING(v->u.object.values[i]) || *k == '\0' ||
		    strchr(k, '=') != NULL)
			return job_error(j,
			    "`env.%s` must be a string with a "
			    "valid name",
			    k);
		j->env[j->env_len].key = xstrdup(k);
		j->env[j->env_len++].value =
		    xstrdup(v->u.object.values[i]->u.string);
	}
	return 0;
}

/*
 * A limit field (timeout, memory, cpu, pids) into the scratch request r,
 * checked by the engine's table: a JSON number as written, or a string
 * ("256m", "30s").
 */
static int
job_limit(struct batch_job *j, yajl_val v, const char *key, enum isol8_limit id,
    struct isol8_request *r)
{
	struct isol8_error e;
	const char *text = NULL;
	char name[80];

	if (YAJL_IS_STRING(v))
		text = v->u.string;
	else if (YAJL_IS_NUMBER(v))
		text = v->u.number.r;
	snprintf(name, sizeof name, "`%.64s`", key);
	if (text == NULL)
		return job_error(j, "%s must be a number or a string", name);
	if (isol8_request_parse_limit(r, id, text, name, &e) == -1)
		return job_error(j, "%s", e.message);
	return 0;
}

/* Read a job's `file` (relative to dir); its contents become the code. */
static int
job_file(struct batch_job *j, const char *path, const char *dir)
{
	cleanup_free char *full = NULL;
	struct buf b = { 0 };
	struct err *e = NULL;
	const char *rt;

	full = path[0] == '/' || dir == NULL ? xstrdup(path)
	                                     : xasprintf("%s/%s", dir, path);
	if (read_file(full, ISOL8_MAX_CODE, &b, &e) == -1) {
		job_error(j, "%s", e->msg);
		err_free(&e);
		buf_free(&b);
		return -1;
	}
	j->code = b.data ? b.data : xstrdup("");
	j->code_len = b.len;
	if (j->runtime == NULL && (rt = isol8_runtime_for_path(path)) != NULL)
		j->runtime = xstrdup(rt);
	return 0;
}

/*
 * Parse one line into j. Returns 0, or -1 with j->error set (and j->id
 * set whenever the line gave one, so the error result carries it).
 */
int
batch_job_parse(const char *text, size_t len, long line, const char *dir,
    struct batch_job *j)
{
	cleanup_yajl yajl_val root = NULL;
	cleanup_err struct err *e = NULL;
	const char *k, *file = NULL;
	struct isol8_request lim; /* the job's limits, parsed */
	yajl_val v, idv;
	size_t i;
	int sources = 0;

	memset(j, 0, sizeof *j);
	isol8_request_init(&lim);
	j->line = line;
	if ((root = json_parse(text, len, &e)) == NULL) {
		j->id = xasprintf("%ld", line);
		return job_error(j, "%s", e->msg);
	}
	if (!YAJL_IS_OBJECT(root)) {
		j->id = xasprintf("%ld", line);
		return job_error(j, "a job must be a JSON object");
	}
	idv = json_get(root, "id", NULL);
	if (YAJL_IS_STRING(idv) && idv->u.string[0] != '\0' &&
	    strlen(idv->u.string) <= 256)
		j->id = xstrdup(idv->u.string);
	else if (YAJL_IS_INTEGER(idv))
		j->id = xasprintf("%lld", YAJL_GET_INTEGER(idv));
	else {
		j->id = xasprintf("%ld", line);
		if (idv != NULL)
			return job_error(j,
			    "`id` must be a non-empty string "
			    "of at most 256 bytes");
	}
	for (i = 0; i < root->u.object.len; i++) {
		k = root->u.object.keys[i];
		v = root->u.object.values[i];
		if (strcmp(k, "id") == 0)
			continue;
		if (strcmp(k, "runtime") == 0) {
			if (job_string(j, v, k, &j->runtime, NULL) == -1)
				return -1;
			if (!isol8_runtime_known(j->runtime))
				return job_error(j,
				    "unknown runtime `%s` "
				    "(python, node, bun, deno, bash)",
				    j->runtime);
		} else if (strcmp(k, "code") == 0) {
			sources++;
			if (job_string(j, v, k, &j->code, &j->code_len) == -1)
				return -1;
		} else if (strcmp(k, "cmd") == 0) {
			sources++;
			if (job_string(j, v, k, &j->cmd, NULL) == -1)
				return -1;
		} else if (strcmp(k, "file") == 0) {
			sources++;
			if (!YAJL_IS_STRING(v) || v->u.string[0] == '\0')
				return job_error(j, "`file` must be a path");
			file = v->u.string;
		} else if (strcmp(k, "stdin") == 0) {
			if (job_string(
			        j, v, k, &j->stdin_data, &j->stdin_len) == -1)
				return -1;
		} else if (strcmp(k, "timeout") == 0) {
			if (job_limit(j, v, k, ISOL8_LIMIT_TIMEOUT, &lim) == -1)
				return -1;
			j->timeout_ms = lim.timeout_ms;
		} else if (strcmp(k, "memory") == 0) {
			if (job_limit(j, v, k, ISOL8_LIMIT_MEMORY, &lim) == -1)
				return -1;
			j->memory = lim.memory;
		} else if (strcmp(k, "cpu") == 0) {
			if (job_limit(j, v, k, ISOL8_LIMIT_CPUS, &lim) == -1)
				return -1;
			j->cpus = lim.cpus;
		} else if (strcmp(k, "pids") == 0) {
			if (job_limit(j, v, k, ISOL8_LIMIT_PIDS, &lim) == -1)
				return -1;
			j->pids = lim.pids;
		} else if (strcmp(k, "env") == 0) {
			if (job_env(j, v) == -1)
				return -1;
		} else if (strcmp(k, "files") == 0) {
			if (job_files(j, v) == -1)
				return -1;
		} else if (strcmp(k, "outputs") == 0) {
			if (job_outputs(j, v) == -1)
				return -1;
		} else
			return job_error(j, "unknown key `%s`", k);
	}
	if (sources != 1)
		return job_error(j,
		    "give exactly one of `code`, `file` and "
		    "`cmd`");
	if (file != NULL && job_file(j, file, dir) == -1)
		return -1;
	return 0;
}

void
batch_job_free(struct batch_job *j)
{
	size_t i;

	free(j->id);
	free(j->runtime);
	free(j->code);
	free(j->cmd);
	free(j->stdin_data);
	cli_kv_free(j->env, j->env_len);
	for (i = 0; i < j->files_len; i++) {
		free((char *)(uintptr_t)j->files[i].path);
		free((void *)(uintptr_t)j->files[i].data);
	}
	free(j->files);
	for (i = 0; i < j->outputs_len; i++)
		free(j->outputs[i]);
	free(j->outputs);
	free(j->error);
	memset(j, 0, sizeof *j);
}
