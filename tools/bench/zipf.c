/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Uniform and Zipf key generators. The Zipf sampler is rejection-inversion
 * (W. Hoermann, G. Derflinger, "Rejection-inversion to generate variates from
 * monotone discrete distributions", ACM TOMACS 1996), following Apache
 * Commons RNG's RejectionInversionZipfSampler: it inverts the integral H of
 * the continuous hat x^-s and accepts with a cheap squeeze, so a sample costs
 * a log and an exp or two with no precomputed table. Unlike the Gray et al.
 * (YCSB) approximation it is exact and also valid at s = 1. Generation is not
 * on any timed path: the benchmarks pre-generate their traces.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zipf.h"

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void zipf_rng_seed(struct zipf_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t zipf_rng_next(struct zipf_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return out;
}

double zipf_rng_double(struct zipf_rng *r)
{
	return (double)(zipf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n) by multiply-shift (Lemire); bias is below 2^-32 for n < 2^32. */
static uint64_t rng_below(struct zipf_rng *r, uint64_t n)
{
	return (uint64_t)(((__uint128_t)zipf_rng_next(r) * n) >> 64);
}

int zipf_parse(const char *spec, double *s)
{
	if (spec == NULL || s == NULL)
		return -EINVAL;
	if (strcmp(spec, "uniform") == 0) {
		*s = 0;
		return 0;
	}
	if (strncmp(spec, "zipf:", 5) != 0 || spec[5] == '\0')
		return -EINVAL;

	char *end;
	errno = 0;
	double v = strtod(spec + 5, &end);
	if (errno != 0 || *end != '\0' || !(v > 0) || v > ZIPF_S_MAX)
		return -EINVAL;
	*s = v;
	return 0;
}

/* log1p(x) / x, stable near 0. */
static double helper1(double x)
{
	if (fabs(x) > 1e-8)
		return log1p(x) / x;
	return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

/* expm1(x) / x, stable near 0. */
static double helper2(double x)
{
	if (fabs(x) > 1e-8)
		return expm1(x) / x;
	return 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

/* The hat h(x) = x^-s. */
static double hat(double s, double x)
{
	return exp(-s * log(x));
}

/* H(x) = (x^(1-s) - 1) / (1 - s), or log(x) at s = 1: an antiderivative of h. */
static double hat_integral(double s, double x)
{
	double lx = log(x);
	return helper2((1 - s) * lx) * lx;
}

static double hat_integral_inverse(double s, double x)
{
	double t = x * (1 - s);
	if (t < -1)
		t = -1; /* guards rounding at the upper end of the range */
	return exp(helper1(t) * x);
}

int zipf_init(struct zipf_gen *z, uint64_t n, double s, uint64_t seed, bool scramble)
{
	if (z == NULL || n == 0 || n > (1ULL << 32) || !(s >= 0) || s > ZIPF_S_MAX)
		return -EINVAL;

	memset(z, 0, sizeof(*z));
	z->n = n;
	z->s = s;
	zipf_rng_seed(&z->rng, seed);
	if (s > 0) {
		z->h_x1 = hat_integral(s, 1.5) - 1;
		z->h_n = hat_integral(s, (double)n + 0.5);
		z->s_accept = 2 - hat_integral_inverse(s, hat_integral(s, 2.5) - hat(s, 2));
	}
	if (!scramble)
		return 0;

	z->perm = malloc(n * sizeof(*z->perm));
	if (z->perm == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		z->perm[i] = (uint32_t)i;
	/* Fisher-Yates with its own stream, so the rank sequence does not depend on n's shuffle. */
	struct zipf_rng pr;
	zipf_rng_seed(&pr, seed ^ 0x5ca1ab1e0ddba11ULL);
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng_below(&pr, i + 1);
		uint32_t t = z->perm[i];
		z->perm[i] = z->perm[j];
		z->perm[j] = t;
	}
	return 0;
}

void zipf_free(struct zipf_gen *z)
{
	if (z == NULL)
		return;
	free(z->perm);
	z->perm = NULL;
}

uint64_t zipf_rank(struct zipf_gen *z)
{
	if (z->s == 0)
		return rng_below(&z->rng, z->n);

	/* Expected iterations are below 1.1 for every s; the loop is not bounded in theory. */
	for (;;) {
		double u = z->h_n + zipf_rng_double(&z->rng) * (z->h_x1 - z->h_n);
		double x = hat_integral_inverse(z->s, u);
		double kd = x + 0.5;
		uint64_t k;

		if (kd < 1)
			k = 1;
		else if (kd >= (double)z->n)
			k = z->n;
		else
			k = (uint64_t)kd;
		if ((double)k - x <= z->s_accept ||
		    u >= hat_integral(z->s, (double)k + 0.5) - hat(z->s, (double)k))
			return k - 1;
	}
}

uint64_t zipf_next(struct zipf_gen *z)
{
	uint64_t r = zipf_rank(z);
	return z->perm != NULL ? z->perm[r] : r;
}

double zipf_zeta(uint64_t n, double s)
{
	double sum = 0;
	/* Smallest terms first, for accuracy. */
	for (uint64_t k = n; k >= 1; k--)
		sum += hat(s, (double)k);
	return sum;
}
