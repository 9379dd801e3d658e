/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memcached "stats" command: general, settings, items, slabs and reset,
 * with memcached's field names wherever a field applies. Item and memory
 * figures are summed over the executor's partitions; Pollux has no slab
 * classes, so items and slabs report its single log as class 1.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "mc_exec.h"

static void stat_u64(struct mc_out *o, const char *name, uint64_t v)
{
	MC_OUT_LIT(o, "STAT ");
	mc_out_str(o, name, strlen(name));
	MC_OUT_LIT(o, " ");
	mc_out_u64(o, v);
	MC_OUT_LIT(o, "\r\n");
}

static void stat_str(struct mc_out *o, const char *name, const char *v)
{
	MC_OUT_LIT(o, "STAT ");
	mc_out_str(o, name, strlen(name));
	MC_OUT_LIT(o, " ");
	mc_out_str(o, v, strlen(v));
	MC_OUT_LIT(o, "\r\n");
}

static void stat_rusage(struct mc_out *o, const char *name, const struct timeval *tv)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "%ld.%06ld", (long)tv->tv_sec, (long)tv->tv_usec);
	MC_OUT_LIT(o, "STAT ");
	mc_out_str(o, name, strlen(name));
	MC_OUT_LIT(o, " ");
	mc_out_str(o, buf, (size_t)n);
	MC_OUT_LIT(o, "\r\n");
}

static void table_sum(const struct mc_exec *x, struct tbl_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < x->nparts; i++) {
		struct tbl_stats s;
		tbl_stats_get(x->parts[i], &s);
		sum->hits += s.hits;
		sum->misses += s.misses;
		sum->sets += s.sets;
		sum->evictions += s.evictions;
		sum->expired_reclaimed += s.expired_reclaimed;
		sum->reinserted += s.reinserted;
		sum->items += s.items;
		sum->bytes_used += s.bytes_used;
		sum->log_bytes += s.log_bytes;
		sum->index_bytes += s.index_bytes;
		sum->flushes += s.flushes;
	}
}

static void stats_general(struct mc_exec *x, struct mc_out *o)
{
	const struct mc_server_info *in = x->info;
	struct tbl_stats ts;
	struct rusage ru;

	table_sum(x, &ts);
	getrusage(RUSAGE_SELF, &ru);
	stat_u64(o, "pid", in ? in->pid : 0);
	stat_u64(o, "uptime", in && x->now > in->started ? x->now - in->started : 0);
	stat_u64(o, "time", x->now);
	stat_str(o, "version", MC_VERSION_STRING);
	stat_u64(o, "pointer_size", sizeof(void *) * 8);
	stat_rusage(o, "rusage_user", &ru.ru_utime);
	stat_rusage(o, "rusage_system", &ru.ru_stime);
	stat_u64(o, "curr_connections", in ? in->curr_connections : 0);
	stat_u64(o, "total_connections", in ? in->total_connections : 0);
	struct mc_exec_stats all = x->st;
	if (in != NULL && in->sum_stats != NULL)
		in->sum_stats(in->sum_ctx, &all);
#define MC_X_STAT(n) stat_u64(o, #n, all.n);
	MC_EXEC_COUNTERS(MC_X_STAT)
#undef MC_X_STAT
	stat_u64(o, "bytes_read", in ? in->bytes_read : 0);
	stat_u64(o, "bytes_written", in ? in->bytes_written : 0);
	stat_u64(o, "limit_maxbytes", x->cfg.limit_maxbytes);
	stat_u64(o, "threads", in ? in->threads : 1);
	stat_u64(o, "hash_bytes", ts.index_bytes);
	stat_u64(o, "bytes", ts.bytes_used);
	stat_u64(o, "curr_items", ts.items);
	stat_u64(o, "total_items", ts.sets);
	stat_u64(o, "evictions", ts.evictions);
	stat_u64(o, "reclaimed", ts.expired_reclaimed);
}

static void stats_settings(struct mc_exec *x, struct mc_out *o)
{
	stat_u64(o, "maxbytes", x->cfg.limit_maxbytes);
	stat_u64(o, "item_size_max", x->cfg.limits.item_size_max);
	stat_u64(o, "num_threads", x->info ? x->info->threads : 1);
	stat_str(o, "evictions", "on");
	stat_str(o, "cas_enabled", "yes");
	stat_u64(o, "verbosity", x->verbosity);
	stat_str(o, "lru_policy", tbl_policy_name(x->cfg.policy));
}

static void stats_items(struct mc_exec *x, struct mc_out *o, bool slabs)
{
	struct tbl_stats ts;

	table_sum(x, &ts);
	if (slabs) {
		stat_u64(o, "1:chunk_size", 0);
		stat_u64(o, "1:used_chunks", ts.items);
		stat_u64(o, "1:mem_requested", ts.bytes_used);
		stat_u64(o, "active_slabs", 1);
		stat_u64(o, "total_malloced", ts.log_bytes + ts.index_bytes);
		return;
	}
	stat_u64(o, "items:1:number", ts.items);
	stat_u64(o, "items:1:evicted", ts.evictions);
	stat_u64(o, "items:1:reclaimed", ts.expired_reclaimed);
	stat_u64(o, "items:1:mem_requested", ts.bytes_used);
}

void mc_exec_stats(struct mc_exec *x, const struct mc_request *req, struct mc_out *out)
{
	const struct mc_str *a = &req->stats_args;

	if (a->len == 0) {
		stats_general(x, out);
	} else if (a->len == 8 && memcmp(a->ptr, "settings", 8) == 0) {
		stats_settings(x, out);
	} else if (a->len == 5 && memcmp(a->ptr, "items", 5) == 0) {
		stats_items(x, out, false);
	} else if (a->len == 5 && memcmp(a->ptr, "slabs", 5) == 0) {
		stats_items(x, out, true);
	} else if (a->len == 5 && memcmp(a->ptr, "reset", 5) == 0) {
		memset(&x->st, 0, sizeof(x->st));
		MC_OUT_LIT(out, "RESET\r\n");
		return;
	} else {
		MC_OUT_LIT(out, "ERROR\r\n");
		return;
	}
	MC_OUT_LIT(out, "END\r\n");
}
