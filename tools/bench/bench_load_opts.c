/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command line of `pollux-bench udp` and `pollux-bench tcp`: one set of
 * options, usage text and defaults for both, parsing and the checks that
 * span options (the few that differ by transport are said so). Every bad
 * value is reported with the option named and makes the command exit 2;
 * nothing here opens a socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_compiler.h"

#include "bench.h"
#include "bench_keys.h"
#include "bench_load.h"
#include "bench_udp.h"
#include "zipf.h"

#define CMD (o->cmd)
#define UDP_TIMEOUT_MS 200
#define TCP_TIMEOUT_MS 2000

static void usage(FILE *f, enum load_transport t)
{
	bool tcp = t == LOAD_TCP;

	fprintf(f,
		"usage: pollux-bench %s --server IP [options]\n"
		"memcached-over-%s load generator (plain sockets; no DPDK). Checks every\n"
		"reply: values are deterministic per key, so hits are verified byte for byte.\n\n"
		"  --server IP          server IPv4 address (required)\n"
		"  --port P             %s port (default 11211)\n",
		tcp ? "tcp" : "udp", tcp ? "TCP" : "UDP", tcp ? "TCP" : "UDP");
	if (!tcp)
		fprintf(f,
			"  --partitions N       server partitions (default 1)\n"
			"  --partition-aware    send each key to port P + its partition\n"
			"  --hash-seed X        key hash seed, decimal or 0x hex\n"
			"                       (default 0x9e3779b97f4a7c15)\n");
	fprintf(f,
		"  --keys N             keys in the key space (default 100000; k/M suffixes)\n"
		"  --key-size B         key bytes (default 16)\n"
		"  --value-size B       value bytes (default 32)\n"
		"  --dist D             uniform | zipf:S with 0 < S <= %g (default zipf:0.99)\n"
		"  --get-ratio R        fraction of gets, the rest are sets (default 0.95)\n"
		"  --proto P            text (get/set) | meta (mg/ms) (default text)\n"
		"  --seconds S          measured seconds (default 5; none with --requests)\n"
		"  --requests N         stop after N requests (and at --seconds if also given)\n"
		"  --loop L             closed | open (default closed)\n"
		"  --rate R             open loop: Poisson arrivals per second, all threads\n"
		"                       together (default 10000)\n",
		ZIPF_S_MAX);
	if (tcp)
		fprintf(f,
			"  --conns C            TCP connections (default 4)\n"
			"  --depth D            closed loop: pipelining depth, requests in flight per\n"
			"                       connection (default 1: no pipelining)\n"
			"  --io E               epoll (send and recv per connection, default) |\n"
			"                       uring (io_uring: every connection's sends and\n"
			"                       receives in one system call per wakeup)\n");
	else
		fprintf(f,
			"  --conns C            sockets, each with its own source port (default 4)\n"
			"  --depth D            closed loop: requests in flight per socket (default 16)\n");
	fprintf(f,
		"  --threads T          threads, each owning a share of the %s (default 1)\n"
		"  --timeout-ms MS      no reply by then is a timeout (default %u)%s\n"
		"  --warmup-sets        set every key once before measuring (default)\n"
		"  --no-preload         do not\n"
		"  --seed N             seed of the key and operation streams (default 1)\n"
		"  --value-version V    0-65535, written into every value (default 1); a hit on\n"
		"                       another size or version of the key's value is 'stale'\n"
		"  --json               print one JSON object on stdout, no progress line\n"
		"  -h, --help\n"
		"exit status: 0 ran, 1 wrong replies%s or no reply at all,\n"
		"2 bad options\n",
		tcp ? "connections" : "sockets", tcp ? TCP_TIMEOUT_MS : UDP_TIMEOUT_MS,
		tcp ? ": its connection\n"
		      "                       is closed, and all its requests in flight count as\n"
		      "                       timeouts" : "",
		tcp ? ", timeouts, broken connections" : "");
}

static int parse_seed(const struct load_opts *o, const char *opt, const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return bench_opt_bad(CMD, opt, s, "expected a decimal or 0x hex 64-bit number");
	*out = v;
	return 0;
}

