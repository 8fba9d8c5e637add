/*
 * A minimal TAP harness: each case is `static int test_x(void)` returning
 * 0 (pass), 77 (skip) or anything else (fail); CHECK fails the case with
 * the file, line and expression.
 */
#ifndef ISOL8_TAP_H
#define ISOL8_TAP_H

#include <stdio.h>

static int tap_count, tap_failed, tap_skipped;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			return 1;                                              \
		}                                                              \
	} while (0)

#define RUN_TEST(fn)                                                           \
	do {                                                                   \
		int rc_ = fn();                                                \
		tap_count++;                                                   \
		if (rc_ == 77) {                                               \
			tap_skipped++;                                         \
			printf("ok %d - %s # SKIP\n", tap_count, #fn);         \
		} else if (rc_ != 0) {                                         \
			tap_failed++;                                          \
			printf("not ok %d - %s\n", tap_count, #fn);            \
		} else                                                         \
			printf("ok %d - %s\n", tap_count, #fn);                \
		fflush(stdout);                                                \
	} while (0)

/* The exit status: 1 on any failure, 77 when every case skipped. */
#define TAP_DONE()                                                             \
	(printf("1..%d\n", tap_count),                                         \
	    tap_failed                     ? 1                                 \
	        : tap_skipped == tap_count ? 77                                \
	                                   : 0)

#endif
