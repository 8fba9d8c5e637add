/*
 * libisol8: run untrusted Python, Node.js, Bun, Deno and Bash code in
 * hardened Docker containers, from C.
 *
 * The model is libevent's and libcurl's: opaque handles with _new/_free,
 * option structs filled with defaults by an _init() function, callbacks
 * that take a void *arg, and error codes with isol8_strerror(). There is no
 * global state and there are no hidden threads: an engine runs on the
 * caller's event_base (so it embeds in a libevent program) or on its own,
 * which the blocking _sync() conveniences drive (they refuse an engine on
 * the caller's base: they would run the caller's callbacks inside theirs).
 * The library never raises SIGPIPE: its sockets write with MSG_NOSIGNAL.
 * See docs/library.md.
 *
 *	struct isol8_engine *e = isol8_engine_new(NULL, NULL, &err);
 *	struct isol8_request req;
 *	struct isol8_output out;
 *
 *	isol8_request_init(&req);
 *	req.runtime = "python";
 *	req.code = "print('hello')";
 *	if (isol8_run_sync(e, &req, &out, &err) == 0)
 *		printf("%s", out.stdout_data);
 *	isol8_output_free(&out);
 *	isol8_engine_free(e);
 */
#ifndef ISOL8_H
#define ISOL8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISOL8_VERSION "0.1.0"
#define ISOL8_VERSION_NUM 0x000100

#define ISOL8_API __attribute__((visibility("default")))

struct event_base;
struct isol8_engine;
struct isol8_run;

enum isol8_code {
	ISOL8_OK = 0,
	ISOL8_EINVAL,       /* a bad request, option or argument */
	ISOL8_EUNAVAILABLE, /* dockerd cannot be reached */
	ISOL8_EDOCKER,      /* dockerd refused or failed an operation */
	ISOL8_ENOIMAGE,     /* the runtime image is missing: isol8 setup */
	ISOL8_EAGENT,       /* the in-container agent failed or vanished */
	ISOL8_ECANCELLED,   /* isol8_run_cancel() or engine shutdown */
	ISOL8_ETIMEOUT,     /* an operation (not the program) timed out */
	ISOL8_ELIMIT,       /* a size from outside went over its limit */
	ISOL8_ENOTFOUND,    /* no such session, file or container */
	ISOL8_EINTERNAL,
	ISOL8_ELOST,    /* the sandbox went away mid-run (its container was
			killed, dockerd restarted): the program may have
			run, in part or whole (result.may_have_run) */
	ISOL8_EINSTALL, /* installing the request's packages failed: the
			   code did not run (the message names them and
			   carries the installer's last lines) */
};

/* Errors are reported into a caller-owned struct. */
struct isol8_error {
	enum isol8_code code;
	char message[512];
};

ISOL8_API const char *isol8_strerror(enum isol8_code code);
/* A code's name on the wire (JSON `errorCode`: "noimage"), and back
 * (ISOL8_EINTERNAL for a name this version does not know). */
ISOL8_API const char *isol8_code_name(enum isol8_code code);
ISOL8_API enum isol8_code isol8_code_from_name(const char *name);
ISOL8_API const char *isol8_version(void);

/* ---- engine ---- */

enum isol8_log_level {
	ISOL8_LOG_ERROR = 0,
	ISOL8_LOG_WARN,
	ISOL8_LOG_INFO,
	ISOL8_LOG_DEBUG,
};

