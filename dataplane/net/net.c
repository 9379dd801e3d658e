/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's network input: Ethernet, an ARP responder for the
 * appliance's address, IPv4 header validation, ICMP echo, UDP demux to
 * the memcached port(s), and TCP segments for the memcached port to the
 * lcore's TCP stack (other TCP ports get a RST, as closed ports do). Replies to ARP and ICMP are built in the request
 * mbuf. Every dropped frame is counted by reason; nothing here logs or
 * allocates. IPv6 and fragments are dropped (memcached requests fit one
 * datagram).
 */
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "cksum.h"
#include "dp.h"

static void arp_input(struct dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth)
{
	struct dp *dp = lc->dp;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    arp->arp_data.arp_tip != dp->ip) {
		lc->c.drop_not_ours++;
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_arp_ipv4 *a = &arp->arp_data;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	a->arp_tha = a->arp_sha;
	a->arp_tip = a->arp_sip;
	a->arp_sha = dp->mac;
	a->arp_sip = dp->ip;
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&dp->mac, &eth->src_addr);
	m->ol_flags = 0;
	lc->c.arp_replies++;
	dp_tx(lc, m);
}

static void icmp_input(struct dp_lcore *lc, struct rte_mbuf *m, struct rte_ether_hdr *eth,
		       struct rte_ipv4_hdr *ip, uint16_t ihl, uint16_t ip_len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + ihl);
	uint16_t icmp_len = ip_len - ihl;

	if (icmp_len < sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    icmp->icmp_code != 0 || rte_raw_cksum(icmp, icmp_len) != 0xffff) {
		lc->c.drop_bad_ip++;
		rte_pktmbuf_free(m);
		return;
	}
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
	uint32_t a = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&lc->dp->mac, &eth->src_addr);
	m->ol_flags = 0;
	lc->c.icmp_echo++;
	dp_tx(lc, m);
}

static void udp_input(struct dp_lcore *lc, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
		      uint16_t ihl, uint16_t ip_len)
{
	struct dp *dp = lc->dp;
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	uint16_t udp_len;

	if (ip_len < ihl + sizeof(*udp) ||
	    (udp_len = px_be16(udp->dgram_len)) < sizeof(*udp) ||
	    udp_len > ip_len - ihl) {
		lc->c.drop_bad_udp++;
		rte_pktmbuf_free(m);
		return;
	}
	if (udp->dgram_cksum != 0 && !(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_GOOD) &&
	    !dp_l4_cksum_ok(ip, udp, udp_len)) {
		lc->c.drop_bad_udp++;
		rte_pktmbuf_free(m);
		return;
	}
	uint16_t port = px_be16(udp->dst_port);
	uint16_t base = dp->udp_port;
	if (port != base && (!dp->set.udp_partition_ports || port <= base ||
			     port > base + dp->nlcores)) {
		lc->c.drop_port++;
		rte_pktmbuf_free(m);
		return;
	}
	lc->c.udp_reqs++;
	dp_mc_datagram(lc, m, port, (const uint8_t *)(udp + 1), udp_len - sizeof(*udp));
}

void dp_net_input(struct dp_lcore *lc, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t len = rte_pktmbuf_data_len(m);

	lc->c.rx_pkts++;
	lc->c.rx_bytes += rte_pktmbuf_pkt_len(m);
	if (unlikely(m->nb_segs != 1 || len < sizeof(*eth))) {
		lc->c.drop_not_ipv4++;
		rte_pktmbuf_free(m);
		return;
	}
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		arp_input(lc, m, eth);
		return;
	}
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		lc->c.drop_not_ipv4++;
		rte_pktmbuf_free(m);
		return;
	}
	if (!rte_is_same_ether_addr(&eth->dst_addr, &lc->dp->mac)) {
		/* unicast IPv4 for another host (or broadcast): not ours */
		lc->c.drop_not_ours++;
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint16_t ihl, ip_len;
	if (len < sizeof(*eth) + sizeof(*ip) || (ip->version_ihl >> 4) != 4 ||
	    (ihl = (uint16_t)((ip->version_ihl & 0xf) * 4)) < sizeof(*ip) ||
	    (ip_len = px_be16(ip->total_length)) < ihl ||
	    ip_len > len - sizeof(*eth) ||
	    (!(m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_GOOD) && rte_raw_cksum(ip, ihl) != 0xffff) ||
	    (px_be16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		lc->c.drop_bad_ip++;
		rte_pktmbuf_free(m);
		return;
	}
	if (ip->dst_addr != lc->dp->ip) {
		lc->c.drop_not_ours++;
		rte_pktmbuf_free(m);
		return;
	}
	/* Trim Ethernet padding: the IP length is authoritative from here on.
	 * One segment (checked above), so no walk to the last one. */
	uint16_t pad = (uint16_t)(len - sizeof(*eth) - ip_len);
	m->data_len = (uint16_t)(m->data_len - pad);
	m->pkt_len -= pad;
	if (ip->next_proto_id == IPPROTO_TCP && lc->tcp != NULL && ip_len >= ihl + 20 &&
	    ((const struct rte_tcp_hdr *)((uint8_t *)ip + ihl))->dst_port ==
		    rte_cpu_to_be_16(lc->dp->tcp_port))
		dp_tcp_input(lc, m, ip, (uint8_t *)ip + ihl, ip_len);
	else if (ip->next_proto_id == IPPROTO_TCP && lc->tcp != NULL) {
		lc->c.drop_port++;
		tcp_refuse(lc->tcp, m, ip, (uint8_t *)ip + ihl, ip_len);
	} else if (ip->next_proto_id == IPPROTO_UDP)
		udp_input(lc, m, ip, ihl, ip_len);
	else if (ip->next_proto_id == IPPROTO_ICMP)
		icmp_input(lc, m, eth, ip, ihl, ip_len);
	else {
		lc->c.drop_bad_ip++;
		rte_pktmbuf_free(m);
	}
}
