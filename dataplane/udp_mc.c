/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcached over UDP on the dataplane. A request datagram's payload is
 * copied into a continuation (at most one datagram, DP_UDP_REQ_MAX bytes),
 * which frees the request mbuf to become the first reply datagram: the
 * executor writes replies straight into mbuf data rooms, one per reply
 * datagram. A request that changes another lcore's partition stops the
 * walk: the continuation, with the replies so far, goes over the lcore-pair
 * ring to the owner, which resumes where it stopped; the lcore that
 * finishes the datagram writes every reply's headers and sends them.
 */
#include <stddef.h>

#include <emmintrin.h>

#include <rte_ip.h>
#include <rte_udp.h>

#include "dp.h"
#include "net/cksum.h"
#include "proto/mc_udp.h"

struct seg_out {
	struct mc_out o;
	struct dp_lcore *lc;
	struct dp_cont *c;
};

static int seg_flush(struct mc_out *o)
{
	struct seg_out *so = (struct seg_out *)o;
	struct dp_cont *c = so->c;

	c->tail->data_len = (uint16_t)(DP_HDR_ROOM + o->len);
	if (c->nseg >= MC_UDP_FRAGS_MAX)
		return -EMSGSIZE;
	struct rte_mbuf *m = rte_pktmbuf_alloc(so->lc->dp->pool);
	if (m == NULL) {
		so->lc->c.drop_nomem++;
		return -ENOMEM;
	}
	/* Segments of one reply are linked through next until sent. */
	c->tail->next = m;
	c->tail = m;
	c->nseg++;
	o->buf = rte_pktmbuf_mtod_offset(m, uint8_t *, DP_HDR_ROOM);
	o->len = 0;
	o->cap = DP_SEG_PAYLOAD;
	return 0;
}

static void out_open(struct seg_out *so, struct dp_lcore *lc, struct dp_cont *c)
{
	so->lc = lc;
	so->c = c;
	so->o = (struct mc_out){
		.buf = rte_pktmbuf_mtod_offset(c->tail, uint8_t *, DP_HDR_ROOM),
		.len = (size_t)(c->tail->data_len - DP_HDR_ROOM),
		.cap = DP_SEG_PAYLOAD,
		.flush = seg_flush,
	};
}

static void out_close(struct seg_out *so)
{
	so->c->tail->data_len = (uint16_t)(DP_HDR_ROOM + so->o.len);
}

static void cont_free(struct dp_lcore *lc, struct dp_cont *c)
{
	struct rte_mbuf *m = c->req;
	while (m != NULL) {
		struct rte_mbuf *n = m->next;
		m->next = NULL;
		m->nb_segs = 1;
		rte_pktmbuf_free(m);
		m = n;
	}
	rte_mempool_put(lc->dp->cont_pool, c);
}

/* Execute the continuation's requests from pay_off on; forward or finish. */
static void run(struct dp_lcore *lc, struct dp_cont *c)
{
	struct seg_out so;
	struct mc_exec *x = &lc->x;
	uint64_t lsn0 = x->wal_lsn;

	out_open(&so, lc, c);
	while (c->pay_off < c->pay_len) {
		struct mc_request req;
		size_t used = 0;
		int rc = mc_parse(c->pay + c->pay_off, c->pay_len - c->pay_off, &x->cfg.limits,
				  &req, &used);
		if (rc == MC_PARSE_NEED_MORE) {
			lc->c.drop_truncated++;
			break;
		}
		if (rc != MC_PARSE_OK) {
			size_t n;
			const char *line = mc_err_reply(req.err, &n);
			if (!req.noreply || mc_err_closes(req.err))
				mc_out_str(&so.o, line, n);
			if (mc_err_closes(req.err) || req.swallow > c->pay_len - c->pay_off - used)
				break;
			c->pay_off = (uint16_t)(c->pay_off + used + req.swallow);
			continue;
		}
		x->flush_done = c->flush_done;
		enum mc_exec_result r = mc_exec_request(x, &req, &so.o);
		c->flush_done = x->flush_done;
		x->flush_done = 0;
		if (r == MC_EXEC_FORWARD) {
			unsigned to = x->fwd_part;
			out_close(&so);
			if (unlikely(x->wal_lsn != lsn0) && dp_wal_sync(lc->dp)) {
				/* our records first, then the next owner's */
				if (!dp_wal_hold(lc, c, x->wal_lsn, (int)to))
					cont_free(lc, c);
				return;
			}
			dp_mc_release(lc, c, (int)to);
			return;
		}
		c->pay_off = (uint16_t)(c->pay_off + used);
		if (r == MC_EXEC_CLOSE) /* quit: memcached stops reading the datagram */
			break;
	}
	out_close(&so);
	if (so.o.failed) {
		cont_free(lc, c);
		return;
	}
	if (unlikely(x->wal_lsn != lsn0) && dp_wal_sync(lc->dp)) {
		/* sync mode: the reply waits until its records are durable */
		if (!dp_wal_hold(lc, c, x->wal_lsn, -1))
			cont_free(lc, c);
		return;
	}
	dp_udp_reply_send(lc, c);
}

