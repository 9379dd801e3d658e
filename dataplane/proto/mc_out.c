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

void mc_out_u64(struct mc_out *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	/* two digits per step: replies carry a few numbers each (flags, length, CAS) */
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		tmp[--i] = digit_pairs[d + 1];
		tmp[--i] = digit_pairs[d];
	}
	if (v >= 10) {
		tmp[--i] = digit_pairs[v * 2 + 1];
		tmp[--i] = digit_pairs[v * 2];
	} else {
		tmp[--i] = (char)('0' + v);
	}
	mc_out_str(o, tmp + i, sizeof(tmp) - i);
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
