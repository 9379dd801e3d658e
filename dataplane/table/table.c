/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table operations with memcached's semantics: lookups (single, burst and
 * lock-free remote), stores in every mode, arithmetic, touch, delete,
 * invalidate, flush, and the bounded expiry sweep. Every mutation appends a
 * new item version to the log and repoints one index slot inside the chain's
 * seqlock; the bytes of a linked item are never changed while readers may
 * copy them, except access metadata (atime, frequency) that readers ignore.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_hash.h"
#include "table_pvt.h"

#define TBL_ALIGN(x) (((x) + PX_CACHE_LINE - 1) & ~(uint64_t)(PX_CACHE_LINE - 1))

/* ---- creation ---- */

static uint32_t cfg_value_max(const struct tbl_config *cfg)
{
	return cfg->value_max ? cfg->value_max : TBL_VALUE_MAX_DEFAULT;
}

static uint64_t cfg_item_max(const struct tbl_config *cfg)
{
	return ITEM_HDR_MAX + TBL_KEY_MAX + (uint64_t)cfg_value_max(cfg);
}

static void cfg_geometry(const struct tbl_config *cfg, uint32_t *nb, uint32_t *nx)
{
	uint64_t items = cfg->index_items ? cfg->index_items : cfg->mem_bytes / 64;
	/* Six items per 7-slot bucket on average; overflow pool for the Poisson tail. */
	uint64_t b = items / 6 + 1;
	*nb = (uint32_t)b;
	*nx = (uint32_t)(b / 2 + 64);
}

size_t tbl_region_size(const struct tbl_config *cfg)
{
	uint32_t nb, nx;

	if (cfg == NULL || cfg_value_max(cfg) > TBL_VALUE_MAX_LIMIT ||
	    cfg->mem_bytes < 2 * cfg_item_max(cfg) + tbl_move_slack(cfg->mem_bytes) ||
	    cfg->policy > TBL_POLICY_CLOCK ||
	    (cfg->cas_stride != 0 && cfg->cas_index >= cfg->cas_stride)) {
		errno = EINVAL;
		return 0;
	}
	uint64_t items = cfg->index_items ? cfg->index_items : cfg->mem_bytes / 64;
	if (items / 6 + 1 >= UINT32_MAX / 2) {
		errno = EINVAL;
		return 0;
	}
	cfg_geometry(cfg, &nb, &nx);
	return TBL_ALIGN(sizeof(struct px_table)) + ((uint64_t)nb + nx) * sizeof(struct tbl_bucket) +
	       TBL_ALIGN(cfg->mem_bytes + cfg_item_max(cfg));
}

struct px_table *tbl_create(const struct tbl_config *cfg, void *region, size_t len)
{
	size_t need = tbl_region_size(cfg);

