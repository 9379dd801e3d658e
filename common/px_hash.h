/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key hash used everywhere a key is placed: partition choice, index
 * bucket and tag all derive from one 64-bit value, so a key is hashed once
 * per request. Multiply-fold mixing over 8-byte words, tuned for memcached
 * keys (mostly 10-64 bytes). Not cryptographic: it is seeded per process so a
 * remote client cannot aim keys at one bucket without knowing the seed.
 */
#ifndef PX_HASH_H
#define PX_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "px_compiler.h"

#define PX_HASH_K0 0xa0761d6478bd642fULL
#define PX_HASH_K1 0xe7037ed1a0b428dbULL
#define PX_HASH_K2 0x8ebc6af09c88c6e3ULL

static inline uint64_t px_hash_fold(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Hash len bytes at key. Reads only inside [key, key + len). */
static inline uint64_t px_hash64(const void *key, size_t len, uint64_t seed)
{
	const uint8_t *p = key;
	uint64_t h = seed ^ ((uint64_t)len * PX_HASH_K0);
	size_t n = len;

	while (n > 16) {
		h = px_hash_fold(px_load64(p) ^ PX_HASH_K1, px_load64(p + 8) ^ h);
		p += 16;
		n -= 16;
	}
	uint64_t a, b;
	if (n >= 8) {
		a = px_load64(p);
		b = px_load64(p + n - 8);
	} else if (n >= 4) {
		a = px_load32(p);
		b = px_load32(p + n - 4);
	} else if (n > 0) {
		a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
		b = 0;
	} else {
		a = b = 0;
	}
	h = px_hash_fold(a ^ PX_HASH_K1, b ^ h ^ PX_HASH_K2);
	return px_hash_fold(h ^ PX_HASH_K0, (uint64_t)len ^ PX_HASH_K2);
}

#endif
