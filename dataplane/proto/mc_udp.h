/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcached UDP framing: the 8-byte frame header (request id, sequence
 * number, datagram count, reserved; big-endian 16-bit fields), validation
 * of request datagrams and the split of a reply into numbered datagrams.
 * Pure arithmetic on caller buffers; no sockets, no mbufs, no state. A
 * request's payload is parsed with mc_parse(); MC_PARSE_NEED_MORE on a
 * datagram means a truncated request, which is dropped.
 */
#ifndef PX_MC_UDP_H
#define PX_MC_UDP_H

#include <stddef.h>
#include <stdint.h>

#define MC_UDP_HDR_LEN 8
#define MC_UDP_DGRAM_MAX 1400 /* memcached UDP_MAX_PAYLOAD_SIZE, header included */
#define MC_UDP_FRAGS_MAX 0xffff

struct mc_udp_hdr {
	uint16_t req_id;
	uint16_t seq;
	uint16_t total;
	uint16_t reserved;
};

/* Why a request datagram is not served. */
enum mc_udp_verdict {
	MC_UDP_OK = 0,
	MC_UDP_DROP_SHORT,  /* shorter than the frame header */
	MC_UDP_DROP_MULTI,  /* total != 1 or seq != 0: multi-datagram request */
	MC_UDP_DROP_EMPTY,  /* header only, no command */
	MC_UDP_DROP_TRUNCATED, /* a request runs past the datagram's end */
	MC_UDP_VERDICT_COUNT,
};

/* One reply datagram: write hdr, then reply[off, off + len). */
struct mc_udp_frag {
	uint8_t hdr[MC_UDP_HDR_LEN];
	size_t off;
	size_t len;
};

/* Decode a frame header. Returns 0, or -EINVAL if len < MC_UDP_HDR_LEN. */
int mc_udp_hdr_parse(const uint8_t *buf, size_t len, struct mc_udp_hdr *h);

/* Encode a frame header into out[0, MC_UDP_HDR_LEN). */
void mc_udp_hdr_write(uint8_t *out, const struct mc_udp_hdr *h);

/*
 * Check a request datagram. memcached serves only single-datagram requests
 * (it answers others with "SERVER_ERROR multi-packet request not
 * supported"; Pollux drops them instead of replying to spoofable UDP). The
 * reserved field is ignored, as memcached does. *h is filled when at least
 * the header is present.
 */
enum mc_udp_verdict mc_udp_validate(const uint8_t *dgram, size_t len, struct mc_udp_hdr *h);

/* Short name of a verdict for counters and logs ("ok", "short", ...). */
const char *mc_udp_verdict_name(enum mc_udp_verdict v);

/*
 * Number of datagrams of at most dgram_max bytes (header included; 0 means
 * MC_UDP_DGRAM_MAX) needed for a reply of reply_len bytes: 0 for an empty
 * reply, -EINVAL if dgram_max <= MC_UDP_HDR_LEN, -EMSGSIZE if more than
 * MC_UDP_FRAGS_MAX would be needed.
 */
int mc_udp_frag_count(size_t reply_len, size_t dgram_max);

/*
 * Describe datagram `seq` of the reply to request `req_id`: header bytes
 * (with the total count) and the payload range. Returns 0, or the negative
 * errno of mc_udp_frag_count, or -ERANGE if seq is not below the count.
 */
int mc_udp_frag(size_t reply_len, size_t dgram_max, uint16_t req_id, uint16_t seq,
		struct mc_udp_frag *f);

#endif
