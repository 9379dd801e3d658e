/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the two I/O engines of `pollux-bench tcp` share: the connections of
 * a worker, with their requests in flight and output buffers, and the
 * steps that do not depend on how bytes move (bench_tcp.c). epoll and
 * send/recv are in bench_tcp.c; io_uring (--io uring) in bench_tcp_uring.c.
 */
#ifndef PX_BENCH_TCP_PVT_H
#define PX_BENCH_TCP_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include "bench_load_pvt.h"
#include "bench_tcp.h"

struct tcp_req {
	uint64_t t_start;   /* latency origin: intended send (open) or queued (closed) */
	uint64_t t_sent;    /* timeout origin */
	uint64_t idx;
	uint8_t op;
};

struct tcp_conn {
	int fd;
	bool dead;
	bool want_out;      /* EPOLLOUT armed: the output buffer waits for the socket */
	bool sending;       /* --io uring: a send of [out_off, ...) is in flight */
	bool recving;       /* --io uring: a recv into rx is in flight */
	struct tcp_req *q;  /* in flight, oldest first: ring of qcap */
	uint32_t qcap;      /* a power of two */
	uint32_t qhead;
	uint32_t qn;
	uint8_t *out;       /* bytes queued for the socket: [out_off, out_len) */
	size_t out_off;
	size_t out_len;
	struct tcp_rx rx;
};

struct tcp_worker {
	struct load_worker lw;
	struct tcp_conn *conns;
	uint32_t nconns;
	uint32_t live;
	uint32_t rr;
	uint32_t qmax;      /* in flight per connection in this phase */
	size_t cmd_max;
	size_t out_cap;
	bool ring_live;     /* the ring was set up (and must be torn down) */
	bool ring_off;      /* created disabled, for the worker thread to enable */
	uint32_t ops;       /* sends and recvs in flight on the ring */
	struct io_uring ring;
};

static inline struct tcp_req *q_at(struct tcp_conn *c, uint32_t k)
{
	return &c->q[(c->qhead + k) & (c->qcap - 1)];
}

/* bench_tcp.c */
/* Close c for good; its requests in flight end as timeouts or as lost. */
void tcp_conn_fail(struct tcp_worker *w, struct tcp_conn *c, bool timed_out);
/* Where c reads next (*room bytes); NULL after breaking c when no reply of this run fits. */
uint8_t *tcp_conn_rx_space(struct tcp_worker *w, struct tcp_conn *c, size_t *room);
/* Match the whole replies read so far to c's requests in flight, oldest first. */
void tcp_conn_replies(struct tcp_worker *w, struct tcp_conn *c, uint64_t now);
/* Closed loop and preload: top connection i up to the phase's depth, then flush. */
void tcp_conn_top_up(struct tcp_worker *w, uint32_t i, uint64_t now);

/* bench_tcp_uring.c */
/*
 * On the main thread, once every connection is up: the worker's ring,
 * created disabled, with the sockets made blocking and out of epoll.
 * 0 or a negative errno.
 */
int tcp_uring_setup(struct tcp_worker *w);
/* On the worker's thread before a phase: enable the ring, arm every receive. */
int tcp_uring_start(struct tcp_worker *w);
/* Send the rest of connection i's output buffer (no send of it in flight). */
void tcp_uring_send(struct tcp_worker *w, uint32_t i);
/*
 * The transport's wait hook: submit what was queued, wait until deadline for
 * a completion, handle them all. false for a worker on epoll.
 */
bool tcp_uring_wait(struct load_worker *lw, uint64_t deadline, bool closed);
/* On the worker's thread at its end: end every operation, then close the ring. */
void tcp_uring_teardown(struct tcp_worker *w);

#endif
