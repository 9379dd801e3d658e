/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `pollux-bench ring`: the dataplane's whole request path without a kernel
 * or NIC. A generator lcore builds Ethernet/IPv4/UDP memcached requests into
 * mbufs and feeds them to a net_ring port; the dataplane lcore runs the real
 * pollux-dp loop (RX burst, IPv4/UDP checks, parse, execute on its
 * partition, reply in place, TX burst); the generator takes the replies back
 * and checks them. Baseline in the same run: the same port and generator
 * with a bare turnaround loop on the dataplane lcore (swap and send back),
 * i.e. the ring I/O ceiling. Reports requests/s of the dataplane lcore and
 * the ratio to the baseline.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <emmintrin.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_udp.h>

#include "bench.h"
#include "bench_keys.h"
#include "dp.h"
#include "zipf.h"

#define RING_SIZE 4096
#define TRACE_SET 0x80000000u

struct ring_opts {
	uint64_t keys;
	uint32_t key_size, value_size;
	double zipf_s, get_ratio, seconds;
	bool json, no_huge, inline_gen;
};

struct ring_bench {
	struct ring_opts o;
	struct dp dp;
	struct bench_keys keys;
	uint32_t *trace;
	size_t trace_len;
	struct rte_ring *rx, *tx; /* the port's RX (we feed) and TX (we drain) */
	uint8_t hdr[DP_HDR_ROOM];
	uint8_t *value;
};

struct round {
	uint64_t sent, replies, hits, sets, bad;
	double secs;
};

static int parse(int argc, char **argv, struct ring_opts *o)
{
	static const struct option lo[] = {
		{ "keys", 1, 0, 'k' }, { "key-size", 1, 0, 'K' }, { "value-size", 1, 0, 'V' },
		{ "dist", 1, 0, 'd' }, { "get-ratio", 1, 0, 'g' }, { "seconds", 1, 0, 's' },
		{ "json", 0, 0, 'j' }, { "no-huge", 0, 0, 'n' }, { "inline", 0, 0, 'i' },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	uint64_t v;
	int c;

	*o = (struct ring_opts){ .keys = 1000000, .key_size = 16, .value_size = 32, .zipf_s = 0.99,
				 .get_ratio = 0.95, .seconds = 4 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (bench_opt_u64("ring", "--keys", optarg, 1, 1ULL << 28, &o->keys))
				return -1;
			break;
		case 'K':
			if (bench_opt_u64("ring", "--key-size", optarg, 1, 200, &v))
				return -1;
			o->key_size = (uint32_t)v;
			break;
		case 'V':
			if (bench_opt_u64("ring", "--value-size", optarg, 1, 1000, &v))
				return -1;
			o->value_size = (uint32_t)v;
			break;
		case 'd':
			if (zipf_parse(optarg, &o->zipf_s) != 0)
				return bench_opt_bad("ring", "--dist", optarg, "expected uniform or zipf:S");
			break;
		case 'g':
			if (bench_opt_double("ring", "--get-ratio", optarg, 0, 1, &o->get_ratio))
				return -1;
			break;
		case 's':
			if (bench_opt_double("ring", "--seconds", optarg, 0.2, 600, &o->seconds))
				return -1;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->no_huge = true;
			break;
		case 'i':
			o->inline_gen = true;
			break;
		case 'h':
			printf("usage: pollux-bench ring [--keys N] [--key-size B] [--value-size B(<=1000)]\n"
			       "       [--dist uniform|zipf:S] [--get-ratio R] [--seconds S] [--no-huge] [--json]\n"
			       "       [--inline]  generate on the dataplane lcore itself, as a NIC's DMA\n"
			       "                   would deliver (only the request path is timed)\n");
			exit(0);
		default:
			return -1;
		}
	}
	if (o->key_size < bench_keys_min_size(o->keys))
		return bench_opt_bad("ring", "--key-size", "", "too small to name --keys distinct keys");
	return 0;
}

