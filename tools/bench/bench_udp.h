/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared declarations of `pollux-bench udp`, a memcached-over-UDP load
 * generator on plain Linux sockets: its options (bench_udp_opts.c), the
 * request and reply codec with deterministic values (bench_udp_proto.c) and
 * the load loop and report (bench_udp.c). No DPDK anywhere in this command.
 */
#ifndef PX_BENCH_UDP_H
#define PX_BENCH_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "histogram.h"

#define UDP_HDR_LEN 8
#define UDP_DGRAM_MAX 65507     /* largest IPv4 UDP payload: bounds a set request */
#define UDP_REPLY_FRAGS_MAX 1024 /* a reply in more datagrams is garbled */
#define UDP_FRAG_PAYLOAD_MAX 2040 /* payload bytes kept per reply datagram */
#define UDP_KEYS_MAX 100000000ULL

enum udp_loop { UDP_LOOP_CLOSED, UDP_LOOP_OPEN };
enum udp_proto { UDP_PROTO_TEXT, UDP_PROTO_META };
enum udp_op { UDP_OP_GET, UDP_OP_SET };

/* What a reply says, once checked against its request. */
enum udp_verdict {
	UDP_V_HIT,        /* a get found the value the key must hold */
	UDP_V_MISS,
	UDP_V_STORED,
	UDP_V_STALE,      /* a hit on this key's value of another size or version */
	UDP_V_BAD_VALUE,  /* a hit on bytes this key never held */
	UDP_V_SERVER_ERR, /* ERROR, CLIENT_ERROR or SERVER_ERROR line */
	UDP_V_GARBLED,    /* anything else: not a reply to this request */
};

struct udp_opts {
	struct in_addr server;
	char server_str[INET_ADDRSTRLEN];
	uint16_t port;
	uint32_t partitions;
	bool partition_aware;
	uint64_t hash_seed;
	uint64_t keys;
	uint32_t key_size;
	uint32_t value_size;
	double zipf_s;           /* 0: uniform */
	double get_ratio;
	double seconds;          /* 0: no time limit (only with requests) */
	uint64_t requests;       /* 0: no count limit */
	enum udp_loop loop;
	double rate;             /* open loop: requests per second, all threads */
	uint32_t conns;
	uint32_t depth;
	uint32_t threads;
	uint32_t timeout_ms;
	enum udp_proto proto;
	bool preload;
	bool json;
	uint64_t seed;
	uint16_t value_version;
};

/* Per-thread event counts; one writer, read live with relaxed loads. */
struct udp_counters {
	uint64_t sent;
	uint64_t hits;
	uint64_t misses;
	uint64_t stale;       /* hits on values an earlier writer left (not errors) */
	uint64_t stored;
	uint64_t bad_values;
	uint64_t server_errors;
	uint64_t garbled;     /* replies that are not a reply to their request */
	uint64_t bad_frames;  /* datagrams from the server without a usable frame */
	uint64_t timeouts;
	uint64_t late;        /* replies after their request timed out, or duplicates */
	uint64_t stray;       /* datagrams from another address or port */
	uint64_t send_failures;
	uint64_t preload_failed; /* preload only: keys given up on */
};

/* A run's totals, for the summary. */
struct udp_result {
	struct udp_counters c;
	struct udp_counters pre;  /* the preload's */
	double preload_s;
	double duration_s;        /* first send to the later of last reply and last send */
	bool interrupted;
	struct hist hist;         /* latency of every reply, ns */
};

static inline uint64_t udp_ok(const struct udp_counters *c)
{
	return c->hits + c->misses + c->stale + c->stored;
}

static inline uint64_t udp_errors(const struct udp_counters *c)
{
	return c->bad_values + c->server_errors + c->garbled + c->bad_frames;
}

/* Parse argv. 0 ok, 1 after --help (exit 0), -EINVAL after a message (exit 2). */
int udp_opts_parse(int argc, char **argv, struct udp_opts *o);
const char *udp_opts_dist(const struct udp_opts *o, char *buf, size_t len);

/* Build the value pattern; call once before any other udp_value_* or udp_req_*. */
void udp_value_init(void);
/* The value key idx holds: vlen bytes, a function of (idx, vlen, ver) only. */
void udp_value_fill(uint8_t *v, uint32_t vlen, uint64_t idx, uint16_t ver);

/* Longest request datagram for this key and value size. */
size_t udp_req_max(uint32_t key_size, uint32_t value_size);
/*
 * Write one request datagram (frame header + command) for key idx into buf,
 * which holds udp_req_max() bytes. Returns its length.
 */
size_t udp_req_build(uint8_t *buf, enum udp_proto proto, enum udp_op op, uint16_t req_id,
		     const uint8_t *key, uint32_t klen, uint64_t idx, uint32_t vlen, uint16_t ver);

/* Check a whole reply (frames already stripped and joined). Pure; O(len). */
enum udp_verdict udp_reply_check(const uint8_t *p, size_t len, enum udp_proto proto,
				 enum udp_op op, const uint8_t *key, uint32_t klen, uint64_t idx,
				 uint32_t vlen, uint16_t ver);

/* Totals of the workers' counters, read live (relaxed loads). */
void udp_counters_add(struct udp_counters *sum, const struct udp_counters *c);

/* "\r[udp 2.5s] 312.4 kreq/s  p99 85us  hits 94.9%  timeouts 0" on f. */
void udp_report_progress(FILE *f, double t, double rps, uint64_t p99_ns,
			 const struct udp_counters *c);
void udp_report_text(FILE *f, const struct udp_opts *o, const struct udp_result *r);
void udp_report_json(FILE *f, const struct udp_opts *o, const struct udp_result *r);

#endif
