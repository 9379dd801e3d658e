/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-lcore TCP stack: connection slots, segment input and the state
 * machine, output from the send ring, and the timers. See tcp.h for what it
 * implements and the rules it keeps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_jhash.h>
#include <rte_random.h>
#include <rte_tcp.h>

#include "cksum.h"
#include "tcp.h"

#define OUR_MSS 1460             /* 1500-byte MTU */
#define TCP_OPT_LEN_SYN 12       /* MSS (4) + NOP + WS (3) + padding to 4 bytes */
#define HDRS (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_tcp_hdr))

static const char *const state_names[] = {
	[TCP_CLOSED] = "CLOSED",         [TCP_SYN_RCVD] = "SYN_RCVD",
	[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_FIN_WAIT_1] = "FIN_WAIT_1", [TCP_FIN_WAIT_2] = "FIN_WAIT_2",
	[TCP_CLOSING] = "CLOSING",       [TCP_LAST_ACK] = "LAST_ACK",
	[TCP_TIME_WAIT] = "TIME_WAIT",
};

const char *tcp_state_name(enum tcp_state s)
{
	return (unsigned)s < RTE_DIM(state_names) ? state_names[s] : "?";
}

static inline uint64_t conn_key(uint32_t rip, uint16_t rport)
{
	return ((uint64_t)rip << 16) | rport;
}

static inline uint64_t ms_of(const struct tcp_stack *st, uint64_t tsc)
{
	return tsc / st->tsc_per_ms;
}

static inline uint64_t now_s(const struct tcp_stack *st)
{
	return st->now_ms / 1000;
}

/* ---- slots ---- */

int tcp_stack_init(struct tcp_stack *st, const char *name, const struct tcp_cfg *cfg,
		   uint32_t nslots, struct rte_mempool *pool, uint64_t tsc_hz,
		   void (*tx)(void *ctx, struct rte_mbuf *m), void *tx_ctx,
		   const struct tcp_app *app, void *app_ctx)
{
	memset(st, 0, sizeof(*st));
	st->cfg = *cfg;
	st->pool = pool;
	st->tsc_hz = tsc_hz;
	st->tsc_per_ms = tsc_hz / 1000 ? tsc_hz / 1000 : 1;
	st->tx = tx;
	st->tx_ctx = tx_ctx;
	st->app = app;
	st->app_ctx = app_ctx;
	st->nslots = nslots;
	struct rte_hash_parameters hp = {
		.name = name,
		/* room to spare: a cuckoo table refuses inserts before it is full */
		.entries = nslots * 2 < 64 ? 64 : nslots * 2,
		.key_len = sizeof(uint64_t),
		.hash_func = rte_jhash,
		.socket_id = (int)rte_socket_id(),
	};
	st->nslots = hp.entries;
	st->hash = rte_hash_create(&hp);
	st->conns = calloc(st->nslots, sizeof(*st->conns));
	st->pend_cap = st->nslots + 256;
	st->pend = calloc(st->pend_cap, sizeof(*st->pend));
	if (st->hash == NULL || st->conns == NULL || st->pend == NULL) {
		tcp_stack_fini(st);
		return -ENOMEM;
	}
	st->now_tsc = rte_rdtsc();
	st->now_ms = ms_of(st, st->now_tsc);
	st->wheel_ms = st->now_ms;
	return 0;
}

static void conn_free(struct tcp_stack *st, struct tcp_conn *c);

void tcp_stack_fini(struct tcp_stack *st)
{
	if (st->conns != NULL)
		for (uint32_t i = 0; i < st->nslots; i++)
			if (st->conns[i].state != TCP_CLOSED)
				conn_free(st, &st->conns[i]);
	rte_hash_free(st->hash);
	free(st->conns);
	free(st->pend);
	st->pend = NULL;
	st->hash = NULL;
	st->conns = NULL;
}

struct tcp_conn *tcp_conn_get(struct tcp_stack *st, uint32_t slot, uint32_t gen)
{
	if (slot >= st->nslots)
		return NULL;
	struct tcp_conn *c = &st->conns[slot];
	return c->gen == gen && c->state != TCP_CLOSED ? c : NULL;
}

static struct tcp_conn *conn_lookup(struct tcp_stack *st, uint32_t rip, uint16_t rport)
{
	uint64_t k = conn_key(rip, rport);
	int pos = rte_hash_lookup(st->hash, &k);
	return pos >= 0 ? &st->conns[pos] : NULL;
}

static struct tcp_conn *conn_alloc(struct tcp_stack *st, uint32_t rip, uint16_t rport,
				   const struct rte_ether_addr *mac)
{
	uint64_t k = conn_key(rip, rport);
	int pos = rte_hash_add_key(st->hash, &k);
	if (pos < 0 || (uint32_t)pos >= st->nslots) {
		if (pos >= 0)
			rte_hash_del_key(st->hash, &k);
		st->c.tcp_nomem++;
		return NULL;
	}
	struct tcp_conn *c = &st->conns[pos];
	uint32_t gen = c->gen;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->slot = (uint32_t)pos;
	c->rip = rip;
	c->rport = rport;
	c->rmac = *mac;
	c->rto_ms = TCP_RTO_INIT_MS;
	c->last_rx_ms = st->now_ms;
	if (st->app->bind != NULL)
		st->app->bind(st, c, true);
	return c;
}

static void wheel_unlink(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->wheel_at == 0)
		return;
	if (c->wprev != NULL)
		c->wprev->wnext = c->wnext;
	else
		st->wheel[c->wheel_at % TCP_WHEEL_SLOTS] = c->wnext;
	if (c->wnext != NULL)
		c->wnext->wprev = c->wprev;
	c->wnext = c->wprev = NULL;
	c->wheel_at = 0;
}

/* Put c on the wheel at its earliest deadline (or take it off). */
static void timer_arm(struct tcp_stack *st, struct tcp_conn *c)
{
	uint64_t t = 0;
	const uint64_t d[] = { c->t_rexmt, c->t_delack, c->t_persist, c->t_idle, c->t_close };
	for (unsigned i = 0; i < RTE_DIM(d); i++)
		if (d[i] != 0 && (t == 0 || d[i] < t))
			t = d[i];
	if (t != 0 && t <= st->wheel_ms)
		t = st->wheel_ms + 1;
	if (t == c->wheel_at)
		return;
	wheel_unlink(st, c);
	if (t == 0)
		return;
	struct tcp_conn **head = &st->wheel[t % TCP_WHEEL_SLOTS];
	c->wheel_at = t;
	c->wprev = NULL;
	c->wnext = *head;
	if (*head != NULL)
		(*head)->wprev = c;
	*head = c;
}

static void tw_unlink(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->twprev != NULL)
		c->twprev->twnext = c->twnext;
	else if (st->tw_head == c)
		st->tw_head = c->twnext;
	if (c->twnext != NULL)
		c->twnext->twprev = c->twprev;
	else if (st->tw_tail == c)
		st->tw_tail = c->twprev;
	c->twnext = c->twprev = NULL;
}

