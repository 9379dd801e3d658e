/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's TCP: one stack per lcore, serving one local address and
 * port to many peers. Everything a connection needs is preallocated at
 * start (a slot array indexed by an rte_hash of the peer's address and
 * port); segments go out in mbufs from the shared pool through a TX hook;
 * timers live on a per-stack hashed timing wheel with 1 ms slots driven from
 * the lcore loop. No syscalls, no allocation per packet; the only heap
 * memory is each connection's send ring and the application's carry buffer,
 * grown on demand and bounded.
 *
 * What it does (RFC 9293 with RFC 5961's RST/SYN checks, RFC 6298 RTO,
 * RFC 5681 congestion control with fast retransmit, RFC 7323 window
 * scaling, SYN cookies when the per-lcore SYN backlog is full):
 *   - passive open only; MSS and window scale options on the handshake;
 *   - in-order data handed to the application straight from the mbuf;
 *     out-of-order segments queued (bounded) with overlaps trimmed;
 *   - a receive window that reflects the application's buffered bytes;
 *   - send from a byte ring that keeps unacknowledged data; go-back-N on
 *     RTO with exponential backoff, fast retransmit on three duplicate
 *     ACKs, zero-window probes (persist timer), delayed ACKs;
 *   - FIN both ways (half-close), TIME_WAIT bounded in count, idle timeout.
 *
 * Sequence arithmetic is modulo 2^32 throughout (seq_lt and friends).
 */
#ifndef PX_TCP_H
#define PX_TCP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "proto/mc_out.h"

#define TCP_OOO_MAX 1024          /* out-of-order segments kept per connection */
#define TCP_SACK_BLOCKS 3         /* SACK blocks per ACK (RFC 2018) */
#define TCP_MSS_DEFAULT 536       /* peer sent no MSS option (RFC 9293) */
#define TCP_WSCALE 7              /* our receive window scale */
#define TCP_INIT_CWND_SEGS 10     /* RFC 6928 */
#define TCP_RTO_INIT_MS 1000
#define TCP_RTO_MAX_MS 60000
#define TCP_REXMT_MAX 12          /* retransmissions before the connection is reset */
#define TCP_SYNACK_MAX 4          /* SYN-ACK retransmissions before a half-open is dropped */
#define TCP_DELACK_MS 20
#define TCP_FIN_WAIT2_MS 30000
#define TCP_PERSIST_GIVEUP_MS 120000 /* zero window and the peer silent this long: reset */
#define TCP_SND_MAX (64u << 20)   /* send ring ceiling: a reply larger is cut (connection closed) */
#define TCP_WHEEL_SLOTS 1024      /* 1 ms each */

/* X(name): per-stack counters (single writer, the lcore). */
#define TCP_COUNTERS(X) \
	X(tcp_rx_segs) X(tcp_tx_segs) X(tcp_accepts) X(tcp_closes) X(tcp_resets_rx) \
	X(tcp_resets_tx) X(tcp_syn_cookies_sent) X(tcp_syn_cookies_ok) X(tcp_syn_cookies_bad) \
	X(tcp_syn_drops) X(tcp_conn_refused) X(tcp_retransmits) X(tcp_fast_retransmits) \
	X(tcp_rto_expired) X(tcp_ooo_segs) X(tcp_ooo_drops) X(tcp_dup_segs) \
	X(tcp_bad_cksum) X(tcp_bad_segs) X(tcp_no_conn) X(tcp_challenge_acks) \
	X(tcp_probes) X(tcp_idle_closes) X(tcp_time_wait_reaped) X(tcp_aborts) \
	X(tcp_nomem) X(tcp_delacks) X(tcp_sack_acks) X(tcp_bytes_in) X(tcp_bytes_out) \
	X(tcp_handoffs) X(tcp_sync_holds) X(tcp_port_refused)

struct tcp_counters {
#define TCP_X_FIELD(n) uint64_t n;
	TCP_COUNTERS(TCP_X_FIELD)
#undef TCP_X_FIELD
};

enum tcp_state {
	TCP_CLOSED = 0,
	TCP_SYN_RCVD,
	TCP_ESTABLISHED,
	TCP_CLOSE_WAIT,   /* peer sent FIN; we may still send */
	TCP_FIN_WAIT_1,   /* we sent (or queued) FIN */
	TCP_FIN_WAIT_2,
	TCP_CLOSING,
	TCP_LAST_ACK,
	TCP_TIME_WAIT,
};

const char *tcp_state_name(enum tcp_state s);

/* Unacknowledged and unsent bytes: [snd_una, snd_una + len) at ring index off. */
struct tcp_sbuf {
	uint8_t *p;
	uint32_t cap;     /* power of two, 0 until the first write */
	uint32_t off;     /* ring index of the byte at snd_una */
	uint32_t len;
};

struct tcp_ooo {
	struct rte_mbuf *m;
	const uint8_t *data;
	uint32_t seq;
	uint32_t len;
};

