/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the storage engine: every operation with memcached's result
 * codes, each exptime rule, CAS, arithmetic edges, limits, eviction under
 * both policies, flush with and without delay, the expiry sweep, and a reader
 * thread copying items while the owner overwrites and evicts them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>

#include <cmocka.h>

#include "table/table.h"
#include "table/table_pvt.h" /* chain walks in test_prefetch_chain */

#define SEED 0x5eed
#define NOW 1700000000u

struct fixture {
	struct px_table *t;
	void *mem;
	size_t len;
};

static struct px_table *mk(struct fixture *f, uint64_t mem, uint64_t items, uint32_t vmax,
			   enum tbl_policy pol)
{
	struct tbl_config cfg = {
		.mem_bytes = mem, .index_items = items, .value_max = vmax,
		.policy = pol, .hash_seed = SEED,
	};
	f->len = tbl_region_size(&cfg);
	assert_true(f->len > 0);
	f->mem = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	f->t = tbl_create(&cfg, f->mem, f->len);
	assert_non_null(f->t);
	tbl_set_time(f->t, NOW);
	return f->t;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	mk(f, 1 << 20, 4096, 4096, TBL_POLICY_CLOCK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	munmap(f->mem, f->len);
	free(f);
	return 0;
}

static struct tbl_key K(const char *s)
{
	struct tbl_key k = { s, (uint32_t)strlen(s), tbl_hash(s, strlen(s), SEED) };
	return k;
}

static int put(struct px_table *t, enum tbl_store_mode m, const char *key, const char *val,
	       uint32_t flags, uint32_t exptime, uint64_t cas_in, uint64_t *cas_out)
{
	struct tbl_store_req r = {
		.k = K(key), .value = val, .vlen = (uint32_t)strlen(val), .flags = flags,
		.exptime = exptime, .mode = m, .cas_in = cas_in,
	};
	return tbl_store(t, &r, cas_out);
}

static void want_value(struct px_table *t, const char *key, const char *val)
{
	struct tbl_item it;
	struct tbl_key k = K(key);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_int_equal(it.vlen, strlen(val));
	assert_memory_equal(it.value, val, it.vlen);
	assert_int_equal(it.klen, strlen(key));
	assert_memory_equal(it.key, key, it.klen);
}

static void want_miss(struct px_table *t, const char *key)
{
	struct tbl_item it;
	struct tbl_key k = K(key);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_NOT_FOUND);
}

static void test_set_get(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	uint64_t c1, c2;
	struct tbl_item it;
	struct tbl_key k = K("foo");

	want_miss(t, "foo");
	assert_int_equal(put(t, TBL_SET, "foo", "bar", 42, 0, 0, &c1), TBL_OK);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_int_equal(it.flags, 42);
	assert_int_equal(it.exptime, 0);
	assert_int_equal(it.cas, c1);
	assert_false(it.fetched);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_true(it.fetched);
	assert_int_equal(put(t, TBL_SET, "foo", "baz!", 0, 0, 0, &c2), TBL_OK);
	assert_true(c2 > c1);
	want_value(t, "foo", "baz!");
	assert_int_equal(put(t, TBL_SET, "empty", "", 0, 0, 0, NULL), TBL_OK);
	want_value(t, "empty", "");

	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.items, 2);
	assert_int_equal(st.sets, 3);
	assert_int_equal(st.hits, 4);
	assert_int_equal(st.misses, 1);
}

static void test_exptime_rules(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;

	assert_int_equal(tbl_exptime(t, 0), 0);
	assert_int_equal(tbl_exptime(t, 100), NOW + 100);
	assert_int_equal(tbl_exptime(t, 2592000), NOW + 2592000); /* 30 days: relative */
	assert_int_equal(tbl_exptime(t, 2592001), 1);             /* absolute, long past */
	assert_int_equal(tbl_exptime(t, NOW + 500), NOW + 500);   /* absolute future */
	assert_int_equal(tbl_exptime(t, NOW), 1);                 /* absolute now: past */
	assert_int_equal(tbl_exptime(t, -1), 1);                  /* negative: expired */

	put(t, TBL_SET, "never", "v", 0, tbl_exptime(t, 0), 0, NULL);
	put(t, TBL_SET, "rel", "v", 0, tbl_exptime(t, 10), 0, NULL);
	put(t, TBL_SET, "abs", "v", 0, tbl_exptime(t, NOW + 20), 0, NULL);
	put(t, TBL_SET, "neg", "v", 0, tbl_exptime(t, -1), 0, NULL);
	put(t, TBL_SET, "past", "v", 0, tbl_exptime(t, NOW - 5), 0, NULL);
	want_miss(t, "neg");
	want_miss(t, "past");
	want_value(t, "rel", "v");
	tbl_set_time(t, NOW + 9);
	want_value(t, "rel", "v");
	tbl_set_time(t, NOW + 10); /* expires at exptime <= now, as memcached */
	want_miss(t, "rel");
	want_value(t, "abs", "v");
	tbl_set_time(t, NOW + 20);
	want_miss(t, "abs");
	tbl_set_time(t, NOW + 100000000);
	want_value(t, "never", "v");

	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.expired_reclaimed, 4);
	assert_int_equal(st.items, 1);
}

