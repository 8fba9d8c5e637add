/*
 * engine: executions as state machines on the loop, the runtimes table,
 * secret masking, and image set-up. The public face is include/isol8.h;
 * this header is for the engine's own files and its tests.
 */
#ifndef ISOL8_ENGINE_H
#define ISOL8_ENGINE_H

#include "isol8.h"
#include "../images/images.h"
#include "../net/net.h"
#include "../pool/pool.h"
#include "../remote/remote.h"

/*
 * The bounds of every numeric limit (limits.c holds the one table built
 * from them; docs/library.md "Limits" explains each).
 */
#define ENGINE_DEFAULT_TIMEOUT_MS 30000
#define ENGINE_MAX_TIMEOUT_MS 86400000ull /* 24 h */
#define ENGINE_DEFAULT_MEMORY (512ull << 20)
#define ENGINE_MIN_MEMORY (6ull << 20) /* dockerd refuses less */
#define ENGINE_DEFAULT_NANO_CPUS 1000000000ull
/* The kernel's minimum CFS quota is 1 ms a 100 ms period: 0.01 CPU. */
#define ENGINE_MIN_NANO_CPUS 10000000ull
#define ENGINE_DEFAULT_PIDS 64
#define ENGINE_MIN_PIDS 2            /* the agent (PID 1) and the program */
#define ENGINE_MAX_PIDS (1ull << 22) /* the kernel's PID_MAX_LIMIT */
#define ENGINE_DEFAULT_SANDBOX (512ull << 20)
#define ENGINE_DEFAULT_TMP (256ull << 20)
#define ENGINE_MIN_TMPFS 4096ull /* one page: tmpfs rounds up to it */
#define ENGINE_DEFAULT_MAX_OUTPUT (1ull << 20)
#define ENGINE_DEFAULT_OUTPUT_FILE (8ull << 20)
#define ENGINE_MAX_OUTPUT_FILE (256ull << 20) /* the agent's own cap */
#define ENGINE_MAX_SIZE (1ull << 50) /* 1 PiB: sizes fit Docker's int64 */
#define ENGINE_DEFAULT_POOL_SIZE 2
#define ENGINE_MAX_POOL_SIZE 256
#define ENGINE_DEFAULT_POOL_IDLE_MS (10ull * 60 * 1000)
#define ENGINE_MAX_POOL_IDLE_MS (7ull * 86400000)
#define ENGINE_DEFAULT_SESSION_IDLE_MS (60ull * 60 * 1000)
#define ENGINE_MAX_SESSION_IDLE_MS (30ull * 86400000)
/* A remote engine's bounds: 3 x the server's default 15 s heartbeat. */
#define ENGINE_DEFAULT_REMOTE_CONNECT_MS 10000ull
#define ENGINE_MAX_REMOTE_CONNECT_MS (10ull * 60000)
#define ENGINE_DEFAULT_REMOTE_STALL_MS 45000ull
#define ENGINE_MAX_REMOTE_STALL_MS 86400000ull
#define ENGINE_MAX_CONCURRENT 4096
#define ENGINE_MAX_CODE ISOL8_MAX_CODE
#define ENGINE_HARD_GRACE_MS 5000

/* engine_docker.c: dockerd going away and coming back */
enum docker_state {
	DOCKER_UNSEEN, /* it never answered this engine */
	DOCKER_UP,
	DOCKER_DOWN, /* away: no admission, a probe with back-off */
	DOCKER_GONE, /* waited docker_wait_ms in vain */
};
struct engine_docker {
	enum docker_state state;
	int said; /* the outage was announced (a warning) */
	uint64_t down_since;
	uint64_t probe_ms; /* the next back-off */
	struct event *probe_ev;
	struct http_req *probe_req;
};

struct isol8_engine {
	struct loop *loop;
	struct resolver *resolver; /* the filtered network's */
	struct docker *docker;
	struct pool *pool;
	struct isol8_engine_opts opts;
	unsigned active;
	struct event *closing; /* freed on the caller's base: finishing */
	uint64_t closing_until;
	TAILQ_HEAD(, isol8_run) queue;
	TAILQ_HEAD(, isol8_run) runs;
	/* session calls on the loop (engine_session.c) */
	TAILQ_HEAD(, session_op) session_ops;
	struct engine_docker dw; /* whether dockerd is there */
	struct registries reg;   /* run-time installs: ... */
	char *reg_pip, *reg_npm; /* ... their URLs, owned */
	struct remote *remote;   /* opts.remote_url: runs go there */
};

