/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection drivers over the executor. Stream mode (TCP): bytes arrive in
 * any pieces; complete requests are executed in order straight from the
 * caller's buffer, and only an unfinished tail is kept. Datagram mode (UDP):
 * one datagram carries the 8-byte frame header and whole requests; replies
 * go to the output chain, whose segments the caller sizes to datagrams.
 */
#ifndef PX_MC_CONN_H
#define PX_MC_CONN_H

#include "mc_exec.h"
#include "mc_udp.h"

struct mc_stream {
	uint8_t *buf;     /* unfinished request bytes carried to the next input */
	size_t len;
	size_t cap;
	size_t swallow;   /* bytes of a rejected request's data block still to drop */
	/*
	 * Back-pressure: with out_limit set, no new request starts once the
	 * output chain holds that many bytes; stopped tells the caller so.
	 */
	size_t out_limit;
	bool stopped;
	/*
	 * A request for another owner (MC_EXEC_FORWARD) is kept at buf[0,
	 * fwd_len): the caller has it run there, then mc_stream_skip()s it.
	 */
	size_t fwd_len;
};

void mc_stream_init(struct mc_stream *s);
void mc_stream_free(struct mc_stream *s);

/*
 * Feed n bytes received on a connection (n may be 0 to go on with carried
 * bytes after a stop or a forward). Replies for every complete request are
 * written to out, in order. Returns MC_EXEC_CLOSE when the connection must
 * be closed once out is sent (quit, or an error that closes),
 * MC_EXEC_FORWARD when the request at buf[0, fwd_len) must run on another
 * owner first (nothing after it has run), else MC_EXEC_OK. Memory held is
 * bounded by the parse limits.
 */
enum mc_exec_result mc_stream_input(struct mc_exec *x, struct mc_stream *s, const uint8_t *data,
				    size_t n, struct mc_out *out);

/* Buffer n bytes without running anything (the caller is waiting). */
int mc_stream_append(struct mc_stream *s, const uint8_t *data, size_t n);
/* Drop the first n carried bytes (a forwarded request that has run). */
void mc_stream_skip(struct mc_stream *s, size_t n);

/*
 * Serve one request datagram: validate the frame header (into *hdr), run
 * every request in the payload and write the replies, without frame
 * headers, to out. A truncated request stops the datagram
 * (MC_UDP_DROP_TRUNCATED) after the replies of those before it.
 */
enum mc_udp_verdict mc_dgram_input(struct mc_exec *x, const uint8_t *dgram, size_t len,
				   struct mc_udp_hdr *hdr, struct mc_out *out);

#endif
