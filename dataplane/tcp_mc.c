/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcached over the dataplane's TCP. Each lcore runs one TCP stack (its
 * RSS queue's connections) and the stream driver per connection: bytes are
 * parsed straight from the received segment, and replies are written
 * straight into the connection's send ring. Requests are answered in order:
 *   - a request that changes another lcore's partition is copied into a
 *     message for the owner (over the lcore-pair ring, tagged); the
 *     connection reads nothing more until the reply comes back, then goes
 *     on from the next request;
 *   - a connection whose unsent replies pass DP_TCP_SND_HIWAT stops
 *     starting requests until the peer has taken half of them, so a client
 *     that does not read cannot make the appliance buffer without bound;
 *   - the peer's FIN closes the connection once every reply is queued.
 * A connection that arrives when max_conns are open gets memcached's
 * "ERROR Too many open connections" and is closed (in tcp.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "dp.h"
#include "proto/mc_conn.h"

#define DP_TCP_SND_HIWAT (1u << 20)

struct dp_tcp_mc {
	struct mc_stream s;
	bool waiting;     /* a forwarded request is out */
	bool fin;         /* the peer has closed its side */
	/*
	 * wal_mode=sync: replies of logged writes are held until the LSNs they
	 * need are durable, in two batches: the sealed one (its needs fixed,
	 * waiting for the log) and the open one (collecting the needs of
	 * later writes). Nothing from the sealed batch's first byte on is
	 * sent; when its needs are met the open batch is sealed in turn, so
	 * a connection that keeps writing is never starved.
	 */
	uint64_t *need;   /* [2][nlcores] LSN each lcore's log must reach; NULL: none yet */
	uint32_t seal_seq, open_seq; /* where each batch's bytes begin */
	bool sealed, opened, listed;
	uint32_t rx_tick;  /* lcore tick of its last request bytes, + 1 */
};

/*
 * A request on its way to its partition's owner, and its reply on the way
 * back. Small ones (the usual set, incr, delete and their replies) come
 * from a mempool with both inline; a larger request or reply goes to the
 * heap. Either way nothing is allocated per packet.
 */
#define TFWD_SIZE 4096
#define TFWD_REPLY_INLINE 256

struct dp_tfwd {
	struct dp_tfwd *next;     /* backlog list */
	uint16_t origin;
	bool done;                /* executed: on its way back */
	bool heap;                /* malloc'd (request too large for the pool) */
	uint8_t result;           /* enum mc_exec_result of the run */
	uint32_t slot, gen;
	uint64_t flush_done;
	uint8_t *reply;           /* reply_inline or heap */
	size_t reply_len, reply_cap;
	uint8_t reply_inline[TFWD_REPLY_INLINE];
	uint64_t wal_mask;        /* lcores whose log got a record of this request */
	uint64_t wal_lsn[DP_LCORES_MAX]; /* valid where wal_mask has the bit */
	uint32_t req_len;
	uint8_t req[];
};
#define TFWD_REQ_INLINE (TFWD_SIZE - offsetof(struct dp_tfwd, req))

static struct rte_mempool *tfwd_pool;

static struct dp_lcore *lc_of(struct tcp_stack *st)
{
	return st->app_ctx;
}

static void tx_hook(void *ctx, struct rte_mbuf *m)
{
	dp_tx(ctx, m);
}

/* ---- forwarding ---- */

static void fwd_send(struct dp_lcore *lc, unsigned to, struct dp_tfwd *f)
{
	void *msg = (void *)((uintptr_t)f | 1);

	if (lc->tfwd_head[to] == NULL && rte_ring_sp_enqueue(lc->dp->fwd[lc->idx][to], msg) == 0) {
		lc->c.fwd_out++;
		return;
	}
	/* Ring full: keep it in order behind the others; never lose it (the
	 * request was acknowledged at the TCP level). */
	f->next = NULL;
	if (lc->tfwd_tail[to] != NULL)
		lc->tfwd_tail[to]->next = f;
	else
		lc->tfwd_head[to] = f;
	lc->tfwd_tail[to] = f;
	lc->tfwd_backlog++;
	lc->c.fwd_full++;
}

static void fwd_retry(struct dp_lcore *lc)
{
	for (unsigned to = 0; to < lc->dp->nlcores && lc->tfwd_backlog > 0; to++) {
		struct dp_tfwd *f;
		while ((f = lc->tfwd_head[to]) != NULL &&
		       rte_ring_sp_enqueue(lc->dp->fwd[lc->idx][to], (void *)((uintptr_t)f | 1)) == 0) {
			lc->tfwd_head[to] = f->next;
			if (f->next == NULL)
				lc->tfwd_tail[to] = NULL;
			lc->tfwd_backlog--;
			lc->c.fwd_out++;
		}
	}
}

static int reply_flush(struct mc_out *o)
{
	struct dp_tfwd *f = o->owner;
	f->reply_len += o->len;
	if (f->reply_len == f->reply_cap) {
		size_t cap = f->reply_cap * 2;
		uint8_t *p = f->reply == f->reply_inline ? malloc(cap) : realloc(f->reply, cap);
		if (p == NULL)
			return -ENOMEM;
		if (f->reply == f->reply_inline)
			memcpy(p, f->reply_inline, f->reply_len);
		f->reply = p;
		f->reply_cap = cap;
	}
	o->buf = f->reply + f->reply_len;
	o->len = 0;
	o->cap = f->reply_cap - f->reply_len;
	return 0;
}

/* Run a forwarded request on this lcore (an owner of what it changes). */
static void fwd_execute(struct dp_lcore *lc, struct dp_tfwd *f)
{
	struct mc_exec *x = &lc->x;
	struct mc_request req;
	size_t used = 0;
	struct mc_out o = { .flush = reply_flush, .owner = f };

	lc->c.fwd_in++;
	reply_flush(&o);
	if (o.cap == 0 ||
	    mc_parse(f->req, f->req_len, &x->cfg.limits, &req, &used) != MC_PARSE_OK) {
		/* It parsed on the origin: only memory can make this fail. */
		static const char err[] = "SERVER_ERROR out of memory\r\n";
		if (o.cap >= sizeof(err) - 1) {
			memcpy(o.buf, err, sizeof(err) - 1);
			o.len = sizeof(err) - 1;
		}
		f->result = MC_EXEC_OK;
	} else {
		x->flush_done = f->flush_done;
		uint64_t lsn0 = x->wal_lsn;
		enum mc_exec_result r = mc_exec_request(x, &req, &o);
		f->flush_done = x->flush_done;
		x->flush_done = 0;
		if (x->wal_lsn != lsn0) {
			/* logged here: the reply waits for this lcore's log (sync) */
			f->wal_mask |= 1ULL << lc->idx;
			f->wal_lsn[lc->idx] = x->wal_lsn;
		}
		if (r == MC_EXEC_FORWARD) {
			f->reply_len += o.len;
			fwd_send(lc, x->fwd_part, f);
			return;
		}
		f->result = (uint8_t)r;
	}
	f->reply_len += o.len;
	f->done = true;
	if (f->origin == lc->idx)
		dp_tcp_msg(lc, (void *)((uintptr_t)f | 1));
	else
		fwd_send(lc, f->origin, f);
}

static struct dp_tfwd *fwd_alloc(size_t req_len)
{
	struct dp_tfwd *f = NULL;
	bool heap = req_len > TFWD_REQ_INLINE || rte_mempool_get(tfwd_pool, (void **)&f) != 0;

	if (heap && (f = malloc(sizeof(*f) + req_len)) == NULL)
		return NULL;
	memset(f, 0, offsetof(struct dp_tfwd, reply_inline));
	f->wal_mask = 0;
	f->heap = heap;
	f->reply = f->reply_inline;
	f->reply_cap = TFWD_REPLY_INLINE;
	f->req_len = (uint32_t)req_len;
	return f;
}

static void fwd_free(struct dp_tfwd *f)
{
	if (f->reply != f->reply_inline)
		free(f->reply);
	if (f->heap)
		free(f);
	else
		rte_mempool_put(tfwd_pool, f);
}

/* ---- the stream on a connection ---- */

/* ---- sync mode: replies held until their log records are durable ---- */

static void hold_seal(struct dp_lcore *lc, struct dp_tcp_mc *m)
{
	unsigned n = lc->dp->nlcores;
	memcpy(m->need, m->need + n, n * sizeof(*m->need));
	m->seal_seq = m->open_seq;
	m->sealed = true;
	m->opened = false;
}

static void hold_poll(struct dp_lcore *lc);

/* Bytes from begin on need lcore owner's log durable up to lsn. */
static int hold_add(struct dp_lcore *lc, struct tcp_conn *c, unsigned owner, uint64_t lsn,
		    uint32_t begin)
{
	struct dp_tcp_mc *m = c->app;
	unsigned n = lc->dp->nlcores;

	if (m->need == NULL && (m->need = calloc(2 * n, sizeof(*m->need))) == NULL)
		return -1;
	if (!m->opened) {
		memset(m->need + n, 0, n * sizeof(*m->need));
		m->open_seq = begin;
		m->opened = true;
	}
	if (m->need[n + owner] < lsn)
		m->need[n + owner] = lsn;
	if (!m->sealed)
		hold_seal(lc, m);
	tcp_hold(lc->tcp, c, m->seal_seq);
	if (!m->listed) {
		if (lc->ntcp_held == 2 * lc->tcp->nslots)
			hold_poll(lc); /* drops entries of closed connections */
		m->listed = true;
		lc->tcp_held[lc->ntcp_held++] = (struct dp_tcp_ref){ c->slot, c->gen };
	}
	lc->tcp->c.tcp_sync_holds++;
	return 0;
}

static bool hold_met(const struct dp_lcore *lc, const uint64_t *need)
{
	for (unsigned i = 0; i < lc->dp->nlcores; i++)
		if (need[i] != 0 && dp_wal_durable_lsn(lc->dp, i) < need[i])
			return false;
	return true;
}

/* Release what the published durable LSNs now cover (once per loop). */
static void hold_poll(struct dp_lcore *lc)
{
	unsigned keep = 0;

	for (unsigned i = 0; i < lc->ntcp_held; i++) {
		struct dp_tcp_ref r = lc->tcp_held[i];
		struct tcp_conn *c = tcp_conn_get(lc->tcp, r.slot, r.gen);
		if (c == NULL || c->app == NULL)
			continue; /* closed meanwhile */
		struct dp_tcp_mc *m = c->app;
		while (m->sealed && hold_met(lc, m->need)) {
			m->sealed = false;
			if (m->opened)
				hold_seal(lc, m);
		}
		if (m->sealed) {
			tcp_hold(lc->tcp, c, m->seal_seq);
			lc->tcp_held[keep++] = r;
		} else {
			tcp_release(lc->tcp, c);
			m->listed = false;
		}
	}
	lc->ntcp_held = keep;
}

static void conn_run(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n);

static void conn_after(struct tcp_stack *st, struct tcp_conn *c, enum mc_exec_result r)
{
	struct dp_lcore *lc = lc_of(st);
	struct dp_tcp_mc *m = c->app;

	if (r == MC_EXEC_CLOSE) {
		tcp_close(st, c);
		return;
	}
	if (r == MC_EXEC_FORWARD) {
		size_t len = m->s.fwd_len;
		struct dp_tfwd *f = fwd_alloc(len);
		if (f == NULL) {
			tcp_abort(st, c);
			return;
		}
		f->origin = (uint16_t)lc->idx;
		f->slot = c->slot;
		f->gen = c->gen;
		f->flush_done = lc->x.flush_done;
		lc->x.flush_done = 0;
		memcpy(f->req, m->s.buf, len);
		m->waiting = true;
		fwd_send(lc, lc->x.fwd_part, f);
		return;
	}
	if (m->fin && !m->s.stopped)
		tcp_close(st, c); /* everything the peer sent is answered */
}

static void conn_run(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n)
{
	struct dp_lcore *lc = lc_of(st);
	struct dp_tcp_mc *m = c->app;
	struct tcp_out to;
	uint32_t q = tcp_sndq(c);

	m->s.out_limit = q < DP_TCP_SND_HIWAT ? DP_TCP_SND_HIWAT - q : 1;
	uint64_t lsn0 = lc->x.wal_lsn;
	uint32_t begin = tcp_snd_end(c);
	tcp_out_open(&to, st, c);
	enum mc_exec_result r = mc_stream_input(&lc->x, &m->s, p, n, &to.o);
	if (tcp_out_close(&to) != 0) {
		/* A reply past the send ring's ceiling: nothing sane to send. */
		tcp_abort(st, c);
		return;
	}
	/* Sync mode: what these requests answered waits for their records. A
	 * write with no reply (noreply) has nothing to hold. */
	if (unlikely(lc->x.wal_lsn != lsn0) && dp_wal_sync(lc->dp) && tcp_snd_end(c) != begin &&
	    hold_add(lc, c, lc->idx, lc->x.wal_lsn, begin) != 0) {
		tcp_abort(st, c);
		return;
	}
	conn_after(st, c, r);
}

static int app_accept(struct tcp_stack *st, struct tcp_conn *c)
{
	struct dp_lcore *lc = lc_of(st);
	struct dp_tcp_mc *m = &lc->tmc[c->slot];

	mc_stream_init(&m->s);
	m->waiting = m->fin = false;
	m->sealed = m->opened = m->listed = false;
	m->rx_tick = 0;
	c->app = m;
	__atomic_fetch_add(&lc->dp->info.curr_connections, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&lc->dp->info.total_connections, 1, __ATOMIC_RELAXED);
	return 0;
}

static bool conn_paused(const struct dp_tcp_mc *m)
{
	return m->waiting || m->s.stopped;
}

static void app_recv(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n)
{
	struct dp_tcp_mc *m = c->app;
	struct dp_lcore *lc = lc_of(st);

	/* connections with requests in this tick, for TX coalescing */
	if (m->rx_tick != lc->tick_no + 1) {
		m->rx_tick = lc->tick_no + 1;
		lc->flows++;
	}

	if (conn_paused(m)) {
		if (mc_stream_append(&m->s, p, n) != 0)
			tcp_abort(st, c);
		return;
	}
	conn_run(st, c, p, n);
}

static void app_fin(struct tcp_stack *st, struct tcp_conn *c)
{
	struct dp_tcp_mc *m = c->app;

	m->fin = true;
	if (!conn_paused(m))
		tcp_close(st, c);
}

/* Go on with carried bytes after a pause. */
static void conn_resume(struct tcp_stack *st, struct tcp_conn *c)
{
	struct dp_tcp_mc *m = c->app;
	static const uint8_t none;

	if (m->s.len > 0)
		conn_run(st, c, &none, 0);
	else
		conn_after(st, c, MC_EXEC_OK);
	if (tcp_conn_get(st, c->slot, c->gen) == c)
		tcp_window_update(st, c);
}

static void app_sent(struct tcp_stack *st, struct tcp_conn *c)
{
	struct dp_tcp_mc *m = c->app;

	if (m->s.stopped && !m->waiting && tcp_sndq(c) < DP_TCP_SND_HIWAT / 2) {
		m->s.stopped = false;
		conn_resume(st, c);
	}
}

static void app_closed(struct tcp_stack *st, struct tcp_conn *c)
{
	struct dp_tcp_mc *m = c->app;

	mc_stream_free(&m->s);
	free(m->need);
	m->need = NULL;
	__atomic_fetch_sub(&lc_of(st)->dp->info.curr_connections, 1, __ATOMIC_RELAXED);
}

static uint32_t app_buffered(struct tcp_stack *st, struct tcp_conn *c)
{
	const struct dp_tcp_mc *m = c->app;
	(void)st;
	return (uint32_t)m->s.len;
}

/* ---- connections another lcore holds ---- */

static uint64_t owner_key(uint32_t rip, uint16_t rport)
{
	return ((uint64_t)rip << 16) | rport;
}

static _Atomic uint64_t *owner_set(const struct dp *dp, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;
	return &dp->tcp_owner[((h >> 32) & (dp->tcp_owner_sets - 1)) * 4];
}

static void app_bind(struct tcp_stack *st, const struct tcp_conn *c, bool on)
{
	struct dp_lcore *lc = lc_of(st);
	struct dp *dp = lc->dp;
	if (dp->tcp_owner == NULL)
		return;
	uint64_t key = owner_key(c->rip, c->rport);
	uint64_t v = (key << 8) | (lc->idx + 1);
	_Atomic uint64_t *set = owner_set(dp, key);
	for (unsigned w = 0; w < 4; w++) {
		uint64_t cur = atomic_load_explicit(&set[w], memory_order_relaxed);
		if (!on) {
			if (cur == v)
				atomic_compare_exchange_strong(&set[w], &cur, 0);
			continue;
		}
		if ((cur >> 8) == key || (cur == 0 && atomic_compare_exchange_strong(&set[w], &cur, v))) {
			atomic_store_explicit(&set[w], v, memory_order_release);
			return;
		}
	}
	if (on) /* a full set: the newest wins (an older entry's spills are then reset) */
		atomic_store_explicit(&set[key & 3], v, memory_order_release);
}

static bool app_elsewhere(struct tcp_stack *st, struct rte_mbuf *m, uint32_t rip, uint16_t rport)
{
	struct dp_lcore *lc = lc_of(st);
	struct dp *dp = lc->dp;
	if (dp->tcp_owner == NULL)
		return false;
	uint64_t key = owner_key(rip, rport);
	_Atomic uint64_t *set = owner_set(dp, key);
	for (unsigned w = 0; w < 4; w++) {
		uint64_t cur = atomic_load_explicit(&set[w], memory_order_acquire);
		unsigned owner = (unsigned)(cur & 0xff);
		if ((cur >> 8) != key || owner == 0 || owner - 1 == lc->idx || owner > dp->nlcores)
			continue;
		if (rte_ring_sp_enqueue(dp->fwd[lc->idx][owner - 1], (void *)((uintptr_t)m | 2)) != 0) {
			lc->c.fwd_full++;
			rte_pktmbuf_free(m); /* the peer retransmits it */
		}
		return true;
	}
	return false;
}

void dp_tcp_seg_in(struct dp_lcore *lc, void *msg)
{
	struct rte_mbuf *m = (struct rte_mbuf *)((uintptr_t)msg & ~(uintptr_t)3);
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
							       RTE_ETHER_HDR_LEN);
	const uint8_t *tcp = (const uint8_t *)ip + (ip->version_ihl & 0xf) * 4;

	/* net.c checked the headers on the lcore that received it */
	lc->tcp->handed = true;
	tcp_input(lc->tcp, m, ip, tcp, rte_be_to_cpu_16(ip->total_length), rte_rdtsc());
	lc->tcp->handed = false;
}