static int eal_start(const struct ring_opts *o, size_t mem_mb, const char *argv0)
{
	static char lcores[64], mem[32];
	char *args[16];
	int n = 0, cpus[2], ncpu = 0;
	cpu_set_t set;

	sched_getaffinity(0, sizeof(set), &set);
	for (int c = 0; c < CPU_SETSIZE && ncpu < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpu++] = c;
	if (ncpu == 1)
		cpus[1] = cpus[0];
	snprintf(lcores, sizeof(lcores), "--lcores=0@%d,1@%d", cpus[0], cpus[1]);
	args[n++] = (char *)argv0;
	args[n++] = lcores;
	args[n++] = "--no-pci";
	args[n++] = "--log-level=lib.eal:warning";
	if (o->no_huge) {
		snprintf(mem, sizeof(mem), "%zu", mem_mb);
		args[n++] = "--no-huge";
		args[n++] = "--no-shconf";
		args[n++] = "-m";
		args[n++] = mem;
	} else {
		args[n++] = "--in-memory";
	}
	args[n] = NULL;
	if (rte_eal_init(n, args) < 0) {
		fprintf(stderr, "pollux-bench ring: EAL init failed (%s); try --no-huge\n",
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

/* Ethernet/IPv4/UDP/frame header template; per request only lengths change. */
static void build_hdr(struct ring_bench *b)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)b->hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memset(b->hdr, 0, sizeof(b->hdr));
	eth->dst_addr = b->dp.mac;
	eth->src_addr = (struct rte_ether_addr){ { 0x02, 0, 0, 0, 0, 2 } };
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(0xc6120002); /* 198.18.0.2 */
	ip->dst_addr = b->dp.ip;
	udp->src_port = rte_cpu_to_be_16(40000);
	udp->dst_port = rte_cpu_to_be_16(b->dp.udp_port);
	uint8_t *frame = (uint8_t *)(udp + 1);
	frame[5] = 1; /* total datagrams = 1 */
}

/* Fill m with request i of the trace; returns false for a get, true for a set. */
static bool build_req(struct ring_bench *b, struct rte_mbuf *m, uint32_t e)
{
	uint32_t k = e & ~TRACE_SET;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *w = p + DP_HDR_ROOM;
	const uint8_t *key = bench_key(&b->keys, k);
	bool set = e & TRACE_SET;

	memcpy(p, b->hdr, DP_HDR_ROOM);
	if (set) {
		memcpy(w, "set ", 4);
		w += 4;
		memcpy(w, key, b->o.key_size);
		w += b->o.key_size;
		w += sprintf((char *)w, " 0 0 %u\r\n", b->o.value_size);
		bench_value_stamp(b->value, b->o.value_size, k);
		memcpy(w, b->value, b->o.value_size);
		w += b->o.value_size;
	} else {
		memcpy(w, "get ", 4);
		w += 4;
		memcpy(w, key, b->o.key_size);
		w += b->o.key_size;
	}
	memcpy(w, "\r\n", 2);
	w += 2;
	uint16_t len = (uint16_t)(w - p);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + RTE_ETHER_HDR_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len - RTE_ETHER_HDR_LEN));
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(len - RTE_ETHER_HDR_LEN - 20));
	/* checked by the generator's "NIC": the dataplane trusts the flag */
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	m->data_len = m->pkt_len = len;
	return set;
}

static void check_reply(struct ring_bench *b, struct rte_mbuf *m, struct round *r)
{
	const char *p = rte_pktmbuf_mtod_offset(m, const char *, DP_HDR_ROOM);
	uint16_t n = (uint16_t)(m->data_len - DP_HDR_ROOM);

	r->replies++;
	if (n >= 6 && memcmp(p, "VALUE ", 6) == 0) {
		r->hits++;
		/* spot-check one hit in 16: right key, right value stamp */
		uint32_t ks = b->o.key_size;
		if ((r->hits & 15) == 0 && n > 6 + ks) {
			uint64_t idx = strtoull(p + 7, NULL, 10);
			const char *v = memchr(p + 6 + ks, '\n', (size_t)(n - 6 - ks));
			if (p[6 + ks] != ' ' || v == NULL || v + 1 + b->o.value_size > p + n ||
			    memcmp(p + 6, bench_key(&b->keys, idx), ks) != 0 ||
			    !bench_value_ok((const uint8_t *)v + 1, b->o.value_size, idx))
				r->bad++;
		}
	}
	else if (n == 8 && memcmp(p, "STORED\r\n", 8) == 0)
		r->sets++;
	else if (!(n == 5 && memcmp(p, "END\r\n", 5) == 0))
		r->bad++;
}

