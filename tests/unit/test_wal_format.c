/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the WAL format: CRC32C against its check value, record
 * round trips (flat and wrapped in a ring), the decoder's refusal of every
 * truncation and every single-bit flip, file headers, and the reader's
 * rules on real files: duplicates, snapshots superseding segments, torn
 * tails (truncated, zero-filled, a flipped last record) and corruption in
 * the middle, refused or repaired with a copy of what was cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pollux/wal.h"
#include "wal/wal_seg.h"

static void test_crc32c(void **state)
{
	(void)state;
	/* the CRC-32C check value (RFC 3720 B.4 / every CRC catalogue) */
	assert_int_equal(px_crc32c(0, "123456789", 9), 0xE3069283u);
	/* incremental equals one pass, at any split and alignment */
	char buf[100];
	for (int i = 0; i < 100; i++)
		buf[i] = (char)(i * 7 + 3);
	uint32_t whole = px_crc32c(0, buf + 1, 99);
	for (size_t s = 0; s <= 99; s++)
		assert_int_equal(px_crc32c(px_crc32c(0, buf + 1, s), buf + 1 + s, 99 - s), whole);
	uint8_t zeros[32] = { 0 };
	assert_int_equal(px_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720: 32 zero bytes */
}

static struct px_wal_rec mkrec(uint8_t op, const char *key, const char *val, uint64_t lsn)
{
	struct px_wal_rec r = {
		.lsn = lsn, .op = op, .cmd = PX_WAL_CMD_SET, .klen = (uint8_t)strlen(key),
		.key = (const uint8_t *)key, .vlen = val ? (uint32_t)strlen(val) : 0,
		.value = (const uint8_t *)val, .flags = 0xdeadbeef, .exptime = 1700000123,
		.cas = 0x1122334455667788ULL, .stream = 3, .time = 1700000000, .iflags = 1,
	};
	if (op != PX_WAL_OP_SET) {
		r.vlen = 0;
		r.value = NULL;
		r.cas = 0;
	}
	if (op == PX_WAL_OP_FLUSH)
		r.klen = 0;
	return r;
}

static void rec_equal(const struct px_wal_rec *a, const struct px_wal_rec *b)
{
	assert_int_equal(a->lsn, b->lsn);
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->cmd, b->cmd);
	assert_int_equal(a->iflags, b->iflags);
	assert_int_equal(a->klen, b->klen);
	assert_int_equal(a->vlen, b->vlen);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->exptime, b->exptime);
	assert_int_equal(a->cas, b->cas);
	assert_int_equal(a->stream, b->stream);
	assert_int_equal(a->time, b->time);
	assert_memory_equal(a->key, b->key, a->klen);
	if (a->vlen)
		assert_memory_equal(a->value, b->value, a->vlen);
}

static void test_roundtrip(void **state)
{
	(void)state;
	char key[251], val[3000];
	memset(key, 'k', 250);
	key[250] = 0;
	for (int i = 0; i < 2999; i++)
		val[i] = (char)('a' + i % 26);
	val[2999] = 0;
	const struct px_wal_rec recs[] = {
		mkrec(PX_WAL_OP_SET, "foo", "bar", 1), mkrec(PX_WAL_OP_SET, "k", "", 2),
		mkrec(PX_WAL_OP_SET, key, val, 3), mkrec(PX_WAL_OP_DELETE, "gone", NULL, 4),
		mkrec(PX_WAL_OP_FLUSH, "", NULL, 5),
	};
	uint8_t buf[4096];
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		uint32_t n = px_wal_encode(&recs[i], buf, sizeof(buf));
		assert_int_equal(n, px_wal_rec_len(recs[i].klen, recs[i].vlen));
		assert_int_equal(n % 8, 0);
		struct px_wal_rec d;
		uint32_t dn;
		assert_int_equal(px_wal_decode(buf, n, &d, &dn), PX_WAL_DEC_OK);
		assert_int_equal(dn, n);
		rec_equal(&recs[i], &d);
		/* too small a buffer: nothing encoded */
		assert_int_equal(px_wal_encode(&recs[i], buf, n - 1), 0);
		/* wrapped in a ring at every position near the end: same bytes */
		static uint8_t ring[4096];
		for (uint64_t pos = 4096 - n - 8; pos < 4096 + 8; pos += 3) {
			memset(ring, 0x5a, sizeof(ring));
			assert_int_equal(px_wal_encode_ring(&recs[i], ring, sizeof(ring), pos), n);
			uint8_t lin[4096];
			for (uint32_t b = 0; b < n; b++)
				lin[b] = ring[(pos + b) & 4095];
			assert_memory_equal(lin, buf, n);
		}
	}
	/* invalid records are not encoded */
	struct px_wal_rec bad = mkrec(PX_WAL_OP_SET, "", "x", 1);
	assert_int_equal(px_wal_encode(&bad, buf, sizeof(buf)), 0);
	bad = mkrec(PX_WAL_OP_DELETE, "k", NULL, 1);
	bad.vlen = 1;
	assert_int_equal(px_wal_encode(&bad, buf, sizeof(buf)), 0);
	bad = mkrec(PX_WAL_OP_SET, "k", "v", 1);
	bad.stream = PX_WAL_STREAMS_MAX;
	assert_int_equal(px_wal_encode(&bad, buf, sizeof(buf)), 0);
	bad.stream = 0;
	bad.op = 9;
	assert_int_equal(px_wal_encode(&bad, buf, sizeof(buf)), 0);
}

