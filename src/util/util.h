/*
 * util: the bottom layer every module stands on. Allocation that aborts on
 * failure (xmalloc), errors as values (struct err), logging, growable byte
 * buffers with a hard cap, JSON helpers over yajl, SHA-256, time, and the
 * cleanup attributes for function-local resources.
 */
#ifndef ISOL8_UTIL_H
#define ISOL8_UTIL_H

#include <sys/queue.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST(head);                                        \
	     (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif

#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define SENTINEL __attribute__((sentinel))

/* xmalloc.c */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xasprintf(const char *, ...) PRINTFLIKE(1, 2);
void *xmemdup(const void *, size_t);

/* log.c */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};
struct log {
	enum log_level level; /* lines above it are dropped */
	void (*cb)(enum log_level, const char *, void *); /* NULL: stderr */
	void *arg;
};
void log_init(struct log *, enum log_level);
int log_enabled(const struct log *, enum log_level);
void log_warnx(const struct log *, const char *, ...) PRINTFLIKE(2, 3);
void log_info(const struct log *, const char *, ...) PRINTFLIKE(2, 3);
void log_debug(const struct log *, const char *, ...) PRINTFLIKE(2, 3);
__attribute__((noreturn)) void fatal(const char *, ...) PRINTFLIKE(1, 2);
__attribute__((noreturn)) void fatalx(const char *, ...) PRINTFLIKE(1, 2);

/* err.c */
enum err_kind {
	ERR_SYS = 1,     /* a system call or the transport failed */
	ERR_DOCKER,      /* dockerd answered with an error status */
	ERR_NOTFOUND,    /* dockerd: 404 (container, image, network) */
	ERR_CONFLICT,    /* dockerd: 409 */
	ERR_UNAVAILABLE, /* dockerd cannot be reached */
	ERR_TIMEOUT,
	ERR_LIMIT,   /* a size from outside went over its cap */
	ERR_INVALID, /* bad input from the caller */
	ERR_PROTO,   /* a peer broke a protocol */
	ERR_CANCELLED,
	ERR_IMAGE,   /* runtime images are missing */
	ERR_LOST,    /* the sandbox went away during a run */
	ERR_INSTALL, /* a run's packages could not be installed */
};
struct err {
	enum err_kind kind;
	long http_status;
	char *msg;
};
int err_set(struct err **, enum err_kind, const char *, ...) PRINTFLIKE(3, 4);
int err_wrap(struct err **, const char *, ...) PRINTFLIKE(2, 3);
struct err *err_new(enum err_kind, const char *, ...) PRINTFLIKE(2, 3);
struct err *err_dup(const struct err *);
void err_free(struct err **);

/* buf.c */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *);
void buf_free(struct buf *);
void buf_reserve(struct buf *, size_t);
void buf_add(struct buf *, const void *, size_t);
void buf_addstr(struct buf *, const char *);
void buf_printf(struct buf *, const char *, ...) PRINTFLIKE(2, 3);
void buf_drain(struct buf *, size_t);
char *buf_cstr(struct buf *);
uint32_t be32_get(const void *);
void be32_put(void *, uint32_t);
void be64_put(void *, uint64_t);

/* json.c */
#define JSON_MAX_BODY (8u << 20)
#define JSON_MAX_DEPTH 64u /* nested arrays and objects */
yajl_val json_parse(const char *, size_t, struct err **);
/* A path of keys ending in NULL (the compiler checks it is there). */
const char *json_str(yajl_val, const char *, ...) SENTINEL;
int json_int(yajl_val, long long *, const char *, ...) SENTINEL;
int json_bool(yajl_val, const char *, ...) SENTINEL;
yajl_val json_get(yajl_val, const char *, ...) SENTINEL;
yajl_gen json_gen_new(void);
void json_gen_take(yajl_gen, struct buf *);
void json_key(yajl_gen, const char *);
void json_kstr(yajl_gen, const char *, const char *);
void json_kstrn(yajl_gen, const char *, const char *, size_t);
void json_kstr_or_null(yajl_gen, const char *, const char *);
void json_kint(yajl_gen, const char *, long long);
void json_kuint(yajl_gen, const char *, uint64_t);
void json_knumf(yajl_gen, const char *, const char *, ...) PRINTFLIKE(3, 4);
void json_kbool(yajl_gen, const char *, int);
void json_str_add(yajl_gen, const char *);
void json_strn_add(yajl_gen, const char *, size_t);
const char *json_utf8(const char *, size_t, struct buf *, size_t *);

/* stats.c */
#define HIST_BUCKETS 1200 /* log-spaced, 1 % wide: 0.1 ms .. ~16 h */
struct hist {
	uint64_t n;
	double min, max;
	uint32_t b[HIST_BUCKETS];
};
void hist_init(struct hist *);
void hist_add(struct hist *, double);
double hist_pct(const struct hist *, double);

/* base64.c */
void base64_encode(struct buf *, const void *, size_t);
int base64_decode(struct buf *, const char *, size_t);

/* sha256.c */
struct sha256 {
	struct evp_md_ctx_st *ctx; /* libcrypto's EVP_MD_CTX */
};
void sha256_init(struct sha256 *);
void sha256_add(struct sha256 *, const void *, size_t);
void sha256_hex(struct sha256 *, char out[65]);

/* misc.c: time, numbers, sizes, files, randomness */
uint64_t now_ms(void);
uint64_t now_us(void);
int parse_number(const char *, double *, const char **);
int parse_size(const char *, uint64_t *);
int parse_duration(const char *, uint64_t *);
int parse_uint(const char *, uint64_t, uint64_t *);
int read_file(const char *, size_t, struct buf *, struct err **);
void random_bytes(void *, size_t);
void random_hex(char *, size_t);
uint32_t random_below(uint32_t);

/* misc.c: cleanup attributes, for function-local resources only (STYLE.md). */
void cleanup_freep(void *);
void cleanup_closep(int *);
void cleanup_filep(FILE **);
void cleanup_yajlp(yajl_val *);
void cleanup_bufp(struct buf *);
void cleanup_errp(struct err **);
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_file __attribute__((cleanup(cleanup_filep)))
#define cleanup_yajl __attribute__((cleanup(cleanup_yajlp)))
#define cleanup_buf __attribute__((cleanup(cleanup_bufp)))
#define cleanup_err __attribute__((cleanup(cleanup_errp)))

#endif
