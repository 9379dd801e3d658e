/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The executor: applies parsed memcached requests to the storage engine and
 * writes memcached's exact replies into an output chain. One executor per
 * dataplane lcore; it owns the partitions it is given (single writer) and
 * counts what it does with memcached's stat names. The stream driver (TCP)
 * and datagram driver (UDP) sit on top in mc_conn.h. No I/O happens here.
 */
#ifndef PX_MC_EXEC_H
#define PX_MC_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "mc_out.h"
#include "mc_parser.h"
#include "pollux/wal.h"
#include "table/table.h"

/*
 * What "version" and stats' "version" say: the memcached release whose
 * protocol Pollux answers byte for byte (the differential test runs against
 * it), then Pollux's own version. Clients parse the leading major.minor.micro
 * (libmemcached refuses a major version of 0, and some clients gate
 * features on it).
 */
#define MC_VERSION_STRING "1.6.18-pollux-" PX_VERSION

/* X(name): executor counters, named and ordered as memcached's "stats". */
#define MC_EXEC_COUNTERS(X) \
	X(cmd_get) X(cmd_set) X(cmd_flush) X(cmd_touch) X(cmd_meta) \
	X(get_hits) X(get_misses) \
	X(delete_misses) X(delete_hits) X(incr_misses) X(incr_hits) \
	X(decr_misses) X(decr_hits) X(cas_misses) X(cas_hits) X(cas_badval) \
	X(touch_hits) X(touch_misses) X(store_too_large) X(store_no_memory)

struct mc_exec_stats {
#define MC_X_FIELD(n) uint64_t n;
	MC_EXEC_COUNTERS(MC_X_FIELD)
#undef MC_X_FIELD
};

/* Process-wide facts the "stats" command reports; owned by the caller. */
struct mc_server_info {
	uint32_t pid;
	uint32_t started;          /* unix time the server started */
	uint32_t threads;          /* dataplane lcores */
	uint64_t curr_connections;
	uint64_t total_connections;
	uint64_t bytes_read;
	uint64_t bytes_written;
	/* Sum the command counters of every executor (NULL: this one's only). */
	void (*sum_stats)(void *ctx, struct mc_exec_stats *out);
	void *sum_ctx;
};

struct mc_exec_cfg {
	struct mc_parse_limits limits;
	uint64_t hash_seed;        /* the tables' seed */
	uint64_t limit_maxbytes;   /* memory limit of all partitions, for stats */
	uint64_t part_max_bytes;   /* what one partition can hold at most (cache_memlimit) */
	enum tbl_policy policy;    /* for "stats settings" */
};

/*
 * The write-ahead log hook (the dataplane's dataplane/wal_dp.c; NULL when
 * wal_mode=off). room() is how many record bytes push() can take now (0
 * while the log is not open); push() appends one record, which the caller
 * has checked fits, and returns its LSN. Only the partition owner's
 * executor logs a key, so each partition's records form one stream.
 */
struct mc_wal_ops {
	uint64_t (*room)(void *ctx);
	uint64_t (*push)(void *ctx, struct px_wal_rec *r);
};

struct mc_exec {
	struct px_table *const *parts;
	unsigned nparts;
	/*
	 * Partitions this executor's thread owns (bit p), 0 = all. Requests
	 * that change a partition it does not own come back as
	 * MC_EXEC_FORWARD with fwd_part set; reads of other partitions use the
	 * lock-free remote read into rbuf (no LRU bump from a remote reader).
	 */
	uint64_t owned;
	unsigned fwd_part;
	uint64_t flush_done;       /* partitions a forwarded flush_all has visited */
	uint8_t *rbuf;             /* remote read buffer: key + largest value */
	size_t rbuf_len;
	uint64_t remote_reads;     /* reads served from another owner's partition */
	/*
	 * Run a mutation later on the owner of part (a multi-partition gat
	 * touches the keys of other owners this way): req is a complete
	 * request line whose reply is discarded. NULL: every partition owned.
	 */
	void (*defer)(void *ctx, unsigned part, const char *req, size_t len);
	void *defer_ctx;
	/* A key the caller already hashed (the dataplane's burst prefetch):
	 * a key at exactly this address and length takes hint_hash. */
	const void *hint_key;
	uint32_t hint_klen;
	uint64_t hint_hash;
	struct mc_exec_cfg cfg;
	struct mc_server_info *info;
	uint32_t now;
	uint32_t verbosity;
	struct mc_exec_stats st;
	uint8_t key[TBL_KEY_MAX + 4]; /* decoded base64 key */
	/* WAL (mc_exec_wal.c). A mutation is refused with SERVER_ERROR unless
	 * its record fits in the log first: no write is acknowledged unlogged. */
	const struct mc_wal_ops *wal;
	void *wal_ctx;
	uint64_t wal_lsn;          /* LSN of the last record pushed, 0 before any */
	uint64_t wal_records;      /* records pushed */
	uint64_t wal_bytes;        /* record bytes pushed */
	uint64_t wal_refused;      /* mutations refused: no room in the log */
};