static int parse_one(int c, const char *arg, struct load_opts *o, bool *have_server,
		     bool *have_seconds, bool *have_rate, const char **udp_only)
{
	static const char *const protos[] = {[LOAD_PROTO_TEXT] = "text", [LOAD_PROTO_META] = "meta"};
	static const char *const loops[] = {[LOAD_LOOP_CLOSED] = "closed", [LOAD_LOOP_OPEN] = "open"};
	static const char *const ios[] = {"epoll", "uring"};
	uint64_t v;
	unsigned k = 0;
	int rc = 0;

	switch (c) {
	case 'S':
		if (inet_pton(AF_INET, arg, &o->server) != 1)
			return bench_opt_bad(CMD, "--server", arg, "expected an IPv4 address");
		inet_ntop(AF_INET, &o->server, o->server_str, sizeof(o->server_str));
		*have_server = true;
		return 0;
	case 'p':
		rc = bench_opt_u64(CMD, "--port", arg, 1, 65535, &v);
		o->port = (uint16_t)v;
		return rc;
	case 'P':
		*udp_only = "--partitions";
		return bench_opt_u32(CMD, "--partitions", arg, 1, 1024, &o->partitions);
	case 'A':
		o->partition_aware = true;
		*udp_only = "--partition-aware";
		return 0;
	case 'H':
		*udp_only = "--hash-seed";
		return parse_seed(o, "--hash-seed", arg, &o->hash_seed);
	case 'k':
		return bench_opt_u64(CMD, "--keys", arg, 1, LOAD_KEYS_MAX, &o->keys);
	case 'K':
		return bench_opt_u32(CMD, "--key-size", arg, 1, 250, &o->key_size);
	case 'V':
		return bench_opt_u32(CMD, "--value-size", arg, 1, LOAD_VALUE_MAX, &o->value_size);
	case 'd':
		if (zipf_parse(arg, &o->zipf_s) < 0)
			return bench_opt_bad(CMD, "--dist", arg,
					     "expected uniform or zipf:S with 0 < S <= 10");
		return 0;
	case 'g':
		return bench_opt_double(CMD, "--get-ratio", arg, 0, 1, &o->get_ratio);
	case 'm':
		rc = bench_opt_pick(CMD, "--proto", arg, protos, PX_ARRAY_SIZE(protos), &k);
		o->proto = (enum load_proto)k;
		return rc;
	case 's':
		*have_seconds = true;
		return bench_opt_double(CMD, "--seconds", arg, 0.01, 86400, &o->seconds);
	case 'n':
		return bench_opt_u64(CMD, "--requests", arg, 1, 1000000000000ULL, &o->requests);
	case 'l':
		rc = bench_opt_pick(CMD, "--loop", arg, loops, PX_ARRAY_SIZE(loops), &k);
		o->loop = (enum load_loop)k;
		return rc;
	case 'r':
		*have_rate = true;
		return bench_opt_double(CMD, "--rate", arg, 1, 1e8, &o->rate);
	case 'c':
		return bench_opt_u32(CMD, "--conns", arg, 1, 1024, &o->conns);
	case 'D':
		return bench_opt_u32(CMD, "--depth", arg, 1, 4096, &o->depth);
	case 't':
		return bench_opt_u32(CMD, "--threads", arg, 1, 64, &o->threads);
	case 'I':
		if (o->transport != LOAD_TCP)
			return bench_opt_bad(CMD, "--io", arg, "TCP only");
		rc = bench_opt_pick(CMD, "--io", arg, ios, PX_ARRAY_SIZE(ios), &k);
		o->uring = k == 1;
		return rc;
	case 'T':
		return bench_opt_u32(CMD, "--timeout-ms", arg, 1, 60000, &o->timeout_ms);
	case 'w':
		o->preload = true;
		return 0;
	case 'N':
		o->preload = false;
		return 0;
	case 'R':
		return parse_seed(o, "--seed", arg, &o->seed);
	case 'j':
		o->json = true;
		return 0;
	case 'v':
		rc = bench_opt_u64(CMD, "--value-version", arg, 0, 65535, &v);
		o->value_version = (uint16_t)v;
		return rc;
	}
	return -EINVAL;
}