static void test_add_replace(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;

	assert_int_equal(put(t, TBL_REPLACE, "k", "x", 0, 0, 0, NULL), TBL_NOT_STORED);
	assert_int_equal(put(t, TBL_ADD, "k", "1", 0, 0, 0, NULL), TBL_OK);
	assert_int_equal(put(t, TBL_ADD, "k", "2", 0, 0, 0, NULL), TBL_NOT_STORED);
	want_value(t, "k", "1");
	assert_int_equal(put(t, TBL_REPLACE, "k", "3", 7, 0, 0, NULL), TBL_OK);
	want_value(t, "k", "3");
	/* add over an expired item succeeds */
	put(t, TBL_SET, "e", "old", 0, NOW + 1, 0, NULL);
	tbl_set_time(t, NOW + 1);
	assert_int_equal(put(t, TBL_ADD, "e", "new", 0, 0, 0, NULL), TBL_OK);
	want_value(t, "e", "new");
}

static void test_append_prepend(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	struct tbl_item it;
	struct tbl_key k = K("ap");

	assert_int_equal(put(t, TBL_APPEND, "ap", "x", 0, 0, 0, NULL), TBL_NOT_STORED);
	assert_int_equal(put(t, TBL_PREPEND, "ap", "x", 0, 0, 0, NULL), TBL_NOT_STORED);
	want_miss(t, "ap");
	put(t, TBL_SET, "ap", "mid", 99, NOW + 1000, 0, NULL);
	assert_int_equal(put(t, TBL_APPEND, "ap", "_end", 1, 5, 0, NULL), TBL_OK);
	assert_int_equal(put(t, TBL_PREPEND, "ap", "start_", 2, 6, 0, NULL), TBL_OK);
	want_value(t, "ap", "start_mid_end");
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_int_equal(it.flags, 99);           /* flags and exptime of the old item */
	assert_int_equal(it.exptime, NOW + 1000);
}

static void test_cas(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	uint64_t c, c2;

	assert_int_equal(put(t, TBL_CAS, "c", "v", 0, 0, 12345, NULL), TBL_NOT_FOUND);
	put(t, TBL_SET, "c", "v1", 0, 0, 0, &c);
	assert_int_equal(put(t, TBL_CAS, "c", "v2", 0, 0, c + 1, NULL), TBL_EXISTS);
	want_value(t, "c", "v1");
	assert_int_equal(put(t, TBL_CAS, "c", "v2", 0, 0, c, &c2), TBL_OK);
	assert_true(c2 != c);
	want_value(t, "c", "v2");
	assert_int_equal(put(t, TBL_CAS, "c", "v3", 0, 0, c, NULL), TBL_EXISTS);
	/* touch keeps the CAS; delete honours it */
	struct tbl_key k = K("c");
	struct tbl_item it;
	assert_int_equal(tbl_touch(t, &k, NOW + 50), TBL_OK);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_int_equal(it.cas, c2);
	assert_int_equal(it.exptime, NOW + 50);
	assert_int_equal(tbl_delete(t, &k, c2 + 7), TBL_EXISTS);
	assert_int_equal(tbl_delete(t, &k, c2), TBL_OK);
	/* an explicit CAS (meta E) is kept, and later derived ones stay above it */
	struct tbl_store_req r = { .k = K("e"), .value = "x", .vlen = 1, .mode = TBL_SET,
				   .cas_new = 1ULL << 40 };
	assert_int_equal(tbl_store(t, &r, &c), TBL_OK);
	assert_int_equal(c, 1ULL << 40);
	put(t, TBL_SET, "f", "y", 0, 0, 0, &c2);
	assert_true(c2 > (1ULL << 40));
}

