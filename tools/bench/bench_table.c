/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `pollux-bench table`: the storage engine against DPDK's rte_hash on one
 * core, doing the same work from the same pre-generated trace, in the same
 * kind of memory (rte_malloc from one EAL heap), and the eviction policy's
 * miss ratio against exact LRU (bench_missratio.c).
 *
 * Measurement: both contenders are preloaded with every key and checked. The
 * trace (key index + get/set bit, from the configured distribution) is
 * generated before any timing and replayed cyclically in bursts of 32. Per
 * burst the gets are hashed and looked up as one batch (tbl_lookup_burst /
 * rte_hash_lookup_bulk_data, which hashes internally) and every hit's value
 * is copied into an output buffer; then each set is hashed and stored
 * (tbl_store / rte_hash_add_key_data plus a value copy into the slot its data
 * pointer names). Time is read with rte_rdtsc after every burst. The runs
 * alternate (pollux, rte_hash, pollux, rte_hash), each getting --seconds / 2
 * per round and starting at the head of the trace; the better round of each
 * is reported, which discounts a round disturbed by other load on the CPU.
 * Total timed wall time is therefore 2 x --seconds.
 *
 * Sizing: the Pollux log gets --slack (1.5) times keys * (9 + key + value)
 * bytes and an index for keys items; rte_hash gets keys * 1.25 entries and
 * one value array. Sets append new item versions to the log, so a long run
 * wraps it and evicts live keys even though they all fit once: the report
 * counts the misses this causes and the keys lost, and checks every value.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "px_clock.h"
#include "px_compiler.h"
#include "table/table.h"

#include "bench.h"
#include "bench_eal.h"
#include "bench_keys.h"
#include "bench_missratio.h"
#include "bench_table.h"
#include "zipf.h"

#define BURST 32
#define ROUNDS 2
#define TRACE_SET (1u << 31)          /* trace entry: key index | TRACE_SET for a set */
#define HASH_SEED 0x706f6c6c75780001ULL
#define TRACE_SEED 0x7472616365000001ULL

struct contender {
	const char *name;
	double mops[ROUNDS];
	double best_mops;
	uint64_t gets;
	uint64_t misses;        /* gets that found nothing (evicted keys) */
	uint64_t store_errors;
	uint64_t preload_errors;
	uint64_t verify_misses; /* keys missing in the post-run check */
	uint64_t verify_errors; /* keys holding another key's value */
	double bytes_per_item;  /* overhead per item beyond key + value */
};

struct table_bench {
	const struct table_opts *o;
	struct bench_keys keys;
	uint32_t *trace;
	size_t trace_len;       /* a multiple of BURST */
	struct px_table *t;
	struct rte_hash *h;
	uint8_t *values;        /* rte_hash values: keys * value_size */
	uint8_t *out;           /* reply buffer: BURST * value_size */
	uint8_t *src;           /* set source: value_size */
	uint64_t tsc_hz;
	bool progress_tty;      /* \r progress line on stderr */
	bool progress_lines;    /* one stderr line per round */
	bool hugepages;
	struct tbl_stats st_preload; /* Pollux table after the preload */
	struct tbl_stats st_end;     /* and after the timed rounds */
};

/* Values read back are folded in here so the compiler cannot drop the copies. */
static volatile uint64_t bench_sink;

/* Pre-generate the request trace: key indices from the distribution, get or set. */
static int trace_build(struct table_bench *b, struct zipf_gen *z)
{
	const struct table_opts *o = b->o;
	size_t len = o->keys * 4;

	len = PX_MAX(len, (size_t)1 << 22);
	len = PX_MIN(len, (size_t)1 << 24);
	b->trace_len = len - len % BURST;
	b->trace = malloc(b->trace_len * sizeof(*b->trace));
	if (b->trace == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->trace_len; i++) {
		uint32_t e = (uint32_t)zipf_next(z);
		if (zipf_rng_double(&z->rng) >= o->get_ratio)
			e |= TRACE_SET;
		b->trace[i] = e;
	}
	return 0;
}

