/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK EAL start-up for the bench subcommands: one lcore (the CPU we are on),
 * no PCI, no shared files, logs on stderr. Hugepages are tried first; when
 * they are missing or EAL cannot use them, the process re-executes itself in
 * --no-huge mode (EAL cannot be initialised twice in one process).
 */
#ifndef PX_BENCH_EAL_H
#define PX_BENCH_EAL_H

#include <stdbool.h>
#include <stdint.h>

/* Set to 1 in the environment to skip hugepages (the re-exec sets it too). */
#define BENCH_ENV_NO_HUGE "PX_BENCH_NO_HUGE"

/*
 * Initialise EAL so that at least mem_bytes of rte_malloc memory can be had.
 * argc/argv are the subcommand's (argv[0] = its name) and are reused for the
 * re-exec. Returns 0 and sets *hugepages, or -1 after printing why.
 */
int bench_eal_init(int argc, char **argv, uint64_t mem_bytes, bool force_no_huge,
		   bool *hugepages);

/*
 * After an allocation failure in hugepage mode: re-execute in --no-huge mode.
 * Returns only on failure (-1, reason printed); no-op (-1) if already there.
 */
int bench_eal_retry_no_huge(void);

#endif
