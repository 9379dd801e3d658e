/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-lcore storage engine: one partition of the key space, with an index
 * of cache-line buckets and a circular item log in one preallocated region.
 *
 * Concurrency contract: exactly one thread (the owner lcore) calls every
 * function here except tbl_read_copy() and tbl_stats_get(), which any thread
 * may call at any time. Owner calls return views that point into the log and
 * stay valid until the owner's next mutating call. tbl_read_copy() is an
 * optimistic lock-free read (MICA's CREW): it retries on a bucket version
 * change and never returns a torn item.
 *
 * Time: the table never reads a clock. The owner publishes unix seconds with
 * tbl_set_time() once per loop iteration; exptimes are absolute unix seconds.
 */
#ifndef PX_TABLE_H
#define PX_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_hash.h"

struct px_table;

#define TBL_KEY_MAX 250
#define TBL_VALUE_MAX_LIMIT ((1u << 24) - 1) /* the item header holds 24 bits */
#define TBL_VALUE_MAX_DEFAULT (1u << 20)
#define TBL_RELATIVE_MAX (60 * 60 * 24 * 30) /* memcached: 30 days */

enum tbl_policy {
	TBL_POLICY_FIFO,  /* plain FIFO: the log head is evicted as it comes */
	TBL_POLICY_CLOCK, /* FIFO-reinsertion with a 2-bit frequency (CLOCK-2) */
};

struct tbl_config {
	uint64_t mem_bytes;    /* item log bytes: the partition's hard memory limit */
	uint64_t index_items;  /* items the index is sized for (0: mem_bytes / 64) */
	uint32_t value_max;    /* largest value accepted (0: TBL_VALUE_MAX_DEFAULT) */
	enum tbl_policy policy;
	uint64_t hash_seed;    /* must equal the seed of every tbl_hash() caller */
	uint32_t cas_stride;   /* partitions sharing a CAS space (0 = 1), and */
	uint32_t cas_index;    /* this one's index: CAS values never collide */
};

/* Result codes, one per memcached reply they map to. */
enum tbl_status {
	TBL_OK = 0,       /* STORED / DELETED / TOUCHED / hit / arithmetic done */
	TBL_NOT_STORED,   /* add on existing, replace/append/prepend on missing */
	TBL_EXISTS,       /* CAS mismatch */
	TBL_NOT_FOUND,    /* miss, or cas/delete/touch/incr on a missing key */
	TBL_TOO_LARGE,    /* value above value_max */
	TBL_NO_MEMORY,    /* item bigger than the whole log can ever hold */
	TBL_NON_NUMERIC,  /* incr/decr on a value that is not a decimal u64 */
	TBL_BAD_KEY,      /* empty key or longer than TBL_KEY_MAX */
	TBL_BUF_SMALL,    /* tbl_read_copy: caller buffer too small */
};

/* A read view of one item. */
struct tbl_item {
	const uint8_t *key;
	const uint8_t *value;
	uint32_t klen;
	uint32_t vlen;
	uint32_t flags;     /* client flags */
	uint32_t exptime;   /* absolute unix seconds, 0 = never */
	uint32_t atime;     /* last access, unix seconds */
	bool fetched;       /* hit at least once before this access */
	bool stale;         /* invalidated by meta delete/set with I */
	bool win_sent;      /* a recache win token has been handed out */
	uint64_t cas;
};

/* Keys and their hashes travel together: hash once per request. */
struct tbl_key {
	const void *key;
	uint32_t klen;
	uint64_t hash;
};

enum tbl_store_mode {
	TBL_SET,
	TBL_ADD,
	TBL_REPLACE,
	TBL_APPEND,
	TBL_PREPEND,
	TBL_CAS, /* set only if cas_in equals the item's CAS */
};

struct tbl_store_req {
	struct tbl_key k;
	const void *value;
	uint32_t vlen;
	uint32_t flags;
	uint32_t exptime;   /* absolute, from tbl_exptime() */
	enum tbl_store_mode mode;
	uint64_t cas_in;    /* compare value (TBL_CAS, or any mode if nonzero) */
	uint64_t cas_new;   /* explicit new CAS (meta E flag), 0 = allocate */
	bool stale;         /* store marked stale (meta ms I with a stale CAS) */
};

struct tbl_arith_req {
	struct tbl_key k;
	bool incr;          /* incr wraps at 2^64, decr floors at 0 */
	uint64_t delta;
	uint64_t cas_in;    /* nonzero: compare first */
	uint64_t cas_new;   /* nonzero: explicit new CAS */
	bool vivify;        /* create with initial on miss (meta ma N) */
	uint64_t initial;
	uint32_t exptime;   /* for a vivified item */
};

struct tbl_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t sets;             /* successful stores of any mode */
	uint64_t evictions;        /* live items removed to make room */
	uint64_t expired_reclaimed;/* expired or flushed items unlinked */
	uint64_t reinserted;       /* items given a second chance by CLOCK */
	uint64_t items;
	uint64_t bytes_used;       /* bytes of live items in the log */
	uint64_t log_bytes;        /* current memory limit of the log */
	uint64_t index_bytes;      /* index buckets in use (primary + overflow) */
	uint64_t index_evictions;  /* items dropped because a bucket chain was full */
	uint64_t read_retries;     /* optimistic reads retried (any thread) */
	uint64_t cas_resets;       /* items moved with a new CAS (see log.c) */
	uint64_t flushes;
};