struct isol8_engine_opts {
	const char *docker_host; /* NULL: $DOCKER_HOST or the default */
	/* Limits (see "limits" below); 0 = default, but pool_size 0 = none. */
	unsigned max_concurrent;  /* runs in flight at once; more queue */
	unsigned pool_size;       /* warm containers kept per pool key */
	uint64_t pool_idle_ms;    /* unclaimed warm containers expire */
	uint64_t session_idle_ms; /* unused sessions expire (1 h) */
	int pool_shared;          /* keep them in dockerd for the next
				    process (the CLI), not in this one */
	int pool_reuse;           /* scrub and reuse (batch throughput) */
	int verbose;              /* 0 warnings, 1 info, 2 debug */
	uint64_t docker_wait_ms;  /* dockerd went away after answering:
				    hold runs that have not started and
				    retry for this long (0: fail them) */
	/* Where this engine's log lines go, at or below `verbose`; NULL:
	 * "isol8: ..." lines on stderr. Called from the loop. */
	void (*log)(enum isol8_log_level level, const char *line, void *arg);
	void *log_arg;
	/* Where run-time installs (isol8_request.packages) come from; NULL:
	 * the public ones (docs/packages.md). A registry given here is
	 * reachable even at a private address. */
	const char *pip_index_url; /* python: a PEP 503 index */
	const char *npm_registry;  /* node, bun, deno's npm: specifiers */
	/*
	 * A remote engine: runs (isol8_run_start and what is built on it)
	 * and the session list and remove calls go to the `isol8 serve` at
	 * this http:// or https:// URL with this API key instead of local
	 * containers (docs/library.md "Remote engines").
	 */
	const char *remote_url;
	const char *remote_key;
	/*
	 * A remote engine's bounds on a server that does not answer (0: the
	 * default): no connection within remote_connect_ms (10 s), or
	 * nothing received or sent for remote_stall_ms (45 s: a server sends
	 * a heartbeat at least every two of its server.heartbeatMs, 15 s by
	 * default) ends the run with ISOL8_EUNAVAILABLE saying so.
	 */
	uint64_t remote_connect_ms;
	uint64_t remote_stall_ms;
};

ISOL8_API void isol8_engine_opts_init(struct isol8_engine_opts *opts);
/* base: the caller's event_base, or NULL for the engine's own. */
ISOL8_API struct isol8_engine *isol8_engine_new(struct event_base *base,
    const struct isol8_engine_opts *opts, struct isol8_error *err);
/*
 * Cancel every run (each gets its on_done with ISOL8_ECANCELLED now) and
 * let go of the warm containers. With its own loop the engine waits, at
 * most 10 s, until the containers it is removing are gone. On the caller's
 * base it never dispatches it: the removals finish there, in at most 10 s,
 * and then nothing of the engine is left on the base (event_base_dispatch
 * returns once the caller's own events are gone too). Or wait for
 * !isol8_engine_busy() before freeing.
 */
ISOL8_API void isol8_engine_free(struct isol8_engine *engine);
/* Whether background work (refills, removals) is still under way. */
ISOL8_API int isol8_engine_busy(struct isol8_engine *engine);
/*
 * Turn the engine's own loop until no background work is left (0) or ms
 * have passed (-1). -1 at once for an engine on the caller's base.
 */
ISOL8_API int isol8_engine_drain(struct isol8_engine *engine, uint64_t ms);

/* ---- one execution ---- */

struct isol8_kv {
	const char *key;
	const char *value;
};

/* A file to put in the sandbox before a run. */
struct isol8_file {
	const char *path; /* relative to /sandbox, or absolute below it */
	const void *data;
	size_t len;
};

struct isol8_request {
	const char *runtime; /* python, node, bun, deno, bash */
	/* Exactly one of code (a program), cmd (a bash command line) or
	 * argv (a program already in the image, run as is). */
	const char *code;
	size_t code_len; /* 0: strlen(code) */
	const char *cmd;
	const char *const *argv; /* NULL-terminated */
	const char *file_ext;    /* ".cjs", ".mjs", ...: NULL for default */
	const char *image;       /* NULL: isol8/<runtime> */

	const char *stdin_data; /* fed to the program, then EOF */
	size_t stdin_len;
	int stdin_stream; /* 1: use isol8_run_write_stdin() */

	const struct isol8_kv *env; /* extra environment variables */
	size_t env_len;
	const struct isol8_kv *secrets; /* set in the env, masked in output */
	size_t secrets_len;

