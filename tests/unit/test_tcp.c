/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane TCP state machine driven by hand-built segments: a fake
 * peer writes frames into tcp_input, every frame the stack sends is caught
 * by the TX hook and decoded, and time is a synthetic clock (1 tick = 1 ns)
 * so timers fire exactly when the test says. The application under the
 * stack records what it is given and can echo it back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/tcp.h"

#define SRV_IP RTE_IPV4(198u, 18u, 0u, 1u)
#define CLI_IP RTE_IPV4(198u, 18u, 0u, 2u)
#define HZ 1000000000ULL

static struct rte_mempool *pool;
static uint64_t t0;

/* ---- what the stack sent ---- */

struct out_seg {
	uint32_t seq, ack;
	uint16_t wnd;
	uint8_t flags;
	uint16_t mss;
	int wscale;
	bool sack_ok;
	unsigned nsack;
	uint32_t sack[4][2];
	uint32_t len;
	uint8_t data[2048];
};

#define OUT_MAX 4096
static struct out_seg outq[OUT_MAX];
static unsigned nout;

static void tx_hook(void *ctx, struct rte_mbuf *m)
{
	(void)ctx;
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_ipv4_hdr *ip = (const void *)(p + RTE_ETHER_HDR_LEN);
	const struct rte_tcp_hdr *th = (const void *)(ip + 1);
	uint16_t ip_len = rte_be_to_cpu_16(ip->total_length);
	unsigned doff = (th->data_off >> 4) * 4u;

	assert_true(nout < OUT_MAX);
	/* software checksums must verify */
	assert_int_equal(rte_ipv4_cksum(ip), 0);
	uint32_t sum = (uint32_t)rte_ipv4_phdr_cksum(ip, 0) + rte_raw_cksum(th, ip_len - 20);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	struct out_seg *o = &outq[nout++];
	memset(o, 0, sizeof(*o));
	o->seq = rte_be_to_cpu_32(th->sent_seq);
	o->ack = rte_be_to_cpu_32(th->recv_ack);
	o->wnd = rte_be_to_cpu_16(th->rx_win);
	o->flags = th->tcp_flags;
	o->wscale = -1;
	const uint8_t *op = (const uint8_t *)(th + 1);
	for (unsigned i = 0; i < doff - 20;) {
		if (op[i] == 0)
			break;
		if (op[i] == 1) {
			i++;
			continue;
		}
		if (op[i] == 2)
			o->mss = (uint16_t)(op[i + 2] << 8 | op[i + 3]);
		if (op[i] == 3)
			o->wscale = op[i + 2];
		if (op[i] == 4)
			o->sack_ok = true;
		if (op[i] == 5)
			for (unsigned k = 0; k < (op[i + 1] - 2u) / 8; k++, o->nsack++) {
				uint32_t a, b;
				memcpy(&a, op + i + 2 + 8 * k, 4);
				memcpy(&b, op + i + 6 + 8 * k, 4);
				o->sack[k][0] = rte_be_to_cpu_32(a);
				o->sack[k][1] = rte_be_to_cpu_32(b);
			}
		i += op[i + 1];
	}
	o->len = ip_len - 20u - doff;
	memcpy(o->data, (const uint8_t *)th + doff, o->len);
	rte_pktmbuf_free(m);
}

/* ---- the application ---- */

struct app {
	uint8_t rx[1 << 20];
	size_t nrx;
	int accepts, fins, closes;
	bool echo;
	bool close_on_fin;
	uint32_t buffered;    /* pretend this much input is still unprocessed */
};
static struct app A;

static int a_accept(struct tcp_stack *st, struct tcp_conn *c)
{
	(void)st;
	c->app = &A;
	A.accepts++;
	return 0;
}

static void a_recv(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n)
{
	assert_true(A.nrx + n <= sizeof(A.rx));
	memcpy(A.rx + A.nrx, p, n);
	A.nrx += n;
	if (A.echo)
		assert_int_equal(tcp_send(st, c, p, n), 0);
}

static void a_fin(struct tcp_stack *st, struct tcp_conn *c)
{
	A.fins++;
	if (A.close_on_fin)
		tcp_close(st, c);
}

