/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery: a dataplane that attached with wal_mode on refuses writes until
 * its log opens. This file first writes what the rings still hold from its
 * predecessor, then reads the log (newest snapshot, then segments) and
 * pushes every record into the replay ring of the lcore that owns its key
 * under the new dataplane's partition count and hash seed, waits until the
 * lcores have applied everything, and only then opens the log
 * (wal_open_pid), which also makes /ready answer 200. Records of items
 * expired since are sent as deletes (an older version must not survive).
 * If the dataplane dies meanwhile, the next one starts over.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/mc_exec.h"
#include "px_clock.h"
#include "wal_cp_pvt.h"

#define DP_ALIVE_NS 1000000000ULL

struct replay {
	struct cp_wal *w;
	uint64_t pid;
	unsigned lcores;
	uint64_t seed;
	uint32_t now;
	uint64_t pushed;
	uint64_t check_ns;
	/* per stream: a delayed flush_all whose time (unix s) passed before this
	 * recovery; records logged before that time were invalidated by it */
	uint32_t flushed_at[PX_WAL_STREAMS_MAX];
};

/* Whether the dataplane we replay into is still the one, and alive. */
static bool target_ok(struct replay *rp)
{
	struct px_shm_hdr *h = rp->w->shm;
	uint64_t now = px_clock_ns(), hb = atomic_load(&h->dp_heartbeat);
	return !atomic_load(&rp->w->quit) && atomic_load(&h->dp_pid) == rp->pid &&
	       atomic_load(&h->dp_state) == PX_DP_SERVING && (hb >= now || now - hb < DP_ALIVE_NS);
}

static int push(struct replay *rp, unsigned i, const struct px_wal_rec *r)
{
	struct px_shm_hdr *h = rp->w->shm;
	struct px_shm_ring *ring = px_shm_ring(h, i, 1);
	uint8_t *data = (uint8_t *)(ring + 1);
	uint64_t size = h->ring_bytes;
	uint32_t len = px_wal_rec_len(r->klen, r->vlen);
	uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);

	if (len > size)
		return 0; /* cannot ever fit (ring shrank): counted as lost below */
	while (size - (head - atomic_load_explicit(&ring->tail, memory_order_acquire)) < len) {
		uint64_t now = px_clock_ns();
		if (now - rp->check_ns > 10000000ULL) {
			rp->check_ns = now;
			if (!target_ok(rp))
				return -ECANCELED;
		}
		struct timespec ts = { .tv_nsec = 20000 };
		nanosleep(&ts, NULL);
	}
	px_wal_encode_ring(r, data, size, head);
	atomic_store_explicit(&ring->head, head + len, memory_order_release);
	rp->pushed++;
	return 0;
}

static int replay_rec(void *ctx, const struct px_wal_rec *r, const struct wal_file *f, uint64_t off)
{
	struct replay *rp = ctx;
	(void)f;
	(void)off;

	if (r->op == PX_WAL_OP_FLUSH) {
		struct px_wal_rec fl = *r;
		if (r->exptime != 0 && r->exptime <= rp->now) {
			/* its time has come: flush now, and drop what was logged
			 * between the command and its time (below) */
			rp->flushed_at[r->stream] = r->exptime;
			fl.exptime = 0;
		}
		/* the partition of the same index, when the split is the same */
		if (r->flags == rp->lcores && r->stream < rp->lcores)
			return push(rp, r->stream, &fl);
		for (unsigned i = 0; i < rp->lcores; i++) {
			int rc = push(rp, i, &fl);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	uint64_t hash = tbl_hash(r->key, r->klen, rp->seed);
	unsigned part = mc_exec_part_of(hash, rp->lcores);
	if (rp->flushed_at[r->stream] != 0 && r->time >= rp->flushed_at[r->stream])
		rp->flushed_at[r->stream] = 0;
	if (r->op == PX_WAL_OP_SET &&
	    ((r->exptime != 0 && r->exptime <= rp->now) || rp->flushed_at[r->stream] != 0)) {
		struct px_wal_rec d = *r;
		d.op = PX_WAL_OP_DELETE;
		d.vlen = 0;
		d.value = NULL;
		d.cas = 0;
		d.flags = 0;
		d.exptime = 0;
		d.iflags = 0;
		return push(rp, part, &d);
	}
	return push(rp, part, r);
}

void wal_recover(struct cp_wal *w, uint64_t pid)
{
	struct px_shm_hdr *h = w->shm;
	struct replay rp = { .w = w, .pid = pid, .lcores = h->dp_lcores, .seed = h->dp_hash_seed,
			     .now = (uint32_t)time(NULL), .check_ns = px_clock_ns() };
	struct wal_read_report rep;
	uint64_t t0 = px_clock_ns();

	if (rp.lcores == 0 || rp.lcores > PX_SHM_LCORES_MAX)
		return;
	pthread_mutex_lock(&w->lock);
	w->st.state = CP_WAL_RECOVERING;
	pthread_mutex_unlock(&w->lock);
	printf("pollux-cp: WAL: recovering into dataplane pid %" PRIu64 " (%u lcores)\n", pid,
	       rp.lcores);
	fflush(stdout);
	/* what the predecessor left in the rings goes to disk first */
	if (wal_drain(w) != 0)
		return; /* retried on the next round */
	pthread_mutex_lock(&w->dir_lock); /* no compaction removes files meanwhile */
	int rc = wal_read(w->set.wal_dir, 0, replay_rec, &rp, &rep);
	pthread_mutex_unlock(&w->dir_lock);
	if (rc == -ECANCELED) {
		printf("pollux-cp: WAL: dataplane pid %" PRIu64 " went away during recovery\n", pid);
		return;
	}
	if (rc != 0) {
		wal_set_error(w, rc == -EBADMSG ? EBADMSG : -rc, "recovery read");
		fprintf(stderr, "pollux-cp: WAL: recovery: %s\n", rep.msg);
		return;
	}
	/* every lcore has applied its share before the log opens */
	for (unsigned i = 0; i < rp.lcores; i++) {
		struct px_shm_ring *r = px_shm_ring(h, i, 1);
		while (atomic_load_explicit(&r->tail, memory_order_acquire) !=
		       atomic_load_explicit(&r->head, memory_order_relaxed)) {
			if (!target_ok(&rp)) {
				printf("pollux-cp: WAL: dataplane pid %" PRIu64
				       " went away during recovery\n", pid);
				return;
			}
			struct timespec ts = { .tv_nsec = 100000 };
			nanosleep(&ts, NULL);
		}
	}
	double secs = (double)(px_clock_ns() - t0) / 1e9;
	atomic_store_explicit(&h->wal_open_pid, pid, memory_order_release);
	pthread_mutex_lock(&w->lock);
	w->st.state = CP_WAL_RUNNING;
	w->st.recoveries++;
	w->st.recovered_records = rp.pushed;
	w->st.recovery_seconds = secs;
	pthread_mutex_unlock(&w->lock);
	printf("pollux-cp: WAL: recovered %" PRIu64 " records (%" PRIu64 " from a snapshot) into "
	       "pid %" PRIu64 " in %.3f s (%.0f records/s); writes open\n", rp.pushed,
	       rep.snap_records, pid, secs, secs > 0 ? (double)rp.pushed / secs : 0.0);
	fflush(stdout);
}