static void progress(struct table_bench *b, const char *name, int round, uint64_t start,
		     uint64_t now, uint64_t ops, bool last)
{
	double secs = (double)(now - start) / (double)b->tsc_hz;
	double mops = secs > 0 ? (double)ops / secs / 1e6 : 0;

	if (b->progress_tty)
		fprintf(stderr, "\r[%-8s %d/%d %5.1fs] %7.2f Mops ", name, round + 1, ROUNDS, secs,
			mops);
	if (last && b->progress_lines)
		fprintf(stderr, "[%s %d/%d %.1fs] %.2f Mops\n", name, round + 1, ROUNDS, secs, mops);
}

static int pollux_store(struct table_bench *b, uint64_t i)
{
	const uint8_t *key = bench_key(&b->keys, i);
	uint32_t vs = b->o->value_size;
	struct tbl_store_req req = {
		.k = {.key = key, .klen = b->keys.size, .hash = tbl_hash(key, b->keys.size, HASH_SEED)},
		.value = b->src,
		.vlen = vs,
		.mode = TBL_SET,
	};

	bench_value_stamp(b->src, vs, i);
	return tbl_store(b->t, &req, NULL);
}

static int baseline_store(struct table_bench *b, uint64_t i)
{
	uint32_t vs = b->o->value_size;
	uint8_t *slot = b->values + i * vs;
	int rc = rte_hash_add_key_data(b->h, bench_key(&b->keys, i), slot);

	bench_value_stamp(b->src, vs, i);
	memcpy(slot, b->src, vs);
	return rc;
}

/* One timed round on the Pollux table. Returns Mops. */
static double run_pollux(struct table_bench *b, struct contender *c, int round, double secs)
{
	const uint32_t ks = b->keys.size, stride = b->keys.stride, vs = b->o->value_size;
	const uint8_t *keys = b->keys.bytes;
	uint64_t start = rte_rdtsc(), now = start;
	uint64_t end = start + (uint64_t)(secs * (double)b->tsc_hz);
	uint64_t tick = b->tsc_hz / 2, next = start + tick;
	uint64_t ops = 0, gets = 0, hits = 0, sink = 0;
	size_t pos = 0;

	tbl_set_time(b->t, px_clock_unix());
	do {
		struct tbl_key gk[BURST];
		struct tbl_item it[BURST];
		uint32_t sets[BURST];
		unsigned ng = 0, ns = 0;

		for (unsigned j = 0; j < BURST; j++) {
			uint32_t e = b->trace[pos + j];
			uint32_t i = e & ~TRACE_SET;

			if (e & TRACE_SET) {
				sets[ns++] = i;
				continue;
			}
			gk[ng].key = keys + (size_t)i * stride;
			gk[ng].klen = ks;
			gk[ng].hash = tbl_hash(gk[ng].key, ks, HASH_SEED);
			ng++;
		}
		if (ng > 0) {
			hits += tbl_lookup_burst(b->t, gk, ng, TBL_GET_BUMP, it);
			for (unsigned j = 0; j < ng; j++) {
				if (px_unlikely(it[j].key == NULL))
					continue;
				memcpy(b->out + j * vs, it[j].value, vs);
				sink += b->out[j * vs];
			}
		}
		for (unsigned j = 0; j < ns; j++) {
			if (px_unlikely(pollux_store(b, sets[j]) != TBL_OK))
				c->store_errors++;
		}
		gets += ng;
		ops += BURST;
		pos += BURST;
		if (pos == b->trace_len)
			pos = 0;
		now = rte_rdtsc();
		if (px_unlikely(now >= next)) {
			next += tick;
			tbl_set_time(b->t, px_clock_unix());
			progress(b, c->name, round, start, now, ops, false);
		}
	} while (now < end);

	progress(b, c->name, round, start, now, ops, true);
	bench_sink += sink;
	c->gets += gets;
	c->misses += gets - hits;
	return (double)ops / ((double)(now - start) / (double)b->tsc_hz) / 1e6;
}

