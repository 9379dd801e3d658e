/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The UDP framing of `pollux-bench udp`: memcached's 8-byte frame header in
 * front of each request (bench_load.h builds the command itself), and the
 * limits of a datagram. Pure; no sockets here.
 */
#ifndef PX_BENCH_UDP_H
#define PX_BENCH_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bench_load.h"

#define UDP_HDR_LEN 8
#define UDP_DGRAM_MAX 65507     /* largest IPv4 UDP payload: bounds a set request */
#define UDP_REPLY_FRAGS_MAX 1024 /* a reply in more datagrams is garbled */
#define UDP_FRAG_PAYLOAD_MAX 2040 /* payload bytes kept per reply datagram */

/* Longest request datagram for this key and value size. */
static inline size_t udp_req_max(uint32_t key_size, uint32_t value_size)
{
	return UDP_HDR_LEN + load_cmd_max(key_size, value_size);
}

/*
 * Write one request datagram (frame header + command) for key idx into buf,
 * which holds udp_req_max() bytes. Returns its length.
 */
static inline size_t udp_req_build(uint8_t *buf, enum load_proto proto, enum load_op op,
				   uint16_t req_id, const uint8_t *key, uint32_t klen,
				   uint64_t idx, uint32_t vlen, uint16_t ver)
{
	/* Frame: request id, sequence 0, 1 datagram, reserved 0; big-endian. */
	buf[0] = (uint8_t)(req_id >> 8);
	buf[1] = (uint8_t)req_id;
	memcpy(buf + 2, "\0\0\0\1\0\0", 6);
	return UDP_HDR_LEN +
	       load_cmd_build(buf + UDP_HDR_LEN, proto, op, key, klen, idx, vlen, ver);
}

/* pollux-bench udp's transport (bench_udp_loop.c). */
struct load_transport_ops;
extern const struct load_transport_ops udp_transport;

#endif
