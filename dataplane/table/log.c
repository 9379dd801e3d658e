/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The circular item log and its eviction. New items are appended at the
 * tail; room is made by advancing the head over dead items (free), expired or
 * flushed ones (reclaimed) and live ones. A live item at the head is moved
 * to the tail when the policy wants it (CLOCK: frequency above zero) or when
 * live data is below the fill target (compaction: the log is full of dead
 * versions, not of data); otherwise it is evicted. The live window
 * [head, tail) never exceeds mem_limit, the partition's hard memory limit.
 */
#include <errno.h>

#include "table_pvt.h"

/* Live bytes above which live items at the head are evicted, not compacted. */
static uint64_t log_fill_target(const struct px_table *t)
{
	return t->mem_limit - t->mem_limit / 8;
}

uint64_t tbl_item_cas(const struct px_table *t, const uint8_t *it, uint64_t off)
{
	if (it[0] & ITEM_HAS_CAS)
		return px_load64(it + item_hdr_len(it[0]) - 8);
	return (tbl_pos_of(t, off) + 1 + t->cas_hint) * t->cas_stride + t->cas_index;
}

uint64_t tbl_item_cas_remote(const struct px_table *t, const uint8_t *it, uint64_t off)
{
	uint8_t meta = it[0];

	if (meta & ITEM_HAS_CAS)
		return px_load64(it + item_hdr_len(meta) - 8);
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
	return (tbl_pos_at(t, off, tail, tail % t->log_size) + 1 +
		__atomic_load_n(&t->cas_hint, __ATOMIC_RELAXED)) * t->cas_stride + t->cas_index;
}

void log_unlink(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot)
{
	const uint8_t *it = tbl_item_at(t, *slot);

	t->st.items--;
	t->st.bytes_used -= item_size(it);
	tbl_write_begin(primary);
	idx_clear(t, primary, slot);
	tbl_write_end(primary);
}

uint8_t *log_append(struct px_table *t, uint64_t *pos)
{
	/* An item may run past the ring's end into the guard: no padding. */
	*pos = atomic_load_explicit(&t->tail, memory_order_relaxed);
	return t->log + t->tail_off;
}

/*
 * Copy the detached item at head to the tail, keeping its CAS. The copy may
 * overlap its own source when the log is full, so the header is saved first
 * and the body moved with memmove. Readers are kept out by the seqlock.
 */
static void log_move(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot,
		     uint8_t *it, uint32_t old_size, uint64_t cas, uint8_t new_meta)
{
	uint32_t old_hdr = item_hdr_len(it[0]);
	uint32_t new_hdr = item_hdr_len(new_meta);
	uint32_t n = old_size - old_hdr + new_hdr;
	uint8_t hdr[ITEM_HDR_MAX];
	uint64_t pos;

	memcpy(hdr, it, old_hdr);
	hdr[0] = new_meta;
	if (new_meta & ITEM_HAS_CAS)
		px_store64(hdr + new_hdr - 8, cas);
	uint64_t off = t->tail_off;
	uint8_t *dst = log_append(t, &pos);
	tbl_write_begin(primary);
	memmove(dst + new_hdr, it + old_hdr, old_size - old_hdr);
	memcpy(dst, hdr, new_hdr);
	tbl_tail_advance(t, n);
	__atomic_store_n(slot, (*slot & ~TBL_OFF_MASK) | off, __ATOMIC_RELAXED);
	tbl_write_end(primary);
	t->st.bytes_used += n - old_size;
}

/*
 * The hash of the item at the head, from the look-ahead queue. Tops the
 * queue up to TBL_AHEAD items (never past the tail), prefetching each new
 * item's bucket, so the head's chain lookups overlap instead of each
 * waiting for its own miss. Bounded: hashes at most TBL_AHEAD items.
 */
static uint64_t head_hash(struct px_table *t, uint32_t head_size)
{
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);

	if (t->ahead_n == 0 || t->ahead_front != t->head) {
		t->ahead_n = 0;
		t->ahead_front = t->ahead_pos = t->head;
		t->ahead_off = t->head_off;
	}
	while (t->ahead_n < TBL_AHEAD && t->ahead_pos < tail) {
		const uint8_t *x = t->log + t->ahead_off;
		uint32_t size = item_size(x);
		/* The head's bytes were written a lap ago: fetch the ones to hash next. */
		px_prefetch(x + 4 * PX_CACHE_LINE);
		uint64_t h = tbl_hash(item_key(x), x[1], t->seed);
		px_prefetch(tbl_bucket_of(t, h));
		t->ahead_hash[(t->ahead_first + t->ahead_n) & (TBL_AHEAD - 1)] = h;
		t->ahead_n++;
		t->ahead_pos += size;
		t->ahead_off += size;
		if (t->ahead_off >= t->log_size)
			t->ahead_off -= t->log_size;
	}
	uint64_t h = t->ahead_hash[t->ahead_first];
	t->ahead_first = (t->ahead_first + 1) & (TBL_AHEAD - 1);
	t->ahead_n--;
	t->ahead_front += head_size;
	return h;
}

/*
 * Advance the head over one item, making room for a reservation of `want`
 * bytes. Bounded: touches one item and one chain.
 */
static void log_advance_head(struct px_table *t, uint32_t want)
{
	uint64_t ph = t->head_off;
	uint8_t *it = t->log + ph;
	uint32_t size = item_size(it);
	struct tbl_bucket *primary;
	uint64_t *slot = idx_find_off_hash(t, head_hash(t, size), ph, &primary);

	if (slot == NULL) { /* overwritten or deleted: dead bytes */
		tbl_head_advance(t, size);
		return;
	}
	t->log_gen++;
	if (!tbl_item_valid(t, it, ph)) {
		tbl_head_advance(t, size);
		log_unlink(t, primary, slot);
		t->st.expired_reclaimed++;
		return;
	}
	uint8_t meta = it[0];
	bool hot = t->policy == TBL_POLICY_CLOCK && (meta & ITEM_FREQ_MASK) != 0;
	bool room = t->st.bytes_used + want + 8 <= log_fill_target(t);
	uint64_t cas = tbl_item_cas(t, it, ph);

	tbl_head_advance(t, size);
	if (!hot && !room) {
		log_unlink(t, primary, slot);
		t->st.evictions++;
		return;
	}
	if (hot) {
		meta = (uint8_t)(meta - 1);
		t->st.reinserted++;
	}
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
	if ((meta & ITEM_HAS_CAS) || tail + size + 8 - t->head <= t->log_size) {
		log_move(t, primary, slot, it, size, cas, meta | ITEM_HAS_CAS);
	} else {
		/*
		 * A run of live items longer than the ring's slack: keeping the
		 * CAS would overrun it, so the copy takes a fresh position CAS.
		 * A client holding the old one gets EXISTS and retries; nothing
		 * live is lost.
		 */
		log_move(t, primary, slot, it, size, 0, meta);
		t->st.cas_resets++;
	}
}

int log_reserve(struct px_table *t, uint32_t n)
{
	if (px_unlikely((uint64_t)n * 2 > t->mem_limit))
		return -ENOMEM;
	/* The tail's next lines were last written a lap ago: claim them early. */
	for (unsigned i = 1; i <= 4; i++)
		px_prefetchw(t->log + t->tail_off + i * PX_CACHE_LINE);
	while (atomic_load_explicit(&t->tail, memory_order_relaxed) + n - t->head > t->mem_limit)
		log_advance_head(t, n);
	return 0;
}
