/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log's status for operators: the JSON of the admin
 * socket's wal_status (polluxctl wal status) and the pollux_wal_* families
 * of /metrics. Pure formatting of a struct cp_wal_status; no I/O besides
 * the stream it is given.
 */
#include <stdio.h>

#include "cp_lat.h"
#include "prom.h"
#include "wal_report.h"

static json_t *wjint(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static uint64_t wal_lag(const struct cp_wal_status *st, unsigned i)
{
	return st->pushed_lsn[i] > st->durable_lsn[i] ? st->pushed_lsn[i] - st->durable_lsn[i] : 0;
}

json_t *wal_status_json(const struct cp_wal_status *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "mode", json_string(st->mode));
	json_object_set_new(o, "state", json_string(cp_wal_state_name(st->state)));
	json_object_set_new(o, "dir", json_string(st->dir));
	json_object_set_new(o, "error", st->error[0] ? json_string(st->error) : json_null());
	json_object_set_new(o, "records", wjint(st->records));
	json_object_set_new(o, "bytes", wjint(st->bytes));
	json_object_set_new(o, "writes", wjint(st->writes));
	json_object_set_new(o, "fsyncs", wjint(st->fsyncs));
	json_t *lat = json_object();
	uint64_t n = cp_lat_count(st->fsync_hist);
	json_object_set_new(lat, "p50", n ? json_real(cp_lat_quantile_ns(st->fsync_hist, 0.5) / 1e3)
					  : json_null());
	json_object_set_new(lat, "p99", n ? json_real(cp_lat_quantile_ns(st->fsync_hist, 0.99) / 1e3)
					  : json_null());
	json_object_set_new(lat, "mean", n ? json_real((double)st->fsync_sum_ns / (double)n / 1e3)
					   : json_null());
	json_object_set_new(o, "fsync_latency_us", lat);
	json_object_set_new(o, "io_errors", wjint(st->io_errors));
	json_object_set_new(o, "duplicates_skipped", wjint(st->dups));
	json_object_set_new(o, "bad_records", wjint(st->bad_records));
	json_object_set_new(o, "segment", wjint(st->seq));
	json_object_set_new(o, "segments", wjint(st->segments));
	json_object_set_new(o, "disk_bytes", wjint(st->disk_bytes));
	json_object_set_new(o, "snapshots", wjint(st->snapshots));
	json_object_set_new(o, "snapshot_items", wjint(st->snapshot_records));
	json_object_set_new(o, "recoveries", wjint(st->recoveries));
	json_object_set_new(o, "recovered_records", wjint(st->recovered_records));
	json_object_set_new(o, "recovery_seconds", json_real(st->recovery_seconds));
	json_object_set_new(o, "recovery_records_per_second",
			    st->recovery_seconds > 0 ? json_real((double)st->recovered_records /
								 st->recovery_seconds)
						     : json_null());
	json_object_set_new(o, "torn_tail_bytes", wjint(st->torn ? st->torn_bytes : 0));
	json_object_set_new(o, "repair_cut_bytes", wjint(st->cut_bytes));
	json_t *lc = json_array();
	for (unsigned i = 0; i < st->lcores; i++) {
		json_t *l = json_object();
		json_object_set_new(l, "lcore", json_integer(i));
		json_object_set_new(l, "pushed_lsn", wjint(st->pushed_lsn[i]));
		json_object_set_new(l, "durable_lsn", wjint(st->durable_lsn[i]));
		json_object_set_new(l, "lag", wjint(wal_lag(st, i)));
		json_array_append_new(lc, l);
	}
	json_object_set_new(o, "lcores", lc);
	return o;
}

void wal_metrics(FILE *f, const struct cp_wal_status *st)
{
	static const char *const hname = "pollux_wal_fsync_seconds";

	prom_head(f, "pollux_wal_info", "gauge", "The write-ahead log's mode and state.");
	fprintf(f, "pollux_wal_info{mode=\"%s\",state=\"%s\"} 1\n", st->mode,
		cp_wal_state_name(st->state));
	prom_u64(f, "pollux_wal_records_total", "counter", "WAL records written to disk.", st->records);
	prom_u64(f, "pollux_wal_bytes_total", "counter", "WAL record bytes written to disk.", st->bytes);
	prom_u64(f, "pollux_wal_writes_total", "counter", "WAL write submissions (batches).",
	    st->writes);
	prom_u64(f, "pollux_wal_io_errors_total", "counter",
	    "WAL I/O errors (disk full, EIO, ...); the records stay in the rings and are retried.",
	    st->io_errors);
	prom_u64(f, "pollux_wal_disk_bytes", "gauge", "Bytes of WAL segments and snapshot on disk.",
	    st->disk_bytes);
	prom_u64(f, "pollux_wal_segments", "gauge", "WAL segment files on disk.", st->segments);
	prom_u64(f, "pollux_wal_snapshots_total", "counter", "Snapshots (compactions) written.",
	    st->snapshots);
	prom_u64(f, "pollux_wal_recovered_records", "gauge",
	    "Records the last recovery replayed into the dataplane.", st->recovered_records);
	prom_head(f, "pollux_wal_recovery_seconds", "gauge", "Duration of the last recovery.");
	fprintf(f, "pollux_wal_recovery_seconds %.6f\n", st->recovery_seconds);
	prom_hist_ns(f, hname, "Latency of the WAL's fdatasync (with its write in sync mode).",
		     st->fsync_hist, CP_WAL_FSYNC_BUCKETS, st->fsync_sum_ns);
	uint64_t most = 0;
	for (unsigned i = 0; i < st->lcores; i++)
		most = wal_lag(st, i) > most ? wal_lag(st, i) : most;
	prom_u64(f, "pollux_wal_durable_lag", "gauge",
		"Records pushed by the dataplane and not yet durable, on the lcore where most are.",
		most);
	prom_head(f, "pollux_lcore_wal_durable_lag", "gauge",
		 "Records the lcore has pushed that are not yet durable (its LSN minus the durable LSN).");
	for (unsigned i = 0; i < st->lcores; i++)
		fprintf(f, "pollux_lcore_wal_durable_lag{lcore=\"%u\"} %llu\n", i,
			(unsigned long long)wal_lag(st, i));
}