static int arith(struct px_table *t, const char *key, bool incr, uint64_t d, uint64_t *out)
{
	struct tbl_arith_req r = { .k = K(key), .incr = incr, .delta = d };
	return tbl_arith(t, &r, out, NULL);
}

static void test_arith(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	uint64_t v;

	assert_int_equal(arith(t, "n", true, 1, &v), TBL_NOT_FOUND);
	put(t, TBL_SET, "n", "10", 5, 0, 0, NULL);
	assert_int_equal(arith(t, "n", true, 5, &v), TBL_OK);
	assert_int_equal(v, 15);
	want_value(t, "n", "15");
	assert_int_equal(arith(t, "n", false, 100, &v), TBL_OK); /* decr floors at 0 */
	assert_int_equal(v, 0);
	want_value(t, "n", "0 "); /* memcached pads a shorter result in place */
	put(t, TBL_SET, "n", "18446744073709551615", 0, 0, 0, NULL);
	assert_int_equal(arith(t, "n", true, 2, &v), TBL_OK); /* incr wraps at 2^64 */
	assert_int_equal(v, 1);
	put(t, TBL_SET, "n", "99", 0, 0, 0, NULL);
	assert_int_equal(arith(t, "n", true, 1, &v), TBL_OK);
	want_value(t, "n", "100");
	put(t, TBL_SET, "s", "abc", 0, 0, 0, NULL);
	assert_int_equal(arith(t, "s", true, 1, &v), TBL_NON_NUMERIC);
	put(t, TBL_SET, "s", "12abc", 0, 0, 0, NULL);
	assert_int_equal(arith(t, "s", true, 1, &v), TBL_NON_NUMERIC);
	put(t, TBL_SET, "s", "-5", 0, 0, 0, NULL);
	assert_int_equal(arith(t, "s", true, 1, &v), TBL_NON_NUMERIC);
	put(t, TBL_SET, "s", "99999999999999999999", 0, 0, 0, NULL); /* > 2^64 */
	assert_int_equal(arith(t, "s", true, 1, &v), TBL_NON_NUMERIC);
	struct tbl_arith_req viv = { .k = K("auto"), .incr = true, .delta = 3, .vivify = true,
				     .initial = 7 };
	assert_int_equal(tbl_arith(t, &viv, &v, NULL), TBL_OK);
	assert_int_equal(v, 7);
	assert_int_equal(tbl_arith(t, &viv, &v, NULL), TBL_OK);
	assert_int_equal(v, 10);
	/* flags survive arithmetic */
	struct tbl_item it;
	struct tbl_key k = K("n");
	put(t, TBL_SET, "n", "1", 77, 0, 0, NULL);
	arith(t, "n", true, 1, &v);
	tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it);
	assert_int_equal(it.flags, 77);
}

static void test_touch_delete(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	struct tbl_key k = K("t");

	assert_int_equal(tbl_touch(t, &k, NOW + 5), TBL_NOT_FOUND);
	assert_int_equal(tbl_delete(t, &k, 0), TBL_NOT_FOUND);
	put(t, TBL_SET, "t", "v", 0, 0, 0, NULL);
	assert_int_equal(tbl_touch(t, &k, NOW + 5), TBL_OK);
	tbl_set_time(t, NOW + 5);
	want_miss(t, "t");
	put(t, TBL_SET, "t", "v", 0, NOW + 50, 0, NULL);
	assert_int_equal(tbl_touch(t, &k, 0), TBL_OK); /* touch to never */
	tbl_set_time(t, NOW + 100);
	want_value(t, "t", "v");
	assert_int_equal(tbl_delete(t, &k, 0), TBL_OK);
	want_miss(t, "t");
	assert_int_equal(tbl_delete(t, &k, 0), TBL_NOT_FOUND);
}

