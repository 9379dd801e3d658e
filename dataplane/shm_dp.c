/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's side of the shared region (include/pollux/shm.h): attach
 * (refusing another ABI), publish each lcore's counters and latency
 * histogram under its seqlock about once per millisecond, keep the
 * heartbeat, and apply mailbox commands at a safe point of the loop. With
 * no region (pollux-cp not started) the dataplane serves alone and lcore 0
 * retries the attach once per second. Runs only in lcore ticks, never per
 * packet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "dp.h"
#include "px_clock.h"

static uint64_t mono_ns(void)
{
	return px_clock_ns();
}

int dp_shm_attach(struct dp *dp)
{
	struct stat st;
	if (dp->set.shm_path[0] == '\0')
		return -ENOENT; /* no control plane (pollux-bench ring) */
	int fd = open(dp->set.shm_path, O_RDWR);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct px_shm_hdr)) {
		close(fd);
		return -EINVAL;
	}
	struct px_shm_hdr *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return -errno;
	if (h->magic != PX_SHM_MAGIC || h->abi != PX_SHM_ABI || h->region_size != (uint64_t)st.st_size ||
	    h->lcores_max < dp->nlcores) {
		fprintf(stderr, "pollux-dp: %s: region of another version (magic %llx, ABI %u; this "
				"dataplane speaks ABI %u): restart pollux-cp from the same build\n",
			dp->set.shm_path, (unsigned long long)h->magic, h->abi, PX_SHM_ABI);
		munmap(h, (size_t)st.st_size);
		return -EPROTO;
	}
	h->dp_lcores = dp->nlcores;
	h->dp_started = dp->info.started;
	h->dp_tsc_hz = dp->tsc_hz;
	h->dp_mem_limit = (dp->set.mem_mb << 20) * dp->nlcores;
	h->dp_hash_seed = dp->set.hash_seed;
	h->dp_ip = dp->set.ip;
	h->dp_udp_port = dp->udp_port;
	h->dp_wal_mode = dp->wal_mode;
	snprintf(h->dp_version, sizeof(h->dp_version), "%s", PX_VERSION);
	rte_eth_dev_get_name_by_port(dp->port, h->dp_port);
	snprintf(h->dp_iface, sizeof(h->dp_iface), "%.31s", dp->set.iface);
	for (unsigned i = 0; i < dp->nlcores; i++) {
		struct px_shm_lcore *l = px_shm_lcore(h, i);
		atomic_store(&l->applied_gen, dp->cmd_gen);
	}
	/* Commands sent to an earlier dataplane are not ours to answer. */
	atomic_store_explicit(&h->mbox.ack_seq, atomic_load(&h->mbox.req_seq), memory_order_release);
	atomic_store(&h->dp_pid, (uint64_t)getpid());
	atomic_store(&h->dp_heartbeat, mono_ns());
	atomic_store_explicit(&h->dp_state, PX_DP_SERVING, memory_order_release);
	dp->shm = h;
	dp->shm_ino = (uint64_t)st.st_ino;
	dp->shm_gen = atomic_load(&h->generation);
	printf("pollux-dp: attached to control plane region %s (generation %llu)\n",
	       dp->set.shm_path, (unsigned long long)dp->shm_gen);
	fflush(stdout);
	return 0;
}

void dp_shm_detach(struct dp *dp)
{
	if (dp->shm != NULL)
		atomic_store_explicit(&dp->shm->dp_state, PX_DP_STOPPING, memory_order_release);
}