	if (need == 0)
		return NULL;
	if (region == NULL || len < need || ((uintptr_t)region & (PX_CACHE_LINE - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	struct px_table *t = region;
	uint32_t nb, nx;
	cfg_geometry(cfg, &nb, &nx);
	memset(t, 0, sizeof(*t));
	t->buckets = (struct tbl_bucket *)((uint8_t *)region + TBL_ALIGN(sizeof(*t)));
	t->extra = t->buckets + nb;
	t->log = (uint8_t *)(t->extra + nx);
	t->nbuckets = nb;
	t->nextra = nx;
	t->log_size = cfg->mem_bytes;
	t->log_end = t->log_size + cfg_item_max(cfg);
	t->mem_limit = t->mem_limit_max = cfg->mem_bytes - tbl_move_slack(cfg->mem_bytes);
	t->value_max = cfg_value_max(cfg);
	t->policy = cfg->policy;
	t->seed = cfg->hash_seed;
	t->cas_stride = cfg->cas_stride ? cfg->cas_stride : 1;
	t->cas_index = cfg->cas_index;
	memset(t->buckets, 0, (size_t)nb * sizeof(struct tbl_bucket));
	/* Overflow buckets form the free list through their next field. */
	for (uint32_t i = 0; i < nx; i++) {
		memset(&t->extra[i], 0, sizeof(t->extra[i]));
		t->extra[i].next = i + 1 < nx ? i + 2 : 0;
	}
	t->extra_free = nx ? 1 : 0;
	t->st.log_bytes = t->mem_limit;
	t->st.index_bytes = (uint64_t)nb * sizeof(struct tbl_bucket);
	return t;
}

/* ---- time ---- */

void tbl_set_time(struct px_table *t, uint32_t now)
{
	__atomic_store_n(&t->now, now, __ATOMIC_RELAXED);
	if (px_unlikely(t->flush_at != 0 && now >= t->flush_at))
		tbl_flush(t, 0);
}

uint32_t tbl_exptime(const struct px_table *t, int64_t e)
{
	if (e == 0)
		return 0;
	if (e < 0)
		return 1; /* unix second 1: already past */
	if (e <= TBL_RELATIVE_MAX)
		return t->now + (uint32_t)e;
	if (e > UINT32_MAX)
		return UINT32_MAX;
	return e <= t->now ? 1 : (uint32_t)e;
}

/* ---- reads ---- */

static inline __attribute__((always_inline)) void
item_view(const struct px_table *t, const uint8_t *it, uint64_t off, unsigned flags,
	  struct tbl_item *out)
{
	uint8_t meta = it[0];
	const uint8_t *w = it + ITEM_HDR_MIN;

	out->flags = (meta & ITEM_HAS_FLAGS) ? px_load32(w) : 0;
	w += (meta & ITEM_HAS_FLAGS) ? 4 : 0;
	out->exptime = (meta & ITEM_HAS_EXP) ? px_load32(w) : 0;
	w += (meta & ITEM_HAS_EXP) ? 4 : 0;
	w += (meta & ITEM_HAS_CAS) ? 8 : 0;
	out->klen = it[1];
	out->vlen = item_vlen(it);
	out->key = w;
	out->value = w + it[1];
	out->atime = px_load32(it + 5);
	out->fetched = meta & ITEM_FETCHED;
	out->stale = meta & ITEM_STALE;
	out->win_sent = meta & ITEM_WIN_SENT;
	out->cas = (flags & TBL_GET_CAS) ? tbl_item_cas(t, it, off) : 0;
}

/* Drop a found item that expired or was flushed; true if it was. */
static bool loc_reap(struct px_table *t, struct tbl_loc *loc)
{
	if (loc->slot == NULL || tbl_item_valid(t, loc->item, *loc->slot & TBL_OFF_MASK))
		return false;
	log_unlink(t, loc->primary, loc->slot);
	t->st.expired_reclaimed++;
	loc->slot = NULL;
	loc->item = NULL;
	return true;
}

static int get_finish(struct px_table *t, struct tbl_loc *loc, unsigned flags, struct tbl_item *out)
{
	loc_reap(t, loc);
	if (loc->slot == NULL) {
		t->st.misses++;
		out->key = NULL;
		return TBL_NOT_FOUND;
	}
	uint8_t *it = loc->item;
	item_view(t, it, *loc->slot & TBL_OFF_MASK, flags, out);
	if (flags & TBL_GET_BUMP) {
		/* Write only what changes: a hot item's line stays clean. */
		uint8_t meta = it[0], freq = meta & ITEM_FREQ_MASK;
		uint8_t nm = (uint8_t)(meta | ITEM_FETCHED) + (freq < ITEM_FREQ_MASK);
		if (nm != meta)
			it[0] = nm;
		if (out->atime != t->now)
			px_store32(it + 5, t->now);
	}
	t->st.hits++;
	return TBL_OK;
}

int tbl_get(struct px_table *t, const struct tbl_key *k, unsigned flags, struct tbl_item *out)
{
	struct tbl_loc loc;

	idx_find(t, k, &loc);
	return get_finish(t, &loc, flags, out);
}

/* Prefetch the lines an item's key and a short value lie on. */
static inline void item_prefetch(const uint8_t *it)
{
	px_prefetch(it);
	/* At 16-byte keys and 32-byte values most items cross a line. */
	if (((uintptr_t)it & (PX_CACHE_LINE - 1)) > PX_CACHE_LINE / 8)
		px_prefetch(it + PX_CACHE_LINE);
}

#define BURST_CHUNK 32

/*
 * One chunk of a burst, in four passes so each key's misses overlap those of
 * the others: hash -> prefetch primary buckets -> match tags, prefetching the
 * item or, when the primary bucket has no match but a successor, the first
 * overflow bucket -> match there -> compare keys. Chains longer than two
 * buckets and tag collisions fall back to idx_find().
 */
static unsigned lookup_chunk(struct px_table *t, const struct tbl_key *keys, unsigned n,
			     unsigned flags, struct tbl_item *out)
{
	struct tbl_bucket *b[BURST_CHUNK];
	uint64_t *slot[BURST_CHUNK];
	uint64_t seen[BURST_CHUNK];
	unsigned hits = 0, deep = 0;

	for (unsigned i = 0; i < n; i++) {
		b[i] = tbl_bucket_of(t, keys[i].hash);
		px_prefetch(b[i]);
	}
	/* Stage 2: first tag match in the primary bucket. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t tag = (uint64_t)tbl_tag(keys[i].hash) << TBL_TAG_SHIFT;
		unsigned m = tbl_bucket_match(b[i], tag);
		if (px_likely(m != 0)) {
			slot[i] = &b[i]->slot[__builtin_ctz(m)];
			seen[i] = *slot[i];
			item_prefetch(tbl_item_at(t, seen[i]));
			continue;
		}
		slot[i] = NULL;
		seen[i] = 0;
		struct tbl_bucket *x = tbl_next(t, b[i]);
		if (x != NULL) {
			px_prefetch(x);
			deep |= 1u << i;
		}
	}
	/* Stage 2b: keys whose chain goes on, in their first overflow bucket. */
	for (unsigned d = deep; d != 0; d &= d - 1) {
		unsigned i = (unsigned)__builtin_ctz(d);
		struct tbl_bucket *x = tbl_next(t, b[i]);
		uint64_t tag = (uint64_t)tbl_tag(keys[i].hash) << TBL_TAG_SHIFT;
		unsigned m = tbl_bucket_match(x, tag);
		if (m != 0) {
			slot[i] = &x->slot[__builtin_ctz(m)];
			seen[i] = *slot[i];
			item_prefetch(tbl_item_at(t, seen[i]));
		} else if (tbl_next(t, x) == NULL) {
			deep &= ~(1u << i); /* the whole chain is searched: a miss */
		}
	}
	/* Stage 3: confirm the key, else search the whole chain. */
	for (unsigned i = 0; i < n; i++) {
		const struct tbl_key *k = &keys[i];
		struct tbl_loc loc = {.primary = b[i], .slot = slot[i]};
		if (px_likely(loc.slot != NULL)) {
			uint8_t *it = tbl_item_at(t, seen[i]);
			/* An earlier key of this burst may have reaped this slot. */
			if (px_likely(*loc.slot == seen[i] && it[1] == k->klen &&
				      tbl_key_eq(item_key(it), k->key, k->klen)))
				loc.item = it;
			else
				idx_find(t, k, &loc);
		} else if (px_unlikely(deep & (1u << i))) {
			idx_find(t, k, &loc);
		}
		hits += get_finish(t, &loc, flags, &out[i]) == TBL_OK;
	}
	return hits;
}

unsigned tbl_lookup_burst(struct px_table *t, const struct tbl_key *keys, unsigned n,
			  unsigned flags, struct tbl_item *out)
{
	unsigned hits = 0;

	for (unsigned i = 0; i < n; i += BURST_CHUNK)
		hits += lookup_chunk(t, keys + i, PX_MIN(n - i, BURST_CHUNK), flags, out + i);
	return hits;
}

/* Copy the matching item of primary's chain into out/dst; the caller validates. */
static int read_chain(struct px_table *t, struct tbl_bucket *primary, const struct tbl_key *k,
		      uint8_t *dst, size_t buflen, struct tbl_item *out)
{
	uint64_t tag = (uint64_t)tbl_tag(k->hash) << TBL_TAG_SHIFT;
	unsigned steps = 0;

	for (struct tbl_bucket *b = primary; b != NULL && steps < TBL_CHAIN_MAX;
	     b = tbl_next(t, b), steps++) {
		for (unsigned i = 0; i < TBL_SLOTS; i++) {
			uint64_t s = __atomic_load_n(&b->slot[i], __ATOMIC_RELAXED);
			uint64_t off = s & TBL_OFF_MASK;
			if ((s & ~TBL_OFF_MASK) != tag || off >= t->log_size)
				continue;
			/* Bounds-check everything read from a possibly moving item. */
			const uint8_t *it = t->log + off;
			uint8_t meta = it[0];
			uint32_t hdr = item_hdr_len(meta), vlen = item_vlen(it);
			if (it[1] != k->klen || vlen > t->value_max ||
			    off + hdr + k->klen + vlen > t->log_end ||
			    memcmp(it + hdr, k->key, k->klen) != 0)
				continue;
			if (k->klen + (size_t)vlen > buflen)
				return TBL_BUF_SMALL;
			memcpy(dst, it + hdr, k->klen + (size_t)vlen);
			out->key = dst;
			out->klen = k->klen;
			out->value = dst + k->klen;
			out->vlen = vlen;
			out->flags = (meta & ITEM_HAS_FLAGS) ? px_load32(it + ITEM_HDR_MIN) : 0;
			out->exptime = (meta & ITEM_HAS_EXP) ?
				px_load32(it + ITEM_HDR_MIN + ((meta & ITEM_HAS_FLAGS) ? 4 : 0)) : 0;
			out->atime = px_load32(it + 5);
			out->fetched = meta & ITEM_FETCHED;
			out->stale = meta & ITEM_STALE;
			out->win_sent = meta & ITEM_WIN_SENT;
			out->cas = tbl_item_cas_remote(t, it, off);
			uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
			if (out->exptime != 0 && out->exptime <= __atomic_load_n(&t->now, __ATOMIC_RELAXED))
				return TBL_NOT_FOUND;
			if (__atomic_load_n(&t->flush_pos, __ATOMIC_RELAXED) >
			    tbl_pos_at(t, off, tail, tail % t->log_size))
				return TBL_NOT_FOUND;
			return TBL_OK;
		}
	}
	return TBL_NOT_FOUND;
}

int tbl_read_copy(struct px_table *t, const struct tbl_key *k, void *buf, size_t buflen,
		  struct tbl_item *out)
{
	struct tbl_bucket *primary = tbl_bucket_of(t, k->hash);

	for (;;) {
		uint32_t v1 = __atomic_load_n(&primary->version, __ATOMIC_ACQUIRE);
		if (!(v1 & 1)) {
			int rc = read_chain(t, primary, k, buf, buflen, out);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&primary->version, __ATOMIC_RELAXED) == v1)
				return rc;
		}
		atomic_fetch_add_explicit(&t->read_retries, 1, memory_order_relaxed);
	}
}

void tbl_prefetch_bucket(const struct px_table *t, uint64_t hash)
{
	px_prefetch(tbl_bucket_of(t, hash));
}

int tbl_prefetch_item(const struct px_table *t, uint64_t hash, unsigned depth)
{
	const struct tbl_bucket *b = tbl_bucket_of(t, hash);

	for (unsigned d = 0; d < depth && b != NULL; d++)
		b = tbl_next(t, b);
	if (b == NULL)
		return -1;
	unsigned m = tbl_bucket_match(b, (uint64_t)tbl_tag(hash) << TBL_TAG_SHIFT);
	if (m == 0) {
		/* Not here: about one item in ten lives in an overflow bucket
		 * (six items per seven-slot bucket on average). */
		const struct tbl_bucket *next = tbl_next(t, b);
		if (next == NULL)
			return -1;
		px_prefetch(next);
		return (int)depth + 1;
	}
	uint64_t off = __atomic_load_n(&b->slot[__builtin_ctz(m)], __ATOMIC_RELAXED) & TBL_OFF_MASK;
	if (off < t->log_size) {
		px_prefetch(t->log + off);
		px_prefetch(t->log + off + PX_CACHE_LINE);
	}
	return -1;
}

/* ---- writes ---- */

enum put_old { PUT_OLD_NONE, PUT_OLD_BEFORE, PUT_OLD_AFTER, PUT_OLD_ONLY };

/* What a new item version is made of. */
struct put {
	uint8_t meta;       /* ITEM_STALE / ITEM_WIN_SENT / ITEM_FETCHED to carry */
	uint32_t flags;
	uint32_t exptime;
	uint64_t cas;       /* explicit CAS, 0 = derive from the position */
	const void *v;
	uint32_t vlen;
	enum put_old old;   /* where the old value goes, if it is kept */
	uint32_t old_vlen;
	const struct tbl_loc *loc; /* the caller's lookup of k, reused if still valid */
	uint32_t pad;       /* spaces after v (memcached's in-place incr result) */
};

static void cas_floor_raise(struct px_table *t, uint64_t cas)
{
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
	/* Derived CAS values must stay above every explicit one ever stored. */
	if ((tail + 1 + t->cas_hint) * t->cas_stride + t->cas_index <= cas)
		__atomic_store_n(&t->cas_hint, cas / t->cas_stride - tail, __ATOMIC_RELAXED);
}

/*
 * Append the version described by p and link it in place of k's current
 * slot. Making room may move or evict k's old item, so the chain is searched
 * again afterwards; a put that needs the old value fails with
 * TBL_NOT_STORED if it was evicted meanwhile.
 */
static int item_put(struct px_table *t, const struct tbl_key *k, const struct put *p,
		    uint64_t *cas_out)
{
	uint32_t vlen = (p->old == PUT_OLD_ONLY ? 0 : p->vlen) +
			(p->old != PUT_OLD_NONE ? p->old_vlen : 0) + p->pad;
	uint8_t meta = p->meta | (p->flags ? ITEM_HAS_FLAGS : 0) | (p->exptime ? ITEM_HAS_EXP : 0) |
		       (p->cas ? ITEM_HAS_CAS : 0);
	uint32_t hdr = item_hdr_len(meta);
	uint32_t n = hdr + k->klen + vlen;
	struct tbl_loc loc;

	uint64_t gen = t->log_gen;
	if (log_reserve(t, n) != 0)
		return TBL_NO_MEMORY;
	bool late = false;
	if (p->loc != NULL && gen == t->log_gen) {
		loc = *p->loc; /* nothing live moved: the caller's lookup stands */
	} else if (p->old != PUT_OLD_NONE) {
		idx_find(t, k, &loc);
		loc_reap(t, &loc);
	} else {
		/* The old version is needed only to link: fetch it while writing. */
		struct tbl_bucket *b = tbl_bucket_of(t, k->hash);
		unsigned m = tbl_bucket_match(b, (uint64_t)tbl_tag(k->hash) << TBL_TAG_SHIFT);
		if (m != 0)
			px_prefetch(tbl_item_at(t, b->slot[__builtin_ctz(m)]));
		late = true;
	}
	const uint8_t *old = NULL;
	if (p->old != PUT_OLD_NONE) {
		if (loc.slot == NULL || item_vlen(loc.item) != p->old_vlen)
			return TBL_NOT_STORED;
		old = loc.item + item_hdr_len(loc.item[0]) + k->klen;
	}

	uint64_t pos, off = t->tail_off;
	uint8_t *it = log_append(t, &pos);
	uint8_t *w = it + ITEM_HDR_MIN;
	it[0] = meta;
	it[1] = (uint8_t)k->klen;
	it[2] = (uint8_t)vlen;
	it[3] = (uint8_t)(vlen >> 8);
	it[4] = (uint8_t)(vlen >> 16);
	px_store32(it + 5, t->now);
	if (p->flags) {
		px_store32(w, p->flags);
		w += 4;
	}
	if (p->exptime) {
		px_store32(w, p->exptime);
		w += 4;
	}
	if (p->cas) {
		px_store64(w, p->cas);
		w += 8;
	}
	memcpy(w, k->key, k->klen);
	w += k->klen;
	if (p->old == PUT_OLD_BEFORE || p->old == PUT_OLD_ONLY) {
		memcpy(w, old, p->old_vlen);
		w += p->old_vlen;
	}
	if (p->old != PUT_OLD_ONLY && p->vlen) {
		memcpy(w, p->v, p->vlen);
		w += p->vlen;
	}
	if (p->old == PUT_OLD_AFTER)
		memcpy(w, old, p->old_vlen);
	memset(w, ' ', p->pad);
	if (late) {
		idx_find(t, k, &loc);
		loc_reap(t, &loc);
	}

	tbl_tail_advance(t, n);
	tbl_write_begin(loc.primary);
	if (loc.slot != NULL) {
		t->st.bytes_used -= item_size(loc.item);
		__atomic_store_n(loc.slot, (*loc.slot & ~TBL_OFF_MASK) | off, __ATOMIC_RELAXED);
	} else {
		idx_insert(t, loc.primary, k->hash, off);
		t->st.items++;
	}
	tbl_write_end(loc.primary);
	t->st.bytes_used += n;
	if (p->cas)
		cas_floor_raise(t, p->cas);
	if (cas_out != NULL)
		*cas_out = tbl_item_cas(t, it, off);
	return TBL_OK;
}

static bool key_ok(const struct tbl_key *k)
{
	return k->klen >= 1 && k->klen <= TBL_KEY_MAX;
}

/* Find k's valid item for a mutation; expired and flushed ones are reaped. */
static void find_live(struct px_table *t, const struct tbl_key *k, struct tbl_loc *loc)
{
	idx_find(t, k, loc);
	loc_reap(t, loc);
}

int tbl_store(struct px_table *t, const struct tbl_store_req *r, uint64_t *cas_out)
{
	struct tbl_loc loc;
	struct put p = {
		.meta = r->stale ? ITEM_STALE : 0,
		.flags = r->flags,
		.exptime = r->exptime,
		.cas = r->cas_new,
		.v = r->value,
		.vlen = r->vlen,
		.old = PUT_OLD_NONE,
	};

	if (!key_ok(&r->k))
		return TBL_BAD_KEY;
	if (r->vlen > t->value_max)
		return TBL_TOO_LARGE;
	if (r->mode == TBL_SET && r->cas_in == 0) {
		/*
		 * A plain set stores whatever is there: look k up only after
		 * making room, with its bucket fetched meanwhile.
		 */
		px_prefetch(tbl_bucket_of(t, r->k.hash));
		int rc = item_put(t, &r->k, &p, cas_out);
		if (rc == TBL_OK)
			t->st.sets++;
		return rc;
	}
	find_live(t, &r->k, &loc);
	bool exists = loc.slot != NULL;
	switch (r->mode) {
	case TBL_ADD:
		if (exists)
			return TBL_NOT_STORED;
		break;
	case TBL_CAS:
		if (!exists)
			return TBL_NOT_FOUND;
		break;
	case TBL_SET:
		break;
	case TBL_REPLACE:
	case TBL_APPEND:
	case TBL_PREPEND:
		if (!exists)
			return TBL_NOT_STORED;
		break;
	}
	if ((r->mode == TBL_CAS || r->cas_in != 0) && exists) {
		if (tbl_item_cas(t, loc.item, *loc.slot & TBL_OFF_MASK) != r->cas_in)
			return TBL_EXISTS;
	} else if (r->cas_in != 0 && !exists) {
		return TBL_NOT_FOUND;
	}
	if (r->mode == TBL_APPEND || r->mode == TBL_PREPEND) {
		p.old = r->mode == TBL_APPEND ? PUT_OLD_BEFORE : PUT_OLD_AFTER;
		p.old_vlen = item_vlen(loc.item);
		p.flags = item_flags(loc.item);
		p.exptime = item_exptime(loc.item);
		if ((uint64_t)p.old_vlen + r->vlen > t->value_max)
			return TBL_TOO_LARGE;
	}
	p.loc = &loc;
	int rc = item_put(t, &r->k, &p, cas_out);
	if (rc == TBL_OK)
		t->st.sets++;
	return rc;
}

/* memcached's safe_strtoull over a value: optional spaces and sign, digits, then space or end. */
static bool parse_u64(const uint8_t *s, uint32_t len, uint64_t *out)
{
	uint32_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (len == 0) /* memcached: "can't delta zero byte values" */
		return false;
	while (i < len && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
		i++;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	uint32_t start = i;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (i < len && !(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
		return false;
	if (i == start) /* no digits: strtoull converted nothing */
		return false;
	if (neg && v != 0)
		return false;
	*out = v;
	return true;
}

int tbl_arith(struct px_table *t, const struct tbl_arith_req *r, uint64_t *value_out,
	      uint64_t *cas_out)
{
	struct tbl_loc loc;
	char digits[24];
	uint64_t v;

	if (!key_ok(&r->k))
		return TBL_BAD_KEY;
	find_live(t, &r->k, &loc);
	struct put p = { .cas = r->cas_new, .v = digits };
	if (loc.slot == NULL) {
		if (r->cas_in != 0 || !r->vivify)
			return TBL_NOT_FOUND;
		v = r->initial;
		p.exptime = r->exptime;
		p.vlen = (uint32_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	} else {
		const uint8_t *it = loc.item;
		uint32_t old_vlen = item_vlen(it);
		if (r->cas_in != 0 && tbl_item_cas(t, it, *loc.slot & TBL_OFF_MASK) != r->cas_in)
			return TBL_EXISTS;
		if (!parse_u64(item_key(it) + it[1], old_vlen, &v))
			return TBL_NON_NUMERIC;
		if (r->incr)
			v += r->delta;
		else
			v = v > r->delta ? v - r->delta : 0;
		p.vlen = (uint32_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
		/* memcached rewrites a shorter result in place, padded with spaces. */
		if (p.vlen < old_vlen)
			p.pad = old_vlen - p.vlen;
		p.flags = item_flags(it);
		p.exptime = item_exptime(it);
		/* memcached rewrites in place when the result fits, keeping the
		 * item's flags; a longer result is a new item */
		p.meta = it[0] & (p.vlen + p.pad <= old_vlen ?
				  (ITEM_FETCHED | ITEM_STALE | ITEM_WIN_SENT) : 0);
	}
	p.loc = &loc;
	int rc = item_put(t, &r->k, &p, cas_out);
	if (rc == TBL_OK && value_out != NULL)
		*value_out = v;
	return rc;
}

/* Rewrite k's live item with new metadata, keeping its value. */
static int item_rewrite(struct px_table *t, struct tbl_loc *loc, const struct tbl_key *k,
			uint8_t meta, uint32_t exptime, uint64_t cas, uint64_t *cas_out)
{
	const uint8_t *it = loc->item;
	struct put p = {
		.meta = meta,
		.flags = item_flags(it),
		.exptime = exptime,
		.cas = cas,
		.old = PUT_OLD_ONLY,
		.old_vlen = item_vlen(it),
		.loc = loc,
	};
	return item_put(t, k, &p, cas_out);
}

int tbl_touch(struct px_table *t, const struct tbl_key *k, uint32_t exptime)
{
	struct tbl_loc loc;

	if (!key_ok(k))
		return TBL_BAD_KEY;
	find_live(t, k, &loc);
	if (loc.slot == NULL)
		return TBL_NOT_FOUND;
	uint8_t *it = loc.item;
	if (!(it[0] & ITEM_HAS_EXP) && exptime == 0) {
		px_store32(it + 5, t->now);
		return TBL_OK;
	}
	if ((it[0] & ITEM_HAS_EXP) && exptime != 0) {
		/* The field exists: rewrite it in place, inside the chain's seqlock. */
		tbl_write_begin(loc.primary);
		px_store32(it + ITEM_HDR_MIN + ((it[0] & ITEM_HAS_FLAGS) ? 4 : 0), exptime);
		px_store32(it + 5, t->now);
		tbl_write_end(loc.primary);
		return TBL_OK;
	}
	uint64_t cas = tbl_item_cas(t, it, *loc.slot & TBL_OFF_MASK);
	uint8_t meta = it[0] & (ITEM_FETCHED | ITEM_STALE | ITEM_WIN_SENT | ITEM_FREQ_MASK);
	return item_rewrite(t, &loc, k, meta, exptime, cas, NULL);
}

/* k's live item for a change guarded by cas_in (0: unguarded). */
static int find_guarded(struct px_table *t, const struct tbl_key *k, uint64_t cas_in,
			struct tbl_loc *loc)
{
	if (!key_ok(k))
		return TBL_BAD_KEY;
	find_live(t, k, loc);
	if (loc->slot == NULL)
		return TBL_NOT_FOUND;
	if (cas_in != 0 && tbl_item_cas(t, loc->item, *loc->slot & TBL_OFF_MASK) != cas_in)
		return TBL_EXISTS;
	return TBL_OK;
}

int tbl_delete(struct px_table *t, const struct tbl_key *k, uint64_t cas_in)
{
	struct tbl_loc loc;
	int rc = find_guarded(t, k, cas_in, &loc);

	if (rc == TBL_OK)
		log_unlink(t, loc.primary, loc.slot);
	return rc;
}

int tbl_invalidate(struct px_table *t, const struct tbl_key *k, uint64_t cas_in, uint32_t exptime)
{
	struct tbl_loc loc;
	int rc = find_guarded(t, k, cas_in, &loc);

	if (rc != TBL_OK)
		return rc;
	uint8_t meta = (loc.item[0] & ITEM_FETCHED) | ITEM_STALE;
	return item_rewrite(t, &loc, k, meta, exptime ? exptime : item_exptime(loc.item), 0, NULL);
}

void tbl_mark_win_sent(struct px_table *t, const struct tbl_key *k)
{
	struct tbl_loc loc;

	find_live(t, k, &loc);
	if (loc.slot == NULL)
		return;
	tbl_write_begin(loc.primary);
	loc.item[0] |= ITEM_WIN_SENT;
	tbl_write_end(loc.primary);
}

void tbl_flush(struct px_table *t, uint32_t when)
{
	if (when != 0 && when > t->now) {
		t->flush_at = when;
		return;
	}
	t->flush_at = 0;
	__atomic_store_n(&t->flush_pos, atomic_load_explicit(&t->tail, memory_order_relaxed),
			 __ATOMIC_RELAXED);
	t->st.flushes++;
}

unsigned tbl_sweep(struct px_table *t, unsigned budget)
{
	uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
	unsigned seen = 0;

	if (t->sweep_pos < t->head || t->sweep_pos >= tail)
		t->sweep_pos = t->head;
	while (seen < budget && t->sweep_pos < tail) {
		uint64_t off = t->sweep_pos % t->log_size;
		uint8_t *it = t->log + off;
		seen++;
		t->sweep_pos += item_size(it);
		if (tbl_item_valid(t, it, off))
			continue;
		struct tbl_bucket *primary;
		uint64_t *slot = idx_find_off(t, item_key(it), it[1], off, &primary);
		if (slot != NULL) {
			log_unlink(t, primary, slot);
			t->st.expired_reclaimed++;
		}
	}
	return seen;
}

void tbl_set_mem_limit(struct px_table *t, uint64_t bytes)
{
	uint64_t lo = 2 * ((uint64_t)ITEM_HDR_MAX + TBL_KEY_MAX + t->value_max);

	t->mem_limit = PX_MAX(lo, PX_MIN(bytes, t->mem_limit_max));
	t->st.log_bytes = t->mem_limit;
	/* Shrink now, so memory in use honours the limit before the next write. */
	log_reserve(t, 0);
}

void tbl_stats_get(const struct px_table *t, struct tbl_stats *out)
{
	*out = t->st;
	out->read_retries = atomic_load_explicit(&((struct px_table *)t)->read_retries,
						 memory_order_relaxed);
}

const char *tbl_policy_name(enum tbl_policy p)
{
	return p == TBL_POLICY_FIFO ? "fifo" : p == TBL_POLICY_CLOCK ? "clock" : "?";
}

int tbl_policy_parse(const char *s, enum tbl_policy *out)
{
	if (strcmp(s, "fifo") == 0)
		*out = TBL_POLICY_FIFO;
	else if (strcmp(s, "clock") == 0)
		*out = TBL_POLICY_CLOCK;
	else
		return -EINVAL;
	return 0;
}
