/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp's write-ahead log: one thread that drains every lcore's
 * mutation ring into segment files with io_uring (registered buffers,
 * write linked to fdatasync for group commit), publishes durable LSNs,
 * replays the log into a newly attached dataplane before it may take
 * writes (and before /ready), and compacts the log into snapshots. The
 * formats are in include/pollux/wal.h and wal_seg.h.
 */
#ifndef PX_WAL_CP_H
#define PX_WAL_CP_H

#include <stdbool.h>
#include <stdint.h>

#include "pollux/shm.h"
#include "px_settings.h"

struct cp_wal;

#define CP_WAL_FSYNC_BUCKETS 64 /* px_shm_lat_bucket() buckets of fsync latency, ns */

enum cp_wal_state {
	CP_WAL_OFF = 0,        /* wal_mode=off */
	CP_WAL_WAITING,        /* no dataplane attached yet */
	CP_WAL_RECOVERING,     /* replaying into the dataplane */
	CP_WAL_RUNNING,        /* logging */
	CP_WAL_FAILED,         /* I/O error: writes stay in the rings, retried */
};

/* What `wal status` and /metrics show; a consistent copy. */
struct cp_wal_status {
	enum cp_wal_state state;
	char mode[8];
	char dir[256];
	char error[256];              /* the last I/O error, "" if none */
	uint64_t records;             /* records written since start */
	uint64_t bytes;               /* record bytes written */
	uint64_t writes;              /* write submissions */
	uint64_t fsyncs;
	uint64_t io_errors;
	uint64_t dups;                /* ring records skipped as already on disk */
	uint64_t bad_records;         /* ring records that did not decode */
	uint64_t fsync_hist[CP_WAL_FSYNC_BUCKETS];
	uint64_t fsync_sum_ns;
	uint64_t segments;            /* segment files now */
	uint64_t disk_bytes;          /* bytes of segments and snapshot now */
	uint64_t seq;                 /* current segment */
	uint64_t snapshots;           /* snapshots written since start */
	uint64_t snapshot_records;    /* live records in the last snapshot */
	uint64_t recoveries;
	uint64_t recovered_records;   /* records replayed by the last recovery */
	double recovery_seconds;
	bool torn;                    /* the start found (and truncated) a torn tail */
	uint64_t torn_bytes;
	uint64_t cut_bytes;           /* bytes --repair cut */
	unsigned lcores;
	uint64_t pushed_lsn[PX_SHM_LCORES_MAX];  /* dataplane's last LSN per lcore */
	uint64_t durable_lsn[PX_SHM_LCORES_MAX]; /* published */
};

/*
 * Check the log in s->wal_dir (creating the directory if its parent
 * exists), truncate a torn tail, cut corrupt spans if repair, and set the
 * region's durable LSNs past everything on disk. Returns NULL with a
 * message in err (n bytes) when pollux-cp must not start: corruption in
 * the middle without repair, or a directory it cannot use. With
 * wal_mode=off returns a handle that does nothing.
 */
struct cp_wal *cp_wal_open(const struct px_settings *s, struct px_shm_hdr *shm, bool repair,
			   char *err, size_t n);
/* Start the writer thread. 0 or -errno. */
int cp_wal_start(struct cp_wal *w);
void cp_wal_stop(struct cp_wal *w);
/*
 * Whether the dataplane with pid and wal mode dp_mode (0 off, 1 async, 2
 * sync) may be called ready: both processes agree on the mode and its
 * replay is done. Else why.
 */
bool cp_wal_ready(struct cp_wal *w, uint32_t dp_mode, uint64_t dp_pid, char *why, size_t n);
void cp_wal_status(struct cp_wal *w, struct cp_wal_status *out);
/* Ask for a snapshot now (compaction); waits up to 60 s. 0 or -errno, msg says what. */
int cp_wal_snapshot(struct cp_wal *w, char *msg, size_t n);
const char *cp_wal_state_name(enum cp_wal_state s);
/* wal_fsync_ms at run time (async mode's fsync interval). */
void cp_wal_set_fsync_ms(struct cp_wal *w, uint64_t ms);

#endif
