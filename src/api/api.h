/*
 * api: the JSON wire format of requests and results, in one place, for
 * every front end that speaks JSON -- `isol8 run --json`, `isol8 batch`'s
 * job and result lines, and later `isol8 serve` and MCP. A module above
 * the engine, beside cli/: it uses only the public API (isol8.h) and util;
 * it is part of the static libraries the CLI and the tests link, not of
 * libisol8.so (its format is the tools', not the C library's).
 *
 * A request (api_request_parse) is one JSON object with the field names of
 * docs/batch.md and docs/api.md: id, runtime, code | file | cmd | argv,
 * workdir, stdin | stdinStream, the limits (timeout, memory, cpu, pids, sandboxSize,
 * tmpSize, maxOutput, maxOutputFile), env, secrets, files, outputs,
 * packages, network (allow, deny, allowPrivate), session, image, fileExt.
 * Code, stdin and file contents are a string or {"base64": "..."}.
 * Parsing is strict (unknown fields, a field given twice, wrong types are
 * errors) and bounded: the text at most JSON_MAX_BODY bytes and
 * JSON_MAX_DEPTH levels, id API_MAX_ID bytes, env and secrets API_MAX_ENV
 * names, allow and deny API_MAX_PATTERNS, files ISOL8_MAX_FILES, outputs
 * ISOL8_MAX_OUTPUTS, packages API_MAX_PACKAGES (each checked by the
 * engine), argv API_MAX_ARGV, a workdir by the engine's own rule
 * (isol8_workdir_check), a `file` ISOL8_MAX_CODE bytes and its path API_MAX_PATH; every limit goes
 * through the engine's own parser (isol8_request_parse_limit), so a flag,
 * a configuration key and a request field accept the same values. An
 * error names the field ("`cpu` must be at least 0.01 ..."), never the
 * caller's context (the batch adds "line 7: "). A string ends at its
 * first \u0000: yajl's tree keeps C strings.
 *
 * A result (api_result_write) is the JSON object of `isol8 run --json`
 * (API_RUN) or of a batch result line (API_JOB), written with yajl_gen
 * after the UTF-8 repair of util/json.c: sandbox output is arbitrary bytes,
 * the object is always valid JSON.

 */
#ifndef ISOL8_API_H
#define ISOL8_API_H

#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "isol8.h"

struct buf;
struct err;

#define API_MAX_ID 256       /* bytes of a request's id */
#define API_MAX_ENV 1024     /* names in a request's env */
#define API_MAX_PATH 4096    /* bytes of a `file` path */
#define API_MAX_PATTERNS 64  /* allow, deny */
#define API_MAX_PACKAGES 256 /* the engine's bound (PKG_MAX) */
#define API_MAX_ARGV 1024    /* the agent's bound (PROTO_MAX_ARGS) */

/* How api_request_parse() treats what reaches outside the request. */
struct api_request_opts {
	/*
	 * Whether `file` may read a local file (its contents become the
	 * code): a job file's own folder is trusted, a network client is
	 * not. 0: `file` is an error.
	 */
	int allow_file;
	const char *dir; /* relative `file` paths: below it (NULL: cwd) */
};

/*
 * A parsed request. `req` is ready for isol8_run_start(): its pointers
 * point at the storage below, which the request owns until
 * api_request_free(). Fields the JSON did not give are the defaults of
 * isol8_request_init() (0: the engine's) until api_request_defaults().
 */
struct api_request {
	struct isol8_request req;
	char *id; /* "id" as given (a number as its digits), or NULL */
	/* owned storage behind req */
	char *runtime;
	char *code;
	char *cmd;
	char **argv; /* NULL-terminated (argv_len items) */
	size_t argv_len;
	char *workdir;
	char *stdin_data;
	struct isol8_kv *env; /* the request's own pairs */
	size_t env_len;
	struct isol8_kv *env_all; /* defaults' and own: what req.env is */
	struct isol8_file *files;
	size_t files_len;
	char **outputs;
	size_t outputs_len;
	struct isol8_kv *secrets;
	size_t secrets_len;
	char *network;
	char **allow;
	size_t allow_len;
	char **deny;
	size_t deny_len;
	char *session;
	char *image;
	char *file_ext;
	char **packages;
	size_t packages_len;
};

/*
 * Parse one JSON object of len bytes into r (which is always initialised:
 * free it either way). -1 with an error naming the field; r->id is set
 * whenever the text gave a valid one, so that an error result can carry
 * it.
 */
int api_request_parse(const char *, size_t, const struct api_request_opts *,
    struct api_request *, struct err **);
/*
 * Fill what the request left out from def (a request with the front end's
 * defaults: flags, configuration): runtime, limits, network and its rules,
 * image. The environment is def's pairs first, then the request's (later
 * wins). def's strings are borrowed: def must outlive r.
 */
void api_request_defaults(struct api_request *, const struct isol8_request *);
void api_request_free(struct api_request *);
/* The two shapes of a result object. */
enum api_shape {
	API_RUN, /* `isol8 run --json` (and `isol8 serve`) */
	API_JOB, /* a batch result line: id, line, durations, resources */
};

/* What a finished request produced, for api_result_write(). */
struct api_result {
	const char *id;                 /* API_JOB: the job's id */
	long line;                      /* API_JOB: its line in the job list */
	const char *runtime;            /* API_RUN: the runtime it ran in */
	const struct isol8_result *res; /* NULL: it did not run */
	const char *out;                /* what it wrote, masked */
	size_t out_len;
	const char *err;
	size_t err_len;
	/* the request's output paths (res->outputs_len of them), or NULL:
	 * then no "outputs" object */
	const char *const *outputs;
	const char *error;    /* why it failed, or NULL: it ran */
	enum isol8_code code; /* API_RUN, with error: which (errorCode) */
	int no_output;        /* API_RUN: no stdout/stderr keys (they were
				 streamed: the server's `exit` event) */
	int retried;          /* API_JOB: this was its second run */
	int may_have_run;     /* API_JOB, with error: the code had reached the
			      sandbox, it may have run in part */
};

/*
 * Append the result object to b, without a newline. API_RUN: runtime,
 * stdout, stderr, exitCode ... containerId, network (when there were
 * connections), error (null, or the message). API_JOB: the documented
 * result line of docs/batch.md; with an error only id, line, retried,
 * mayHaveRun and error.
 */
void api_result_write(enum api_shape, const struct api_result *, struct buf *);
/* The filtered network's decisions as a JSON array (docs/cli.md). */
void api_network_write(const struct isol8_result *, struct buf *);
void api_session_write(
    yajl_gen, const struct isol8_session_info *, const char *);

#endif
