/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Exact LRU simulator. Nodes are indices into parallel arrays (key, prev,
 * next); the list runs from head (most recent) to tail (least recent). The
 * map is linear probing over a power-of-two slot array at most half full,
 * holding node index + 1 (0 = empty), with backward-shift deletion so no
 * tombstones build up. Once full, an insertion reuses the tail node in place.
 */
#include <errno.h>
#include <stdlib.h>

#include "lru.h"

#define LRU_NIL UINT32_MAX

struct lru {
	uint32_t cap;
	uint32_t count;
	uint32_t head;    /* most recently used node, LRU_NIL when empty */
	uint32_t tail;    /* least recently used node */
	uint32_t mask;    /* slots - 1 */
	uint32_t *slots;  /* node + 1, 0 = empty */
	uint64_t *keys;
	uint32_t *prev;
	uint32_t *next;
};

static uint32_t key_home(const struct lru *l, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ULL;
	key ^= key >> 33;
	return (uint32_t)key & l->mask;
}

struct lru *lru_create(uint32_t capacity)
{
	if (capacity == 0 || capacity > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}

	struct lru *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	uint64_t nslots = 2;
	while (nslots < 2ULL * capacity)
		nslots <<= 1;
	l->cap = capacity;
	l->head = l->tail = LRU_NIL;
	l->mask = (uint32_t)(nslots - 1);
	l->slots = calloc(nslots, sizeof(*l->slots));
	l->keys = malloc((size_t)capacity * sizeof(*l->keys));
	l->prev = malloc((size_t)capacity * sizeof(*l->prev));
	l->next = malloc((size_t)capacity * sizeof(*l->next));
	if (l->slots == NULL || l->keys == NULL || l->prev == NULL || l->next == NULL)
		goto err;
	return l;
err:
	lru_destroy(l);
	errno = ENOMEM;
	return NULL;
}

void lru_destroy(struct lru *l)
{
	if (l == NULL)
		return;
	free(l->slots);
	free(l->keys);
	free(l->prev);
	free(l->next);
	free(l);
}

/* Slot holding key, or the empty slot where it would go. Probes at most mask + 1 slots. */
static uint32_t map_find(const struct lru *l, uint64_t key)
{
	uint32_t i = key_home(l, key);

	while (l->slots[i] != 0 && l->keys[l->slots[i] - 1] != key)
		i = (i + 1) & l->mask;
	return i;
}

/* Empty slot i and shift later members of its probe run back over it. */
static void map_remove_at(struct lru *l, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & l->mask;
		if (l->slots[j] == 0)
			break;
		uint32_t home = key_home(l, l->keys[l->slots[j] - 1]);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			l->slots[i] = l->slots[j];
			i = j;
		}
	}
	l->slots[i] = 0;
}

static void list_unlink(struct lru *l, uint32_t n)
{
	uint32_t p = l->prev[n], x = l->next[n];

	if (p != LRU_NIL)
		l->next[p] = x;
	else
		l->head = x;
	if (x != LRU_NIL)
		l->prev[x] = p;
	else
		l->tail = p;
}

static void list_push_head(struct lru *l, uint32_t n)
{
	l->prev[n] = LRU_NIL;
	l->next[n] = l->head;
	if (l->head != LRU_NIL)
		l->prev[l->head] = n;
	else
		l->tail = n;
	l->head = n;
}

enum lru_result lru_access(struct lru *l, uint64_t key, uint64_t *victim)
{
	uint32_t slot = map_find(l, key);
	uint32_t n;

	if (l->slots[slot] != 0) {
		n = l->slots[slot] - 1;
		if (l->head != n) {
			list_unlink(l, n);
			list_push_head(l, n);
		}
		return LRU_HIT;
	}

	enum lru_result res = LRU_MISS;
	if (l->count < l->cap) {
		n = l->count++;
	} else {
		n = l->tail;
		if (victim != NULL)
			*victim = l->keys[n];
		list_unlink(l, n);
		map_remove_at(l, map_find(l, l->keys[n]));
		/* The removal may have shifted the empty slot we found for key. */
		slot = map_find(l, key);
		res = LRU_MISS_EVICTED;
	}
	l->keys[n] = key;
	l->slots[slot] = n + 1;
	list_push_head(l, n);
	return res;
}

bool lru_contains(const struct lru *l, uint64_t key)
{
	return l->slots[map_find(l, key)] != 0;
}

uint32_t lru_count(const struct lru *l)
{
	return l->count;
}

uint32_t lru_capacity(const struct lru *l)
{
	return l->cap;
}