static void test_limits(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	char key[252], *val = malloc(4097);

	memset(key, 'k', sizeof(key));
	key[250] = 0;
	memset(val, 'v', 4096);
	val[4096] = 0;
	assert_int_equal(put(t, TBL_SET, key, "x", 0, 0, 0, NULL), TBL_OK);
	want_value(t, key, "x");
	key[250] = 'k';
	key[251] = 0;
	assert_int_equal(put(t, TBL_SET, key, "x", 0, 0, 0, NULL), TBL_BAD_KEY);
	assert_int_equal(put(t, TBL_SET, "", "x", 0, 0, 0, NULL), TBL_BAD_KEY);
	assert_int_equal(put(t, TBL_SET, "big", val, 0, 0, 0, NULL), TBL_OK); /* == limit */
	val[4096] = 'v';
	val = realloc(val, 4098);
	val[4097] = 0;
	assert_int_equal(put(t, TBL_SET, "big2", val, 0, 0, 0, NULL), TBL_TOO_LARGE);
	/* append that would cross the limit */
	val[4000] = 0;
	assert_int_equal(put(t, TBL_APPEND, "big", val, 0, 0, 0, NULL), TBL_TOO_LARGE);
	free(val);

	struct tbl_config bad = { .mem_bytes = 1000, .value_max = 4096, .hash_seed = SEED };
	assert_int_equal(tbl_region_size(&bad), 0);
	bad.mem_bytes = 1 << 20;
	bad.value_max = TBL_VALUE_MAX_LIMIT + 1;
	assert_int_equal(tbl_region_size(&bad), 0);
}

static void fill(struct px_table *t, unsigned from, unsigned to, unsigned vlen)
{
	char key[32], val[512];
	for (unsigned i = from; i < to; i++) {
		snprintf(key, sizeof(key), "key:%u", i);
		memset(val, 'a' + i % 26, vlen);
		val[vlen] = 0;
		assert_int_equal(put(t, TBL_SET, key, val, i, 0, 0, NULL), TBL_OK);
	}
}

static unsigned count_present(struct px_table *t, unsigned from, unsigned to, unsigned vlen)
{
	char key[32];
	unsigned n = 0;
	for (unsigned i = from; i < to; i++) {
		struct tbl_item it;
		snprintf(key, sizeof(key), "key:%u", i);
		struct tbl_key k = K(key);
		if (tbl_get(t, &k, 0, &it) != TBL_OK)
			continue;
		assert_int_equal(it.vlen, vlen);
		assert_int_equal(it.flags, i);
		for (unsigned j = 0; j < vlen; j++)
			assert_int_equal(it.value[j], 'a' + i % 26);
		n++;
	}
	return n;
}

static void test_eviction(enum tbl_policy pol)
{
	struct fixture f;
	struct px_table *t = mk(&f, 64 * 1024, 4096, 1024, pol);
	struct tbl_stats st;

	fill(t, 0, 5000, 100);
	tbl_stats_get(t, &st);
	assert_true(st.evictions > 0);
	assert_true(st.bytes_used <= 64 * 1024);
	assert_int_equal(st.items, count_present(t, 0, 5000, 100));
	/* the newest items survive; the oldest are gone */
	assert_int_equal(count_present(t, 4900, 5000, 100), 100);
	assert_int_equal(count_present(t, 0, 100, 100), 0);
	/* items fill most of the log: ~116 bytes each into 64 KiB */
	assert_true(st.items > 400);

	/* hot keys read between inserts survive under CLOCK, not under FIFO */
	fill(t, 10000, 10010, 100);
	for (unsigned round = 0; round < 40; round++) {
		fill(t, 20000 + round * 50, 20000 + (round + 1) * 50, 100);
		char key[32];
		for (unsigned i = 10000; i < 10010; i++) {
			struct tbl_item it;
			snprintf(key, sizeof(key), "key:%u", i);
			struct tbl_key k = K(key);
			tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it);
		}
	}
	unsigned hot = count_present(t, 10000, 10010, 100);
	if (pol == TBL_POLICY_CLOCK)
		assert_int_equal(hot, 10);
	else
		assert_int_equal(hot, 0);
	munmap(f.mem, f.len);
}

static void test_eviction_fifo(void **state)
{
	(void)state;
	test_eviction(TBL_POLICY_FIFO);
}

static void test_eviction_clock(void **state)
{
	(void)state;
	test_eviction(TBL_POLICY_CLOCK);
}

/* Overwrites leave dead versions in the log; they are compacted, not paid for with live items. */
static void test_overwrite_compacts(void **state)
{
	(void)state;
	for (int pol = TBL_POLICY_FIFO; pol <= TBL_POLICY_CLOCK; pol++) {
		struct fixture f;
		struct px_table *t = mk(&f, 64 * 1024, 4096, 1024, (enum tbl_policy)pol);
		struct tbl_stats st;

		/* 200 live items of ~116 bytes: a third of the limit */
		for (unsigned round = 0; round < 50; round++)
			fill(t, 0, 200, 100);
		tbl_stats_get(t, &st);
		assert_int_equal(st.evictions, 0);
		assert_int_equal(st.items, 200);
		assert_int_equal(count_present(t, 0, 200, 100), 200);
		munmap(f.mem, f.len);
	}
}

