/*
 * docker: an asynchronous Docker Engine API client on the loop. REST calls
 * go through libcurl (loop_http.c); attached container streams are a raw
 * HTTP upgrade on the Unix socket (docker_attach.c) demultiplexed by an
 * incremental stdcopy parser. Every operation completes exactly once, from
 * the loop, with a struct docker_reply or an error carrying dockerd's own
 * message. Nothing here shells out to the docker CLI.
 */
#ifndef ISOL8_DOCKER_H
#define ISOL8_DOCKER_H

#include "../loop/loop.h"

#define DOCKER_API "v1.41"
#define DOCKER_DEFAULT_SOCK "/var/run/docker.sock"

/*
 * The labels isol8 puts on what it creates, so that clean-up touches
 * nothing else: containers carry KIND (run, warm, session, bench), images
 * MANAGED.
 */
#define LABEL_MANAGED "org.isol8.managed"
#define LABEL_KEY "org.isol8.pool"
#define LABEL_KIND "org.isol8.kind"
#define LABEL_SESSION "org.isol8.session"
#define LABEL_LIMITS "org.isol8.limits"
#define LABEL_RUNTIME "org.isol8.runtime"
#define LABEL_HASH "org.isol8.hash"

struct docker;
struct docker_attach;

struct docker_reply {
	long status;
	const char *body;
	size_t len;
	yajl_val json; /* the parsed body when it is JSON, else NULL */
};
typedef void (*docker_cb)(
    const struct docker_reply *, const struct err *, void *);
typedef void (*docker_line_cb)(const char *, void *);

/* docker_client.c */
struct docker *docker_new(struct loop *, const char *, struct err **);
void docker_free(struct docker *);
struct loop *docker_loop(struct docker *);
const struct log *docker_log(struct docker *);
struct http_req *docker_req_new(struct docker *, const char *, const char *);
const char *docker_socket(struct docker *);
void docker_set_timeout(struct docker *, long);
struct http_req *docker_call(struct docker *, const char *, const char *,
    const struct buf *, docker_cb, void *);
void docker_cancel(struct http_req *);
void docker_call_adopt(
    struct docker *, struct http_req *, docker_cb, void *, void (*)(void *));
char *docker_escape(const char *);
void docker_ping(struct docker *, docker_cb, void *);
struct http_req *docker_probe(struct docker *, long, docker_cb, void *);
unsigned docker_unreachable(struct docker *);
void docker_note_unreachable(struct docker *);
int docker_busy(const struct docker *);
void docker_removals(struct docker *, int);
void docker_grave_add(struct docker *, const char *);
void docker_graves_retry(struct docker *);

/* docker_container.c */
struct docker_ulimit {
	const char *name; /* NULL ends a list */
	int64_t soft, hard;
};
struct docker_create {
	const char *name;
	const char *image;
	const char *const *cmd;    /* NULL-terminated */
	const char *const *labels; /* key, value, ..., NULL */
	const char *user;
	const char *workdir;
	int open_stdin;
	int64_t memory; /* bytes; MemorySwap is set equal */
	int64_t nano_cpus;
	int64_t pids_limit;
	int readonly_rootfs;
	const char *const *tmpfs; /* path, options, ..., NULL */
	const char *const *cap_add;
	const char *const *cap_drop;
	const char *const *security_opt;
	const struct docker_ulimit *ulimits;
	const char *network_mode;
	int auto_remove;
	int log_none;
	int64_t shm_size;
};
void docker_create_json(const struct docker_create *, struct buf *);
struct http_req *docker_container_create(
    struct docker *, const struct docker_create *, docker_cb, void *);
void docker_container_create_abandon(
    struct docker *, struct http_req *, const char *);
struct http_req *docker_container_start(
    struct docker *, const char *, docker_cb, void *);
struct http_req *docker_container_remove(
    struct docker *, const char *, int, docker_cb, void *);
struct http_req *docker_container_wait(
    struct docker *, const char *, docker_cb, void *);
struct http_req *docker_container_inspect(
    struct docker *, const char *, docker_cb, void *);
struct http_req *docker_container_list(
    struct docker *, const char *, int, docker_cb, void *);
struct http_req *docker_container_rename(
    struct docker *, const char *, const char *, docker_cb, void *);

/* docker_image.c */
struct http_req *docker_image_inspect(
    struct docker *, const char *, docker_cb, void *);
struct http_req *docker_image_list(
    struct docker *, const char *, docker_cb, void *);
struct http_req *docker_image_remove(
    struct docker *, const char *, int, docker_cb, void *);
struct http_req *docker_image_build(struct docker *, const struct buf *,
    const char *, const char *, docker_line_cb, docker_cb, void *);
struct http_req *docker_image_import(struct docker *, int, off_t, const char *,
    const char *, docker_line_cb, docker_cb, void *);

/* docker_exec.c */
typedef void (*docker_output_cb)(int, const char *, size_t, void *);
struct http_req *docker_exec_create(struct docker *, const char *,
    const char *const *, const char *, docker_cb, void *);
struct http_req *docker_exec_start(
    struct docker *, const char *, docker_output_cb, docker_cb, void *);
struct http_req *docker_exec_inspect(
    struct docker *, const char *, docker_cb, void *);

/* docker_attach.c */
struct docker_attach_cbs {
	void (*ready)(void *);
	void (*data)(int, const char *, size_t, void *);
	void (*closed)(const struct err *, void *);
};
struct docker_attach *docker_attach_start(struct docker *, const char *,
    const struct docker_attach_cbs *, void *, struct err **);
void docker_attach_write(struct docker_attach *, const void *, size_t);
size_t docker_attach_pending(struct docker_attach *);
void docker_attach_free(struct docker_attach *);

/* docker_sync.c */
struct docker_sync {
	void *arg; /* the caller's, e.g. for progress lines */
	int done;
	struct err *err;
	struct buf body;
};
void docker_sync_cb(const struct docker_reply *, const struct err *, void *);
void docker_sync_wait(struct docker *, struct docker_sync *);
void docker_sync_reset(struct docker_sync *);

/* docker_stdcopy.c */
struct stdcopy {
	unsigned char hdr[8];
	size_t hlen;
	uint32_t left;
	int stream;
};
void stdcopy_init(struct stdcopy *);
int stdcopy_feed(struct stdcopy *, const char *, size_t, docker_output_cb,
    void *, struct err **);

/* docker_tar.c */
int tar_add(
    struct buf *, const char *, const void *, size_t, int, struct err **);
void tar_end(struct buf *);

#endif
