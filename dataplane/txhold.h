/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TX coalescing: when an lcore's queued replies go to the port. Every TX
 * burst ends in the PMD's kick; on AF_XDP that is a sendto() whose cost
 * hardly depends on how many frames it carries (on veth it also runs the
 * receiver's stack, and with RPS an inter-processor interrupt; on a NIC it
 * is a doorbell write). With many clients, the replies of a loop may wait
 * up to a window for the next loops' replies to share their kick, as
 * DPDK's l2fwd drains its TX buffers on a timer: fewer kicks, less CPU per
 * request, less queueing. With few, waiting only adds latency: a client
 * with its requests answered but held sends nothing more, so they wait
 * only when:
 * - requests came on at least DP_TXHOLD_FLOWS TCP connections in the last
 *   tick, and the replies of at most half that many loops wait (at most
 *   DP_TXHOLD_BURSTS), so a client is never left with all its requests
 *   held;
 * - input arrives at least once per window on average (the moving average
 *   of the gaps between loops that had input; a gap of four windows or
 *   more is an idle spell and starts the average again from four windows);
 * - waiting has been paying: a wait that no other loop's packets joined
 *   makes the next kick go at once, the one after that two, then four and
 *   so on up to DP_TXHOLD_BACKOFF, until a wait is joined again;
 * - fewer than DP_TXHOLD_PKTS packets are queued: those go at once.
 * Free of DPDK so tests/unit/test_txhold.c can drive it with made-up time.
 */
#ifndef PX_DP_TXHOLD_H
#define PX_DP_TXHOLD_H

#include <stdbool.h>
#include <stdint.h>

#define DP_TXHOLD_PKTS 32      /* queued packets that go at once */
#define DP_TXHOLD_BURSTS 8     /* most loops' replies that wait together */
#define DP_TXHOLD_FLOWS 8      /* fewest connections with requests in a tick */
#define DP_TXHOLD_BACKOFF 256  /* most kicks sent at once after a wait nothing joined */

struct dp_txhold {
	uint64_t window;       /* tsc a reply may wait, 0: coalescing off */
	uint64_t since;        /* tsc the queued replies began to wait, 0: they do not */
	uint64_t last_input;   /* tsc of the last loop that had input */
	uint64_t gap;          /* moving average of the tsc between such loops */
	unsigned bursts;       /* most loops' replies that may wait together now, 0: none */
	unsigned first;        /* packets queued when the wait began */
	bool joined;           /* more were queued since */
	unsigned backoff;      /* kicks sent at once after the last wait nothing joined */
	unsigned skip;         /* of those, still to come */
};

static inline void dp_txhold_init(struct dp_txhold *h, uint64_t window_tsc)
{
	*h = (struct dp_txhold){ .window = window_tsc, .gap = 4 * window_tsc };
}

/* At each tick: requests came on `flows` connections since the last. */
static inline void dp_txhold_tick(struct dp_txhold *h, unsigned flows)
{
	h->bursts = h->window == 0 || flows < DP_TXHOLD_FLOWS ? 0
		    : flows / 2 < DP_TXHOLD_BURSTS ? flows / 2 : DP_TXHOLD_BURSTS;
}

/* No reply waits, and none may until the next tick: the caller may skip
 * dp_txhold_wait() and send at once. */
static inline bool dp_txhold_off(const struct dp_txhold *h)
{
	return h->bursts == 0 && h->since == 0;
}

/*
 * Called once per loop at time now, after the loop queued its output:
 * input says whether it had any (frames, forwarded work), queued how many
 * packets wait for the port, bursts how many loops' replies they are.
 * True: keep them queued for now. False: send them, then dp_txhold_sent().
 */
static inline bool dp_txhold_wait(struct dp_txhold *h, uint64_t now, bool input,
				  unsigned queued, unsigned bursts)
{
	if (input) {
		uint64_t gap = now - h->last_input;
		h->last_input = now;
		h->gap = gap >= 4 * h->window ? 4 * h->window : h->gap - h->gap / 8 + gap / 8;
	}
	if (queued == 0 || h->window == 0 || h->gap > h->window ||
	    queued >= DP_TXHOLD_PKTS || bursts >= h->bursts)
		return false;
	if (h->since == 0) {
		if (h->skip > 0) {
			h->skip--;
			return false;
		}
		h->since = now;
		h->first = queued;
		h->joined = false;
		return true;
	}
	h->joined |= queued > h->first;
	return now - h->since < h->window;
}

/* The queued replies went: if they had waited, was it worth it? */
static inline void dp_txhold_sent(struct dp_txhold *h)
{
	if (h->since == 0)
		return;
	if (h->joined) {
		h->backoff = 0;
	} else {
		h->backoff = h->backoff == 0 ? 1 : h->backoff < DP_TXHOLD_BACKOFF ? 2 * h->backoff : DP_TXHOLD_BACKOFF;
		h->skip = h->backoff;
	}
	h->since = 0;
}

#endif