struct tcp_conn {
	/* identity */
	uint32_t rip;                 /* peer address, network order */
	uint16_t rport;               /* peer port, network order */
	uint8_t state;
	uint16_t flags;
	uint32_t slot;
	uint32_t gen;                 /* bumped whenever the slot is freed */
	struct rte_ether_addr rmac;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_lim;             /* with TCPF_LIMIT: the application holds bytes from here */
	uint32_t snd_wnd;             /* peer's window, scaled */
	uint32_t snd_wl1, snd_wl2;
	uint32_t cwnd, ssthresh, recover;
	uint16_t mss;                 /* what we send per segment */
	uint8_t snd_wscale, rcv_wscale;
	uint8_t dupacks, backoff, synack_tries;
	struct tcp_sbuf sb;

	/* receive side */
	uint32_t irs, rcv_nxt;
	uint32_t rcv_adv;             /* right edge of the window last advertised */
	uint32_t unacked;             /* in-order data segments not yet acknowledged */
	uint32_t ooo_bytes;
	uint32_t last_ooo_seq;        /* the latest held segment (first SACK block) */
	uint16_t nooo, ooo_cap;
	struct tcp_ooo *ooo;          /* sorted by seq; allocated on first use */

	/* RTT (RFC 6298, in microseconds) */
	uint32_t srtt_us, rttvar_us, rto_ms;
	uint32_t rtt_seq;
	uint64_t rtt_tsc;

	/* timers: absolute ms deadlines, 0 = off; one wheel entry at the earliest */
	uint64_t t_rexmt, t_delack, t_persist, t_idle, t_close;
	uint64_t wheel_at;
	struct tcp_conn *wnext, *wprev;
	struct tcp_conn *twnext, *twprev; /* TIME_WAIT FIFO */
	uint64_t last_rx_ms;

	void *app;                    /* the application's per-connection state */
};

/* conn->flags */
#define TCPF_ACK_NOW     0x01     /* send an ACK at the next output */
#define TCPF_FIN_QUEUED  0x02     /* the application closed: FIN after the data */
#define TCPF_FIN_SENT    0x04
#define TCPF_FIN_RCVD    0x08
#define TCPF_PENDING     0x10     /* on the output pending list */
#define TCPF_RECOVERY    0x20     /* in fast recovery */
#define TCPF_RTT         0x40     /* timing rtt_seq */
#define TCPF_COOKIE      0x80     /* opened from a SYN cookie (no window scaling) */
#define TCPF_DUPACK      0x100    /* a pure (duplicate) ACK is owed: out of order input */
#define TCPF_SACK        0x200    /* the peer takes SACK blocks (RFC 2018) */
#define TCPF_LIMIT       0x400    /* send nothing at or past snd_lim (held replies) */

struct tcp_stack;

/* What the stack calls in the application; every hook is optional but recv. */
struct tcp_app {
	/* A connection is established; return -1 to refuse it (it is reset). */
	int (*accept)(struct tcp_stack *st, struct tcp_conn *c);
	/* In-order bytes. The pointer is valid during the call only. */
	void (*recv)(struct tcp_stack *st, struct tcp_conn *c, const uint8_t *p, uint32_t n);
	/* The peer sent FIN: no more bytes will come. */
	void (*fin)(struct tcp_stack *st, struct tcp_conn *c);
	/* Send ring space was freed (acknowledged). */
	void (*sent)(struct tcp_stack *st, struct tcp_conn *c);
	/* The connection is gone (closed, reset or timed out); free app state. */
	void (*closed)(struct tcp_stack *st, struct tcp_conn *c);
	/* The application's buffered, unprocessed input (shrinks the window). */
	uint32_t (*buffered)(struct tcp_stack *st, struct tcp_conn *c);
	/*
	 * Several stacks on one port: a connection slot is taken (on) or let
	 * go (off), and a segment matched no connection here: return true when
	 * the hook took m (the connection lives in another stack).
	 */
	void (*bind)(struct tcp_stack *st, const struct tcp_conn *c, bool on);
	bool (*elsewhere)(struct tcp_stack *st, struct rte_mbuf *m, uint32_t rip, uint16_t rport);
};

struct tcp_cfg {
	uint32_t ip;                  /* network order */
	uint16_t port;                /* host order */
	struct rte_ether_addr mac;
	uint32_t max_conns;           /* slots of this stack that may be open */
	uint32_t syn_backlog;
	uint32_t idle_timeout_ms;     /* 0: never */
	uint32_t rto_min_ms;
	uint32_t time_wait_max;
	uint32_t time_wait_ms;
	uint32_t rcvbuf;              /* the most input buffered per connection */
	uint32_t ooo_max;             /* mbufs all connections may hold out of order */
	bool tx_cksum;                /* port computes IPv4 and TCP checksums */
	uint64_t cookie_secret[2];
	/* Connections open across every stack of the process (limit max_conns). */
	_Atomic uint32_t *open_total;
	uint32_t open_limit;
};

