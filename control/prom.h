/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition helpers for pollux-cp's /metrics (http.c and
 * the WAL's families in wal/wal_report.c): HELP/TYPE lines, single samples,
 * label escaping, and a histogram over the shared region's latency buckets
 * (two per power of two of nanoseconds, px_shm_lat_lower).
 */
#ifndef PX_PROM_H
#define PX_PROM_H

#include <stdint.h>
#include <stdio.h>

#include "pollux/shm.h"

static inline void prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static inline void prom_u64(FILE *f, const char *name, const char *type, const char *help,
			    uint64_t v)
{
	prom_head(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static inline void prom_f64(FILE *f, const char *name, const char *type, const char *help, double v)
{
	prom_head(f, name, type, help);
	fprintf(f, "%s %.15g\n", name, v);
}

/* A label value with Prometheus' escapes (\\, \", \n). */
static inline void prom_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* A histogram in seconds from n latency buckets (the last one open) and their sum in ns. */
static inline void prom_hist_ns(FILE *f, const char *name, const char *help, const uint64_t *hist,
				unsigned n, uint64_t sum_ns)
{
	uint64_t cum = 0;

	prom_head(f, name, "histogram", help);
	for (unsigned b = 0; b + 1 < n; b++) {
		cum += hist[b];
		fprintf(f, "%s_bucket{le=\"%.15g\"} %llu\n", name, px_shm_lat_lower(b + 1) / 1e9,
			(unsigned long long)cum);
	}
	cum += hist[n - 1];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	fprintf(f, "%s_sum %.9f\n", name, (double)sum_ns / 1e9);
	fprintf(f, "%s_count %llu\n", name, (unsigned long long)cum);
}

#endif
