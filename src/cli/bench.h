/*
 * bench: the inside of `isol8 bench` (docs/cli.md). cmd_bench.c measures
 * isol8 through the public API (isol8.h) like any program using the
 * library would, and reports; bench_docker.c is the Docker side -- the
 * warm containers isol8 leaves in dockerd, found by the labels it documents
 * (org.isol8.kind=warm) and the runtime's image, and the baselines (an exec
 * through the Docker API, the docker CLI) -- through the project's Docker
 * client, as a program measuring Docker itself would.
 */
#ifndef ISOL8_CLI_BENCH_H
#define ISOL8_CLI_BENCH_H

#include "cli.h"
#include "../docker/docker.h"

/* The hello world of a runtime, as isol8 code and as a command line. */
struct bench_prog {
	const char *runtime;
	const char *code;
	const char *const argv[4];
};

/* bench_docker.c */
void bench_pause(struct loop *, long);
void bench_warm_clear(struct docker *, const char *);
int bench_warm_count(struct docker *, const char *);
char *bench_baseline_start(struct docker *, const char *);
void bench_baseline_remove(struct docker *, const char *);
double bench_api_exec(struct docker *, const char *, const struct bench_prog *);
double bench_spawn(const char *const *);
char *bench_image(const char *);

#endif
