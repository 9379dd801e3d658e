/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection for tests: drop, duplicate, reorder (hold back until the
 * next burst) and delay (hold back for fault_delay_us) packets on RX and TX,
 * each with its own probability. Off unless a fault_* setting is non-zero;
 * when off the lcore loop never calls in here. Bounded: at most one burst
 * held and one burst delayed per direction; beyond that, packets pass.
 */
#include <rte_cycles.h>

#include "dp.h"

enum { F_DROP, F_DUP, F_REORDER, F_DELAY };

void dp_fault_init(struct dp_lcore *lc)
{
	const struct px_settings *s = &lc->dp->set;
	struct dp_fault *f = &lc->fault;
	const double p[8] = { s->fault_rx_drop, s->fault_rx_dup, s->fault_rx_reorder, s->fault_rx_delay,
			      s->fault_tx_drop, s->fault_tx_dup, s->fault_tx_reorder, s->fault_tx_delay };

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 8; i++) {
		f->p[i] = p[i];
		f->on |= p[i] > 0;
	}
	f->delay_tsc = s->fault_delay_us * lc->dp->tsc_hz / 1000000;
	f->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)lc->idx << 32) ^ rte_rdtsc();
}

static bool chance(struct dp_fault *f, double p)
{
	if (p <= 0)
		return false;
	/* xorshift64*: a test knob, not cryptography */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	uint64_t r = f->rng * 0x2545f4914f6cdd1dULL;
	return (double)(r >> 11) * (1.0 / 9007199254740992.0) < p;
}

/*
 * Apply faults of direction d (0 rx, 1 tx) to pkts[0, n) in place; returns
 * the new count (<= cap). Released held/delayed packets come first.
 */
static unsigned apply(struct dp_lcore *lc, int d, struct rte_mbuf **pkts, unsigned n, unsigned cap)
{
	struct dp_fault *f = &lc->fault;
	const double *p = &f->p[d * 4];
	struct rte_mbuf *out[DP_BURST * 8];
	unsigned k = 0;
	uint64_t now = rte_rdtsc();

	for (unsigned i = 0; i < f->nheld[d] && k < cap; i++)
		out[k++] = f->held[d][i];
	f->nheld[d] = 0;
	unsigned keep = 0;
	for (unsigned i = 0; i < f->ndelayed[d]; i++) {
		if (f->due[d][i] <= now && k < cap) {
			out[k++] = f->delayed[d][i];
		} else {
			f->delayed[d][keep] = f->delayed[d][i];
			f->due[d][keep++] = f->due[d][i];
		}
	}
	f->ndelayed[d] = keep;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (chance(f, p[F_DROP])) {
			lc->c.fault_drops++;
			rte_pktmbuf_free(m);
			continue;
		}
		if (chance(f, p[F_REORDER]) && f->nheld[d] < DP_BURST) {
			lc->c.fault_reorders++;
			f->held[d][f->nheld[d]++] = m;
			continue;
		}
		if (chance(f, p[F_DELAY]) && f->ndelayed[d] < DP_BURST) {
			lc->c.fault_delays++;
			f->due[d][f->ndelayed[d]] = now + f->delay_tsc;
			f->delayed[d][f->ndelayed[d]++] = m;
			continue;
		}
		if (k < cap)
			out[k++] = m;
		else
			rte_pktmbuf_free(m);
		if (chance(f, p[F_DUP]) && k < cap) {
			struct rte_mbuf *c = rte_pktmbuf_copy(m, lc->dp->pool, 0, UINT32_MAX);
			if (c != NULL) {
				c->ol_flags = m->ol_flags;
				c->l2_len = m->l2_len;
				c->l3_len = m->l3_len;
				out[k++] = c;
				lc->c.fault_dups++;
			}
		}
	}
	memcpy(pkts, out, k * sizeof(out[0]));
	return k;
}

unsigned dp_fault_rx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n, unsigned cap)
{
	return apply(lc, 0, pkts, n, cap);
}

unsigned dp_fault_tx(struct dp_lcore *lc, struct rte_mbuf **pkts, unsigned n, unsigned cap)
{
	return apply(lc, 1, pkts, n, cap);
}
