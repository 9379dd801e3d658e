/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared-memory region between pollux-cp and pollux-dp (DESIGN.md §3).
 * pollux-cp creates it as a file (default /dev/shm/pollux); pollux-dp maps
 * it and refuses any other magic or ABI version. Either process may die and
 * come back: the region outlives both, and each side watches the other's
 * heartbeat. Every field says who writes it; the other side only reads.
 *
 * Layout (byte offsets from the region start; all blocks 64-byte aligned):
 *
 *   0                        struct px_shm_hdr          header, mailbox
 *   hdr_size                 struct px_shm_lcore [lcores_max]  per-lcore
 *                            counters and latency histogram, stride 'lcore_size'
 *   lcores_off + n*stride    per lcore: mutation ring (dp -> cp, WAL records)
 *                            then replay ring (cp -> dp), ring_bytes each,
 *                            each a struct px_shm_ring followed by its bytes
 *
 * Reader rules: a reader of a px_shm_lcore takes `seq` (acquire), copies,
 * and re-reads `seq`; an odd or changed value means retry (the dp lcore
 * publishes its counters about once per millisecond). Rings are
 * single-producer single-consumer with C11 acquire/release on head/tail.
 *
 * Write-ahead log (include/pollux/wal.h for the records): each dataplane
 * lcore pushes the records of its partition into its mutation ring (byte
 * positions head/tail only grow; offset = position % size, size a power of
 * two; a record may wrap) and stores head_lsn, the LSN of the last record,
 * before head (a successor never reuses an LSN). pollux-cp writes
 * them to disk, advances tail only once they are written, and publishes
 * durable_lsn when they are on stable storage (sync mode holds replies
 * until then). A restarted dataplane continues its LSNs after
 * max(head_lsn, durable_lsn). Recovery: pollux-cp pushes the log's records
 * into the replay rings (cp produces, dp consumes and applies), waits for
 * them to drain, then stores the dataplane's pid in wal_open_pid; until
 * then a dataplane with wal_mode != off refuses writes. Each lcore stores
 * the pid in its wal_opened once it takes writes; /ready waits for all.
 *
 * Compatibility: any change to a field's meaning, size or offset bumps
 * PX_SHM_ABI. The static_asserts below pin the layout.
 */
#ifndef PX_SHM_H
#define PX_SHM_H

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>

#define PX_SHM_MAGIC 0x314d48535850ULL /* "PXSHM1" little endian */
#define PX_SHM_ABI 4 /* 2: WAL fields; 3: TCP counters; 4: per-lcore wal_opened */
#define PX_SHM_PATH_DEFAULT "/dev/shm/pollux"
#define PX_SHM_LCORES_MAX 64
#define PX_SHM_LAT_BUCKETS 64

/* dp_state values */
enum px_dp_state {
	PX_DP_NONE = 0,      /* no dataplane has attached since the region was made */
	PX_DP_STARTING = 1,  /* attached, setting up ports and memory */
	PX_DP_SERVING = 2,   /* lcores running */
	PX_DP_STOPPING = 3,  /* clean shutdown in progress, or done */
};

/*
 * Command mailbox, cp -> dp. One command at a time: pollux-cp writes the
 * command, then increments req_seq (release); the dataplane applies it at a
 * safe point in its loop, fills the result, then sets ack_seq = req_seq
 * (release).
 */
struct px_shm_mailbox {
	_Atomic uint64_t req_seq;   /* cp: wo, dp: ro */
	char cmd[16];               /* cp: wo: "set" | "flush" */
	char key[64];               /* cp: wo: setting name for "set" */
	char value[256];            /* cp: wo */
	_Atomic uint64_t ack_seq;   /* dp: wo, cp: ro */
	int32_t result;             /* dp: wo: 0 or a negative errno */
	char msg[164];              /* dp: wo: human-readable outcome */
};

