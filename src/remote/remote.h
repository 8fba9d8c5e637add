/*
 * remote: the engine's remote backend. An engine made with
 * isol8_engine_opts.remote_url runs isol8_run_start() on an `isol8 serve`
 * (docs/api.md) instead of in local containers: the request goes as the
 * API's JSON to POST /execute/stream over libcurl on the engine's loop,
 * the Server-Sent Events are read as they come (sse.h), and the run's
 * callbacks are called exactly as a local run's are: output as it arrives,
 * on_done once, from the loop.
 *
 * Invariants:
 * - a run ends exactly once (remote_run_close): on_done is never called
 *   from inside a libcurl callback -- a recorded event wakes remote_step()
 *   on a later turn;
 * - cancelling aborts the transfer: the server sees its client go and
 *   cancels the run, releasing its container; on_done follows with
 *   ISOL8_ECANCELLED;
 * - a server that does not answer ends the run: no connection within
 *   connect_ms, or nothing received or sent for stall_ms, is
 *   ISOL8_EUNAVAILABLE (remote.c), and the connection is closed;
 * - everything from the server is bounded: an event (REMOTE_MAX_EVENT,
 *   the exit event carries the output files), an error body
 *   (REMOTE_MAX_ERROR);
 * - what the API cannot carry is refused by isol8_run_start()
 *   (ISOL8_EINVAL): a streamed stdin (stdin_stream), and text fields
 *   that are not UTF-8 (remote_json.c); argv and workdir go as they are.
 */
#ifndef ISOL8_REMOTE_H
#define ISOL8_REMOTE_H

#include "isol8.h"
#include "../loop/loop.h"

#define REMOTE_MAX_EVENT (512u << 20) /* 64 files of 8 MiB, in base64 */
#define REMOTE_MAX_ERROR (64u << 10)

struct remote_run;
struct remote_op;

/* The backend: its HTTP client, the server's URL and key. */
struct remote {
	struct loop *loop;
	struct http *http;
	char *base;          /* the server's URL, without a trailing / */
	char *url;           /* its /execute/stream */
	char *auth;          /* "Authorization: Bearer KEY" */
	uint64_t connect_ms; /* no connection within this: unreachable */
	uint64_t stall_ms;   /* nothing either way for this: stalled */
	TAILQ_HEAD(, remote_run) runs;
	TAILQ_HEAD(, remote_op) ops; /* session calls (remote_session.c) */
};

/* remote.c */
struct remote *remote_new(struct loop *, const char *, const char *, uint64_t,
    uint64_t, struct err **);
void remote_free(struct remote *);
void remote_refusal(long, const struct buf *, struct isol8_error *);
/* on_done's arg is arg; run ends with remote_run_cancel or on_done. */
struct remote_run *remote_run_start(struct remote *,
    const struct isol8_request *, const struct isol8_callbacks *, void *,
    struct err **);
void remote_run_cancel(struct remote_run *);

/* remote_session.c: GET /sessions, DELETE /sessions/{name} */
void remote_session_list(struct remote *, isol8_session_list_cb, void *);
int remote_session_remove(struct remote *, const char *, isol8_session_done_cb,
    void *, struct err **);
void remote_session_abort(struct remote *);

/* remote_json.c: the wire (docs/api.md) both ways */
int remote_request_write(
    const struct isol8_request *, struct buf *, struct err **);

/* A result read back from the `exit` event (its strings owned). */
struct remote_result {
	struct isol8_result res;
	char *container_id;
	struct isol8_output_file *outputs;
	size_t outputs_len;
	struct isol8_net_event *net_events; /* at most ISOL8's 256 */
	size_t net_events_len;
	char *error;          /* the run failed: why, or NULL */
	enum isol8_code code; /* and its code */
};
int remote_result_read(
    const char *, size_t, struct remote_result *, struct err **);
void remote_result_free(struct remote_result *);

#endif