void dp_mc_release(struct dp_lcore *lc, struct dp_cont *c, int to)
{
	if (to < 0) {
		dp_udp_reply_send(lc, c);
		return;
	}
	if (rte_ring_sp_enqueue(lc->dp->fwd[lc->idx][to], c) == 0) {
		lc->c.fwd_out++;
		return;
	}
	/* The owner is not keeping up: lose the datagram, as UDP may. */
	lc->c.fwd_full++;
	cont_free(lc, c);
}

/*
 * The first key of a memcached payload: the word after the command word.
 * It ends at the first byte no key may hold (mc_key_end); no other
 * validation, the real parse comes later. Found once per
 * datagram, on the frame (burst prefetch); the continuation's copy of the
 * payload has the key at the same offset.
 */
static bool first_key(const uint8_t *c, const uint8_t *end, const uint8_t **key, uint32_t *klen)
{
	const uint8_t *sp = c, *stop = c + RTE_MIN(end - c, 12);
	if (end - c >= 4 && px_load32(c) == px_load32("get "))
		sp = c + 3;
	else
		while (sp < stop && *sp != ' ')
			sp++;
	if (sp == stop)
		return false;
	const uint8_t *k = sp + 1;
	const uint8_t *e = mc_key_end(k, RTE_MIN(end, k + TBL_KEY_MAX + 1));
	if (e == k || e - k > TBL_KEY_MAX)
		return false;
	*key = k;
	*klen = (uint32_t)(e - k);
	return true;
}

/*
 * The payload into the continuation, in whole 16-byte blocks when the
 * frame's buffer extends that far (it nearly always does): the parser then
 * reads it back in 16-byte loads that each match one store. memcpy's two
 * overlapping stores for 16..31 bytes would make the first load wait for
 * both to retire (a store-forwarding stall on every request).
 */
static inline void copy_payload(uint8_t *dst, const uint8_t *src, uint16_t len,
				const struct rte_mbuf *m)
{
	size_t n = RTE_ALIGN_CEIL(len, 16u);
	const uint8_t *buf_end = (const uint8_t *)m->buf_addr + m->buf_len;

	if (n > DP_UDP_REQ_MAX || src + n > buf_end) {
		memcpy(dst, src, len);
		return;
	}
	for (size_t i = 0; i < n; i += 16)
		_mm_storeu_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
}

static void seg_headers(struct dp_lcore *lc, const struct dp_peer *peer, uint32_t total,
			struct rte_mbuf *m, uint16_t seq);

/* A reply of one datagram, m, to peer. No chain: the mbuf's second line
 * (next, nb_segs) is left alone. */
static void send1(struct dp_lcore *lc, const struct dp_peer *peer, struct rte_mbuf *m)
{
	seg_headers(lc, peer, 1, m, 0);
	dp_tx(lc, m);
	lc->c.udp_replies++;
}

/* A continuation for a reply to peer whose first segment is m (the request
 * mbuf), no payload yet. */
static void cont_init(struct dp_cont *c, struct rte_mbuf *m, const struct dp_peer *peer)
{
	c->req = c->tail = m;
	c->nseg = 1;
	c->peer = *peer;
	c->pay_len = c->pay_off = 0;
	c->flush_done = 0;
	c->no_reply = false;
}

/* The burst prefetch hashed this datagram's first key: hand the hash on,
 * for the payload at pay (the frame's or its copy: the key lies at the same
 * offset). Only for this run: the caller clears x.hint_key after it. */
static void hint_on(struct dp_lcore *lc, const uint8_t *pay, uint16_t pay_len)
{
	const struct dp_hint *hint = &lc->hint[lc->burst_pos];

	if (hint->klen != 0 && hint->koff + hint->klen <= pay_len) {
		lc->x.hint_key = pay + hint->koff;
		lc->x.hint_klen = hint->klen;
		lc->x.hint_hash = hint->hash;
	}
}

