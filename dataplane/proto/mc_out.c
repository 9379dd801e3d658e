/* SPDX-License-Identifier: BSD-3-Clause */
/* The output chain's slow paths: segment flushes and number formatting. */
#include <string.h>

#include "mc_out.h"

void mc_out_put(struct mc_out *o, const void *p, size_t n)
{
	const uint8_t *s = p;

	o->total += n;
	while (n > 0 && !o->failed) {
		if (o->len == o->cap) {
			if (o->flush == NULL || o->flush(o) != 0 || o->cap == o->len) {
				o->failed = true;
				return;
			}
		}
		size_t k = o->cap - o->len < n ? o->cap - o->len : n;
		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
	}
}

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

static unsigned digits_u64(uint64_t v)
{
	unsigned n = 1;
	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Write v's n digits ending at end (exclusive), two digits per step. */
static void put_digits(uint8_t *end, uint64_t v)
{
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--end = (uint8_t)digit_pairs[d + 1];
		*--end = (uint8_t)digit_pairs[d];
	}
	if (v >= 10) {
		*--end = (uint8_t)digit_pairs[v * 2 + 1];
		*--end = (uint8_t)digit_pairs[v * 2];
	} else {
		*--end = (uint8_t)('0' + v);
	}
}

uint8_t *mc_fmt_u64_slow(uint8_t *p, uint64_t v)
{
	unsigned n = digits_u64(v);
	put_digits(p + n, v);
	return p + n;
}

void mc_out_u64(struct mc_out *o, uint64_t v)
{
	unsigned n = digits_u64(v);

	/*
	 * Straight into the segment when it has room: going through a stack
	 * buffer and copying back reloads bytes just stored one at a time,
	 * which stalls store forwarding.
	 */
	if (n <= o->cap - o->len) {
		put_digits(o->buf + o->len + n, v);
		o->len += n;
		o->total += n;
		return;
	}
	uint8_t tmp[20];
	put_digits(tmp + n, v);
	mc_out_put(o, tmp, n);
}

void mc_out_i64(struct mc_out *o, int64_t v)
{
	if (v < 0) {
		MC_OUT_LIT(o, "-");
		mc_out_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		mc_out_u64(o, (uint64_t)v);
	}
}

void mc_out_flag_u64(struct mc_out *o, char flag, uint64_t v)
{
	char f[2] = { ' ', flag };
	mc_out_str(o, f, 2);
	mc_out_u64(o, v);
}