static void a_closed(struct tcp_stack *st, struct tcp_conn *c)
{
	(void)st;
	(void)c;
	A.closes++;
}

static uint32_t a_buffered(struct tcp_stack *st, struct tcp_conn *c)
{
	(void)st;
	(void)c;
	return A.buffered;
}

static const struct tcp_app app = {
	.accept = a_accept, .recv = a_recv, .fin = a_fin, .closed = a_closed,
	.buffered = a_buffered,
};

/* ---- the fake peer ---- */

static struct tcp_stack S;
static _Atomic uint32_t open_total;
static uint64_t now_ms;

static uint64_t tsc(void)
{
	return t0 + now_ms * (HZ / 1000);
}

static struct tcp_cfg base_cfg(void)
{
	struct tcp_cfg cfg = {
		.ip = rte_cpu_to_be_32(SRV_IP),
		.port = 11211,
		.max_conns = 64,
		.syn_backlog = 8,
		.rto_min_ms = 200,
		.time_wait_max = 4,
		.time_wait_ms = 1000,
		.rcvbuf = 64 * 1024,
		.ooo_max = 256,
		.cookie_secret = { 1, 2 },
		.open_total = &open_total,
		.open_limit = 64,
	};
	return cfg;
}

static void stack_up(const struct tcp_cfg *cfg)
{
	memset(&A, 0, sizeof(A));
	nout = 0;
	now_ms = 0;
	open_total = 0;
	assert_int_equal(tcp_stack_init(&S, "test_tcp", cfg, 64, pool, HZ, tx_hook, NULL, &app, NULL),
			 0);
	t0 = S.now_tsc;
}

static int teardown(void **state)
{
	(void)state;
	tcp_stack_fini(&S);
	return 0;
}

struct opts {
	uint16_t mss;
	int wscale;
	bool sack;
};

