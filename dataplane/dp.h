/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-dp's shared state: the process-wide struct dp, the per-lcore
 * struct dp_lcore (one cache-aligned struct per dataplane lcore, passed as
 * the launch argument), and the continuation that carries a UDP datagram
 * between lcores when it must reach a partition's owner. Everything here is
 * set up before the lcores launch and never reallocated.
 */
#ifndef PX_DP_H
#define PX_DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "net/tcp.h"
#include "pollux/shm.h"
#include "proto/mc_exec.h"
#include "px_settings.h"
#include "txhold.h"

#define DP_LCORES_MAX 64
/*
 * Packets per RX burst. The burst's prefetch pipeline (lcore.c) fills and
 * drains once per burst, and the TX burst and its kick are paid once per
 * burst, so a longer burst spreads them over more requests: ring --inline
 * measured 32 → 64 at +4.6% and 128 at +5%, for at most one burst's service
 * time more queueing under load (64 x ~90 ns). A build may set it
 * (-Dc_args=-DDP_BURST=N) to compare sizes with tests/bench/ab_ring.sh.
 */
#ifndef DP_BURST
#define DP_BURST 64
#endif
#define DP_UDP_REQ_MAX 1472        /* one datagram's payload on a 1500-byte MTU */
#define DP_HDR_ROOM (RTE_ETHER_HDR_LEN + 20 + 8 + 8) /* eth + ipv4 + udp + memcached frame */
#define DP_SEG_PAYLOAD (1400 - 8)  /* memcached reply datagram: 1400 bytes with its frame */
#define DP_FWD_RING 1024

/* Per-lcore counters; written by the owning lcore only. */
#define DP_COUNTERS(X) \
	X(rx_pkts) X(tx_pkts) X(rx_bytes) X(tx_bytes) X(tx_drops) \
	X(arp_replies) X(icmp_echo) X(udp_reqs) X(udp_replies) \
	X(drop_not_ipv4) X(drop_bad_ip) X(drop_not_ours) X(drop_bad_udp) X(drop_port) \
	X(drop_frame) X(drop_truncated) X(drop_nomem) \
	X(fwd_out) X(fwd_in) X(fwd_full) X(remote_reads) \
	X(fault_drops) X(fault_dups) X(fault_reorders) X(fault_delays) \
	X(busy_loops) X(idle_loops) X(sleeps) X(busy_cycles) \
	X(tx_kicks) X(tx_held)

struct dp_counters {
#define DP_X_FIELD(n) uint64_t n;
	DP_COUNTERS(DP_X_FIELD)
#undef DP_X_FIELD
};

/* Where a UDP reply goes, from the request's headers. */
struct dp_peer {
	struct rte_ether_addr mac;
	uint16_t port;             /* network order */
	uint32_t ip;               /* network order */
	uint16_t dst_port;         /* UDP port the client sent to (reply source), host order */
	uint16_t req_id;           /* memcached frame's request id */
};

/*
 * A UDP request datagram on its way through the partitions' owners: the
 * request's payload copy, how far it has been executed, and the reply
 * segments produced so far. The first segment is the request mbuf itself,
 * whose headers become the reply's.
 */
struct dp_cont {
	struct rte_mbuf *req;      /* request mbuf: reply segment 0 */
	struct rte_mbuf *tail;     /* last reply segment */
	uint32_t nseg;
	uint16_t pay_len;
	uint16_t pay_off;          /* next request starts here */
	struct dp_peer peer;
	uint64_t flush_done;
	bool no_reply;             /* deferred work for another owner: no client */
	uint8_t pay[DP_UDP_REQ_MAX];
};

struct dp_fault {
	double p[8];               /* rx drop dup reorder delay, tx drop dup reorder delay */
	uint64_t delay_tsc;
	uint64_t rng;
	struct rte_mbuf *held[2][DP_BURST];
	unsigned nheld[2];
	struct rte_mbuf *delayed[2][DP_BURST];
	uint64_t due[2][DP_BURST];
	unsigned ndelayed[2];
	bool on;
};

struct dp;
struct dp_tcp_mc;
struct dp_tfwd;
struct dp_tcp_ref {
	uint32_t slot, gen;
};

#define DP_WAL_HOLD 1024           /* replies an lcore holds for fsync (sync mode) */

/* A reply (or a forward) waiting until its records are durable. */
struct dp_wal_held {
	struct dp_cont *c;
	uint64_t lsn;
	int to;                    /* forward to this lcore's partition, -1: send */
};

/* An lcore's write-ahead log state (wal_dp.c); the lcore alone touches it. */
struct dp_wal {
	struct px_shm_hdr *region; /* region the ring pointers belong to, NULL: none */
	struct px_shm_ring *ring;  /* mutation ring (this lcore produces) */
	uint8_t *data;
	struct px_shm_ring *replay; /* replay ring (this lcore consumes) */
	uint8_t *rdata;
	uint64_t size;             /* bytes of each ring, a power of two */
	uint64_t head;             /* our copy of ring->head */
	uint64_t tail;             /* ring->tail as last read */
	uint64_t lsn;              /* LSN of the last record pushed */
	bool open;                 /* replay done: records may be pushed */
	uint8_t *bounce;           /* a replay record that wraps the ring */
	uint64_t replayed;
	uint64_t replay_bad;       /* replay records that did not decode (dropped) */
	uint64_t held_total;       /* replies held for fsync */
	uint64_t hold_full;        /* replies dropped: the hold queue was full */
	uint32_t hold_head, hold_tail;
	struct dp_wal_held hold[DP_WAL_HOLD];
};

