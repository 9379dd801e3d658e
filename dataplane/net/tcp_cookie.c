/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SYN cookies: when the SYN backlog is full the stack answers a SYN without
 * keeping state, with an initial sequence number that proves, when the
 * handshake's ACK returns it plus one, that we sent it recently to that
 * peer. Layout of the 32-bit cookie:
 *   bits 31..27  time counter, 64-second periods (mod 32)
 *   bits 26..24  index of the peer's MSS in a table
 *   bits 23..0   keyed hash of the peer's address, port, ISN and the counter
 * A cookie is good for the current and the previous period. Options that do
 * not fit (window scaling) are not offered on a cookie SYN-ACK, so both
 * sides run unscaled.
 */
#include "px_hash.h"
#include "tcp.h"

static const uint16_t mss_table[8] = { 216, 536, 1024, 1200, 1360, 1400, 1440, 1460 };

static uint32_t cookie_hash(const struct tcp_cfg *cfg, uint32_t rip, uint16_t rport,
			    uint32_t peer_isn, uint32_t t)
{
	uint64_t w[4] = {
		((uint64_t)rip << 32) | cfg->ip,
		((uint64_t)rport << 48) | ((uint64_t)cfg->port << 32) | peer_isn,
		t,
		cfg->cookie_secret[1],
	};
	return (uint32_t)px_hash64(w, sizeof(w), cfg->cookie_secret[0]) & 0xffffff;
}

uint32_t tcp_cookie_make(const struct tcp_cfg *cfg, uint32_t rip, uint16_t rport, uint32_t peer_isn,
			 uint16_t mss, uint64_t now_s)
{
	uint32_t t = (uint32_t)(now_s >> 6) & 0x1f;
	unsigned i = 7;

	while (i > 0 && mss_table[i] > mss)
		i--;
	return (t << 27) | ((uint32_t)i << 24) | cookie_hash(cfg, rip, rport, peer_isn, t);
}

uint16_t tcp_cookie_check(const struct tcp_cfg *cfg, uint32_t rip, uint16_t rport,
			  uint32_t peer_isn, uint32_t cookie, uint64_t now_s)
{
	uint32_t now_t = (uint32_t)(now_s >> 6) & 0x1f;
	uint32_t t = cookie >> 27;

	if (t != now_t && t != ((now_t - 1) & 0x1f))
		return 0;
	if ((cookie & 0xffffff) != cookie_hash(cfg, rip, rport, peer_isn, t))
		return 0;
	return mss_table[(cookie >> 24) & 7];
}
