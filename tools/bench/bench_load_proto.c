/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bytes of `pollux-bench udp` and `pollux-bench tcp`: one text or meta
 * command per request (the UDP frame header is bench_udp.h's), where a
 * reply in a TCP byte stream ends, and the check of a whole reply against
 * the request it answers. Values are deterministic: key idx
 * at version ver always holds the same vlen bytes ("iiiiiiii:vvvv:", its
 * index and the version in hex, then a printable pattern at an offset picked
 * by both), so every hit is checked byte for byte with no per-key memory,
 * and a value left by a run with another size or version is told apart
 * from a corrupt one. Pure functions; no sockets here.
 */
#include <string.h>

#include "bench_load.h"
#include "zipf.h"

#define PATTERN_SHIFTS 61 /* distinct pattern offsets (a prime) */
#define VALUE_HDR_LEN 14  /* "%08x:%04x:" of the key index and the version */

static uint8_t value_pattern[LOAD_VALUE_MAX + PATTERN_SHIFTS];

void load_value_init(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct zipf_rng r;

	zipf_rng_seed(&r, 0x706f6c6c7578ULL);
	for (size_t i = 0; i < sizeof(value_pattern); i++)
		value_pattern[i] = (uint8_t)alphabet[zipf_rng_next(&r) >> 58];
}

static const char hex_digits[] = "0123456789abcdef";

static void value_hdr(uint8_t out[VALUE_HDR_LEN], uint64_t idx, uint16_t ver)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)hex_digits[(idx >> (28 - 4 * i)) & 0xf];
	out[8] = ':';
	for (int i = 0; i < 4; i++)
		out[9 + i] = (uint8_t)hex_digits[(ver >> (12 - 4 * i)) & 0xf];
	out[13] = ':';
}

static const uint8_t *value_tail(uint64_t idx, uint16_t ver)
{
	return value_pattern + (idx * 31 + ver) % PATTERN_SHIFTS;
}

void load_value_fill(uint8_t *v, uint32_t vlen, uint64_t idx, uint16_t ver)
{
	uint8_t hdr[VALUE_HDR_LEN];
	uint32_t h = vlen < VALUE_HDR_LEN ? vlen : VALUE_HDR_LEN;

	value_hdr(hdr, idx, ver);
	memcpy(v, hdr, h);
	memcpy(v + h, value_tail(idx, ver) + h, vlen - h);
}

static bool value_ok(const uint8_t *v, uint32_t vlen, uint64_t idx, uint16_t ver)
{
	uint8_t hdr[VALUE_HDR_LEN];
	uint32_t h = vlen < VALUE_HDR_LEN ? vlen : VALUE_HDR_LEN;

	value_hdr(hdr, idx, ver);
	return memcmp(v, hdr, h) == 0 && memcmp(v + h, value_tail(idx, ver) + h, vlen - h) == 0;
}

/* The version in a value's header, if it has a whole one. */
static bool value_ver(const uint8_t *v, uint32_t vlen, uint16_t *ver)
{
	uint16_t x = 0;

	if (vlen < VALUE_HDR_LEN)
		return false;
	for (int i = 9; i < 13; i++) {
		const char *d = memchr(hex_digits, v[i], 16);

		if (d == NULL || v[i] == '\0')
			return false;
		x = (uint16_t)(x << 4 | (uint16_t)(d - hex_digits));
	}
	*ver = x;
	return true;
}

size_t load_cmd_max(uint32_t key_size, uint32_t value_size)
{
	/* "set " key " 0 0 " len "\r\n" value "\r\n" is the longest command. */
	return 4 + key_size + 5 + 10 + 2 + value_size + 2;
}

static uint8_t *put(uint8_t *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = (uint8_t)tmp[--n];
	return p;
}

size_t load_cmd_build(uint8_t *buf, enum load_proto proto, enum load_op op, const uint8_t *key,
		      uint32_t klen, uint64_t idx, uint32_t vlen, uint16_t ver)
{
	bool meta = proto == LOAD_PROTO_META;
	uint8_t *p = buf;

	if (op == LOAD_OP_GET) {
		p = meta ? put(p, "mg ", 3) : put(p, "get ", 4);
		p = put(p, key, klen);
		p = meta ? put(p, " v\r\n", 4) : put(p, "\r\n", 2);
		return (size_t)(p - buf);
	}
	p = meta ? put(p, "ms ", 3) : put(p, "set ", 4);
	p = put(p, key, klen);
	p = meta ? put(p, " ", 1) : put(p, " 0 0 ", 5);
	p = put_u32(p, vlen);
	p = put(p, "\r\n", 2);
	load_value_fill(p, vlen, idx, ver);
	p += vlen;
	p = put(p, "\r\n", 2);
	return (size_t)(p - buf);
}

static bool starts(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && memcmp(p, s, n) == 0;
}

