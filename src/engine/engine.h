/*
 * engine: executions as state machines on the loop, the runtimes table,
 * secret masking, and image set-up. The public face is include/isol8.h;
 * this header is for the engine's own files and its tests.
 */
#ifndef ISOL8_ENGINE_H
#define ISOL8_ENGINE_H

#include "isol8.h"
#include "../pool/pool.h"

#define ENGINE_DEFAULT_TIMEOUT_MS 30000
#define ENGINE_DEFAULT_MEMORY (512ll << 20)
#define ENGINE_DEFAULT_PIDS 64
#define ENGINE_DEFAULT_SANDBOX (512ll << 20)
#define ENGINE_DEFAULT_TMP (256ll << 20)
#define ENGINE_DEFAULT_MAX_OUTPUT (1ll << 20)
#define ENGINE_MAX_CODE (16u << 20)
#define ENGINE_DEFAULT_OUTPUT_FILE (8ull << 20)
#define ENGINE_HARD_GRACE_MS 5000
#define ENGINE_IMAGE_REPO "isol8"
#define KERNEL_DIR "/usr/lib/isol8" /* session kernels, in the images */

struct isol8_engine {
	struct loop *loop;
	struct evdns_base *dns; /* made on first use (the filtered network) */
	struct docker *docker;
	struct pool *pool;
	struct isol8_engine_opts opts;
	unsigned active;
	TAILQ_HEAD(, isol8_run) queue;
	TAILQ_HEAD(, isol8_run) runs;
	/* dockerd going away and coming back (engine_docker.c) */
	int docker_down;    /* no admission: probing until it answers */
	int docker_seen;    /* it answered this engine once */
	int docker_gave_up; /* waited in vain: fail at once till it answers */
	int down_said;      /* the outage was announced (a warning) */
	uint64_t down_since;
	uint64_t probe_ms; /* the next back-off */
	struct event *probe_ev;
	struct http_req *probe_req;
};

struct runtime {
	const char *name;
	const char *file;        /* where the code goes */
	const char *const *argv; /* run it; "@" stands for the file */
	const char *const *version;
	const char *const *exts;
	const char *const *kernel; /* a session's interpreter, or NULL */
};

/* runtime.c */
const struct runtime *runtime_find(const char *);
const struct runtime *runtime_all(size_t *);
char *runtime_image(const char *);

/* mask.c */
struct mask;
typedef void (*mask_emit_cb)(int, const char *, size_t, void *);
struct mask *mask_new(const struct isol8_kv *, size_t);
void mask_free(struct mask *);
void mask_feed(struct mask *, int, const char *, size_t, mask_emit_cb, void *);
void mask_flush(struct mask *, int, mask_emit_cb, void *);

/* egress.c: the filtered network's proxy */
#define EGRESS_PORT 8118
struct egress;
struct egress_target {
	char host[256]; /* lower case */
	char port[8];
	int tunnel; /* CONNECT */
	char method[16];
};
struct sockaddr;
int egress_parse(const char *, size_t, struct egress_target *, struct buf *);
int egress_addr_private(const struct sockaddr *);
typedef void (*egress_send_cb)(const struct proto_buf *, void *);
typedef size_t (*egress_pending_cb)(void *);
struct egress *egress_new(struct isol8_engine *, const struct isol8_request *,
    egress_send_cb, egress_pending_cb, void *, struct err **);
void egress_frame(struct egress *, int, const unsigned char *, uint32_t);
struct isol8_net_event *egress_events(struct egress *, size_t *, uint64_t *);
void egress_events_free(struct isol8_net_event *, size_t);
void egress_free(struct egress *);

/* engine.c */
struct evdns_base *engine_dns(struct isol8_engine *);
void engine_error(struct isol8_error *, const struct err *);
void engine_kick(struct isol8_engine *);
void engine_wait(struct isol8_engine *, int *);

/* engine_docker.c */
#define ENGINE_MAX_HOLDS 8 /* a run held back this often fails after all */
int engine_docker_hold(
    struct isol8_engine *, const struct err *, unsigned, int);
void engine_docker_seen(struct isol8_engine *);
void engine_docker_free(struct isol8_engine *);

/* engine_run.c */
int engine_spec(const struct isol8_request *, struct pool_spec *, char **,
    char **, struct err **);
void engine_run_step(struct isol8_run *);
void engine_run_abort(struct isol8_run *);
unsigned engine_fail_queued(struct isol8_engine *, const struct err *);

#endif