static void peer_send(uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
		      const void *data, uint32_t len, const struct opts *o)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t opt[20];
	unsigned ol = 0;

	if (o != NULL) {
		if (o->mss) {
			opt[ol++] = 2, opt[ol++] = 4, opt[ol++] = (uint8_t)(o->mss >> 8);
			opt[ol++] = (uint8_t)o->mss;
		}
		if (o->wscale >= 0)
			opt[ol++] = 1, opt[ol++] = 3, opt[ol++] = 3, opt[ol++] = (uint8_t)o->wscale;
		if (o->sack)
			opt[ol++] = 1, opt[ol++] = 1, opt[ol++] = 4, opt[ol++] = 2;
	}
	uint16_t iplen = (uint16_t)(20 + 20 + ol + len);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(RTE_ETHER_HDR_LEN + iplen));
	assert_non_null(p);
	struct rte_ether_hdr *eth = (void *)p;
	struct rte_ipv4_hdr *ip = (void *)(eth + 1);
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	memset(p, 0, RTE_ETHER_HDR_LEN + 40);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(iplen);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(CLI_IP);
	ip->dst_addr = rte_cpu_to_be_32(SRV_IP);
	th->src_port = rte_cpu_to_be_16(port);
	th->dst_port = rte_cpu_to_be_16(11211);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)(((20 + ol) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(wnd);
	memcpy(th + 1, opt, ol);
	if (len > 0)
		memcpy((uint8_t *)(th + 1) + ol, data, len);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	tcp_input(&S, m, ip, th, iplen, tsc());
}

static void flush(void)
{
	tcp_flush(&S);
}

static void advance(uint64_t ms)
{
	for (uint64_t i = 0; i < ms; i++) {
		now_ms++;
		tcp_timers(&S, tsc());
	}
	tcp_flush(&S);
}

#define ISN 1000u
#define ACK_F RTE_TCP_ACK_FLAG
#define SYN_F RTE_TCP_SYN_FLAG
#define FIN_F RTE_TCP_FIN_FLAG
#define RST_F RTE_TCP_RST_FLAG
#define PSH_F RTE_TCP_PSH_FLAG

/* Handshake from port; returns the server's ISS. */
static uint32_t connect_port(uint16_t port, const struct opts *o)
{
	unsigned before = nout;
	peer_send(port, ISN, 0, SYN_F, 65535, NULL, 0, o);
	assert_int_equal(nout, before + 1);
	struct out_seg *sa = &outq[nout - 1];
	assert_int_equal(sa->flags, SYN_F | ACK_F);
	assert_int_equal(sa->ack, ISN + 1);
	peer_send(port, ISN + 1, sa->seq + 1, ACK_F, 65535, NULL, 0, NULL);
	return sa->seq;
}

static struct tcp_conn *conn_of(uint16_t port)
{
	for (uint32_t i = 0; i < S.nslots; i++)
		if (S.conns[i].state != TCP_CLOSED && S.conns[i].rport == rte_cpu_to_be_16(port))
			return &S.conns[i];
	return NULL;
}

/* ---- tests ---- */

static void test_handshake_options(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	struct opts o = { .mss = 1000, .wscale = 6, .sack = true };
	peer_send(5000, ISN, 0, SYN_F, 65535, NULL, 0, &o);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].flags, SYN_F | ACK_F);
	assert_int_equal(outq[0].mss, 1460);
	assert_int_equal(outq[0].wscale, TCP_WSCALE);
	assert_true(outq[0].sack_ok);
	assert_int_equal(outq[0].ack, ISN + 1);
	assert_int_equal(S.nsyn, 1);
	assert_int_equal(A.accepts, 0);
	/* the SYN-ACK is retransmitted if the ACK does not come */
	advance(TCP_RTO_INIT_MS);
	assert_int_equal(nout, 2);
	assert_int_equal(outq[1].seq, outq[0].seq);
	peer_send(5000, ISN + 1, outq[0].seq + 1, ACK_F, 100, NULL, 0, NULL);
	assert_int_equal(A.accepts, 1);
	assert_int_equal(S.nsyn, 0);
	struct tcp_conn *c = conn_of(5000);
	assert_non_null(c);
	assert_int_equal(c->state, TCP_ESTABLISHED);
	assert_int_equal(c->mss, 1000);
	assert_int_equal(c->snd_wnd, 100u << 6);
	/* without options: MSS 536, no scaling, no SACK */
	struct opts none = { .wscale = -1 };
	peer_send(5001, ISN, 0, SYN_F, 65535, NULL, 0, &none);
	assert_int_equal(outq[nout - 1].wscale, -1);
	assert_false(outq[nout - 1].sack_ok);
	peer_send(5001, ISN + 1, outq[nout - 1].seq + 1, ACK_F, 100, NULL, 0, NULL);
	assert_int_equal(conn_of(5001)->mss, 536);
	assert_int_equal(conn_of(5001)->snd_wnd, 100);
}

static void test_data_delayed_ack(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	nout = 0;
	peer_send(5000, ISN + 1, iss + 1, ACK_F | PSH_F, 65535, "hello", 5, NULL);
	flush();
	assert_int_equal(A.nrx, 5);
	assert_memory_equal(A.rx, "hello", 5);
	assert_int_equal(nout, 0); /* one segment: the ACK waits */
	advance(TCP_DELACK_MS);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].ack, ISN + 6);
	assert_int_equal(outq[0].len, 0);
	/* two segments: ACKed at once */
	nout = 0;
	peer_send(5000, ISN + 6, iss + 1, ACK_F, 65535, "ab", 2, NULL);
	peer_send(5000, ISN + 8, iss + 1, ACK_F, 65535, "cd", 2, NULL);
	flush();
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].ack, ISN + 10);
}