/* Bytes of region tbl_create() needs for cfg; 0 and errno=EINVAL if cfg is bad. */
size_t tbl_region_size(const struct tbl_config *cfg);
/*
 * Lay a table out in region (at least tbl_region_size(cfg) bytes, 64-byte
 * aligned, zero or not). Returns NULL with errno set on a bad config. The
 * region is never unmapped while any reader may still run.
 */
struct px_table *tbl_create(const struct tbl_config *cfg, void *region, size_t len);

/* The key hash every caller must use (inline: it is on every request). */
static inline uint64_t tbl_hash(const void *key, size_t klen, uint64_t seed)
{
	return px_hash64(key, klen, seed);
}
/* The owner's notion of now; also fires a pending delayed flush. */
void tbl_set_time(struct px_table *t, uint32_t now);
/* Client exptime (relative <= 30 days, else absolute; <0 already expired) to absolute. */
uint32_t tbl_exptime(const struct px_table *t, int64_t client_exptime);

/* Flags of owner reads. */
#define TBL_GET_BUMP 1u /* count the hit for eviction and set atime (meta u: leave out) */
#define TBL_GET_CAS 2u  /* fill tbl_item.cas (else 0): gets, gats, meta c */

/* Owner read of one key. */
int tbl_get(struct px_table *t, const struct tbl_key *k, unsigned flags, struct tbl_item *out);
/*
 * Look up n keys at once: hash-derived buckets are prefetched for the whole
 * burst, then the items, then keys are compared. out[i].key is NULL on a miss.
 * Returns the number of hits.
 */
unsigned tbl_lookup_burst(struct px_table *t, const struct tbl_key *keys, unsigned n,
			  unsigned flags, struct tbl_item *out);
/*
 * Prefetch hints for a key about to be looked up, from any thread (they only
 * read): the bucket, then, once it is cached, the item its first tag match
 * points at. tbl_prefetch_item looks in the depth-th bucket of the key's
 * chain (0: the primary), which an earlier call brought into cache; without
 * a tag match there it prefetches the chain's next bucket and returns
 * depth + 1, the depth to call again with once that one is cached; -1 when
 * there is nothing more to fetch. Used across an RX burst before the
 * requests are parsed.
 */
void tbl_prefetch_bucket(const struct px_table *t, uint64_t hash);
int tbl_prefetch_item(const struct px_table *t, uint64_t hash, unsigned depth);

/*
 * Lock-free read from any thread: copies key and value into buf (klen + vlen
 * bytes) and fills out with pointers into buf. Never returns a torn item.
 */
int tbl_read_copy(struct px_table *t, const struct tbl_key *k, void *buf, size_t buflen,
		  struct tbl_item *out);

/* Owner writes. cas_out, when non-NULL, receives the new CAS. */
int tbl_store(struct px_table *t, const struct tbl_store_req *r, uint64_t *cas_out);
int tbl_arith(struct px_table *t, const struct tbl_arith_req *r, uint64_t *value_out,
	      uint64_t *cas_out);
int tbl_touch(struct px_table *t, const struct tbl_key *k, uint32_t exptime);
/* cas_in nonzero: delete only if it matches (TBL_EXISTS otherwise). */
int tbl_delete(struct px_table *t, const struct tbl_key *k, uint64_t cas_in);
/*
 * Meta invalidate (md with I): mark stale, give a fresh CAS and, if exptime is
 * nonzero, a new expiry. TBL_NOT_FOUND when missing.
 */
int tbl_invalidate(struct px_table *t, const struct tbl_key *k, uint64_t cas_in,
		   uint32_t exptime);
/* Record that a recache win token was handed out for k (meta mg R/N). */
void tbl_mark_win_sent(struct px_table *t, const struct tbl_key *k);
/* Invalidate every item stored before `when` (absolute; 0 = now). */
void tbl_flush(struct px_table *t, uint32_t when);
/*
 * Background sweep: examine at most budget log items past the sweep cursor,
 * unlinking the expired and flushed ones. Returns items examined.
 */
unsigned tbl_sweep(struct px_table *t, unsigned budget);
/* Runtime memory limit, clamped to [2 * max item, configured mem_bytes]. */
void tbl_set_mem_limit(struct px_table *t, uint64_t bytes);

void tbl_stats_get(const struct px_table *t, struct tbl_stats *out);
const char *tbl_policy_name(enum tbl_policy p);
int tbl_policy_parse(const char *s, enum tbl_policy *out);

#endif
