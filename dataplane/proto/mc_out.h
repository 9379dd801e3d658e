/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reply output chain. The executor writes reply bytes straight into
 * segments owned by the network layer (an mbuf's data room, a datagram
 * payload, a test buffer); when a segment is full, the owner's flush hook
 * takes it and supplies the next one, so a reply is never assembled and then
 * copied again. The segment size decides how a UDP reply is split.
 */
#ifndef PX_MC_OUT_H
#define PX_MC_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_out {
	uint8_t *buf;     /* current segment */
	size_t len;       /* bytes used in it */
	size_t cap;       /* its size */
	size_t total;     /* bytes written through this chain, all segments */
	bool failed;      /* a flush found no segment: the reply is cut short */
	/*
	 * Hand the full segment [buf, buf + len) to the owner and set buf, len
	 * and cap to a fresh one. Returns 0, or a negative errno when no
	 * segment can be had (the chain then drops further bytes).
	 */
	int (*flush)(struct mc_out *o);
	void *owner;
};

/* Append n bytes, flushing full segments. O(n). */
void mc_out_put(struct mc_out *o, const void *p, size_t n);

/*
 * Copy n bytes without a library call for the short strings replies are
 * made of (keys, small values): overlapping 16-, 8- or 4-byte moves that
 * read and write only inside [src, src + n) and [dst, dst + n).
 */
static inline void mc_copy(uint8_t *dst, const void *src, size_t n)
{
	const uint8_t *s = src;

	if (n > 64) {
		__builtin_memcpy(dst, s, n);
	} else if (n >= 16) {
		for (size_t i = 0; i + 16 < n; i += 16)
			__builtin_memcpy(dst + i, s + i, 16);
		__builtin_memcpy(dst + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		__builtin_memcpy(dst, s, 8);
		__builtin_memcpy(dst + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		__builtin_memcpy(dst, s, 4);
		__builtin_memcpy(dst + n - 4, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = s[i];
	}
}

static inline void mc_out_str(struct mc_out *o, const char *s, size_t n)
{
	if (n <= o->cap - o->len) {
		mc_copy(o->buf + o->len, s, n);
		o->len += n;
		o->total += n;
	} else {
		mc_out_put(o, s, n);
	}
}

/* Literals only: the "" makes anything else a compile error. */
#define MC_OUT_LIT(o, lit) mc_out_str((o), "" lit, sizeof("" lit) - 1)

/* Write v in decimal at p (room for 20 digits); returns the end. */
uint8_t *mc_fmt_u64_slow(uint8_t *p, uint64_t v);
static inline uint8_t *mc_fmt_u64(uint8_t *p, uint64_t v)
{
	if (v < 10) { /* flags are nearly always 0 */
		*p = (uint8_t)('0' + v);
		return p + 1;
	}
	if (v < 100) {
		p[0] = (uint8_t)('0' + v / 10);
		p[1] = (uint8_t)('0' + v % 10);
		return p + 2;
	}
	return mc_fmt_u64_slow(p, v);
}

/* Decimal forms, as memcached prints them. */
void mc_out_u64(struct mc_out *o, uint64_t v);
void mc_out_i64(struct mc_out *o, int64_t v);
/* ' ' followed by the flag letter and a number, as meta replies carry them. */
void mc_out_flag_u64(struct mc_out *o, char flag, uint64_t v);

#endif
