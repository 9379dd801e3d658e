/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp's core: the shared region's lifecycle (create it, or adopt a
 * valid one left by an earlier pollux-cp so a running dataplane stays
 * attached), the dataplane's liveness from its heartbeat, consistent
 * snapshots of what the lcores publish, and mailbox commands (runtime
 * settings, flush) with a bounded wait for the dataplane's answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cp_pvt.h"
#include "px_clock.h"

#define DP_ALIVE_NS 1000000000ULL

/*
 * Age of a heartbeat written by the other process. The heartbeat may be newer
 * than our clock reading (written between the two loads): that is age 0, not
 * an unsigned wrap to 2^64.
 */
static uint64_t hb_age(uint64_t now, uint64_t hb)
{
	return hb == 0 ? UINT64_MAX : (now > hb ? now - hb : 0);
}
#define MBOX_WAIT_NS 2000000000ULL

static const char *const runtime_keys[] = { "mem_mb", "idle_sleep_max_us", "sweep_budget",
					    "log_level", "wal_fsync_ms" };

bool cp_key_runtime(const char *key)
{
	for (size_t i = 0; i < sizeof(runtime_keys) / sizeof(runtime_keys[0]); i++)
		if (strcmp(key, runtime_keys[i]) == 0)
			return true;
	return false;
}

static void region_init(struct px_shm_hdr *h, uint64_t size, uint64_t ring_bytes, uint64_t gen)
{
	memset(h, 0, sizeof(*h));
	h->abi = PX_SHM_ABI;
	h->hdr_size = sizeof(struct px_shm_hdr);
	h->region_size = size;
	h->lcores_max = PX_SHM_LCORES_MAX;
	h->lcore_size = sizeof(struct px_shm_lcore);
	h->ring_bytes = ring_bytes;
	h->rings_off = sizeof(struct px_shm_hdr) + (uint64_t)PX_SHM_LCORES_MAX * sizeof(struct px_shm_lcore);
	atomic_store(&h->generation, gen);
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++)
		for (int r = 0; r < 2; r++)
			px_shm_ring(h, i, r)->size = ring_bytes;
	/* the magic last: a reader that sees it sees the rest */
	atomic_thread_fence(memory_order_release);
	h->magic = PX_SHM_MAGIC;
}

int cp_region_open(struct cp *cp)
{
	const char *path = cp->set.shm_path;
	/* wal_ring_kb, rounded up to a power of two (the rings index by mask) */
	uint64_t ring_bytes = 1ULL << 16;
	while (ring_bytes < (cp->set.wal_ring_kb << 10))
		ring_bytes <<= 1;
	uint64_t size = px_shm_region_size(ring_bytes);
	struct stat st;
	int fd = open(path, O_RDWR);

	if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size == size) {
		struct px_shm_hdr *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (h != MAP_FAILED && h->magic == PX_SHM_MAGIC && h->abi == PX_SHM_ABI &&
		    h->region_size == size) {
			cp->shm = h;
			cp->shm_size = size;
			printf("pollux-cp: adopted region %s (generation %llu)\n", path,
			       (unsigned long long)atomic_load(&h->generation));
			return 0;
		}
		if (h != MAP_FAILED)
			munmap(h, size);
		fprintf(stderr, "pollux-cp: %s is not a region of this version: replacing it\n", path);
	} else if (fd >= 0) {
		close(fd);
	}
	/* Build the new region under a temporary name and rename it in, so a
	 * dataplane never maps a half-made one. */
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.new.%d", path, getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		fprintf(stderr, "pollux-cp: cannot create %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct px_shm_hdr *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED) {
		fprintf(stderr, "pollux-cp: mmap %s: %s\n", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* realtime µs: a new region never repeats an earlier one's generation,
	 * and the value stays exact as a float64 metric (< 2^53) */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	region_init(h, size, ring_bytes, (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000);
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "pollux-cp: rename to %s: %s\n", path, strerror(errno));
		munmap(h, size);
		unlink(tmp);
		return -1;
	}
	cp->shm = h;
	cp->shm_size = size;
	printf("pollux-cp: created region %s (%llu KiB, ABI %u)\n", path,
	       (unsigned long long)(size >> 10), PX_SHM_ABI);
	return 0;
}