	/* Limits: bounds and defaults under "limits" below; 0 = default. */
	uint64_t timeout_ms;   /* ms, default 30000 */
	uint64_t memory;       /* bytes, default 512 MiB */
	double cpus;           /* default 1.0 */
	int64_t pids;          /* default 64 */
	uint64_t sandbox_size; /* /sandbox tmpfs (and max file), 512 MiB */
	uint64_t tmp_size;     /* /tmp tmpfs, default 256 MiB */
	uint64_t max_output;   /* stdout + stderr, default 1 MiB */
	const char *network;   /* "none" (default), "host" or "filtered" */
	/*
	 * "filtered": no network but an HTTP(S) proxy (HTTP_PROXY in the
	 * sandbox) that lets through host names matching an allow pattern
	 * (all when none) and no deny pattern -- POSIX extended regular
	 * expressions, case-insensitive -- and never to private, loopback or
	 * link-local addresses unless net_allow_private.
	 */
	const char *const *net_allow;
	size_t net_allow_len;
	const char *const *net_deny;
	size_t net_deny_len;
	int net_allow_private;
	const struct isol8_file *files; /* written before the run */
	size_t files_len;               /* at most ISOL8_MAX_FILES */
	const char *const *outputs;     /* files read back after the run */
	size_t outputs_len;       /* (below /sandbox or /tmp; at most 64) */
	uint64_t max_output_file; /* per output file, default 8 MiB */
	const char *session;      /* NULL: a one-use container */
	int session_must_exist;   /* with session: the session must exist
				already (ISOL8_ENOTFOUND, nothing made) */
	const char *workdir;      /* where the program starts: NULL /sandbox, or
				a path below it (relative: to /sandbox; no
				`.`/`..`; not with a session's interpreter) */
	/*
	 * Packages the code needs (pip, npm, bun or deno specs of the
	 * runtime; docs/packages.md): what the image has baked costs
	 * nothing, the rest is installed into /sandbox before the code, as
	 * the sandbox user, through the filtered proxy to the registries
	 * only, within the run's timeout (result.install_ms). Not for bash.
	 */
	const char *const *packages;
	size_t packages_len;
};

ISOL8_API void isol8_request_init(struct isol8_request *req);

/*
 * Limits. Every numeric limit of a request and of the engine options has
 * its bounds defined once, in the engine: isol8_run_start() and
 * isol8_engine_new() refuse a value outside them with ISOL8_EINVAL naming
 * the field (a zero in the struct means the default; for pool_size, no
 * warm containers). Front ends turn their users' text into a limit with
 * isol8_request_parse_limit() / isol8_engine_opts_parse_limit(), so that
 * a flag, a configuration key and a job field accept the same values:
 *
 *	sizes      "512m", "1.5g", "64k", "1048576" (k m g t: powers of 1024)
 *	durations  "30000" (ms), "500ms", "30s", "5m", "1h"
 *	CPUs       "0.5", "2"
 *	counts     "64"
 *
 * Plain decimal numbers only (an exponent such as 1e3 is fine): no sign,
 * space, hex, nan or inf. An error message starts with `name` ("--memory",
 * "`defaults.memory`") and says the bound: "--cpu must be at least 0.01
 * (Docker's minimum...), got `0.001`".
 */
enum isol8_limit {
	ISOL8_LIMIT_TIMEOUT,         /* timeout_ms: 1 ms to 24 h */
	ISOL8_LIMIT_MEMORY,          /* memory: 6 MiB (Docker's minimum)
					to 1 PiB */
	ISOL8_LIMIT_CPUS,            /* cpus: 0.01 (Docker's minimum) to the
					CPUs this process may use */
	ISOL8_LIMIT_PIDS,            /* pids: 2 (the agent is one) to 2^22 */
	ISOL8_LIMIT_SANDBOX_SIZE,    /* sandbox_size: 4 KiB to 1 PiB */
	ISOL8_LIMIT_TMP_SIZE,        /* tmp_size: 4 KiB to 1 PiB */
	ISOL8_LIMIT_MAX_OUTPUT,      /* max_output: 1 byte to 1 PiB */
	ISOL8_LIMIT_MAX_OUTPUT_FILE, /* max_output_file: 1 byte to 256 MiB */
	ISOL8_LIMIT_POOL_SIZE,       /* engine opts: pool_size, 0 to 256 */
	ISOL8_LIMIT_POOL_IDLE,       /* pool_idle_ms: 1 ms to 7 days */
	ISOL8_LIMIT_SESSION_IDLE,    /* session_idle_ms: 1 ms to 30 days */
	ISOL8_LIMIT_MAX_CONCURRENT,  /* max_concurrent: 1 to 4096 */
	ISOL8_LIMIT_REMOTE_CONNECT,  /* remote_connect_ms: 1 ms to 10 min */
	ISOL8_LIMIT_REMOTE_STALL,    /* remote_stall_ms: 1 ms to 24 h */
};

