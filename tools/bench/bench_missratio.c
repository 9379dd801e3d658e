/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The miss-ratio simulation (see bench_missratio.h). The table's log is sized
 * from the table itself: one item is stored in a probe table and its
 * bytes_used is the per-item footprint, so header, alignment and policy
 * bits are all counted and the log holds capacity items. Tables live in plain
 * aligned heap memory: nothing here is timed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_clock.h"

#include "bench_missratio.h"
#include "lru.h"

/* A table and its region, both freed by sim_table_free(). */
struct sim_table {
	struct px_table *t;
	void *region;
};

static int sim_table_create(struct sim_table *st, const struct tbl_config *cfg)
{
	size_t len = tbl_region_size(cfg);

	st->t = NULL;
	st->region = NULL;
	if (len == 0) {
		int err = errno != 0 ? errno : EINVAL;
		fprintf(stderr, "pollux-bench: tbl_region_size(mem_bytes=%" PRIu64
			", index_items=%" PRIu64 ") failed: %s\n",
			cfg->mem_bytes, cfg->index_items, strerror(err));
		return -err;
	}
	len = (len + 63) & ~(size_t)63;
	st->region = aligned_alloc(64, len);
	if (st->region == NULL)
		return -ENOMEM;
	st->t = tbl_create(cfg, st->region, len);
	if (st->t == NULL) {
		int err = errno != 0 ? errno : EINVAL;
		fprintf(stderr, "pollux-bench: tbl_create for the simulation failed: %s\n",
			strerror(err));
		free(st->region);
		st->region = NULL;
		return -err;
	}
	tbl_set_time(st->t, px_clock_unix());
	return 0;
}

static void sim_table_free(struct sim_table *st)
{
	free(st->region);
	st->region = NULL;
	st->t = NULL;
}

static int sim_store(struct px_table *t, const struct bench_keys *keys, uint64_t i,
		     uint8_t *val, uint32_t vlen)
{
	struct tbl_store_req req = {
		.k = {.key = bench_key(keys, i), .klen = keys->size, .hash = keys->hashes[i]},
		.value = val,
		.vlen = vlen,
		.mode = TBL_SET,
	};

	bench_value_stamp(val, vlen, i);
	return tbl_store(t, &req, NULL);
}

/* Log bytes one item of this key and value size takes, read from the table. */
static int measure_item_bytes(const struct missratio_cfg *c, uint8_t *val, uint64_t *out)
{
	uint64_t guess = 64 + c->keys->size + c->value_size;
	struct tbl_config cfg = {
		.mem_bytes = 64 * guess + (1u << 20),
		.index_items = 64,
		.value_max = c->value_size,
		.policy = c->policy,
		.hash_seed = c->hash_seed,
	};
	struct sim_table st;
	struct tbl_stats s;
	int rc = sim_table_create(&st, &cfg);

	if (rc < 0)
		return rc;
	rc = sim_store(st.t, c->keys, 0, val, c->value_size);
	tbl_stats_get(st.t, &s);
	sim_table_free(&st);
	if (rc != TBL_OK || s.items != 1 || s.bytes_used == 0) {
		fprintf(stderr, "pollux-bench: probe store failed (status %d, items %" PRIu64
			", bytes_used %" PRIu64 ")\n", rc, s.items, s.bytes_used);
		return -EIO;
	}
	*out = s.bytes_used;
	return 0;
}

int missratio_run(const struct missratio_cfg *c, struct missratio_result *r)
{
	const struct bench_keys *keys = c->keys;
	struct sim_table st = {0};
	struct lru *lru = NULL;
	uint64_t tmiss = 0, lmiss = 0;
	uint8_t *val;
	int rc;

	memset(r, 0, sizeof(*r));
	val = malloc(c->value_size > 0 ? c->value_size : 1);
	if (val == NULL)
		return -ENOMEM;
	memset(val, 'v', c->value_size);

	r->capacity = keys->n / 10 > 0 ? keys->n / 10 : 1;
	rc = measure_item_bytes(c, val, &r->item_bytes);
	if (rc < 0)
		goto out;
	r->mem_bytes = r->capacity * r->item_bytes;

	struct tbl_config cfg = {
		.mem_bytes = r->mem_bytes,
		.index_items = (r->capacity * 12 + 9) / 10,
		.value_max = c->value_size,
		.policy = c->policy,
		.hash_seed = c->hash_seed,
	};
	rc = sim_table_create(&st, &cfg);
	if (rc < 0)
		goto out;
	lru = lru_create((uint32_t)r->capacity);
	if (lru == NULL) {
		rc = -errno;
		goto out;
	}

	for (uint64_t n = 0; n < c->warmup + c->requests; n++) {
		uint64_t i = zipf_next(c->gen);
		struct tbl_key k = {.key = bench_key(keys, i), .klen = keys->size,
				    .hash = keys->hashes[i]};
		struct tbl_item it;
		bool counted = n >= c->warmup;

		if (tbl_get(st.t, &k, TBL_GET_BUMP, &it) == TBL_OK) {
			if (it.vlen != c->value_size || !bench_value_ok(it.value, it.vlen, i))
				r->verify_errors++;
		} else {
			tmiss += counted;
			if (sim_store(st.t, keys, i, val, c->value_size) != TBL_OK)
				r->store_errors++;
		}
		if (lru_access(lru, i, NULL) != LRU_HIT)
			lmiss += counted;
	}

	struct tbl_stats s;
	tbl_stats_get(st.t, &s);
	r->table_items = s.items;
	r->evictions = s.evictions;
	r->reinserted = s.reinserted;
	r->index_evictions = s.index_evictions;
	r->miss_ratio = c->requests > 0 ? (double)tmiss / (double)c->requests : 0;
	r->lru_miss_ratio = c->requests > 0 ? (double)lmiss / (double)c->requests : 0;
	rc = 0;
out:
	lru_destroy(lru);
	sim_table_free(&st);
	free(val);
	return rc;
}