static void test_out_of_order_sack(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	struct opts o = { .mss = 1460, .wscale = 7, .sack = true };
	peer_send(5000, ISN, 0, SYN_F, 65535, NULL, 0, &o);
	uint32_t iss = outq[0].seq;
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 65535, NULL, 0, NULL);
	nout = 0;
	/* bytes 10..19 and 30..39 before 0..9 and 20..29 */
	peer_send(5000, ISN + 11, iss + 1, ACK_F, 65535, "KLMNOPQRST", 10, NULL);
	flush();
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].ack, ISN + 1); /* duplicate ACK */
	assert_int_equal(outq[0].nsack, 1);
	assert_int_equal(outq[0].sack[0][0], ISN + 11);
	assert_int_equal(outq[0].sack[0][1], ISN + 21);
	peer_send(5000, ISN + 31, iss + 1, ACK_F, 65535, "4567890123", 10, NULL);
	flush();
	assert_int_equal(nout, 2);
	assert_int_equal(outq[1].nsack, 2);
	assert_int_equal(outq[1].sack[0][0], ISN + 31); /* the latest first */
	assert_int_equal(outq[1].sack[1][0], ISN + 11);
	/* a duplicate of a held segment changes nothing */
	peer_send(5000, ISN + 11, iss + 1, ACK_F, 65535, "KLMNOPQRST", 10, NULL);
	assert_int_equal(A.nrx, 0);
	/* the first hole: 0..19 delivered in order */
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 65535, "ABCDEFGHIJ", 10, NULL);
	assert_int_equal(A.nrx, 20);
	/* overlapping: 15..29 where 15..19 is already delivered */
	peer_send(5000, ISN + 16, iss + 1, ACK_F, 65535, "PQRSTuvwxyz0123", 15, NULL);
	assert_int_equal(A.nrx, 40);
	assert_memory_equal(A.rx, "ABCDEFGHIJKLMNOPQRSTuvwxyz01234567890123", 40);
	flush();
	assert_int_equal(outq[nout - 1].ack, ISN + 41);
	assert_int_equal(outq[nout - 1].nsack, 0);
	assert_int_equal(S.ooo_held, 0);
}

static void test_window_and_unacceptable(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	cfg.rcvbuf = 4096;
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL); /* no scaling */
	struct tcp_conn *c = conn_of(5000);
	nout = 0;
	A.buffered = 1000; /* the application holds 1000 unprocessed bytes */
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 65535, "x", 1, NULL);
	advance(TCP_DELACK_MS);
	/* the window may not shrink below the edge already advertised */
	assert_int_equal(outq[nout - 1].wnd, 4095);
	static uint8_t big[1000];
	memset(big, 'y', sizeof(big));
	for (unsigned i = 0; i < 4; i++)
		peer_send(5000, ISN + 2 + 1000 * i, iss + 1, ACK_F, 65535, big, 1000, NULL);
	assert_int_equal(A.nrx, 4001);
	advance(TCP_DELACK_MS);
	/* now it reflects the application's buffered bytes */
	assert_int_equal(outq[nout - 1].wnd, 4096 - 1000);
	/* past the right edge: trimmed to the window */
	for (unsigned i = 0; i < 4; i++)
		peer_send(5000, ISN + 4002 + 1000 * i, iss + 1, ACK_F, 65535, big, 1000, NULL);
	assert_int_equal(A.nrx, 4001 + 3096);
	/* wholly outside the window: not delivered, answered with an ACK */
	nout = 0;
	uint32_t before = c->rcv_nxt;
	peer_send(5000, ISN + 100000, iss + 1, ACK_F, 65535, "zz", 2, NULL);
	flush();
	assert_int_equal(c->rcv_nxt, before);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].ack, before);
	/* a bad checksum is dropped and counted */
	uint64_t bad = S.c.tcp_bad_cksum;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, RTE_ETHER_HDR_LEN + 40);
	memset(p, 0, RTE_ETHER_HDR_LEN + 40);
	struct rte_ipv4_hdr *ip = (void *)(p + RTE_ETHER_HDR_LEN);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(40);
	ip->src_addr = rte_cpu_to_be_32(CLI_IP);
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	th->data_off = 5 << 4;
	th->cksum = 0x1234;
	tcp_input(&S, m, ip, th, 40, tsc());
	assert_int_equal(S.c.tcp_bad_cksum, bad + 1);
}

