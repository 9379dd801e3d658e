/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane lcore loop: RX burst from this lcore's queue, run each frame
 * to completion, take continuations forwarded by other lcores, let the TCP
 * stack send what the burst produced and run its timers, TX burst.
 * Once per millisecond: publish the time to the owned partition and run a
 * bounded expiry sweep. When there is nothing to do the lcore pauses, then
 * sleeps: in ppoll() on its RX queue's kernel socket where the port has one
 * (a frame wakes it), else in doubling steps up to idle_sleep_max_us, so
 * the appliance can share a small machine. No locks, no allocation, and
 * no syscalls while busy beyond the PMD's TX kick, which a saturated lcore
 * can share between loops (TX coalescing, tx_hold_us).
 */
#include <cpuid.h>
#include <poll.h>
#include <sys/prctl.h>
#include <time.h>

#include <jemalloc/jemalloc.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>

#include "dp.h"
#include "px_clock.h"


static unsigned tx_flush(struct dp_lcore *lc);

void dp_tx(struct dp_lcore *lc, struct rte_mbuf *m)
{
	/* A long reply (up to ~750 datagrams for 1 MiB) fills the array many
	 * times over: send what is queued and carry on. */
	if (unlikely(lc->ntx == RTE_DIM(lc->tx)))
		tx_flush(lc);
	lc->tx[lc->ntx++] = m;
}

#define TX_RETRIES 64

/* Hand the queued packets (and any fault-injection delays now due) to the
 * port; returns how many it took. */
static unsigned tx_flush(struct dp_lcore *lc)
{
	unsigned n = lc->ntx, sent = 0;

	if (unlikely(lc->fault.on))
		n = dp_fault_tx(lc, lc->tx, n, RTE_DIM(lc->tx));
	lc->ntx = 0;
	for (unsigned i = 0; i < n; i++)
		lc->c.tx_bytes += lc->tx[i]->pkt_len;
	/* A full TX ring drains in microseconds: retry a bounded number of
	 * times before dropping (each retry is one PMD call, no syscall
	 * beyond the PMD's own kick). */
	for (unsigned tries = 0; sent < n && tries < TX_RETRIES; tries++) {
		sent += rte_eth_tx_burst(lc->dp->port, (uint16_t)lc->idx, lc->tx + sent,
					 (uint16_t)(n - sent));
		if (sent < n)
			rte_pause();
	}
	lc->c.tx_pkts += sent;
	lc->c.tx_kicks += sent > 0;
	for (unsigned i = sent; i < n; i++) {
		lc->c.tx_drops++;
		lc->c.tx_bytes -= lc->tx[i]->pkt_len;
		rte_pktmbuf_free(lc->tx[i]);
	}
	return sent;
}

/*
 * Prefetch for writing: a get's reply is built over its request, so the
 * mbuf's first line and the packet lines are written. Fetched shared, each
 * would need a second coherence transaction for the write when another
 * core (the kernel's copy into an AF_XDP frame, the bench's generator)
 * wrote it last. PREFETCHW where the CPU has it (every x86-64 CPU of the
 * last ten years; CPUID says), a plain prefetch elsewhere.
 */
static bool have_prefetchw;

__attribute__((constructor)) static void probe_prefetchw(void)
{
	unsigned a, b, c, d;
	have_prefetchw = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & bit_PRFCHW);
}

static inline void prefetchw(const void *p)
{
	if (likely(have_prefetchw))
		__asm__ volatile("prefetchw %0" : : "m"(*(const volatile char *)p));
	else
		rte_prefetch0(p);
}

/*
 * The burst runs as a pipeline over a sliding window: packet lines of frame
 * i + 4 * LAG, key hash and bucket of i + 3 * LAG, item (or, when the key's
 * tag is not in its bucket, the chain's overflow bucket) of i + 2 * LAG, the
 * item of a key found in that overflow bucket of i + LAG, then run frame i.
 * Each stage's miss overlaps the work of the frames in between,
 * and no more misses are in flight at once than the core can track (a
 * prefetch that finds every miss buffer busy stalls like a load).
 */
#define DP_PREFETCH_LAG 8

static inline void prefetch_frame(struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	prefetchw(d);
	prefetchw(d + RTE_CACHE_LINE_SIZE);
}

