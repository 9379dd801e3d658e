/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the dataplane TCP stack: the input is a script of
 * segments from two peers (any flags, sequence and ACK numbers near what
 * the stack expects, windows, raw option bytes, payloads), clock jumps,
 * flushes and application actions (close, abort, hold, release, send). The
 * application echoes what it receives. After every input the stack is torn
 * down and every packet buffer must be back in the pool: a segment held
 * out of order and never freed shows up here, not only under LSan.
 * Checksums are vouched for by the RX offload flag so the fuzzer reaches
 * the state machine rather than the checksum check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_random.h>
#include <rte_tcp.h>

#include "net/tcp.h"

#define HZ 1000000000ULL
#define NPEER 2

static struct rte_mempool *pool;
static struct tcp_stack st;
static uint64_t now_ms;
static uint32_t srv_next[NPEER], srv_ack[NPEER], peer_next[NPEER];
static uint32_t buffered;
static int app_state;

static void tx_hook(void *ctx, struct rte_mbuf *m)
{
	(void)ctx;
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
								RTE_ETHER_HDR_LEN);
	const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)(ip + 1);
	unsigned port = rte_be_to_cpu_16(th->dst_port) & 1;
	uint32_t len = rte_be_to_cpu_16(ip->total_length) - 20u - (th->data_off >> 4) * 4u;
	uint32_t end = rte_be_to_cpu_32(th->sent_seq) + len +
		       ((th->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)) ? 1 : 0);
	if ((int32_t)(end - srv_next[port]) > 0 || (th->tcp_flags & RTE_TCP_SYN_FLAG))
		srv_next[port] = end;
	srv_ack[port] = rte_be_to_cpu_32(th->recv_ack);
	rte_pktmbuf_free(m);
}

static int a_accept(struct tcp_stack *s, struct tcp_conn *c)
{
	(void)s;
	c->app = &app_state;
	return 0;
}

static void a_recv(struct tcp_stack *s, struct tcp_conn *c, const uint8_t *p, uint32_t n)
{
	if (n > 0 && p[0] == 'q')
		tcp_close(s, c);
	else if (n > 0 && p[0] == 'x')
		tcp_abort(s, c); /* frees c under the stack's feet */
	else
		(void)tcp_send(s, c, p, n);
}

static void a_fin(struct tcp_stack *s, struct tcp_conn *c)
{
	tcp_close(s, c);
}

static uint32_t a_buffered(struct tcp_stack *s, struct tcp_conn *c)
{
	(void)s;
	(void)c;
	return buffered;
}

static const struct tcp_app app = {
	.accept = a_accept, .recv = a_recv, .fin = a_fin, .buffered = a_buffered,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=fuzz_tcp_%d", (int)getpid());
	char *eargv[] = { "fuzz_tcp", "--no-huge", "-m", "64", "--no-pci", "--no-shconf", prefix,
			  "--log-level=*:error", "-l", "0", NULL };
	if (rte_eal_init(10, eargv) < 0)
		abort();
	pool = rte_pktmbuf_pool_create("fuzz_tcp", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL)
		abort();
	return 0;
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint32_t take(struct in *in, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->n > 0) {
			v |= *in->p++;
			in->n--;
		}
	}
	return v;
}

static uint64_t t0;

static uint64_t tsc(void)
{
	return t0 + now_ms * (HZ / 1000);
}