static void test_retransmit_backoff(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	A.echo = true;
	nout = 0;
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 65535, "ping", 4, NULL);
	flush();
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].len, 4);
	assert_int_equal(outq[0].seq, iss + 1);
	/* no ACK: retransmitted after the RTO (1 s before any RTT sample)... */
	advance(TCP_RTO_INIT_MS - 1);
	assert_int_equal(nout, 1);
	advance(1);
	assert_int_equal(nout, 2);
	assert_int_equal(outq[1].seq, iss + 1);
	assert_memory_equal(outq[1].data, "ping", 4);
	/* ... then after twice that */
	advance(2 * TCP_RTO_INIT_MS - 1);
	assert_int_equal(nout, 2);
	advance(1);
	assert_int_equal(nout, 3);
	/* the ACK stops it; an RTT sample is not taken from a retransmission */
	peer_send(5000, ISN + 5, iss + 5, ACK_F, 65535, NULL, 0, NULL);
	advance(10 * TCP_RTO_INIT_MS);
	assert_int_equal(nout, 3);
	struct tcp_conn *c = conn_of(5000);
	assert_int_equal(c->snd_una, iss + 5);
	assert_int_equal(c->backoff, 0);
	/* a fresh send is timed: RTT 30 ms gives RTO at the 200 ms floor */
	peer_send(5000, ISN + 5, iss + 5, ACK_F, 65535, "pong", 4, NULL);
	flush();
	advance(30);
	peer_send(5000, ISN + 9, iss + 9, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(c->srtt_us, 30000);
	assert_int_equal(c->rto_ms, 200);
	/* too many retransmissions reset the connection */
	peer_send(5000, ISN + 9, iss + 9, ACK_F, 65535, "x", 1, NULL);
	flush();
	advance(600000);
	assert_null(conn_of(5000));
	assert_int_equal(A.closes, 1);
	assert_true(outq[nout - 1].flags & RST_F);
}

static void test_fast_retransmit(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	struct tcp_conn *c = conn_of(5000);
	static uint8_t data[536 * 6];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	nout = 0;
	assert_int_equal(tcp_send(&S, c, data, sizeof(data)), 0);
	flush();
	assert_int_equal(nout, 6); /* IW10 allows all six MSS-sized segments */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(outq[i].seq, iss + 1 + 536 * i);
	/* segment 2 lost: the first ACK, then three duplicates */
	peer_send(5000, ISN + 1, iss + 1 + 536, ACK_F, 65535, NULL, 0, NULL);
	nout = 0;
	peer_send(5000, ISN + 1, iss + 1 + 536, ACK_F, 65535, NULL, 0, NULL);
	peer_send(5000, ISN + 1, iss + 1 + 536, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(nout, 0);
	peer_send(5000, ISN + 1, iss + 1 + 536, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].seq, iss + 1 + 536);
	assert_memory_equal(outq[0].data, data + 536, 536);
	assert_int_equal(S.c.tcp_fast_retransmits, 1);
	/* partial ACK (NewReno): the next hole goes at once */
	peer_send(5000, ISN + 1, iss + 1 + 536 * 3, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(outq[nout - 1].seq, iss + 1 + 536 * 3);
	peer_send(5000, ISN + 1, iss + 1 + 536 * 6, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(c->sb.len, 0);
	assert_false(c->flags & TCPF_RECOVERY);
}

static void test_zero_window_probe(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	struct tcp_conn *c = conn_of(5000);
	/* the peer's window closes */
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 0, NULL, 0, NULL);
	nout = 0;
	assert_int_equal(tcp_send(&S, c, "held", 4), 0);
	flush();
	assert_int_equal(nout, 0);
	/* persist: a probe one byte below snd_una that the peer must answer */
	advance(TCP_RTO_INIT_MS);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].seq, iss);
	assert_int_equal(outq[0].len, 0);
	advance(2 * TCP_RTO_INIT_MS);
	assert_int_equal(nout, 2);
	assert_int_equal(S.c.tcp_probes, 2);
	/* the window opens: the data goes */
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 100, NULL, 0, NULL);
	flush();
	assert_int_equal(outq[nout - 1].len, 4);
	assert_memory_equal(outq[nout - 1].data, "held", 4);
	/* a peer answering probes with a zero window stays connected... */
	peer_send(5000, ISN + 1, iss + 5, ACK_F, 0, NULL, 0, NULL);
	assert_int_equal(tcp_send(&S, c, "more", 4), 0);
	for (int i = 0; i < 5; i++) {
		advance(60000);
		peer_send(5000, ISN + 1, iss + 5, ACK_F, 0, NULL, 0, NULL);
	}
	assert_non_null(conn_of(5000));
	/* ...one that went silent is given up */
	advance(TCP_PERSIST_GIVEUP_MS + 60000);
	assert_null(conn_of(5000));
	assert_true(outq[nout - 1].flags & RST_F);
}

