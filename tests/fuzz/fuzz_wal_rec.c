/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the WAL record decoder and file header check: the
 * input is decoded as a run of records the way the segment reader walks
 * them. Every record the decoder accepts must lie inside the input and
 * re-encode to the very same bytes (flat and wrapped in a ring); anything
 * else aborts, so the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pollux/wal.h"
#include "wal/wal_seg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static uint8_t enc[PX_WAL_REC_MAX(4096)];
static uint8_t ring[1 << 14];

/*
 * The input's first record with its CRC made right, so the fuzzer reaches
 * the checks behind the checksum instead of stopping at it.
 */
static void with_crc_fixed(const uint8_t *data, size_t size)
{
	static uint8_t buf[PX_WAL_REC_MAX(4096)];
	struct px_wal_rec r;
	uint32_t n;

	if (size < PX_WAL_REC_HDR || size > sizeof(buf))
		return;
	memcpy(buf, data, size);
	uint32_t vlen;
	memcpy(&vlen, buf + 40, 4);
	size_t cover = (size_t)PX_WAL_REC_HDR + buf[19] + (size_t)vlen;
	if (cover > size)
		return;
	uint32_t c = px_crc32c(0, buf, 4);
	c = px_crc32c(c, buf + 8, cover - 8);
	memcpy(buf + 4, &c, 4);
	if (px_wal_decode(buf, size, &r, &n) == PX_WAL_DEC_OK) {
		CHECK(n <= size && r.key == buf + PX_WAL_REC_HDR);
		CHECK(px_wal_encode(&r, enc, sizeof(enc)) == n);
		CHECK(memcmp(enc, buf, cover) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wal_file_hdr h;
	size_t off = 0;

	with_crc_fixed(data, size);

	if (wal_file_hdr_decode(data, size, &h) == 0) {
		uint8_t hb[WAL_FILE_HDR];
		wal_file_hdr_encode(&h, hb);
		CHECK(memcmp(hb, data, WAL_FILE_HDR) == 0);
		off = WAL_FILE_HDR;
	}
	while (off < size) {
		struct px_wal_rec r;
		uint32_t n;
		int rc = px_wal_decode(data + off, size - off, &r, &n);
		if (rc != PX_WAL_DEC_OK) {
			CHECK(rc < 0 && px_wal_dec_str(rc) != NULL);
			off += 8; /* resync the way the reader's scan does */
			continue;
		}
		CHECK(n >= PX_WAL_REC_HDR && n % 8 == 0 && n <= size - off);
		CHECK(r.key == data + off + PX_WAL_REC_HDR && r.klen <= PX_WAL_KEY_MAX);
		CHECK(r.value + r.vlen <= data + off + n);
		CHECK(r.stream < PX_WAL_STREAMS_MAX && r.op >= 1 && r.op <= PX_WAL_OP_MAX);
		CHECK(px_wal_op_name(r.op)[0] != '?' && px_wal_cmd_name(r.cmd) != NULL);
		if (n <= sizeof(enc)) {
			CHECK(px_wal_encode(&r, enc, sizeof(enc)) == n);
			/* padding is not covered by the CRC: compare what is */
			size_t used = PX_WAL_REC_HDR + r.klen + r.vlen;
			CHECK(memcmp(enc, data + off, used) == 0);
			if (n <= sizeof(ring)) {
				uint64_t pos = sizeof(ring) - (off % n) - 1;
				CHECK(px_wal_encode_ring(&r, ring, sizeof(ring), pos) == n);
				for (size_t i = 0; i < used; i++)
					CHECK(ring[(pos + i) % sizeof(ring)] == data[off + i]);
			}
		}
		off += n;
	}
	return 0;
}