/* One timed round on rte_hash. Returns Mops. */
static double run_baseline(struct table_bench *b, struct contender *c, int round, double secs)
{
	const uint32_t stride = b->keys.stride, vs = b->o->value_size;
	const uint8_t *keys = b->keys.bytes;
	uint64_t start = rte_rdtsc(), now = start;
	uint64_t end = start + (uint64_t)(secs * (double)b->tsc_hz);
	uint64_t tick = b->tsc_hz / 2, next = start + tick;
	uint64_t ops = 0, gets = 0, hits = 0, sink = 0;
	size_t pos = 0;

	do {
		const void *gk[BURST];
		void *data[BURST];
		uint64_t mask = 0;
		uint32_t sets[BURST];
		unsigned ng = 0, ns = 0;

		for (unsigned j = 0; j < BURST; j++) {
			uint32_t e = b->trace[pos + j];
			uint32_t i = e & ~TRACE_SET;

			if (e & TRACE_SET)
				sets[ns++] = i;
			else
				gk[ng++] = keys + (size_t)i * stride;
		}
		if (ng > 0) {
			int n = rte_hash_lookup_bulk_data(b->h, gk, ng, &mask, data);
			hits += n > 0 ? (unsigned)n : 0;
			for (unsigned j = 0; j < ng; j++) {
				if (px_unlikely(!(mask & (1ULL << j))))
					continue;
				memcpy(b->out + j * vs, data[j], vs);
				sink += b->out[j * vs];
			}
		}
		for (unsigned j = 0; j < ns; j++) {
			if (px_unlikely(baseline_store(b, sets[j]) < 0))
				c->store_errors++;
		}
		gets += ng;
		ops += BURST;
		pos += BURST;
		if (pos == b->trace_len)
			pos = 0;
		now = rte_rdtsc();
		if (px_unlikely(now >= next)) {
			next += tick;
			progress(b, c->name, round, start, now, ops, false);
		}
	} while (now < end);

	progress(b, c->name, round, start, now, ops, true);
	bench_sink += sink;
	c->gets += gets;
	c->misses += gets - hits;
	return (double)ops / ((double)(now - start) / (double)b->tsc_hz) / 1e6;
}

/* Every key must be present with its own value. Untimed. */
static void verify_pollux(struct table_bench *b, struct contender *c)
{
	c->verify_misses = c->verify_errors = 0;
	for (uint64_t i = 0; i < b->keys.n; i++) {
		struct tbl_key k = {.key = bench_key(&b->keys, i), .klen = b->keys.size,
				    .hash = b->keys.hashes[i]};
		struct tbl_item it;

		if (tbl_get(b->t, &k, 0, &it) != TBL_OK)
			c->verify_misses++;
		else if (it.vlen != b->o->value_size || it.klen != b->keys.size ||
			 memcmp(it.key, k.key, k.klen) != 0 ||
			 !bench_value_ok(it.value, it.vlen, i))
			c->verify_errors++;
	}
}

static void verify_baseline(struct table_bench *b, struct contender *c)
{
	c->verify_misses = c->verify_errors = 0;
	for (uint64_t i = 0; i < b->keys.n; i++) {
		void *data;

		if (rte_hash_lookup_data(b->h, bench_key(&b->keys, i), &data) < 0)
			c->verify_misses++;
		else if (!bench_value_ok(data, b->o->value_size, i))
			c->verify_errors++;
	}
}

static uint64_t heap_allocated(void)
{
	struct rte_malloc_socket_stats s;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &s) < 0)
		return 0;
	return s.heap_allocsz_bytes;
}

/* rte_malloc, falling back to a --no-huge re-exec when hugepage memory runs out. */
static void *bench_zmalloc(struct table_bench *b, const char *what, size_t len)
{
	void *p = rte_zmalloc(what, len, 64);

	if (p == NULL && b->hugepages)
		bench_eal_retry_no_huge();
	if (p == NULL)
		fprintf(stderr, "pollux-bench: cannot allocate %zu MB for %s\n", len >> 20, what);
	return p;
}

static int setup_pollux(struct table_bench *b, const struct tbl_config *cfg, size_t len,
			struct contender *c)
{
	struct tbl_stats s;
	void *region = bench_zmalloc(b, "pollux table", len);

	if (region == NULL)
		return -ENOMEM;
	b->t = tbl_create(cfg, region, len);
	if (b->t == NULL) {
		fprintf(stderr, "pollux-bench: tbl_create failed: %s\n", strerror(errno));
		return -EINVAL;
	}
	tbl_set_time(b->t, px_clock_unix());
	for (uint64_t i = 0; i < b->keys.n; i++) {
		if (pollux_store(b, i) != TBL_OK)
			c->preload_errors++;
	}
	tbl_stats_get(b->t, &s);
	b->st_preload = s;
	if (s.items > 0)
		c->bytes_per_item = (double)(s.index_bytes + s.bytes_used) / (double)s.items -
				    b->keys.size - b->o->value_size;
	return 0;
}