static const struct tcp_app mc_app = {
	.accept = app_accept,
	.recv = app_recv,
	.fin = app_fin,
	.sent = app_sent,
	.closed = app_closed,
	.buffered = app_buffered,
	.bind = app_bind,
	.elsewhere = app_elsewhere,
};

void dp_tcp_msg(struct dp_lcore *lc, void *msg)
{
	struct dp_tfwd *f = (struct dp_tfwd *)((uintptr_t)msg & ~(uintptr_t)1);

	if (!f->done) {
		fwd_execute(lc, f);
		return;
	}
	struct tcp_conn *c = tcp_conn_get(lc->tcp, f->slot, f->gen);
	if (c == NULL || c->app == NULL) {
		fwd_free(f); /* the connection went away meanwhile */
		return;
	}
	struct dp_tcp_mc *m = c->app;
	m->waiting = false;
	mc_stream_skip(&m->s, f->req_len);
	uint32_t begin = tcp_snd_end(c);
	if (f->reply_len > 0 && tcp_send(lc->tcp, c, f->reply, (uint32_t)f->reply_len) != 0) {
		fwd_free(f);
		tcp_abort(lc->tcp, c);
		return;
	}
	/* Sync mode: the reply waits for the logs of the lcores that ran it. */
	for (uint64_t mask = f->wal_mask; mask != 0 && f->reply_len > 0 && dp_wal_sync(lc->dp);
	     mask &= mask - 1) {
		unsigned owner = (unsigned)__builtin_ctzll(mask);
		if (hold_add(lc, c, owner, f->wal_lsn[owner], begin) != 0) {
			fwd_free(f);
			tcp_abort(lc->tcp, c);
			return;
		}
	}
	enum mc_exec_result r = (enum mc_exec_result)f->result;
	fwd_free(f);
	if (r == MC_EXEC_CLOSE) {
		tcp_close(lc->tcp, c);
		return;
	}
	conn_resume(lc->tcp, c);
}