/*
 * A datagram that is exactly one "get <key>": no continuation, no payload
 * copy. The reply is written over the request in the same mbuf (the key is
 * only read before the first reply byte is written: the lookup comes
 * first). Only a reply longer than one datagram takes a continuation, at
 * its first segment flush, and leaves as run() would send it.
 */
struct get1_out {
	struct seg_out so;         /* so.c is NULL until a second segment is needed */
	struct rte_mbuf *m;
	const struct dp_peer *peer;
};

static int get1_flush(struct mc_out *o)
{
	struct get1_out *g = (struct get1_out *)o;
	struct dp_cont *c;

	if (g->so.c == NULL) {
		if (rte_mempool_get(g->so.lc->dp->cont_pool, (void **)&c) != 0) {
			g->so.lc->c.drop_nomem++;
			return -ENOMEM;
		}
		cont_init(c, g->m, g->peer);
		g->so.c = c;
	}
	return seg_flush(o);
}

static void get1(struct dp_lcore *lc, struct rte_mbuf *m, const struct dp_peer *peer,
		 const uint8_t *pay, uint16_t pay_len, const struct mc_str *key)
{
	struct get1_out g = {
		.so = { .lc = lc, .c = NULL,
			.o = { .buf = rte_pktmbuf_mtod_offset(m, uint8_t *, DP_HDR_ROOM),
			       .cap = DP_SEG_PAYLOAD, .flush = get1_flush } },
		.m = m, .peer = peer,
	};

	hint_on(lc, pay, pay_len);
	mc_exec_get1(&lc->x, key, &g.so.o);
	lc->x.hint_key = NULL;
	if (g.so.c != NULL) {
		out_close(&g.so);
		if (g.so.o.failed)
			cont_free(lc, g.so.c);
		else
			dp_udp_reply_send(lc, g.so.c);
		return;
	}
	if (g.so.o.failed) { /* no continuation for a second segment */
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)(DP_HDR_ROOM + g.so.o.len);
	send1(lc, peer, m);
}

void dp_mc_datagram(struct dp_lcore *lc, struct rte_mbuf *m, uint16_t dst_port,
		    const uint8_t *dgram, uint16_t len)
{
	struct mc_udp_hdr h;
	struct dp_cont *c;

	if (mc_udp_validate(dgram, len, &h) != MC_UDP_OK || len - MC_UDP_HDR_LEN > DP_UDP_REQ_MAX) {
		lc->c.drop_frame++;
		rte_pktmbuf_free(m);
		return;
	}
	/* The reply's addresses, from the headers at the mbuf's front. */
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_udp_hdr *udp =
		(const struct rte_udp_hdr *)((const uint8_t *)ip + (ip->version_ihl & 0xf) * 4);
	struct dp_peer peer = { .mac = eth->src_addr, .port = udp->src_port, .ip = ip->src_addr,
				.dst_port = dst_port, .req_id = h.req_id };
	const uint8_t *pay = dgram + MC_UDP_HDR_LEN;
	uint16_t pay_len = (uint16_t)(len - MC_UDP_HDR_LEN);
	struct mc_str key;
	size_t used;
	if (mc_parse_get1(pay, pay_len, &lc->x.cfg.limits, &key, &used) && used == pay_len) {
		get1(lc, m, &peer, pay, pay_len, &key);
		return;
	}
	if (rte_mempool_get(lc->dp->cont_pool, (void **)&c) != 0) {
		lc->c.drop_nomem++;
		rte_pktmbuf_free(m);
		return;
	}
	cont_init(c, m, &peer);
	c->pay_len = pay_len;
	copy_payload(c->pay, pay, pay_len, m);
	/* one segment (dp_net_input checked), so m->next is already NULL */
	m->data_len = DP_HDR_ROOM;
	m->ol_flags = 0;
	hint_on(lc, c->pay, pay_len);
	run(lc, c);
	lc->x.hint_key = NULL;
}

/* The first key of a frame that looks like a memcached datagram, and where
 * its payload starts. */
static bool peek_key(struct rte_mbuf *m, const uint8_t **pay, const uint8_t **key, uint32_t *klen)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint16_t len = rte_pktmbuf_data_len(m);
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;

	if (len < DP_HDR_ROOM + 6 || eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return false;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	unsigned off = RTE_ETHER_HDR_LEN + (ip->version_ihl & 0xf) * 4u + 8 + 8;
	if (ip->next_proto_id != IPPROTO_UDP || off + 6 > len)
		return false;
	*pay = p + off;
	return first_key(p + off, p + len, key, klen);
}