void dp_lcore_input(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n)
{
	const unsigned lag = DP_PREFETCH_LAG;

	if (n == 0)
		return;
	/* mbufs first: the PMD just wrote their first line on most ports; the
	 * second holds next and the TX offload lengths */
	for (unsigned i = 0; i < n; i++) {
		prefetchw(pkts[i]);
		rte_prefetch0(&pkts[i]->cacheline1);
	}
	for (unsigned i = 0; i < n + 4 * lag; i++) {
		if (i < n)
			prefetch_frame(pkts[i]);
		if (i >= lag && i - lag < n)
			dp_mc_hint(lc, pkts[i - lag], i - lag);
		if (i >= 2 * lag && i - 2 * lag < n)
			dp_mc_hint_item(lc, i - 2 * lag, 0);
		if (i >= 3 * lag && i - 3 * lag < n)
			dp_mc_hint_item(lc, i - 3 * lag, 1); /* keys in the first overflow bucket */
		if (i >= 4 * lag) {
			unsigned j = i - 4 * lag;
			lc->burst_pos = j;
			dp_net_input(lc, pkts[j]);
		}
	}
}

void dp_lcore_tx_flush(struct dp_lcore *lc)
{
	if (lc->ntx)
		tx_flush(lc);
}

static unsigned drain_forwarded(struct dp_lcore *lc)
{
	struct dp *dp = lc->dp;
	unsigned total = 0;

	for (unsigned from = 0; from < dp->nlcores; from++) {
		void *msgs[DP_BURST];
		if (from == lc->idx)
			continue;
		unsigned n = rte_ring_sc_dequeue_burst(dp->fwd[from][lc->idx], msgs, DP_BURST, NULL);
		for (unsigned i = 0; i < n; i++) {
			if (dp_msg_is_tcp(msgs[i]))
				dp_tcp_msg(lc, msgs[i]);
			else if (dp_msg_is_seg(msgs[i]))
				dp_tcp_seg_in(lc, msgs[i]);
			else
				dp_mc_resume(lc, msgs[i]);
		}
		total += n;
	}
	return total;
}

/* Once a millisecond: time, expiry sweep, control-plane commands and counters. */
static void tick(struct dp_lcore *lc, uint64_t now_tsc)
{
	struct px_table *own = lc->dp->parts[lc->idx];
	uint32_t now = px_clock_unix();

	lc->last_tick = now_tsc;
	lc->x.now = now;
	tbl_set_time(own, now);
	if (lc->dp->set.sweep_budget)
		tbl_sweep(own, (unsigned)lc->dp->set.sweep_budget);
	lc->c.remote_reads = lc->x.remote_reads;
	dp_tcp_tick(lc);
	dp_shm_apply(lc);
	if (lc->idx == 0)
		dp_shm_tick0(lc->dp, now_tsc);
	dp_wal_tick(lc);
	dp_shm_publish(lc);
}

/* Service time of a burst's requests: from RX to their replies handed to the port. */
static void lat_record(struct dp_lcore *lc, uint64_t tsc, unsigned n)
{
	uint64_t ns = (uint64_t)((double)tsc * lc->dp->ns_per_tsc);
	lc->lat_hist[px_shm_lat_bucket(ns)] += n;
	lc->lat_count += n;
	lc->lat_sum_ns += ns * n;
}

/* The queued replies went (a full TX array also flushes itself): the
 * service time of each loop's requests since the last kick, from its RX to
 * now. tx_held counts the requests that waited for a later loop's kick
 * (all but this loop's own). */
static void tx_sent(struct dp_lcore *lc, uint64_t end, bool own)
{
	for (unsigned i = 0; i < lc->nheld; i++) {
		lat_record(lc, end - lc->held[i].t0, lc->held[i].n);
		if (!own || i + 1 < lc->nheld)
			lc->c.tx_held += lc->held[i].n;
	}
	lc->nheld = 0;
	dp_txhold_sent(&lc->txhold);
}

/* The TX step with coalescing on (tx_hold_us): this loop's requests join
 * those waiting for a kick; all go when txhold.h says so, or every loop
 * while fault injection is on (its delays want each loop's flush).
 * Returns the packets the port took. */
static unsigned tx_coalesce(struct dp_lcore *lc, uint64_t now, uint64_t t0, unsigned n, bool input)
{
	unsigned sent = 0;

	if (n > 0) {
		lc->held[lc->nheld].t0 = t0;
		lc->held[lc->nheld].n = n;
		lc->nheld++;
	}
	if (lc->fault.on || !dp_txhold_wait(&lc->txhold, now, input, lc->ntx, lc->nheld)) {
		if (lc->ntx || lc->fault.on)
			sent = tx_flush(lc);
		tx_sent(lc, rte_rdtsc(), n > 0);
	}
	return sent;
}

