/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the executor's write-ahead log: the input runs as a
 * stream connection against a table whose executor logs into a buffer;
 * every record must decode, with consecutive LSNs, and replaying the
 * records into an empty table must give every logged key the same state
 * (value, flags, exptime, stale bit, and CAS when no explicit CAS was
 * given). The tables are large enough never to evict, since evictions are
 * not logged. Any difference aborts.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proto/mc_conn.h"

#define SEED 0xa11
#define NOW 1700000000u

static struct px_table *ta, *tb;
static void *mem_a, *mem_b;
static size_t mem_len;
static struct tbl_config cfg;
static struct mc_exec x;
static uint8_t seg[97];
static uint8_t logbuf[1 << 20];
static size_t logged;
static uint64_t lsn;

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static uint64_t room(void *ctx)
{
	(void)ctx;
	return sizeof(logbuf) - logged;
}

static uint64_t push(void *ctx, struct px_wal_rec *r)
{
	(void)ctx;
	r->lsn = ++lsn;
	uint32_t n = px_wal_encode(r, logbuf + logged, sizeof(logbuf) - logged);
	CHECK(n > 0); /* admission promised the room */
	logged += n;
	return lsn;
}

static const struct mc_wal_ops ops = { .room = room, .push = push };

static int drop_flush(struct mc_out *o)
{
	o->len = 0;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cfg = (struct tbl_config){ .mem_bytes = 4 << 20, .index_items = 8192,
				   .value_max = 16 * 1024, .policy = TBL_POLICY_CLOCK,
				   .hash_seed = SEED };
	mem_len = tbl_region_size(&cfg);
	mem_a = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mem_b = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem_a != MAP_FAILED && mem_b != MAP_FAILED);
	return 0;
}

static bool same(struct tbl_item *a, struct tbl_item *b, bool cmp_cas)
{
	return a->vlen == b->vlen && memcmp(a->value, b->value, a->vlen) == 0 &&
	       a->flags == b->flags && a->exptime == b->exptime && a->stale == b->stale &&
	       (!cmp_cas || a->cas == b->cas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_out out = { .buf = seg, .cap = sizeof(seg), .flush = drop_flush };
	struct mc_exec_cfg xc = { .hash_seed = SEED, .limit_maxbytes = cfg.mem_bytes };
	struct mc_stream s;

	if (mem_a == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	ta = tbl_create(&cfg, mem_a, mem_len);
	tb = tbl_create(&cfg, mem_b, mem_len);
	CHECK(ta != NULL && tb != NULL);
	mc_parse_limits_init(&xc.limits);
	xc.limits.item_size_max = cfg.value_max;
	CHECK(mc_exec_init(&x, &xc, &ta, 1, NULL) == 0);
	mc_exec_tick(&x, NOW);
	tbl_set_time(tb, NOW);
	x.wal = &ops;
	logged = 0;
	lsn = 0;
	mc_stream_init(&s);
	uint8_t *c = malloc(size ? size : 1);
	memcpy(c, data, size);
	mc_stream_input(&x, &s, c, size, &out);
	mc_stream_free(&s);
	free(c);
	CHECK(x.wal_lsn == lsn && x.wal_records == lsn);

	/* decode and replay */
	size_t off = 0;
	uint64_t want = 1;
	while (off < logged) {
		struct px_wal_rec r;
		uint32_t n;
		CHECK(px_wal_decode(logbuf + off, logged - off, &r, &n) == PX_WAL_DEC_OK);
		CHECK(r.lsn == want++ && r.stream == 0);
		mc_exec_wal_apply(tb, &r, SEED, NOW);
		off += n;
	}
	/* every logged key: the same state in both */
	bool cmp_cas = memchr(data, 'E', size) == NULL;
	off = 0;
	while (off < logged) {
		struct px_wal_rec r;
		uint32_t n;
		px_wal_decode(logbuf + off, logged - off, &r, &n);
		off += n;
		if (r.op == PX_WAL_OP_FLUSH)
			continue;
		struct tbl_key k = { .key = r.key, .klen = r.klen,
				     .hash = tbl_hash(r.key, r.klen, SEED) };
		struct tbl_item ia, ib;
		int ra = tbl_get(ta, &k, TBL_GET_CAS, &ia);
		int rb = tbl_get(tb, &k, TBL_GET_CAS, &ib);
		CHECK(ra == rb);
		CHECK(ra != TBL_OK || same(&ia, &ib, cmp_cas));
	}
	return 0;
}