void dp_mc_hint(struct dp_lcore *lc, struct rte_mbuf *m, unsigned i)
{
	struct dp *dp = lc->dp;
	struct dp_hint *h = &lc->hint[i];
	const uint8_t *pay, *k;
	uint32_t kl;

	h->klen = 0;
	h->depth = -1;
	if (!peek_key(m, &pay, &k, &kl))
		return;
	h->depth = 0;
	h->klen = (uint16_t)kl;
	h->koff = (uint16_t)(k - pay);
	h->hash = tbl_hash(k, kl, dp->set.hash_seed);
	tbl_prefetch_bucket(dp->parts[mc_exec_part_of(h->hash, dp->nlcores)], h->hash);
}

void dp_mc_hint_item(struct dp_lcore *lc, unsigned i, unsigned depth)
{
	struct dp_hint *h = &lc->hint[i];

	if (h->depth == (int)depth)
		h->depth = (int8_t)tbl_prefetch_item(
			lc->dp->parts[mc_exec_part_of(h->hash, lc->dp->nlcores)], h->hash, depth);
}

void dp_mc_resume(struct dp_lcore *lc, struct dp_cont *c)
{
	lc->c.fwd_in++;
	run(lc, c);
}

/* Write eth/ipv4/udp/frame headers into segment m of a reply to peer, seq-th of total. */
static void seg_headers(struct dp_lcore *lc, const struct dp_peer *peer, uint32_t total,
			struct rte_mbuf *m, uint16_t seq)
{
	struct dp *dp = lc->dp;
	uint16_t plen = (uint16_t)(m->data_len - DP_HDR_ROOM);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *frame = (uint8_t *)(udp + 1);
	struct mc_udp_hdr h = { .req_id = peer->req_id, .seq = seq, .total = (uint16_t)total };

	eth->dst_addr = peer->mac;
	eth->src_addr = dp->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = px_be16((uint16_t)(sizeof(*ip) + sizeof(*udp) + 8 + plen));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = dp->ip;
	ip->dst_addr = peer->ip;
	udp->src_port = px_be16(peer->dst_port);
	udp->dst_port = peer->port;
	udp->dgram_len = px_be16((uint16_t)(sizeof(*udp) + 8 + plen));
	udp->dgram_cksum = 0;
	mc_udp_hdr_write(frame, &h);
	m->pkt_len = m->data_len;
	m->nb_segs = 1;
	udp->dgram_cksum = dp_l4_cksum_set(m, ip, udp, RTE_MBUF_F_TX_UDP_CKSUM, dp->tx_cksum);
}

/*
 * The executor's defer hook: a mutation another owner must run, with no
 * reply (a multi-partition gat's touches), as a continuation with no client.
 */
void dp_mc_defer(void *ctx, unsigned part, const char *req, size_t len)
{
	struct dp_lcore *lc = ctx;
	struct dp_cont *c;
	struct rte_mbuf *m;

	if (len > DP_UDP_REQ_MAX || rte_mempool_get(lc->dp->cont_pool, (void **)&c) != 0) {
		lc->c.drop_nomem++;
		return;
	}
	if ((m = rte_pktmbuf_alloc(lc->dp->pool)) == NULL) {
		rte_mempool_put(lc->dp->cont_pool, c);
		lc->c.drop_nomem++;
		return;
	}
	static const struct dp_peer nobody;
	cont_init(c, m, &nobody);
	c->no_reply = true;
	c->pay_len = (uint16_t)len;
	memcpy(c->pay, req, len);
	m->data_len = DP_HDR_ROOM;
	if (rte_ring_sp_enqueue(lc->dp->fwd[lc->idx][part], c) == 0) {
		lc->c.fwd_out++;
		return;
	}
	lc->c.fwd_full++;
	cont_free(lc, c);
}

void dp_udp_reply_send(struct dp_lcore *lc, struct dp_cont *c)
{
	struct rte_mbuf *m = c->req;

	/* An empty reply (noreply, quiet mode) sends nothing. */
	if (c->no_reply || (c->nseg == 1 && m->data_len == DP_HDR_ROOM)) {
		cont_free(lc, c);
		return;
	}
	if (c->nseg == 1) {
		send1(lc, &c->peer, m);
	} else {
		for (uint16_t seq = 0; m != NULL; seq++) {
			struct rte_mbuf *n = m->next;
			m->next = NULL;
			seg_headers(lc, &c->peer, c->nseg, m, seq);
			dp_tx(lc, m);
			m = n;
		}
		lc->c.udp_replies++;
	}
	rte_mempool_put(lc->dp->cont_pool, c);
}
