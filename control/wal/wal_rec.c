/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The WAL record codec (format in include/pollux/wal.h) and CRC32C. Linked
 * by both processes: pollux-dp encodes records into its mutation rings,
 * pollux-cp and pollux-wal decode them from rings and segment files. No
 * allocation, no I/O; the decoder reads only the bytes it is given.
 */
#include <nmmintrin.h>
#include <string.h>

#include "pollux/wal.h"
#include "px_compiler.h"

uint32_t px_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	return ~(uint32_t)c;
}


static bool rec_ok(const struct px_wal_rec *r)
{
	if (r->klen > PX_WAL_KEY_MAX || r->vlen > PX_WAL_VALUE_MAX || r->stream >= PX_WAL_STREAMS_MAX)
		return false;
	switch (r->op) {
	case PX_WAL_OP_SET:
		return r->klen > 0;
	case PX_WAL_OP_DELETE:
		return r->klen > 0 && r->vlen == 0;
	case PX_WAL_OP_FLUSH:
		return r->klen == 0 && r->vlen == 0;
	default:
		return false;
	}
}

static void hdr_fill(const struct px_wal_rec *r, uint8_t h[PX_WAL_REC_HDR], uint32_t len)
{
	px_store32(h, len);
	px_store32(h + 4, 0);
	px_store64(h + 8, r->lsn);
	h[16] = r->op;
	h[17] = r->cmd;
	h[18] = r->iflags;
	h[19] = r->klen;
	px_store16(h + 20, r->stream);
	px_store16(h + 22, 0);
	px_store32(h + 24, r->flags);
	px_store32(h + 28, r->exptime);
	px_store64(h + 32, r->cas);
	px_store32(h + 40, r->vlen);
	px_store32(h + 44, r->time);
}

/* CRC of a record whose header is h, over key and value (not padding). */
static uint32_t rec_crc(const uint8_t *h, const void *key, uint32_t klen, const void *value,
			uint32_t vlen)
{
	uint32_t c = px_crc32c(0, h, 4);
	c = px_crc32c(c, h + 8, PX_WAL_REC_HDR - 8);
	c = px_crc32c(c, key, klen);
	return px_crc32c(c, value, vlen);
}

uint32_t px_wal_encode(const struct px_wal_rec *r, void *buf, size_t cap)
{
	uint8_t *b = buf;

	if (!rec_ok(r))
		return 0;
	uint32_t len = px_wal_rec_len(r->klen, r->vlen);
	if (len > cap)
		return 0;
	hdr_fill(r, b, len);
	if (r->klen)
		memcpy(b + PX_WAL_REC_HDR, r->key, r->klen);
	if (r->vlen)
		memcpy(b + PX_WAL_REC_HDR + r->klen, r->value, r->vlen);
	uint32_t used = PX_WAL_REC_HDR + r->klen + r->vlen;
	memset(b + used, 0, len - used);
	px_store32(b + 4, rec_crc(b, r->key, r->klen, r->value, r->vlen));
	return len;
}

/* Copy n bytes to ring position pos, wrapping at the end. */
static void ring_put(uint8_t *ring, uint64_t size, uint64_t pos, const void *src, size_t n)
{
	uint64_t off = pos & (size - 1);
	size_t first = n < size - off ? n : (size_t)(size - off);
	memcpy(ring + off, src, first);
	if (n > first)
		memcpy(ring, (const uint8_t *)src + first, n - first);
}

uint32_t px_wal_encode_ring(const struct px_wal_rec *r, uint8_t *ring, uint64_t size, uint64_t pos)
{
	uint8_t h[PX_WAL_REC_HDR];
	static const uint8_t zeros[8];

	if (!rec_ok(r))
		return 0;
	uint32_t len = px_wal_rec_len(r->klen, r->vlen);
	hdr_fill(r, h, len);
	px_store32(h + 4, rec_crc(h, r->key, r->klen, r->value, r->vlen));
	ring_put(ring, size, pos, h, sizeof(h));
	pos += sizeof(h);
	if (r->klen)
		ring_put(ring, size, pos, r->key, r->klen);
	pos += r->klen;
	if (r->vlen)
		ring_put(ring, size, pos, r->value, r->vlen);
	pos += r->vlen;
	uint32_t pad = len - (PX_WAL_REC_HDR + r->klen + r->vlen);
	if (pad)
		ring_put(ring, size, pos, zeros, pad);
	return len;
}

int px_wal_decode(const void *buf, size_t len, struct px_wal_rec *out, uint32_t *rec_len)
{
	const uint8_t *b = buf;

	if (len < 4)
		return PX_WAL_DEC_SHORT;
	uint32_t n = px_load32(b);
	if (n == 0)
		return PX_WAL_DEC_ZERO;
	if (len < PX_WAL_REC_HDR)
		return PX_WAL_DEC_SHORT;
	if (n < PX_WAL_REC_HDR || (n & 7) != 0)
		return PX_WAL_DEC_BADLEN;
	struct px_wal_rec r = {
		.lsn = px_load64(b + 8), .op = b[16], .cmd = b[17], .iflags = b[18], .klen = b[19],
		.stream = px_load16(b + 20), .flags = px_load32(b + 24), .exptime = px_load32(b + 28),
		.cas = px_load64(b + 32), .vlen = px_load32(b + 40), .time = px_load32(b + 44),
	};
	if (r.vlen > PX_WAL_VALUE_MAX || px_wal_rec_len(r.klen, r.vlen) != n)
		return PX_WAL_DEC_BADLEN;
	if (n > len)
		return PX_WAL_DEC_SHORT;
	if (!rec_ok(&r) || px_load16(b + 22) != 0)
		return PX_WAL_DEC_BADOP;
	r.key = b + PX_WAL_REC_HDR;
	r.value = b + PX_WAL_REC_HDR + r.klen;
	if (rec_crc(b, r.key, r.klen, r.value, r.vlen) != px_load32(b + 4))
		return PX_WAL_DEC_CRC;
	*out = r;
	*rec_len = n;
	return PX_WAL_DEC_OK;
}

const char *px_wal_dec_str(int rc)
{
	switch (rc) {
	case PX_WAL_DEC_OK:
		return "ok";
	case PX_WAL_DEC_SHORT:
		return "truncated record";
	case PX_WAL_DEC_ZERO:
		return "zero-filled space";
	case PX_WAL_DEC_BADLEN:
		return "bad record length";
	case PX_WAL_DEC_BADOP:
		return "bad op or fields";
	case PX_WAL_DEC_CRC:
		return "CRC mismatch";
	default:
		return "unknown error";
	}
}

const char *px_wal_cmd_name(unsigned cmd)
{
	static const char *const names[] = {
#define PX_X_WAL_NAME(n, s) s,
		PX_WAL_CMDS(PX_X_WAL_NAME)
#undef PX_X_WAL_NAME
	};
	return cmd < PX_WAL_CMD_COUNT ? names[cmd] : "?";
}

const char *px_wal_op_name(unsigned op)
{
	switch (op) {
	case PX_WAL_OP_SET:
		return "SET";
	case PX_WAL_OP_DELETE:
		return "DELETE";
	case PX_WAL_OP_FLUSH:
		return "FLUSH";
	default:
		return "?";
	}
}
