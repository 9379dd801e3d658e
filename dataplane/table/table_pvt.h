/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private layout of a table partition: the region format, the bucket and item
 * encodings, and the helpers shared by index.c, log.c and table.c. Nothing
 * outside dataplane/table/ includes this file.
 *
 * Region layout (offsets from the 64-byte aligned region start):
 *
 *   0                      struct px_table (header, counters, log cursors)
 *   hdr                    primary buckets   [nbuckets]   64 B each
 *   hdr + 64*nbuckets      overflow buckets  [nextra]     64 B each
 *   ... rounded to 64      item log          [log_size + guard] bytes
 *
 * Bucket (one cache line):
 *
 *   0   u32 version   seqlock of the whole chain; odd while the owner writes
 *   4   u32 next      1-based index of the next overflow bucket, 0 = none
 *   8   u64 slot[7]   (tag << 48) | log offset; 0 = empty
 *
 * Only a chain's primary bucket version is used: every change anywhere in a
 * chain (slot, next pointer, or bytes of an item a slot points at) happens
 * between two increments of it.
 *
 * Item (byte-packed, no alignment; fields in this order):
 *
 *   0   u8  meta      ITEM_* bits below (freq in bits 0-1)
 *   1   u8  klen      1..250; 0 marks padding (see below)
 *   2   u24 vlen      little endian
 *   5   u32 atime     last access, unix seconds
 *   9   u32 flags     only if ITEM_HAS_FLAGS
 *   .   u32 exptime   only if ITEM_HAS_EXP
 *   .   u64 cas       only if ITEM_HAS_CAS
 *   .   key, value
 *
 * An item without ITEM_HAS_CAS has as CAS its logical log position plus one:
 * positions only grow and are never reused, so fresh writes need no stored
 * CAS. An item keeps its CAS when it is moved (CLOCK reinsertion, touch), so
 * a moved copy stores it explicitly.
 *
 * Wrap-around: positions map to offsets modulo log_size (the ring), and an
 * item that starts near the end runs on into a guard area of one maximal
 * item past it, so items never wrap and no padding is written (as MICA).
 * log_size is the configured memory; the live window is held below it by
 * tbl_move_slack(): moves that add a CAS field to items may use that slack
 * inside one reservation, never between operations.
 */
#ifndef PX_TABLE_PVT_H
#define PX_TABLE_PVT_H

#include <smmintrin.h>
#include <stdatomic.h>

#include "px_compiler.h"
#include "table.h"

#define TBL_SLOTS 7
#define TBL_TAG_SHIFT 48
#define TBL_OFF_MASK ((1ULL << TBL_TAG_SHIFT) - 1)
#define TBL_CHAIN_MAX 64 /* bound on a reader's walk through a changing chain */
#define TBL_AHEAD 8      /* log items hashed ahead of the head (power of two) */
_Static_assert((TBL_AHEAD & (TBL_AHEAD - 1)) == 0, "TBL_AHEAD is a power of two");

#define ITEM_FREQ_MASK 0x03u
#define ITEM_FETCHED 0x04u
#define ITEM_HAS_FLAGS 0x08u
#define ITEM_HAS_EXP 0x10u
#define ITEM_HAS_CAS 0x20u
#define ITEM_STALE 0x40u
#define ITEM_WIN_SENT 0x80u

#define ITEM_HDR_MIN 9u
#define ITEM_HDR_MAX (ITEM_HDR_MIN + 16u)

/* Ring bytes kept beyond the live-window limit for moves (1/64, at least 512). */
static inline uint64_t tbl_move_slack(uint64_t mem_bytes)
{
	return mem_bytes / 64 > 512 ? mem_bytes / 64 : 512;
}

struct tbl_bucket {
	uint32_t version;
	uint32_t next;
	uint64_t slot[TBL_SLOTS];
} px_cache_aligned;

_Static_assert(sizeof(struct tbl_bucket) == PX_CACHE_LINE, "bucket is one cache line");

struct px_table {
	/* Read-mostly configuration. */
	struct tbl_bucket *buckets;
	struct tbl_bucket *extra;
	uint8_t *log;
	uint64_t log_size;       /* ring modulus; the guard follows it */
	uint64_t log_end;        /* ring plus guard: no item byte lies past it */
	uint64_t mem_limit;      /* live window bound, <= log_size */
	uint64_t mem_limit_max;
	uint32_t nbuckets;
	uint32_t nextra;
	uint32_t value_max;
	enum tbl_policy policy;
	uint64_t seed;

