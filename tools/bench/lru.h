/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An exact LRU cache simulator over 64-bit key ids, the yardstick the bench
 * holds the table's eviction policy to. It tracks only membership and order
 * (no values): an open-addressing hash map finds a key's node, and an
 * intrusive doubly-linked list over index arrays keeps recency. Every
 * operation is O(1); all memory is allocated by lru_create().
 */
#ifndef PX_BENCH_LRU_H
#define PX_BENCH_LRU_H

#include <stdbool.h>
#include <stdint.h>

struct lru;

enum lru_result {
	LRU_HIT,          /* key was cached; now most recently used */
	LRU_MISS,         /* key inserted into free room */
	LRU_MISS_EVICTED, /* key inserted, the least recently used key evicted */
};

/* A cache of capacity keys (1 <= capacity <= 2^30); NULL with errno set. */
struct lru *lru_create(uint32_t capacity);
void lru_destroy(struct lru *l);

/*
 * Reference key: a hit moves it to the MRU end; a miss inserts it there
 * (demand fill), evicting the LRU key when full and storing it in *victim
 * when victim is non-NULL.
 */
enum lru_result lru_access(struct lru *l, uint64_t key, uint64_t *victim);
/* Membership test that does not change recency. */
bool lru_contains(const struct lru *l, uint64_t key);
uint32_t lru_count(const struct lru *l);
uint32_t lru_capacity(const struct lru *l);

#endif
