/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bench key set: key i is "k" followed by i in zero-padded decimal, all
 * keys the same length, stored 8-byte aligned with their tbl_hash() values so
 * no generator or formatting cost lands inside a timed loop. Values carry
 * their key's index in their first bytes, so any reply can be checked.
 */
#ifndef PX_BENCH_KEYS_H
#define PX_BENCH_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct bench_keys {
	uint64_t n;
	uint32_t size;     /* bytes per key, no terminator */
	uint32_t stride;   /* size rounded up to 8: keys start 8-byte aligned */
	uint8_t *bytes;    /* n * stride */
	uint64_t *hashes;  /* tbl_hash(key i, size, seed) */
};

/* Smallest key size that can name n distinct keys. */
uint32_t bench_keys_min_size(uint64_t n);
/* Build n keys of size bytes and their hashes. Returns 0 or a negative errno. */
int bench_keys_build(struct bench_keys *k, uint64_t n, uint32_t size, uint64_t hash_seed);
void bench_keys_free(struct bench_keys *k);

static inline const uint8_t *bench_key(const struct bench_keys *k, uint64_t i)
{
	return k->bytes + i * k->stride;
}

/* Write key i's value stamp (its index, little-endian, up to 8 bytes). */
static inline void bench_value_stamp(uint8_t *v, uint32_t vlen, uint64_t i)
{
	memcpy(v, &i, vlen < 8 ? vlen : 8);
}

static inline bool bench_value_ok(const uint8_t *v, uint32_t vlen, uint64_t i)
{
	return memcmp(v, &i, vlen < 8 ? vlen : 8) == 0;
}

#endif
