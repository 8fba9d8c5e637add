/*
 * loop: the one event loop. It owns (or borrows) the libevent event_base and
 * carries the libcurl multi_socket glue (loop_http.c), so that everything
 * above -- Docker REST calls, attached streams, timers, signals -- runs on a
 * single thread and nothing ever blocks.
 */
#ifndef ISOL8_LOOP_H
#define ISOL8_LOOP_H

#include <sys/types.h>
#include <stddef.h>

#include <event2/event.h>

#include "../util/util.h"

struct loop;

/* loop.c */
typedef void (*loop_defer_cb)(void *);
struct loop *loop_new(struct event_base *, const struct log *, struct err **);
void loop_free(struct loop *);
struct event_base *loop_base(struct loop *);
int loop_owned(const struct loop *);
const struct log *loop_log(const struct loop *);
void loop_defer(struct loop *, loop_defer_cb, void *);

/* loop_stream.c */
struct stream;
struct sockaddr;
struct evbuffer;
struct stream_cbs {
	void (*connected)(void *);                  /* may be NULL */
	void (*read)(struct evbuffer *, void *);    /* consume what you can */
	void (*closed)(const struct err *, void *); /* EOF: NULL; once */
};
struct stream *stream_connect(struct loop *, const struct sockaddr *, unsigned,
    const struct stream_cbs *, void *, struct err **);
void stream_write(struct stream *, const void *, size_t);
size_t stream_pending(const struct stream *);
void stream_read(struct stream *, int);
struct evbuffer *stream_input(struct stream *);
void stream_free(struct stream *);

/* loop_http.c */
struct http;
struct http_req;
typedef void (*http_done_cb)(struct http_req *, const struct err *, void *);
typedef int (*http_data_cb)(const char *, size_t, void *);
typedef int (*http_addr_cb)(const struct sockaddr *, void *);
typedef void (*http_progress_cb)(void *);

struct http *http_new(struct loop *, const char *, long, struct err **);
void http_free(struct http *);
struct http_req *http_req_new(struct http *, const char *, const char *);
void http_req_header(struct http_req *, const char *);
void http_req_body(struct http_req *, const void *, size_t);
void http_req_body_fd(struct http_req *, int, off_t);
void http_req_stream(struct http_req *, http_data_cb, void *);
void http_req_timeout(struct http_req *, long);
void http_req_connect_timeout(struct http_req *, long);
void http_req_progress(struct http_req *, http_progress_cb, void *);
void http_req_outside(struct http_req *, const char *, http_addr_cb, void *);
const char *http_req_redirect(const struct http_req *);
void http_req_submit(struct http_req *, http_done_cb, void *);
void *http_req_cancel(struct http_req *);
long http_req_status(const struct http_req *);
const struct buf *http_req_response(const struct http_req *);

#endif
