/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Options of `pollux-bench table`, parsed by bench_table_opts.c and run by
 * bench_table.c. Defaults: 1000000 keys of 16 bytes, 32-byte values,
 * zipf:0.99, 95% gets, 5 seconds per contender, CLOCK.
 */
#ifndef PX_BENCH_TABLE_H
#define PX_BENCH_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table/table.h"

#define TABLE_KEYS_MIN 100ULL
#define TABLE_KEYS_MAX (1ULL << 28)

struct table_opts {
	uint64_t keys;
	uint32_t key_size;
	uint32_t value_size;
	double zipf_s;          /* 0 = uniform */
	double get_ratio;
	double seconds;         /* timed seconds per contender */
	double slack;           /* throughput table: log bytes over estimated live bytes */
	enum tbl_policy policy;
	bool json;
	bool no_huge;
};

/* Returns 0 to run, 1 after --help was printed, -EINVAL after a usage error was printed. */
int table_opts_parse(int argc, char **argv, struct table_opts *o);
/* "uniform" or "zipf:S", written to buf when needed. */
const char *table_opts_dist(const struct table_opts *o, char *buf, size_t len);

#endif