/* Generator on the main lcore: keeps the RX ring fed and drains replies for secs. */
static void generate(struct ring_bench *b, double secs, struct round *r)
{
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc(), end = start + (uint64_t)(secs * hz);
	size_t pos = 0;
	struct rte_mbuf *ms[DP_BURST];
	void *outs[DP_BURST * 2];

	memset(r, 0, sizeof(*r));
	while (rte_rdtsc() < end) {
		if (rte_ring_free_count(b->rx) >= DP_BURST &&
		    rte_pktmbuf_alloc_bulk(b->dp.pool, ms, DP_BURST) == 0) {
			for (unsigned i = 0; i < DP_BURST; i++) {
				build_req(b, ms[i], b->trace[pos]);
				if (++pos == b->trace_len)
					pos = 0;
			}
			unsigned q = rte_ring_enqueue_burst(b->rx, (void **)ms, DP_BURST, NULL);
			r->sent += q;
			if (q < DP_BURST)
				rte_pktmbuf_free_bulk(ms + q, DP_BURST - q);
		}
		unsigned n = rte_ring_dequeue_burst(b->tx, outs, RTE_DIM(outs), NULL);
		for (unsigned i = 0; i < n; i++)
			check_reply(b, outs[i], r);
		rte_pktmbuf_free_bulk((struct rte_mbuf **)outs, n);
	}
	r->secs = (double)(rte_rdtsc() - start) / (double)hz;
}

static uint64_t turnaround_busy; /* cycles of turnaround loops that moved packets */

/* The baseline's dataplane lcore: send every frame straight back. */
static int turnaround(void *arg)
{
	struct dp *dp = arg;
	struct rte_mbuf *ms[DP_BURST];

	while (!atomic_load_explicit(&dp->quit, memory_order_relaxed)) {
		uint64_t t0 = rte_rdtsc();
		uint16_t n = rte_eth_rx_burst(dp->port, 0, ms, DP_BURST);
		if (n == 0)
			continue;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_ether_hdr *eth = rte_pktmbuf_mtod(ms[i], struct rte_ether_hdr *);
			struct rte_ether_addr a = eth->dst_addr;
			eth->dst_addr = eth->src_addr;
			eth->src_addr = a;
		}
		uint16_t s = rte_eth_tx_burst(dp->port, 0, ms, n);
		if (s < n)
			rte_pktmbuf_free_bulk(ms + s, n - s);
		turnaround_busy += rte_rdtsc() - t0;
	}
	return 0;
}

/*
 * --inline: one core plays NIC and dataplane in turn. Per burst, untimed:
 * allocate mbufs from this lcore's cache (the ones its last replies freed,
 * as a NIC's RX refill gets what TX completion freed), write the requests,
 * and flush their data lines to memory, as DMA without direct cache
 * placement leaves them; the mbuf headers stay in cache, as the PMD's RX
 * writes them on this core. Timed: the dataplane's burst (prefetch, parse,
 * execute, reply in place, headers) and its TX into the ring. Untimed
 * again: take the replies off the ring, check and free them.
 */
typedef void burst_fn(struct ring_bench *b, struct rte_mbuf **ms, unsigned n);

static void burst_pollux(struct ring_bench *b, struct rte_mbuf **ms, unsigned n)
{
	dp_lcore_input(b->dp.lc[0], ms, n);
	dp_lcore_tx_flush(b->dp.lc[0]);
}

static void burst_turnaround(struct ring_bench *b, struct rte_mbuf **ms, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(ms[i], struct rte_ether_hdr *);
		struct rte_ether_addr a = eth->dst_addr;
		eth->dst_addr = eth->src_addr;
		eth->src_addr = a;
	}
	uint16_t s = rte_eth_tx_burst(b->dp.port, 0, ms, (uint16_t)n);
	if (s < n)
		rte_pktmbuf_free_bulk(ms + s, n - s);
}