static void test_index_overflow(void **state)
{
	(void)state;
	struct fixture f;
	/* index sized for 600 items: 900 overflow the chains, nothing is lost */
	struct px_table *t = mk(&f, 4 << 20, 600, 1024, TBL_POLICY_FIFO);
	struct tbl_stats st, st2;

	fill(t, 0, 900, 16);
	tbl_stats_get(t, &st);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.items, 900);
	assert_int_equal(count_present(t, 0, 900, 16), 900);
	assert_true(st.index_bytes > 101 * 64);
	/* deleting frees overflow buckets again */
	char key[32];
	for (unsigned i = 0; i < 900; i++) {
		snprintf(key, sizeof(key), "key:%u", i);
		struct tbl_key k = K(key);
		assert_int_equal(tbl_delete(t, &k, 0), TBL_OK);
	}
	tbl_stats_get(t, &st2);
	assert_int_equal(st2.items, 0);
	assert_int_equal(st2.bytes_used, 0);
	assert_int_equal(st2.index_bytes, 101 * 64);
	/* past the overflow pool, the oldest item of a full chain is evicted */
	fill(t, 0, 3000, 16);
	tbl_stats_get(t, &st);
	assert_true(st.index_evictions > 0);
	assert_int_equal(st.items, 3000 - st.index_evictions);
	assert_int_equal(count_present(t, 0, 3000, 16), st.items);
	munmap(f.mem, f.len);
}

static void test_flush(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;

	put(t, TBL_SET, "a", "1", 0, 0, 0, NULL);
	put(t, TBL_SET, "b", "2", 0, 0, 0, NULL);
	tbl_flush(t, 0);
	want_miss(t, "a");
	want_miss(t, "b");
	put(t, TBL_SET, "c", "3", 0, 0, 0, NULL);
	want_value(t, "c", "3");
	assert_int_equal(put(t, TBL_ADD, "a", "new", 0, 0, 0, NULL), TBL_OK);

	/* delayed: items live until the time, then all stored before it go */
	tbl_flush(t, NOW + 10);
	put(t, TBL_SET, "d", "4", 0, 0, 0, NULL);
	tbl_set_time(t, NOW + 9);
	want_value(t, "c", "3");
	want_value(t, "d", "4");
	tbl_set_time(t, NOW + 10);
	want_miss(t, "c");
	want_miss(t, "d");
	want_miss(t, "a");
	put(t, TBL_SET, "e", "5", 0, 0, 0, NULL);
	tbl_set_time(t, NOW + 20);
	want_value(t, "e", "5");

	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.items, 1);
}

static void test_sweep(void **state)
{
	(void)state;
	struct fixture f;
	struct px_table *t = mk(&f, 1 << 20, 4096, 1024, TBL_POLICY_CLOCK);
	char key[32];

	for (unsigned i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "ttl:%u", i);
		put(t, TBL_SET, key, "v", 0, i % 2 ? NOW + 5 : 0, 0, NULL);
	}
	tbl_set_time(t, NOW + 5);
	assert_int_equal(tbl_sweep(t, 100), 100); /* bounded by the budget */
	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.expired_reclaimed, 50);
	unsigned total = 100;
	while (total < 1000)
		total += tbl_sweep(t, 100);
	tbl_stats_get(t, &st);
	assert_int_equal(st.expired_reclaimed, 500);
	assert_int_equal(st.items, 500);
	munmap(f.mem, f.len);
}

static void test_burst(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	char keys[40][16];
	struct tbl_key ks[40];
	struct tbl_item out[40];

	for (unsigned i = 0; i < 40; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%u", i);
		ks[i] = K(keys[i]);
		if (i % 3 == 0)
			put(t, TBL_SET, keys[i], keys[i], i, 0, 0, NULL);
	}
	ks[39] = ks[0]; /* a key twice in one burst */
	assert_int_equal(tbl_lookup_burst(t, ks, 40, TBL_GET_BUMP, out), 14);
	for (unsigned i = 0; i < 39; i++) {
		if (i % 3 == 0) {
			assert_non_null(out[i].key);
			assert_int_equal(out[i].flags, i);
			assert_memory_equal(out[i].value, keys[i], strlen(keys[i]));
		} else {
			assert_null(out[i].key);
		}
	}
}

