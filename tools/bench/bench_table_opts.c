/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command line of `pollux-bench table`: usage text, defaults, parsing and
 * the checks that span options. Nothing here touches DPDK or the table
 * beyond its policy names.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "bench.h"
#include "bench_keys.h"
#include "bench_table.h"
#include "zipf.h"

#define CMD "table"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pollux-bench table [options]\n"
		"Pollux table vs DPDK rte_hash on one core (same trace, same EAL memory),\n"
		"and the eviction policy's miss ratio vs exact LRU at 10%% of the keys.\n\n"
		"  --keys N          keys in the key space (default 1000000; k/M suffixes)\n"
		"  --key-size B      key bytes (default 16)\n"
		"  --value-size B    value bytes (default 32)\n"
		"  --dist D          uniform | zipf:S with 0 < S <= %g (default zipf:0.99)\n"
		"  --get-ratio R     fraction of gets, the rest are sets (default 0.95)\n"
		"  --seconds S       timed seconds per contender, split in 2 rounds (default 5)\n"
		"  --policy P        fifo | clock (default clock)\n"
		"  --slack F         throughput table's log over the live bytes (default 1.5)\n"
		"  --no-huge         do not try hugepages\n"
		"  --json            print one JSON object on stdout\n"
		"  -h, --help\n", ZIPF_S_MAX);
}

int table_opts_parse(int argc, char **argv, struct table_opts *o)
{
	static const struct option longopts[] = {
		{"keys", required_argument, NULL, 'k'},
		{"key-size", required_argument, NULL, 'K'},
		{"value-size", required_argument, NULL, 'V'},
		{"dist", required_argument, NULL, 'd'},
		{"get-ratio", required_argument, NULL, 'g'},
		{"seconds", required_argument, NULL, 's'},
		{"policy", required_argument, NULL, 'p'},
		{"slack", required_argument, NULL, 'S'},
		{"no-huge", no_argument, NULL, 'H'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c, rc = 0;

	*o = (struct table_opts){
		.keys = 1000000, .key_size = 16, .value_size = 32, .zipf_s = 0.99,
		.get_ratio = 0.95, .seconds = 5, .slack = 1.5, .policy = TBL_POLICY_CLOCK,
	};
	opterr = 0;
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			rc = bench_opt_u64(CMD, "--keys", optarg, TABLE_KEYS_MIN, TABLE_KEYS_MAX,
					   &o->keys);
			break;
		case 'K':
			rc = bench_opt_u64(CMD, "--key-size", optarg, 1, TBL_KEY_MAX, &v);
			o->key_size = (uint32_t)v;
			break;
		case 'V':
			rc = bench_opt_u64(CMD, "--value-size", optarg, 1, TBL_VALUE_MAX_DEFAULT, &v);
			o->value_size = (uint32_t)v;
			break;
		case 'd':
			if (zipf_parse(optarg, &o->zipf_s) < 0)
				rc = bench_opt_bad(CMD, "--dist", optarg,
						   "expected uniform or zipf:S with 0 < S <= 10");
			break;
		case 'g':
			rc = bench_opt_double(CMD, "--get-ratio", optarg, 0, 1, &o->get_ratio);
			break;
		case 's':
			rc = bench_opt_double(CMD, "--seconds", optarg, 0.01, 86400, &o->seconds);
			break;
		case 'p':
			if (tbl_policy_parse(optarg, &o->policy) < 0)
				rc = bench_opt_bad(CMD, "--policy", optarg, "expected fifo or clock");
			break;
		case 'S':
			rc = bench_opt_double(CMD, "--slack", optarg, 1.0, 100, &o->slack);
			break;
		case 'H':
			o->no_huge = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "pollux-bench table: %s needs a value\n", argv[optind - 1]);
			rc = -EINVAL;
			break;
		default:
			fprintf(stderr, "pollux-bench table: unknown option '%s'\n", argv[optind - 1]);
			rc = -EINVAL;
			break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "pollux-bench table: unexpected argument '%s'\n", argv[optind]);
		rc = -EINVAL;
	}
	if (rc == 0 && o->key_size < bench_keys_min_size(o->keys)) {
		fprintf(stderr, "pollux-bench table: --key-size %u is too small to name %" PRIu64
			" keys (need %u)\n", o->key_size, o->keys, bench_keys_min_size(o->keys));
		rc = -EINVAL;
	}
	if (rc < 0)
		fprintf(stderr, "try 'pollux-bench table --help'\n");
	return rc;
}

const char *table_opts_dist(const struct table_opts *o, char *buf, size_t len)
{
	if (o->zipf_s == 0)
		return "uniform";
	snprintf(buf, len, "zipf:%g", o->zipf_s);
	return buf;
}