/* mask.c */
struct mask;
typedef void (*mask_emit_cb)(int, const char *, size_t, void *);
struct mask *mask_new(const struct isol8_kv *, size_t);
void mask_free(struct mask *);
void mask_feed(struct mask *, int, const char *, size_t, mask_emit_cb, void *);
void mask_flush(struct mask *, int, mask_emit_cb, void *);

/* engine.c */
void engine_error(struct isol8_error *, const struct err *);
void engine_kick(struct isol8_engine *);
int engine_can_wait(struct isol8_engine *, struct isol8_error *);
void engine_wait(struct isol8_engine *, int *);

/* limits.c */
struct engine_limits {
	uint64_t timeout_ms;
	uint64_t memory;
	uint64_t nano_cpus;
	uint64_t pids;
	uint64_t sandbox_size;
	uint64_t tmp_size;
	uint64_t max_output;
	uint64_t max_output_file;
};
uint64_t engine_cpus(void);
int engine_limits(
    const struct isol8_request *, struct engine_limits *, struct err **);
int engine_limits_opts(struct isol8_engine_opts *, struct err **);

/* engine_docker.c */
#define ENGINE_MAX_HOLDS 8 /* a run held back this often fails after all */
int engine_docker_hold(
    struct isol8_engine *, const struct err *, unsigned, int);
void engine_docker_seen(struct isol8_engine *);
int engine_docker_admits(const struct isol8_engine *);
void engine_docker_free(struct isol8_engine *);

/* engine_plan.c: a request checked and made into what its run sends */
struct plan {
	struct pool_spec spec; /* the pool key (its strings: below) */
	char *image;
	char *network;
	const char *runtime;     /* the runtimes table's, or NULL */
	struct proto_buf frames; /* PUT_FILE (files, code) */
	unsigned acks;           /* the OKs the PUT_FILEs will get */
	/* The RUN frame is put together when it is sent (plan_run): the
	 * time left and the image's packages are known then. */
	struct proto_buf run_head; /* ARGV and our ENV TLVs */
	struct proto_buf run_env;  /* the request's ENV (and proxy) TLVs */
	unsigned pkg_env_set;      /* plan_run's names the request sets */
	struct proto_buf run_tail; /* what follows TIMEOUT_MS */
	struct pkgs packages;      /* to be there before the code */
	char **registry_eps;       /* where they come from: host:port */
	int registry_private;      /* the operator named the registry */
	int baked;                 /* the image's baked list matters */
	char **outputs;            /* files to read back, checked paths */
	size_t noutputs;
	uint64_t timeout_ms;
	uint64_t max_output;
	uint64_t max_output_file;
	int filtered; /* the filtered network: a proxy on the host */
	char *session;
	int session_must_exist; /* join it; never make it */
};
int plan_make(const struct isol8_request *, int, const struct registries *,
    struct plan *, struct err **);
void plan_run(
    const struct plan *, uint64_t, const char *const *, struct proto_buf *);
void plan_free(struct plan *);

/* engine_session.c */
void engine_session_abort(struct isol8_engine *);

/* engine_install.c: a run's packages, before its code */
struct install {
	struct isol8_engine *e;
	const struct plan *plan;
	void (*step)(void *); /* the run's: something was recorded */
	void *arg;
	struct http_req *inspect; /* the baked list, asked of dockerd */
	int inspected;            /* ... and known (or not to be had) */
	int inspect_failed;       /* ... no answer: ask again */
	struct pkgs have;         /* what the image has baked */
	struct pkgs missing;      /* what the run installs */
	struct egress *egress;    /* the installer's: registries only */
	struct install_log log;   /* what the installer said */
	int sent;                 /* its RUN went out ... */
	int exited, bad_exit;     /* ... its EXIT came */
	struct proto_exit exit;
	uint64_t t0, ms;
	char *env[3];                   /* the code's (install_code_env) */
	struct isol8_net_event *events; /* the installer's connections */
	size_t nevents;
	uint64_t dropped;
};
void install_start(struct install *, struct isol8_engine *, const struct plan *,
    const char *, void (*)(void *), void *);
void install_stop(struct install *);
int install_needed(struct install *, struct err **);
int install_send(struct install *, uint64_t, egress_send_cb, egress_pending_cb,
    void *, struct proto_buf *, struct err **);
void install_frame(struct install *, int, const unsigned char *, uint32_t);
struct err *install_verdict(struct install *);
struct err *install_late(struct install *);
const char *const *install_code_env(struct install *);
void install_free(struct install *);

/* engine_run.c */
int engine_spec(const struct isol8_request *, struct pool_spec *, char **,
    char **, struct err **);
void engine_run_abort(struct isol8_run *);
unsigned engine_fail_queued(struct isol8_engine *, const struct err *);

#endif