/* A received datagram's first key, found and hashed by the burst prefetch:
 * klen 0 when there is none; koff is its offset in the memcached payload. */
struct dp_hint {
	uint64_t hash;
	uint16_t koff;
	uint16_t klen;
	int8_t depth;              /* chain depth the next item hint looks at, -1: none */
};

struct dp_lcore {
	unsigned idx;              /* dataplane index = partition = RX/TX queue */
	unsigned lcore_id;
	struct dp *dp;
	struct mc_exec x;
	struct rte_mbuf *tx[DP_BURST * 4];
	unsigned ntx;
	uint64_t idle_since;       /* tsc of the first empty poll in a row, 0 if busy */
	uint64_t sleep_us;
	int wait_fd;               /* the RX queue's kernel socket to ppoll() when idle, or -1 */
	uint64_t last_tick;
	struct dp_fault fault;
	struct dp_counters c;
	uint64_t applied_gen;      /* last dp->cmd_gen applied to the own partition */
	/* burst prefetch: each RX packet's first-key hash, reused by the executor */
	struct dp_hint hint[DP_BURST * 4];
	unsigned burst_pos;        /* index of the packet being run in this burst */
	uint64_t lat_count;
	uint64_t lat_sum_ns;
	uint64_t lat_hist[PX_SHM_LAT_BUCKETS];
	/* TCP (tcp_mc.c): the stack, per-slot memcached state, and forwarded
	 * requests waiting for room in a full lcore-pair ring */
	struct tcp_stack *tcp;
	struct dp_tcp_mc *tmc;
	struct dp_tfwd *tfwd_head[DP_LCORES_MAX], *tfwd_tail[DP_LCORES_MAX];
	unsigned tfwd_backlog;
	uint64_t tcp_pub_in, tcp_pub_out; /* bytes already added to dp->info */
	struct dp_tcp_ref *tcp_held;       /* connections holding replies (sync WAL) */
	uint32_t ntcp_held;
	struct dp_wal wal;
	/* TX coalescing (txhold.h): the loops since the last kick whose
	 * replies are queued, their RX tsc and requests (service time) */
	struct dp_txhold txhold;
	uint32_t tick_no;          /* ticks so far */
	unsigned flows;            /* TCP connections with requests in this tick */
	unsigned nheld;
	struct { uint64_t t0; unsigned n; } held[DP_TXHOLD_BURSTS];
	uint8_t rbuf[] __rte_cache_aligned; /* remote reads: key + largest value */
} __rte_cache_aligned;

struct dp {
	struct px_settings set;
	uint16_t port;
	uint16_t nlcores;
	struct rte_ether_addr mac;
	uint32_t ip;               /* network byte order */
	uint16_t udp_port;         /* host order */
	bool tx_cksum;             /* port computes IPv4 and UDP checksums */
	bool tx_tcp_cksum;         /* ... and TCP checksums */
	uint16_t tcp_port;         /* host order, 0 = no TCP */
	_Atomic uint32_t tcp_open; /* connections open on every lcore (max_conns) */
	/* Which lcore holds a TCP connection, for segments a port delivers to
	 * another queue (AF_PACKET's fanout rolls over when a ring is full):
	 * 4-way sets of (peer address:port << 8 | lcore + 1); lcores > 1 only */
	_Atomic uint64_t *tcp_owner;
	uint32_t tcp_owner_sets;   /* a power of two */
	struct rte_mempool *pool;
	struct rte_mempool *cont_pool;
	struct px_table *parts[DP_LCORES_MAX];
	struct dp_lcore *lc[DP_LCORES_MAX];
	struct rte_ring *fwd[DP_LCORES_MAX][DP_LCORES_MAX]; /* [from][to], SP/SC */
	struct mc_server_info info;
	uint64_t tsc_hz;
	double ns_per_tsc;
	atomic_bool quit;          /* main: wo (signal), lcores: ro */

	/* control plane (shm_dp.c); lcore 0 owns these but cmd_gen */
	struct px_shm_hdr *shm;    /* NULL until pollux-cp's region is attached */
	uint64_t shm_gen;
	uint64_t shm_ino;
	uint64_t shm_retry_tsc;
	bool cp_alive;             /* pollux-cp's heartbeat is fresh (lcore 0) */
	enum { DP_CMD_NONE, DP_CMD_FLUSH, DP_CMD_MEM } cmd;
	uint64_t cmd_arg;
	_Atomic uint64_t cmd_gen;  /* lcore 0: wo; every lcore applies each generation once */
	uint64_t cmd_seq;          /* mailbox request in flight, 0 = none */
	uint32_t wal_mode;         /* 0 off, 1 async, 2 sync (from set.wal_mode) */
};

