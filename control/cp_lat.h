/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Quantiles of the dataplane's latency histogram (struct px_shm_lcore's
 * lat_hist: two buckets per power of two of nanoseconds). Header-only so
 * that pollux-cp (admin socket) and polluxctl (top, from the difference of
 * two samples) compute them the same way. Visits PX_SHM_LAT_BUCKETS buckets.
 */
#ifndef PX_CP_LAT_H
#define PX_CP_LAT_H

#include <stdint.h>

#include "pollux/shm.h"

/* Requests counted in a histogram. */
static inline uint64_t cp_lat_count(const uint64_t hist[PX_SHM_LAT_BUCKETS])
{
	uint64_t n = 0;

	for (unsigned b = 0; b < PX_SHM_LAT_BUCKETS; b++)
		n += hist[b];
	return n;
}

/*
 * The q-quantile (0 < q <= 1) in ns, interpolated linearly inside its
 * bucket; the last bucket is open-ended and yields its lower bound.
 * Returns -1 for an empty histogram.
 */
static inline double cp_lat_quantile_ns(const uint64_t hist[PX_SHM_LAT_BUCKETS], double q)
{
	uint64_t total = cp_lat_count(hist), cum = 0;
	double target;

	if (total == 0)
		return -1;
	target = q * (double)total;
	for (unsigned b = 0; b < PX_SHM_LAT_BUCKETS; b++) {
		if (hist[b] == 0)
			continue;
		if ((double)(cum + hist[b]) >= target) {
			double lo = b == 0 ? 0 : px_shm_lat_lower(b);
			if (b + 1 == PX_SHM_LAT_BUCKETS)
				return lo;
			double hi = px_shm_lat_lower(b + 1);
			double frac = (target - (double)cum) / (double)hist[b];
			if (frac < 0)
				frac = 0;
			return lo + (hi - lo) * frac;
		}
		cum += hist[b];
	}
	return px_shm_lat_lower(PX_SHM_LAT_BUCKETS - 1);
}

#endif
