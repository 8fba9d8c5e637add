/*
 * server: `isol8 serve`, the HTTP API (docs/api.md) as one more client of
 * the engine, on the engine's own event_base: libevent's evhttp (with
 * OpenSSL bufferevents for TLS), the requests in the shared wire format
 * (src/api), runs through include/isol8.h -- the warm pool is the engine's,
 * so a remote run costs a local run plus one HTTP round trip.
 *
 *   server.c          the server: listeners, TLS, routing, shutdown
 *   server_conn.c     a connection: its bufferevent, the request deadline
 *   server_req.c      a request: state, client presence, replies, close
 *   server_admit.c    admission: runs in flight, per-key shares, the queue
 *   server_exec.c     requests of one run: /execute, /execute/stream, files
 *   server_batch.c    POST /batch: a job list, results as they end
 *   server_session.c  GET /sessions, DELETE /sessions/{name}; key prefixes
 *   server_claim.c    a key's `sessions=N` ceiling: claims on session names
 *   server_keys.c     API keys (--key, --keys FILE), auth, ceilings
 *   server_sse.c      Server-Sent Events: events, ids, heartbeats
 *   server_metrics.c  GET /metrics: Prometheus text
 *
 * Every async object -- a connection, a request, a run of a request -- has
 * a state enum, one _step() where the state moves and one _close(why);
 * callbacks (evhttp's, the engine's, timers) record what happened and
 * step. A run a request started is cancelled exactly once when its client
 * goes away, and the request lives until the run's on_done.
 */
#ifndef ISOL8_SERVER_H
#define ISOL8_SERVER_H

#include <sys/queue.h>
#include <stdint.h>

#include "isol8.h"
#include "../api/api.h"
#include "../util/util.h"

struct event;
struct event_base;
struct evbuffer;
struct evbuffer_cb_entry;
struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct evhttp_bound_socket;
struct bufferevent;
struct ssl_ctx_st;
struct server;

/* Defaults of struct server_opts (docs/api.md "Limits"). */
#define SERVER_DEFAULT_LISTEN "127.0.0.1:3000"
#define SERVER_MAX_BODY (16u << 20)     /* a PUT file: ISOL8_MAX_CODE */
#define SERVER_MAX_HEADERS (16u << 10)  /* the request line and headers */
#define SERVER_REQUEST_TIMEOUT_MS 10000 /* headers and body, in all */
#define SERVER_IDLE_TIMEOUT_MS 60000    /* a read or write that stalls */
#define SERVER_MAX_CONNECTIONS 1024
#define SERVER_MAX_QUEUE 256 /* requests waiting for a run */
#define SERVER_HEARTBEAT_MS 15000
#define SERVER_GRACE_MS 30000
#define SERVER_SWEEP_MS 250 /* connections let go, deadlines */
#define SERVER_BATCH_MAX_JOBS 100000

/* ---- keys (server_keys.c) ---- */

enum {
	NET_NONE = 1 << 0,
	NET_HOST = 1 << 1,
	NET_FILTERED = 1 << 2,
	NET_PRIVATE = 1 << 3, /* filtered with allowPrivate */
};

/* What a key may ask for: 0 (or NULL) is no ceiling of that kind. */
struct server_ceilings {
	uint64_t memory;
	double cpus;
	uint64_t pids;
	uint64_t timeout_ms;
	uint64_t max_output;
	unsigned networks;    /* NET_* allowed; 0: all */
	char **runtimes;      /* allowed runtimes; NULL: all */
	char **images;        /* images a request may name; NULL: all */
	unsigned concurrency; /* its runs in flight; 0: the server's */
	unsigned sessions;    /* sessions it may own ... */
	int has_sessions;     /* ... when set (0: none at all) */
};

/*
 * A key. Requests hold a reference; a key that a reload removed stays in
 * memory (revoked) until the last one lets go. Its runs in flight count
 * against its concurrency across reloads (the name is the key).
 */
struct server_key {
	char name[33];
	unsigned char hash[32]; /* SHA-256 of the secret */
	struct server_ceilings c;
	int refs;
	int revoked;
	unsigned inflight; /* runs of this key in flight (admission) */
	TAILQ_ENTRY(server_key) entry;
};
TAILQ_HEAD(server_keys, server_key);

int keys_load_file(const char *, struct server_keys *, struct err **);
int keys_parse(const char *, char *, struct server_keys *, struct err **);
void keys_single(const char *, struct server_keys *);
void keys_replace(struct server_keys *, struct server_keys *);
void keys_free(struct server_keys *);
struct server_key *keys_auth(struct server_keys *, const char *);
void key_ref(struct server_key *);
void key_unref(struct server_keys *, struct server_key *);
void key_defaults(const struct server_key *, const struct isol8_request *,
    struct isol8_request *);
int key_check(
    const struct server_key *, const struct isol8_request *, struct err **);