/* shm_dp.c */
int dp_shm_attach(struct dp *dp);
void dp_shm_detach(struct dp *dp);
void dp_shm_publish(struct dp_lcore *lc);
void dp_shm_apply(struct dp_lcore *lc);
void dp_shm_tick0(struct dp *dp, uint64_t now_tsc);
/* wal_dp.c: the write-ahead log's dataplane side. */
/* The durable LSN pollux-cp published for lcore's ring (0: none yet). */
uint64_t dp_wal_durable_lsn(const struct dp *dp, unsigned lcore);
/* Whether wal_mode=sync: replies to writes wait for dp_wal_durable_lsn. */
bool dp_wal_sync(const struct dp *dp);
/* Parse dp->set.wal_mode into dp->wal_mode. 0 or -EINVAL. */
int dp_wal_config(struct dp *dp);
/* Every tick: follow the region, open the log once replay is done, counters. */
void dp_wal_tick(struct dp_lcore *lc);
/* Every loop: apply replay records, release held replies. Returns work done. */
unsigned dp_wal_poll(struct dp_lcore *lc);
/*
 * Sync mode: hold continuation c until lsn is durable, then send it (to < 0)
 * or forward it to lcore `to`. False when the queue is full (caller drops).
 */
bool dp_wal_hold(struct dp_lcore *lc, struct dp_cont *c, uint64_t lsn, int to);
/* telemetry.c */
int dp_telemetry_register(struct dp *dp);
/* setup.c */
size_t dp_part_region_size(const struct px_settings *s, struct tbl_config *cfg, unsigned idx);
/* Pools, partitions, lcore structs and rings for dp->nlcores lcores. */
int dp_setup(struct dp *dp);
void dp_print_counters(const struct dp *dp);
/* lcore.c */
int dp_lcore_main(void *arg);
/* One received burst run to completion (replies queued for TX), and the TX
 * of what is queued: the loop's steps, for benchmarks that drive them. */
void dp_lcore_input(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n);
void dp_lcore_tx_flush(struct dp_lcore *lc);
void dp_tx(struct dp_lcore *lc, struct rte_mbuf *m);
/* net.c: one received frame; consumes m. */
void dp_net_input(struct dp_lcore *lc, struct rte_mbuf *m);
/* udp_mc.c */
void dp_mc_datagram(struct dp_lcore *lc, struct rte_mbuf *m, uint16_t dst_port,
		    const uint8_t *dgram, uint16_t len);
void dp_mc_resume(struct dp_lcore *lc, struct dp_cont *c);
void dp_mc_defer(void *ctx, unsigned part, const char *req, size_t len);
/* A continuation held for fsync (sync mode): send it (to < 0) or forward it. */
void dp_mc_release(struct dp_lcore *lc, struct dp_cont *c, int to);
/* Burst prefetch of received frame i: find and hash its first key, prefetch
 * its bucket (dp_mc_hint), then the item the bucket points to or, when the
 * key's tag is not there, the chain's next bucket (_item, depth 0), then the
 * item found in that one (depth 1). */
void dp_mc_hint(struct dp_lcore *lc, struct rte_mbuf *m, unsigned i);
void dp_mc_hint_item(struct dp_lcore *lc, unsigned i, unsigned depth);
/* Finish a reply datagram set: headers for every segment, then TX. */
void dp_udp_reply_send(struct dp_lcore *lc, struct dp_cont *c);
/* tcp_mc.c: memcached over each lcore's TCP stack */
int dp_tcp_setup(struct dp *dp);
void dp_tcp_input(struct dp_lcore *lc, struct rte_mbuf *m, const void *ip, const void *tcp,
		  uint16_t ip_len);
/* A forwarding-ring message that is a TCP request or its reply (tag 1),
 * or a TCP segment for a connection of the receiving lcore (tag 2). */
static inline bool dp_msg_is_tcp(const void *msg)
{
	return ((uintptr_t)msg & 3) == 1;
}
static inline bool dp_msg_is_seg(const void *msg)
{
	return ((uintptr_t)msg & 3) == 2;
}
void dp_tcp_msg(struct dp_lcore *lc, void *msg);
void dp_tcp_seg_in(struct dp_lcore *lc, void *msg);
/* Once per loop: flush output, run timers, retry backlogged forwards. */
void dp_tcp_poll(struct dp_lcore *lc, uint64_t now_tsc);
/* Once a millisecond: publish byte counts for memcached's stats. */
void dp_tcp_tick(struct dp_lcore *lc);
void dp_tcp_print_counters(const struct dp *dp);
/* After the lcores stopped: every connection and message freed. */
void dp_tcp_teardown(struct dp *dp);
/* fault.c */
void dp_fault_init(struct dp_lcore *lc);
unsigned dp_fault_rx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n, unsigned cap);
unsigned dp_fault_tx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n, unsigned cap);
/* port.c */
int dp_port_init(struct dp *dp);
void dp_port_steer(struct dp *dp);

#endif
