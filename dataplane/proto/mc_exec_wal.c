/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The executor's side of the write-ahead log: admission (a mutation runs
 * only when its record is sure to fit in the log, so no write is ever
 * acknowledged without its record) and logging of the state a key has
 * after a mutation, through the ops the dataplane installs. Record format:
 * include/pollux/wal.h. Without ops (wal_mode=off, tests) both are no-ops.
 */
#include <string.h>

#include "mc_exec.h"

#define WAL_ARITH_SLACK 24 /* incr may turn a value into up to 20 digits */

static const char refused[] = "SERVER_ERROR write-ahead log full or unavailable\r\n";

static void refuse(struct mc_exec *x, bool noreply, struct mc_out *out)
{
	x->wal_refused++;
	if (!noreply)
		mc_out_str(out, refused, sizeof(refused) - 1);
}

bool mc_exec_wal_admit(struct mc_exec *x, struct px_table *t, const struct tbl_key *k,
		       uint32_t bytes, bool noreply, struct mc_out *out)
{
	if (x->wal == NULL)
		return true;
	uint64_t room = x->wal->room(x->wal_ctx);
	uint64_t most = (uint64_t)x->cfg.limits.item_size_max;
	/* fast path: room for the largest item there can be */
	if (room >= px_wal_rec_len(k->klen, 0) + (uint64_t)bytes + most + WAL_ARITH_SLACK)
		return true;
	struct tbl_item it;
	uint64_t cur = tbl_get(t, k, 0, &it) == TBL_OK ? it.vlen : 0;
	if (room >= px_wal_rec_len(k->klen, 0) + (uint64_t)bytes + cur + WAL_ARITH_SLACK)
		return true;
	refuse(x, noreply, out);
	return false;
}

static void push(struct mc_exec *x, struct px_wal_rec *r, unsigned part)
{
	r->stream = (uint16_t)part;
	r->time = x->now;
	uint64_t lsn = x->wal->push(x->wal_ctx, r);
	if (lsn != 0) {
		x->wal_lsn = lsn;
		x->wal_records++;
		x->wal_bytes += px_wal_rec_len(r->klen, r->vlen);
	}
}

void mc_exec_wal_key(struct mc_exec *x, struct px_table *t, const struct tbl_key *k,
		     enum px_wal_cmd cmd)
{
	struct tbl_item it;
	struct px_wal_rec r = { .cmd = (uint8_t)cmd, .klen = (uint8_t)k->klen, .key = k->key };

	if (x->wal == NULL)
		return;
	if (tbl_get(t, k, TBL_GET_CAS, &it) == TBL_OK) {
		r.op = PX_WAL_OP_SET;
		r.value = it.value;
		r.vlen = it.vlen;
		r.flags = it.flags;
		r.exptime = it.exptime;
		r.cas = it.cas;
		r.iflags = it.stale ? PX_WAL_IF_STALE : 0;
	} else {
		r.op = PX_WAL_OP_DELETE;
	}
	push(x, &r, mc_exec_part_of(k->hash, x->nparts));
}

void mc_exec_wal_stored(struct mc_exec *x, const struct tbl_store_req *r, uint64_t cas,
			enum px_wal_cmd cmd)
{
	struct px_wal_rec rec = {
		.op = PX_WAL_OP_SET, .cmd = (uint8_t)cmd, .klen = (uint8_t)r->k.klen,
		.key = r->k.key, .value = r->value, .vlen = r->vlen, .flags = r->flags,
		.exptime = r->exptime, .cas = cas, .iflags = r->stale ? PX_WAL_IF_STALE : 0,
	};

	if (x->wal != NULL)
		push(x, &rec, mc_exec_part_of(r->k.hash, x->nparts));
}

bool mc_exec_wal_admit_flush(struct mc_exec *x)
{
	return x->wal == NULL || x->wal->room(x->wal_ctx) >= px_wal_rec_len(0, 0);
}

void mc_exec_wal_flush(struct mc_exec *x, unsigned part, uint32_t when)
{
	/* flags: the partition count, so a recovery into another count knows
	 * this flush covered a partition of a different key split */
	struct px_wal_rec r = { .op = PX_WAL_OP_FLUSH, .cmd = PX_WAL_CMD_FLUSH, .exptime = when,
				.flags = x->nparts };

	if (x->wal != NULL)
		push(x, &r, part);
}

int mc_exec_wal_apply(struct px_table *t, const struct px_wal_rec *r, uint64_t seed, uint32_t now)
{
	struct tbl_key k = { .key = r->key, .klen = r->klen };

	if (r->op == PX_WAL_OP_FLUSH) {
		tbl_flush(t, r->exptime);
		return TBL_OK;
	}
	k.hash = tbl_hash(k.key, k.klen, seed);
	if (r->op == PX_WAL_OP_DELETE || (r->exptime != 0 && r->exptime <= now)) {
		/* gone, or expired since: an older version must not come back */
		tbl_delete(t, &k, 0);
		return r->op == PX_WAL_OP_DELETE ? TBL_OK : TBL_NOT_FOUND;
	}
	struct tbl_store_req s = {
		.k = k, .value = r->value, .vlen = r->vlen, .flags = r->flags,
		.exptime = r->exptime, .mode = TBL_SET, .cas_new = r->cas,
		.stale = (r->iflags & PX_WAL_IF_STALE) != 0,
	};
	return tbl_store(t, &s, NULL);
}