struct tcp_stack {
	struct tcp_cfg cfg;
	struct rte_mempool *pool;
	struct rte_hash *hash;
	struct tcp_conn *conns;       /* nslots */
	uint32_t nslots;
	uint32_t nsyn;                /* SYN_RCVD connections */
	uint32_t nopen;               /* connections with an application */
	uint32_t ntw;                 /* TIME_WAIT */
	uint32_t ooo_held;            /* mbufs held out of order, all connections */
	bool handed;                  /* the segment in tcp_input came from another stack */
	struct tcp_conn *tw_head, *tw_tail;
	struct tcp_pend { struct tcp_conn *c; uint32_t gen; } *pend; /* output pending */
	uint32_t npend, pend_cap;
	struct tcp_conn *wheel[TCP_WHEEL_SLOTS];
	uint64_t wheel_ms;            /* every slot up to this ms has run */
	uint64_t now_ms;
	uint64_t now_tsc;             /* of the latest input or timer run (RTT samples) */
	uint64_t tsc_hz;
	uint64_t tsc_per_ms;
	uint64_t next_ms_tsc;         /* tcp_timers has nothing to do before this */
	void (*tx)(void *ctx, struct rte_mbuf *m);
	void *tx_ctx;
	const struct tcp_app *app;
	void *app_ctx;
	struct tcp_counters c;
};

/*
 * Set up a stack with nslots connection slots (hash named name). Returns 0
 * or a negative errno. tx sends one finished frame.
 */
int tcp_stack_init(struct tcp_stack *st, const char *name, const struct tcp_cfg *cfg,
		   uint32_t nslots, struct rte_mempool *pool, uint64_t tsc_hz,
		   void (*tx)(void *ctx, struct rte_mbuf *m), void *tx_ctx,
		   const struct tcp_app *app, void *app_ctx);
void tcp_stack_fini(struct tcp_stack *st);

/*
 * One received TCP segment: m is the whole frame, ip and tcp point into it,
 * ip_len is the IPv4 total length (padding already trimmed). Consumes m.
 */
void tcp_input(struct tcp_stack *st, struct rte_mbuf *m, const void *ip, const void *tcp,
	       uint16_t ip_len, uint64_t now_tsc);

/* A segment for a port the stack does not serve: RST it, as a closed port does. Consumes m. */
void tcp_refuse(struct tcp_stack *st, struct rte_mbuf *m, const void *ip, const void *tcp,
		uint16_t ip_len);
/* Run expired timers; call at least once per millisecond. */
void tcp_timers(struct tcp_stack *st, uint64_t now_tsc);
/* Send what the connections that got input or output since the last call owe. */
void tcp_flush(struct tcp_stack *st);

/*
 * The application's output on c: an output chain writing into the send ring
 * (tcp_out_open/close around the writes). Bytes go out at the next flush.
 */
struct tcp_out {
	struct mc_out o;
	struct tcp_stack *st;
	struct tcp_conn *c;
};
void tcp_out_open(struct tcp_out *to, struct tcp_stack *st, struct tcp_conn *c);
/* Commit the bytes written; returns -1 if the ring could not hold them all. */
int tcp_out_close(struct tcp_out *to);
/* Append n bytes to c's send ring; -1 when the ring is at its ceiling. */
int tcp_send(struct tcp_stack *st, struct tcp_conn *c, const void *p, uint32_t n);
/* Bytes queued and not yet acknowledged. */
static inline uint32_t tcp_sndq(const struct tcp_conn *c)
{
	return c->sb.len;
}
/* The sequence number the next byte written will get. */
static inline uint32_t tcp_snd_end(const struct tcp_conn *c)
{
	return c->snd_una + c->sb.len;
}
/*
 * Hold queued bytes from seq on (they stay queued, nothing past them is
 * sent, FIN included); tcp_release lifts it and sends what was held.
 */
void tcp_hold(struct tcp_stack *st, struct tcp_conn *c, uint32_t seq);
void tcp_release(struct tcp_stack *st, struct tcp_conn *c);
/* Graceful close: FIN once the queued bytes are sent. */
void tcp_close(struct tcp_stack *st, struct tcp_conn *c);
/* Reset the connection and free it (the closed hook runs). */
void tcp_abort(struct tcp_stack *st, struct tcp_conn *c);
/* The application's buffered input shrank: maybe advertise a larger window. */
void tcp_window_update(struct tcp_stack *st, struct tcp_conn *c);
/* Look up an open connection by slot and generation (NULL if gone). */
struct tcp_conn *tcp_conn_get(struct tcp_stack *st, uint32_t slot, uint32_t gen);

/* SYN cookies (tcp_cookie.c). */
uint32_t tcp_cookie_make(const struct tcp_cfg *cfg, uint32_t rip, uint16_t rport, uint32_t peer_isn,
			 uint16_t mss, uint64_t now_s);
/* 0 when ack_isn is not a cookie we made recently, else the MSS it encodes. */
uint16_t tcp_cookie_check(const struct tcp_cfg *cfg, uint32_t rip, uint16_t rport,
			  uint32_t peer_isn, uint32_t cookie, uint64_t now_s);

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

#endif
