/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands, so `dpdk-telemetry.py` shows Pollux next to the
 * ethdev stats: /pollux/stats (totals over the lcores), /pollux/lcores
 * (one dict per lcore) and /pollux/tcp (connections, TCP stack counters). Callbacks run in EAL's telemetry thread and read
 * counters the lcores write; a torn 64-bit read cannot happen on x86-64 and
 * a slightly stale one is fine for a monitor.
 */
#include <stdio.h>

#include <rte_telemetry.h>

#include "dp.h"

static struct dp *tel_dp;

static void add_counters(struct rte_tel_data *d, const struct dp_lcore *lc)
{
	const struct dp_counters *c = &lc->c;
	const struct mc_exec_stats *x = &lc->x.st;
#define DP_X_TEL(n) rte_tel_data_add_dict_u64(d, #n, c->n);
	DP_COUNTERS(DP_X_TEL)
#undef DP_X_TEL
#define MC_X_TEL(n) rte_tel_data_add_dict_u64(d, #n, x->n);
	MC_EXEC_COUNTERS(MC_X_TEL)
#undef MC_X_TEL
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_counters c = { 0 };
	struct mc_exec_stats x = { 0 };
	uint64_t items = 0, bytes = 0, evictions = 0;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < tel_dp->nlcores; i++) {
		const struct dp_lcore *lc = tel_dp->lc[i];
		struct tbl_stats ts;
#define DP_X_SUM(n) c.n += lc->c.n;
		DP_COUNTERS(DP_X_SUM)
#undef DP_X_SUM
#define MC_X_SUM(n) x.n += lc->x.st.n;
		MC_EXEC_COUNTERS(MC_X_SUM)
#undef MC_X_SUM
		tbl_stats_get(tel_dp->parts[i], &ts);
		items += ts.items;
		bytes += ts.bytes_used;
		evictions += ts.evictions;
	}
	rte_tel_data_add_dict_u64(d, "lcores", tel_dp->nlcores);
	rte_tel_data_add_dict_u64(d, "curr_items", items);
	rte_tel_data_add_dict_u64(d, "bytes", bytes);
	rte_tel_data_add_dict_u64(d, "evictions", evictions);
#define DP_X_TEL(n) rte_tel_data_add_dict_u64(d, #n, c.n);
	DP_COUNTERS(DP_X_TEL)
#undef DP_X_TEL
#define MC_X_TEL(n) rte_tel_data_add_dict_u64(d, #n, x.n);
	MC_EXEC_COUNTERS(MC_X_TEL)
#undef MC_X_TEL
	return 0;
}

static int cmd_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < tel_dp->nlcores; i++) {
		struct rte_tel_data *l = rte_tel_data_alloc();
		char name[16];
		if (l == NULL)
			return -1;
		rte_tel_data_start_dict(l);
		add_counters(l, tel_dp->lc[i]);
		snprintf(name, sizeof(name), "lcore%u", i);
		rte_tel_data_add_dict_container(d, name, l, 0);
	}
	return 0;
}

/* TCP totals over the lcores, with the connection gauges. */
static int cmd_tcp(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tcp_counters c = { 0 };
	uint64_t open = 0, syn = 0, tw = 0;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < tel_dp->nlcores; i++) {
		const struct tcp_stack *st = tel_dp->lc[i]->tcp;
		if (st == NULL)
			continue;
#define TCP_X_SUM(n) c.n += st->c.n;
		TCP_COUNTERS(TCP_X_SUM)
#undef TCP_X_SUM
		open += st->nopen;
		syn += st->nsyn;
		tw += st->ntw;
	}
	rte_tel_data_add_dict_u64(d, "port", tel_dp->tcp_port);
	rte_tel_data_add_dict_u64(d, "max_conns", tel_dp->set.max_conns);
	rte_tel_data_add_dict_u64(d, "curr_connections", open);
	rte_tel_data_add_dict_u64(d, "syn_rcvd", syn);
	rte_tel_data_add_dict_u64(d, "time_wait", tw);
#define TCP_X_TEL(n) rte_tel_data_add_dict_u64(d, #n, c.n);
	TCP_COUNTERS(TCP_X_TEL)
#undef TCP_X_TEL
	return 0;
}

int dp_telemetry_register(struct dp *dp)
{
	tel_dp = dp;
	if (rte_telemetry_register_cmd("/pollux/stats", cmd_stats,
				       "Pollux totals: packets, memcached commands, items. No parameters") != 0 ||
	    rte_telemetry_register_cmd("/pollux/lcores", cmd_lcores,
				       "Pollux per-lcore counters. No parameters") != 0 ||
	    rte_telemetry_register_cmd("/pollux/tcp", cmd_tcp,
				       "Pollux TCP: connections and stack counters. No parameters") != 0) {
		fprintf(stderr, "pollux-dp: telemetry commands not registered\n");
		return -1;
	}
	return 0;
}
