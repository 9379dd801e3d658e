/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compiler helpers shared by every Pollux component: branch hints, cache-line
 * alignment, prefetch and unaligned loads. Nothing here allocates or has state.
 */
#ifndef PX_COMPILER_H
#define PX_COMPILER_H

#include <stdint.h>
#include <string.h>

#define PX_CACHE_LINE 64
#define px_cache_aligned __attribute__((aligned(PX_CACHE_LINE)))
#define px_likely(x) __builtin_expect(!!(x), 1)
#define px_unlikely(x) __builtin_expect(!!(x), 0)
#define px_prefetch(p) __builtin_prefetch((p), 0, 3)
#define px_prefetchw(p) __builtin_prefetch((p), 1, 3)
#define PX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PX_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline uint64_t px_load64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t px_load16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void px_store16(void *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t px_load32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void px_store32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void px_store64(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Map a 32-bit hash uniformly onto [0, n) without a division (Lemire). */
static inline uint32_t px_reduce32(uint32_t h, uint32_t n)
{
	return (uint32_t)(((uint64_t)h * n) >> 32);
}

#endif
