/*
 * cli: the isol8 command, a thin client of the public API (isol8.h). One
 * file per command (cmd_<name>.c, one table entry each), the configuration
 * file (config.c), and shared exit codes and output helpers. The larger
 * commands keep their insides in files of their own: batch.h (batch_*.c),
 * bench.h (bench_docker.c), run_files.c. JSON in and out goes through the
 * shared wire format (src/api/api.h).
 *
 * Errors: helpers report through struct err (the last parameter); a
 * command says an error once, where it decides the exit status
 * (cli_fail, cli_exit_for).
 */
#ifndef ISOL8_CLI_H
#define ISOL8_CLI_H

#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include <yajl/yajl_tree.h>

#include "isol8.h"
#include "../util/util.h"

/* Exit codes besides the program's own (docs/cli.md). */
#define EXIT_USAGE 2
#define EXIT_NODOCKER 3
#define EXIT_NOIMAGE 4
#define EXIT_INSTALL 5 /* the request's packages did not install */
#define EXIT_TIMEOUT 124
#define EXIT_INTERNAL 125
#define EXIT_INTERRUPTED 130
#define EXIT_OOM 137
#define EXIT_TRUNCATED 141
#define EXIT_PIPE 141 /* stdout's reader went away, as if killed by SIGPIPE */

#define CLI_DRAIN_MS 10000 /* removals finish before the command exits */

struct cli_cmd {
	const char *name;
	const char *summary;
	int (*exec)(int, char **);
};

#define CLI_NRUNTIMES 5
/*
 * "remoteCode": whether and from where `run --url/--github/--gist` may
 * fetch code (run_fetch.c), the original isol8's policy and names.
 */
struct cli_remote {
	int enabled;    /* off unless the file turns it on */
	char **schemes; /* allowedSchemes: ["https"] */
	size_t schemes_len;
	char **allow_hosts; /* allowedHosts: none means every host */
	size_t allow_hosts_len;
	char **block_hosts; /* blockedHosts: loopback, private... */
	size_t block_hosts_len;
	uint64_t max_size;   /* maxCodeSize: 10 MiB */
	uint64_t timeout_ms; /* fetchTimeoutMs: 30 s */
	int require_hash;    /* requireHash: --hash is a must */
	int allow_private;   /* allowPrivate (ours): connect to
				       private and loopback addresses */
	char *github_base;   /* githubBaseUrl (ours) */
	char *gist_base;     /* gistBaseUrl (ours) */
};
#define REMOTE_MAX_SIZE_DEFAULT (10u << 20)
#define REMOTE_MAX_SIZE_MAX (16u << 20) /* the engine's largest code */
#define REMOTE_TIMEOUT_DEFAULT 30000
#define REMOTE_GITHUB_BASE "https://raw.githubusercontent.com"
#define REMOTE_GIST_BASE "https://gist.githubusercontent.com"

/* Everything the configuration file can set; flags override it. */
struct cli_config {
	char *source; /* the file it came from, or NULL */
	char *runtime;
	struct isol8_request limits; /* only its limits: timeout to output */
	char *network;
	char *image;
	char *docker_host;
	struct isol8_kv *env;
	size_t env_len;
	unsigned max_concurrent;
	unsigned pool_size;
	uint64_t pool_idle_ms;
	uint64_t session_idle_ms;
	int pool_reuse;
	/* the filtered network's rules ("network" in the file) */
	char **net_allow;
	size_t net_allow_len;
	char **net_deny;
	size_t net_deny_len;
	int net_allow_private;
	uint64_t batch_docker_wait_ms; /* "batch": {"dockerWaitMs"} */
	/* "server": `isol8 serve` (0 / NULL: the built-in default) */
	struct cli_server_config {
		char *listen;
		char *unix_path;
		char *tls_cert;
		char *tls_key;
		char *keys_file;
		uint64_t max_body;
		uint64_t max_headers;
		uint64_t request_timeout_ms;
		uint64_t idle_timeout_ms;
		uint64_t max_connections;
		uint64_t max_queue;
		uint64_t max_runs;
		uint64_t heartbeat_ms;
		uint64_t grace_ms;
	} server;
	/*
	 * "dependencies": per runtime (cli_runtimes[] order), the package
	 * specs setup bakes before the command line's, as written.
	 * "packages": the registries and CA bundle (NULL: the library's
	 * defaults). Setup and build pass them to the image builds, and
	 * the engine's options to run-time installs (docs/packages.md).
	 */
	char **deps[CLI_NRUNTIMES];
	size_t deps_len[CLI_NRUNTIMES];
	char *pip_index_url; /* "packages": {"pipIndexUrl"} */
	char *npm_registry;  /* "packages": {"npmRegistry"} */
	char *ca_bundle;     /* "packages": {"caBundle"}, a readable file */
	/*
	 * "remote": the `isol8 serve` of the client commands (run, batch,
	 * session) when neither a flag nor the environment names one
	 * (config_client), and a remote engine's bounds.
	 */
	struct cli_client {
		char *host;
		char *key; /* sent only to host */
		uint64_t connect_ms;
		uint64_t stall_ms;
	} client;
	int debug;      /* "debug": --debug for every command */
	int auto_prune; /* "cleanup.autoPrune": idle sessions end */
	struct cli_remote remote;
	/* The original isol8's keys that mean nothing here: one line each,
	 * said by config_warn() (docs/compat.md). */
	char **warnings;
	size_t warnings_len;
};

