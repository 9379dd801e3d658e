/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dataplane memory and state set up before the lcores launch: packet and
 * continuation pools, one partition per lcore in DPDK memory, the per-lcore
 * structs with their executors, and the lcore-pair forwarding rings. Shared
 * by pollux-dp and the ring-fed benchmark; never freed (memory of the item
 * stores must outlive every reader).
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "dp.h"

size_t dp_part_region_size(const struct px_settings *s, struct tbl_config *cfg, unsigned idx)
{
	enum tbl_policy pol = TBL_POLICY_CLOCK;
	tbl_policy_parse(s->policy, &pol);
	*cfg = (struct tbl_config){
		.mem_bytes = s->mem_mb << 20,
		.index_items = s->index_items,
		.value_max = (uint32_t)s->item_size_max,
		.policy = pol,
		.hash_seed = s->hash_seed,
		.cas_stride = (uint32_t)s->lcores,
		.cas_index = idx,
	};
	return tbl_region_size(cfg);
}

/* memcached's "stats" on any lcore reports the whole dataplane's commands. */
static void sum_exec_stats(void *ctx, struct mc_exec_stats *out)
{
	const struct dp *dp = ctx;
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < dp->nlcores; i++) {
		const struct mc_exec_stats *s = &dp->lc[i]->x.st;
#define DP_X_SUM(n) out->n += s->n;
		MC_EXEC_COUNTERS(DP_X_SUM)
#undef DP_X_SUM
	}
}

int dp_setup(struct dp *dp)
{
	unsigned n = dp->nlcores;
	dp->ns_per_tsc = dp->tsc_hz ? 1e9 / (double)dp->tsc_hz : 0;
	dp->info.sum_stats = sum_exec_stats;
	dp->info.sum_ctx = dp;
	size_t rb = (size_t)dp->set.item_size_max + TBL_KEY_MAX + 64;

	dp->pool = rte_pktmbuf_pool_create("px_mbufs", 8192 * n + 4096, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	dp->cont_pool = rte_mempool_create("px_cont", 1024 * n - 1, sizeof(struct dp_cont), 64, 0,
					   NULL, NULL, NULL, NULL, (int)rte_socket_id(), 0);
	if (dp->pool == NULL || dp->cont_pool == NULL) {
		fprintf(stderr, "pollux-dp: packet buffers: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct tbl_config cfg;
		size_t len = dp_part_region_size(&dp->set, &cfg, i);
		void *region = rte_malloc_socket("px_part", len, RTE_CACHE_LINE_SIZE, (int)rte_socket_id());
		if (region == NULL || (dp->parts[i] = tbl_create(&cfg, region, len)) == NULL) {
			fprintf(stderr, "pollux-dp: partition %u: cannot get %zu MiB of %s memory "
					"(lower mem_mb or reserve more)\n",
				i, len >> 20, dp->set.hugepages ? "hugepage" : "EAL");
			return -1;
		}
		dp->lc[i] = rte_zmalloc_socket("px_lcore", sizeof(struct dp_lcore) + rb,
					       RTE_CACHE_LINE_SIZE, (int)rte_socket_id());
		if (dp->lc[i] == NULL)
			return -1;
	}
	for (unsigned a = 0; a < n; a++)
		for (unsigned b = 0; b < n; b++) {
			char name[32];
			if (a == b)
				continue;
			snprintf(name, sizeof(name), "px_fwd_%u_%u", a, b);
			dp->fwd[a][b] = rte_ring_create(name, DP_FWD_RING, (int)rte_socket_id(),
							RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (dp->fwd[a][b] == NULL) {
				fprintf(stderr, "pollux-dp: ring %s: %s\n", name, rte_strerror(rte_errno));
				return -1;
			}
		}
	struct mc_exec_cfg xc = { .hash_seed = dp->set.hash_seed,
				  .limit_maxbytes = (dp->set.mem_mb << 20) * n,
				  .part_max_bytes = dp->set.mem_mb << 20 };
	mc_parse_limits_init(&xc.limits);
	xc.limits.item_size_max = dp->set.item_size_max;
	tbl_policy_parse(dp->set.policy, &xc.policy);
	for (unsigned i = 0; i < n; i++) {
		struct dp_lcore *lc = dp->lc[i];
		lc->idx = i;
		lc->dp = dp;
		lc->wait_fd = -1;
		mc_exec_init(&lc->x, &xc, dp->parts, n, &dp->info);
		lc->x.owned = 1ULL << i;
		lc->x.rbuf = lc->rbuf;
		lc->x.rbuf_len = rb;
		lc->x.defer = dp_mc_defer;
		lc->x.defer_ctx = lc;
		dp_fault_init(lc);
	}
	return 0;
}

void dp_print_counters(const struct dp *dp)
{
	for (unsigned i = 0; i < dp->nlcores; i++) {
		const struct dp_counters *c = &dp->lc[i]->c;
		printf("pollux-dp: lcore %u:", i);
#define DP_X_PRINT(n) if (c->n) printf(" " #n "=%llu", (unsigned long long)c->n);
		DP_COUNTERS(DP_X_PRINT)
#undef DP_X_PRINT
		printf(" busy_seconds=%.6f\n", (double)c->busy_cycles / (double)dp->tsc_hz);
	}
}