struct px_shm_hdr {
	uint64_t magic;                  /* cp: wo once */
	uint32_t abi;                    /* cp: wo once */
	uint32_t hdr_size;               /* cp: wo once: offset of the lcore blocks */
	uint64_t region_size;            /* cp: wo once */
	uint32_t lcores_max;             /* cp: wo once */
	uint32_t lcore_size;             /* cp: wo once: stride of px_shm_lcore blocks */
	uint64_t ring_bytes;             /* cp: wo once: data bytes of each ring */
	uint64_t rings_off;              /* cp: wo once: offset of lcore 0's mutation ring */
	_Atomic uint64_t generation;     /* cp: wo: bumped when a cp (re)creates the region */

	/* control plane liveness */
	_Atomic uint64_t cp_pid;         /* cp: wo */
	_Atomic uint64_t cp_heartbeat;   /* cp: wo: CLOCK_MONOTONIC ns, every 100 ms */

	/* dataplane identity and liveness */
	_Atomic uint64_t dp_pid;         /* dp: wo at attach */
	_Atomic uint64_t dp_heartbeat;   /* dp: wo: CLOCK_MONOTONIC ns, lcore 0, every ms */
	_Atomic uint32_t dp_state;       /* dp: wo: enum px_dp_state */
	uint32_t dp_lcores;              /* dp: wo at attach: lcores in use */
	uint64_t dp_started;             /* dp: wo at attach: unix seconds */
	uint64_t dp_tsc_hz;              /* dp: wo at attach */
	uint64_t dp_mem_limit;           /* dp: wo: item memory of all partitions, bytes */
	uint64_t dp_hash_seed;           /* dp: wo at attach */
	uint32_t dp_ip;                  /* dp: wo at attach: host order */
	uint16_t dp_udp_port;            /* dp: wo at attach */
	uint16_t pad0;
	char dp_version[32];             /* dp: wo at attach */
	char dp_port[64];                /* dp: wo at attach: port name (e.g. net_af_xdp0) */
	char dp_iface[32];               /* dp: wo at attach */
	/* write-ahead log (see the WAL section below) */
	uint32_t dp_wal_mode;            /* dp: wo at attach: 0 off, 1 async, 2 sync */
	uint32_t pad1;
	_Atomic uint64_t wal_open_pid;   /* cp: wo: the dataplane pid whose replay is done */
	uint64_t reserved[6];

	struct px_shm_mailbox mbox;
} __attribute__((aligned(64)));

/* X(name): per-lcore counters, published by the dp lcore that owns them. */
#define PX_SHM_COUNTERS(X) \
	/* packets */ \
	X(rx_pkts) X(tx_pkts) X(rx_bytes) X(tx_bytes) X(tx_drops) X(rx_drops) \
	X(arp_replies) X(icmp_echo) X(udp_reqs) X(udp_replies) X(drop_malformed) \
	X(fwd_out) X(fwd_in) X(fwd_full) \
	/* commands (memcached stat names) */ \
	X(cmd_get) X(cmd_set) X(cmd_flush) X(cmd_touch) X(cmd_meta) X(get_hits) X(get_misses) \
	X(delete_hits) X(delete_misses) X(incr_hits) X(incr_misses) X(decr_hits) X(decr_misses) \
	X(cas_hits) X(cas_misses) X(cas_badval) X(touch_hits) X(touch_misses) \
	X(store_too_large) X(store_no_memory) \
	/* the lcore's partition */ \
	X(curr_items) X(bytes) X(total_items) X(evictions) X(reclaimed) X(mem_limit) \
	X(index_bytes) \
	/* loop */ \
	X(busy_cycles) X(loops) X(idle_loops) X(sleeps) X(lat_count) X(lat_sum_ns) \
	/* write-ahead log: records pushed, their bytes, writes refused (ring full \
	 * or log not open), the last LSN pushed, records replayed, replies held */ \
	X(wal_records) X(wal_bytes) X(wal_refused) X(wal_lsn) X(wal_replayed) X(wal_held) \
	/* TCP: open connections (gauge), accepted, refused at max_conns, payload \
	 * bytes in and out, retransmitted segments, SYN cookies sent, RSTs sent */ \
	X(tcp_curr_conns) X(tcp_accepts) X(tcp_refused) X(tcp_bytes_in) X(tcp_bytes_out) \
	X(tcp_retransmits) X(tcp_syn_cookies) X(tcp_resets)

