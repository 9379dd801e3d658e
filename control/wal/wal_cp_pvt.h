/* SPDX-License-Identifier: BSD-3-Clause */
/* struct cp_wal, shared by control/wal/wal_writer.c, wal_recover.c and wal_snap.c. */
#ifndef PX_WAL_CP_PVT_H
#define PX_WAL_CP_PVT_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>

#include "wal_cp.h"
#include "wal_seg.h"

struct cp_wal {
	struct px_settings set;
	struct px_shm_hdr *shm;
	int mode;                      /* 0 off, 1 async, 2 sync */
	pthread_t thr;
	bool started;
	atomic_bool quit;

	pthread_mutex_t lock;          /* guards st (the writer thread updates it) */
	struct cp_wal_status st;

	/* writer thread only */
	struct io_uring ring;
	bool uring_ok;
	uint8_t *buf;                  /* registered buffer: one batch */
	size_t buf_cap;
	int fd;                        /* current segment */
	int dirfd;
	uint64_t seq;
	uint64_t seg_off;
	uint64_t seg_size;
	_Atomic uint64_t fsync_ns;     /* wal_fsync_ms; changes at run time */
	bool dirty;                    /* written, no fsync started since (async) */
	uint64_t dirty_since;
	bool afs_inflight;             /* async mode: a background fdatasync is running */
	uint64_t afs_t0;
	uint64_t afs_lsn[PX_SHM_LCORES_MAX]; /* ... it covers these LSNs */
	uint64_t last[PX_SHM_LCORES_MAX];     /* highest LSN gathered per stream */
	uint64_t written[PX_SHM_LCORES_MAX];  /* highest LSN written per stream */
	uint64_t written0[PX_SHM_LCORES_MAX]; /* ... at start (for counting) */
	uint64_t durable[PX_SHM_LCORES_MAX];  /* published */
	uint64_t pend_tail[PX_SHM_LCORES_MAX];
	uint64_t pend_lsn[PX_SHM_LCORES_MAX];
	uint64_t bad, dups;            /* counted by gather, copied into st */

	/* snapshots: requests (admin threads, the writer's size check), the
	 * writer's cut, the compactor thread's results; under lock but snap_req */
	_Atomic uint64_t snap_req;
	uint64_t snap_taken;           /* writer only: the last request it cut for */
	uint64_t cut;                  /* files before this seq are to be folded, 0: none */
	uint64_t cut_req;
	uint64_t snap_t0;
	uint64_t snap_done;            /* the last request served */
	int snap_rc;
	char snap_msg[256];
	pthread_cond_t snap_cond;
	pthread_t compactor;
	bool compactor_started;
	pthread_mutex_t dir_lock;      /* recovery reads vs compaction removing files */
};

/* wal_writer.c */
int wal_write_round(struct cp_wal *w);
/* Write everything in the rings and fsync it. 0 or a negative errno. */
int wal_drain(struct cp_wal *w);
/* Close the current segment and open the next. 0 or a negative errno. */
int wal_segment_next(struct cp_wal *w);
void wal_set_error(struct cp_wal *w, int err, const char *what);
/* wal_recover.c: replay the log into the dataplane pid, then open its log. */
void wal_recover(struct cp_wal *w, uint64_t pid);
/* wal_snap.c */
void wal_disk_usage(struct cp_wal *w);
void wal_maybe_compact(struct cp_wal *w);
void wal_snapshot_run(struct cp_wal *w);
int wal_compactor_start(struct cp_wal *w);
void wal_compactor_stop(struct cp_wal *w);

#endif
