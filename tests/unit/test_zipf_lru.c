/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the bench's key generators and its exact LRU simulator: the
 * Zipf sampler's top-rank frequencies against the exact pmf k^-s / H(n, s),
 * uniform spread, range, determinism and the rank permutation; LRU on a
 * hand-traced sequence and against a naive O(capacity) reference model.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/bench/lru.h"
#include "../../tools/bench/zipf.h"

static void test_zipf_parse(void **state)
{
	double s = -1;

	(void)state;
	assert_int_equal(zipf_parse("uniform", &s), 0);
	assert_true(s == 0);
	assert_int_equal(zipf_parse("zipf:0.99", &s), 0);
	assert_true(s == 0.99);
	assert_int_equal(zipf_parse("zipf:1", &s), 0);
	assert_true(s == 1.0);
	assert_int_equal(zipf_parse("zipf:1.5", &s), 0);
	assert_true(s == 1.5);
	assert_true(zipf_parse("zipf:", &s) < 0);
	assert_true(zipf_parse("zipf:0", &s) < 0);
	assert_true(zipf_parse("zipf:-1", &s) < 0);
	assert_true(zipf_parse("zipf:abc", &s) < 0);
	assert_true(zipf_parse("zipf:0.9x", &s) < 0);
	assert_true(zipf_parse("zipf:11", &s) < 0);
	assert_true(zipf_parse("zipf:nan", &s) < 0);
	assert_true(zipf_parse("normal", &s) < 0);
	assert_true(zipf_parse("", &s) < 0);
}

/*
 * Draw samples ranks and check the 20 most popular ranks and the remaining
 * mass against the exact pmf, each within 5 standard deviations of a
 * binomial count (a false failure is below 1e-5 per check).
 */
static void check_zipf_top(uint64_t n, double s, uint64_t samples)
{
	enum { TOP = 20 };
	uint64_t count[TOP + 1] = {0};
	struct zipf_gen z;
	double zeta = zipf_zeta(n, s), top_mass = 0;

	assert_int_equal(zipf_init(&z, n, s, 42, false), 0);
	for (uint64_t i = 0; i < samples; i++) {
		uint64_t r = zipf_rank(&z);
		assert_true(r < n);
		count[r < TOP ? r : TOP]++;
	}
	for (unsigned k = 0; k <= TOP; k++) {
		double p;
		if (k < TOP) {
			p = pow((double)k + 1, -s) / zeta;
			top_mass += p;
		} else {
			p = 1 - top_mass;
		}
		double expect = p * (double)samples;
		double sigma = sqrt(expect * (1 - p));
		if (fabs((double)count[k] - expect) > 5 * sigma + 1)
			fail_msg("n=%llu s=%g rank %u: %llu samples, expected %.0f +- %.0f",
				 (unsigned long long)n, s, k, (unsigned long long)count[k], expect,
				 sigma);
	}
	zipf_free(&z);
}

static void test_zipf_frequencies(void **state)
{
	(void)state;
	check_zipf_top(1000, 0.99, 2000000);
	check_zipf_top(1000, 1.0, 2000000);
	check_zipf_top(100000, 0.5, 2000000);
	check_zipf_top(1000000, 0.99, 2000000);
	check_zipf_top(1000, 1.5, 2000000);
	check_zipf_top(50, 2.5, 1000000);
}

static void test_uniform(void **state)
{
	enum { N = 100 };
	const uint64_t samples = 1000000;
	uint64_t count[N] = {0};
	struct zipf_gen z;

	(void)state;
	assert_int_equal(zipf_init(&z, N, 0, 7, false), 0);
	for (uint64_t i = 0; i < samples; i++) {
		uint64_t r = zipf_rank(&z);
		assert_true(r < N);
		count[r]++;
	}
	double expect = (double)samples / N, sigma = sqrt(expect * (1 - 1.0 / N));
	for (unsigned k = 0; k < N; k++)
		assert_true(fabs((double)count[k] - expect) <= 5 * sigma);
	zipf_free(&z);
}

