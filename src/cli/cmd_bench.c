/*
 * isol8 bench: latency and throughput, with the baselines measured in the
 * same run on the same machine (docs/benchmarks.md): per runtime, hello
 * world cold, warm, to its first byte, in a session, through a fresh
 * `isol8 run`, and as an exec through the Docker API, `docker exec` and
 * `docker run --rm`; then throughput at several concurrencies, one-use and
 * with scrubbed reuse, and this process's peak RSS. This file is the
 * command; bench.h lists the files that measure and report.
 */
#include <sys/resource.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "Usage: isol8 bench [--runtime R]... [-n N] [--concurrency C]... [--json]\n"
	    "                   [--check [--max-p50 MS]]\n\n"
	    "Measure isol8's latency and throughput, with baselines measured in the same\n"
	    "run: exec through the Docker API, `docker exec`, `docker run --rm`.\n\n"
	    "  -r, --runtime R      a runtime to measure (repeatable; default all five)\n"
	    "  -n N                 samples per measure (default 20; 0: throughput only)\n"
	    "  -c, --concurrency C  throughput at C runs in flight (repeatable;\n"
	    "                       default 1 4 16 32 64; 0 skips it)\n"
	    "      --json           machine-readable results\n"
	    "      --check          exit 1 when a warm p50 is over --max-p50\n"
	    "      --max-p50 MS     the --check threshold (default 100)\n");
}

/* What was asked for: the runtimes and the concurrencies. */
struct bench_want {
	const char *runtime[BENCH_MAX_RUNTIMES];
	int nruntime;
	unsigned conc[BENCH_MAX_CONC];
	int nconc;
	int no_tp; /* -c 0: no throughput */
};

/* What to measure: the flags. 0, -1 after --help, or the exit status. */
static int
bench_args(struct bench *b, int argc, char **argv, struct bench_want *w)
{
	static const struct option opts[] = {
		{ "runtime", required_argument, NULL, 'r' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'k' },
		{ "max-p50", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct err *e = NULL;
	uint64_t u;
	int c;

	while ((c = getopt_long(argc, argv, "r:n:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!isol8_runtime_known(optarg)) {
				cli_error("unknown runtime `%s`", optarg);
				return EXIT_USAGE;
			}
			if (w->nruntime < BENCH_MAX_RUNTIMES)
				w->runtime[w->nruntime++] = optarg;
			break;
		case 'n':
			if (strcmp(optarg, "0") == 0)
				b->samples = 0; /* throughput only */
			else if (cli_uint("-n", optarg, 10000, &u, &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			else
				b->samples = (int)u;
			break;
		case 'c':
			if (strcmp(optarg, "0") == 0)
				w->no_tp = 1;
			else if (cli_uint("--concurrency", optarg, 256, &u,
			             &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			else if (w->nconc < BENCH_MAX_CONC)
				w->conc[w->nconc++] = (unsigned)u;
			break;
		case 'j':
			b->json = 1;
			break;
		case 'k':
			b->check = 1;
			break;
		case 'm':
			if (cli_uint("--max-p50", optarg, 100000, &u, &e) == -1)
				return cli_fail(&e, EXIT_USAGE);
			b->max_p50 = (double)u;
			break;
		case 'h':
			bench_usage(stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	return 0;
}

/*
 * The runtimes asked for (all when none), and each concurrency (1 4 16 32
 * 64 when none) one-use, then with scrubbed reuse.
 */
static void
bench_plan(struct bench *b, const struct bench_want *w)
{
	static const unsigned default_conc[] = { 1, 4, 16, 32, 64 };
	const unsigned *conc = w->conc;
	size_t nprogs;
	const struct bench_prog *progs = bench_progs(&nprogs);
	int i, k, nconc = w->nconc;

	if (nconc == 0) {
		conc = default_conc;
		nconc = (int)nitems(default_conc);
	}
	for (i = 0; !w->no_tp && i < nconc; i++) {
		b->tp[b->ntp].conc = conc[i];
		b->tp[b->ntp++].reuse = 0;
		b->tp[b->ntp].conc = conc[i];
		b->tp[b->ntp++].reuse = 1;
	}
	for (i = 0; i < (int)nprogs; i++) {
		for (k = 0; k < w->nruntime; k++)
			if (strcmp(w->runtime[k], progs[i].runtime) == 0)
				break;
		if (w->nruntime == 0 || k < w->nruntime)
			b->rr[b->nrt++].prog = &progs[i];
	}
}

/* --check, and a runtime without a single warm run: exit 1. */
static int
bench_verdict(const struct bench *b)
{
	double p50;
	int i, rc = 0;

	for (i = 0; b->samples > 0 && i < b->nrt; i++) {
		p50 = bench_pct(&b->rr[i].m[M_WARM], 50);
		if (p50 < 0) {
			cli_error("bench: %s: no successful warm run",
			    b->rr[i].prog->runtime);
			rc = 1;
		} else if (b->check && p50 > b->max_p50) {
			cli_error(
			    "bench --check: %s warm p50 is %.1f ms, over %.0f ms",
			    b->rr[i].prog->runtime, p50, b->max_p50);
			rc = 1;
		}
	}
	return rc;
}

/* Every measure, then the report; the exit status. */
static int
bench_run(struct bench *b)
{
	struct rusage ru;
	int i;

	for (i = 0; i < b->nrt; i++) {
		if (!b->json)
			fprintf(stderr, "measuring %s...\n",
			    b->rr[i].prog->runtime);
		bench_measure_runtime(b, &b->rr[i]);
	}
	for (i = 0; i < b->ntp; i++) {
		if (!b->json)
			fprintf(stderr, "throughput at %u in flight%s...\n",
			    b->tp[i].conc, b->tp[i].reuse ? ", reuse" : "");
		bench_measure_throughput(b, &b->tp[i]);
	}
	getrusage(RUSAGE_SELF, &ru);
	if (b->json)
		bench_print_json(b, ru.ru_maxrss);
	else
		bench_print_table(b, ru.ru_maxrss);
	return bench_verdict(b);
}

static int
cmd_bench(int argc, char **argv)
{
	struct bench *b = xcalloc(1, sizeof *b);
	struct bench_want w;
	ssize_t n;
	int rc;

	memset(&w, 0, sizeof w);
	b->samples = 20;
	b->max_p50 = 100;
	if ((rc = bench_args(b, argc, argv, &w)) != 0) {
		free(b);
		return rc == -1 ? 0 : rc; /* -1: --help */
	}
	bench_plan(b, &w);
	if ((n = readlink("/proc/self/exe", b->self, sizeof b->self - 1)) <=
	    0) {
		free(b);
		cli_error("bench: cannot find the isol8 binary");
		return EXIT_INTERNAL;
	}
	b->self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if ((b->loop = loop_new(NULL, NULL, NULL)) == NULL ||
	    (b->d = docker_new(b->loop, NULL, NULL)) == NULL) {
		cli_error("bench: unsupported DOCKER_HOST");
		rc = EXIT_USAGE;
	} else
		rc = bench_run(b);
	docker_free(b->d);
	if (b->loop != NULL)
		event_base_loop(loop_base(b->loop), EVLOOP_NONBLOCK);
	loop_free(b->loop);
	cli_base_free(b->base);
	free(b);
	return rc;
}

const struct cli_cmd cmd_bench_entry = { "bench",
	"measure latency and throughput against baselines", cmd_bench };