static int setup_baseline(struct table_bench *b, struct contender *c)
{
	uint64_t before = heap_allocated();
	uint64_t entries = PX_MAX((b->keys.n * 5 + 3) / 4, 8);
	struct rte_hash_parameters p = {
		.name = "pollux_bench",
		.entries = (uint32_t)entries,
		.key_len = b->keys.size,
		.hash_func = rte_hash_crc,
		.hash_func_init_val = 0,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = 0, /* single writer, no ext table, no per-lcore cache */
	};

	b->h = rte_hash_create(&p);
	if (b->h == NULL) {
		fprintf(stderr, "pollux-bench: rte_hash_create(%" PRIu64 " entries) failed: %s\n",
			entries, rte_strerror(rte_errno));
		if (b->hugepages)
			bench_eal_retry_no_huge();
		return -ENOMEM;
	}
	b->values = bench_zmalloc(b, "rte_hash values", b->keys.n * b->o->value_size);
	if (b->values == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < b->keys.n; i++) {
		if (baseline_store(b, i) < 0)
			c->preload_errors++;
	}
	uint64_t bytes = heap_allocated() - before;
	c->bytes_per_item = (double)bytes / (double)b->keys.n - b->keys.size - b->o->value_size;
	return 0;
}

/* Upper bound on what rte_hash_create allocates for entries keys of klen bytes. */
static uint64_t rte_hash_bytes_estimate(uint64_t entries, uint32_t klen)
{
	uint64_t p2 = 8;

	while (p2 < entries)
		p2 <<= 1;
	return p2 / 8 * 64 * 2 + (entries + 1) * ((klen + 8 + 15) & ~15u) + p2 * 8 + (1u << 20);
}

static void report_json(const struct table_bench *b, const struct contender *p,
			const struct contender *r, const struct missratio_result *m)
{
	const struct table_opts *o = b->o;
	char dist[32];

	printf("{\"bench\":\"table\",\"keys\":%" PRIu64 ",\"key_size\":%u,\"value_size\":%u,"
	       "\"dist\":\"%s\",\"get_ratio\":%g,\"seconds\":%g,\"policy\":\"%s\","
	       "\"hugepages\":%s,\"rounds\":%d,\"burst\":%d,",
	       o->keys, o->key_size, o->value_size, table_opts_dist(o, dist, sizeof(dist)),
	       o->get_ratio, o->seconds, tbl_policy_name(o->policy),
	       b->hugepages ? "true" : "false", ROUNDS, BURST);
	printf("\"mops\":%.3f,\"baseline_mops\":%.3f,\"ratio\":%.3f,"
	       "\"bytes_per_item\":%.2f,\"baseline_bytes_per_item\":%.2f,"
	       "\"miss_ratio\":%.5f,\"lru_miss_ratio\":%.5f,",
	       p->best_mops, r->best_mops, r->best_mops > 0 ? p->best_mops / r->best_mops : 0,
	       p->bytes_per_item, r->bytes_per_item, m->miss_ratio, m->lru_miss_ratio);
	const struct contender *cs[2] = {p, r};
	for (int k = 0; k < 2; k++) {
		const struct contender *c = cs[k];
		printf("\"%s\":{\"mops_rounds\":[", k == 0 ? "pollux" : "baseline");
		for (int i = 0; i < ROUNDS; i++)
			printf("%s%.3f", i > 0 ? "," : "", c->mops[i]);
		printf("],\"gets\":%" PRIu64 ",\"get_misses\":%" PRIu64 ",\"store_errors\":%" PRIu64
		       ",\"preload_errors\":%" PRIu64 ",\"verify_misses\":%" PRIu64
		       ",\"verify_errors\":%" PRIu64 "},",
		       c->gets, c->misses, c->store_errors, c->preload_errors, c->verify_misses,
		       c->verify_errors);
	}
	/* Table counters after the timed rounds: why gets missed, if they did. */
	const struct tbl_stats *st = &b->st_end;
	printf("\"table\":{\"mem_bytes\":%" PRIu64 ",\"index_bytes\":%" PRIu64
	       ",\"preload_bytes_used\":%" PRIu64 ",\"items\":%" PRIu64 ",\"bytes_used\":%" PRIu64
	       ",\"evictions\":%" PRIu64 ",\"reinserted\":%" PRIu64 ",\"index_evictions\":%" PRIu64
	       "},", st->log_bytes, st->index_bytes, b->st_preload.bytes_used, st->items,
	       st->bytes_used, st->evictions, st->reinserted, st->index_evictions);
	printf("\"sim\":{\"capacity\":%" PRIu64 ",\"item_bytes\":%" PRIu64 ",\"mem_bytes\":%" PRIu64
	       ",\"table_items\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"reinserted\":%" PRIu64
	       ",\"index_evictions\":%" PRIu64 ",\"store_errors\":%" PRIu64
	       ",\"verify_errors\":%" PRIu64 "}}\n",
	       m->capacity, m->item_bytes, m->mem_bytes, m->table_items, m->evictions,
	       m->reinserted, m->index_evictions, m->store_errors, m->verify_errors);
}