	/* Owner state. Positions are logical byte positions: physical = pos % log_size. */
	px_cache_aligned _Atomic uint64_t tail; /* owner: wo, readers: ro (CAS derivation) */
	uint64_t tail_off;       /* tail % log_size, kept without dividing */
	uint64_t head;
	uint64_t head_off;       /* head % log_size */
	uint64_t log_gen;        /* bumped whenever the head passes a live item */
	uint64_t sweep_pos;
	uint64_t flush_pos;      /* items before this position are invalid */
	uint32_t flush_at;       /* pending delayed flush time, 0 = none */
	uint32_t now;
	uint32_t extra_free;     /* 1-based free list of overflow buckets */
	uint32_t extra_used;
	uint64_t cas_hint;       /* offset raised past explicit CAS values (recovery, E) */
	uint32_t cas_stride;     /* derived CAS = (pos + 1 + hint) * stride + index: */
	uint32_t cas_index;      /* unique across the partitions of one process */
	/*
	 * Key hashes of the items at and just past the head (log.c head_hash),
	 * computed early so their buckets are in cache when the head reaches
	 * them. Entry i is the i-th item from position ahead_front; the queue
	 * is dropped whenever ahead_front is not the head. An item's key never
	 * changes while it lies between head and tail.
	 */
	uint64_t ahead_front;    /* position of the first queued item (== head when valid) */
	uint64_t ahead_pos;      /* position of the next item to hash */
	uint64_t ahead_off;      /* ahead_pos % log_size */
	uint32_t ahead_first;    /* ring index of the first queued hash */
	uint32_t ahead_n;        /* hashes queued */
	uint64_t ahead_hash[TBL_AHEAD];

	px_cache_aligned struct tbl_stats st; /* owner: wo, others: ro */
	_Atomic uint64_t read_retries;        /* any reader: atomic add */
};

/* Item header accessors (item memory may be unaligned). */
static inline uint32_t item_vlen(const uint8_t *it)
{
	return (uint32_t)it[2] | (uint32_t)it[3] << 8 | (uint32_t)it[4] << 16;
}

static inline uint32_t item_hdr_len(uint8_t meta)
{
	return ITEM_HDR_MIN + ((meta & ITEM_HAS_FLAGS) ? 4 : 0) + ((meta & ITEM_HAS_EXP) ? 4 : 0) +
	       ((meta & ITEM_HAS_CAS) ? 8 : 0);
}

static inline uint32_t item_size(const uint8_t *it)
{
	return item_hdr_len(it[0]) + it[1] + item_vlen(it);
}

static inline const uint8_t *item_key(const uint8_t *it)
{
	return it + item_hdr_len(it[0]);
}

static inline uint32_t item_flags(const uint8_t *it)
{
	return (it[0] & ITEM_HAS_FLAGS) ? px_load32(it + ITEM_HDR_MIN) : 0;
}

static inline uint32_t item_exptime(const uint8_t *it)
{
	if (!(it[0] & ITEM_HAS_EXP))
		return 0;
	return px_load32(it + ITEM_HDR_MIN + ((it[0] & ITEM_HAS_FLAGS) ? 4 : 0));
}

static inline uint8_t *tbl_item_at(const struct px_table *t, uint64_t slot)
{
	return t->log + (slot & TBL_OFF_MASK);
}

static inline uint16_t tbl_tag(uint64_t hash)
{
	uint16_t tag = (uint16_t)hash;
	return tag ? tag : 1;
}

static inline struct tbl_bucket *tbl_bucket_of(const struct px_table *t, uint64_t hash)
{
	return &t->buckets[px_reduce32((uint32_t)(hash >> 32), t->nbuckets)];
}

static inline struct tbl_bucket *tbl_next(const struct px_table *t, const struct tbl_bucket *b)
{
	uint32_t n = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
	return (n != 0 && n <= t->nextra) ? &t->extra[n - 1] : NULL;
}

/* Logical position of the item at physical offset off, given the tail and its offset. */
static inline uint64_t tbl_pos_at(const struct px_table *t, uint64_t off, uint64_t tail,
				  uint64_t ptail)
{
	uint64_t dist = ptail > off ? ptail - off : ptail + t->log_size - off;
	return tail - dist;
}

/* The owner's view: no division. */
static inline uint64_t tbl_pos_of(const struct px_table *t, uint64_t off)
{
	return tbl_pos_at(t, off, atomic_load_explicit(&t->tail, memory_order_relaxed), t->tail_off);
}