static void test_decode_rejects(void **state)
{
	(void)state;
	uint8_t buf[256], copy[256];
	struct px_wal_rec r = mkrec(PX_WAL_OP_SET, "some-key", "some value here", 77), d;
	uint32_t n = px_wal_encode(&r, buf, sizeof(buf)), dn;

	/* every truncation is refused */
	for (uint32_t len = 0; len < n; len++) {
		int rc = px_wal_decode(buf, len, &d, &dn);
		assert_true(rc == PX_WAL_DEC_SHORT);
	}
	/* every single-bit flip is refused (padding bytes excepted: not covered) */
	uint32_t used = PX_WAL_REC_HDR + r.klen + r.vlen;
	for (uint32_t bit = 0; bit < used * 8; bit++) {
		memcpy(copy, buf, n);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(px_wal_decode(copy, n, &d, &dn), PX_WAL_DEC_OK);
	}
	memset(copy, 0, sizeof(copy));
	assert_int_equal(px_wal_decode(copy, sizeof(copy), &d, &dn), PX_WAL_DEC_ZERO);
	/* a length the key and value do not make */
	memcpy(copy, buf, n);
	uint32_t len = n + 8;
	memcpy(copy, &len, 4);
	assert_int_equal(px_wal_decode(copy, sizeof(copy), &d, &dn), PX_WAL_DEC_BADLEN);
	assert_string_equal(px_wal_dec_str(PX_WAL_DEC_CRC), "CRC mismatch");
}

/* ---- files ---- */

static char dir[256];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pxwal-unit-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write a file of kind at seq with records lsn first..first+n-1 of stream 0. */
static void write_seg(enum wal_file_kind kind, uint64_t seq, uint64_t first, unsigned n,
		      uint64_t upto0)
{
	char path[600];
	uint8_t hdr[WAL_FILE_HDR];
	struct wal_file_hdr h = { .seq = seq, .kind = kind, .seg_size = 1 << 20 };
	h.upto[0] = upto0;
	wal_file_name(dir, kind, seq, path, sizeof(path));
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	wal_file_hdr_encode(&h, hdr);
	assert_int_equal(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	for (unsigned i = 0; i < n; i++) {
		char key[32], val[64];
		snprintf(key, sizeof(key), "key-%llu", (unsigned long long)(first + i));
		snprintf(val, sizeof(val), "value-%llu", (unsigned long long)(first + i));
		struct px_wal_rec r = mkrec(PX_WAL_OP_SET, key, val, kind == WAL_KIND_SNAP ? 0 : first + i);
		r.stream = 0;
		uint8_t buf[256];
		uint32_t len = px_wal_encode(&r, buf, sizeof(buf));
		assert_int_equal(fwrite(buf, 1, len, f), len);
	}
	fclose(f);
}

struct seen {
	uint64_t lsns[256];
	unsigned n;
};

static int collect(void *ctx, const struct px_wal_rec *r, const struct wal_file *f, uint64_t off)
{
	struct seen *s = ctx;
	(void)f;
	(void)off;
	if (s->n < 256)
		s->lsns[s->n++] = r->lsn;
	return 0;
}

static uint64_t fsize(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* Bytes of one record of write_seg for lsn (key-N / value-N). */
static uint32_t rec_bytes(uint64_t lsn)
{
	char key[32], val[64];
	snprintf(key, sizeof(key), "key-%llu", (unsigned long long)lsn);
	snprintf(val, sizeof(val), "value-%llu", (unsigned long long)lsn);
	return px_wal_rec_len((uint32_t)strlen(key), (uint32_t)strlen(val));
}

static void test_read_clean_and_dups(void **state)
{
	struct wal_read_report rep;
	struct seen s = { 0 };
	(void)state;
	write_seg(WAL_KIND_LOG, 1, 1, 10, 0);
	write_seg(WAL_KIND_LOG, 2, 8, 10, 0); /* 8..10 duplicate, 11..17 new */
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, collect, &s, &rep), 0);
	assert_int_equal(s.n, 17);
	for (unsigned i = 0; i < 17; i++)
		assert_int_equal(s.lsns[i], i + 1);
	assert_int_equal(rep.dups, 3);
	assert_int_equal(rep.last_lsn[0], 17);
	assert_int_equal(rep.next_seq, 3);
	assert_false(rep.torn);
	/* a snapshot at seq 3 covering up to 15 supersedes both segments */
	write_seg(WAL_KIND_SNAP, 3, 100, 4, 15);
	write_seg(WAL_KIND_LOG, 4, 15, 5, 0); /* 15 dup, 16..19 new */
	memset(&s, 0, sizeof(s));
	assert_int_equal(wal_read(dir, 0, collect, &s, &rep), 0);
	assert_int_equal(rep.snap_records, 4);
	assert_int_equal(s.n, 4 + 4);
	assert_int_equal(s.lsns[4], 16);
	assert_int_equal(rep.files, 2);
	assert_int_equal(rep.last_lsn[0], 19);
	/* a missing directory is an error with its name */
	assert_int_equal(wal_read("/nonexistent/pollux-wal", 0, NULL, NULL, &rep), -ENOENT);
	assert_non_null(strstr(rep.msg, "/nonexistent/pollux-wal"));
}

