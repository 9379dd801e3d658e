/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcached UDP frame header encode/decode, request datagram checks and
 * reply fragmentation arithmetic. Every reply datagram but the last carries
 * a full payload; all carry the request id, their sequence number and the
 * total. No I/O happens here.
 */
#include <errno.h>

#include "mc_udp.h"
#include "px_compiler.h"

static uint16_t mc_be16(const uint8_t *p)
{
	return px_be16(px_load16(p));
}

static void mc_put_be16(uint8_t *p, uint16_t v)
{
	px_store16(p, px_be16(v));
}

int mc_udp_hdr_parse(const uint8_t *buf, size_t len, struct mc_udp_hdr *h)
{
	if (buf == NULL || h == NULL || len < MC_UDP_HDR_LEN)
		return -EINVAL;
	h->req_id = mc_be16(buf);
	h->seq = mc_be16(buf + 2);
	h->total = mc_be16(buf + 4);
	h->reserved = mc_be16(buf + 6);
	return 0;
}

void mc_udp_hdr_write(uint8_t *out, const struct mc_udp_hdr *h)
{
	mc_put_be16(out, h->req_id);
	mc_put_be16(out + 2, h->seq);
	mc_put_be16(out + 4, h->total);
	mc_put_be16(out + 6, h->reserved);
}

enum mc_udp_verdict mc_udp_validate(const uint8_t *dgram, size_t len, struct mc_udp_hdr *h)
{
	struct mc_udp_hdr tmp;
	if (h == NULL)
		h = &tmp;
	if (mc_udp_hdr_parse(dgram, len, h) != 0)
		return MC_UDP_DROP_SHORT;
	if (h->total != 1 || h->seq != 0)
		return MC_UDP_DROP_MULTI;
	if (len == MC_UDP_HDR_LEN)
		return MC_UDP_DROP_EMPTY;
	return MC_UDP_OK;
}

const char *mc_udp_verdict_name(enum mc_udp_verdict v)
{
	static const char *const names[MC_UDP_VERDICT_COUNT] = {
		[MC_UDP_OK] = "ok",
		[MC_UDP_DROP_SHORT] = "short",
		[MC_UDP_DROP_MULTI] = "multi",
		[MC_UDP_DROP_EMPTY] = "empty",
		[MC_UDP_DROP_TRUNCATED] = "truncated",
	};
	return (unsigned)v < MC_UDP_VERDICT_COUNT ? names[v] : "unknown";
}

int mc_udp_frag_count(size_t reply_len, size_t dgram_max)
{
	if (dgram_max == 0)
		dgram_max = MC_UDP_DGRAM_MAX;
	if (dgram_max <= MC_UDP_HDR_LEN)
		return -EINVAL;
	size_t payload = dgram_max - MC_UDP_HDR_LEN;
	size_t n = reply_len / payload + (reply_len % payload != 0);
	if (n > MC_UDP_FRAGS_MAX)
		return -EMSGSIZE;
	return (int)n;
}

int mc_udp_frag(size_t reply_len, size_t dgram_max, uint16_t req_id, uint16_t seq,
		struct mc_udp_frag *f)
{
	int n = mc_udp_frag_count(reply_len, dgram_max);
	if (n < 0)
		return n;
	if (f == NULL || seq >= n)
		return f == NULL ? -EINVAL : -ERANGE;
	if (dgram_max == 0)
		dgram_max = MC_UDP_DGRAM_MAX;
	size_t payload = dgram_max - MC_UDP_HDR_LEN;
	struct mc_udp_hdr h = { .req_id = req_id, .seq = seq, .total = (uint16_t)n };
	mc_udp_hdr_write(f->hdr, &h);
	f->off = (size_t)seq * payload;
	f->len = reply_len - f->off < payload ? reply_len - f->off : payload;
	return 0;
}
