/*
 * pool: containers ready to run code. A box is one hardened container whose
 * in-container agent is attached and has answered our HELLO; the pool hands
 * boxes to the engine by pool key (everything fixed at container creation)
 * and takes them back when a run is over.
 */
#ifndef ISOL8_POOL_H
#define ISOL8_POOL_H

#include "../docker/docker.h"
#include "../agent/proto.h"

struct box;
struct pool;
struct pool_wait;

/* Everything fixed when a container is created: the pool key. */
struct pool_spec {
	const char *image;
	int64_t memory;
	int64_t nano_cpus;
	int64_t pids;
	int64_t sandbox_size;
	int64_t tmp_size;
	const char *network; /* "none" or "host" */
};

struct box_cbs {
	void (*frame)(int, const unsigned char *, uint32_t, void *);
	void (*lost)(const struct err *, void *);
};

/* A container configuration and the strings it points into. */
struct box_conf {
	struct docker_create c;
	const char *cmd[5];
	const char *tmpfs[5];
	const char *labels[11];
	struct docker_ulimit ulimits[4];
	char key[17];
	char limits[17];
	char idle[24];
	char tmpfs_sandbox[128];
	char tmpfs_tmp[128];
};

typedef void (*box_ready_cb)(struct box *, const struct err *, void *);

/* How a box ends (box_close()). */
enum box_end {
	BOX_DETACH, /* let the container be: it ends by itself, or stays */
	BOX_BYE,    /* tell its agent to exit (AutoRemove removes it) */
	BOX_REMOVE, /* kill and remove it (if still being created: once made) */
};

/* box.c */
void pool_spec_key(const struct pool_spec *, char[17]);
void pool_limits_key(const struct pool_spec *, char[17]);
void box_config(const struct pool_spec *, const char *, uint64_t, const char *,
    struct box_conf *);
struct box *box_create(struct docker *, const struct pool_spec *, const char *,
    uint64_t, const char *, box_ready_cb, void *);
struct box *box_claim(struct docker *, const char *, box_ready_cb, void *);
void box_set_cbs(struct box *, const struct box_cbs *, void *);
const char *box_id(const struct box *);
void box_send(struct box *, const struct proto_buf *);
size_t box_pending(struct box *);
void box_close(struct box *, enum box_end);

/* pool.c */
struct pool_opts {
	unsigned size;         /* warm containers kept per key */
	uint64_t idle_ms;      /* an unclaimed warm container expires */
	int shared;            /* keep them in dockerd for other processes */
	int reuse;             /* scrub boxes and run again (same key only) */
	unsigned max_creating; /* container creations in flight, all keys */
};
typedef void (*pool_acquire_cb)(struct box *, const struct err *, void *);
void pool_opts_init(struct pool_opts *);
struct docker *pool_docker(struct pool *);
struct pool *pool_new(struct docker *, const struct pool_opts *);
void pool_prewarm(struct pool *, const struct pool_spec *);
void pool_drain(struct pool *);
void pool_free(struct pool *);
int pool_busy(const struct pool *);
struct pool_wait *pool_acquire(
    struct pool *, const struct pool_spec *, pool_acquire_cb, void *);
void pool_acquire_cancel(struct pool_wait *);
void pool_release(struct pool *, const struct pool_spec *, struct box *, int);
struct pool_stat {
	char key[17];
	char image[128];
	unsigned ready;    /* boxes ready (and warm containers known) */
	unsigned creating; /* being made */
};
size_t pool_stats(const struct pool *, struct pool_stat *, size_t);

/* session.c */
struct session_open;
struct session_open *pool_session_open(struct pool *, const struct pool_spec *,
    const char *, int, uint64_t, pool_acquire_cb, void *);
void pool_session_cancel(struct session_open *);
void pool_session_release(struct box *, int);

/* pool.c, for session.c: the openers a pool holds (drained with it). */
TAILQ_HEAD(session_opens, session_open);
struct session_opens *pool_opens(struct pool *);

#endif
