/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the bench latency histogram (tools/bench/histogram.c):
 * bucket bounds hold every value and stay within the stated relative error,
 * and percentiles of known distributions (exact small values, uniform,
 * squares over many octaves, bimodal) land within one bucket of the truth.
 * Also merge, delta, clamping of huge values and the empty histogram.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/bench/histogram.h"

/* A percentile is the top of the true value's bucket: never below it, at most 1/128 above. */
static void assert_close(uint64_t got, uint64_t want)
{
	uint64_t slack = want / (HIST_HALF_COUNT) + 1;

	if (got < want || got > want + slack)
		fail_msg("percentile %llu, want %llu (+%llu)", (unsigned long long)got,
			 (unsigned long long)want, (unsigned long long)slack);
}

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void check_bucket(uint64_t v)
{
	uint32_t i = hist_index(v);
	uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);

	assert_true(i < HIST_BUCKETS);
	assert_true(lo <= v && v <= hi);
	if (v < HIST_SUB_COUNT)
		assert_true(lo == hi);
	else
		assert_true((hi - lo + 1) * HIST_HALF_COUNT <= lo); /* width <= low / 128 */
}

static void test_bucket_bounds(void **state)
{
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (uint64_t v = 0; v < 100000; v++)
		check_bucket(v);
	for (int e = 8; e < HIST_MAX_BITS; e++) {
		uint64_t p = 1ULL << e;

		check_bucket(p - 1);
		check_bucket(p);
		check_bucket(p + 1);
	}
	for (int k = 0; k < 1000000; k++)
		check_bucket(next_rand(&x) & HIST_VALUE_MAX);
	/* Buckets tile the range: each starts one past the previous one's end. */
	for (uint32_t i = 1; i < HIST_BUCKETS; i++)
		assert_true(hist_bucket_low(i) == hist_bucket_high(i - 1) + 1);
	assert_int_equal(hist_bucket_high(HIST_BUCKETS - 1), HIST_VALUE_MAX);
	assert_int_equal(hist_index(HIST_VALUE_MAX + 1), HIST_BUCKETS - 1);
	assert_int_equal(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_empty(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 100), 0);
	assert_true(hist_mean(h) == 0);
	free(h);
}

static void test_small_exact(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	for (uint64_t v = 1; v <= 100; v++)
		hist_record(h, v);
	assert_int_equal(h->count, 100);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100);
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_int_equal(hist_percentile(h, 50), 50);
	assert_int_equal(hist_percentile(h, 99), 99);
	assert_int_equal(hist_percentile(h, 99.9), 100);
	assert_int_equal(hist_percentile(h, 100), 100);
	assert_true(hist_mean(h) == 50.5);
	free(h);
}

/* 1..n once each: the p-th percentile is ceil(p * n / 100). */
static void test_uniform(void **state)
{
	const uint64_t n = 1000000;
	struct hist *h = hist_new();

	(void)state;
	for (uint64_t v = 1; v <= n; v++)
		hist_record(h, v);
	assert_close(hist_percentile(h, 50), 500000);
	assert_close(hist_percentile(h, 90), 900000);
	assert_close(hist_percentile(h, 99), 990000);
	assert_close(hist_percentile(h, 99.9), 999000);
	assert_close(hist_percentile(h, 99.99), 999900);
	assert_int_equal(hist_percentile(h, 100), n);
	free(h);
}

/* i^2 for i in 1..n spans 24 octaves: the p-th percentile is (p * n / 100)^2. */
static void test_squares(void **state)
{
	const uint64_t n = 4096;
	struct hist *h = hist_new();
	static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9};

	(void)state;
	for (uint64_t i = 1; i <= n; i++)
		hist_record(h, i * i);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		uint64_t r = (uint64_t)(ps[k] * (double)n / 100.0 + 0.999999);

		assert_close(hist_percentile(h, ps[k]), r * r);
	}
	free(h);
}

/* 99% at 100 us and 1% at 10 ms, in ns: p99 is the fast mode, p99.5 the slow. */
static void test_bimodal(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	for (int i = 0; i < 99000; i++)
		hist_record(h, 100000);
	for (int i = 0; i < 1000; i++)
		hist_record(h, 10000000);
	assert_close(hist_percentile(h, 50), 100000);
	assert_close(hist_percentile(h, 99), 100000);
	assert_int_equal(hist_percentile(h, 99.5), 10000000); /* clamped to max */
	assert_int_equal(hist_percentile(h, 100), 10000000);
	assert_true(hist_mean(h) > 198999 && hist_mean(h) < 199001);
	free(h);
}

static void test_huge_values(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	hist_record(h, 5);
	hist_record(h, UINT64_MAX);
	assert_int_equal(h->buckets[HIST_BUCKETS - 1], 1);
	assert_true(h->max == UINT64_MAX);
	assert_int_equal(hist_percentile(h, 50), 5);
	assert_int_equal(hist_percentile(h, 100), HIST_VALUE_MAX);
	free(h);
}

static void test_merge_delta(void **state)
{
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *sum = hist_new();
	struct hist *d = hist_new();
	uint64_t x = 12345;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t v = next_rand(&x) % 5000000;

		hist_record(i & 1 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(sum, a);
	hist_merge(sum, b);
	assert_int_equal(sum->count, all->count);
	assert_int_equal(sum->min, all->min);
	assert_int_equal(sum->max, all->max);
	assert_int_equal(sum->sum, all->sum);
	assert_memory_equal(sum->buckets, all->buckets, sizeof(all->buckets));

	/* all - a has b's buckets; its percentiles are b's within a bucket. */
	hist_delta(d, all, a);
	assert_int_equal(d->count, b->count);
	assert_memory_equal(d->buckets, b->buckets, sizeof(b->buckets));
	for (double p = 10; p < 100; p += 10) {
		uint64_t want = hist_percentile(b, p), got = hist_percentile(d, p);

		assert_true(got >= hist_bucket_low(hist_index(want)) &&
			    got <= hist_bucket_high(hist_index(want)));
	}
	free(a);
	free(b);
	free(all);
	free(sum);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_squares),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_huge_values),
		cmocka_unit_test(test_merge_delta),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
