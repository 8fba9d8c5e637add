/*
 * bench: the inside of `isol8 bench` (docs/cli.md), a file per concern:
 *
 *   cmd_bench.c     the command: flags, what to measure, the verdict
 *   bench_measure.c the measures, a table of functions; isol8 through the
 *                   public API only (isol8.h), like any program using
 *                   the library
 *   bench_docker.c  the Docker side, through the project's Docker client as
 *                   a program measuring Docker would: the warm containers
 *                   isol8 leaves in dockerd (found by the label it
 *                   documents, org.isol8.kind=warm, and the image) and the
 *                   baselines (an exec through the API, the docker CLI)
 *   bench_serve.c   the `isol8 serve` a remote measure runs against
 *   bench_report.c  the table, or --json
 */
#ifndef ISOL8_CLI_BENCH_H
#define ISOL8_CLI_BENCH_H

#include <sys/types.h>

#include "cli.h"
#include "../docker/docker.h"

/* The hello world of a runtime, as isol8 code and as a command line. */
struct bench_prog {
	const char *runtime;
	const char *code;
	const char *const argv[4];
};

#define BENCH_MAX_RUNTIMES 5
#define BENCH_MAX_CONC 8
#define BENCH_MAX_TP (2 * BENCH_MAX_CONC)

/* One measure: its samples' histogram, and the samples that failed. */
struct bench_stats {
	struct hist h;
	int errors;
};

/* What is measured per runtime, in the order of the report. */
enum bench_measure {
	M_COLD,
	M_WARM,
	M_TTFB,
	M_CLI,
	M_SESSION,
	M_REMOTE,      /* warm, through `isol8 serve` (a remote engine) */
	M_REMOTE_OVER, /* its time minus the server engine's totalMs */
	M_API_EXEC,
	M_DOCKER_EXEC,
	M_DOCKER_RUN,
	M_COUNT,
};

/* A runtime's measures, and a throughput run's. */
struct bench_rt {
	const struct bench_prog *prog;
	struct bench_stats m[M_COUNT];
};

struct bench_tp {
	unsigned conc;
	int reuse;
	int jobs;
	double wall_ms;
	struct bench_stats lat;
};

/* The benchmark: what it measures, and where (on the heap: ~300 KB). */
struct bench {
	struct event_base *base; /* the library engines' */
	struct isol8_engine *e;  /* the engine of the measure under way */
	struct loop *loop;       /* the Docker client's */
	struct docker *d;
	int samples;
	int json;
	int check;
	double max_p50;
	char self[4096]; /* this isol8 binary, for the CLI samples */
	struct bench_rt rr[BENCH_MAX_RUNTIMES];
	int nrt;
	struct bench_tp tp[BENCH_MAX_TP];
	int ntp;
};

/* bench_measure.c */
const struct bench_prog *bench_progs(size_t *);
void bench_measure_runtime(struct bench *, struct bench_rt *);
void bench_measure_throughput(struct bench *, struct bench_tp *);
double bench_pct(const struct bench_stats *, double);

/* bench_report.c */
void bench_print_json(const struct bench *, long);
void bench_print_table(const struct bench *, long);

/* bench_docker.c */
void bench_pause(struct loop *, long);
void bench_warm_clear(struct docker *, const char *);
int bench_warm_count(struct docker *, const char *);
char *bench_baseline_start(struct docker *, const char *);
void bench_baseline_remove(struct docker *, const char *);
double bench_api_exec(struct docker *, const char *, const struct bench_prog *);
double bench_spawn(const char *const *);
char *bench_image(const char *);

/* bench_serve.c */
struct bench_serve {
	pid_t pid;
	char url[96];
	char key[65];
	char log[64];
};
int bench_serve_start(struct loop *, const char *, struct bench_serve *);
void bench_serve_stop(struct bench_serve *);

#endif