static bool is_exactly(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Parse 1-10 decimal digits at *pp (advancing it). False if none or too many. */
static bool parse_u32(const uint8_t **pp, const uint8_t *end, uint32_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	int n = 0;

	while (p < end && *p >= '0' && *p <= '9' && n < 11) {
		v = v * 10 + (uint64_t)(*p++ - '0');
		n++;
	}
	if (n == 0 || n > 10 || v > UINT32_MAX)
		return false;
	*pp = p;
	*out = (uint32_t)v;
	return true;
}

static enum load_verdict error_line(const uint8_t *p, size_t len)
{
	if (len < 2 || p[len - 2] != '\r' || p[len - 1] != '\n')
		return LOAD_V_GARBLED;
	if (is_exactly(p, len, "ERROR\r\n") || starts(p, len, "CLIENT_ERROR ") ||
	    starts(p, len, "SERVER_ERROR "))
		return LOAD_V_SERVER_ERR;
	return LOAD_V_GARBLED;
}

/*
 * The data block of a hit at p (n bytes announced) followed by the trailer:
 * this run's value, another size or version of this key's value (stale), or
 * anything else (bad).
 */
static enum load_verdict check_data(const uint8_t *p, const uint8_t *end, uint32_t n,
				   const char *trailer, uint64_t idx, uint32_t vlen, uint16_t ver)
{
	size_t tl = strlen(trailer);
	uint16_t old;

	if ((size_t)(end - p) != (size_t)n + tl || memcmp(p + n, trailer, tl) != 0)
		return LOAD_V_GARBLED;
	if (n == vlen && value_ok(p, n, idx, ver))
		return LOAD_V_HIT;
	if (!value_ver(p, n, &old))
		old = ver;
	if ((n != vlen || old != ver) && value_ok(p, n, idx, old))
		return LOAD_V_STALE;
	return LOAD_V_BAD_VALUE;
}

/* "VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n" or "END\r\n". */
static enum load_verdict check_text_get(const uint8_t *p, size_t len, const uint8_t *key,
				       uint32_t klen, uint64_t idx, uint32_t vlen, uint16_t ver)
{
	const uint8_t *end = p + len;
	uint32_t flags, n;

	if (is_exactly(p, len, "END\r\n"))
		return LOAD_V_MISS;
	if (!starts(p, len, "VALUE "))
		return error_line(p, len);
	p += 6;
	if ((size_t)(end - p) < (size_t)klen + 1 || memcmp(p, key, klen) != 0 || p[klen] != ' ')
		return LOAD_V_GARBLED;
	p += klen + 1;
	if (!parse_u32(&p, end, &flags) || p >= end || *p++ != ' ' || !parse_u32(&p, end, &n))
		return LOAD_V_GARBLED;
	if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
		return LOAD_V_GARBLED;
	return check_data(p + 2, end, n, "\r\nEND\r\n", idx, vlen, ver);
}

/* "VA <bytes> <flags>*\r\n<data>\r\n" or "EN\r\n". */
static enum load_verdict check_meta_get(const uint8_t *p, size_t len, uint64_t idx, uint32_t vlen,
				       uint16_t ver)
{
	const uint8_t *end = p + len;
	uint32_t n;

	if (is_exactly(p, len, "EN\r\n"))
		return LOAD_V_MISS;
	if (!starts(p, len, "VA "))
		return error_line(p, len);
	p += 3;
	if (!parse_u32(&p, end, &n))
		return LOAD_V_GARBLED;
	/* Return flags, if any, run to the end of the line; the line has no '\n' inside. */
	while (p < end && *p != '\r' && *p != '\n')
		p++;
	if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
		return LOAD_V_GARBLED;
	return check_data(p + 2, end, n, "\r\n", idx, vlen, ver);
}

enum load_verdict load_reply_check(const uint8_t *p, size_t len, enum load_proto proto,
				 enum load_op op, const uint8_t *key, uint32_t klen, uint64_t idx,
				 uint32_t vlen, uint16_t ver)
{
	if (op == LOAD_OP_SET) {
		if (is_exactly(p, len, proto == LOAD_PROTO_META ? "HD\r\n" : "STORED\r\n"))
			return LOAD_V_STORED;
		return error_line(p, len);
	}
	if (proto == LOAD_PROTO_META)
		return check_meta_get(p, len, idx, vlen, ver);
	return check_text_get(p, len, key, klen, idx, vlen, ver);
}

/* Length of the first line at p, "\n" included; 0 if it has not ended yet. */
static size_t first_line(const uint8_t *p, size_t len)
{
	const uint8_t *nl = memchr(p, '\n', len < LOAD_LINE_MAX ? len : LOAD_LINE_MAX);

	return nl != NULL ? (size_t)(nl - p) + 1 : 0;
}

/* Skip one token and the single space after it. False if the line ends first. */
static bool skip_token(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;

	while (p < end && *p != ' ' && *p != '\r' && *p != '\n')
		p++;
	if (p >= end || *p != ' ')
		return false;
	*pp = p + 1;
	return true;
}

size_t load_reply_frame(const uint8_t *p, size_t len, enum load_proto proto, enum load_op op,
			size_t *need)
{
	size_t line = first_line(p, len), trailer;
	const uint8_t *q, *end = p + line;
	uint32_t n;

	*need = 0;
	if (line == 0)
		return len >= LOAD_LINE_MAX ? LOAD_FRAME_BAD : 0;
	if (op == LOAD_OP_GET && proto == LOAD_PROTO_TEXT && starts(p, line, "VALUE ")) {
		/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\nEND\r\n" */
		q = p + 6;
		if (!skip_token(&q, end) || !skip_token(&q, end) || !parse_u32(&q, end, &n))
			return LOAD_FRAME_BAD;
		trailer = 7;
	} else if (op == LOAD_OP_GET && proto == LOAD_PROTO_META && starts(p, line, "VA ")) {
		/* "VA <bytes> <flags>*\r\n<data>\r\n" */
		q = p + 3;
		if (!parse_u32(&q, end, &n))
			return LOAD_FRAME_BAD;
		trailer = 2;
	} else {
		return line; /* every other reply to a get or a set is one line */
	}
	size_t total = line + n + trailer;

	if (len >= total)
		return total;
	*need = total;
	return 0;
}