/* The runtimes, in the order of cli_config.deps (config.c). */
extern const char *const cli_runtimes[CLI_NRUNTIMES];

/* cleanup.autoPrune false: sessions are kept as long as the engine allows. */
#define CLI_SESSION_KEEP_MS (30ull * 86400000)

#define BATCH_DOCKER_WAIT_MS 60000          /* --docker-wait default */
#define BATCH_DOCKER_WAIT_MAX (86400000ull) /* a day */

extern const struct cli_cmd cmd_run_entry;
extern const struct cli_cmd cmd_setup_entry;
extern const struct cli_cmd cmd_build_entry;
extern const struct cli_cmd cmd_list_custom_entry;
extern const struct cli_cmd cmd_config_entry;
extern const struct cli_cmd cmd_bench_entry;
extern const struct cli_cmd cmd_batch_entry;
extern const struct cli_cmd cmd_session_entry;
extern const struct cli_cmd cmd_cleanup_entry;
extern const struct cli_cmd cmd_serve_entry;

/*
 * The flags that set a run's limits, the same for `run` and `batch`:
 * entries for a getopt_long table, handled by cli_limit_opt().
 */
enum {
	CLI_O_TIMEOUT = 1000,
	CLI_O_MEMORY,
	CLI_O_CPU,
	CLI_O_PIDS,
	CLI_O_SANDBOX,
	CLI_O_TMP,
	CLI_O_NET,
	CLI_O_MAXOUT,
	CLI_O_IMAGE,
};
#define CLI_LIMIT_OPTIONS                                                      \
	{ "timeout", required_argument, NULL, CLI_O_TIMEOUT },                 \
	    { "memory", required_argument, NULL, CLI_O_MEMORY },               \
	    { "cpu", required_argument, NULL, CLI_O_CPU },                     \
	    { "pids", required_argument, NULL, CLI_O_PIDS },                   \
	    { "pids-limit", required_argument, NULL, CLI_O_PIDS },             \
	    { "sandbox-size", required_argument, NULL, CLI_O_SANDBOX },        \
	    { "tmp-size", required_argument, NULL, CLI_O_TMP },                \
	    { "net", required_argument, NULL, CLI_O_NET },                     \
	    { "max-output", required_argument, NULL, CLI_O_MAXOUT },           \
	{                                                                      \
		"image", required_argument, NULL, CLI_O_IMAGE                  \
	}

/* config.c */
struct err;
void config_request(const struct cli_config *, struct isol8_request *);
void config_network(const struct cli_config *, struct isol8_request *);
int config_load(struct cli_config *, const char *, struct err **);
void config_free(struct cli_config *);
void config_start(const struct cli_config *, const char *, int);
void config_warnf(struct cli_config *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
char *config_size(uint64_t);
void config_strv_free(char **, size_t);
int config_strv(yajl_val, const char *, char ***, size_t *, struct err **);
int config_client(
    const struct cli_config *, const char **, const char **, struct err **);
void config_key_mask(const char *, char *, size_t);

/* config_remote.c: the "remoteCode" section */
void config_remote_defaults(struct cli_remote *);
void config_remote_free(struct cli_remote *);
int config_remote_obj(struct cli_config *, yajl_val, struct err **);
int config_host_regex(regex_t *, const char *, const char *, struct err **);
void config_engine_opts(const struct cli_config *, struct isol8_engine_opts *);

/* run_files.c: --files DIR into a request, --get files out of a result */
struct run_files {
	struct isol8_file *f;
	size_t n;
	size_t bytes;
};
int run_files_dir(const char *, struct run_files *, struct err **);
void run_files_free(struct run_files *);
int run_files_get(const struct isol8_result *, char *const *);

/* cli_out.c: checked result sinks (stdout, --out, results files) */
struct cli_out {
	FILE *f;
	const char *name; /* for the message: "stdout", or a path */
	int err;          /* errno of the first failure; 0 while fine */
	int quiet;        /* fail without a message */
};
extern struct cli_out cli_stdout;
extern struct cli_out cli_stderr;
void cli_stdio_init(void);
void cli_out_init(struct cli_out *, FILE *, const char *);
int cli_out_write(struct cli_out *, const void *, size_t);
int cli_out_flush(struct cli_out *);
int cli_out_close(struct cli_out *);
int cli_out_failed(const struct cli_out *);
int cli_out_status(const struct cli_out *);
int cli_out_finish(int);

/* cli.c */
extern int cli_debug; /* --debug: debug lines on stderr */
void cli_error(const char *, ...) __attribute__((format(printf, 1, 2)));
int cli_exit_code(const struct isol8_error *);
void cli_debugf(const char *, ...) __attribute__((format(printf, 1, 2)));
void cli_debug_header(const char *);
void cli_debug_on(const char *);
void cli_engine_log(enum isol8_log_level, const char *, void *);
int cli_exit_for(const struct isol8_error *);
void cli_engine_free(struct event_base *, struct isol8_engine *, uint64_t);
void cli_base_free(struct event_base *);
int cli_kv(
    const char *, const char *, struct isol8_kv **, size_t *, struct err **);
void cli_kv_copy(const struct isol8_kv *, size_t, struct isol8_kv **, size_t *);
void cli_kv_free(struct isol8_kv *, size_t);
int cli_uint(const char *, const char *, uint64_t, uint64_t *, struct err **);
int cli_limit_opt(int, const char *, struct isol8_request *, struct err **);
int cli_stall_opt(const char *, uint64_t *, struct err **);
int cli_fail(struct err **, int);

#endif
