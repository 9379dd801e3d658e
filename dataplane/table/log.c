/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The circular item log and its eviction. New items are appended at the
 * tail; room is made by advancing the head over dead items (free), expired or
 * flushed ones (reclaimed) and live ones, which are evicted (FIFO) or, under
 * CLOCK, moved to the tail with their frequency decremented. The live window
 * [head, tail) never exceeds mem_limit, the partition's hard memory limit.
 */
#include <errno.h>

#include "table_pvt.h"

bool tbl_item_valid(const struct px_table *t, const uint8_t *it, uint64_t off)
{
	uint32_t exp = item_exptime(it);

	if (exp != 0 && exp <= t->now)
		return false;
	if (px_unlikely(t->flush_pos > t->head)) {
		uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
		if (tbl_pos_of(t, off, tail) < t->flush_pos)
			return false;
	}
	return true;
}

uint64_t tbl_item_cas(const struct px_table *t, const uint8_t *it, uint64_t off)
{
	if (it[0] & ITEM_HAS_CAS)
		return px_load64(it + item_hdr_len(it[0]) - 8);
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
	return tbl_pos_of(t, off, tail) + 1 + t->cas_hint;
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

uint8_t *log_append(struct px_table *t, uint32_t n, uint64_t *pos)
{
	(void)n; /* an item may run past the ring's end into the guard */
	*pos = atomic_load_explicit(&t->tail, memory_order_relaxed);
	return t->log + *pos % t->log_size;
}

/*
 * Copy the detached item at head to the tail, keeping its CAS. The copy may
 * overlap its own source when the log is full, so the header is saved first
 * and the body moved with memmove. Readers are kept out by the seqlock.
 */
static void log_move(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot,
		     uint8_t *it, uint32_t old_size, uint64_t cas)
{
	uint8_t meta = it[0];
	uint32_t old_hdr = item_hdr_len(meta);
	uint8_t new_meta = (uint8_t)(((meta | ITEM_HAS_CAS) & ~ITEM_FREQ_MASK) |
				     ((meta & ITEM_FREQ_MASK) - 1));
	uint32_t new_hdr = item_hdr_len(new_meta);
	uint32_t n = old_size - old_hdr + new_hdr;
	uint8_t hdr[ITEM_HDR_MIN + 16];
	uint64_t pos;

	memcpy(hdr, it, old_hdr);
	hdr[0] = new_meta;
	px_store64(hdr + new_hdr - 8, cas);
	uint8_t *dst = log_append(t, n, &pos);
	tbl_write_begin(primary);
	memmove(dst + new_hdr, it + old_hdr, old_size - old_hdr);
	memcpy(dst, hdr, new_hdr);
	atomic_store_explicit(&t->tail, pos + n, memory_order_release);
	__atomic_store_n(slot, (*slot & ~TBL_OFF_MASK) | (pos % t->log_size), __ATOMIC_RELAXED);
	tbl_write_end(primary);
	t->st.bytes_used += n - old_size;
	t->st.reinserted++;
}

/* Advance the head over one item. Bounded: touches one item and one chain. */
static void log_advance_head(struct px_table *t)
{
	uint64_t ph = t->head % t->log_size;
	uint8_t *it = t->log + ph;
	uint32_t size = item_size(it);
	struct tbl_bucket *primary;
	uint64_t *slot = idx_find_off(t, item_key(it), it[1], ph, &primary);

	if (slot == NULL) { /* overwritten or deleted: dead bytes */
		t->head += size;
		return;
	}
	if (!tbl_item_valid(t, it, ph)) {
		t->head += size;
		log_unlink(t, primary, slot);
		t->st.expired_reclaimed++;
		return;
	}
	uint64_t cas = tbl_item_cas(t, it, ph);
	t->head += size;
	if (t->policy == TBL_POLICY_CLOCK && (it[0] & ITEM_FREQ_MASK) != 0) {
		uint32_t n = size + ((it[0] & ITEM_HAS_CAS) ? 0 : 8);
		uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
		/* The ring has TBL_MOVE_SLACK bytes beyond the limit for this. */
		if (tail + n - t->head <= t->mem_limit + TBL_MOVE_SLACK) {
			log_move(t, primary, slot, it, size, cas);
			return;
		}
	}
	log_unlink(t, primary, slot);
	t->st.evictions++;
}

int log_reserve(struct px_table *t, uint32_t n)
{
	if (px_unlikely((uint64_t)n * 2 > t->mem_limit))
		return -ENOMEM;
	for (;;) {
		uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
		if (tail + n - t->head <= t->mem_limit)
			return 0;
		log_advance_head(t);
	}
}
