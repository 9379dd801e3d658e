/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-dp: the dataplane process. Reads settings (INI file and key=value
 * arguments), starts DPDK's EAL (hugepages or --no-huge), attaches the port
 * (an AF_XDP or AF_PACKET vdev on `iface`, or whatever the EAL arguments
 * after `--` bring), lays one partition per lcore in DPDK memory, and runs
 * the lcore loops until SIGINT/SIGTERM. Configuration mistakes are reported
 * in one line that says what to change.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>

#include "dp.h"
#include "px_clock.h"

static struct dp g_dp;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_dp.quit, true);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pollux-dp [--config FILE] [key=value ...] [-- EAL arguments]\n"
		   "settings (INI keys and key=value arguments):\n");
	px_settings_usage(f);
}

/* Free 2 MiB hugepages on the machine, or -1 if unknown. */
static long free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = -1;
	if (f != NULL) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

static int parse_args(int argc, char **argv, struct px_settings *s, int *eal_at)
{

	int rc = px_settings_parse_argv(s, argc, argv, "pollux-dp", eal_at);
	if (rc == 1) {
		usage(stdout);
		exit(0);
	}
	if (rc != 0)
		return -1;
	struct tbl_config cfg;
	if (dp_part_region_size(s, &cfg, 0) == 0) {
		fprintf(stderr, "pollux-dp: mem_mb=%llu is too small for item_size_max=%llu "
				"(needs at least three largest items)\n",
			(unsigned long long)s->mem_mb, (unsigned long long)s->item_size_max);
		return -1;
	}
	return 0;
}

/* EAL arguments: lcores mapped onto the CPUs we may run on, memory mode, user extras. */
static int eal_args(const struct px_settings *s, int argc, char **argv, int eal_at,
		    char **out, int max, size_t mem_mb)
{
	static char lcores[1024], mem[32];
	cpu_set_t cpus;
	int ncpu = 0, cpu_ids[CPU_SETSIZE], n = 0;

	if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cpus))
			cpu_ids[ncpu++] = c;
	size_t off = (size_t)snprintf(lcores, sizeof(lcores), "--lcores=");
	for (unsigned i = 0; i < s->lcores; i++)
		off += (size_t)snprintf(lcores + off, sizeof(lcores) - off, "%s%u@%d", i ? "," : "", i,
				       cpu_ids[i % (unsigned)ncpu]);
	out[n++] = argv[0];
	out[n++] = lcores;
	if (s->hugepages) {
		out[n++] = "--in-memory";
	} else {
		snprintf(mem, sizeof(mem), "%zu", mem_mb);
		out[n++] = "--no-huge";
		out[n++] = "--no-shconf";
		out[n++] = "-m";
		out[n++] = mem;
	}
	if (s->iface[0] != '\0')
		out[n++] = "--no-pci";
	out[n++] = "--log-level=lib.eal:notice";
	for (int i = eal_at; i < argc && n < max - 1; i++)
		out[n++] = argv[i];
	out[n] = NULL;
	return n;
}

/* RX queues of a kernel interface, from sysfs; -1 if unknown. */
static int iface_rx_queues(const char *iface)
{
	char path[512];
	int n = 0;

	for (;; n++) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%d", iface, n);
		if (access(path, F_OK) != 0)
			break;
	}
	return n ? n : -1;
}

/* Attach iface as an AF_XDP (falling back to AF_PACKET) port; returns the port id. */
static int probe_iface(struct dp *dp)
{
	const char *kinds[2] = { "af_xdp", "af_packet" };
	char args[512];
	uint16_t port;

	for (int k = 0; k < 2; k++) {
		if (strcmp(dp->set.pmd, "auto") != 0 && strcmp(dp->set.pmd, kinds[k]) != 0)
			continue;
		/* AF_XDP serves only the queues it binds: with more RX queues on the
		 * interface than lcores, traffic on the others would be lost. */
		int nq = iface_rx_queues(dp->set.iface);
		if (k == 0 && strcmp(dp->set.pmd, "auto") == 0 && nq > 0 && nq != dp->nlcores) {
			printf("pollux-dp: %s has %d RX queues, lcores=%u: using af_packet\n",
			       dp->set.iface, nq, dp->nlcores);
			continue;
		}
		/* Without hugepages the AF_XDP PMD cannot hand its UMEM the mbuf pool
		 * and runs in copy mode, where DPDK 22.11 refills the fill ring only
		 * after a receive: a burst that empties it stops RX for good
		 * (seen with pipelined 200 kB sets over TCP). */
		if (k == 0 && strcmp(dp->set.pmd, "auto") == 0 && !dp->set.hugepages) {
			printf("pollux-dp: hugepages=no: AF_XDP would run in copy mode, which can "
			       "stall under bursts; using af_packet\n");
			continue;
		}
		if (k == 0)
			snprintf(args, sizeof(args), "net_af_xdp0,iface=%s,start_queue=0,queue_count=%u,"
				 "busy_budget=%u", dp->set.iface, dp->nlcores,
				 (unsigned)dp->set.xdp_busy_budget);
		else
			snprintf(args, sizeof(args), "net_af_packet0,iface=%s,qpairs=%u,blocksz=4096,"
				 "framesz=2048,framecnt=2048", dp->set.iface, dp->nlcores);
		if (rte_dev_probe(args) == 0 &&
		    rte_eth_dev_get_port_by_name(k == 0 ? "net_af_xdp0" : "net_af_packet0", &port) == 0) {
			printf("pollux-dp: %s attached as %s\n", dp->set.iface, kinds[k]);
			return port;
		}
		fprintf(stderr, "pollux-dp: %s: cannot attach %s%s\n", dp->set.iface, kinds[k],
			k == 0 && strcmp(dp->set.pmd, "auto") == 0 ? ", trying af_packet" : "");
	}
	fprintf(stderr, "pollux-dp: iface=%s: no usable port (does the interface exist in this "
			"network namespace?)\n", dp->set.iface);
	return -1;
}