static void idle(struct dp_lcore *lc, uint64_t now_tsc)
{
	uint64_t max = lc->dp->set.idle_sleep_max_us;

	lc->c.idle_loops++;
	if (lc->idle_since == 0) {
		lc->idle_since = now_tsc;
		return;
	}
	/* replies waiting to share a kick: keep polling, the loop sends them
	 * within tx_hold_us (cheaper than a sleep and wakeup, measured) */
	if (max == 0 || lc->ntx || now_tsc - lc->idle_since < lc->dp->set.idle_spin_us * lc->dp->tsc_hz / 1000000) {
		rte_pause();
		return;
	}
	lc->c.sleeps++;
	uint64_t us;
	if (lc->wait_fd >= 0 && lc->dp->nlcores == 1 && lc->wal.hold_head == lc->wal.hold_tail &&
	    lc->ntcp_held == 0) {
		/* A frame wakes the lcore: sleep up to the next tick (timers,
		 * control plane). With several lcores the forwarding rings have
		 * no such wakeup, nor has the fsync that releases held replies
		 * (sync WAL): then the sleeps stay short and growing. */
		uint64_t tick = lc->dp->tsc_hz / 1000, since = now_tsc - lc->last_tick;
		us = RTE_MIN(since >= tick ? 1 : (tick - since) * 1000000 / lc->dp->tsc_hz + 1, max);
	} else {
		us = lc->sleep_us = lc->sleep_us ? RTE_MIN(lc->sleep_us * 2, max) : 1;
	}
	/* idle_sleep_max_us goes up to a whole second: tv_nsec must stay below one */
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };
	if (lc->wait_fd >= 0) {
		struct pollfd p = { .fd = lc->wait_fd, .events = POLLIN };
		ppoll(&p, 1, &ts, NULL);
	} else {
		nanosleep(&ts, NULL);
	}
}

/*
 * The heap memory an lcore allocates (TCP send rings and carry buffers,
 * large forwarded requests) comes from a jemalloc arena of its own, so
 * lcores never share allocator state (DESIGN.md, Memory).
 */
static void own_arena(struct dp_lcore *lc)
{
	unsigned arena;
	size_t sz = sizeof(arena);

	if (mallctl("arenas.create", &arena, &sz, NULL, 0) != 0 ||
	    mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena)) != 0)
		printf("pollux-dp: lcore %u: no jemalloc arena of its own; sharing the default\n",
		       lc->idx);
}

int dp_lcore_main(void *arg)
{
	struct dp_lcore *lc = arg;
	struct dp *dp = lc->dp;
	uint64_t tick_tsc = dp->tsc_hz / 1000;
	struct rte_mbuf *pkts[DP_BURST * 4];

	own_arena(lc);
	dp_txhold_init(&lc->txhold, dp->set.tx_hold_us * dp->tsc_hz / 1000000);
	/* Idle sleeps are short (from 1 us): without this the kernel's 50 us
	 * default slack would stretch each one, and the latency with it. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	tick(lc, rte_rdtsc());
	uint64_t t0 = rte_rdtsc();
	while (!atomic_load_explicit(&dp->quit, memory_order_relaxed)) {
		unsigned n = rte_eth_rx_burst(dp->port, (uint16_t)lc->idx, pkts, DP_BURST);
		if (unlikely(lc->fault.on))
			n = dp_fault_rx(lc, pkts, n, RTE_DIM(pkts));
		dp_lcore_input(lc, pkts, n);
		unsigned fwd = dp->nlcores > 1 ? drain_forwarded(lc) : 0;
		if (dp->wal_mode != 0)
			fwd += dp_wal_poll(lc); /* replay records, replies released by fsync */
		uint64_t now = rte_rdtsc();
		/* TCP: replies and ACKs of this burst in as few segments as can be, timers */
		dp_tcp_poll(lc, now);
		unsigned sent;
		/* TX coalescing is off below 8 connections with requests (UDP,
		 * few clients) and with tx_hold_us=0: then every loop sends.
		 * Held replies always have an open wait, so they take the
		 * coalescing path until they go. */
		if (likely(dp_txhold_off(&lc->txhold))) {
			sent = lc->ntx || lc->fault.on ? tx_flush(lc) : 0;
			if (n > 0)
				lat_record(lc, rte_rdtsc() - t0, n);
		} else {
			sent = tx_coalesce(lc, now, t0, n, n > 0 || fwd > 0);
		}
		if (now - lc->last_tick >= tick_tsc) {
			dp_txhold_tick(&lc->txhold, lc->flows);
			lc->flows = 0;
			lc->tick_no++;
			tick(lc, now);
		}
		if (n == 0 && fwd == 0) {
			/* Output of timers alone (TCP retransmits, delayed ACKs,
			 * window probes; fault-injection delays) is work too. */
			if (sent)
				lc->c.busy_cycles += rte_rdtsc() - t0;
			idle(lc, now);
			t0 = rte_rdtsc();
		} else {
			/* Cycles of loops that did work, up to their replies handed to
			 * the port (TCP output, the TX burst and its kick included):
			 * CPU per request without idle polling. */
			uint64_t end = rte_rdtsc();
			lc->c.busy_cycles += end - t0;
			lc->c.busy_loops++;
			lc->idle_since = 0;
			lc->sleep_us = 0;
			t0 = end;
		}
	}
	tx_flush(lc);
	return 0;
}