void cp_heartbeat(struct cp *cp)
{
	struct px_shm_hdr *h = cp->shm;
	uint64_t now = px_clock_ns();

	atomic_store(&h->cp_pid, (uint64_t)getpid());
	atomic_store_explicit(&h->cp_heartbeat, now, memory_order_release);
	bool alive = atomic_load(&h->dp_state) == PX_DP_SERVING &&
		     hb_age(now, atomic_load(&h->dp_heartbeat)) < DP_ALIVE_NS;
	uint64_t pid = atomic_load(&h->dp_pid);
	if (alive != cp->dp_was_alive || (alive && pid != cp->dp_last_pid)) {
		if (alive)
			printf("pollux-cp: dataplane pid %llu attached and serving (%u lcores)\n",
			       (unsigned long long)pid, h->dp_lcores);
		else
			printf("pollux-cp: dataplane pid %llu gone (no heartbeat): not ready\n",
			       (unsigned long long)pid);
		fflush(stdout);
		cp->dp_was_alive = alive;
		cp->dp_last_pid = pid;
	}
}

/* Copy lcore i's block under its seqlock. */
static void lcore_copy(struct px_shm_hdr *h, unsigned i, struct px_shm_lcore *out)
{
	struct px_shm_lcore *l = px_shm_lcore(h, i);
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s1 = atomic_load_explicit(&l->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		memcpy(out, l, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&l->seq, memory_order_relaxed) == s1)
			return;
	}
	/* a dataplane that died mid-publish: the last copy is as good as any */
	memcpy(out, l, sizeof(*out));
}

void cp_snapshot(struct cp *cp, struct cp_snapshot *s)
{
	struct px_shm_hdr *h = cp->shm;
	uint64_t now = px_clock_ns(), hb = atomic_load(&h->dp_heartbeat);

	memset(s, 0, sizeof(*s));
	s->taken_ns = now;
	s->generation = atomic_load(&h->generation);
	s->dp_pid = atomic_load(&h->dp_pid);
	s->dp_attached = s->dp_pid != 0;
	s->dp_state = atomic_load(&h->dp_state);
	s->dp_heartbeat_age_ms = hb ? hb_age(now, hb) / 1000000 : 0;
	s->dp_alive = s->dp_state == PX_DP_SERVING && hb_age(now, hb) < DP_ALIVE_NS;
	s->lcores = h->dp_lcores <= PX_SHM_LCORES_MAX ? h->dp_lcores : PX_SHM_LCORES_MAX;
	uint64_t unix_now = (uint64_t)time(NULL);
	s->dp_uptime_s = s->dp_alive && h->dp_started && unix_now > h->dp_started ?
			 unix_now - h->dp_started : 0;
	s->mem_limit = h->dp_mem_limit;
	s->tsc_hz = h->dp_tsc_hz;
	s->ip = h->dp_ip;
	s->udp_port = h->dp_udp_port;
	memcpy(s->version, h->dp_version, sizeof(s->version));
	memcpy(s->port, h->dp_port, sizeof(s->port));
	memcpy(s->iface, h->dp_iface, sizeof(s->iface));
	s->version[sizeof(s->version) - 1] = s->port[sizeof(s->port) - 1] = '\0';
	s->iface[sizeof(s->iface) - 1] = '\0';
	for (unsigned i = 0; i < s->lcores; i++) {
		struct px_shm_lcore *l = &s->lc[i];
		lcore_copy(h, i, l);
#define CP_X_SUM(n) s->total.n += l->n;
		PX_SHM_COUNTERS(CP_X_SUM)
#undef CP_X_SUM
		for (unsigned b = 0; b < PX_SHM_LAT_BUCKETS; b++)
			s->total.lat_hist[b] += l->lat_hist[b];
	}
}

bool cp_ready(struct cp *cp, char *why, size_t n)
{
	struct px_shm_hdr *h = cp->shm;
	uint64_t now = px_clock_ns(), hb = atomic_load(&h->dp_heartbeat);
	uint32_t state = atomic_load(&h->dp_state);

	if (atomic_load(&h->dp_pid) == 0 || state == PX_DP_NONE) {
		snprintf(why, n, "no dataplane has attached");
		return false;
	}
	if (state != PX_DP_SERVING) {
		snprintf(why, n, "dataplane %s", state == PX_DP_STARTING ? "starting" : "stopped");
		return false;
	}
	if (hb_age(now, hb) >= DP_ALIVE_NS) {
		snprintf(why, n, "dataplane heartbeat %llu ms old",
			 (unsigned long long)(hb ? hb_age(now, hb) / 1000000 : 0));
		return false;
	}
	if (!cp_wal_ready(cp->wal, h->dp_wal_mode, atomic_load(&h->dp_pid), why, n))
		return false;
	snprintf(why, n, "serving");
	return true;
}

