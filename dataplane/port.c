/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port setup: one RX/TX queue pair per dataplane lcore, RSS across them
 * when the port offers it, IPv4/UDP checksum offloads when it offers both
 * (software checksums otherwise), and partition-aware steering of UDP
 * ports base+p to queue p with rte_flow where the PMD supports it (else the
 * lcores forward in software). Errors name the port and what it lacks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

#include <rte_ethdev.h>
#include <rte_flow.h>

#include "dp.h"

#define RX_DESC 1024
#define TX_DESC 1024

#ifndef AF_XDP
#define AF_XDP 44
#endif

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * The kernel socket behind each RX queue of an AF_XDP or AF_PACKET port,
 * so an idle lcore can sleep in ppoll() on it and wake when a frame
 * arrives instead of at the end of a fixed sleep. The PMDs do not hand the
 * sockets out, but each opens one per queue, in queue order, and nothing
 * else in pollux-dp opens sockets of those families: the port's sockets are
 * this process's sockets of its family (for AF_PACKET, bound to its
 * interface), lowest descriptor first. Any doubt (another count than the
 * queues) leaves every lc->wait_fd at -1: fixed sleeps, as before.
 */
static void find_wait_fds(struct dp *dp, const struct rte_eth_dev_info *info)
{
	int fds[DP_LCORES_MAX + 1], nfds = 0, family;
	DIR *d;
	struct dirent *e;

	if (info->driver_name == NULL)
		return;
	if (strcmp(info->driver_name, "net_af_xdp") == 0)
		family = AF_XDP;
	else if (strcmp(info->driver_name, "net_af_packet") == 0)
		family = AF_PACKET;
	else
		return;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && nfds <= DP_LCORES_MAX) {
		int fd = atoi(e->d_name), dom;
		socklen_t dl = sizeof(dom);
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) != 0 || dom != family)
			continue;
		if (family == AF_PACKET) {
			struct sockaddr_ll sa;
			socklen_t sl = sizeof(sa);
			if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 ||
			    (unsigned)sa.sll_ifindex != info->if_index)
				continue;
		}
		fds[nfds++] = fd;
	}
	closedir(d);
	if (nfds != (int)dp->nlcores)
		return;
	qsort(fds, (size_t)nfds, sizeof(int), cmp_int);
	for (int i = 0; i < nfds; i++)
		dp->lc[i]->wait_fd = fds[i];
}