static uint64_t inline_round(struct ring_bench *b, burst_fn *fn, struct round *r)
{
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc();
	uint64_t end = start + (uint64_t)(b->o.seconds / 2 * (double)hz), timed = 0;
	size_t pos = 0;
	struct rte_mbuf *ms[DP_BURST];
	void *outs[DP_BURST * 2];

	memset(r, 0, sizeof(*r));
	while (rte_rdtsc() < end) {
		if (rte_pktmbuf_alloc_bulk(b->dp.pool, ms, DP_BURST) != 0)
			break;
		for (unsigned i = 0; i < DP_BURST; i++) {
			build_req(b, ms[i], b->trace[pos]);
			if (++pos == b->trace_len)
				pos = 0;
			const uint8_t *d = rte_pktmbuf_mtod(ms[i], const uint8_t *);
			for (unsigned off = 0; off < ms[i]->data_len + RTE_CACHE_LINE_SIZE * 1u;
			     off += RTE_CACHE_LINE_SIZE)
				_mm_clflush(RTE_PTR_ALIGN_FLOOR(d + off, RTE_CACHE_LINE_SIZE));
		}
		_mm_mfence();
		r->sent += DP_BURST;
		uint64_t t0 = rte_rdtsc_precise();
		fn(b, ms, DP_BURST);
		timed += rte_rdtsc_precise() - t0;
		unsigned n;
		while ((n = rte_ring_dequeue_burst(b->tx, outs, RTE_DIM(outs), NULL)) > 0) {
			for (unsigned i = 0; i < n; i++)
				check_reply(b, outs[i], r);
			rte_pktmbuf_free_bulk((struct rte_mbuf **)outs, n);
		}
	}
	r->secs = (double)(rte_rdtsc() - start) / (double)hz;
	return timed;
}

static void drain(struct ring_bench *b)
{
	void *outs[DP_BURST];
	unsigned n;
	while ((n = rte_ring_dequeue_burst(b->tx, outs, DP_BURST, NULL)) > 0)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)outs, n);
	while ((n = rte_ring_dequeue_burst(b->rx, outs, DP_BURST, NULL)) > 0)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)outs, n);
}

static double run_round(struct ring_bench *b, lcore_function_t *fn, void *arg, struct round *r)
{
	unsigned worker = rte_get_next_lcore(rte_lcore_id(), 1, 0);

	atomic_store(&b->dp.quit, false);
	rte_eal_remote_launch(fn, arg, worker);
	generate(b, b->o.seconds / 2, r);
	atomic_store(&b->dp.quit, true);
	rte_eal_wait_lcore(worker);
	drain(b);
	return (double)r->replies / r->secs / 1e6;
}