static void report_text(const struct table_bench *b, const struct contender *p,
			const struct contender *r, const struct missratio_result *m)
{
	const struct table_opts *o = b->o;
	char dist[32];

	printf("pollux-bench table: %" PRIu64 " keys, key %u B, value %u B, %s, %.0f%% gets, "
	       "policy %s\n", o->keys, o->key_size, o->value_size,
	       table_opts_dist(o, dist, sizeof(dist)), o->get_ratio * 100, tbl_policy_name(o->policy));
	printf("one core, DPDK EAL memory (%s), bursts of %d, best of %d rounds of %.1f s\n\n",
	       b->hugepages ? "hugepages" : "no hugepages", BURST, ROUNDS, o->seconds / ROUNDS);
	printf("%-28s %12s %12s\n", "", "pollux", "rte_hash");
	printf("%-28s %12.2f %12.2f   ratio %.2f\n", "throughput (Mops)", p->best_mops,
	       r->best_mops, r->best_mops > 0 ? p->best_mops / r->best_mops : 0);
	for (int i = 0; i < ROUNDS; i++)
		printf("  round %-20d %12.2f %12.2f\n", i + 1, p->mops[i], r->mops[i]);
	printf("%-28s %12.2f %12.2f\n", "overhead (bytes/item)", p->bytes_per_item,
	       r->bytes_per_item);
	printf("%-28s %12" PRIu64 " %12" PRIu64 "\n", "get misses", p->misses, r->misses);
	printf("%-28s %12" PRIu64 " %12" PRIu64 "\n", "store errors", p->store_errors,
	       r->store_errors);
	printf("%-28s %12" PRIu64 " %12" PRIu64 "\n", "lost keys after run", p->verify_misses,
	       r->verify_misses);
	printf("%-28s %12" PRIu64 " %12" PRIu64 "\n", "wrong values after run", p->verify_errors,
	       r->verify_errors);
	printf("pollux table: %" PRIu64 " MB log, %" PRIu64 " MB index; during the run %" PRIu64
	       " evictions, %" PRIu64 " reinsertions, %" PRIu64 " index evictions\n",
	       b->st_end.log_bytes >> 20, b->st_end.index_bytes >> 20, b->st_end.evictions,
	       b->st_end.reinserted, b->st_end.index_evictions);
	if (b->st_end.evictions > 0)
		printf("  note: sets append new versions, so the log wrapped and evicted live keys;\n"
		       "  gets of those keys missed (try a larger --slack to keep every key)\n");
	printf("\nmiss ratio, cache of %" PRIu64 " items (10%% of keys, %" PRIu64 " B/item, "
	       "%" PRIu64 " requests after %" PRIu64 " warmup):\n",
	       m->capacity, m->item_bytes, o->keys * 5, o->keys);
	printf("  pollux %-8s %.4f   (%" PRIu64 " items held, %" PRIu64 " evictions, %" PRIu64
	       " reinserted)\n", tbl_policy_name(o->policy), m->miss_ratio, m->table_items,
	       m->evictions, m->reinserted);
	printf("  exact LRU       %.4f\n", m->lru_miss_ratio);
}

static void bench_free(struct table_bench *b)
{
	rte_hash_free(b->h);
	bench_keys_free(&b->keys);
	free(b->trace);
	free(b->out);
	free(b->src);
	/* The table region and the value array go with the EAL heap at exit. */
}

