/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp's internal API: the control plane's view of the shared region
 * and of the dataplane, for its management interfaces (admin socket, HTTP).
 * Thread-safe: the HTTP server calls these from its own thread and the admin
 * socket from one thread per client; mailbox commands are serialised inside.
 */
#ifndef PX_CP_H
#define PX_CP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pollux/shm.h"
#include "px_settings.h"
#include "wal/wal_cp.h"

struct cp;

/* A consistent copy of everything the dataplane publishes. */
struct cp_snapshot {
	uint64_t taken_ns;               /* CLOCK_MONOTONIC */
	uint64_t generation;
	bool dp_attached;                /* a dataplane has attached to this region */
	bool dp_alive;                   /* heartbeat fresher than 1 s */
	enum px_dp_state dp_state;
	uint64_t dp_pid;
	uint64_t dp_uptime_s;
	uint64_t dp_heartbeat_age_ms;
	uint32_t lcores;
	uint64_t mem_limit;
	uint64_t tsc_hz;
	uint32_t ip;                     /* host order */
	uint16_t udp_port;
	char version[32];
	char port[64];
	char iface[32];
	struct px_shm_lcore lc[PX_SHM_LCORES_MAX]; /* per lcore, [0, lcores) valid */
	struct px_shm_lcore total;       /* counters and histogram summed over lcores */
};

/* Fill *s (about 40 KiB: allocate it, don't put it on a small stack). */
void cp_snapshot(struct cp *cp, struct cp_snapshot *s);
/* Ready: a dataplane is attached, serving and alive. Else why (for /ready). */
bool cp_ready(struct cp *cp, char *why, size_t n);
/* The control plane's settings (what the config file and arguments said). */
const struct px_settings *cp_settings(struct cp *cp);
/* Unix seconds when this pollux-cp started. */
uint64_t cp_started(struct cp *cp);
/*
 * Change a setting at run time. Runtime keys (mem_mb, idle_sleep_max_us,
 * log_level, sweep_budget) go to the dataplane through the mailbox and
 * return once it has applied them (or after 2 s: -ETIMEDOUT); others
 * return -EPERM ("needs a restart"); unknown keys -ENOENT, bad values
 * -EINVAL. msg gets a one-line explanation either way.
 */
int cp_config_set(struct cp *cp, const char *key, const char *value, char *msg, size_t n);
/* Current value of a key (the dataplane's when it applies at run time). */
int cp_config_get(struct cp *cp, const char *key, char *out, size_t n);
/* flush_all on every partition, through the mailbox. */
int cp_flush(struct cp *cp, char *msg, size_t n);
/* Whether key may change at run time. */
bool cp_key_runtime(const char *key);
/* The write-ahead log's status (mode "off" when it is off). */
void cp_wal_info(struct cp *cp, struct cp_wal_status *out);
/* Compact the write-ahead log into a snapshot now; waits for it. 0 or -errno, msg says what. */
int cp_wal_snapshot_now(struct cp *cp, char *msg, size_t n);

/* admin.c: the admin unix socket (JSON lines). */
int admin_open(const char *path);                /* listening fd, or -1 (errno) */
void admin_accept(struct cp *cp, int lfd);       /* serve every pending client */

/* http.c: /metrics, /health, /ready on the management address. */
int http_start(struct cp *cp, const char *listen); /* "127.0.0.1:11280"; 0 or -1 */
void http_stop(void);

#endif
