/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `pollux-bench udp` and `pollux-bench tcp` share: a memcached load
 * generator on plain Linux sockets with its options (bench_load_opts.c), the
 * commands and the check of replies with deterministic values
 * (bench_load_proto.c), the counters and the report (bench_load_report.c).
 * The transports add only their framing and their I/O: UDP its frame header
 * and reassembly (bench_udp*.c), TCP its connections and reply stream
 * (bench_tcp*.c). No DPDK anywhere in these commands.
 */
#ifndef PX_BENCH_LOAD_H
#define PX_BENCH_LOAD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "histogram.h"

#define LOAD_KEYS_MAX 100000000ULL
#define LOAD_VALUE_MAX (1u << 20) /* memcached's default item size limit (-I 1m) */

enum load_transport { LOAD_UDP, LOAD_TCP };
enum load_loop { LOAD_LOOP_CLOSED, LOAD_LOOP_OPEN };
enum load_proto { LOAD_PROTO_TEXT, LOAD_PROTO_META };
enum load_op { LOAD_OP_GET, LOAD_OP_SET };

/* What a reply says, once checked against its request. */
enum load_verdict {
	LOAD_V_HIT,        /* a get found the value the key must hold */
	LOAD_V_MISS,
	LOAD_V_STORED,
	LOAD_V_STALE,      /* a hit on this key's value of another size or version */
	LOAD_V_BAD_VALUE,  /* a hit on bytes this key never held */
	LOAD_V_SERVER_ERR, /* ERROR, CLIENT_ERROR or SERVER_ERROR line */
	LOAD_V_GARBLED,    /* anything else: not a reply to this request */
};

struct load_opts {
	enum load_transport transport;
	const char *cmd;         /* "udp" or "tcp", for messages */
	struct in_addr server;
	char server_str[INET_ADDRSTRLEN];
	uint16_t port;
	uint32_t partitions;     /* UDP only */
	bool partition_aware;    /* UDP only */
	uint64_t hash_seed;
	uint64_t keys;
	uint32_t key_size;
	uint32_t value_size;
	double zipf_s;           /* 0: uniform */
	double get_ratio;
	double seconds;          /* 0: no time limit (only with requests) */
	uint64_t requests;       /* 0: no count limit */
	enum load_loop loop;
	double rate;             /* open loop: requests per second, all threads */
	uint32_t conns;          /* UDP sockets or TCP connections */
	uint32_t depth;          /* closed loop: in flight per socket or connection */
	uint32_t threads;
	uint32_t timeout_ms;
	bool uring;              /* TCP only: io_uring instead of epoll and send/recv */
	enum load_proto proto;
	bool preload;
	bool json;
	uint64_t seed;
	uint16_t value_version;
};

/* Per-thread event counts; one writer, read live with relaxed loads. */
struct load_counters {
	uint64_t sent;
	uint64_t hits;
	uint64_t misses;
	uint64_t stale;       /* hits on values an earlier writer left (not errors) */
	uint64_t stored;
	uint64_t bad_values;
	uint64_t server_errors;
	uint64_t garbled;     /* replies that are not a reply to their request */
	uint64_t bad_frames;  /* UDP: datagrams from the server without a usable frame */
	uint64_t timeouts;
	uint64_t late;        /* UDP: replies after their request timed out, or duplicates */
	uint64_t stray;       /* UDP: datagrams from another address or port */
	uint64_t send_failures;
	uint64_t preload_failed; /* preload only: keys given up on */
	uint64_t lost;        /* TCP: in flight on a connection that broke (not timed out) */
	uint64_t conn_failures; /* TCP: connections closed by a reset, EOF, error or timeout */
};

/* A run's totals, for the summary. */
struct load_result {
	struct load_counters c;
	struct load_counters pre; /* the preload's */
	double preload_s;
	double duration_s;        /* first send to the later of last reply and last send */
	bool interrupted;
	struct hist hist;         /* latency of every reply, ns */
};

static inline uint64_t load_ok(const struct load_counters *c)
{
	return c->hits + c->misses + c->stale + c->stored;
}

/* Replies that are wrong, and requests a reliable stream never answered. */
static inline uint64_t load_errors(const struct load_counters *c)
{
	return c->bad_values + c->server_errors + c->garbled + c->bad_frames + c->lost;
}

/*
 * What makes the run fail: wrong replies, plus on TCP, where no reply may
 * go missing (a UDP datagram may be dropped by design), timeouts and
 * connections broken in the measured phase or the preload.
 */
static inline uint64_t load_failures(const struct load_opts *o, const struct load_result *r)
{
	if (o->transport != LOAD_TCP)
		return load_errors(&r->c);
	return load_errors(&r->c) + r->c.timeouts + r->c.conn_failures + r->pre.conn_failures;
}

/* Parse argv. 0 ok, 1 after --help (exit 0), -EINVAL after a message (exit 2). */
int load_opts_parse(enum load_transport t, int argc, char **argv, struct load_opts *o);
const char *load_opts_dist(const struct load_opts *o, char *buf, size_t len);

/* Build the value pattern; call once before any other load_value_* or load_cmd_*. */
void load_value_init(void);
/* The value key idx holds: vlen bytes, a function of (idx, vlen, ver) only. */
void load_value_fill(uint8_t *v, uint32_t vlen, uint64_t idx, uint16_t ver);

/* Longest command for this key and value size. */
size_t load_cmd_max(uint32_t key_size, uint32_t value_size);
/* Write one command for key idx into buf (load_cmd_max() bytes). Returns its length. */
size_t load_cmd_build(uint8_t *buf, enum load_proto proto, enum load_op op, const uint8_t *key,
		      uint32_t klen, uint64_t idx, uint32_t vlen, uint16_t ver);

/* Check a whole reply. Pure; O(len). */
enum load_verdict load_reply_check(const uint8_t *p, size_t len, enum load_proto proto,
				   enum load_op op, const uint8_t *key, uint32_t klen,
				   uint64_t idx, uint32_t vlen, uint16_t ver);

#define LOAD_LINE_MAX 2048       /* a reply's first line is never longer */
#define LOAD_FRAME_BAD SIZE_MAX  /* load_reply_frame: cannot be a reply */
/*
 * Where the reply to a request of this protocol and op ends, at the head of
 * a byte stream p[0..len) (TCP). Returns its length; 0 when more bytes are
 * needed, with *need set to the length it will have once known (else 0:
 * the first line is not complete); LOAD_FRAME_BAD when no reply starts like
 * this (a first line over LOAD_LINE_MAX bytes, or a value header without a
 * size). Framing only: load_reply_check() judges the bytes. Pure; reads at
 * most the first LOAD_LINE_MAX bytes.
 */
size_t load_reply_frame(const uint8_t *p, size_t len, enum load_proto proto, enum load_op op,
			size_t *need);

/* Totals of the workers' counters, read live (relaxed loads). */
void load_counters_add(struct load_counters *sum, const struct load_counters *c);

/* "\r[udp 2.5s] 312.4 kreq/s  p99 85us  hits 94.9%  timeouts 0" on f. */
void load_report_progress(FILE *f, const struct load_opts *o, double t, double rps,
			  uint64_t p99_ns, const struct load_counters *c);
void load_report_text(FILE *f, const struct load_opts *o, const struct load_result *r);
void load_report_json(FILE *f, const struct load_opts *o, const struct load_result *r);

#endif
