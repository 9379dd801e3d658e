/* SPDX-License-Identifier: BSD-3-Clause */
/* Thin wrappers over clock_gettime; called once per loop iteration, never per packet. */
#include <time.h>

#include "px_clock.h"

uint32_t px_clock_unix(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint32_t)ts.tv_sec;
}

uint64_t px_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