/* Fixed bounds of a request (more is ISOL8_ELIMIT). */
#define ISOL8_MAX_CODE (16u << 20) /* bytes of code, and of each file */
#define ISOL8_MAX_FILES 256        /* files */
#define ISOL8_MAX_OUTPUTS 64       /* outputs */
/* A result's network decisions kept (the rest are counted). */
#define ISOL8_MAX_NET_EVENTS 256

/* Set a request's limit (ISOL8_LIMIT_TIMEOUT to _MAX_OUTPUT_FILE) from text;
 * `name` is what the error calls it. On error the request is unchanged. */
ISOL8_API int isol8_request_parse_limit(struct isol8_request *req,
    enum isol8_limit limit, const char *text, const char *name,
    struct isol8_error *err);
/* The same for the engine options' limits (ISOL8_LIMIT_POOL_SIZE on). */
ISOL8_API int isol8_engine_opts_parse_limit(struct isol8_engine_opts *opts,
    enum isol8_limit limit, const char *text, const char *name,
    struct isol8_error *err);
/* The warm pool, per pool key (for a server's metrics). */
struct isol8_pool_stat {
	char key[17]; /* the pool key: a hash of the container settings */
	char image[128];
	unsigned ready;    /* warm containers ready */
	unsigned creating; /* being made */
};
/* Up to max keys into stats; returns how many keys there are. */
ISOL8_API size_t isol8_engine_pool_stats(
    struct isol8_engine *engine, struct isol8_pool_stat *stats, size_t max);

/* Warm the pool for what such requests need, in the background. */
ISOL8_API int isol8_engine_prewarm(struct isol8_engine *engine,
    const struct isol8_request *req, struct isol8_error *err);

/* A file read back after a run: data, or why it could not be read. */
struct isol8_output_file {
	const char *path;
	const char *data;
	size_t len;
	const char *error;
};

/*
 * In a session, python, node, bun and bash code runs in one long-lived
 * interpreter, so variables persist between runs. When it ends (a timeout,
 * the memory or output limit, exit()), its variables are gone -- files stay.
 */
enum isol8_state {
	ISOL8_STATE_KEPT = 0,
	ISOL8_STATE_LOST,  /* this run ended the interpreter */
	ISOL8_STATE_FRESH, /* it had ended since the last run: restarted */
};

/* A filtered-network connection: let through, or refused and why. */
struct isol8_net_event {
	const char *method; /* CONNECT, GET, ... */
	const char *host;
	const char *port;
	int allowed;
	const char *reason; /* when refused */
	int install;        /* the installer's (packages), not the code's */
};

struct isol8_result {
	int exit_code;               /* the program's, or 128 + signal */
	int signal;                  /* 0 unless killed by a signal */
	int timed_out;               /* killed at the timeout */
	int oom_killed;              /* killed by the memory limit */
	int truncated;               /* output went over max_output */
	enum isol8_state state_lost; /* a session's interpreter */
	uint64_t run_ms;             /* the program's wall time */
	uint64_t total_ms;           /* from isol8_run_start() to done */
	uint64_t queued_ms;          /* waiting for a slot and a container */
	uint64_t install_ms;         /* installing packages (in total_ms) */
	uint64_t cpu_ms;             /* user + system CPU of all processes */
	uint64_t peak_rss_kb;        /* peak resident memory, main process */
	uint64_t stdout_bytes;       /* as produced, before masking */
	uint64_t stderr_bytes;
	const char *container_id;                /* valid during on_done only */
	const struct isol8_output_file *outputs; /* valid during on_done */
	size_t outputs_len;
	const struct isol8_net_event *net_events; /* valid during on_done */
	size_t net_events_len;       /* at most ISOL8_MAX_NET_EVENTS ... */
	uint64_t net_events_dropped; /* ... the rest counted */
	int may_have_run; /* the code reached the sandbox: with an error
			     (cancelled, ISOL8_ELOST), it may have run */
};

struct isol8_callbacks {
	void (*on_stdout)(const char *, size_t, void *);
	void (*on_stderr)(const char *, size_t, void *);
	/* Exactly once, from the loop; error is NULL when the program ran
	 * (whatever its exit code) and the result is valid. */
	void (*on_done)(
	    const struct isol8_result *, const struct isol8_error *, void *);
};