int dp_port_init(struct dp *dp)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = { 0 };
	uint16_t q = dp->nlcores;
	static uint8_t rss_key[64];
	char name[RTE_ETH_NAME_MAX_LEN] = "?";
	int rc;

	rte_eth_dev_get_name_by_port(dp->port, name);
	if ((rc = rte_eth_dev_info_get(dp->port, &info)) != 0) {
		fprintf(stderr, "pollux-dp: port %s: cannot read device info: %s\n", name, rte_strerror(-rc));
		return -1;
	}
	if (info.max_rx_queues < q || info.max_tx_queues < q) {
		fprintf(stderr,
			"pollux-dp: port %s has %u RX / %u TX queues; lcores=%u needs %u of each "
			"(for a veth, create it with numrxqueues=%u numtxqueues=%u)\n",
			name, info.max_rx_queues, info.max_tx_queues, q, q, q, q);
		return -1;
	}
	if (q > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP) &
			info.flow_type_rss_offloads;
		/* A symmetric Toeplitz key (0x6d5a repeated): both directions of
		 * a flow hash alike, so a TCP connection stays on one lcore
		 * whichever way its packets are seen. */
		if (info.hash_key_size > 0 && info.hash_key_size <= sizeof(rss_key)) {
			for (unsigned i = 0; i < info.hash_key_size; i++)
				rss_key[i] = (i & 1) ? 0x5a : 0x6d;
			conf.rx_adv_conf.rss_conf.rss_key = rss_key;
			conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
		}
	}
	uint64_t want_tx = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	if ((info.tx_offload_capa & want_tx) == want_tx) {
		conf.txmode.offloads = want_tx;
		dp->tx_cksum = true;
		if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
			conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
			dp->tx_tcp_cksum = true;
		}
	}
	uint64_t want_rx = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	if ((info.rx_offload_capa & want_rx) == want_rx) {
		conf.rxmode.offloads = want_rx;
		/* L4_CKSUM_GOOD then vouches for TCP too, so ask only with both */
		if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM))
			conf.rxmode.offloads = 0;
		else
			conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	}
	if ((rc = rte_eth_dev_configure(dp->port, q, q, &conf)) != 0) {
		fprintf(stderr, "pollux-dp: port %s: configure with %u queues: %s\n", name, q,
			rte_strerror(-rc));
		return -1;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(dp->port, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(dp->port);
	for (uint16_t i = 0; i < q; i++) {
		if ((rc = rte_eth_rx_queue_setup(dp->port, i, nrx, socket, NULL, dp->pool)) != 0 ||
		    (rc = rte_eth_tx_queue_setup(dp->port, i, ntx, socket, NULL)) != 0) {
			fprintf(stderr, "pollux-dp: port %s: queue %u setup: %s\n", name, i,
				rte_strerror(-rc));
			return -1;
		}
	}
	if ((rc = rte_eth_dev_start(dp->port)) != 0) {
		fprintf(stderr, "pollux-dp: port %s: start: %s\n", name, rte_strerror(-rc));
		return -1;
	}
	rte_eth_macaddr_get(dp->port, &dp->mac);
	find_wait_fds(dp, &info);
	printf("pollux-dp: port %s up, %u queue pair(s), mac " RTE_ETHER_ADDR_PRT_FMT
	       ", checksums in %s, idle lcores sleep %s\n",
	       name, q, RTE_ETHER_ADDR_BYTES(&dp->mac), dp->tx_cksum ? "hardware" : "software",
	       dp->lc[0]->wait_fd >= 0 ? "until a frame arrives" : "for fixed steps");
	return 0;
}

/* Steer UDP port base+p to queue p; a PMD without rte_flow leaves it to software. */
void dp_port_steer(struct dp *dp)
{
	unsigned done = 0;

	if (!dp->set.udp_partition_ports || dp->nlcores < 2)
		return;
	for (uint16_t p = 0; p < dp->nlcores; p++) {
		struct rte_flow_attr attr = { .ingress = 1 };
		struct rte_flow_item_udp spec = { .hdr.dst_port = rte_cpu_to_be_16(
							  (uint16_t)(dp->udp_port + 1 + p)) };
		struct rte_flow_item_udp mask = { .hdr.dst_port = RTE_BE16(0xffff) };
		struct rte_flow_item pattern[] = {
			{ .type = RTE_FLOW_ITEM_TYPE_ETH },
			{ .type = RTE_FLOW_ITEM_TYPE_IPV4 },
			{ .type = RTE_FLOW_ITEM_TYPE_UDP, .spec = &spec, .mask = &mask },
			{ .type = RTE_FLOW_ITEM_TYPE_END },
		};
		struct rte_flow_action_queue queue = { .index = p };
		struct rte_flow_action actions[] = {
			{ .type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &queue },
			{ .type = RTE_FLOW_ACTION_TYPE_END },
		};
		struct rte_flow_error err;
		if (rte_flow_validate(dp->port, &attr, pattern, actions, &err) != 0 ||
		    rte_flow_create(dp->port, &attr, pattern, actions, &err) == NULL)
			break;
		done++;
	}
	if (done == dp->nlcores)
		printf("pollux-dp: UDP ports %u..%u steered to their partitions' queues by rte_flow\n",
		       dp->udp_port + 1, dp->udp_port + dp->nlcores);
	else
		printf("pollux-dp: port has no rte_flow steering; partition ports are forwarded "
		       "between lcores in software\n");
}