/*
 * Bursts over chains of one, two and more buckets (three primary buckets
 * holding 60 items), with expired items and misses mixed in and more keys than one
 * burst chunk: every answer must equal tbl_get's.
 */
static void test_burst_overflow_chains(void **state)
{
	struct fixture f;
	struct px_table *t = mk(&f, 1 << 20, 12, 256, TBL_POLICY_CLOCK);
	char keys[90][16];
	struct tbl_key ks[90];
	struct tbl_item out[90], one;
	unsigned want = 0;
	(void)state;

	for (unsigned i = 0; i < 90; i++) {
		snprintf(keys[i], sizeof(keys[i]), "chain%u", i);
		ks[i] = K(keys[i]);
		if (i % 3 != 2)
			put(t, TBL_SET, keys[i], keys[i], i, i % 5 == 0 ? NOW + 1 : 0, 0, NULL);
	}
	tbl_set_time(t, NOW + 2); /* every fifth stored key has expired */
	for (unsigned i = 0; i < 90; i++)
		want += i % 3 != 2 && i % 5 != 0;
	assert_int_equal(tbl_lookup_burst(t, ks, 90, TBL_GET_BUMP, out), want);
	for (unsigned i = 0; i < 90; i++) {
		int rc = tbl_get(t, &ks[i], 0, &one);
		if (i % 3 != 2 && i % 5 != 0) {
			assert_int_equal(rc, TBL_OK);
			assert_non_null(out[i].key);
			assert_int_equal(out[i].flags, i);
			assert_int_equal(out[i].vlen, strlen(keys[i]));
			assert_memory_equal(out[i].value, keys[i], strlen(keys[i]));
			assert_ptr_equal(out[i].value, one.value);
		} else {
			assert_int_equal(rc, TBL_NOT_FOUND);
			assert_null(out[i].key);
		}
	}
	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.items, want);
	munmap(f.mem, f.len);
}

/*
 * The burst's item prefetch follows a key's chain one bucket per call: for
 * every key, stored or not, the calls walk exactly to the first bucket with
 * the key's tag (then fetch the item), or to the chain's end.
 */
static void test_prefetch_chain(void **state)
{
	struct fixture f;
	struct px_table *t = mk(&f, 1 << 20, 12, 256, TBL_POLICY_CLOCK);
	char keys[120][16];
	unsigned deep = 0;
	(void)state;

	for (unsigned i = 0; i < 120; i++) {
		snprintf(keys[i], sizeof(keys[i]), "pf%u", i);
		if (i < 80)
			put(t, TBL_SET, keys[i], "v", 0, 0, 0, NULL);
	}
	for (unsigned i = 0; i < 120; i++) {
		struct tbl_key k = K(keys[i]);
		uint64_t tag = (uint64_t)tbl_tag(k.hash) << TBL_TAG_SHIFT;
		int pos = -1, len = 0;
		for (const struct tbl_bucket *b = tbl_bucket_of(t, k.hash); b != NULL;
		     b = tbl_next(t, b), len++)
			if (pos < 0 && tbl_bucket_match(b, tag) != 0)
				pos = len;
		if (i < 80)
			assert_true(pos >= 0);
		deep += pos >= 1;
		int depth = 0, calls = 0;
		while (depth >= 0) {
			int next = tbl_prefetch_item(t, k.hash, (unsigned)depth);
			calls++;
			if (next >= 0)
				assert_int_equal(next, depth + 1);
			depth = next;
		}
		assert_int_equal(calls, pos >= 0 ? pos + 1 : len);
	}
	assert_true(deep >= 10); /* 80 keys over 3 buckets: most live in overflow buckets */
	munmap(f.mem, f.len);
}

/*
 * Plain sets over a small log: the head passes, compacts and reinserts items
 * many laps over (hashing ahead of the head), sets land on expired versions,
 * and the memory limit moves under it. Every key keeps its latest value.
 */