static void ooo_clear(struct tcp_stack *st, struct tcp_conn *c)
{
	for (unsigned i = 0; i < c->nooo; i++)
		rte_pktmbuf_free(c->ooo[i].m);
	st->ooo_held -= c->nooo;
	free(c->ooo);
	c->ooo = NULL;
	c->nooo = c->ooo_cap = 0;
	c->ooo_bytes = 0;
}

/* The application lets go of c (once): closed hook, open count. */
static void app_detach(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->app == NULL)
		return;
	if (st->app->closed != NULL)
		st->app->closed(st, c);
	c->app = NULL;
	st->nopen--;
	st->c.tcp_closes++;
	if (st->cfg.open_total != NULL)
		atomic_fetch_sub_explicit(st->cfg.open_total, 1, memory_order_relaxed);
}

static void conn_free(struct tcp_stack *st, struct tcp_conn *c)
{
	uint64_t k = conn_key(c->rip, c->rport);

	app_detach(st, c);
	if (st->app->bind != NULL)
		st->app->bind(st, c, false);
	if (c->state == TCP_SYN_RCVD)
		st->nsyn--;
	if (c->state == TCP_TIME_WAIT) {
		tw_unlink(st, c);
		st->ntw--;
	}
	wheel_unlink(st, c);
	ooo_clear(st, c);
	free(c->sb.p);
	c->sb = (struct tcp_sbuf){ 0 };
	c->state = TCP_CLOSED;
	c->flags = 0;
	c->gen++;
	rte_hash_del_key(st->hash, &k);
}

/* ---- output ---- */

static void output(struct tcp_stack *st, struct tcp_conn *c);

/* Queue c for output at the next flush (a freed slot's entry goes stale). */
static void pending_add(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->flags & TCPF_PENDING)
		return;
	if (st->npend == st->pend_cap) {
		output(st, c);
		return;
	}
	c->flags |= TCPF_PENDING;
	st->pend[st->npend++] = (struct tcp_pend){ c, c->gen };
}

static uint32_t rcv_space(struct tcp_stack *st, struct tcp_conn *c)
{
	uint32_t used = c->ooo_bytes;
	if (c->app != NULL && st->app->buffered != NULL)
		used += st->app->buffered(st, c);
	return used < st->cfg.rcvbuf ? st->cfg.rcvbuf - used : 0;
}

/* The window field to send; moves rcv_adv (never shrinks the right edge). */
static uint16_t rcv_window(struct tcp_stack *st, struct tcp_conn *c)
{
	uint32_t space = rcv_space(st, c);
	uint32_t wnd = space >> c->rcv_wscale;
	if (wnd > 0xffff)
		wnd = 0xffff;
	uint32_t edge = c->rcv_nxt + (wnd << c->rcv_wscale);
	if (seq_lt(edge, c->rcv_adv)) {
		uint32_t keep = c->rcv_adv - c->rcv_nxt;
		wnd = (keep + (1u << c->rcv_wscale) - 1) >> c->rcv_wscale;
		if (wnd > 0xffff)
			wnd = 0xffff;
		edge = c->rcv_nxt + (wnd << c->rcv_wscale);
	}
	if (seq_gt(edge, c->rcv_adv))
		c->rcv_adv = edge;
	return (uint16_t)wnd;
}

/*
 * A frame to peer (mac, ip, port) with the given TCP fields and room for
 * optlen option bytes and paylen payload bytes; *tcp and *opt point into it.
 */