int key_name_valid(const char *);

/* ---- the server ---- */

struct server_opts {
	const char *listen;    /* ADDR:PORT; NULL: no TCP listener */
	const char *unix_path; /* a Unix socket; NULL: none */
	const char *tls_cert;  /* PEM files: TLS on the TCP listener */
	const char *tls_key;
	const char *key;       /* one key, no ceilings (--key) */
	const char *keys_file; /* name, SHA-256, ceilings (--keys) */
	size_t max_body;
	size_t max_headers;
	uint64_t request_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned max_connections;
	unsigned max_queue;
	unsigned max_runs; /* runs in flight; 0: the engine's max_concurrent */
	uint64_t heartbeat_ms;
	/* every request's defaults (the configuration file); its strings
	 * must outlive the server */
	const struct isol8_request *defaults;
	const struct log *log;
};

void server_opts_init(struct server_opts *);

/* What the server counts for GET /metrics (server_metrics.c). */
#define METRIC_BUCKETS 14
enum metric_outcome {
	OUT_OK,        /* exit 0 */
	OUT_NONZERO,   /* another exit code */
	OUT_TIMEOUT,   /* killed at its timeout */
	OUT_OOM,       /* killed by the memory limit */
	OUT_TRUNCATED, /* stopped at the output limit */
	OUT_ERROR,     /* it could not run (an engine error) */
	OUT_CANCELLED, /* its client went away, or the server stopped */
	OUT_COUNT
};
struct server_metrics {
	uint64_t runs[5][OUT_COUNT]; /* by runtime (isol8 order) */
	uint64_t lat_buckets[METRIC_BUCKETS + 1];
	double lat_sum;
	uint64_t lat_count;
	uint64_t docker_errors;
	uint64_t requests[6]; /* by status class: 1xx..5xx, index 0 other */
	uint64_t rejected_queue_full;
	uint64_t client_gone;
	uint64_t slow_clients; /* cut off at the request deadline */
};
void metrics_run(struct server_metrics *, const char *,
    const struct isol8_result *, const struct isol8_error *);
void metrics_write(struct server *, struct buf *);

enum server_state {
	SERVER_RUNNING,
	SERVER_DRAINING, /* stopped accepting; runs in flight finish */
	SERVER_STOPPED,  /* nothing left: the done callback ran */
};

struct server_conn;
struct server_req;
struct claim;
TAILQ_HEAD(server_conns, server_conn);
TAILQ_HEAD(server_claims, claim);
TAILQ_HEAD(server_reqs, server_req);

struct server {
	struct event_base *base;
	struct isol8_engine *e;
	struct server_opts o;
	enum server_state state;
	struct evhttp *http;
	struct ssl_ctx_st *ssl;
	struct evhttp_bound_socket *tcp;
	struct evhttp_bound_socket *unix_sock;
	char *unix_path;
	int accept_paused;
	struct server_conns conns;
	unsigned nconns;
	struct server_reqs reqs; /* every live request */
	unsigned nreqs;
	struct server_keys keys;
	/* admission (server_admit.c) */
	struct server_reqs waiting;
	unsigned nwaiting;
	unsigned inflight;
	unsigned max_runs;
	struct event *kick; /* admission on a later turn */
	uint64_t next_run_id;
	/* session claims (server_claim.c) */
	struct server_claims claims;
	uint64_t claim_seq; /* the newest list asked for */
	int claim_listing;  /* that list is still out */
	struct server_metrics m;
	/* shutdown */
	struct event *grace;
	int grace_over;
	void (*stopped)(void *);
	void *stopped_arg;
	struct event *stop_ev; /* `stopped` on a later turn */
	struct event *sweep;   /* connections (server_conn.c) */
};

struct server *server_new(struct event_base *, struct isol8_engine *,
    const struct server_opts *, struct err **);
void server_free(struct server *);
void server_stop(struct server *, uint64_t, void (*)(void *), void *);
int server_reload_keys(struct server *, struct err **);
void server_describe(const struct server *, struct buf *);
void server_drained(struct server *);
void server_cut(struct server *);

/* ---- connections (server_conn.c) ---- */

enum conn_state {
	CONN_WAIT,   /* a request is being read: the deadline runs */
	CONN_BUSY,   /* a request was read and is being answered */
	CONN_CUT,    /* cut off (too slow): evhttp closes it */
	CONN_CLOSED, /* evhttp let go of it */
};

struct server_conn {
	struct server *s;
	enum conn_state state;
	struct bufferevent *bev; /* evhttp's; we hold a reference */
	uint64_t since;          /* waiting for a request since (ms) */
	/* facts */
	int deadline_hit;
	int freed; /* evhttp let go of it */
	int busy;  /* a request is being answered */
	uint64_t requests;
	TAILQ_ENTRY(server_conn) entry;
};