static void test_overwrite_laps(void **state)
{
	struct fixture f;
	struct px_table *t = mk(&f, 64 << 10, 1024, 256, TBL_POLICY_CLOCK);
	enum { N = 300 };
	uint32_t ver[N] = {0};
	char key[16], val[64];
	struct tbl_item it;
	(void)state;

	for (uint32_t round = 1; round <= 40; round++) {
		for (uint32_t i = 0; i < N; i++) {
			if ((i * 7 + round) % 3 == 0)
				continue;
			snprintf(key, sizeof(key), "lap%u", i);
			snprintf(val, sizeof(val), "%u-%u%.*s", i, round, (int)(i % 23), "xxxxxxxxxxxxxxxxxxxxxxx");
			uint32_t exp = (i % 11 == 0) ? NOW + round : 0;
			assert_int_equal(put(t, TBL_SET, key, val, round, exp, 0, NULL), TBL_OK);
			ver[i] = round;
			if (i % 4 == 0) { /* hit it: CLOCK reinserts it at the head */
				struct tbl_key k = K(key);
				assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP, &it), TBL_OK);
			}
		}
		if (round == 20)
			tbl_set_mem_limit(t, 40 << 10);
		if (round == 30)
			tbl_set_mem_limit(t, 64 << 10);
	}
	struct tbl_stats st;
	tbl_stats_get(t, &st);
	assert_int_equal(st.evictions, 0);
	uint64_t live = 0;
	for (uint32_t i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "lap%u", i);
		struct tbl_key k = K(key);
		/* Time has not moved: every exptime of NOW + round is still ahead. */
		assert_int_equal(tbl_get(t, &k, 0, &it), TBL_OK);
		live++;
		snprintf(val, sizeof(val), "%u-%u%.*s", i, ver[i], (int)(i % 23), "xxxxxxxxxxxxxxxxxxxxxxx");
		assert_int_equal(it.vlen, strlen(val));
		assert_memory_equal(it.value, val, it.vlen);
		assert_int_equal(it.flags, ver[i]);
	}
	assert_int_equal(st.items, live);
	/* Now expire some and overwrite them: the late lookup reaps the old version. */
	tbl_set_time(t, NOW + 100);
	for (uint32_t i = 0; i < N; i += 11) {
		snprintf(key, sizeof(key), "lap%u", i);
		assert_int_equal(put(t, TBL_SET, key, "fresh", 0, 0, 0, NULL), TBL_OK);
	}
	tbl_stats_get(t, &st);
	assert_int_equal(st.items, N);
	for (uint32_t i = 0; i < N; i += 11)
		want_value(t, (snprintf(key, sizeof(key), "lap%u", i), key), "fresh");
	munmap(f.mem, f.len);
}

static void test_read_copy(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	char buf[64];
	struct tbl_item it;
	struct tbl_key k = K("rc");
	uint64_t cas;

	assert_int_equal(tbl_read_copy(t, &k, buf, sizeof(buf), &it), TBL_NOT_FOUND);
	put(t, TBL_SET, "rc", "remote value", 3, NOW + 10, 0, &cas);
	assert_int_equal(tbl_read_copy(t, &k, buf, sizeof(buf), &it), TBL_OK);
	assert_int_equal(it.vlen, 12);
	assert_memory_equal(it.value, "remote value", 12);
	assert_int_equal(it.flags, 3);
	assert_int_equal(it.cas, cas);
	assert_int_equal(tbl_read_copy(t, &k, buf, 5, &it), TBL_BUF_SMALL);
	tbl_set_time(t, NOW + 10);
	assert_int_equal(tbl_read_copy(t, &k, buf, sizeof(buf), &it), TBL_NOT_FOUND);
}

static void test_mem_limit(void **state)
{
	(void)state;
	struct fixture f;
	struct px_table *t = mk(&f, 256 * 1024, 4096, 1024, TBL_POLICY_FIFO);
	struct tbl_stats st;

	fill(t, 0, 2000, 100);
	tbl_set_mem_limit(t, 64 * 1024);
	tbl_stats_get(t, &st);
	assert_true(st.bytes_used <= 64 * 1024);
	assert_int_equal(st.log_bytes, 64 * 1024);
	fill(t, 2000, 4000, 100);
	tbl_stats_get(t, &st);
	assert_true(st.bytes_used <= 64 * 1024);
	tbl_set_mem_limit(t, 1ULL << 40); /* clamped to the region, less the move slack */
	tbl_stats_get(t, &st);
	assert_int_equal(st.log_bytes, 256 * 1024 - 256 * 1024 / 64);
	munmap(f.mem, f.len);
}