/* ---- setup and the loop ---- */

int dp_tcp_setup(struct dp *dp)
{
	dp->tcp_port = (uint16_t)dp->set.tcp_port;
	if (dp->tcp_port == 0)
		return 0;
	if (dp->nlcores > 1 &&
	    (tfwd_pool = rte_mempool_create("px_tfwd", 1024 * dp->nlcores - 1, TFWD_SIZE, 64, 0,
					    NULL, NULL, NULL, NULL, (int)rte_socket_id(), 0)) == NULL) {
		fprintf(stderr, "pollux-dp: TCP forwarding buffers: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	uint32_t per = (uint32_t)(dp->set.max_conns + dp->set.tcp_syn_backlog +
				  dp->set.tcp_time_wait_max + 64);
	struct tcp_cfg cfg = {
		.ip = dp->ip,
		.port = dp->tcp_port,
		.mac = dp->mac,
		.max_conns = (uint32_t)dp->set.max_conns,
		.syn_backlog = (uint32_t)dp->set.tcp_syn_backlog,
		.idle_timeout_ms = (uint32_t)(dp->set.tcp_idle_timeout * 1000),
		.rto_min_ms = (uint32_t)dp->set.tcp_rto_min_ms,
		.time_wait_max = (uint32_t)dp->set.tcp_time_wait_max,
		.time_wait_ms = (uint32_t)dp->set.tcp_time_wait_ms,
		/* a whole request with the largest value, plus pipelining room */
		.rcvbuf = (uint32_t)dp->set.item_size_max + 64 * 1024,
		/* a quarter of the packet pool per lcore may wait out of order */
		.ooo_max = 2048,
		.tx_cksum = dp->tx_tcp_cksum,
		.cookie_secret = { rte_rand(), rte_rand() },
		.open_total = &dp->tcp_open,
		.open_limit = (uint32_t)dp->set.max_conns,
	};
	if (dp->nlcores > 1) {
		uint32_t sets = 1;
		while (sets < dp->set.max_conns + dp->set.tcp_syn_backlog * dp->nlcores)
			sets <<= 1;
		dp->tcp_owner_sets = sets;
		dp->tcp_owner = rte_zmalloc_socket("px_tcp_owner", sets * 4 * sizeof(uint64_t),
						   RTE_CACHE_LINE_SIZE, (int)rte_socket_id());
		if (dp->tcp_owner == NULL) {
			fprintf(stderr, "pollux-dp: TCP owner map: no memory\n");
			return -1;
		}
	}
	for (unsigned i = 0; i < dp->nlcores; i++) {
		struct dp_lcore *lc = dp->lc[i];
		char name[32];
		snprintf(name, sizeof(name), "px_tcp_%u", i);
		lc->tcp = rte_zmalloc_socket("px_tcp", sizeof(*lc->tcp), RTE_CACHE_LINE_SIZE,
					     (int)rte_socket_id());
		if (lc->tcp == NULL ||
		    tcp_stack_init(lc->tcp, name, &cfg, per, dp->pool, dp->tsc_hz, tx_hook, lc,
				   &mc_app, lc) != 0) {
			fprintf(stderr, "pollux-dp: TCP on lcore %u: no memory for %u connections "
					"(lower max_conns)\n", i, per);
			return -1;
		}
		lc->tmc = calloc(lc->tcp->nslots, sizeof(*lc->tmc));
		lc->tcp_held = calloc(2 * (size_t)lc->tcp->nslots, sizeof(*lc->tcp_held));
		if (lc->tmc == NULL || lc->tcp_held == NULL)
			return -1;
	}
	return 0;
}

void dp_tcp_input(struct dp_lcore *lc, struct rte_mbuf *m, const void *ip, const void *tcp,
		  uint16_t ip_len)
{
	tcp_input(lc->tcp, m, ip, tcp, ip_len, rte_rdtsc());
}

void dp_tcp_tick(struct dp_lcore *lc)
{
	/* memcached's bytes_read/bytes_written: each lcore adds what is new,
	 * once a millisecond, so the shared line is not written per segment. */
	struct tcp_stack *st = lc->tcp;
	if (st == NULL)
		return;
	uint64_t in = st->c.tcp_bytes_in - lc->tcp_pub_in, out = st->c.tcp_bytes_out - lc->tcp_pub_out;
	if (in)
		__atomic_fetch_add(&lc->dp->info.bytes_read, in, __ATOMIC_RELAXED);
	if (out)
		__atomic_fetch_add(&lc->dp->info.bytes_written, out, __ATOMIC_RELAXED);
	lc->tcp_pub_in += in;
	lc->tcp_pub_out += out;
}

void dp_tcp_poll(struct dp_lcore *lc, uint64_t now_tsc)
{
	if (lc->tcp == NULL)
		return;
	if (lc->tfwd_backlog > 0)
		fwd_retry(lc);
	if (lc->ntcp_held > 0)
		hold_poll(lc);
	tcp_timers(lc->tcp, now_tsc);
	tcp_flush(lc->tcp);
}

void dp_tcp_teardown(struct dp *dp)
{
	/* Requests still between lcores belong to nobody now. */
	for (unsigned a = 0; a < dp->nlcores; a++)
		for (unsigned b = 0; b < dp->nlcores; b++) {
			void *msg;
			if (a == b)
				continue;
			while (rte_ring_sc_dequeue(dp->fwd[a][b], &msg) == 0)
				if (dp_msg_is_tcp(msg))
					fwd_free((struct dp_tfwd *)((uintptr_t)msg & ~(uintptr_t)1));
				else if (dp_msg_is_seg(msg))
					rte_pktmbuf_free((struct rte_mbuf *)((uintptr_t)msg & ~(uintptr_t)3));
				else
					rte_mempool_put(dp->cont_pool, msg);
		}
	for (unsigned i = 0; i < dp->nlcores; i++) {
		struct dp_lcore *lc = dp->lc[i];
		for (unsigned to = 0; to < dp->nlcores; to++)
			while (lc->tfwd_head[to] != NULL) {
				struct dp_tfwd *f = lc->tfwd_head[to];
				lc->tfwd_head[to] = f->next;
				fwd_free(f);
			}
		if (lc->tcp != NULL) {
			tcp_stack_fini(lc->tcp);
			rte_free(lc->tcp);
			lc->tcp = NULL;
		}
		free(lc->tmc);
		lc->tmc = NULL;
		free(lc->tcp_held);
		lc->tcp_held = NULL;
	}
	rte_free(dp->tcp_owner);
	dp->tcp_owner = NULL;
}

void dp_tcp_print_counters(const struct dp *dp)
{
	for (unsigned i = 0; i < dp->nlcores; i++) {
		const struct tcp_stack *st = dp->lc[i]->tcp;
		if (st == NULL)
			continue;
		printf("pollux-dp: lcore %u tcp: open=%u syn_rcvd=%u time_wait=%u", i, st->nopen,
		       st->nsyn, st->ntw);
#define DP_X_PRINT(n) if (st->c.n) printf(" " #n "=%llu", (unsigned long long)st->c.n);
		TCP_COUNTERS(DP_X_PRINT)
#undef DP_X_PRINT
		printf("\n");
		/* Connections still open at exit, a few: what each was waiting for. */
		unsigned shown = 0;
		for (uint32_t s = 0; s < st->nslots && shown < 8; s++) {
			const struct tcp_conn *c = &st->conns[s];
			if (c->state == TCP_CLOSED || c->state == TCP_TIME_WAIT)
				continue;
			const struct dp_tcp_mc *m = c->app;
			shown++;
			printf("pollux-dp: lcore %u tcp conn %u %s una=%u nxt=+%u max=+%u sndq=%u "
			       "wnd=%u cwnd=%u rcv_nxt=%u adv=+%u ooo=%u buffered=%zu%s%s "
			       "rexmt=%d persist=%d backoff=%u\n",
			       i, s, tcp_state_name(c->state), c->snd_una, c->snd_nxt - c->snd_una,
			       c->snd_max - c->snd_una, c->sb.len, c->snd_wnd, c->cwnd, c->rcv_nxt,
			       c->rcv_adv - c->rcv_nxt, c->nooo, m ? m->s.len : 0,
			       m && m->waiting ? " waiting" : "", m && m->s.stopped ? " stopped" : "",
			       c->t_rexmt != 0, c->t_persist != 0, c->backoff);
		}
	}
}
