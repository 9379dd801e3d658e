/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of `pollux-bench udp` shared by its worker loop
 * (bench_udp_loop.c) and its reply path (bench_udp_recv.c): the per-socket
 * request slots and the UDP worker, which starts with the worker both
 * transports share (bench_load_pvt.h). Each worker owns its sockets and
 * slots.
 */
#ifndef PX_BENCH_UDP_PVT_H
#define PX_BENCH_UDP_PVT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "px_compiler.h"

#include "bench_load_pvt.h"
#include "bench_udp.h"

#define UDP_BATCH 32            /* datagrams per sendmmsg / recvmmsg */
#define UDP_OPEN_SLOT_BITS 14   /* open loop: in flight per socket, at most */
#define UDP_NIL UINT32_MAX
#define UDP_PRELOAD_ATTEMPTS 5
#define UDP_PRELOAD_BYTES (128u << 10) /* preload sets in flight, all sockets */
#define UDP_RECV_BUF_LEN 2048   /* > the 1400-byte memcached reply datagram */

/* Reassembly of a reply in several datagrams; lives while its request does. */
struct udp_rasm {
	uint32_t total;
	uint32_t got;
	uint16_t len[UDP_REPLY_FRAGS_MAX]; /* payload bytes + 1; 0: not yet here */
	uint8_t data[];                    /* total * UDP_FRAG_PAYLOAD_MAX */
};

struct udp_slot {
	uint64_t t_start;   /* latency origin: intended send (open) or send (closed) */
	uint64_t t_sent;    /* timeout origin */
	uint64_t idx;       /* key index */
	struct udp_rasm *rasm;
	uint32_t prev;      /* in-flight list, oldest first */
	uint32_t next;
	uint16_t req_id;
	uint16_t gen;
	uint8_t op;
	uint8_t busy;
	uint8_t attempt;
};

struct udp_sock {
	int fd;
	uint32_t bits;      /* slots = 1 << bits; request id = gen << bits | slot */
	struct udp_slot *slots;
	uint32_t *free_ring; /* FIFO, so a slot rests as long as possible before reuse */
	uint32_t free_head;
	uint32_t free_n;
	uint32_t head;      /* oldest in flight */
	uint32_t tail;
	uint32_t inflight;
};

/* One thread: the shared worker, then its sockets and the preload's retries. */
struct udp_worker {
	struct load_worker lw;
	struct udp_sock *socks;
	uint32_t nsocks;
	struct sockaddr_in *dests;     /* [partition]: port + p, or one entry */
	uint32_t ndests;
	uint32_t rr;
	/* preload */
	uint32_t pl_depth;          /* preload sets in flight per socket */
	uint64_t *retry;
	uint32_t retry_head;
	uint32_t retry_n;
	uint32_t retry_cap;
	/* I/O */
	size_t req_max;
	uint8_t *sbuf;
	uint8_t *rbuf;
	struct mmsghdr smsg[UDP_BATCH];
	struct iovec siov[UDP_BATCH];
	uint32_t sslot[UDP_BATCH];
	struct mmsghdr rmsg[UDP_BATCH];
	struct iovec riov[UDP_BATCH];
	struct sockaddr_in raddr[UDP_BATCH];
};

static inline uint32_t udp_slot_get(struct udp_sock *s)
{
	uint32_t mask = (1u << s->bits) - 1;
	uint32_t i = s->free_ring[s->free_head];

	s->free_head = (s->free_head + 1) & mask;
	s->free_n--;
	return i;
}

/* Take slot i off the in-flight list and return it to the free ring. */
static inline void udp_slot_put(struct udp_sock *s, uint32_t i)
{
	uint32_t mask = (1u << s->bits) - 1;
	struct udp_slot *sl = &s->slots[i];

	if (sl->prev != UDP_NIL)
		s->slots[sl->prev].next = sl->next;
	else
		s->head = sl->next;
	if (sl->next != UDP_NIL)
		s->slots[sl->next].prev = sl->prev;
	else
		s->tail = sl->prev;
	free(sl->rasm);
	sl->rasm = NULL;
	sl->busy = 0;
	s->inflight--;
	s->free_ring[(s->free_head + s->free_n) & mask] = i;
	s->free_n++;
}

static inline void udp_slot_link(struct udp_sock *s, uint32_t i)
{
	struct udp_slot *sl = &s->slots[i];

	sl->busy = 1;
	sl->prev = s->tail;
	sl->next = UDP_NIL;
	if (s->tail != UDP_NIL)
		s->slots[s->tail].next = i;
	else
		s->head = i;
	s->tail = i;
	s->inflight++;
}

/* Reply path (bench_udp_recv.c). */
void udp_recv_sock(struct udp_worker *w, struct udp_sock *s);
/* Time out, oldest first, whatever has waited --timeout-ms. O(expired + sockets). */
void udp_expire(struct udp_worker *w, uint64_t now);

#endif