static int setup(struct ring_bench *b)
{
	struct dp *dp = &b->dp;
	char msg[256];

	px_settings_defaults(&dp->set);
	dp->set.mem_mb = (b->o.keys * (9 + b->o.key_size + b->o.value_size) * 2 >> 20) + 16;
	dp->set.index_items = b->o.keys;
	dp->set.idle_sleep_max_us = 0;
	dp->set.item_size_max = 4096;
	/* No control plane: the default path is a running appliance's region,
	 * which a benchmark must never attach to (it would take over the
	 * region's dataplane identity and publish its counters there). */
	dp->set.shm_path[0] = '\0';
	if (px_settings_arg(&dp->set, "ip=198.18.0.1", msg, sizeof(msg)) != 0)
		return -1;
	dp->nlcores = 1;
	dp->tsc_hz = rte_get_tsc_hz();
	if (bench_keys_build(&b->keys, b->o.keys, b->o.key_size, dp->set.hash_seed) != 0)
		return -1;
	dp->ip = rte_cpu_to_be_32(dp->set.ip);
	dp->udp_port = (uint16_t)dp->set.udp_port;
	b->rx = rte_ring_create("bench_rx", RING_SIZE, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	b->tx = rte_ring_create("bench_tx", RING_SIZE, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (b->rx == NULL || b->tx == NULL)
		return -1;
	int port = rte_eth_from_rings("bench_ring", &b->rx, 1, &b->tx, 1, (unsigned)rte_socket_id());
	if (port < 0)
		return -1;
	dp->port = (uint16_t)port;
	if (dp_setup(dp) != 0 || dp_port_init(dp) != 0)
		return -1;
	/* The ring port stands in for a NIC: the generator marks RX checksums
	 * good, and TX checksums are left to the "NIC" as offloads would be. */
	dp->tx_cksum = true;
	build_hdr(b);
	/* preload every key straight into the partition */
	b->value = calloc(1, b->o.value_size);
	for (uint64_t i = 0; i < b->o.keys; i++) {
		bench_value_stamp(b->value, b->o.value_size, i);
		struct tbl_store_req r = {
			.k = { bench_key(&b->keys, i), b->o.key_size, b->keys.hashes[i] },
			.value = b->value, .vlen = b->o.value_size, .mode = TBL_SET,
		};
		if (tbl_store(dp->parts[0], &r, NULL) != TBL_OK)
			return -1;
	}
	/* trace, generated before timing */
	struct zipf_gen z;
	struct zipf_rng rng;
	b->trace_len = 1 << 22;
	b->trace = malloc(b->trace_len * sizeof(uint32_t));
	if (b->trace == NULL || zipf_init(&z, b->o.keys, b->o.zipf_s, 42, true) != 0)
		return -1;
	zipf_rng_seed(&rng, 7);
	for (size_t i = 0; i < b->trace_len; i++)
		b->trace[i] = (uint32_t)zipf_next(&z) |
			      (zipf_rng_double(&rng) >= b->o.get_ratio ? TRACE_SET : 0);
	zipf_free(&z);
	return 0;
}

static int inline_main(struct ring_bench *b, double hz)
{
	struct round pr, br;
	/* the dataplane's lcore state runs on this (main) lcore here */
	uint64_t base_cyc = inline_round(b, burst_turnaround, &br);
	uint64_t cyc = inline_round(b, burst_pollux, &pr);
	double base = base_cyc ? (double)br.replies / ((double)base_cyc / hz) / 1e6 : 0;
	double mops = cyc ? (double)pr.replies / ((double)cyc / hz) / 1e6 : 0;
	double hit = pr.replies - pr.sets ? (double)pr.hits / (double)(pr.replies - pr.sets) : 0;
	double ns = pr.replies ? (double)cyc / hz * 1e9 / (double)pr.replies : 0;

	if (b->o.json) {
		printf("{\"bench\":\"ring\",\"mode\":\"inline\",\"keys\":%" PRIu64 ",\"key_size\":%u,"
		       "\"value_size\":%u,\"zipf\":%g,\"get_ratio\":%g,\"seconds\":%g,\"mops\":%.3f,"
		       "\"ns_per_req\":%.1f,\"baseline_mops\":%.3f,\"ratio\":%.3f,\"hit_ratio\":%.4f,"
		       "\"bad_replies\":%" PRIu64 ",\"requests\":%" PRIu64 "}\n",
		       b->o.keys, b->o.key_size, b->o.value_size, b->o.zipf_s, b->o.get_ratio,
		       b->o.seconds, mops, ns, base, mops / base, hit, pr.bad, pr.replies);
	} else {
		printf("request path, NIC-like delivery on the dataplane lcore (%" PRIu64 " keys, %u/%u B, "
		       "zipf %g, %.0f%% gets)\n", b->o.keys, b->o.key_size, b->o.value_size,
		       b->o.zipf_s, b->o.get_ratio * 100);
		printf("  pollux          %8.3f Mreq/s per lcore-second of request path (%.1f ns per "
		       "request; hit ratio %.4f, bad replies %" PRIu64 ")\n", mops, ns, hit, pr.bad);
		printf("  ring turnaround %8.3f Mpkt/s (bare swap and TX of the same frames)\n", base);
		printf("  ratio           %8.3f\n", mops / base);
	}
	return pr.bad || pr.replies == 0 ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}

int bench_ring_main(int argc, char **argv)
{
	static struct ring_bench b;
	struct round pr, br;

	if (parse(argc, argv, &b.o) != 0)
		return BENCH_EXIT_USAGE;
	size_t mem_mb = (b.o.keys * (9 + b.o.key_size + b.o.value_size) * 2 >> 20) +
			(b.o.keys * 16 >> 20) + 256;
	if (eal_start(&b.o, mem_mb, argv[0]) != 0)
		return BENCH_EXIT_FAIL;
	if (rte_lcore_count() < 2) {
		fprintf(stderr, "pollux-bench ring: needs 2 lcores\n");
		return BENCH_EXIT_FAIL;
	}
	if (setup(&b) != 0) {
		fprintf(stderr, "pollux-bench ring: setup failed: %s\n", rte_strerror(rte_errno));
		return BENCH_EXIT_FAIL;
	}
	/*
	 * One generator core cannot always keep a dataplane lcore busy on this
	 * kind of machine, so capacity is requests per second of the lcore's
	 * busy time (cycles of loops that had work); wall-clock rates are
	 * reported too.
	 */
	double hz = (double)rte_get_tsc_hz();
	if (b.o.inline_gen)
		return inline_main(&b, hz);
	double base_wall = run_round(&b, turnaround, &b.dp, &br);
	double base = turnaround_busy ? (double)br.replies / ((double)turnaround_busy / hz) / 1e6 : 0;
	struct dp_counters before = b.dp.lc[0]->c;
	double wall = run_round(&b, dp_lcore_main, b.dp.lc[0], &pr);
	const struct dp_counters *c = &b.dp.lc[0]->c;
	uint64_t busy = c->busy_loops - before.busy_loops, idle = c->idle_loops - before.idle_loops;
	uint64_t busy_cyc = c->busy_cycles - before.busy_cycles;
	double mops = busy_cyc ? (double)pr.replies / ((double)busy_cyc / hz) / 1e6 : 0;
	double idle_share = busy + idle ? (double)idle / (double)(busy + idle) : 0;
	double hit = pr.replies - pr.sets ? (double)pr.hits / (double)(pr.replies - pr.sets) : 0;

	if (b.o.json) {
		printf("{\"bench\":\"ring\",\"keys\":%" PRIu64 ",\"key_size\":%u,\"value_size\":%u,"
		       "\"zipf\":%g,\"get_ratio\":%g,\"seconds\":%g,\"mops\":%.3f,"
		       "\"baseline_mops\":%.3f,\"ratio\":%.3f,\"wall_mops\":%.3f,"
		       "\"baseline_wall_mops\":%.3f,\"hit_ratio\":%.4f,\"bad_replies\":%" PRIu64
		       ",\"dataplane_idle_share\":%.3f,\"requests\":%" PRIu64 "}\n",
		       b.o.keys, b.o.key_size, b.o.value_size, b.o.zipf_s, b.o.get_ratio, b.o.seconds,
		       mops, base, mops / base, wall, base_wall, hit, pr.bad, idle_share, pr.replies);
	} else {
		printf("ring-fed full request path, 1 dataplane lcore (%" PRIu64 " keys, %u/%u B, "
		       "zipf %g, %.0f%% gets)\n", b.o.keys, b.o.key_size, b.o.value_size, b.o.zipf_s,
		       b.o.get_ratio * 100);
		printf("  pollux          %8.3f Mreq/s per busy lcore-second (%.3f wall; hit ratio "
		       "%.4f, bad replies %" PRIu64 ")\n", mops, wall, hit, pr.bad);
		printf("  ring turnaround %8.3f Mpkt/s per busy lcore-second (%.3f wall; bare I/O on the "
		       "same rings)\n", base, base_wall);
		printf("  ratio           %8.3f\n", mops / base);
		if (idle_share > 0.05)
			printf("  note: the dataplane lcore found no work in %.0f%% of its loops: the "
			       "generator limited the wall-clock rate\n", idle_share * 100);
	}
	return pr.bad ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