struct bufferevent *conn_bevcb(struct event_base *, void *);
struct server_conn *conn_find(struct server *, struct evhttp_connection *);
void conn_busy(struct server_conn *, int);
void conn_free_all(struct server *);
int conn_writing(const struct server *);
struct event *conn_sweep_new(struct server *);

/* ---- requests (server_req.c) ---- */

enum req_state {
	REQ_QUEUED,  /* waiting for a run slot (or its session claim) */
	REQ_WORKING, /* its runs or engine calls are under way */
	REQ_CLOSED,
};

enum req_end {
	REQ_END_DONE,    /* answered */
	REQ_END_GONE,    /* the client went away */
	REQ_END_REFUSED, /* answered at once with an error */
};

struct server_req;

/* What a kind of request does; every hook is called from req_step(). */
struct req_ops {
	const char *name;
	/* a slot was granted: start a run (0), or -1 when it ran into an
	 * error it already answered */
	int (*start)(struct server_req *);
	/* whether it wants another slot (a batch with jobs left) */
	int (*wants)(struct server_req *);
	/* cancel what is in flight (the client went, the server stops) */
	void (*cancel)(struct server_req *);
	/* the work is over: answer (when the client is there) */
	void (*finish)(struct server_req *);
	void (*free)(struct server_req *);
};

struct server_req {
	struct server *s;
	const struct req_ops *ops;
	enum req_state state;
	uint64_t id;
	struct evhttp_request *h; /* NULL once answered or the client went */
	struct server_conn *conn;
	struct server_key *key;
	struct event *watch; /* the client's socket, for its going away */
	struct event *wake;  /* a step on a later turn */
	int streaming;       /* a reply was started (SSE, JSON lines) */
	/* it ended without a run (the server stops): the answer */
	int fail_status;
	enum isol8_code fail_code;
	char *fail_msg;
	/* facts */
	int gone;      /* the client went away */
	int granted;   /* slots granted, not yet used by start() */
	unsigned runs; /* runs (or engine calls) in flight */
	int cancelled; /* ops->cancel was called */
	int finished;  /* nothing more to start */
	int queued;    /* in s->waiting */
	void *kind;    /* the kind's own state */
	uint64_t t0;
	TAILQ_ENTRY(server_req) entry;  /* s->reqs */
	TAILQ_ENTRY(server_req) qentry; /* s->waiting */
};

void server_handle(struct evhttp_request *, void *);
struct server_req *req_new(
    struct server *, struct evhttp_request *, const struct req_ops *, void *);
void req_step(struct server_req *);
void req_defer_step(struct server_req *);
void req_run_done(struct server_req *);
void req_reply(struct server_req *, int, const char *, struct buf *);
void req_error(struct server_req *, int, enum isol8_code, const char *, ...)
    PRINTFLIKE(4, 5);
void req_stream_start(struct server_req *, const char *);
void req_stream_write(struct server_req *, const void *, size_t);
size_t req_stream_pending(struct server_req *);
void req_stream_end(struct server_req *);
int req_status_for(enum isol8_code);
void req_refuse(struct server *, struct evhttp_request *, int, enum isol8_code,
    const char *);

/* ---- admission (server_admit.c) ---- */

int admit_want(struct server_req *, int);
void admit_leave(struct server_req *);
void admit_release(struct server_req *);
void admit_kick(struct server *);
void admit_fail_waiting(struct server *, int, const char *);

/* ---- the routes (server_exec.c, server_batch.c, server_session.c) ---- */

struct route_match {
	char name[80]; /* {name} of /sessions/{name}... */
};
void route_execute(
    struct server *, struct evhttp_request *, struct server_key *, int);
void route_files(struct server *, struct evhttp_request *, struct server_key *,
    const char *, int);
void route_batch(struct server *, struct evhttp_request *, struct server_key *);
void route_sessions(
    struct server *, struct evhttp_request *, struct server_key *);
void route_session_delete(struct server *, struct evhttp_request *,
    struct server_key *, const char *);
int session_internal(
    const struct server_key *, const char *, char *, size_t, struct err **);
const struct isol8_error *session_error_external(const struct server_key *,
    const struct isol8_error *, struct isol8_error *);
int request_prepare(struct server *, struct server_key *, struct api_request *,
    struct isol8_request *, char *, size_t, int *, struct err **);

/* ---- session claims (server_claim.c) ---- */

typedef void (*claim_cb)(struct claim *, const struct isol8_error *, void *);
int claim_needed(const struct server_key *, const struct isol8_request *);
void claim_start(struct server *, const struct server_key *,
    const struct isol8_request *, claim_cb, void *);
void claim_drop(struct claim *);
void claim_free_all(struct server *);

/* ---- Server-Sent Events (server_sse.c) ---- */

void sse_event(struct buf *, uint64_t, const char *, const char *, size_t);
void sse_output(struct buf *, uint64_t, int, const char *, size_t);
void sse_comment(struct buf *, const char *);

#endif
