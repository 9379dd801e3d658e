/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helper for the memcached parser: replays a byte stream through
 * mc_parse() the way a connection would (buffering on NEED_MORE, skipping
 * swallowed data blocks, stopping on a closing error) and renders every
 * result as one text line, so tests compare whole transcripts. The same
 * session is replayed split at every byte boundary and byte by byte, and
 * must produce the identical transcript.
 */
#ifndef PX_TEST_MC_SESSION_H
#define PX_TEST_MC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "proto/mc_parser.h"

/*
 * Transcript of `in` delivered in chunks ending at cuts[0..ncuts) and then
 * the rest. Returns a malloc'd NUL-terminated string (caller frees).
 */
char *mc_session_run(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
		     const struct mc_parse_limits *lim);

/*
 * Assert that the transcript of `in` equals `expect`, and that every
 * two-chunk split and byte-by-byte delivery yields the same transcript.
 * Sessions longer than 4 KiB are split at a stride and not fed bytewise.
 */
void mc_session_check_lim(const void *in, size_t len, const struct mc_parse_limits *lim,
			  const char *expect);

/* mc_session_check_lim with default limits and a C-string input. */
void mc_session_check(const char *in, const char *expect);

#endif