int bench_table_main(int argc, char **argv)
{
	struct table_opts o;
	struct table_bench b = {.o = &o};
	struct contender pol = {.name = "pollux"}, base = {.name = "rte_hash"};
	struct missratio_result mr;
	struct zipf_gen z = {0};
	int rc = table_opts_parse(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? BENCH_EXIT_OK : BENCH_EXIT_USAGE;

	uint64_t est_item = 9 + o.key_size + o.value_size;
	struct tbl_config cfg = {
		.mem_bytes = ((uint64_t)ceil((double)o.keys * (double)est_item * o.slack) + 63) & ~63ULL,
		.index_items = o.keys,
		.value_max = o.value_size,
		.policy = o.policy,
		.hash_seed = HASH_SEED,
	};
	size_t region_len = tbl_region_size(&cfg);
	if (region_len == 0) {
		fprintf(stderr, "pollux-bench: tbl_region_size(mem_bytes=%" PRIu64 ") failed: %s\n",
			cfg.mem_bytes, strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	region_len = (region_len + 63) & ~(size_t)63;

	uint64_t need = region_len + o.keys * o.value_size +
			rte_hash_bytes_estimate(o.keys * 5 / 4, o.key_size);
	if (bench_eal_init(argc, argv, need, o.no_huge, &b.hugepages) < 0)
		return BENCH_EXIT_FAIL;
	b.tsc_hz = rte_get_tsc_hz();
	/* A live line when stderr is a terminal; without --json, a line per round otherwise. */
	b.progress_tty = isatty(STDERR_FILENO);
	b.progress_lines = !b.progress_tty && !o.json;

	rc = BENCH_EXIT_FAIL;
	if (bench_keys_build(&b.keys, o.keys, o.key_size, HASH_SEED) < 0 ||
	    zipf_init(&z, o.keys, o.zipf_s, TRACE_SEED, true) < 0 || trace_build(&b, &z) < 0) {
		fprintf(stderr, "pollux-bench: out of memory building keys and trace\n");
		goto out;
	}
	b.out = malloc((size_t)BURST * o.value_size);
	b.src = malloc(o.value_size);
	if (b.out == NULL || b.src == NULL)
		goto out;
	memset(b.src, 'v', o.value_size);

	if (setup_pollux(&b, &cfg, region_len, &pol) < 0 || setup_baseline(&b, &base) < 0)
		goto out;
	verify_pollux(&b, &pol);
	verify_baseline(&b, &base);
	if (pol.preload_errors + pol.verify_misses + pol.verify_errors > 0)
		fprintf(stderr, "pollux-bench: warning: pollux preload: %" PRIu64 " store errors, %"
			PRIu64 " keys missing, %" PRIu64 " wrong values\n", pol.preload_errors,
			pol.verify_misses, pol.verify_errors);
	if (base.preload_errors + base.verify_misses + base.verify_errors > 0)
		fprintf(stderr, "pollux-bench: warning: rte_hash preload: %" PRIu64 " errors, %"
			PRIu64 " keys missing, %" PRIu64 " wrong values\n", base.preload_errors,
			base.verify_misses, base.verify_errors);

	for (int r = 0; r < ROUNDS; r++) {
		pol.mops[r] = run_pollux(&b, &pol, r, o.seconds / ROUNDS);
		base.mops[r] = run_baseline(&b, &base, r, o.seconds / ROUNDS);
		pol.best_mops = PX_MAX(pol.best_mops, pol.mops[r]);
		base.best_mops = PX_MAX(base.best_mops, base.mops[r]);
	}
	if (b.progress_tty)
		fprintf(stderr, "\r%-60s\r", "");
	tbl_stats_get(b.t, &b.st_end);
	verify_pollux(&b, &pol);
	verify_baseline(&b, &base);

	struct missratio_cfg mc = {
		.keys = &b.keys,
		.value_size = o.value_size,
		.gen = &z,
		.policy = o.policy,
		.hash_seed = HASH_SEED,
		.warmup = o.keys,
		.requests = o.keys * 5,
	};
	if (b.progress_tty)
		fprintf(stderr, "[miss-ratio simulation]");
	if (missratio_run(&mc, &mr) < 0)
		goto out;
	if (b.progress_tty)
		fprintf(stderr, "\r%-60s\r", "");

	if (o.json)
		report_json(&b, &pol, &base, &mr);
	else
		report_text(&b, &pol, &base, &mr);
	fflush(stdout);
	rc = BENCH_EXIT_OK;
out:
	zipf_free(&z);
	bench_free(&b);
	return rc;
}
