/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log's dataplane side (DESIGN.md §4; rings and handshake
 * in include/pollux/shm.h, records in include/pollux/wal.h). Each lcore
 * pushes the records its executor makes into its own mutation ring (single
 * producer, no locks, no syscalls), applies what pollux-cp's recovery puts
 * in its replay ring, and in sync mode holds replies until pollux-cp
 * publishes a durable LSN that covers them. Writes are refused until the
 * log is open: a control plane is attached and has finished the replay.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_malloc.h>

#include "dp.h"

#define REPLAY_BUDGET 4096 /* replay records one loop iteration applies at most */

int dp_wal_config(struct dp *dp)
{
	const char *m = dp->set.wal_mode;

	if (strcmp(m, "off") == 0)
		dp->wal_mode = 0;
	else if (strcmp(m, "async") == 0)
		dp->wal_mode = 1;
	else if (strcmp(m, "sync") == 0)
		dp->wal_mode = 2;
	else
		return -EINVAL;
	return 0;
}

bool dp_wal_sync(const struct dp *dp)
{
	return dp->wal_mode == 2;
}

uint64_t dp_wal_durable_lsn(const struct dp *dp, unsigned lcore)
{
	struct px_shm_hdr *h = dp->shm;

	if (h == NULL || lcore >= dp->nlcores)
		return 0;
	return atomic_load_explicit(&px_shm_lcore(h, lcore)->durable_lsn, memory_order_acquire);
}

/* mc_wal_ops: bytes a record may take now. */
static uint64_t wal_room(void *ctx)
{
	struct dp_wal *w = &((struct dp_lcore *)ctx)->wal;

	if (unlikely(!w->open))
		return 0;
	uint64_t free = w->size - (w->head - w->tail);
	if (free < w->size / 2) {
		/* refresh the consumer's position only when it matters */
		w->tail = atomic_load_explicit(&w->ring->tail, memory_order_acquire);
		free = w->size - (w->head - w->tail);
	}
	return free;
}

/* mc_wal_ops: push one record (room was checked); returns its LSN. */
static uint64_t wal_push(void *ctx, struct px_wal_rec *r)
{
	struct dp_wal *w = &((struct dp_lcore *)ctx)->wal;
	uint32_t len = px_wal_rec_len(r->klen, r->vlen);

	if (unlikely(!w->open || w->size - (w->head - w->tail) < len))
		return 0; /* admission makes this unreachable */
	r->lsn = w->lsn + 1;
	px_wal_encode_ring(r, w->data, w->size, w->head);
	w->lsn = r->lsn;
	w->head += len;
	/* head_lsn first: a dataplane that dies between the two stores leaves
	 * an LSN unused, never one a successor would reuse */
	atomic_store_explicit(&w->ring->head_lsn, w->lsn, memory_order_relaxed);
	atomic_store_explicit(&w->ring->head, w->head, memory_order_release);
	return w->lsn;
}

static const struct mc_wal_ops dp_wal_ops = { .room = wal_room, .push = wal_push };

/* Point lc at region h's rings (h may be NULL); the log closes until reopened. */
static void wal_attach(struct dp_lcore *lc, struct px_shm_hdr *h)
{
	struct dp_wal *w = &lc->wal;

	w->region = h;
	w->open = false;
	w->ring = w->replay = NULL;
	if (h == NULL || h->ring_bytes == 0 || (h->ring_bytes & (h->ring_bytes - 1)) != 0)
		return;
	w->size = h->ring_bytes;
	if (lc->idx == 0 && w->size < PX_WAL_REC_MAX(lc->dp->set.item_size_max)) {
		/* once per region, from the tick: not the hot path */
		printf("pollux-dp: WAL rings of %llu KiB cannot hold an item of item_size_max=%llu: "
		       "such writes are refused (raise wal_ring_kb of pollux-cp)\n",
		       (unsigned long long)(w->size >> 10),
		       (unsigned long long)lc->dp->set.item_size_max);
		fflush(stdout);
	}
	w->ring = px_shm_ring(h, lc->idx, 0);
	w->data = (uint8_t *)(w->ring + 1);
	w->replay = px_shm_ring(h, lc->idx, 1);
	w->rdata = (uint8_t *)(w->replay + 1);
}