/* Checks that span options; each failure prints one line. */
static int check(struct load_opts *o, bool have_server, bool have_seconds, bool have_rate,
		 const char *udp_only)
{
	if (!have_server) {
		fprintf(stderr, "pollux-bench %s: --server IP is required\n", o->cmd);
		return -EINVAL;
	}
	if (udp_only != NULL && o->transport != LOAD_UDP) {
		fprintf(stderr, "pollux-bench %s: %s is for UDP only (a TCP connection is "
			"served by one lcore whatever its keys)\n", o->cmd, udp_only);
		return -EINVAL;
	}
	if (o->key_size < bench_keys_min_size(o->keys)) {
		fprintf(stderr, "pollux-bench %s: --key-size %u is too small to name %" PRIu64
			" keys (need %u)\n", o->cmd, o->key_size, o->keys,
			bench_keys_min_size(o->keys));
		return -EINVAL;
	}
	if (o->transport == LOAD_UDP && udp_req_max(o->key_size, o->value_size) > UDP_DGRAM_MAX) {
		fprintf(stderr, "pollux-bench udp: a set of --value-size %u does not fit in one "
			"UDP datagram (at most %zu value bytes with --key-size %u)\n",
			o->value_size,
			(size_t)UDP_DGRAM_MAX - udp_req_max(o->key_size, 0), o->key_size);
		return -EINVAL;
	}
	if (o->partition_aware && (uint32_t)o->port + o->partitions - 1 > 65535) {
		fprintf(stderr, "pollux-bench udp: --port %u + --partitions %u runs past "
			"port 65535\n", o->port, o->partitions);
		return -EINVAL;
	}
	if (o->threads > o->conns) {
		fprintf(stderr, "pollux-bench %s: --threads %u exceeds --conns %u (each thread "
			"owns at least one %s)\n", o->cmd, o->threads, o->conns,
			o->transport == LOAD_TCP ? "connection" : "socket");
		return -EINVAL;
	}
	if (have_rate && o->loop != LOAD_LOOP_OPEN) {
		fprintf(stderr, "pollux-bench %s: --rate needs --loop open\n", o->cmd);
		return -EINVAL;
	}
	if (!have_seconds && o->requests > 0)
		o->seconds = 0;
	return 0;
}

int load_opts_parse(enum load_transport t, int argc, char **argv, struct load_opts *o)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 'S'},
		{"port", required_argument, NULL, 'p'},
		{"partitions", required_argument, NULL, 'P'},
		{"partition-aware", no_argument, NULL, 'A'},
		{"hash-seed", required_argument, NULL, 'H'},
		{"keys", required_argument, NULL, 'k'},
		{"key-size", required_argument, NULL, 'K'},
		{"value-size", required_argument, NULL, 'V'},
		{"dist", required_argument, NULL, 'd'},
		{"get-ratio", required_argument, NULL, 'g'},
		{"proto", required_argument, NULL, 'm'},
		{"seconds", required_argument, NULL, 's'},
		{"requests", required_argument, NULL, 'n'},
		{"loop", required_argument, NULL, 'l'},
		{"rate", required_argument, NULL, 'r'},
		{"conns", required_argument, NULL, 'c'},
		{"depth", required_argument, NULL, 'D'},
		{"threads", required_argument, NULL, 't'},
		{"io", required_argument, NULL, 'I'},
		{"timeout-ms", required_argument, NULL, 'T'},
		{"warmup-sets", no_argument, NULL, 'w'},
		{"no-preload", no_argument, NULL, 'N'},
		{"seed", required_argument, NULL, 'R'},
		{"json", no_argument, NULL, 'j'},
		{"value-version", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_server = false, have_seconds = false, have_rate = false;
	const char *udp_only = NULL;
	bool tcp = t == LOAD_TCP;
	int c, rc = 0;

	*o = (struct load_opts){
		.transport = t, .cmd = tcp ? "tcp" : "udp",
		.port = 11211, .partitions = 1, .hash_seed = 0x9e3779b97f4a7c15ULL,
		.keys = 100000, .key_size = 16, .value_size = 32, .zipf_s = 0.99,
		.get_ratio = 0.95, .seconds = 5, .loop = LOAD_LOOP_CLOSED, .rate = 10000,
		.conns = 4, .depth = tcp ? 1 : 16, .threads = 1,
		.timeout_ms = tcp ? TCP_TIMEOUT_MS : UDP_TIMEOUT_MS,
		.proto = LOAD_PROTO_TEXT, .preload = true, .seed = 1, .value_version = 1,
	};
	opterr = 0;
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout, t);
			return 1;
		case ':':
			fprintf(stderr, "pollux-bench %s: %s needs a value\n", o->cmd,
				argv[optind - 1]);
			rc = -EINVAL;
			break;
		case '?':
			fprintf(stderr, "pollux-bench %s: unknown option '%s'\n", o->cmd,
				argv[optind - 1]);
			rc = -EINVAL;
			break;
		default:
			rc = parse_one(c, optarg, o, &have_server, &have_seconds, &have_rate,
				       &udp_only);
			break;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "pollux-bench %s: unexpected argument '%s'\n", o->cmd,
			argv[optind]);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = check(o, have_server, have_seconds, have_rate, udp_only);
	if (rc < 0)
		fprintf(stderr, "try 'pollux-bench %s --help'\n", o->cmd);
	return rc;
}

const char *load_opts_dist(const struct load_opts *o, char *buf, size_t len)
{
	if (o->zipf_s == 0)
		return "uniform";
	snprintf(buf, len, "zipf:%g", o->zipf_s);
	return buf;
}
