/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compiler helpers shared by every Pollux component: branch hints, cache-line
 * alignment, prefetch and unaligned loads. Nothing here allocates or has state.
 */
#ifndef PX_COMPILER_H
#define PX_COMPILER_H

#include <emmintrin.h>
#include <stddef.h>
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

/* A 16-bit value between host and network order. A builtin the compiler
 * folds into loads and stores (DPDK's rte_bswap16 of a variable is an asm
 * statement it cannot: three instructions each on the request path). */
static inline uint16_t px_be16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

/* Map a 32-bit hash uniformly onto [0, n) without a division (Lemire). */
static inline uint32_t px_reduce32(uint32_t h, uint32_t n)
{
	return (uint32_t)(((uint64_t)h * n) >> 32);
}

/*
 * 16 bytes at p of which only the first n (1..15) are the caller's: the
 * tail of a 16-bytes-at-a-time scan in one load instead of a byte loop.
 * Reading past the object cannot fault while the 16 bytes stay in p's page
 * (memory is mapped in whole pages); when they would cross into the next
 * page the n bytes are copied instead. The bytes past n are unspecified:
 * the caller masks them. ASan would call the intended over-read an error.
 */
__attribute__((no_sanitize_address)) static inline __m128i px_load16_tail(const void *p, size_t n)
{
	if (px_likely(((uintptr_t)p & 4095) <= 4096 - 16))
		return _mm_loadu_si128((const __m128i *)p);
	uint8_t b[16] = { 0 };
	memcpy(b, p, n);
	return _mm_loadu_si128((const __m128i *)b);
}

#endif