static void test_rst_and_syn_checks(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	nout = 0;
	/* RST in the window but not at rcv_nxt: a challenge ACK, nothing closes */
	peer_send(5000, ISN + 10, 0, RST_F, 0, NULL, 0, NULL);
	flush();
	assert_non_null(conn_of(5000));
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].flags, ACK_F);
	/* a SYN on an open connection: a challenge ACK too */
	peer_send(5000, ISN + 50, 0, SYN_F, 65535, NULL, 0, NULL);
	flush();
	assert_int_equal(nout, 2);
	assert_non_null(conn_of(5000));
	/* RST outside the window: ignored */
	peer_send(5000, ISN + 1000000, 0, RST_F, 0, NULL, 0, NULL);
	assert_non_null(conn_of(5000));
	/* exact RST: gone */
	peer_send(5000, ISN + 1, 0, RST_F, 0, NULL, 0, NULL);
	assert_null(conn_of(5000));
	assert_int_equal(A.closes, 1);
	/* a segment for no connection is answered with RST */
	nout = 0;
	peer_send(5000, ISN + 1, iss + 1, ACK_F, 65535, "x", 1, NULL);
	assert_int_equal(nout, 1);
	assert_true(outq[0].flags & RST_F);
	assert_int_equal(outq[0].seq, iss + 1);
}

static void test_passive_close_half_close(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	A.echo = true;
	A.close_on_fin = true;
	nout = 0;
	/* data and FIN together: the reply, then our FIN, both go out */
	peer_send(5000, ISN + 1, iss + 1, ACK_F | FIN_F, 65535, "bye", 3, NULL);
	flush();
	assert_int_equal(A.fins, 1);
	struct tcp_conn *c = conn_of(5000);
	assert_int_equal(c->state, TCP_LAST_ACK);
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].flags & (FIN_F | ACK_F), FIN_F | ACK_F);
	assert_int_equal(outq[0].len, 3);
	assert_int_equal(outq[0].ack, ISN + 5); /* data + FIN */
	peer_send(5000, ISN + 5, iss + 5, ACK_F, 65535, NULL, 0, NULL);
	assert_null(conn_of(5000));
	assert_int_equal(A.closes, 1);
	assert_int_equal(S.ntw, 0);
}

static void test_active_close_time_wait_bounded(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	cfg.time_wait_max = 2;
	stack_up(&cfg);
	for (uint16_t port = 6000; port < 6003; port++) {
		uint32_t iss = connect_port(port, NULL);
		struct tcp_conn *c = conn_of(port);
		nout = 0;
		tcp_close(&S, c);
		flush();
		assert_int_equal(c->state, TCP_FIN_WAIT_1);
		assert_int_equal(outq[0].flags, FIN_F | ACK_F);
		peer_send(port, ISN + 1, iss + 2, ACK_F, 65535, NULL, 0, NULL);
		assert_int_equal(c->state, TCP_FIN_WAIT_2);
		peer_send(port, ISN + 1, iss + 2, ACK_F | FIN_F, 65535, NULL, 0, NULL);
		assert_int_equal(c->state, TCP_TIME_WAIT);
		assert_int_equal(outq[nout - 1].ack, ISN + 2);
	}
	assert_int_equal(S.ntw, 2);
	assert_int_equal(S.c.tcp_time_wait_reaped, 1);
	assert_null(conn_of(6000));
	assert_int_equal(A.closes, 3);
	/* a retransmitted FIN in TIME_WAIT is ACKed again */
	nout = 0;
	peer_send(6002, ISN + 1, 0, ACK_F | FIN_F, 65535, NULL, 0, NULL);
	assert_true(nout >= 1);
	assert_int_equal(outq[0].ack, ISN + 2);
	/* and TIME_WAIT ends */
	advance(cfg.time_wait_ms + 1);
	assert_int_equal(S.ntw, 0);
}