static struct rte_mbuf *seg_build(struct tcp_stack *st, const struct rte_ether_addr *mac,
				  uint32_t rip, uint16_t rport, uint32_t seq, uint32_t ack,
				  uint8_t flags, uint16_t wnd, uint16_t optlen, uint32_t paylen,
				  uint8_t **opt)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(st->pool);
	if (m == NULL) {
		st->c.tcp_nomem++;
		return NULL;
	}
	uint16_t len = (uint16_t)(HDRS + optlen + paylen);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);
	if (eth == NULL) {
		rte_pktmbuf_free(m);
		st->c.tcp_nomem++;
		return NULL;
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	eth->dst_addr = *mac;
	eth->src_addr = st->cfg.mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len - RTE_ETHER_HDR_LEN));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->hdr_checksum = 0;
	ip->src_addr = st->cfg.ip;
	ip->dst_addr = rip;
	th->src_port = rte_cpu_to_be_16(st->cfg.port);
	th->dst_port = rport;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)(((sizeof(*th) + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(wnd);
	th->cksum = 0;
	th->tcp_urp = 0;
	*opt = (uint8_t *)(th + 1);
	return m;
}

static void seg_send(struct tcp_stack *st, struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

	th->cksum = dp_l4_cksum_set(m, ip, th, RTE_MBUF_F_TX_TCP_CKSUM, st->cfg.tx_cksum);
	st->c.tcp_tx_segs++;
	st->tx(st->tx_ctx, m);
}

/* A segment of connection c: n bytes of the send ring from seq on. */
static void send_seg(struct tcp_stack *st, struct tcp_conn *c, uint32_t seq, uint32_t n,
		     uint8_t flags)
{
	uint8_t *p;
	struct rte_mbuf *m = seg_build(st, &c->rmac, c->rip, c->rport, seq, c->rcv_nxt,
				       flags | RTE_TCP_ACK_FLAG, rcv_window(st, c), 0, n, &p);
	if (m == NULL)
		return;
	if (n > 0) {
		uint32_t mask = c->sb.cap - 1;
		uint32_t at = (c->sb.off + (seq - c->snd_una)) & mask;
		uint32_t k = RTE_MIN(n, c->sb.cap - at);
		memcpy(p, c->sb.p + at, k);
		memcpy(p + k, c->sb.p, n - k);
	}
	c->flags &= (uint16_t)~TCPF_ACK_NOW;
	c->unacked = 0;
	c->t_delack = 0;
	seg_send(st, m);
}

/* A pure ACK, with SACK blocks for the held out-of-order data when agreed. */
static void send_ack(struct tcp_stack *st, struct tcp_conn *c)
{
	uint32_t blk[TCP_SACK_BLOCKS][2];
	unsigned nb = 0;

	if ((c->flags & TCPF_SACK) && c->nooo > 0) {
		/* Merge held segments into ranges; the one holding the latest
		 * arrival goes first (RFC 2018 4.), then the lowest others. */
		uint32_t r[TCP_SACK_BLOCKS + 1][2];
		unsigned nr = 0, first = 0;
		for (unsigned i = 0; i < c->nooo;) {
			uint32_t a = c->ooo[i].seq, b = a + c->ooo[i].len;
			bool latest = false;
			for (; i < c->nooo && seq_leq(c->ooo[i].seq, b); i++) {
				if (seq_gt(c->ooo[i].seq + c->ooo[i].len, b))
					b = c->ooo[i].seq + c->ooo[i].len;
				if (c->ooo[i].seq == c->last_ooo_seq)
					latest = true;
			}
			if (latest && nr > 0 && nr == TCP_SACK_BLOCKS + 0) {
				r[0][0] = a; /* keep the latest, drop a lower one */
				r[0][1] = b;
				first = 0;
				continue;
			}
			if (nr < TCP_SACK_BLOCKS) {
				if (latest)
					first = nr;
				r[nr][0] = a;
				r[nr][1] = b;
				nr++;
			}
		}
		blk[nb][0] = r[first][0];
		blk[nb++][1] = r[first][1];
		for (unsigned i = 0; i < nr; i++)
			if (i != first) {
				blk[nb][0] = r[i][0];
				blk[nb++][1] = r[i][1];
			}
	}
	uint8_t *o;
	uint16_t optlen = nb ? (uint16_t)(2 + 2 + 8 * nb) : 0;
	struct rte_mbuf *m = seg_build(st, &c->rmac, c->rip, c->rport, c->snd_nxt, c->rcv_nxt,
				       RTE_TCP_ACK_FLAG, rcv_window(st, c), optlen, 0, &o);
	if (m == NULL)
		return;
	if (nb > 0) {
		o[0] = o[1] = 1; /* NOP NOP */
		o[2] = 5;        /* SACK */
		o[3] = (uint8_t)(2 + 8 * nb);
		for (unsigned i = 0; i < nb; i++) {
			uint32_t a = rte_cpu_to_be_32(blk[i][0]), b = rte_cpu_to_be_32(blk[i][1]);
			memcpy(o + 4 + 8 * i, &a, 4);
			memcpy(o + 8 + 8 * i, &b, 4);
		}
		st->c.tcp_sack_acks++;
	}
	c->flags &= (uint16_t)~(TCPF_ACK_NOW | TCPF_DUPACK);
	c->unacked = 0;
	c->t_delack = 0;
	seg_send(st, m);
}

static uint32_t rto_now(const struct tcp_conn *c)
{
	uint64_t r = (uint64_t)c->rto_ms << c->backoff;
	return r > TCP_RTO_MAX_MS ? TCP_RTO_MAX_MS : (uint32_t)r;
}

static void send_synack(struct tcp_stack *st, struct tcp_conn *c)
{
	uint8_t *o;
	bool ws = !(c->flags & TCPF_COOKIE) && c->rcv_wscale != 0;
	bool sack = !(c->flags & TCPF_COOKIE) && (c->flags & TCPF_SACK);
	uint16_t wnd = (uint16_t)RTE_MIN(rcv_space(st, c), 0xffffu);
	struct rte_mbuf *m = seg_build(st, &c->rmac, c->rip, c->rport, c->iss, c->rcv_nxt,
				       RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, wnd,
				       (uint16_t)((ws ? TCP_OPT_LEN_SYN : 4) + (sack ? 4 : 0)), 0, &o);
	if (m == NULL)
		return;
	o[0] = 2; /* MSS */
	o[1] = 4;
	o[2] = OUR_MSS >> 8;
	o[3] = OUR_MSS & 0xff;
	if (ws) {
		o[4] = 1; /* NOP */
		o[5] = 3; /* window scale */
		o[6] = 3;
		o[7] = c->rcv_wscale;
		o[8] = o[9] = o[10] = o[11] = 1;
	}
	if (sack) {
		uint8_t *p = o + (ws ? TCP_OPT_LEN_SYN : 4);
		p[0] = p[1] = 1; /* NOP NOP */
		p[2] = 4;        /* SACK permitted */
		p[3] = 2;
	}
	c->rcv_adv = c->rcv_nxt + wnd;
	seg_send(st, m);
}

/* Send what c's windows allow, then an ACK if one is owed. */
static void output(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->state == TCP_SYN_RCVD || c->state == TCP_CLOSED || c->state == TCP_TIME_WAIT)
		return;
	/* Out-of-order input: a pure ACK (with SACK blocks) first, which the
	 * peer counts as a duplicate ACK; one carrying data would not count. */
	if (c->flags & TCPF_DUPACK)
		send_ack(st, c);
	for (;;) {
		uint32_t off = c->snd_nxt - c->snd_una;
		uint32_t end = c->sb.len;
		if ((c->flags & TCPF_LIMIT) && seq_lt(c->snd_lim, c->snd_una + end))
			end = seq_gt(c->snd_lim, c->snd_una) ? c->snd_lim - c->snd_una : 0;
		uint32_t avail = off < end ? end - off : 0;
		uint32_t wnd = RTE_MIN(c->snd_wnd, c->cwnd);
		uint32_t flight = c->snd_nxt - c->snd_una;
		uint32_t usable = wnd > flight ? wnd - flight : 0;
		uint32_t n = RTE_MIN(RTE_MIN(avail, usable), (uint32_t)c->mss);
		bool fin = (c->flags & TCPF_FIN_QUEUED) && !(c->flags & TCPF_FIN_SENT) &&
			   off + n == c->sb.len && end == c->sb.len;
		/* Sender silly-window avoidance: no runt while more is queued
		 * and something is in flight to clock it out. */
		if (n < avail && n < c->mss && flight > 0)
			n = 0, fin = false;
		if (n == 0 && !fin)
			break;
		uint8_t fl = 0;
		if (n > 0 && n == avail)
			fl |= RTE_TCP_PSH_FLAG;
		if (fin)
			fl |= RTE_TCP_FIN_FLAG;
		if (seq_lt(c->snd_nxt, c->snd_max))
			st->c.tcp_retransmits++;
		else if (!(c->flags & TCPF_RTT) && n > 0) {
			c->flags |= TCPF_RTT;
			c->rtt_seq = c->snd_nxt + n;
			c->rtt_tsc = st->now_tsc;
		}
		send_seg(st, c, c->snd_nxt, n, fl);
		c->snd_nxt += n + (fin ? 1 : 0);
		if (fin)
			c->flags |= TCPF_FIN_SENT;
		if (seq_gt(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (c->t_rexmt == 0)
			c->t_rexmt = st->now_ms + rto_now(c);
		c->t_persist = 0;
	}
	if (c->flags & TCPF_ACK_NOW)
		send_ack(st, c);
	/* Zero window with data waiting and nothing in flight: probe it. */
	uint32_t off = c->snd_nxt - c->snd_una;
	if (c->snd_wnd == 0 && off < c->sb.len && c->snd_nxt == c->snd_una && c->t_persist == 0 &&
	    c->t_rexmt == 0)
		c->t_persist = st->now_ms + rto_now(c);
	timer_arm(st, c);
}

void tcp_flush(struct tcp_stack *st)
{
	/* output() may queue more (it does not free): run until empty. */
	for (uint32_t i = 0; i < st->npend; i++) {
		struct tcp_conn *c = st->pend[i].c;
		if (c->gen == st->pend[i].gen && (c->flags & TCPF_PENDING)) {
			c->flags &= (uint16_t)~TCPF_PENDING;
			output(st, c);
		}
	}
	st->npend = 0;
}

/* ---- send ring ---- */

static int sb_grow(struct tcp_conn *c, uint32_t need)
{
	struct tcp_sbuf *b = &c->sb;
	uint64_t cap = b->cap ? b->cap : 4096;

	while (cap < (uint64_t)b->len + need)
		cap *= 2;
	if (cap > TCP_SND_MAX)
		return -1;
	if (cap == b->cap)
		return 0;
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return -1;
	if (b->len > 0) {
		uint32_t k = RTE_MIN(b->len, b->cap - b->off);
		memcpy(p, b->p + b->off, k);
		memcpy(p + k, b->p, b->len - k);
	}
	free(b->p);
	b->p = p;
	b->cap = (uint32_t)cap;
	b->off = 0;
	return 0;
}

/* Point the output chain at the ring's contiguous free space. */
static int out_region(struct tcp_out *to)
{
	struct tcp_sbuf *b = &to->c->sb;

	if (b->cap == b->len && sb_grow(to->c, b->cap ? b->cap : 4096) != 0)
		return -ENOMEM;
	uint32_t w = (b->off + b->len) & (b->cap - 1);
	uint32_t room = w >= b->off && b->len < b->cap ? b->cap - w : b->off - w;
	if (b->len == 0) {
		b->off = 0;
		w = 0;
		room = b->cap;
	}
	to->o.buf = b->p + w;
	to->o.len = 0;
	to->o.cap = room;
	return 0;
}

static int out_flush(struct mc_out *o)
{
	struct tcp_out *to = (struct tcp_out *)o;
	to->c->sb.len += (uint32_t)o->len;
	o->len = 0;
	return out_region(to);
}

void tcp_out_open(struct tcp_out *to, struct tcp_stack *st, struct tcp_conn *c)
{
	to->st = st;
	to->c = c;
	to->o = (struct mc_out){ .flush = out_flush };
	if (out_region(to) != 0) {
		to->o.failed = true;
		to->o.buf = NULL;
		to->o.cap = 0;
	}
}

int tcp_out_close(struct tcp_out *to)
{
	to->c->sb.len += (uint32_t)to->o.len;
	to->o.len = 0;
	to->st->c.tcp_bytes_out += to->o.total;
	if (to->c->sb.len > 0)
		pending_add(to->st, to->c);
	return to->o.failed ? -1 : 0;
}

int tcp_send(struct tcp_stack *st, struct tcp_conn *c, const void *p, uint32_t n)
{
	struct tcp_out to;
	tcp_out_open(&to, st, c);
	mc_out_put(&to.o, p, n);
	return tcp_out_close(&to);
}

/* ---- closing ---- */

static void enter_time_wait(struct tcp_stack *st, struct tcp_conn *c)
{
	app_detach(st, c);
	ooo_clear(st, c);
	free(c->sb.p);
	c->sb = (struct tcp_sbuf){ 0 };
	c->state = TCP_TIME_WAIT;
	c->t_rexmt = c->t_delack = c->t_persist = c->t_idle = 0;
	if (st->cfg.time_wait_max == 0) {
		conn_free(st, c);
		return;
	}
	c->t_close = st->now_ms + (st->cfg.time_wait_ms ? st->cfg.time_wait_ms : 1);
	timer_arm(st, c);
	c->twprev = st->tw_tail;
	c->twnext = NULL;
	if (st->tw_tail != NULL)
		st->tw_tail->twnext = c;
	else
		st->tw_head = c;
	st->tw_tail = c;
	st->ntw++;
	while (st->ntw > st->cfg.time_wait_max) {
		st->c.tcp_time_wait_reaped++;
		conn_free(st, st->tw_head);
	}
}

void tcp_hold(struct tcp_stack *st, struct tcp_conn *c, uint32_t seq)
{
	(void)st;
	c->flags |= TCPF_LIMIT;
	c->snd_lim = seq;
}

void tcp_release(struct tcp_stack *st, struct tcp_conn *c)
{
	if (!(c->flags & TCPF_LIMIT))
		return;
	c->flags &= (uint16_t)~TCPF_LIMIT;
	pending_add(st, c);
}

void tcp_close(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->flags & TCPF_FIN_QUEUED)
		return;
	c->flags |= TCPF_FIN_QUEUED;
	if (c->state == TCP_ESTABLISHED)
		c->state = TCP_FIN_WAIT_1;
	else if (c->state == TCP_CLOSE_WAIT)
		c->state = TCP_LAST_ACK;
	/* The application is done: its slot in max_conns is free now, as
	 * memcached's is when it closes the socket, while the stack delivers
	 * what is queued and the FIN. Not while it holds bytes back (sync
	 * WAL): the hold is lifted through the application. */
	if (!(c->flags & TCPF_LIMIT))
		app_detach(st, c);
	pending_add(st, c);
}

static void send_rst_from(struct tcp_stack *st, const struct rte_ether_addr *mac, uint32_t rip,
			  uint16_t rport, uint16_t lport, uint32_t seq, uint32_t ack, bool with_ack)
{
	uint8_t *o;
	struct rte_mbuf *m = seg_build(st, mac, rip, rport, seq, with_ack ? ack : 0,
				       RTE_TCP_RST_FLAG | (with_ack ? RTE_TCP_ACK_FLAG : 0), 0, 0, 0, &o);
	if (m == NULL)
		return;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(o - sizeof(*th));
	th->src_port = lport;
	st->c.tcp_resets_tx++;
	seg_send(st, m);
}

static void send_rst(struct tcp_stack *st, const struct rte_ether_addr *mac, uint32_t rip,
		     uint16_t rport, uint32_t seq, uint32_t ack, bool with_ack)
{
	send_rst_from(st, mac, rip, rport, rte_cpu_to_be_16(st->cfg.port), seq, ack, with_ack);
}

void tcp_refuse(struct tcp_stack *st, struct rte_mbuf *m, const void *ipv, const void *tcpv,
		uint16_t ip_len)
{
	const struct rte_ipv4_hdr *ip = ipv;
	const struct rte_tcp_hdr *th = tcpv;
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint16_t l4 = ip_len - (uint16_t)((ip->version_ihl & 0xf) * 4);
	unsigned doff = l4 >= sizeof(*th) ? (th->data_off >> 4) * 4u : 0;

	/* RFC 9293 3.10.7.1: a closed port answers anything but a RST with one */
	if (doff >= sizeof(*th) && doff <= l4 &&
	    !(th->tcp_flags & RTE_TCP_RST_FLAG) &&
	    ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_GOOD) || dp_l4_cksum_ok(ip, th, l4))) {
		st->c.tcp_port_refused++;
		if (th->tcp_flags & RTE_TCP_ACK_FLAG) {
			send_rst_from(st, &eth->src_addr, ip->src_addr, th->src_port, th->dst_port,
				      rte_be_to_cpu_32(th->recv_ack), 0, false);
		} else {
			uint32_t len = l4 - doff + ((th->tcp_flags & RTE_TCP_SYN_FLAG) ? 1 : 0) +
				       ((th->tcp_flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
			send_rst_from(st, &eth->src_addr, ip->src_addr, th->src_port, th->dst_port, 0,
				      rte_be_to_cpu_32(th->sent_seq) + len, true);
		}
	}
	rte_pktmbuf_free(m);
}

void tcp_abort(struct tcp_stack *st, struct tcp_conn *c)
{
	if (c->state != TCP_SYN_RCVD && c->state != TCP_TIME_WAIT && c->state != TCP_CLOSED)
		send_rst(st, &c->rmac, c->rip, c->rport, c->snd_nxt, 0, false);
	st->c.tcp_aborts++;
	conn_free(st, c);
}

void tcp_window_update(struct tcp_stack *st, struct tcp_conn *c)
{
	/* Advertise again once the window has opened by two segments or half
	 * the buffer since the edge last sent (RFC 9293 receiver SWS rule). */
	uint32_t space = rcv_space(st, c);
	uint32_t adv = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if (space > adv && (space - adv >= 2u * OUR_MSS || space - adv >= st->cfg.rcvbuf / 2)) {
		c->flags |= TCPF_ACK_NOW;
		pending_add(st, c);
	}
}

/* ---- input ---- */

struct seg {
	uint32_t seq, ack, len;   /* len: payload bytes */
	uint16_t wnd;
	uint8_t flags;
	const uint8_t *data;
	struct rte_mbuf *m;
	/* SYN options */
	uint16_t mss;
	int8_t wscale;            /* -1: none */
	bool sack_ok;
};

static void parse_opts(struct seg *s, const uint8_t *o, unsigned n)
{
	s->mss = TCP_MSS_DEFAULT;
	s->wscale = -1;
	for (unsigned i = 0; i < n;) {
		uint8_t kind = o[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
			break;
		uint8_t len = o[i + 1];
		if (kind == 2 && len == 4)
			s->mss = (uint16_t)((o[i + 2] << 8) | o[i + 3]);
		else if (kind == 3 && len == 3)
			s->wscale = (int8_t)RTE_MIN(o[i + 2], 14);
		else if (kind == 4 && len == 2)
			s->sack_ok = true;
		i += len;
	}
	if (s->mss < 64)
		s->mss = 64;
}

static void rtt_sample(struct tcp_stack *st, struct tcp_conn *c)
{
	uint64_t us = (st->now_tsc - c->rtt_tsc) * 1000000 / st->tsc_hz;
	uint32_t r = us > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)us;

	c->flags &= (uint16_t)~TCPF_RTT;
	if (c->srtt_us == 0) {
		c->srtt_us = r ? r : 1;
		c->rttvar_us = r / 2;
	} else {
		uint32_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
		c->rttvar_us = (3 * c->rttvar_us + d) / 4;
		c->srtt_us = (7 * c->srtt_us + r) / 8;
	}
	uint32_t rto = (c->srtt_us + RTE_MAX(1000u, 4 * c->rttvar_us) + 999) / 1000;
	c->rto_ms = RTE_MIN(RTE_MAX(rto, st->cfg.rto_min_ms), (uint32_t)TCP_RTO_MAX_MS);
}

/* The peer acknowledged acked bytes (and maybe our FIN). */
static void ack_advance(struct tcp_stack *st, struct tcp_conn *c, uint32_t ack)
{
	uint32_t acked = ack - c->snd_una;
	uint32_t data = RTE_MIN(acked, c->sb.len);

	if ((c->flags & TCPF_RTT) && seq_geq(ack, c->rtt_seq))
		rtt_sample(st, c);
	c->sb.len -= data;
	c->sb.off = c->sb.cap ? (c->sb.off + data) & (c->sb.cap - 1) : 0;
	c->snd_una = ack;
	if (seq_lt(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->backoff = 0;
	if (c->flags & TCPF_RECOVERY) {
		if (seq_geq(ack, c->recover)) {
			c->flags &= (uint16_t)~TCPF_RECOVERY;
			c->cwnd = c->ssthresh;
		} else {
			/* NewReno partial ACK: the next hole is lost too. */
			uint32_t n = RTE_MIN((uint32_t)c->mss, c->sb.len);
			if (n > 0) {
				send_seg(st, c, c->snd_una, n, 0);
				st->c.tcp_fast_retransmits++;
			}
			c->cwnd = c->cwnd > data ? c->cwnd - data + c->mss : c->mss;
		}
	} else if (c->cwnd < c->ssthresh) {
		c->cwnd += RTE_MIN(data, (uint32_t)c->mss);
	} else {
		c->cwnd += RTE_MAX(1u, (uint32_t)c->mss * c->mss / c->cwnd);
	}
	c->dupacks = 0;
	c->t_rexmt = c->snd_una == c->snd_max ? 0 : st->now_ms + rto_now(c);
	if (data > 0 && c->app != NULL && st->app->sent != NULL)
		st->app->sent(st, c);
}

/* A segment is acceptable if it overlaps the receive window (RFC 9293 3.10.7.4). */
static bool seq_acceptable(const struct tcp_conn *c, const struct seg *s)
{
	uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t len = s->len + ((s->flags & RTE_TCP_FIN_FLAG) ? 1 : 0);

	if (len == 0)
		return wnd == 0 ? s->seq == c->rcv_nxt
				: seq_geq(s->seq, c->rcv_nxt) && seq_lt(s->seq, c->rcv_nxt + wnd);
	if (wnd == 0)
		return false;
	return (seq_geq(s->seq, c->rcv_nxt) && seq_lt(s->seq, c->rcv_nxt + wnd)) ||
	       (seq_geq(s->seq + len - 1, c->rcv_nxt) && seq_lt(s->seq + len - 1, c->rcv_nxt + wnd));
}

static bool app_reads(const struct tcp_conn *c)
{
	return c->app != NULL && !(c->flags & TCPF_FIN_QUEUED) &&
	       (c->state == TCP_ESTABLISHED || c->state == TCP_FIN_WAIT_1 ||
		c->state == TCP_FIN_WAIT_2);
}

/* Hand n in-order bytes to the application; false if c went away meanwhile. */
static bool deliver(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n)
{
	uint32_t gen = c->gen;
	c->rcv_nxt += n;
	st->c.tcp_bytes_in += n;
	if (app_reads(c))
		st->app->recv(st, c, p, n);
	return c->gen == gen && c->state != TCP_CLOSED;
}

static void ooo_insert(struct tcp_stack *st, struct tcp_conn *c, struct seg *s)
{
	unsigned i = 0;

	while (i < c->nooo && seq_lt(c->ooo[i].seq, s->seq))
		i++;
	/* Wholly inside a segment already held: a duplicate. */
	for (unsigned j = 0; j < c->nooo; j++)
		if (seq_leq(c->ooo[j].seq, s->seq) &&
		    seq_geq(c->ooo[j].seq + c->ooo[j].len, s->seq + s->len)) {
			st->c.tcp_dup_segs++;
			return;
		}
	if (c->nooo == c->ooo_cap) {
		uint32_t cap = c->ooo_cap ? c->ooo_cap * 2u : 16;
		struct tcp_ooo *n = cap <= TCP_OOO_MAX ? realloc(c->ooo, cap * sizeof(*n)) : NULL;
		if (n == NULL) {
			st->c.tcp_ooo_drops++;
			return;
		}
		c->ooo = n;
		c->ooo_cap = (uint16_t)cap;
	}
	if (st->ooo_held >= st->cfg.ooo_max) {
		st->c.tcp_ooo_drops++;
		return;
	}
	memmove(&c->ooo[i + 1], &c->ooo[i], (c->nooo - i) * sizeof(c->ooo[0]));
	c->ooo[i] = (struct tcp_ooo){ .m = s->m, .data = s->data, .seq = s->seq, .len = s->len };
	c->nooo++;
	st->ooo_held++;
	c->last_ooo_seq = s->seq;
	c->ooo_bytes += s->len;
	s->m = NULL; /* kept */
	st->c.tcp_ooo_segs++;
}

/* Deliver held segments that the in-order data has reached. */
static bool ooo_drain(struct tcp_stack *st, struct tcp_conn *c)
{
	while (c->nooo > 0 && seq_leq(c->ooo[0].seq, c->rcv_nxt)) {
		struct tcp_ooo o = c->ooo[0];
		c->nooo--;
		st->ooo_held--;
		memmove(&c->ooo[0], &c->ooo[1], c->nooo * sizeof(c->ooo[0]));
		c->ooo_bytes -= o.len;
		uint32_t skip = c->rcv_nxt - o.seq;
		bool alive = true;
		if (skip < o.len)
			alive = deliver(st, c, o.data + skip, o.len - skip);
		rte_pktmbuf_free(o.m);
		if (!alive)
			return false;
	}
	return true;
}

static void established(struct tcp_stack *st, struct tcp_conn *c)
{
	c->state = TCP_ESTABLISHED;
	c->cwnd = (uint32_t)c->mss * TCP_INIT_CWND_SEGS;
	c->ssthresh = UINT32_MAX;
	c->last_rx_ms = st->now_ms;
	if (st->cfg.idle_timeout_ms)
		c->t_idle = st->now_ms + st->cfg.idle_timeout_ms;
	bool full = st->cfg.open_total != NULL &&
		    atomic_load_explicit(st->cfg.open_total, memory_order_relaxed) >= st->cfg.open_limit;
	if (full) {
		/* memcached at its limit: accept, say why, close. */
		static const char msg[] = "ERROR Too many open connections\r\n";
		st->c.tcp_conn_refused++;
		tcp_send(st, c, msg, sizeof(msg) - 1);
		tcp_close(st, c);
		return;
	}
	c->app = (void *)1; /* placeholder until the hook sets it */
	st->nopen++;
	st->c.tcp_accepts++;
	if (st->cfg.open_total != NULL)
		atomic_fetch_add_explicit(st->cfg.open_total, 1, memory_order_relaxed);
	if (st->app->accept != NULL && st->app->accept(st, c) != 0) {
		c->app = NULL;
		st->nopen--;
		st->c.tcp_accepts--;
		if (st->cfg.open_total != NULL)
			atomic_fetch_sub_explicit(st->cfg.open_total, 1, memory_order_relaxed);
		tcp_abort(st, c);
	}
}

static void listen_input(struct tcp_stack *st, struct seg *s, const struct rte_ether_addr *mac,
			 uint32_t rip, uint16_t rport, struct tcp_conn **out)
{
	*out = NULL;
	if (s->flags & RTE_TCP_RST_FLAG)
		return;
	if (s->flags & RTE_TCP_ACK_FLAG) {
		/* The handshake's last ACK after a cookie SYN-ACK? */
		uint16_t mss = 0;
		if (!(s->flags & RTE_TCP_SYN_FLAG))
			mss = tcp_cookie_check(&st->cfg, rip, rport, s->seq - 1, s->ack - 1, now_s(st));
		if (mss == 0) {
			if (!(s->flags & RTE_TCP_SYN_FLAG))
				st->c.tcp_syn_cookies_bad++;
			st->c.tcp_no_conn++;
			send_rst(st, mac, rip, rport, s->ack, 0, false);
			return;
		}
		struct tcp_conn *c = conn_alloc(st, rip, rport, mac);
		if (c == NULL)
			return;
		st->c.tcp_syn_cookies_ok++;
		c->flags |= TCPF_COOKIE;
		c->irs = s->seq - 1;
		c->rcv_nxt = s->seq;
		c->iss = s->ack - 1;
		c->snd_una = c->snd_nxt = c->snd_max = s->ack;
		c->mss = RTE_MIN(mss, (uint16_t)OUR_MSS);
		c->snd_wnd = s->wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		c->rcv_adv = c->rcv_nxt + RTE_MIN(st->cfg.rcvbuf, 0xffffu);
		established(st, c);
		*out = c;
		return;
	}
	if (!(s->flags & RTE_TCP_SYN_FLAG) || (s->flags & RTE_TCP_FIN_FLAG)) {
		st->c.tcp_no_conn++;
		uint32_t len = s->len + ((s->flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
		send_rst(st, mac, rip, rport, 0, s->seq + len, true);
		return;
	}
	/* A SYN. */
	if (st->nsyn >= st->cfg.syn_backlog) {
		struct tcp_conn tmp = { .rip = rip, .rport = rport, .rmac = *mac,
					.flags = TCPF_COOKIE, .rcv_nxt = s->seq + 1 };
		tmp.iss = tcp_cookie_make(&st->cfg, rip, rport, s->seq, s->mss, now_s(st));
		st->c.tcp_syn_cookies_sent++;
		send_synack(st, &tmp);
		return;
	}
	struct tcp_conn *c = conn_alloc(st, rip, rport, mac);
	if (c == NULL) {
		st->c.tcp_syn_drops++;
		return;
	}
	c->state = TCP_SYN_RCVD;
	st->nsyn++;
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->iss = (uint32_t)rte_rand();
	c->snd_una = c->snd_nxt = c->iss;
	c->snd_max = c->iss + 1;
	c->mss = RTE_MIN(s->mss, (uint16_t)OUR_MSS);
	if (s->wscale >= 0) {
		c->snd_wscale = (uint8_t)s->wscale;
		c->rcv_wscale = TCP_WSCALE;
	}
	if (s->sack_ok)
		c->flags |= TCPF_SACK;
	c->snd_wnd = s->wnd; /* never scaled on a SYN */
	c->snd_wl1 = s->seq;
	send_synack(st, c);
	c->t_rexmt = st->now_ms + TCP_RTO_INIT_MS;
	timer_arm(st, c);
}

/* Process the ACK field; false when the segment is finished with. */
static bool ack_input(struct tcp_stack *st, struct tcp_conn *c, struct seg *s)
{
	if (c->state == TCP_SYN_RCVD) {
		if (!seq_gt(s->ack, c->iss) || seq_gt(s->ack, c->snd_max)) {
			send_rst(st, &c->rmac, c->rip, c->rport, s->ack, 0, false);
			return false;
		}
		st->nsyn--;
		c->snd_una = c->snd_nxt = c->snd_max = c->iss + 1;
		c->snd_wnd = (uint32_t)s->wnd << c->snd_wscale;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		c->t_rexmt = 0;
		c->backoff = 0;
		uint32_t gen = c->gen;
		established(st, c);
		if (c->gen != gen || c->state == TCP_CLOSED)
			return false;
	}
	if (seq_gt(s->ack, c->snd_max)) {
		c->flags |= TCPF_ACK_NOW;
		pending_add(st, c);
		return false;
	}
	uint32_t wnd = (uint32_t)s->wnd << c->snd_wscale;
	if (seq_leq(s->ack, c->snd_una)) {
		/* RFC 5681 duplicate ACK: no data, same window, data outstanding. */
		if (s->ack == c->snd_una && s->len == 0 && !(s->flags & RTE_TCP_FIN_FLAG) &&
		    wnd == c->snd_wnd && c->snd_max != c->snd_una) {
			if (++c->dupacks == 3) {
				uint32_t flight = c->snd_max - c->snd_una;
				c->ssthresh = RTE_MAX(flight / 2, 2u * c->mss);
				c->recover = c->snd_max;
				c->flags |= TCPF_RECOVERY;
				c->flags &= (uint16_t)~TCPF_RTT;
				uint32_t n = RTE_MIN((uint32_t)c->mss, c->sb.len);
				if (n > 0)
					send_seg(st, c, c->snd_una, n, 0);
				st->c.tcp_fast_retransmits++;
				c->cwnd = c->ssthresh + 3u * c->mss;
			} else if (c->dupacks > 3) {
				c->cwnd += c->mss;
				pending_add(st, c);
			}
		}
	} else {
		ack_advance(st, c, s->ack);
		pending_add(st, c);
	}
	/* Window update (RFC 9293 SND.WL1/WL2 rule). */
	if (seq_lt(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && seq_leq(c->snd_wl2, s->ack))) {
		if (c->snd_wnd == 0 && wnd > 0) {
			c->t_persist = 0;
			c->backoff = 0;
			pending_add(st, c);
		}
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
	}
	bool fin_acked = (c->flags & TCPF_FIN_SENT) && c->snd_una == c->snd_max && c->sb.len == 0;
	switch (c->state) {
	case TCP_FIN_WAIT_1:
		if (fin_acked) {
			c->state = TCP_FIN_WAIT_2;
			c->t_rexmt = 0;
			c->t_close = st->now_ms + TCP_FIN_WAIT2_MS;
		}
		break;
	case TCP_CLOSING:
		if (fin_acked) {
			enter_time_wait(st, c);
			return false;
		}
		break;
	case TCP_LAST_ACK:
		if (fin_acked) {
			conn_free(st, c);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

static void data_input(struct tcp_stack *st, struct tcp_conn *c, struct seg *s)
{
	bool fin = s->flags & RTE_TCP_FIN_FLAG;

	if (c->flags & TCPF_FIN_RCVD)
		return; /* nothing after the peer's FIN */
	/* Trim what we already have from the front and what is past the window. */
	if (seq_lt(s->seq, c->rcv_nxt)) {
		uint32_t d = c->rcv_nxt - s->seq;
		if (d >= s->len && !(fin && d == s->len)) {
			st->c.tcp_dup_segs++;
			c->flags |= TCPF_ACK_NOW;
			pending_add(st, c);
			return;
		}
		d = RTE_MIN(d, s->len);
		s->data += d;
		s->len -= d;
		s->seq += d;
	}
	uint32_t wnd_end = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv : c->rcv_nxt;
	if (seq_gt(s->seq + s->len, wnd_end)) {
		s->len = seq_gt(wnd_end, s->seq) ? wnd_end - s->seq : 0;
		fin = false;
	}
	if (s->seq != c->rcv_nxt) {
		/* A hole before it: hold it, and ACK at once so the peer's fast
		 * retransmit sees duplicate ACKs. */
		if (s->len > 0)
			ooo_insert(st, c, s);
		c->flags |= TCPF_DUPACK;
		pending_add(st, c);
		return;
	}
	if (s->len > 0) {
		bool had_ooo = c->nooo > 0;
		if (!deliver(st, c, s->data, s->len) || !ooo_drain(st, c))
			return;
		if (had_ooo)
			c->flags |= TCPF_DUPACK; /* at once: tells the peer the hole is filled */
		else if (++c->unacked >= 2)
			c->flags |= TCPF_ACK_NOW;
		else if (c->t_delack == 0)
			c->t_delack = st->now_ms + TCP_DELACK_MS;
		pending_add(st, c);
	}
	if (fin && s->seq + s->len == c->rcv_nxt) {
		c->rcv_nxt++;
		c->flags |= TCPF_FIN_RCVD | TCPF_ACK_NOW;
		pending_add(st, c);
		switch (c->state) {
		case TCP_ESTABLISHED: {
			c->state = TCP_CLOSE_WAIT;
			if (c->app != NULL && st->app->fin != NULL)
				st->app->fin(st, c);
			break;
		}
		case TCP_FIN_WAIT_1:
			if ((c->flags & TCPF_FIN_SENT) && c->snd_una == c->snd_max && c->sb.len == 0) {
				output(st, c); /* the ACK of their FIN */
				enter_time_wait(st, c);
			} else {
				c->state = TCP_CLOSING;
			}
			break;
		case TCP_FIN_WAIT_2:
			output(st, c);
			enter_time_wait(st, c);
			break;
		default:
			break;
		}
	}
}

void tcp_input(struct tcp_stack *st, struct rte_mbuf *m, const void *ipv, const void *tcpv,
	       uint16_t ip_len, uint64_t now_tsc)
{
	const struct rte_ipv4_hdr *ip = ipv;
	const struct rte_tcp_hdr *th = tcpv;
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint16_t ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	uint16_t l4 = ip_len - ihl;
	unsigned doff;

	st->now_tsc = now_tsc;
	st->now_ms = ms_of(st, now_tsc);
	st->c.tcp_rx_segs++;
	if (l4 < sizeof(*th) || (doff = (th->data_off >> 4) * 4u) < sizeof(*th) || doff > l4) {
		st->c.tcp_bad_segs++;
		rte_pktmbuf_free(m);
		return;
	}
	if (!(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_GOOD) &&
	    !dp_l4_cksum_ok(ip, th, l4)) {
		st->c.tcp_bad_cksum++;
		rte_pktmbuf_free(m);
		return;
	}
	struct seg s = {
		.seq = rte_be_to_cpu_32(th->sent_seq),
		.ack = rte_be_to_cpu_32(th->recv_ack),
		.wnd = rte_be_to_cpu_16(th->rx_win),
		.flags = th->tcp_flags & 0x3f,
		.data = (const uint8_t *)th + doff,
		.len = l4 - doff,
		.m = m,
		.wscale = -1,
	};
	/* SYN with FIN or RST is nonsense: drop it. */
	if ((s.flags & RTE_TCP_SYN_FLAG) && (s.flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG))) {
		st->c.tcp_bad_segs++;
		rte_pktmbuf_free(m);
		return;
	}
	if (s.flags & RTE_TCP_SYN_FLAG)
		parse_opts(&s, (const uint8_t *)(th + 1), doff - sizeof(*th));
	uint32_t rip = ip->src_addr;
	uint16_t rport = th->src_port;
	struct tcp_conn *c = conn_lookup(st, rip, rport);

	if (c != NULL && c->state == TCP_TIME_WAIT && (s.flags & RTE_TCP_SYN_FLAG) &&
	    !(s.flags & RTE_TCP_ACK_FLAG) && seq_gt(s.seq, c->rcv_nxt)) {
		/* A new incarnation of a connection in TIME_WAIT (RFC 6191). */
		conn_free(st, c);
		c = NULL;
	}
	if (c == NULL && !st->handed && st->app->elsewhere != NULL &&
	    st->app->elsewhere(st, m, rip, rport)) {
		st->c.tcp_handoffs++; /* another stack's connection: handed over */
		return;
	}
	if (c == NULL) {
		listen_input(st, &s, &eth->src_addr, rip, rport, &c);
		if (c == NULL)
			goto done;
		/* A cookie's ACK may carry data: on with the usual processing. */
		s.flags &= (uint16_t)~RTE_TCP_ACK_FLAG;
		goto data;
	}
	uint32_t gen = c->gen;
	c->last_rx_ms = st->now_ms;

	if (c->state == TCP_SYN_RCVD && (s.flags & RTE_TCP_SYN_FLAG) && !(s.flags & RTE_TCP_ACK_FLAG)) {
		if (s.seq == c->irs) /* our SYN-ACK was lost */
			send_synack(st, c);
		goto done;
	}
	if (!seq_acceptable(c, &s)) {
		if (!(s.flags & RTE_TCP_RST_FLAG)) {
			c->flags |= TCPF_ACK_NOW;
			pending_add(st, c);
			if (c->state == TCP_TIME_WAIT) {
				/* A retransmitted FIN: ACK it again and restart the wait. */
				send_seg(st, c, c->snd_nxt, 0, 0);
				c->t_close = st->now_ms + st->cfg.time_wait_ms;
				timer_arm(st, c);
			}
		}
		goto done;
	}
	if (s.flags & RTE_TCP_RST_FLAG) {
		/* RFC 5961: exact match resets, else a challenge ACK. */
		if (s.seq == c->rcv_nxt) {
			st->c.tcp_resets_rx++;
			conn_free(st, c);
		} else {
			st->c.tcp_challenge_acks++;
			c->flags |= TCPF_ACK_NOW;
			pending_add(st, c);
		}
		goto done;
	}
	if (s.flags & RTE_TCP_SYN_FLAG) {
		st->c.tcp_challenge_acks++;
		c->flags |= TCPF_ACK_NOW;
		pending_add(st, c);
		goto done;
	}
	if (!(s.flags & RTE_TCP_ACK_FLAG))
		goto done;
	if (c->state == TCP_TIME_WAIT) {
		c->flags |= TCPF_ACK_NOW;
		goto done;
	}
	if (!ack_input(st, c, &s) || c->gen != gen || c->state == TCP_CLOSED)
		goto done;
data:
	if (s.len > 0 || (s.flags & RTE_TCP_FIN_FLAG)) {
		if (c->state == TCP_ESTABLISHED || c->state == TCP_FIN_WAIT_1 ||
		    c->state == TCP_FIN_WAIT_2)
			data_input(st, c, &s);
		else if (s.len > 0) {
			c->flags |= TCPF_ACK_NOW;
			pending_add(st, c);
		}
	}
	if (c->state != TCP_CLOSED && c->state != TCP_TIME_WAIT)
		timer_arm(st, c);
done:
	if (s.m != NULL)
		rte_pktmbuf_free(s.m);
}

/* ---- timers ---- */

static void timeout(struct tcp_stack *st, struct tcp_conn *c)
{
	uint64_t now = st->now_ms;

	if (c->t_close && c->t_close <= now) {
		conn_free(st, c); /* TIME_WAIT or FIN_WAIT_2 over */
		return;
	}
	if (c->t_rexmt && c->t_rexmt <= now) {
		c->t_rexmt = 0;
		if (c->state == TCP_SYN_RCVD) {
			if (++c->synack_tries > TCP_SYNACK_MAX) {
				conn_free(st, c);
				return;
			}
			send_synack(st, c);
			c->t_rexmt = now + ((uint64_t)TCP_RTO_INIT_MS << c->synack_tries);
		} else if (c->snd_max != c->snd_una) {
			if (c->backoff >= TCP_REXMT_MAX) {
				tcp_abort(st, c);
				return;
			}
			st->c.tcp_rto_expired++;
			c->backoff++;
			uint32_t flight = c->snd_max - c->snd_una;
			c->ssthresh = RTE_MAX(flight / 2, 2u * c->mss);
			c->cwnd = c->mss;
			c->dupacks = 0;
			c->flags &= (uint16_t)~(TCPF_RTT | TCPF_RECOVERY | TCPF_FIN_SENT);
			c->snd_nxt = c->snd_una; /* go back N */
			output(st, c);
		}
	}
	if (c->t_persist && c->t_persist <= now) {
		c->t_persist = 0;
		if (c->snd_wnd == 0 && c->sb.len > 0 &&
		    now - c->last_rx_ms >= TCP_PERSIST_GIVEUP_MS) {
			/* A peer that closed its window and went away answers
			 * no probe: give the connection up (the peer that is
			 * merely slow answers every one and stays). */
			tcp_abort(st, c);
			return;
		}
		if (c->snd_wnd == 0 && c->sb.len > 0) {
			/* A probe the peer must answer with its window. */
			st->c.tcp_probes++;
			send_seg(st, c, c->snd_una - 1, 0, 0);
			if (c->backoff < TCP_REXMT_MAX)
				c->backoff++;
			c->t_persist = now + rto_now(c);
		}
	}
	if (c->t_delack && c->t_delack <= now) {
		c->t_delack = 0;
		st->c.tcp_delacks++;
		c->flags |= TCPF_ACK_NOW;
		output(st, c);
	}
	if (c->t_idle && c->t_idle <= now) {
		uint64_t due = c->last_rx_ms + st->cfg.idle_timeout_ms;
		c->t_idle = 0;
		if (due <= now && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)) {
			st->c.tcp_idle_closes++;
			tcp_close(st, c);
			output(st, c);
		} else if (due > now) {
			c->t_idle = due;
		}
	}
	timer_arm(st, c);
}

void tcp_timers(struct tcp_stack *st, uint64_t now_tsc)
{
	/* Called every loop iteration: the wheel moves once per ms. */
	st->now_tsc = now_tsc;
	if (now_tsc < st->next_ms_tsc)
		return;
	uint64_t now = ms_of(st, now_tsc);
	unsigned n = 0;

	st->next_ms_tsc = (now + 1) * st->tsc_per_ms;
	st->now_ms = now;
	while (st->wheel_ms < now && n < TCP_WHEEL_SLOTS) {
		st->wheel_ms++;
		n++;
		struct tcp_conn *c = st->wheel[st->wheel_ms % TCP_WHEEL_SLOTS];
		while (c != NULL) {
			struct tcp_conn *next = c->wnext;
			if (c->wheel_at <= now) {
				wheel_unlink(st, c);
				timeout(st, c);
			}
			c = next;
		}
	}
	if (st->wheel_ms < now)
		st->wheel_ms = now; /* a stall longer than the wheel: caught up above */
}