struct px_shm_lcore {
	_Atomic uint64_t seq;            /* dp lcore: wo (odd while publishing) */
	uint64_t published_ns;           /* dp lcore: wo: CLOCK_MONOTONIC of this copy */
#define PX_X_SHM_FIELD(n) uint64_t n;
	PX_SHM_COUNTERS(PX_X_SHM_FIELD)
#undef PX_X_SHM_FIELD
	/* request service time: bucket i counts requests of [2^(i/2), 2^((i+1)/2)) ns */
	uint64_t lat_hist[PX_SHM_LAT_BUCKETS]; /* dp lcore: wo */
	_Atomic uint64_t durable_lsn;    /* cp: wo, dp lcore: ro (WAL) */
	_Atomic uint64_t applied_gen;    /* dp lcore: wo: last settings generation applied */
	_Atomic uint64_t wal_opened;     /* dp lcore: wo: its pid once its log is open, else 0 */
} __attribute__((aligned(64)));

/* A single-producer single-consumer byte ring (WAL records, replay). */
struct px_shm_ring {
	_Atomic uint64_t head __attribute__((aligned(64))); /* producer: wo */
	_Atomic uint64_t head_lsn;       /* producer: wo: LSN of the last record before head */
	_Atomic uint64_t tail __attribute__((aligned(64))); /* consumer: wo */
	uint64_t size;                                       /* cp: wo once */
	uint8_t pad[56];
} __attribute__((aligned(64)));

static_assert(sizeof(struct px_shm_mailbox) == 8 + 16 + 64 + 256 + 8 + 4 + 164, "mailbox layout");
static_assert(sizeof(struct px_shm_hdr) % 64 == 0, "header is cache aligned");
static_assert(__builtin_offsetof(struct px_shm_hdr, generation) == 48, "generation offset");
static_assert(__builtin_offsetof(struct px_shm_hdr, dp_heartbeat) == 80, "dp_heartbeat offset");
static_assert(sizeof(struct px_shm_lcore) % 64 == 0, "lcore block is cache aligned");
static_assert(sizeof(struct px_shm_ring) == 192, "ring header");

static inline struct px_shm_lcore *px_shm_lcore(struct px_shm_hdr *h, unsigned i)
{
	return (struct px_shm_lcore *)((uint8_t *)h + h->hdr_size + (uint64_t)i * h->lcore_size);
}

static inline struct px_shm_ring *px_shm_ring(struct px_shm_hdr *h, unsigned lcore, int replay)
{
	uint64_t per = 2 * (sizeof(struct px_shm_ring) + h->ring_bytes);
	return (struct px_shm_ring *)((uint8_t *)h + h->rings_off + lcore * per +
				      (replay ? sizeof(struct px_shm_ring) + h->ring_bytes : 0));
}

/* Bytes of a region for ring_bytes per ring. */
static inline uint64_t px_shm_region_size(uint64_t ring_bytes)
{
	return sizeof(struct px_shm_hdr) + (uint64_t)PX_SHM_LCORES_MAX * sizeof(struct px_shm_lcore) +
	       (uint64_t)PX_SHM_LCORES_MAX * 2 * (sizeof(struct px_shm_ring) + ring_bytes);
}

/* Latency bucket of a duration in ns: two buckets per power of two. */
static inline unsigned px_shm_lat_bucket(uint64_t ns)
{
	if (ns < 2)
		return 0;
	unsigned l2 = 63u - (unsigned)__builtin_clzll(ns);
	unsigned half = (ns >> (l2 - 1)) & 1; /* upper half of the octave */
	unsigned b = 2 * l2 + half;
	return b < PX_SHM_LAT_BUCKETS ? b : PX_SHM_LAT_BUCKETS - 1;
}

/* Lower bound in ns of bucket b (for exporters). */
static inline double px_shm_lat_lower(unsigned b)
{
	unsigned l2 = b / 2;
	double base = (double)(1ULL << l2);
	return (b & 1) ? base * 1.5 : base;
}

#endif