static void test_torn_tail(void **state)
{
	struct wal_read_report rep;
	struct seen s = { 0 };
	char path[600];
	(void)state;
	write_seg(WAL_KIND_LOG, 1, 1, 10, 0);
	wal_file_name(dir, WAL_KIND_LOG, 1, path, sizeof(path));
	uint64_t full = fsize(path);
	/* cut the last record in half */
	assert_int_equal(truncate(path, (off_t)(full - rec_bytes(10) / 2)), 0);
	assert_int_equal(wal_read(dir, 0, collect, &s, &rep), 0);
	assert_true(rep.torn);
	assert_int_equal(s.n, 9);
	assert_int_equal(rep.torn_off, full - rec_bytes(10));
	/* read-only left it; recovery truncates it */
	assert_int_equal(fsize(path), full - rec_bytes(10) / 2);
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, NULL, NULL, &rep), 0);
	assert_int_equal(fsize(path), full - rec_bytes(10));
	assert_int_equal(wal_read(dir, 0, NULL, NULL, &rep), 0);
	assert_false(rep.torn);
	assert_int_equal(rep.records, 9);

	/* zero-filled space after the records (a preallocated tail) */
	FILE *f = fopen(path, "ab");
	static const uint8_t zeros[4096];
	assert_int_equal(fwrite(zeros, 1, sizeof(zeros), f), sizeof(zeros));
	fclose(f);
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, NULL, NULL, &rep), 0);
	assert_true(rep.torn);
	assert_int_equal(rep.torn_bytes, 4096);
	assert_int_equal(rep.records, 9);

	/* a bit flip in the very last record is a torn tail too */
	uint64_t end = fsize(path);
	flip(path, end - rec_bytes(9) + 20);
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, NULL, NULL, &rep), 0);
	assert_true(rep.torn);
	assert_int_equal(rep.records, 8);

	/* a new segment whose header was torn, after a good one */
	char p2[600];
	wal_file_name(dir, WAL_KIND_LOG, 2, p2, sizeof(p2));
	f = fopen(p2, "wb");
	assert_int_equal(fwrite(zeros, 1, 100, f), 100);
	fclose(f);
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, NULL, NULL, &rep), 0);
	assert_true(rep.torn);
	assert_int_equal(access(p2, F_OK), -1);
	assert_int_equal(rep.records, 8);
}

static void test_middle_corruption(void **state)
{
	struct wal_read_report rep;
	struct seen s = { 0 };
	char path[600], cut[700];
	(void)state;
	write_seg(WAL_KIND_LOG, 1, 1, 10, 0);
	write_seg(WAL_KIND_LOG, 2, 11, 5, 0);
	wal_file_name(dir, WAL_KIND_LOG, 1, path, sizeof(path));
	uint64_t off3 = WAL_FILE_HDR + rec_bytes(1) + rec_bytes(2);
	flip(path, off3 + 50); /* record 3's key */
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL, collect, &s, &rep), -EBADMSG);
	assert_non_null(strstr(rep.msg, path));
	assert_non_null(strstr(rep.msg, "CRC mismatch"));
	assert_int_equal(rep.corrupt_spans, 1);
	/* nothing was changed */
	assert_int_equal(wal_read(dir, 0, NULL, NULL, &rep), -EBADMSG);

	/* repair: record 3 is cut and kept; everything else is read */
	memset(&s, 0, sizeof(s));
	assert_int_equal(wal_read(dir, WAL_READ_FIX_TAIL | WAL_READ_REPAIR, collect, &s, &rep), 0);
	assert_int_equal(s.n, 14);
	assert_int_equal(s.lsns[2], 4);
	assert_int_equal(rep.gaps, 1);
	assert_int_equal(rep.cut_bytes, rec_bytes(3));
	snprintf(cut, sizeof(cut), "%s.%llu.cut", path, (unsigned long long)off3);
	assert_int_equal(fsize(cut), rec_bytes(3));
	assert_int_equal(wal_read(dir, 0, NULL, NULL, &rep), 0);
	assert_int_equal(rep.records, 14);
	assert_int_equal(rep.corrupt_spans, 0);

	/* a bad header of a file with valid files after it */
	flip(path, 20);
	assert_int_equal(wal_read(dir, 0, NULL, NULL, &rep), -EBADMSG);
	assert_non_null(strstr(rep.msg, "bad file header"));
	assert_int_equal(wal_read(dir, WAL_READ_REPAIR, NULL, NULL, &rep), 0);
	assert_int_equal(rep.records, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test_setup_teardown(test_read_clean_and_dups, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_middle_corruption, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