static void test_syn_cookies(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	cfg.syn_backlog = 1;
	stack_up(&cfg);
	struct opts o = { .mss = 1460, .wscale = 7, .sack = true };
	peer_send(7000, ISN, 0, SYN_F, 65535, NULL, 0, &o);
	assert_int_equal(S.nsyn, 1);
	nout = 0;
	peer_send(7001, ISN, 0, SYN_F, 65535, NULL, 0, &o);
	assert_int_equal(S.nsyn, 1); /* no state for this one */
	assert_int_equal(nout, 1);
	assert_int_equal(S.c.tcp_syn_cookies_sent, 1);
	assert_int_equal(outq[0].wscale, -1); /* no room for it in a cookie */
	assert_false(outq[0].sack_ok);
	uint32_t cookie = outq[0].seq;
	/* a forged ACK is refused */
	nout = 0;
	peer_send(7001, ISN + 1, cookie + 2, ACK_F, 65535, NULL, 0, NULL);
	assert_null(conn_of(7001));
	assert_true(outq[0].flags & RST_F);
	/* the right one opens the connection, data included */
	peer_send(7001, ISN + 1, cookie + 1, ACK_F | PSH_F, 65535, "cookie", 6, NULL);
	struct tcp_conn *c = conn_of(7001);
	assert_non_null(c);
	assert_int_equal(c->state, TCP_ESTABLISHED);
	assert_int_equal(c->mss, 1460);
	assert_int_equal(c->snd_wscale, 0);
	assert_int_equal(A.nrx, 6);
	/* a cookie from two periods ago is stale */
	now_ms += 3 * 64 * 1000;
	nout = 0;
	peer_send(7002, ISN, 0, SYN_F, 65535, NULL, 0, &o);
	uint32_t old = outq[0].seq;
	now_ms += 130 * 1000;
	peer_send(7002, ISN + 1, old + 1, ACK_F, 65535, NULL, 0, NULL);
	assert_null(conn_of(7002));
}

static void test_connection_limit(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	cfg.open_limit = 1;
	stack_up(&cfg);
	connect_port(8000, NULL);
	assert_int_equal(open_total, 1);
	nout = 0;
	uint32_t iss = connect_port(8001, NULL);
	flush();
	static const char msg[] = "ERROR Too many open connections\r\n";
	struct out_seg *o = &outq[nout - 1];
	assert_int_equal(o->len, sizeof(msg) - 1);
	assert_memory_equal(o->data, msg, sizeof(msg) - 1);
	assert_true(o->flags & FIN_F);
	assert_int_equal(o->seq, iss + 1);
	assert_int_equal(A.accepts, 1);
	assert_int_equal(S.c.tcp_conn_refused, 1);
	assert_int_equal(open_total, 1);
}

static void test_idle_timeout(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	cfg.idle_timeout_ms = 5000;
	stack_up(&cfg);
	uint32_t iss = connect_port(9000, NULL);
	advance(3000);
	peer_send(9000, ISN + 1, iss + 1, ACK_F, 65535, "a", 1, NULL); /* activity */
	nout = 0;
	advance(4000);
	assert_int_equal(conn_of(9000)->state, TCP_ESTABLISHED);
	advance(1100);
	assert_int_equal(S.c.tcp_idle_closes, 1);
	assert_int_equal(conn_of(9000)->state, TCP_FIN_WAIT_1);
	assert_true(outq[nout - 1].flags & FIN_F);
}

static void test_hold_release(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	uint32_t iss = connect_port(5000, NULL);
	struct tcp_conn *c = conn_of(5000);
	nout = 0;
	assert_int_equal(tcp_send(&S, c, "free", 4), 0);
	tcp_hold(&S, c, tcp_snd_end(c)); /* what follows waits (a sync-mode write) */
	assert_int_equal(tcp_send(&S, c, "STORED\r\n", 8), 0);
	tcp_close(&S, c);
	flush();
	assert_int_equal(nout, 1);
	assert_int_equal(outq[0].len, 4);
	assert_false(outq[0].flags & FIN_F);
	advance(50);
	assert_int_equal(nout, 1);
	tcp_release(&S, c);
	flush();
	assert_int_equal(nout, 2);
	assert_int_equal(outq[1].seq, iss + 5);
	assert_memory_equal(outq[1].data, "STORED\r\n", 8);
	assert_true(outq[1].flags & FIN_F);
}