static void segment(struct in *in)
{
	unsigned port = take(in, 1) & 1;
	uint8_t flags = (uint8_t)take(in, 1);
	int32_t dseq = (int16_t)take(in, 2), dack = (int8_t)take(in, 1);
	uint16_t wnd = (uint16_t)take(in, 2);
	unsigned optlen = (take(in, 1) % 11) * 4;
	unsigned paylen = take(in, 2) % 1461;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		abort();
	uint16_t iplen = (uint16_t)(40 + optlen + paylen);
	uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(RTE_ETHER_HDR_LEN + iplen));
	if (f == NULL)
		abort();
	memset(f, 0, RTE_ETHER_HDR_LEN + 40);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	uint8_t *o = (uint8_t *)(th + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(iplen);
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(0xc6120002);
	ip->dst_addr = rte_cpu_to_be_32(0xc6120001);
	th->src_port = rte_cpu_to_be_16((uint16_t)(40000 + port));
	th->dst_port = rte_cpu_to_be_16(11211);
	uint32_t seq = peer_next[port] + (uint32_t)dseq;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(srv_next[port] + (uint32_t)dack);
	th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(wnd);
	for (unsigned i = 0; i < optlen; i++)
		o[i] = (uint8_t)take(in, 1);
	for (unsigned i = 0; i < paylen; i++)
		o[optlen + i] = (uint8_t)("set k 0 0 1\r\nv\r\nget k\r\nq"[(i + seq) % 25]);
	if (paylen > 0 && in->n > 0)
		o[optlen] = (uint8_t)take(in, 1);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	if ((int32_t)(seq + paylen - peer_next[port]) > 0 || (flags & RTE_TCP_SYN_FLAG))
		peer_next[port] = seq + paylen + ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)) ? 1 : 0);
	tcp_input(&st, m, ip, th, iplen, tsc());
}

static struct tcp_conn *conn_of(unsigned port)
{
	for (uint32_t i = 0; i < st.nslots; i++)
		if (st.conns[i].state != TCP_CLOSED &&
		    st.conns[i].rport == rte_cpu_to_be_16((uint16_t)(40000 + port)))
			return &st.conns[i];
	return NULL;
}

static void action(struct in *in)
{
	unsigned port = take(in, 1) & 1, what = take(in, 1) % 6;
	struct tcp_conn *c = conn_of(port);
	if (c == NULL || c->app == NULL)
		return;
	switch (what) {
	case 0: tcp_close(&st, c); break;
	case 1: tcp_abort(&st, c); break;
	case 2: tcp_hold(&st, c, tcp_snd_end(c)); break;
	case 3: tcp_release(&st, c); break;
	case 4: {
		static uint8_t big[70000];
		(void)tcp_send(&st, c, big, take(in, 2) + 1);
		break;
	}
	default:
		buffered = take(in, 3);
		tcp_window_update(&st, c);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct tcp_cfg cfg = {
		.ip = rte_cpu_to_be_32(0xc6120001),
		.port = 11211,
		.max_conns = 4,
		.syn_backlog = 1 + (size & 1),
		.idle_timeout_ms = (size & 2) ? 3000 : 0,
		.rto_min_ms = 20,
		.time_wait_max = 1,
		.time_wait_ms = 500,
		.rcvbuf = 8192,
		.ooo_max = 64,
		.cookie_secret = { 7, 9 },
	};
	rte_srand(1);
	now_ms = 0;
	buffered = 0;
	memset(srv_next, 0, sizeof(srv_next));
	memset(srv_ack, 0, sizeof(srv_ack));
	for (unsigned i = 0; i < NPEER; i++)
		peer_next[i] = 1000u * (i + 1);
	unsigned before = rte_mempool_avail_count(pool);
	if (tcp_stack_init(&st, "fuzz_tcp", &cfg, 8, pool, HZ, tx_hook, NULL, &app, NULL) != 0)
		abort();
	t0 = st.now_tsc;
	for (unsigned steps = 0; in.n > 0 && steps < 400; steps++) {
		unsigned op = take(&in, 1) % 8;
		if (op < 5) {
			segment(&in);
		} else if (op == 5) {
			now_ms += take(&in, 2);
			tcp_timers(&st, tsc());
		} else if (op == 6) {
			tcp_flush(&st);
		} else {
			action(&in);
		}
	}
	tcp_flush(&st);
	tcp_stack_fini(&st);
	if (rte_mempool_avail_count(pool) != before) {
		fprintf(stderr, "fuzz_tcp: %u packet buffers not returned\n",
			before - rte_mempool_avail_count(pool));
		abort();
	}
	return 0;
}
