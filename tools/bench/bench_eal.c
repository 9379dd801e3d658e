/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EAL start-up for pollux-bench. It only decides hugepages or not and builds
 * the EAL argument list; it never touches ports. The hugepage check reads the
 * free counts in /sys/kernel/mm/hugepages so that a machine without any does
 * not print a page of EAL errors before the fallback.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include "bench_eal.h"

#define HUGEPAGE_DIR "/sys/kernel/mm/hugepages"

static int saved_argc;
static char **saved_argv;
static bool eal_hugepages;

/* Free hugepage memory in bytes, over every page size. */
static uint64_t hugepages_free_bytes(void)
{
	DIR *d = opendir(HUGEPAGE_DIR);
	uint64_t total = 0;
	struct dirent *e;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		unsigned long kb, pages;
		char path[512];
		FILE *f;

		if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), HUGEPAGE_DIR "/%s/free_hugepages", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%lu", &pages) == 1)
			total += (uint64_t)pages * kb * 1024;
		fclose(f);
	}
	closedir(d);
	return total;
}

/* Replace the process with itself, argv unchanged, in --no-huge mode. */
static int reexec_no_huge(void)
{
	char **args = calloc((size_t)saved_argc + 2, sizeof(*args));

	if (args == NULL)
		return -1;
	args[0] = program_invocation_name;
	for (int i = 0; i < saved_argc; i++)
		args[i + 1] = saved_argv[i];
	setenv(BENCH_ENV_NO_HUGE, "1", 1);
	fprintf(stderr, "pollux-bench: hugepages unusable, restarting with --no-huge\n");
	fflush(NULL);
	execv("/proc/self/exe", args);
	fprintf(stderr, "pollux-bench: re-exec failed: %s\n", strerror(errno));
	free(args);
	return -1;
}

/* EAL makes /var/run/dpdk/<prefix> even in memory-only modes; one per run
 * would pile up, so the empty directory goes at exit. */
static void remove_runtime_dir(void)
{
	rmdir(rte_eal_get_runtime_dir());
}

int bench_eal_init(int argc, char **argv, uint64_t mem_bytes, bool force_no_huge,
		   bool *hugepages)
{
	const char *env = getenv(BENCH_ENV_NO_HUGE);
	bool no_huge = force_no_huge || (env != NULL && strcmp(env, "1") == 0);
	/* EAL's own overhead (memzones, rings, malloc headers) on top of our data. */
	uint64_t need = mem_bytes + mem_bytes / 4 + (256ULL << 20);
	char lcore[16], mem_mb[32], prefix[64];
	char *eargv[16];
	int eargc = 0;

	saved_argc = argc;
	saved_argv = argv;
	if (!no_huge && hugepages_free_bytes() < need) {
		fprintf(stderr, "pollux-bench: fewer than %" PRIu64 " MB of free hugepages, using --no-huge\n",
			need >> 20);
		no_huge = true;
	}

	int cpu = sched_getcpu();
	snprintf(lcore, sizeof(lcore), "%d", cpu < 0 ? 0 : cpu);
	snprintf(mem_mb, sizeof(mem_mb), "%" PRIu64, (need >> 20) + 1);
	snprintf(prefix, sizeof(prefix), "--file-prefix=pollux-bench-%d", (int)getpid());
	eargv[eargc++] = (char *)"pollux-bench";
	eargv[eargc++] = (char *)"--no-pci";
	eargv[eargc++] = (char *)"--no-telemetry";
	eargv[eargc++] = (char *)"--log-level=lib.eal:error";
	eargv[eargc++] = prefix;
	eargv[eargc++] = (char *)"-l";
	eargv[eargc++] = lcore;
	if (no_huge) {
		/*
		 * DPDK (seen on 22.11) makes --no-huge imply --legacy-mem and
		 * rejects that with --in-memory: "Option --legacy-mem is not
		 * compatible with --in-memory". --no-shconf keeps the run free
		 * of shared files all the same.
		 */
		eargv[eargc++] = (char *)"--no-huge";
		eargv[eargc++] = (char *)"--no-shconf";
		eargv[eargc++] = (char *)"-m";
		eargv[eargc++] = mem_mb;
	} else {
		eargv[eargc++] = (char *)"--in-memory";
	}
	eargv[eargc] = NULL;

	/* Linux EAL logs to stdout by default; stdout is reserved for results. */
	rte_openlog_stream(stderr);
	if (rte_eal_init(eargc, eargv) < 0) {
		if (!no_huge)
			return reexec_no_huge();
		fprintf(stderr, "pollux-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	eal_hugepages = !no_huge;
	*hugepages = eal_hugepages;
	atexit(remove_runtime_dir);
	return 0;
}

int bench_eal_retry_no_huge(void)
{
	if (!eal_hugepages)
		return -1;
	rte_eal_cleanup();
	return reexec_no_huge();
}
