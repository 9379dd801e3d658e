/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Miss-ratio simulation for `pollux-bench table`: a read-through cache of a
 * tenth of the key space, driven by get requests from the key distribution
 * with a demand fill (set) on every miss, run on the Pollux table with its
 * configured policy and on an exact LRU of the same item capacity. Counted,
 * not timed.
 */
#ifndef PX_BENCH_MISSRATIO_H
#define PX_BENCH_MISSRATIO_H

#include <stdint.h>

#include "table/table.h"

#include "bench_keys.h"
#include "zipf.h"

struct missratio_cfg {
	const struct bench_keys *keys;
	uint32_t value_size;
	struct zipf_gen *gen;      /* key sampler over keys->n; advanced */
	enum tbl_policy policy;
	uint64_t hash_seed;        /* the seed keys->hashes were made with */
	uint64_t warmup;           /* requests before counting */
	uint64_t requests;         /* requests counted */
};

struct missratio_result {
	uint64_t capacity;         /* items both caches hold: keys / 10 */
	uint64_t item_bytes;       /* log bytes per item, measured on the table */
	uint64_t mem_bytes;        /* table log size: capacity * item_bytes */
	double miss_ratio;         /* Pollux table, configured policy */
	double lru_miss_ratio;     /* exact LRU */
	/* Table state at the end, to explain its figure. */
	uint64_t table_items;
	uint64_t evictions;
	uint64_t reinserted;
	uint64_t index_evictions;
	uint64_t store_errors;     /* demand fills the table refused */
	uint64_t verify_errors;    /* hits that returned another key's value */
};

/* Run the simulation. Returns 0, or a negative errno after printing why. */
int missratio_run(const struct missratio_cfg *c, struct missratio_result *r);

#endif
