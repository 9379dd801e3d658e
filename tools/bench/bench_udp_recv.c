/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reply path of `pollux-bench udp`: recvmmsg batches, frame headers,
 * reassembly of multi-datagram replies by request id (in any order,
 * duplicates ignored), the check of each whole reply and the end of its
 * request as a counted verdict with a latency sample, or as a timeout.
 * A datagram never touches a request it was not sent for: its request id
 * names a slot and that slot's current generation.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "px_clock.h"

#include "bench_udp_pvt.h"

#define RECV_ROUNDS 4 /* recvmmsg calls per ready socket per wakeup */

/* End request i with verdict v: count it, sample its latency, free its slot. */
static void complete(struct udp_worker *w, struct udp_sock *s, uint32_t i, enum load_verdict v,
		     uint64_t now)
{
	load_count_reply(&w->lw, v, s->slots[i].t_start, now);
	udp_slot_put(s, i);
}

static enum load_verdict check(struct udp_worker *w, const struct udp_slot *sl,
			       const uint8_t *p, size_t len)
{
	const struct load_opts *o = w->lw.o;

	return load_reply_check(p, len, o->proto, sl->op, bench_key(&w->lw.run->keys, sl->idx),
				o->key_size, sl->idx, o->value_size, o->value_version);
}

/* Add one datagram of a multi-datagram reply; check the reply once whole. */
static void reassemble(struct udp_worker *w, struct udp_sock *s, uint32_t i, uint16_t seq,
		       uint16_t total, const uint8_t *p, size_t len, uint64_t now)
{
	struct udp_slot *sl = &s->slots[i];
	struct udp_rasm *r = sl->rasm;

	if (total > UDP_REPLY_FRAGS_MAX || len > UDP_FRAG_PAYLOAD_MAX) {
		complete(w, s, i, LOAD_V_GARBLED, now);
		return;
	}
	if (r == NULL) {
		r = malloc(sizeof(*r) + (size_t)total * UDP_FRAG_PAYLOAD_MAX);
		if (r == NULL) {
			complete(w, s, i, LOAD_V_GARBLED, now);
			return;
		}
		r->total = total;
		r->got = 0;
		memset(r->len, 0, sizeof(r->len));
		sl->rasm = r;
	}
	if (r->total != total) {
		complete(w, s, i, LOAD_V_GARBLED, now);
		return;
	}
	if (r->len[seq] != 0) {
		LOAD_CNT_ADD(load_cnt(&w->lw)->late, 1); /* duplicate datagram */
		return;
	}
	memcpy(r->data + (size_t)seq * UDP_FRAG_PAYLOAD_MAX, p, len);
	r->len[seq] = (uint16_t)(len + 1);
	if (++r->got < total)
		return;

	size_t off = 0;
	for (uint32_t k = 0; k < total; k++) {
		memmove(r->data + off, r->data + (size_t)k * UDP_FRAG_PAYLOAD_MAX, r->len[k] - 1u);
		off += r->len[k] - 1u;
	}
	complete(w, s, i, check(w, sl, r->data, off), now);
}

static void on_dgram(struct udp_worker *w, struct udp_sock *s, const uint8_t *p, size_t len,
		     const struct sockaddr_in *from, bool truncated, uint64_t now)
{
	const struct load_opts *o = w->lw.o;
	struct load_counters *c = load_cnt(&w->lw);
	uint16_t fport = ntohs(from->sin_port);

	if (from->sin_addr.s_addr != o->server.s_addr || fport < o->port ||
	    fport >= (uint32_t)o->port + w->ndests) {
		LOAD_CNT_ADD(c->stray, 1);
		return;
	}
	if (len < UDP_HDR_LEN || truncated) {
		LOAD_CNT_ADD(c->bad_frames, 1);
		return;
	}
	uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	uint16_t total = (uint16_t)(p[4] << 8 | p[5]);
	uint32_t i = id & ((1u << s->bits) - 1);
	struct udp_slot *sl = &s->slots[i];

	if (!sl->busy || sl->req_id != id) {
		LOAD_CNT_ADD(c->late, 1);
		return;
	}
	if (total == 0 || seq >= total) {
		complete(w, s, i, LOAD_V_GARBLED, now);
		return;
	}
	if (total == 1) {
		complete(w, s, i, check(w, sl, p + UDP_HDR_LEN, len - UDP_HDR_LEN), now);
		return;
	}
	reassemble(w, s, i, seq, total, p + UDP_HDR_LEN, len - UDP_HDR_LEN, now);
}

void udp_recv_sock(struct udp_worker *w, struct udp_sock *s)
{
	for (int round = 0; round < RECV_ROUNDS; round++) {
		for (uint32_t j = 0; j < UDP_BATCH; j++) {
			w->riov[j] = (struct iovec){
				.iov_base = w->rbuf + (size_t)j * UDP_RECV_BUF_LEN,
				.iov_len = UDP_RECV_BUF_LEN,
			};
			w->rmsg[j].msg_hdr = (struct msghdr){
				.msg_name = &w->raddr[j],
				.msg_namelen = sizeof(w->raddr[j]),
				.msg_iov = &w->riov[j],
				.msg_iovlen = 1,
			};
		}
		int n = recvmmsg(s->fd, w->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;

		uint64_t now = px_clock_ns();
		for (int j = 0; j < n; j++)
			on_dgram(w, s, w->riov[j].iov_base, w->rmsg[j].msg_len, &w->raddr[j],
				 (w->rmsg[j].msg_hdr.msg_flags & MSG_TRUNC) != 0, now);
		if (n < UDP_BATCH)
			return;
	}
}

/* A preload set that timed out goes back in line, up to UDP_PRELOAD_ATTEMPTS sends. */
static void preload_retry(struct udp_worker *w, const struct udp_slot *sl)
{
	if (sl->attempt + 1 >= UDP_PRELOAD_ATTEMPTS || w->retry_n >= w->retry_cap) {
		LOAD_CNT_ADD(w->lw.pc.preload_failed, 1);
		return;
	}
	w->retry[(w->retry_head + w->retry_n) % w->retry_cap] =
		sl->idx << 8 | (uint8_t)(sl->attempt + 1);
	w->retry_n++;
}

void udp_expire(struct udp_worker *w, uint64_t now)
{
	struct load_counters *c = load_cnt(&w->lw);

	for (uint32_t k = 0; k < w->nsocks; k++) {
		struct udp_sock *s = &w->socks[k];

		while (s->head != UDP_NIL &&
		       now - s->slots[s->head].t_sent >= w->lw.run->timeout_ns) {
			LOAD_CNT_ADD(c->timeouts, 1);
			if (w->lw.phase == LOAD_PHASE_PRELOAD)
				preload_retry(w, &s->slots[s->head]);
			udp_slot_put(s, s->head);
		}
	}
}