/* Copy lc's counters into its block of the region (single writer: lc). */
void dp_shm_publish(struct dp_lcore *lc)
{
	struct px_shm_hdr *h = lc->dp->shm;
	const struct dp_counters *c = &lc->c;
	const struct mc_exec_stats *x = &lc->x.st;
	const struct mc_exec *x_ = &lc->x;
	struct tbl_stats ts;

	if (h == NULL)
		return;
	struct px_shm_lcore *l = px_shm_lcore(h, lc->idx);
	tbl_stats_get(lc->dp->parts[lc->idx], &ts);
	uint64_t seq = atomic_load_explicit(&l->seq, memory_order_relaxed);
	atomic_store_explicit(&l->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	l->published_ns = mono_ns();
	l->rx_pkts = c->rx_pkts;
	l->tx_pkts = c->tx_pkts;
	l->rx_bytes = c->rx_bytes;
	l->tx_bytes = c->tx_bytes;
	l->tx_drops = c->tx_drops;
	l->rx_drops = c->drop_not_ipv4 + c->drop_bad_ip + c->drop_not_ours + c->drop_bad_udp +
		      c->drop_port + c->drop_frame + c->drop_truncated + c->drop_nomem + c->fault_drops;
	l->arp_replies = c->arp_replies;
	l->icmp_echo = c->icmp_echo;
	l->udp_reqs = c->udp_reqs;
	l->udp_replies = c->udp_replies;
	l->drop_malformed = c->drop_bad_ip + c->drop_bad_udp + c->drop_frame + c->drop_truncated;
	l->fwd_out = c->fwd_out;
	l->fwd_in = c->fwd_in;
	l->fwd_full = c->fwd_full;
#define PX_X_COPY(n) l->n = x->n;
	MC_EXEC_COUNTERS(PX_X_COPY)
#undef PX_X_COPY
	l->curr_items = ts.items;
	l->bytes = ts.bytes_used;
	l->total_items = ts.sets;
	l->evictions = ts.evictions;
	l->reclaimed = ts.expired_reclaimed;
	l->mem_limit = ts.log_bytes;
	l->index_bytes = ts.index_bytes;
	l->busy_cycles = c->busy_cycles;
	l->loops = c->busy_loops + c->idle_loops;
	l->idle_loops = c->idle_loops;
	l->sleeps = c->sleeps;
	l->wal_records = x_->wal_records;
	l->wal_bytes = x_->wal_bytes;
	l->wal_refused = x_->wal_refused;
	l->wal_lsn = lc->wal.lsn;
	l->wal_replayed = lc->wal.replayed;
	l->wal_held = lc->wal.held_total;
	if (lc->tcp != NULL) {
		const struct tcp_stack *st = lc->tcp;
		l->tcp_curr_conns = st->nopen;
		l->tcp_accepts = st->c.tcp_accepts;
		l->tcp_refused = st->c.tcp_conn_refused;
		l->tcp_bytes_in = st->c.tcp_bytes_in;
		l->tcp_bytes_out = st->c.tcp_bytes_out;
		l->tcp_retransmits = st->c.tcp_retransmits + st->c.tcp_fast_retransmits;
		l->tcp_syn_cookies = st->c.tcp_syn_cookies_sent;
		l->tcp_resets = st->c.tcp_resets_tx;
	}
	l->lat_count = lc->lat_count;
	l->lat_sum_ns = lc->lat_sum_ns;
	memcpy(l->lat_hist, lc->lat_hist, sizeof(l->lat_hist));
	atomic_store_explicit(&l->seq, seq + 2, memory_order_release);
}

/* A settings change the lcores apply to their own partition (EREW). */
void dp_shm_apply(struct dp_lcore *lc)
{
	struct dp *dp = lc->dp;
	uint64_t gen = atomic_load_explicit(&dp->cmd_gen, memory_order_acquire);

	if (gen == lc->applied_gen)
		return;
	struct px_table *own = dp->parts[lc->idx];
	if (dp->cmd == DP_CMD_FLUSH)
		tbl_flush(own, 0);
	else if (dp->cmd == DP_CMD_MEM)
		tbl_set_mem_limit(own, dp->cmd_arg);
	lc->applied_gen = gen;
	if (dp->shm != NULL)
		atomic_store_explicit(&px_shm_lcore(dp->shm, lc->idx)->applied_gen, gen,
				      memory_order_release);
}

static void mbox_reply(struct px_shm_hdr *h, uint64_t seq, int rc, const char *msg)
{
	h->mbox.result = rc;
	snprintf(h->mbox.msg, sizeof(h->mbox.msg), "%s", msg);
	atomic_store_explicit(&h->mbox.ack_seq, seq, memory_order_release);
}

/* Lcore 0: a new mailbox command, or the completion of one in flight. */
static void mbox_poll(struct dp *dp)
{
	struct px_shm_hdr *h = dp->shm;
	uint64_t req = atomic_load_explicit(&h->mbox.req_seq, memory_order_acquire);
	char msg[160];

	if (dp->cmd_seq != 0) {
		/* waiting for every lcore to apply generation cmd_gen */
		for (unsigned i = 0; i < dp->nlcores; i++)
			if (dp->lc[i]->applied_gen != dp->cmd_gen)
				return;
		mbox_reply(h, dp->cmd_seq, 0, dp->cmd == DP_CMD_FLUSH ? "flushed every partition" :
								    "applied on every lcore");
		dp->cmd_seq = 0;
		return;
	}
	if (req == atomic_load_explicit(&h->mbox.ack_seq, memory_order_relaxed))
		return;
	char cmd[16], key[64], value[256];
	memcpy(cmd, h->mbox.cmd, sizeof(cmd));
	memcpy(key, h->mbox.key, sizeof(key));
	memcpy(value, h->mbox.value, sizeof(value));
	cmd[sizeof(cmd) - 1] = key[sizeof(key) - 1] = value[sizeof(value) - 1] = '\0';
	if (strcmp(cmd, "flush") == 0) {
		dp->cmd = DP_CMD_FLUSH;
	} else if (strcmp(cmd, "set") == 0) {
		struct px_settings s = dp->set;
		const char *why = NULL;
		if (px_settings_set(&s, key, value, &why) != 0) {
			snprintf(msg, sizeof(msg), "%s: %s", key, why);
			mbox_reply(h, req, -EINVAL, msg);
			return;
		}
		if (strcmp(key, "mem_mb") == 0) {
			dp->set.mem_mb = s.mem_mb;
			dp->cmd = DP_CMD_MEM;
			dp->cmd_arg = s.mem_mb << 20;
			h->dp_mem_limit = dp->cmd_arg * dp->nlcores;
		} else if (strcmp(key, "idle_sleep_max_us") == 0 || strcmp(key, "sweep_budget") == 0 ||
			   strcmp(key, "log_level") == 0) {
			/* read by the lcores on every loop; a word store is atomic */
			dp->set.idle_sleep_max_us = s.idle_sleep_max_us;
			dp->set.sweep_budget = s.sweep_budget;
			memcpy(dp->set.log_level, s.log_level, sizeof(s.log_level));
			mbox_reply(h, req, 0, "applied");
			return;
		} else {
			snprintf(msg, sizeof(msg), "%s cannot change at run time: restart pollux-dp", key);
			mbox_reply(h, req, -EPERM, msg);
			return;
		}
	} else {
		snprintf(msg, sizeof(msg), "unknown command '%s'", cmd);
		mbox_reply(h, req, -EINVAL, msg);
		return;
	}
	dp->cmd_seq = req;
	atomic_store_explicit(&dp->cmd_gen, dp->cmd_gen + 1, memory_order_release);
}

void dp_shm_tick0(struct dp *dp, uint64_t now_tsc)
{
	if (now_tsc - dp->shm_retry_tsc > dp->tsc_hz) {
		/* once a second: attach, or follow a region a new pollux-cp made */
		struct stat st;
		dp->shm_retry_tsc = now_tsc;
		if (dp->shm == NULL) {
			dp_shm_attach(dp);
		} else if (stat(dp->set.shm_path, &st) == 0 && (uint64_t)st.st_ino != dp->shm_ino) {
			struct px_shm_hdr *old = dp->shm;
			dp->shm = NULL;
			dp->cmd_seq = 0;
			/* The old mapping stays: other lcores may still be publishing
			 * counters or pushing WAL records into it until their next tick
			 * sees the new one. A region is replaced rarely (a pollux-cp of
			 * another ABI), so the leak is bounded. */
			if (dp_shm_attach(dp) != 0)
				dp->shm = old;
		}
	}
	if (dp->shm == NULL)
		return;
	uint64_t now = mono_ns();
	atomic_store_explicit(&dp->shm->dp_heartbeat, now, memory_order_release);
	/* Notice the control plane's death and return (no effect on serving;
	 * the WAL will hold writes in its rings meanwhile). Printed once per
	 * change, never per packet. */
	uint64_t cp_hb = atomic_load_explicit(&dp->shm->cp_heartbeat, memory_order_acquire);
	/* a heartbeat newer than our clock reading is fresh, not 2^64 ns old */
	bool cp_alive = cp_hb != 0 && (cp_hb >= now || now - cp_hb < 1000000000ULL);
	if (cp_alive != dp->cp_alive) {
		dp->cp_alive = cp_alive;
		printf("pollux-dp: control plane %s\n", cp_alive ? "present" : "gone (still serving)");
		fflush(stdout);
	}
	if (atomic_load_explicit(&dp->shm->dp_pid, memory_order_relaxed) != (uint64_t)getpid())
		atomic_store(&dp->shm->dp_pid, (uint64_t)getpid());
	mbox_poll(dp);
}
