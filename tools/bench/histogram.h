/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fixed-size log-linear latency histogram in the manner of HdrHistogram:
 * values below 2^HIST_SUB_BITS land in exact unit buckets; above, every
 * power of two is cut into 2^(HIST_SUB_BITS-1) equal buckets, so a bucket's
 * width is at most 1/128 of its lower bound (relative error under 0.8%).
 * Values are plain integers (the benchmarks record nanoseconds), up to
 * 2^HIST_MAX_BITS - 1; larger values are counted in the last bucket while
 * max stays exact. One writer per histogram; other threads may read it at
 * any time (relaxed atomics) to print progress. No allocation, no I/O.
 */
#ifndef PX_BENCH_HISTOGRAM_H
#define PX_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 8
#define HIST_MAX_BITS 44 /* 2^44 ns is about 4.9 hours */
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_HALF_COUNT (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS (HIST_SUB_COUNT + (HIST_MAX_BITS - HIST_SUB_BITS) * HIST_HALF_COUNT)
#define HIST_VALUE_MAX ((1ULL << HIST_MAX_BITS) - 1)

struct hist {
	uint64_t count;
	uint64_t sum;       /* of recorded values, clamped; for the mean */
	uint64_t min;       /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);

/* Bucket of a value (values above HIST_VALUE_MAX go to the last bucket). */
uint32_t hist_index(uint64_t v);
/* Smallest and largest values that share bucket i. */
uint64_t hist_bucket_low(uint32_t i);
uint64_t hist_bucket_high(uint32_t i);

/* Count value v once. Single writer; O(1). */
void hist_record(struct hist *h, uint64_t v);

/* dst += src (each read with relaxed loads: src may be live in another thread). */
void hist_merge(struct hist *dst, const struct hist *src);
/*
 * out = cur - prev, bucket by bucket, for interval figures between two
 * snapshots of one growing histogram. min and max of the interval are the
 * bounds of its lowest and highest non-empty buckets.
 */
void hist_delta(struct hist *out, const struct hist *cur, const struct hist *prev);

/*
 * The value at percentile p (0..100): the highest value of the bucket that
 * holds the ceil(p/100 * count)-th smallest sample, clamped to [min, max].
 * 0 on an empty histogram. O(HIST_BUCKETS).
 */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