enum mc_exec_result {
	MC_EXEC_OK = 0,
	MC_EXEC_CLOSE = 1,   /* quit, or an error that closes the connection */
	MC_EXEC_FORWARD = 2, /* run it on the owner of x->fwd_part; nothing was written */
};

/*
 * Set up an executor over nparts partitions (all owned by the calling
 * thread). info may be NULL. Returns 0 or -EINVAL.
 */
int mc_exec_init(struct mc_exec *x, const struct mc_exec_cfg *cfg, struct px_table *const *parts,
		 unsigned nparts, struct mc_server_info *info);
/*
 * "get <key>" with the key already parsed and valid (mc_parse_get1): the
 * same reply and counters as mc_exec_request() gives a parsed single-key
 * get, for a driver's fast path.
 */
void mc_exec_get1(struct mc_exec *x, const struct mc_str *key, struct mc_out *out);
/* Publish the time to every partition: once per loop iteration. */
void mc_exec_tick(struct mc_exec *x, uint32_t now);
/* Which partition a key hash belongs to; the same everywhere. */
static inline unsigned mc_exec_part_of(uint64_t hash, unsigned nparts)
{
	return (unsigned)(((uint64_t)(uint32_t)hash * nparts) >> 32);
}

/*
 * A client exptime as memcached reads it: safe_strtol keeps only 32 bits, so
 * values past INT32_MAX wrap (usually to a negative, i.e. expired, time).
 */
static inline uint32_t mc_exptime(const struct px_table *t, int64_t e)
{
	return tbl_exptime(t, (int32_t)(uint32_t)(uint64_t)e);
}

/* Apply one parsed request (MC_PARSE_OK) and write its reply. */
enum mc_exec_result mc_exec_request(struct mc_exec *x, struct mc_request *req, struct mc_out *out);

/* mc_exec_meta.c: mg ms md ma mn me. May return MC_EXEC_FORWARD (mg on
 * another partition that turns out to need its owner). */
enum mc_exec_result mc_exec_meta(struct mc_exec *x, struct mc_request *req, struct mc_out *out);
/* Whether a meta request changes another owner's partition (sets fwd_part). */
bool mc_exec_meta_route(struct mc_exec *x, struct mc_request *req);
/* mc_stats.c: stats [args]. */
void mc_exec_stats(struct mc_exec *x, const struct mc_request *req, struct mc_out *out);

/* Shared by the executor's files. */
struct px_table *mc_exec_table(struct mc_exec *x, struct tbl_key *k);
/* Partition of k (hashing it) and whether this executor owns it. */
bool mc_exec_owns_key(struct mc_exec *x, struct tbl_key *k, unsigned *part);
/* Read k (hashed by mc_exec_table or mc_exec_owns_key) from its partition:
 * owner read (flags apply) or remote copy (no bump). */
int mc_exec_read(struct mc_exec *x, struct tbl_key *k, unsigned flags, struct tbl_item *it);
void mc_exec_error(struct mc_out *out, const char *line);
/* incr_hits/decr_hits/..._misses for an arithmetic result (text or meta). */
void mc_exec_count_arith(struct mc_exec *x, bool incr, int rc);

/*
 * mc_exec_wal.c. Before a mutation of k in t that may add `bytes` of value
 * to what k holds: whether its record will fit in the log (always true
 * without a WAL). When not, writes "SERVER_ERROR" (unless noreply), counts
 * wal_refused and returns false: the caller must not mutate. One lookup of
 * k at most, only when the log is nearly full.
 */
bool mc_exec_wal_admit(struct mc_exec *x, struct px_table *t, const struct tbl_key *k,
		       uint32_t bytes, bool noreply, struct mc_out *out);
/* After an admitted mutation: log k's state now (SET image, or DELETE). */
void mc_exec_wal_key(struct mc_exec *x, struct px_table *t, const struct tbl_key *k,
		     enum px_wal_cmd cmd);
/*
 * After a store that replaced the whole item (set, add, replace, cas):
 * log it from the request itself, without looking k up again.
 */
void mc_exec_wal_stored(struct mc_exec *x, const struct tbl_store_req *r, uint64_t cas,
			enum px_wal_cmd cmd);
/* Before/after a flush of partition part at when (0: now). */
bool mc_exec_wal_admit_flush(struct mc_exec *x);
void mc_exec_wal_flush(struct mc_exec *x, unsigned part, uint32_t when);
/*
 * Recovery: apply one record to partition t (its owner's thread), keeping
 * CAS, flags, exptime and the stale bit. A SET already expired at now is
 * skipped and removes any older version (TBL_NOT_FOUND). Returns a
 * tbl_status.
 */
int mc_exec_wal_apply(struct px_table *t, const struct px_wal_rec *r, uint64_t seed, uint32_t now);

#endif
