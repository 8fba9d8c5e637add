/*
 * Latency percentiles in bounded memory: a histogram of log-spaced buckets
 * 1 % wide from 0.1 ms to about 16 h, so a percentile is within 1 % of the
 * value it stands for however many samples there are (batch counts
 * millions). The smallest and largest samples are kept exactly.
 */
#include <math.h>
#include <string.h>

#include "util.h"

#define HIST_FLOOR_MS 0.1
#define HIST_STEP 1.01

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

static int
hist_bucket(double ms)
{
	int k;

	if (!(ms > HIST_FLOOR_MS)) /* also NaN */
		return 0;
	k = (int)(log(ms / HIST_FLOOR_MS) / log(HIST_STEP));
	return k < 0 ? 0 : k >= HIST_BUCKETS ? HIST_BUCKETS - 1 : k;
}

void
hist_add(struct hist *h, double ms)
{
	if (isnan(ms) || ms < 0)
		ms = 0;
	if (h->n == 0 || ms < h->min)
		h->min = ms;
	if (h->n == 0 || ms > h->max)
		h->max = ms;
	h->b[hist_bucket(ms)]++;
	h->n++;
}

/*
 * The p-th percentile (nearest rank): the middle of the bucket holding
 * that sample, kept within [min, max]; 0 and 100 are min and max; -1
 * when there are no samples.
 */
double
hist_pct(const struct hist *h, double p)
{
	uint64_t want, seen = 0;
	double v;
	int k;

	if (h->n == 0)
		return -1;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	want = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (want < 1)
		want = 1;
	for (k = 0; k < HIST_BUCKETS - 1; k++)
		if ((seen += h->b[k]) >= want)
			break;
	v = k == 0 ? h->min : HIST_FLOOR_MS * pow(HIST_STEP, k + 0.5);
	return v < h->min ? h->min : v > h->max ? h->max : v;
}
