/*
 * batch: the inside of `isol8 batch` (docs/batch.md), a file per concern:
 *
 *   cmd_batch.c     the command: flags, files, the engine, the exit status
 *   batch_read.c    the job list, streamed line by line (bounded lines)
 *   batch_job.c     a line into a job: the shared request parser (api/)
 *   batch_run.c     jobs in flight: start, retry, results, the pump
 *   batch_emit.c    result lines in completion or input order
 *   batch_report.c  the progress bar and the summary
 *   batch_ids.c     sets of job ids (duplicates, resumed jobs)
 *   batch_resume.c  an earlier results file, read and repaired
 *
 * One struct batch holds the state; it lives on one event_base, and every
 * event ends in batch_pump(), which starts jobs while there is room.
 */
#ifndef ISOL8_CLI_BATCH_H
#define ISOL8_CLI_BATCH_H

#include <sys/queue.h>
#include <stdint.h>

#include "cli.h"
#include "../api/api.h"
#include "../util/util.h"

#define BATCH_MAX_LINE (8u << 20)
#define BATCH_ORDER_MAX 1024 /* results held back for --order input */

/* One job of the list, as parsed from its line (batch_job.c). */
struct batch_job {
	long line;
	char *id;    /* given, or the line number */
	char *error; /* "line N: why this line cannot run", or NULL */
	struct api_request api;
};
int batch_job_parse(
    const char *, size_t, long, const char *, struct batch_job *);
void batch_job_free(struct batch_job *);

/* batch_read.c: the job list, a line at a time. */
struct batch_reader {
	int fd;
	int eof;
	int overlong; /* skipping the rest of a line over BATCH_MAX_LINE */
	long lineno;  /* of the line handed out last */
	size_t taken; /* bytes of `in` handed out last, dropped next call */
	struct buf in;
};
enum batch_next {
	BATCH_NEXT_LINE, /* a line (without its newline) */
	BATCH_NEXT_LONG, /* a line over BATCH_MAX_LINE, skipped */
	BATCH_NEXT_WAIT, /* nothing to read yet: wait for the descriptor */
	BATCH_NEXT_END,  /* all read */
};
void batch_reader_init(struct batch_reader *, int);
enum batch_next batch_reader_next(
    struct batch_reader *, const char **, size_t *);
int batch_reader_done(const struct batch_reader *);
void batch_reader_free(struct batch_reader *);
uint64_t batch_count_lines(int);

/* batch_emit.c: result lines, in completion order or in input order. */
struct batch_held {
	uint64_t seq;
	char *text; /* NULL: nothing to write (a resumed line) */
};
struct batch_emit {
	struct cli_out *out;
	int ordered;   /* --order input */
	uint64_t next; /* ordered: the line whose result is due */
	struct batch_held held[BATCH_ORDER_MAX];
	int nheld;
};
int batch_emit(struct batch_emit *, uint64_t, char *);
int batch_emit_room(const struct batch_emit *, unsigned);
void batch_emit_free(struct batch_emit *);

/* batch_ids.c: sets of job ids (their hashes) */
struct batch_ids {
	uint64_t *slot;
	size_t cap;
	size_t n;
};
uint64_t batch_id_hash(const char *, size_t);
int batch_ids_add(struct batch_ids *, uint64_t);
int batch_ids_has(const struct batch_ids *, uint64_t);
void batch_ids_free(struct batch_ids *);

/* batch_resume.c: an earlier results file, read (and repaired) */
struct batch_resume {
	uint64_t results; /* final results found (and kept) */
	uint64_t dropped; /* other complete lines: dropped by a repair */
	int torn;         /* the last line had no newline */
};
int batch_resume_load(const char *, int, struct batch_ids *,
    struct batch_resume *, struct err **);

/* What a batch counts, for the exit status and the summary. */
struct batch_stats {
	uint64_t total_lines; /* of a regular job file, for the ETA */
	uint64_t done;        /* result lines (written or due) */
	uint64_t ran;
	uint64_t nonzero;
	uint64_t timeouts;
	uint64_t ooms;
	uint64_t truncs;
	uint64_t errors;
	uint64_t skipped; /* --resume found them done */
	uint64_t retried;
	struct hist hist; /* job latencies */
	uint64_t t0;
};

struct batch_item;

struct batch {
	struct event_base *base;
	struct isol8_engine *e;
	struct cli_config cfg;
	/* every job's defaults: flags over the configuration file */
	struct isol8_request defaults;
	struct isol8_kv *env;
	size_t env_len;
	int reuse;
	const char *host, *key; /* --host/--key: the jobs run on a server */
	uint64_t stall_ms;      /* --stall-timeout (0: the configuration's) */
	uint64_t docker_wait_ms;
	unsigned conc;
	int fail_fast;
	int quiet;
	int summary;
	int json_summary;
	/* input */
	struct batch_reader rd;
	char *dir; /* the job file's folder: `file` paths are below it */
	struct event *in_ev;
	struct event *sigint;
	struct event *sigterm;
	/* scheduling */
	TAILQ_HEAD(, batch_item) items;
	unsigned inflight;
	int stopping;
	int interrupted;
	int unavailable; /* the exit status dockerd or the images decided */
	struct batch_ids ids;
	struct batch_ids resume;
	uint64_t next_seq;
	/* output */
	struct cli_out file; /* --output */
	struct batch_emit emit;
	struct batch_stats st;
	struct event *progress_ev;
	int tty;
};

/* batch_run.c */
void batch_pump(struct batch *);
void batch_stop(struct batch *);
int batch_over(const struct batch *);

/* batch_report.c */
void batch_progress(const struct batch *);
void batch_summary(const struct batch *);

#endif