ISOL8_API struct isol8_run *isol8_run_start(struct isol8_engine *engine,
    const struct isol8_request *req, const struct isol8_callbacks *cbs,
    void *arg, struct isol8_error *err);
ISOL8_API int isol8_run_write_stdin(
    struct isol8_run *run, const void *data, size_t len);
ISOL8_API size_t isol8_run_stdin_pending(struct isol8_run *run);
ISOL8_API void isol8_run_close_stdin(struct isol8_run *run);
ISOL8_API void isol8_run_cancel(struct isol8_run *run);

/*
 * Sessions: a request with `session` set runs in that session's container,
 * created on first use and kept (files, installed packages) until
 * session_idle_ms without use. File transfers take the same request (it
 * names the session and its limits); paths are below /sandbox (reading:
 * or /tmp), never through a symbolic link.
 */
ISOL8_API int isol8_session_put_file(struct isol8_engine *engine,
    const struct isol8_request *req, const char *path, const void *data,
    size_t len, struct isol8_error *err);
ISOL8_API int isol8_session_get_file(struct isol8_engine *engine,
    const struct isol8_request *req, const char *path, char **data, size_t *len,
    struct isol8_error *err);

struct isol8_session_info {
	char name[128];
	char image[128];
	char status[64]; /* "running", "created", ... */
	int64_t created; /* unix time */
	uint64_t memory; /* its memory limit, bytes */
};

ISOL8_API int isol8_session_list(struct isol8_engine *engine,
    struct isol8_session_info **list, size_t *len, struct isol8_error *err);
ISOL8_API int isol8_session_remove(
    struct isol8_engine *engine, const char *name, struct isol8_error *err);
/*
 * The same on the loop, for an engine on the caller's event_base: 0 and
 * the callback exactly once, later, from the loop (the list valid during
 * the call only; at engine free, ISOL8_ECANCELLED), or -1 at once.
 */
typedef void (*isol8_session_list_cb)(const struct isol8_session_info *list,
    size_t len, const struct isol8_error *err, void *arg);
typedef void (*isol8_session_done_cb)(const struct isol8_error *err, void *arg);
ISOL8_API int isol8_session_list_start(struct isol8_engine *engine,
    isol8_session_list_cb cb, void *arg, struct isol8_error *err);
ISOL8_API int isol8_session_remove_start(struct isol8_engine *engine,
    const char *name, isol8_session_done_cb cb, void *arg,
    struct isol8_error *err);
/* Remove every container isol8 created (by label), and its images too. */
ISOL8_API int isol8_cleanup(struct isol8_engine *engine, int images,
    unsigned *removed, struct isol8_error *err);

/*
 * The blocking convenience: runs the engine's own loop until done. Output
 * may hold NUL bytes: use the lengths. Everything in it, the result's
 * container_id, outputs and net_events included, is the caller's until
 * isol8_output_free().
 */
struct isol8_output {
	char *stdout_data; /* NUL-terminated after stdout_len, masked */
	size_t stdout_len;
	char *stderr_data;
	size_t stderr_len;
	struct isol8_result result;
};

ISOL8_API int isol8_run_sync(struct isol8_engine *engine,
    const struct isol8_request *req, struct isol8_output *out,
    struct isol8_error *err);
ISOL8_API void isol8_output_free(struct isol8_output *out);

/* ---- images ---- */

/*
 * Package specs of one runtime (docs/packages.md): each item is one spec
 * or a comma-separated list of them, at most 256 packages of at most 214
 * bytes each. python: a PEP 508 name with optional [extras] and version
 * clauses ("numpy", "pandas>=2,<3"); node, bun: an npm name, scoped or
 * not, with an optional @version, range or tag ("zod@3", "@types/node");
 * deno: "npm:NAME[@V]" or "jsr:@SCOPE/NAME[@V]"; bash: a Debian package
 * with an optional =version ("jq"). Options, paths, URLs, aliases, spaces
 * and shell metacharacters are refused (ISOL8_EINVAL naming the item).
 */
struct isol8_packages {
	const char *const *items;
	size_t len;
};
#define ISOL8_PACKAGES_MAX 256 /* packages in one list */

