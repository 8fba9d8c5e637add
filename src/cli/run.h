/*
 * isol8 run, in files by concern: run_opts.c turns the flags into struct
 * run_opts and a request, run_setup.c makes --setup and --workdir,
 * run_fetch.c fetches --url/--github/--gist code, run_files.c copies
 * --files in and --get out, cmd_run.c runs it on the loop and reports.
 */
#ifndef ISOL8_CLI_RUN_H
#define ISOL8_CLI_RUN_H

#include "cli.h"

#define RUN_MAX_CODE (16u << 20)
#define MAX_GETS 16
#define MAX_PATTERNS 64
#define MAX_SETUPS 64
#define MAX_INSTALL 256 /* the engine's bound too */

/* run_setup.c: --setup (a prelude, or a run of its own), --workdir */
#define RUN_SETUP_MAX (1u << 20) /* bytes of setup script */
struct run_setup {
	struct buf script;        /* the --setup values, joined */
	struct buf prelude;       /* the bash command line it becomes */
	struct isol8_file *files; /* the request's files and ours */
	size_t nfiles;
	struct isol8_request first; /* a session: the setup's own run */
	int two_runs;
};
/* What the flags asked for, and the storage the request points into. */
struct run_opts {
	const char *eval;
	const char *cmd;
	const char *file;
	const char *runtime;
	const char *out_path;
	const char *stdin_data;
	struct isol8_kv *env; /* the configuration's, then --env */
	size_t nenv;
	struct isol8_kv *secrets;
	size_t nsec;
	struct run_files files;
	const char *gets[MAX_GETS];
	size_t ngets;
	const char *allow[MAX_PATTERNS];
	size_t nallow;
	const char *deny[MAX_PATTERNS];
	size_t ndeny;
	const char *install[MAX_INSTALL]; /* --install: package specs */
	size_t ninstall;
	const char *setups[MAX_SETUPS]; /* --setup, in order */
	size_t nsetups;
	const char *workdir; /* --workdir as given */
	const char *url;     /* --url, --github, --gist */
	const char *github;
	const char *gist;
	const char *hash;
	int insecure; /* --allow-insecure-code-url */
	int allow_private;
	int log_network;
	int json;
	int quiet;
	int help;
	int no_stream;     /* --no-stream: print the output when the run ends */
	int persist;       /* --persist: keep the container as a session */
	const char *host;  /* --host, ISOL8_HOST, remote.host: run there */
	const char *key;   /* --key, ISOL8_API_KEY, remote.key */
	uint64_t stall_ms; /* --stall-timeout (0: remote.stallTimeoutMs) */
	struct buf stdin_buf; /* --host: a piped stdin, read whole */
	struct buf code;
	char *fetch_url;               /* where --url/--github/--gist fetch */
	char *workdir_abs;             /* --workdir, resolved */
	char persist_name[80];         /* the session --persist made */
	struct run_setup setup;        /* --setup's prelude or first run */
	const char *outputs[MAX_GETS]; /* --get: the sandbox paths */
	char *locals[MAX_GETS];        /* and the local names */
};

/* run_opts.c */
void run_usage(FILE *);
int run_parse(
    int, char **, struct run_opts *, struct isol8_request *, struct err **);
int run_code(struct run_opts *, struct isol8_request *,
    const struct cli_config *, struct err **);
int run_request(struct run_opts *, const struct cli_config *,
    struct isol8_request *, int *, struct err **);
void run_opts_free(struct run_opts *);

int run_workdir(const char *, char **, struct err **);
int run_setup_script(
    struct run_setup *, const char *const *, size_t, struct err **);
int run_setup_apply(
    struct run_setup *, struct isol8_request *, const char *, struct err **);
void run_setup_free(struct run_setup *);
const char *const *run_setup_argv(const char *, const char **);

/* run_fetch.c: --url, --github, --gist */
char *run_fetch_url(const struct cli_remote *, const char *, const char *,
    const char *, struct err **);
int run_fetch_check(
    const struct cli_remote *, const char *, const char *, int, struct err **);
int run_fetch(struct event_base *, const struct cli_remote *, const char *,
    const char *, int, const int *, struct buf *, struct err **);

#endif