int main(int argc, char **argv)
{
	struct dp *dp = &g_dp;
	char *eargv[128];
	int eal_at;

	if (parse_args(argc, argv, &dp->set, &eal_at) != 0)
		return 2;
	dp->nlcores = (uint16_t)dp->set.lcores;
	struct tbl_config cfg;
	size_t need_mb = dp->nlcores * ((dp_part_region_size(&dp->set, &cfg, 0) >> 20) + 1 +
					((dp->set.item_size_max + 4096) >> 20) + 24) + 96;
	if (dp->set.hugepages) {
		long free = free_hugepages();
		if (free >= 0 && (size_t)free * 2 < need_mb) {
			fprintf(stderr, "pollux-dp: needs about %zu MiB of 2 MiB hugepages, %ld MiB free: "
					"echo %zu > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, "
					"or set hugepages=no\n", need_mb, free * 2, need_mb / 2 + 64);
			return 2;
		}
	}
	int eargc = eal_args(&dp->set, argc, argv, eal_at, eargv, 128, need_mb);
	if (eargc < 0 || rte_eal_init(eargc, eargv) < 0) {
		fprintf(stderr, "pollux-dp: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (rte_lcore_count() != dp->nlcores) {
		fprintf(stderr, "pollux-dp: lcores=%u but EAL has %u lcores\n", dp->nlcores,
			rte_lcore_count());
		return 2;
	}
	dp->tsc_hz = rte_get_tsc_hz();
	dp->ip = rte_cpu_to_be_32(dp->set.ip);
	dp->udp_port = (uint16_t)dp->set.udp_port;
	dp->info = (struct mc_server_info){ .pid = (uint32_t)getpid(), .started = px_clock_unix(),
					    .threads = dp->nlcores };
	int port = -1;
	if (dp->set.iface[0] != '\0') {
		port = probe_iface(dp);
	} else {
		uint16_t p;
		RTE_ETH_FOREACH_DEV(p) {
			port = p;
			break;
		}
		if (port < 0)
			fprintf(stderr, "pollux-dp: no port: set iface=NAME or pass --vdev/PCI "
					"devices after --\n");
	}
	if (port < 0)
		return 2;
	dp->port = (uint16_t)port;
	if (dp_wal_config(dp) != 0 || dp_setup(dp) != 0 || dp_port_init(dp) != 0)
		return 1;
	dp_port_steer(dp);
	if (dp_tcp_setup(dp) != 0)
		return 1;
	int rc = dp_shm_attach(dp);
	if (rc == -EPROTO) {
		dp_tcp_teardown(dp);
		return 2;
	}
	if (rc != 0)
		printf("pollux-dp: no control plane region at %s (%s): serving without pollux-cp; "
		       "attaching when it appears\n", dp->set.shm_path, strerror(-rc));
	dp_telemetry_register(dp);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	char ip[32];
	px_settings_get(&dp->set, "ip", ip, sizeof(ip));
	printf("pollux-dp: ready: memcached on %s udp/%u tcp/%u, %u lcore(s), %llu MiB per "
	       "partition\n", ip, dp->udp_port, dp->tcp_port, dp->nlcores,
	       (unsigned long long)dp->set.mem_mb);
	fflush(stdout);

	unsigned i = 0, lcore_id;
	RTE_LCORE_FOREACH_WORKER(lcore_id) {
		dp->lc[++i]->lcore_id = lcore_id;
		rte_eal_remote_launch(dp_lcore_main, dp->lc[i], lcore_id);
	}
	dp->lc[0]->lcore_id = rte_lcore_id();
	dp_lcore_main(dp->lc[0]);
	rte_eal_mp_wait_lcore();
	dp_shm_detach(dp);

	struct rte_eth_stats es;
	if (rte_eth_stats_get(dp->port, &es) == 0)
		printf("pollux-dp: port: ipackets=%llu opackets=%llu imissed=%llu ierrors=%llu "
		       "rx_nombuf=%llu; packet buffers free %u of %u\n",
		       (unsigned long long)es.ipackets, (unsigned long long)es.opackets,
		       (unsigned long long)es.imissed, (unsigned long long)es.ierrors,
		       (unsigned long long)es.rx_nombuf, rte_mempool_avail_count(dp->pool),
		       dp->pool->size);
	rte_eth_dev_stop(dp->port);
	rte_eth_dev_close(dp->port);
	dp_print_counters(dp);
	dp_tcp_print_counters(dp);
	dp_tcp_teardown(dp);
	printf("pollux-dp: stopped\n");
	rte_eal_cleanup();
	return 0;
}
