/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reply stream of `pollux-bench tcp`: a connection's receive buffer and
 * the incremental split of the bytes read into whole replies, one per
 * request in flight, oldest first (memcached answers a connection's requests
 * in order). The buffer grows, within a bound, only when one reply is
 * larger than it. Pure memory; the socket I/O is bench_tcp.c's.
 */
#ifndef PX_BENCH_TCP_H
#define PX_BENCH_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "bench_load.h"

enum tcp_rx_status { TCP_RX_REPLY, TCP_RX_MORE, TCP_RX_BAD };

struct tcp_rx {
	uint8_t *buf;
	size_t cap;      /* bytes allocated */
	size_t cap_max;  /* the buffer never grows past this */
	size_t head;     /* first byte not yet parsed */
	size_t tail;     /* end of the bytes read */
	size_t need;     /* bytes (from head) the reply at head has, once known; else 0 */
};

/* 0 or -ENOMEM. cap_max >= cap >= 2 * LOAD_LINE_MAX. */
int tcp_rx_init(struct tcp_rx *rx, size_t cap, size_t cap_max);
void tcp_rx_free(struct tcp_rx *rx);

/*
 * Where to read into next and how much fits (*room > 0). Moves the unparsed
 * bytes to the front when that makes the room the reply at head needs, and
 * grows the buffer when one reply is larger than it. NULL with *room 0 when
 * that reply would pass cap_max (or memory is short): the stream cannot go on.
 * Pointers from tcp_rx_next() are invalid after this call.
 */
uint8_t *tcp_rx_space(struct tcp_rx *rx, size_t *room);
/* n bytes were read into the space. */
void tcp_rx_commit(struct tcp_rx *rx, size_t n);

/*
 * The next whole reply, for a request of this protocol and op: REPLY with
 * *p and *len set (consumed: the next call looks past it); MORE when its
 * bytes have not all arrived; BAD when the bytes at head cannot start a
 * reply (load_reply_frame). O(first line) per call, O(1) while a known
 * length is still arriving.
 */
enum tcp_rx_status tcp_rx_next(struct tcp_rx *rx, enum load_proto proto, enum load_op op,
			       const uint8_t **p, size_t *len);

static inline size_t tcp_rx_pending(const struct tcp_rx *rx)
{
	return rx->tail - rx->head;
}

#endif