void dp_wal_tick(struct dp_lcore *lc)
{
	struct dp *dp = lc->dp;
	struct dp_wal *w = &lc->wal;

	if (dp->wal_mode == 0)
		return;
	if (lc->x.wal == NULL) {
		/* first tick: the largest record a replay can bring, for wrapped ones */
		w->bounce = rte_malloc("px_wal_bounce", PX_WAL_REC_MAX(dp->set.item_size_max), 64);
		if (w->bounce == NULL)
			return; /* no log: writes stay refused */
		lc->x.wal = &dp_wal_ops;
		lc->x.wal_ctx = lc;
	}
	struct px_shm_hdr *h = dp->shm;
	if (h != w->region)
		wal_attach(lc, h);
	if (w->ring != NULL && !w->open &&
	    atomic_load_explicit(&h->wal_open_pid, memory_order_acquire) == (uint64_t)getpid()) {
		/* recovery is done: continue after every LSN this ring has seen */
		uint64_t durable = atomic_load(&px_shm_lcore(h, lc->idx)->durable_lsn);
		uint64_t last = atomic_load(&w->ring->head_lsn);
		/* never below an LSN this lcore handed out before (a held reply
		 * waits for it): a region replaced under us starts at 0 */
		if (last > w->lsn)
			w->lsn = last;
		if (durable > w->lsn)
			w->lsn = durable;
		w->head = atomic_load(&w->ring->head);
		w->tail = atomic_load_explicit(&w->ring->tail, memory_order_acquire);
		w->open = true;
		atomic_store_explicit(&px_shm_lcore(h, lc->idx)->wal_opened, (uint64_t)getpid(),
				      memory_order_release);
	} else if (w->open && atomic_load_explicit(&h->wal_open_pid, memory_order_relaxed) !=
				      (uint64_t)getpid()) {
		w->open = false; /* a new control plane is recovering into us again */
		atomic_store_explicit(&px_shm_lcore(h, lc->idx)->wal_opened, 0, memory_order_release);
	}
}

/* Apply up to REPLAY_BUDGET records from the replay ring. */
static unsigned replay_poll(struct dp_lcore *lc)
{
	struct dp_wal *w = &lc->wal;
	struct px_shm_ring *r = w->replay;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct px_table *t = lc->dp->parts[lc->idx];
	unsigned n = 0;

	while (tail != head && n < REPLAY_BUDGET) {
		uint64_t off = tail & (w->size - 1);
		uint32_t len;
		memcpy(&len, w->rdata + off, 4); /* 8-aligned positions: never wraps */
		if (len < PX_WAL_REC_HDR || len > head - tail || len > w->size ||
		    len > PX_WAL_REC_MAX(lc->dp->set.item_size_max)) {
			w->replay_bad++;
			tail = head; /* cannot resynchronise: drop the rest */
			break;
		}
		const uint8_t *p = w->rdata + off;
		if (off + len > w->size) {
			memcpy(w->bounce, w->rdata + off, w->size - off);
			memcpy(w->bounce + (w->size - off), w->rdata, len - (w->size - off));
			p = w->bounce;
		}
		struct px_wal_rec rec;
		uint32_t n_dec;
		if (px_wal_decode(p, len, &rec, &n_dec) == PX_WAL_DEC_OK &&
		    (rec.op == PX_WAL_OP_FLUSH ||
		     mc_exec_part_of(tbl_hash(rec.key, rec.klen, lc->dp->set.hash_seed),
				     lc->dp->nlcores) == lc->idx)) {
			mc_exec_wal_apply(t, &rec, lc->dp->set.hash_seed, lc->x.now);
			w->replayed++;
		} else {
			w->replay_bad++;
		}
		tail += len;
		n++;
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	return n;
}

bool dp_wal_hold(struct dp_lcore *lc, struct dp_cont *c, uint64_t lsn, int to)
{
	struct dp_wal *w = &lc->wal;

	if (w->hold_tail - w->hold_head == DP_WAL_HOLD) {
		w->hold_full++;
		return false;
	}
	w->hold[w->hold_tail++ % DP_WAL_HOLD] = (struct dp_wal_held){ .c = c, .lsn = lsn, .to = to };
	w->held_total++;
	return true;
}

/* Send or forward every held continuation the durable LSN now covers. */
static unsigned hold_release(struct dp_lcore *lc)
{
	struct dp_wal *w = &lc->wal;
	uint64_t durable = dp_wal_durable_lsn(lc->dp, lc->idx);
	unsigned n = 0;

	while (w->hold_head != w->hold_tail) {
		struct dp_wal_held *e = &w->hold[w->hold_head % DP_WAL_HOLD];
		if (e->lsn > durable)
			break;
		w->hold_head++;
		n++;
		dp_mc_release(lc, e->c, e->to);
	}
	return n;
}

unsigned dp_wal_poll(struct dp_lcore *lc)
{
	struct dp_wal *w = &lc->wal;
	unsigned n = 0;

	if (w->replay != NULL &&
	    atomic_load_explicit(&w->replay->head, memory_order_relaxed) !=
	    atomic_load_explicit(&w->replay->tail, memory_order_relaxed))
		n += replay_poll(lc);
	if (w->hold_head != w->hold_tail)
		n += hold_release(lc);
	return n;
}