const struct px_settings *cp_settings(struct cp *cp)
{
	return &cp->set;
}

uint64_t cp_started(struct cp *cp)
{
	return cp->started;
}

/* Send one mailbox command and wait for the dataplane's answer. */
static int mbox_call(struct cp *cp, const char *cmd, const char *key, const char *value,
		     char *msg, size_t n)
{
	struct px_shm_hdr *h = cp->shm;
	char why[128];
	int rc;

	if (!cp_ready(cp, why, sizeof(why))) {
		snprintf(msg, n, "dataplane not available: %s", why);
		return -ENODEV;
	}
	pthread_mutex_lock(&cp->mbox_lock);
	snprintf(h->mbox.cmd, sizeof(h->mbox.cmd), "%s", cmd);
	snprintf(h->mbox.key, sizeof(h->mbox.key), "%s", key ? key : "");
	snprintf(h->mbox.value, sizeof(h->mbox.value), "%s", value ? value : "");
	uint64_t seq = atomic_load(&h->mbox.req_seq) + 1;
	if (seq <= atomic_load(&h->mbox.ack_seq))
		seq = atomic_load(&h->mbox.ack_seq) + 1;
	atomic_store_explicit(&h->mbox.req_seq, seq, memory_order_release);
	uint64_t deadline = px_clock_ns() + MBOX_WAIT_NS;
	while (atomic_load_explicit(&h->mbox.ack_seq, memory_order_acquire) != seq) {
		if (px_clock_ns() > deadline) {
			pthread_mutex_unlock(&cp->mbox_lock);
			snprintf(msg, n, "dataplane did not answer within 2 s");
			return -ETIMEDOUT;
		}
		struct timespec ts = { .tv_nsec = 1000000 };
		nanosleep(&ts, NULL);
	}
	rc = h->mbox.result;
	snprintf(msg, n, "%.*s", (int)sizeof(h->mbox.msg), h->mbox.msg);
	pthread_mutex_unlock(&cp->mbox_lock);
	return rc;
}

int cp_config_set(struct cp *cp, const char *key, const char *value, char *msg, size_t n)
{
	struct px_settings s = cp->set;
	const char *why = NULL;
	int rc = px_settings_set(&s, key, value, &why);

	if (rc != 0) {
		snprintf(msg, n, "%s: %s", key, why);
		return rc;
	}
	if (!cp_key_runtime(key)) {
		snprintf(msg, n, "%s cannot change at run time: set it in the config file and restart",
			 key);
		return -EPERM;
	}
	if (strcmp(key, "wal_fsync_ms") == 0) {
		/* pollux-cp's own: the WAL writer reads it every round */
		cp_wal_set_fsync_ms(cp->wal, s.wal_fsync_ms);
		snprintf(msg, n, "applied by pollux-cp's WAL writer");
	} else {
		rc = mbox_call(cp, "set", key, value, msg, n);
	}
	if (rc == 0) {
		pthread_mutex_lock(&cp->mbox_lock);
		px_settings_set(&cp->set, key, value, &why);
		pthread_mutex_unlock(&cp->mbox_lock);
	}
	return rc;
}

int cp_config_get(struct cp *cp, const char *key, char *out, size_t n)
{
	pthread_mutex_lock(&cp->mbox_lock);
	int rc = px_settings_get(&cp->set, key, out, n);
	pthread_mutex_unlock(&cp->mbox_lock);
	return rc;
}

int cp_flush(struct cp *cp, char *msg, size_t n)
{
	return mbox_call(cp, "flush", NULL, NULL, msg, n);
}

void cp_wal_info(struct cp *cp, struct cp_wal_status *out)
{
	cp_wal_status(cp->wal, out);
}

int cp_wal_snapshot_now(struct cp *cp, char *msg, size_t n)
{
	return cp_wal_snapshot(cp->wal, msg, n);
}