/* Sequence numbers that wrap past 2^32 mid-stream, in order and out of order. */
static void test_seq_wraparound(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	const uint32_t isn = 0xfffffff0u;
	struct opts o = { .mss = 1460, .wscale = 7, .sack = true };
	peer_send(5000, isn, 0, SYN_F, 65535, NULL, 0, &o);
	uint32_t iss = outq[0].seq;
	peer_send(5000, isn + 1, iss + 1, ACK_F, 65535, NULL, 0, NULL);
	nout = 0;
	/* bytes 0..9 end at 0xfffffffb; 20..29 arrive first, across the wrap */
	peer_send(5000, isn + 21, iss + 1, ACK_F, 65535, "uvwxyz0123", 10, NULL);
	flush();
	assert_int_equal(outq[nout - 1].ack, isn + 1);
	assert_int_equal(outq[nout - 1].sack[0][0], isn + 21);
	peer_send(5000, isn + 1, iss + 1, ACK_F, 65535, "ABCDEFGHIJ", 10, NULL);
	peer_send(5000, isn + 11, iss + 1, ACK_F, 65535, "KLMNOPQRST", 10, NULL);
	assert_int_equal(A.nrx, 30);
	assert_memory_equal(A.rx, "ABCDEFGHIJKLMNOPQRSTuvwxyz0123", 30);
	flush();
	assert_int_equal(outq[nout - 1].ack, (uint32_t)(isn + 31)); /* 0x0000000f */
	/* our side: data acknowledged across our own wrap is released */
	struct tcp_conn *c = conn_of(5000);
	c->snd_una = c->snd_nxt = c->snd_max = 0xfffffffau; /* as if iss had been there */
	nout = 0;
	assert_int_equal(tcp_send(&S, c, "0123456789", 10), 0);
	flush();
	assert_int_equal(outq[0].seq, 0xfffffffau);
	peer_send(5000, isn + 31, 0x4u, ACK_F, 65535, NULL, 0, NULL);
	assert_int_equal(c->sb.len, 0);
	assert_int_equal(c->snd_una, 4);
}

/* A SYN whose handshake never completes: SYN-ACK resent with backoff, then forgotten. */
static void test_half_open_expires(void **state)
{
	(void)state;
	struct tcp_cfg cfg = base_cfg();
	stack_up(&cfg);
	peer_send(5000, ISN, 0, SYN_F, 65535, NULL, 0, NULL);
	assert_int_equal(S.nsyn, 1);
	advance(60000);
	assert_int_equal(nout, 1 + TCP_SYNACK_MAX); /* the first and its retransmissions */
	assert_int_equal(S.nsyn, 0);
	assert_null(conn_of(5000));
	assert_int_equal(A.accepts, 0);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=test_tcp_%d", (int)getpid());
	char *argv[] = { "test_tcp", "--no-huge", "-m", "64", "--no-pci", "--no-shconf", prefix,
			 "--log-level=*:error", "-l", "0", NULL };
	if (rte_eal_init(10, argv) < 0) {
		fprintf(stderr, "test_tcp: EAL init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("test_tcp", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_handshake_options, teardown),
		cmocka_unit_test_teardown(test_data_delayed_ack, teardown),
		cmocka_unit_test_teardown(test_out_of_order_sack, teardown),
		cmocka_unit_test_teardown(test_window_and_unacceptable, teardown),
		cmocka_unit_test_teardown(test_retransmit_backoff, teardown),
		cmocka_unit_test_teardown(test_fast_retransmit, teardown),
		cmocka_unit_test_teardown(test_zero_window_probe, teardown),
		cmocka_unit_test_teardown(test_rst_and_syn_checks, teardown),
		cmocka_unit_test_teardown(test_passive_close_half_close, teardown),
		cmocka_unit_test_teardown(test_active_close_time_wait_bounded, teardown),
		cmocka_unit_test_teardown(test_syn_cookies, teardown),
		cmocka_unit_test_teardown(test_connection_limit, teardown),
		cmocka_unit_test_teardown(test_idle_timeout, teardown),
		cmocka_unit_test_teardown(test_hold_release, teardown),
		cmocka_unit_test_teardown(test_seq_wraparound, teardown),
		cmocka_unit_test_teardown(test_half_open_expires, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return rc;
}
