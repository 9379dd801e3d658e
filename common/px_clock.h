/* SPDX-License-Identifier: BSD-3-Clause */
/* Wall and monotonic time in the units the cache uses (seconds, ns). */
#ifndef PX_CLOCK_H
#define PX_CLOCK_H

#include <stdint.h>

/* Unix time in seconds (CLOCK_REALTIME). */
uint32_t px_clock_unix(void);
/* Monotonic nanoseconds (CLOCK_MONOTONIC). */
uint64_t px_clock_ns(void);

#endif
