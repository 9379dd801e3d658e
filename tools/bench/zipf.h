/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key-popularity generators for pollux-bench: uniform and Zipf over n keys,
 * with a deterministic seeded PRNG. Zipf samples come from rejection-inversion
 * (Hoermann and Derflinger 1996, as in Apache Commons RNG), which is exact,
 * O(1) expected per sample with no table, and works for every exponent s > 0
 * including s = 1. Ranks are scrambled to key indices by a seeded random
 * permutation so the hot keys are not adjacent. No DPDK and no I/O here.
 */
#ifndef PX_BENCH_ZIPF_H
#define PX_BENCH_ZIPF_H

#include <stdbool.h>
#include <stdint.h>

#define ZIPF_S_MAX 10.0 /* beyond this nearly every sample is rank 0 */

/* xoshiro256** state; seed it with zipf_rng_seed(). */
struct zipf_rng {
	uint64_t s[4];
};

struct zipf_gen {
	struct zipf_rng rng;
	uint64_t n;        /* keys: samples are in [0, n) */
	double s;          /* exponent; 0 means uniform */
	double h_x1;       /* H(1.5) - 1 */
	double h_n;        /* H(n + 0.5) */
	double s_accept;   /* squeeze: 2 - H^-1(H(2.5) - h(2)) */
	uint32_t *perm;    /* rank -> key index (NULL: identity) */
};

void zipf_rng_seed(struct zipf_rng *r, uint64_t seed);
uint64_t zipf_rng_next(struct zipf_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double zipf_rng_double(struct zipf_rng *r);

/*
 * Parse a distribution spec: "uniform" gives *s = 0, "zipf:S" gives *s = S
 * with 0 < S <= ZIPF_S_MAX. Returns 0 or -EINVAL.
 */
int zipf_parse(const char *spec, double *s);

/*
 * Set up a generator over n keys (1 <= n <= 2^32) with exponent s (0 =
 * uniform). With scramble, a random permutation of n uint32s is allocated
 * (4n bytes) and ranks map through it. Returns 0 or a negative errno.
 */
int zipf_init(struct zipf_gen *z, uint64_t n, double s, uint64_t seed, bool scramble);
void zipf_free(struct zipf_gen *z);

/* The next popularity rank in [0, n): rank 0 is the most popular key. */
uint64_t zipf_rank(struct zipf_gen *z);
/* The next key index in [0, n): a rank mapped through the permutation. */
uint64_t zipf_next(struct zipf_gen *z);

/* Generalized harmonic number sum_{k=1..n} k^-s, O(n); for tests and reports. */
double zipf_zeta(uint64_t n, double s);

#endif
