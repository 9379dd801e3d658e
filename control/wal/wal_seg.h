/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * WAL segment and snapshot files, and the reader that recovery, compaction
 * and pollux-wal share. Records are specified in include/pollux/wal.h.
 *
 * Files in the WAL directory (wal_dir):
 *
 *   wal-<seq:016x>.log    log segment: a header, then records back to back
 *   snap-<seq:016x>.snap  snapshot: a header, then SET (and pending delayed
 *                         FLUSH) records of every live item at compaction
 *   *.cut                 bytes `pollux-wal repair` / `--repair` removed
 *   *.tmp                 a file being written; ignored and removed
 *
 * seq orders all files (one counter for both kinds). A segment grows up to
 * wal_segment_mb; a record never spans two segments.
 *
 * File header (576 bytes, little endian):
 *
 *   0    u64 magic      "PXWALSG1" (log) or "PXWALSN1" (snapshot)
 *   8    u32 version    1
 *   12   u32 hdr_size   576
 *   16   u64 seq
 *   24   u64 created    unix ns
 *   32   u32 seg_size   configured segment bytes when written
 *   36   u32 streams    streams with a nonzero upto[] entry (snapshots)
 *   40   u32 reserved[5] zero
 *   60   u32 crc        CRC32C of bytes [0, 60) and [64, 576)
 *   64   u64 upto[64]   snapshot: per stream, the last LSN it includes; log: 0
 *   576  records
 *
 * Reader rules, over the files in seq order, starting at the newest valid
 * snapshot (older snapshots and segments before it are superseded):
 *   - a record whose LSN is not above the last applied (or the snapshot's
 *     upto) for its stream is a duplicate and skipped; snapshot records
 *     carry LSN 0 and always apply;
 *   - the first invalid record (or header) ends the valid log. If no valid
 *     record follows it anywhere (at any 8-byte aligned offset of the rest
 *     of that file or of any later file), it is a torn tail: recovery
 *     truncates the file there, removes later files, and reports it.
 *   - otherwise it is corruption in the middle: recovery stops with the
 *     file and offset, unless repair was asked for, which cuts the bad span
 *     up to the next valid record, saving its bytes in <file>.<offset>.cut.
 */
#ifndef PX_WAL_SEG_H
#define PX_WAL_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pollux/wal.h"

#define WAL_SEG_MAGIC 0x3147534c41575850ULL  /* "PXWALSG1" */
#define WAL_SNAP_MAGIC 0x314e534c41575850ULL /* "PXWALSN1" */
#define WAL_FILE_VERSION 1
#define WAL_FILE_HDR 576u

enum wal_file_kind { WAL_KIND_LOG = 0, WAL_KIND_SNAP = 1 };

struct wal_file_hdr {
	uint64_t seq;
	uint64_t created;
	uint32_t seg_size;
	uint32_t streams;
	enum wal_file_kind kind;
	uint64_t upto[PX_WAL_STREAMS_MAX];
};

/* Encode h into buf (WAL_FILE_HDR bytes). */
void wal_file_hdr_encode(const struct wal_file_hdr *h, void *buf);
/* Check and decode a header from len bytes. 0, or -EBADMSG / -ENODATA (short). */
int wal_file_hdr_decode(const void *buf, size_t len, struct wal_file_hdr *h);
/* "<dir>/wal-<seq>.log" or "<dir>/snap-<seq>.snap" into out (n bytes). */
void wal_file_name(const char *dir, enum wal_file_kind kind, uint64_t seq, char *out, size_t n);

struct wal_file {
	char path[512];
	uint64_t seq;
	enum wal_file_kind kind;
	uint64_t size;
};

/*
 * The WAL files of dir sorted by seq (removing leftover *.tmp files).
 * *files is malloc'd (free it), *n its count. 0, or a negative errno
 * (-ENOENT: no such directory).
 */
int wal_dir_list(const char *dir, struct wal_file **files, size_t *n);

/* What a read found. */
struct wal_read_report {
	uint64_t files;           /* files read (from the snapshot used on) */
	uint64_t records;         /* records delivered to the callback */
	uint64_t snap_records;    /* of which from the snapshot */
	uint64_t bytes;           /* bytes of valid files read */
	uint64_t dups;            /* records skipped as duplicates */
	uint64_t gaps;            /* LSN gaps seen within a stream */
	uint64_t next_seq;        /* seq a new file must use */
	uint64_t last_lsn[PX_WAL_STREAMS_MAX]; /* last LSN per stream (snapshot upto included) */
	bool torn;                /* a torn tail was found (truncated unless read-only) */
	char torn_file[512];
	uint64_t torn_off;
	uint64_t torn_bytes;      /* bytes past the valid end */
	uint64_t corrupt_spans;   /* bad spans in the middle */
	uint64_t cut_bytes;       /* bytes cut by repair */
	char msg[768];            /* the first problem, for the operator */
};

/* Called for every valid, non-duplicate record in order; nonzero stops the read. */
typedef int (*wal_rec_fn)(void *ctx, const struct px_wal_rec *r, const struct wal_file *f,
			  uint64_t off);

#define WAL_READ_FIX_TAIL 1u /* truncate a torn tail (recovery) */
#define WAL_READ_REPAIR 2u   /* cut corrupt spans, keeping them in .cut files */
#define WAL_READ_ALL 4u      /* read superseded files too (dump) */

/*
 * Read the WAL in dir. Returns 0 (a torn tail is not an error: see
 * rep->torn), -EBADMSG for corruption in the middle without
 * WAL_READ_REPAIR (rep->msg names file and offset), the callback's
 * nonzero value, or a negative errno for I/O problems (rep->msg says what).
 */
int wal_read(const char *dir, unsigned flags, wal_rec_fn fn, void *ctx, struct wal_read_report *rep);

#endif