static inline void tbl_head_advance(struct px_table *t, uint64_t n)
{
	t->head += n;
	t->head_off += n;
	if (t->head_off >= t->log_size)
		t->head_off -= t->log_size;
}

/* Publish n more bytes at the tail (release: readers derive CAS from it). */
static inline void tbl_tail_advance(struct px_table *t, uint64_t n)
{
	t->tail_off += n;
	if (t->tail_off >= t->log_size)
		t->tail_off -= t->log_size;
	atomic_store_explicit(&t->tail, atomic_load_explicit(&t->tail, memory_order_relaxed) + n,
			      memory_order_release);
}

/* Key equality, with the common 8-16 byte keys compared in two loads. */
static inline bool tbl_key_eq(const uint8_t *a, const void *bv, uint32_t n)
{
	const uint8_t *b = bv;
	if (n >= 8 && n <= 16)
		return ((px_load64(a) ^ px_load64(b)) | (px_load64(a + n - 8) ^ px_load64(b + n - 8))) == 0;
	return memcmp(a, b, n) == 0;
}

/* Bit i set when slot i of b carries tag (already shifted into place). */
static inline unsigned tbl_bucket_match(const struct tbl_bucket *b, uint64_t tag)
{
	const __m128i mask = _mm_set1_epi64x((long long)~TBL_OFF_MASK);
	const __m128i want = _mm_set1_epi64x((long long)tag);
	const __m128i *w = (const __m128i *)b;
	unsigned bits = 0;

	for (unsigned i = 0; i < 4; i++) {
		__m128i x = _mm_and_si128(_mm_load_si128(w + i), mask);
		bits |= (unsigned)_mm_movemask_pd(_mm_castsi128_pd(_mm_cmpeq_epi64(x, want))) << (2 * i);
	}
	return bits >> 1; /* word 0 is version and next, not a slot */
}

/* Not expired and not flushed (owner view). */
static inline bool tbl_item_valid(const struct px_table *t, const uint8_t *it, uint64_t off)
{
	uint32_t exp = item_exptime(it);

	if (exp != 0 && exp <= t->now)
		return false;
	if (px_unlikely(t->flush_pos > t->head) && tbl_pos_of(t, off) < t->flush_pos)
		return false;
	return true;
}

/* Seqlock writer side on a chain's primary bucket. */
static inline void tbl_write_begin(struct tbl_bucket *b)
{
	__atomic_store_n(&b->version, b->version + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void tbl_write_end(struct tbl_bucket *b)
{
	__atomic_store_n(&b->version, b->version + 1, __ATOMIC_RELEASE);
}

/* index.c: the owner's view of bucket chains. */
struct tbl_loc {
	struct tbl_bucket *primary;
	uint64_t *slot;   /* NULL when not found */
	uint8_t *item;
};
void idx_find(struct px_table *t, const struct tbl_key *k, struct tbl_loc *loc);
/* Find the slot pointing at physical offset off (for the log head and sweep). */
uint64_t *idx_find_off(struct px_table *t, const uint8_t *key, uint32_t klen, uint64_t off,
		       struct tbl_bucket **primary);
/* The same, given the key's hash. */
uint64_t *idx_find_off_hash(struct px_table *t, uint64_t hash, uint64_t off,
			    struct tbl_bucket **primary);
/* Insert a slot for a new item; may evict the chain's oldest item when full. */
void idx_insert(struct px_table *t, struct tbl_bucket *primary, uint64_t hash, uint64_t off);
/* Clear a slot (caller holds the primary's write section); frees empty overflow buckets. */
void idx_clear(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot);

/* log.c: the circular item log. */
/* Make room for an item of n bytes at the tail; evicts or reinserts at the head. */
int log_reserve(struct px_table *t, uint32_t n);
/* Position and address where the next reserved item goes. */
uint8_t *log_append(struct px_table *t, uint64_t *pos);
/* Unlink the live item at slot: counters and index. Caller holds no write section. */
void log_unlink(struct px_table *t, struct tbl_bucket *primary, uint64_t *slot);
uint64_t tbl_item_cas(const struct px_table *t, const uint8_t *it, uint64_t off);
/* The same, for a reader on another thread (divides to find the tail offset). */
uint64_t tbl_item_cas_remote(const struct px_table *t, const uint8_t *it, uint64_t off);

#endif
