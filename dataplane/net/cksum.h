/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IPv4 + UDP/TCP checksums, shared by the UDP replies and the TCP stack:
 * verification of a received segment, and the transmit side, either left to
 * the port (offload flags and the pseudo-header sum it wants) or computed in
 * software. The segment must be contiguous in the mbuf.
 */
#ifndef PX_NET_CKSUM_H
#define PX_NET_CKSUM_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "px_compiler.h"

/*
 * The pseudo-header sum (folded, not complemented), as rte_ipv4_phdr_cksum()
 * computes it without TSO, but from registers: that one assembles the
 * pseudo-header on the stack and sums it back in 16-bit loads, which stalls
 * on store forwarding.
 */
static inline uint16_t dp_phdr_cksum(const struct rte_ipv4_hdr *ip)
{
	uint32_t l4_len = (uint32_t)(px_be16(ip->total_length) - rte_ipv4_hdr_len(ip));
	uint32_t sum = (ip->src_addr & 0xffff) + (ip->src_addr >> 16) + (ip->dst_addr & 0xffff) +
		       (ip->dst_addr >> 16) + px_be16((uint16_t)ip->next_proto_id) +
		       px_be16((uint16_t)l4_len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Pseudo-header plus segment of len bytes sum to 0xffff when the checksum is right. */
static inline bool dp_l4_cksum_ok(const struct rte_ipv4_hdr *ip, const void *l4, uint16_t len)
{
	uint32_t sum = (uint32_t)dp_phdr_cksum(ip) + rte_raw_cksum(l4, len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * Fill the IPv4 header checksum and return the L4 one for a frame that
 * starts with an Ethernet header and a 20-byte IPv4 header, whose L4
 * checksum field is still 0 (l4_flag: RTE_MBUF_F_TX_UDP_CKSUM or
 * RTE_MBUF_F_TX_TCP_CKSUM).
 */
static inline uint16_t dp_l4_cksum_set(struct rte_mbuf *m, struct rte_ipv4_hdr *ip, const void *l4,
				       uint64_t l4_flag, bool offload)
{
	if (offload) {
		m->l2_len = RTE_ETHER_HDR_LEN;
		m->l3_len = sizeof(*ip);
		m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | l4_flag;
		return dp_phdr_cksum(ip);
	}
	m->ol_flags = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return rte_ipv4_udptcp_cksum(ip, l4);
}

#endif
