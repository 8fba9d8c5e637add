/*
 * engine: executions as state machines on the loop, the runtimes table,
 * secret masking, and image set-up. The public face is include/isol8.h;
 * this header is for the engine's own files and its tests.
 */
#ifndef ISOL8_ENGINE_H
#define ISOL8_ENGINE_H

#include "isol8.h"
#include "../images/images.h"
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

struct isol8_engine {
	struct loop *loop;
	struct evdns_base *dns; /* made on first use (the filtered network) */
	struct docker *docker;
	struct pool *pool;
	struct isol8_engine_opts opts;
	unsigned active;
	struct event *closing; /* freed on the caller's base: finishing */
	uint64_t closing_until;
	TAILQ_HEAD(, isol8_run) queue;
	TAILQ_HEAD(, isol8_run) runs;
};

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
int engine_can_wait(struct isol8_engine *, struct isol8_error *);
void engine_wait(struct isol8_engine *, int *);

/* engine_run.c */
int engine_spec(const struct isol8_request *, struct pool_spec *, char **,
    char **, struct err **);
void engine_run_step(struct isol8_run *);
void engine_run_abort(struct isol8_run *);

#endif