struct isol8_setup_opts {
	int force;              /* rebuild even when up to date */
	const char *agent_path; /* NULL: $ISOL8_AGENT or next to us */
	void (*progress)(const char *, void *);
	void *arg;
	/*
	 * Packages baked into each runtime's image isol8/<runtime>:latest,
	 * installed at build time with the host's network. By default the
	 * lists are added to what each image already carries (a later spec
	 * of a package replaces its earlier one), so setup with no lists
	 * keeps what is baked. With packages_replace each image carries
	 * exactly its list here: an empty one makes the plain image again.
	 */
	struct isol8_packages python, node, bun, deno, bash;
	int packages_replace;
	const char *pip_index_url; /* NULL: https://pypi.org/simple */
	const char *npm_registry;  /* NULL: https://registry.npmjs.org/ */
	const char *ca_bundle;     /* a PEM file of CA certificates added
				      to every image's trust store, or NULL */
};

ISOL8_API void isol8_setup_opts_init(struct isol8_setup_opts *opts);
ISOL8_API int isol8_setup_sync(struct isol8_engine *engine,
    const struct isol8_setup_opts *opts, struct isol8_error *err);
/* Check a runtime's package specs as setup would (ISOL8_EINVAL naming
 * the first bad item); 0 when every item is valid. */
ISOL8_API int isol8_packages_check(const char *runtime,
    const struct isol8_packages *packages, struct isol8_error *err);
/* Check registry URLs as setup would (NULL: the default one). */
ISOL8_API int isol8_registries_check(const char *pip_index_url,
    const char *npm_registry, struct isol8_error *err);

/*
 * A custom image (docs/packages.md): built as isol8/<runtime>:latest is
 * (the same base, CA bundle, agent and kernels) under the caller's name,
 * carrying exactly `packages`; then the setup commands run in order as
 * one bash script (-e: the first failure fails the build), as root, in /,
 * with the host's network, at build time. Labels: org.isol8.custom=true,
 * org.isol8.runtime, org.isol8.packages, org.isol8.setup (the commands
 * as a JSON array), org.isol8.hash (an unchanged build builds nothing).
 * A rebuilt image's predecessor and its warm containers are removed. The
 * new image is self-checked by a run of the runtime's version in it.
 */
struct isol8_build_opts {
	const char *runtime; /* the base: python, node, bun, deno, bash */
	const char *tag;     /* NAME[:TAG] (":latest" if none), not isol8/ */
	struct isol8_packages packages;
	const char *const *setup; /* at most 64 commands, 64 KiB in all */
	size_t setup_len;
	int force;              /* rebuild even when up to date */
	const char *agent_path; /* NULL: $ISOL8_AGENT or next to us */
	void (*progress)(const char *, void *);
	void *arg;
	const char *pip_index_url; /* NULL: https://pypi.org/simple */
	const char *npm_registry;  /* NULL: https://registry.npmjs.org/ */
	const char *ca_bundle;     /* a PEM file, or NULL */
};

ISOL8_API void isol8_build_opts_init(struct isol8_build_opts *opts);
ISOL8_API int isol8_build_sync(struct isol8_engine *engine,
    const struct isol8_build_opts *opts, struct isol8_error *err);

/* A custom image, as its labels describe it (one per tag). */
struct isol8_image {
	char *tag;
	char *id;
	char *runtime;
	char **packages; /* normalised specs */
	size_t packages_len;
	char **setup; /* the commands run at build time */
	size_t setup_len;
	int64_t created; /* Unix seconds */
	int64_t size;    /* bytes */
};

/* The custom images dockerd has, sorted by tag. */
ISOL8_API int isol8_images_custom(struct isol8_engine *engine,
    struct isol8_image **images, size_t *n, struct isol8_error *err);
ISOL8_API void isol8_images_free(struct isol8_image *images, size_t n);

/* Runtimes: the names isol8 knows, and the one a file name implies. */
ISOL8_API const char *isol8_runtime_for_path(const char *path);
ISOL8_API int isol8_runtime_known(const char *runtime);
/*
 * Whether isol8_run_start() takes this isol8_request.workdir: 0, or -1
 * with ISOL8_EINVAL saying why (front ends that read a workdir from
 * outside check it with the engine's own rule).
 */
ISOL8_API int isol8_workdir_check(const char *workdir, struct isol8_error *err);

#ifdef __cplusplus
}
#endif

#endif
