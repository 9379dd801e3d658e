/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log-linear histogram (see histogram.h). Index arithmetic is a count of
 * leading zeros and two shifts; percentiles walk the buckets once. Fields
 * are written with relaxed atomic stores by their single owner so a
 * progress thread may merge them while the owner records.
 */
#include <string.h>

#include "histogram.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint32_t hist_index(uint64_t v)
{
	if (v < HIST_SUB_COUNT)
		return (uint32_t)v;
	if (v > HIST_VALUE_MAX)
		return HIST_BUCKETS - 1;
	uint32_t e = 63 - (uint32_t)__builtin_clzll(v); /* HIST_SUB_BITS <= e < HIST_MAX_BITS */
	uint32_t shift = e - HIST_SUB_BITS + 1;

	return HIST_SUB_COUNT + (e - HIST_SUB_BITS) * HIST_HALF_COUNT +
	       (uint32_t)(v >> shift) - HIST_HALF_COUNT;
}

uint64_t hist_bucket_low(uint32_t i)
{
	if (i < HIST_SUB_COUNT)
		return i;
	uint32_t j = i - HIST_SUB_COUNT;
	uint32_t shift = j / HIST_HALF_COUNT + 1;

	return (uint64_t)(j % HIST_HALF_COUNT + HIST_HALF_COUNT) << shift;
}

uint64_t hist_bucket_high(uint32_t i)
{
	if (i < HIST_SUB_COUNT)
		return i;
	uint32_t shift = (i - HIST_SUB_COUNT) / HIST_HALF_COUNT + 1;

	return hist_bucket_low(i) + (1ULL << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	uint32_t i = hist_index(v);

	STORE(&h->buckets[i], h->buckets[i] + 1);
	STORE(&h->count, h->count + 1);
	STORE(&h->sum, h->sum + (v > HIST_VALUE_MAX ? HIST_VALUE_MAX : v));
	if (v < h->min)
		STORE(&h->min, v);
	if (v > h->max)
		STORE(&h->max, v);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	uint64_t mn = LOAD(&src->min), mx = LOAD(&src->max);

	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += LOAD(&src->buckets[i]);
	dst->count += LOAD(&src->count);
	dst->sum += LOAD(&src->sum);
	if (mn < dst->min)
		dst->min = mn;
	if (mx > dst->max)
		dst->max = mx;
}

void hist_delta(struct hist *out, const struct hist *cur, const struct hist *prev)
{
	hist_init(out);
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		uint64_t c = cur->buckets[i], p = prev->buckets[i];
		uint64_t d = c > p ? c - p : 0;

		out->buckets[i] = d;
		out->count += d;
		if (d == 0)
			continue;
		if (out->min == UINT64_MAX)
			out->min = hist_bucket_low(i);
		out->max = hist_bucket_high(i);
	}
	out->sum = cur->sum > prev->sum ? cur->sum - prev->sum : 0;
	if (out->max > cur->max)
		out->max = cur->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t count = 0;

	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		count += h->buckets[i];
	if (count == 0)
		return 0;
	if (!(p > 0))
		p = 0;
	if (p > 100)
		p = 100;

	/* Multiply first and forgive rounding noise: 99.9% of 1000 must be rank 999. */
	double x = p * (double)count / 100.0;
	uint64_t rank = (uint64_t)x; /* ceil without libm */
	if ((double)rank < x - x * 1e-12)
		rank++;
	uint64_t seen = 0;

	if (rank < 1)
		rank = 1;
	if (rank > count)
		rank = count;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = hist_bucket_high(i);

			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count > 0 ? (double)h->sum / (double)h->count : 0;
}