static void test_invalidate(void **state)
{
	struct px_table *t = ((struct fixture *)*state)->t;
	struct tbl_key k = K("inv");
	struct tbl_item it;
	uint64_t cas;

	assert_int_equal(tbl_invalidate(t, &k, 0, 0), TBL_NOT_FOUND);
	put(t, TBL_SET, "inv", "v", 0, 0, 0, &cas);
	tbl_mark_win_sent(t, &k);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_true(it.win_sent);
	assert_int_equal(tbl_invalidate(t, &k, 0, NOW + 30), TBL_OK);
	assert_int_equal(tbl_get(t, &k, TBL_GET_BUMP | TBL_GET_CAS, &it), TBL_OK);
	assert_true(it.stale);
	assert_false(it.win_sent);
	assert_true(it.cas != cas);
	assert_int_equal(it.exptime, NOW + 30);
}

/* ---- concurrency: one writer, one optimistic reader ---- */

#define CONC_KEYS 64

struct conc {
	struct px_table *t;
	volatile int stop;
	unsigned long reads, hits, bad;
};

/* Values are self-describing: every byte is (key id + version) mod 251. */
static unsigned conc_vlen(unsigned id, unsigned ver)
{
	return 200 + (id * 7 + ver * 13) % 800;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	char key[32];
	uint8_t buf[1100];
	unsigned i = 0;

	while (!c->stop) {
		struct tbl_item it;
		unsigned id = (i++ * 2654435761u) % CONC_KEYS;
		snprintf(key, sizeof(key), "conc:%u", id);
		struct tbl_key k = K(key);
		c->reads++;
		if (tbl_read_copy(c->t, &k, buf, sizeof(buf), &it) != TBL_OK)
			continue;
		c->hits++;
		unsigned ver = it.flags;
		uint8_t want = (uint8_t)((id + ver) % 251);
		bool whole = it.vlen == conc_vlen(id, ver) && it.klen == strlen(key) &&
			     memcmp(it.key, key, it.klen) == 0;
		for (unsigned j = 0; whole && j < it.vlen; j++)
			whole = it.value[j] == want;
		if (!whole)
			c->bad++;
	}
	return NULL;
}

static void test_concurrent_reader(void **state)
{
	(void)state;
	struct fixture f;
	/* small log: the writer evicts and (CLOCK) moves items constantly */
	struct px_table *t = mk(&f, 16 * 1024, 64, 1024, TBL_POLICY_CLOCK);
	struct conc c = { .t = t };
	pthread_t th;
	char key[32];
	uint8_t val[1024];

	assert_int_equal(pthread_create(&th, NULL, conc_reader, &c), 0);
	for (unsigned ver = 1; ver <= 20000; ver++) {
		for (unsigned id = 0; id < CONC_KEYS; id++) {
			snprintf(key, sizeof(key), "conc:%u", id);
			unsigned vlen = conc_vlen(id, ver);
			memset(val, (id + ver) % 251, vlen);
			struct tbl_store_req r = { .k = K(key), .value = val, .vlen = vlen,
						   .flags = ver, .mode = TBL_SET };
			assert_int_equal(tbl_store(t, &r, NULL), TBL_OK);
			if (id % 5 == 0) { /* reads feed CLOCK's frequency */
				struct tbl_item it;
				tbl_get(t, &r.k, TBL_GET_BUMP, &it);
			}
			if (id % 17 == 0)
				tbl_delete(t, &r.k, 0);
		}
	}
	c.stop = 1;
	pthread_join(th, NULL);
	struct tbl_stats st;
	tbl_stats_get(t, &st);
	printf("# reader: %lu reads, %lu hits, %lu torn, %lu retries, %lu evictions\n", c.reads,
	       c.hits, c.bad, (unsigned long)st.read_retries, (unsigned long)st.evictions);
	assert_int_equal(c.bad, 0);
	assert_true(c.hits > 0);
	assert_true(st.evictions > 0);
	munmap(f.mem, f.len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exptime_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_prepend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arith, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test(test_burst_overflow_chains),
		cmocka_unit_test(test_prefetch_chain),
		cmocka_unit_test(test_overwrite_laps),
		cmocka_unit_test_setup_teardown(test_read_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalidate, setup, teardown),
		cmocka_unit_test(test_eviction_fifo),
		cmocka_unit_test(test_eviction_clock),
		cmocka_unit_test(test_overwrite_compacts),
		cmocka_unit_test(test_index_overflow),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_mem_limit),
		cmocka_unit_test(test_concurrent_reader),
	};
	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
