/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log record (DESIGN.md §4): one mutation of one partition,
 * as pollux-dp pushes it into its lcore's mutation ring and as pollux-cp
 * stores it in segment files (the bytes are the same, so the writer copies
 * ring bytes to disk without re-encoding). Segment files are specified in
 * control/wal/wal_seg.h. This header holds the format, the constants and
 * the codec's API (control/wal/wal_rec.c, linked by both processes).
 *
 * A record is the state a key has after the mutation, not the command that
 * made it: an append, incr or touch logs the whole resulting item. Replay
 * is then idempotent and keeps the CAS value the client saw.
 *
 * Record (little endian, byte offsets; total length a multiple of 8):
 *
 *   0   u32 len       bytes of the record, header and padding included
 *   4   u32 crc       CRC32C of len (4 bytes) then bytes [8, 48 + klen + vlen)
 *   8   u64 lsn       per-stream log sequence number, 1, 2, 3, ... (stream =
 *                     the dataplane lcore that owns the partition)
 *   16  u8  op        PX_WAL_OP_*
 *   17  u8  cmd       the client command that caused it (PX_WAL_CMD_*), for dumps
 *   18  u8  iflags    PX_WAL_IF_* item bits (stale)
 *   19  u8  klen      0..250 (0 only for FLUSH)
 *   20  u16 stream    the lcore (partition) whose ring carried it, < 64
 *   22  u16 zero
 *   24  u32 flags     client flags (FLUSH: the partition count when logged)
 *   28  u32 exptime   absolute unix seconds, 0 = never (FLUSH: the flush time, 0 = at once)
 *   32  u64 cas       the item's CAS after the mutation (0 for DELETE, FLUSH)
 *   40  u32 vlen      value bytes (0 for DELETE, FLUSH)
 *   44  u32 time      unix seconds when the dataplane logged it
 *   48  key[klen] value[vlen] zero padding to a multiple of 8
 *
 * Reader rules: a record is valid when len >= 48, len is a multiple of 8,
 * len == align8(48 + klen + vlen), len does not run past the bytes
 * available, op is known, and the CRC matches. A record of len 0 is not a
 * record (zero-filled space). Within one stream LSNs only grow; a reader
 * skips a record whose LSN is not above the last one it applied for that
 * stream (a duplicate the writer could leave after dying between writing
 * and advancing the ring), and reports gaps.
 */
#ifndef PX_WAL_H
#define PX_WAL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_WAL_REC_HDR 48u
#define PX_WAL_KEY_MAX 250u
#define PX_WAL_VALUE_MAX ((1u << 24) - 1)
#define PX_WAL_STREAMS_MAX 64u /* = PX_SHM_LCORES_MAX */
/* Largest record a value of vlen bytes can make. */
#define PX_WAL_REC_MAX(vlen) (((PX_WAL_REC_HDR + PX_WAL_KEY_MAX + (vlen)) + 7u) & ~7u)

enum px_wal_op {
	PX_WAL_OP_SET = 1,    /* key now holds this item (value, flags, exptime, CAS) */
	PX_WAL_OP_DELETE = 2, /* key is gone */
	PX_WAL_OP_FLUSH = 3,  /* flush_all of the stream's partition at exptime (0: at once) */
	PX_WAL_OP_MAX = 3,
};

/* X(name, text): the client commands records name (dumps and counters). */
#define PX_WAL_CMDS(X) \
	X(NONE, "-") X(SET, "set") X(ADD, "add") X(REPLACE, "replace") X(APPEND, "append") \
	X(PREPEND, "prepend") X(CAS, "cas") X(INCR, "incr") X(DECR, "decr") X(TOUCH, "touch") \
	X(DELETE, "delete") X(FLUSH, "flush_all") X(GAT, "gat") X(MS, "ms") X(MD, "md") \
	X(MA, "ma") X(MG, "mg") X(SNAPSHOT, "snapshot")

enum px_wal_cmd {
#define PX_X_WAL_CMD(n, s) PX_WAL_CMD_##n,
	PX_WAL_CMDS(PX_X_WAL_CMD)
#undef PX_X_WAL_CMD
	PX_WAL_CMD_COUNT
};

#define PX_WAL_IF_STALE 0x01u

/* A decoded record: key and value point into the bytes it was decoded from. */
struct px_wal_rec {
	uint64_t lsn;
	uint64_t cas;
	uint32_t flags;
	uint32_t exptime;
	uint32_t time;
	uint32_t vlen;
	uint16_t stream;
	uint8_t op;
	uint8_t cmd;
	uint8_t iflags;
	uint8_t klen;
	const uint8_t *key;
	const uint8_t *value;
};

/* Decode results. */
enum px_wal_dec {
	PX_WAL_DEC_OK = 0,
	PX_WAL_DEC_SHORT = -1,  /* fewer bytes than the header or than len says */
	PX_WAL_DEC_ZERO = -2,   /* len 0: zero-filled space, not a record */
	PX_WAL_DEC_BADLEN = -3, /* len not a multiple of 8, or not what klen and vlen make */
	PX_WAL_DEC_BADOP = -4,  /* unknown op, or fields the op does not allow */
	PX_WAL_DEC_CRC = -5,    /* checksum mismatch */
};

static inline uint32_t px_wal_rec_len(uint32_t klen, uint32_t vlen)
{
	return (PX_WAL_REC_HDR + klen + vlen + 7u) & ~7u;
}

/* CRC32C (Castagnoli), hardware-accelerated with SSE4.2. crc: 0 to start. */
uint32_t px_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Encode r (key, value, fields; lsn included) into buf of cap bytes.
 * Returns the record length, or 0 when it does not fit or r is invalid
 * (klen > 250, vlen too large). Never writes past cap.
 */
uint32_t px_wal_encode(const struct px_wal_rec *r, void *buf, size_t cap);
/*
 * Encode into a byte ring of size bytes (a power of two) at position pos,
 * wrapping at its end; the caller has checked px_wal_rec_len() bytes are
 * free. Returns the record length.
 */
uint32_t px_wal_encode_ring(const struct px_wal_rec *r, uint8_t *ring, uint64_t size, uint64_t pos);
/*
 * Decode the record at the start of buf (len bytes available). Returns
 * PX_WAL_DEC_OK with *out filled (pointers into buf) and *rec_len set, or a
 * negative enum px_wal_dec. Reads at most len bytes.
 */
int px_wal_decode(const void *buf, size_t len, struct px_wal_rec *out, uint32_t *rec_len);
/* Text of a px_wal_dec code, and of a cmd. */
const char *px_wal_dec_str(int rc);
const char *px_wal_cmd_name(unsigned cmd);
const char *px_wal_op_name(unsigned op);

#endif