static void test_zipf_edges(void **state)
{
	struct zipf_gen z;

	(void)state;
	assert_true(zipf_init(&z, 0, 0.99, 1, false) < 0);
	assert_true(zipf_init(&z, 10, -0.5, 1, false) < 0);
	assert_true(zipf_init(&z, 10, 20, 1, false) < 0);

	assert_int_equal(zipf_init(&z, 1, 0.99, 1, true), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(zipf_next(&z), 0);
	zipf_free(&z);

	uint64_t seen[2] = {0};
	assert_int_equal(zipf_init(&z, 2, 1.0, 1, false), 0);
	for (int i = 0; i < 30000; i++) {
		uint64_t r = zipf_rank(&z);
		assert_true(r < 2);
		seen[r]++;
	}
	/* p(0) = 1 / (1 + 1/2) = 2/3 */
	assert_true(seen[0] > 19000 && seen[0] < 21000);
	zipf_free(&z);
}

static void test_zipf_permutation(void **state)
{
	enum { N = 10000 };
	struct zipf_gen a, b;
	uint8_t *hit = calloc(N, 1);

	(void)state;
	assert_non_null(hit);
	assert_int_equal(zipf_init(&a, N, 0.99, 99, true), 0);
	assert_int_equal(zipf_init(&b, N, 0.99, 99, true), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_true(a.perm[i] < N);
		assert_int_equal(hit[a.perm[i]], 0);
		hit[a.perm[i]] = 1;
	}
	/* Same seed, same sequence; and the hottest key is not simply key 0. */
	unsigned moved = 0;
	for (unsigned i = 0; i < 100000; i++) {
		uint64_t x = zipf_next(&a);
		assert_int_equal(x, zipf_next(&b));
		assert_true(x < N);
	}
	for (unsigned i = 0; i < 16; i++)
		moved += a.perm[i] != i;
	assert_true(moved >= 14);
	zipf_free(&a);
	zipf_free(&b);
	free(hit);
}

static void test_lru_hand_traced(void **state)
{
	/* key, expected result, expected victim (when evicted) */
	static const struct {
		uint64_t key;
		enum lru_result res;
		uint64_t victim;
	} seq[] = {
		{1, LRU_MISS, 0},         /* 1 */
		{2, LRU_MISS, 0},         /* 2 1 */
		{3, LRU_MISS, 0},         /* 3 2 1 */
		{1, LRU_HIT, 0},          /* 1 3 2 */
		{4, LRU_MISS_EVICTED, 2}, /* 4 1 3 */
		{2, LRU_MISS_EVICTED, 3}, /* 2 4 1 */
		{1, LRU_HIT, 0},          /* 1 2 4 */
		{3, LRU_MISS_EVICTED, 4}, /* 3 1 2 */
		{3, LRU_HIT, 0},          /* 3 1 2 */
		{2, LRU_HIT, 0},          /* 2 3 1 */
		{5, LRU_MISS_EVICTED, 1}, /* 5 2 3 */
		{1, LRU_MISS_EVICTED, 3}, /* 1 5 2 */
	};
	struct lru *l = lru_create(3);

	(void)state;
	assert_non_null(l);
	assert_int_equal(lru_capacity(l), 3);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint64_t victim = UINT64_MAX;
		enum lru_result r = lru_access(l, seq[i].key, &victim);
		if (r != seq[i].res)
			fail_msg("step %zu key %llu: result %d, expected %d", i,
				 (unsigned long long)seq[i].key, r, seq[i].res);
		if (r == LRU_MISS_EVICTED)
			assert_int_equal(victim, seq[i].victim);
		else
			assert_int_equal(victim, UINT64_MAX);
	}
	assert_int_equal(lru_count(l), 3);
	assert_true(lru_contains(l, 1));
	assert_true(lru_contains(l, 5));
	assert_true(lru_contains(l, 2));
	assert_false(lru_contains(l, 3));
	assert_false(lru_contains(l, 4));
	lru_destroy(l);

	assert_null(lru_create(0));
	l = lru_create(1);
	assert_non_null(l);
	assert_int_equal(lru_access(l, 9, NULL), LRU_MISS);
	assert_int_equal(lru_access(l, 9, NULL), LRU_HIT);
	uint64_t v = 0;
	assert_int_equal(lru_access(l, 8, &v), LRU_MISS_EVICTED);
	assert_int_equal(v, 9);
	lru_destroy(l);
}

/* Naive LRU: ref[0] is the most recent. */
static enum lru_result ref_access(uint64_t *ref, uint32_t *count, uint32_t cap, uint64_t key,
				  uint64_t *victim)
{
	uint32_t i;

	for (i = 0; i < *count; i++)
		if (ref[i] == key)
			break;
	if (i < *count) {
		memmove(ref + 1, ref, i * sizeof(*ref));
		ref[0] = key;
		return LRU_HIT;
	}
	enum lru_result r = LRU_MISS;
	if (*count == cap) {
		*victim = ref[cap - 1];
		r = LRU_MISS_EVICTED;
	} else {
		(*count)++;
	}
	memmove(ref + 1, ref, (*count - 1) * sizeof(*ref));
	ref[0] = key;
	return r;
}

static void test_lru_vs_reference(void **state)
{
	static const uint32_t caps[] = {1, 2, 7, 64, 500};
	struct zipf_rng rng;

	(void)state;
	zipf_rng_seed(&rng, 2024);
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		uint32_t cap = caps[c], count = 0;
		uint64_t *ref = calloc(cap, sizeof(*ref));
		struct lru *l = lru_create(cap);
		uint64_t hits = 0;

		assert_non_null(ref);
		assert_non_null(l);
		for (int i = 0; i < 200000; i++) {
			/* Keys spread over 64 bits but drawn from a small pool, so they repeat. */
			uint64_t key = (zipf_rng_next(&rng) % (cap * 3 + 2)) * 0x9e3779b97f4a7c15ULL;
			uint64_t v1 = 1, v2 = 2;
			enum lru_result a = lru_access(l, key, &v1);
			enum lru_result b = ref_access(ref, &count, cap, key, &v2);
			assert_int_equal(a, b);
			if (a == LRU_MISS_EVICTED)
				assert_int_equal(v1, v2);
			hits += a == LRU_HIT;
		}
		assert_int_equal(lru_count(l), count);
		for (uint32_t i = 0; i < count; i++)
			assert_true(lru_contains(l, ref[i]));
		assert_true(hits > 0);
		lru_destroy(l);
		free(ref);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zipf_parse),
		cmocka_unit_test(test_zipf_frequencies),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_zipf_edges),
		cmocka_unit_test(test_zipf_permutation),
		cmocka_unit_test(test_lru_hand_traced),
		cmocka_unit_test(test_lru_vs_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
