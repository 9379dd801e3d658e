/* SPDX-License-Identifier: BSD-3-Clause */
/* struct cp, private to control/cp.c and control/main.c. */
#ifndef PX_CP_PVT_H
#define PX_CP_PVT_H

#include <pthread.h>

#include "cp.h"
#include "wal/wal_cp.h"

struct cp {
	struct px_settings set;          /* guarded by mbox_lock after start */
	struct px_shm_hdr *shm;
	uint64_t shm_size;
	uint64_t started;                /* unix seconds */
	pthread_mutex_t mbox_lock;
	bool dp_was_alive;
	uint64_t dp_last_pid;
	struct cp_wal *wal;              /* the write-ahead log (does nothing when off) */
};

/* Create the region, or adopt a valid one. 0 or -1 (reason printed). */
int cp_region_open(struct cp *cp);
/* Main loop, every 100 ms: our heartbeat, and notice the dataplane's. */
void cp_heartbeat(struct cp *cp);

#endif
