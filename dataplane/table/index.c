/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The index: chains of cache-line buckets holding 16-bit tags and log
 * offsets. A chain is a primary bucket plus overflow buckets taken from a
 * fixed pool, so a full bucket never drops a live item while the pool lasts;
 * when the pool is empty too, the chain's oldest item is evicted (counted in
 * index_evictions). Owner-side only; readers live in table.c.
 */
#include "table_pvt.h"

static struct tbl_bucket *bucket_of_slot(uint64_t *slot)
{
	return (struct tbl_bucket *)((uintptr_t)slot & ~(uintptr_t)(PX_CACHE_LINE - 1));
}

void idx_find(struct px_table *t, const struct tbl_key *k, struct tbl_loc *loc)
{
	struct tbl_bucket *b = tbl_bucket_of(t, k->hash);
	uint64_t tag = (uint64_t)tbl_tag(k->hash) << TBL_TAG_SHIFT;

	loc->primary = b;
	loc->slot = NULL;
	loc->item = NULL;
	for (; b != NULL; b = tbl_next(t, b)) {
		for (unsigned m = tbl_bucket_match(b, tag); m != 0; m &= m - 1) {
			unsigned i = (unsigned)__builtin_ctz(m);
			uint8_t *it = tbl_item_at(t, b->slot[i]);
			if (it[1] == k->klen && tbl_key_eq(item_key(it), k->key, k->klen)) {
				loc->slot = &b->slot[i];
				loc->item = it;
				return;
			}
		}
	}
}

uint64_t *idx_find_off(struct px_table *t, const uint8_t *key, uint32_t klen, uint64_t off,
		       struct tbl_bucket **primary)
{
	return idx_find_off_hash(t, tbl_hash(key, klen, t->seed), off, primary);
}

uint64_t *idx_find_off_hash(struct px_table *t, uint64_t h, uint64_t off,
			    struct tbl_bucket **primary)
{
	struct tbl_bucket *b = tbl_bucket_of(t, h);
	uint64_t want = ((uint64_t)tbl_tag(h) << TBL_TAG_SHIFT) | off;

	*primary = b;
	for (; b != NULL; b = tbl_next(t, b))
		for (unsigned i = 0; i < TBL_SLOTS; i++)
			if (b->slot[i] == want)
				return &b->slot[i];
	return NULL;
}

static struct tbl_bucket *extra_alloc(struct px_table *t)
{
	if (t->extra_free == 0)
		return NULL;
	struct tbl_bucket *b = &t->extra[t->extra_free - 1];
	t->extra_free = b->next;
	b->next = 0;
	memset(b->slot, 0, sizeof(b->slot));
	t->extra_used++;
	t->st.index_bytes += sizeof(*b);
	return b;
}

static void extra_free(struct px_table *t, struct tbl_bucket *b)
{
	b->next = t->extra_free;
	t->extra_free = (uint32_t)(b - t->extra) + 1;
	t->extra_used--;
	t->st.index_bytes -= sizeof(*b);
}

/* Evict the item in the chain with the oldest log position to free a slot. */
static uint64_t *evict_oldest(struct px_table *t, struct tbl_bucket *primary)
{
	uint64_t *victim = NULL, best = UINT64_MAX;

	for (struct tbl_bucket *b = primary; b != NULL; b = tbl_next(t, b))
		for (unsigned i = 0; i < TBL_SLOTS; i++) {
			uint64_t pos = tbl_pos_of(t, b->slot[i] & TBL_OFF_MASK);
			if (pos < best) {
				best = pos;
				victim = &b->slot[i];
			}
		}
	const uint8_t *it = tbl_item_at(t, *victim);
	t->st.items--;
	t->st.bytes_used -= item_size(it);
	t->st.index_evictions++;
	t->st.evictions++;
	return victim;
}

void idx_insert(struct px_table *t, struct tbl_bucket *primary, uint64_t hash, uint64_t off)
{
	uint64_t val = ((uint64_t)tbl_tag(hash) << TBL_TAG_SHIFT) | off;
	struct tbl_bucket *b = primary, *last = primary;

	for (; b != NULL; last = b, b = tbl_next(t, b))
		for (unsigned i = 0; i < TBL_SLOTS; i++)
			if (b->slot[i] == 0) {
				__atomic_store_n(&b->slot[i], val, __ATOMIC_RELAXED);
				return;
			}
	b = extra_alloc(t);
	if (b != NULL) {
		b->slot[0] = val;
		__atomic_store_n(&last->next, (uint32_t)(b - t->extra) + 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(evict_oldest(t, primary), val, __ATOMIC_RELAXED);
}

void idx_clear(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot)
{
	struct tbl_bucket *b = bucket_of_slot(slot);

	__atomic_store_n(slot, 0, __ATOMIC_RELAXED);
	if (b == primary)
		return;
	for (unsigned i = 0; i < TBL_SLOTS; i++)
		if (b->slot[i] != 0)
			return;
	/* An empty overflow bucket goes back to the pool. */
	struct tbl_bucket *prev = primary;
	while (tbl_next(t, prev) != b)
		prev = tbl_next(t, prev);
	__atomic_store_n(&prev->next, b->next, __ATOMIC_RELAXED);
	extra_free(t, b);
}
