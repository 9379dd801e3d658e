/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stream and datagram drivers: framing around mc_parse and mc_exec_request,
 * error replies, the swallowing of rejected data blocks, and the carry-over
 * buffer of a stream. See mc_conn.h for the contracts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mc_conn.h"

void mc_stream_init(struct mc_stream *s)
{
	memset(s, 0, sizeof(*s));
}

void mc_stream_free(struct mc_stream *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int stream_reserve(struct mc_stream *s, size_t need)
{
	if (need <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 256;
	while (cap < need)
		cap *= 2;
	uint8_t *nb = realloc(s->buf, cap);
	if (nb == NULL)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

/* Keep p[0, n) as the carried bytes; p is the caller's data or inside s->buf. */
static int stream_keep(struct mc_stream *s, const uint8_t *p, size_t n)
{
	if (s->buf != NULL && p >= s->buf && p <= s->buf + s->len) {
		memmove(s->buf, p, n);
	} else {
		if (stream_reserve(s, n) != 0)
			return -ENOMEM;
		memcpy(s->buf, p, n);
	}
	s->len = n;
	return 0;
}

/* Run complete requests from p[0, n); returns bytes used, or SIZE_MAX to close. */
static size_t stream_run(struct mc_exec *x, struct mc_stream *s, const uint8_t *p, size_t n,
			 struct mc_out *out)
{
	size_t used = 0;

	s->stopped = false;
	while (used < n) {
		if (s->out_limit != 0 && out->total >= s->out_limit && s->swallow == 0) {
			s->stopped = true;
			break;
		}
		if (s->swallow > 0) {
			size_t k = PX_MIN(s->swallow, n - used);
			s->swallow -= k;
			used += k;
			continue;
		}
		struct mc_request req;
		size_t consumed = 0;
		int rc = mc_parse(p + used, n - used, &x->cfg.limits, &req, &consumed);
		if (rc == MC_PARSE_NEED_MORE)
			break;
		if (rc == MC_PARSE_OK) {
			enum mc_exec_result r = mc_exec_request(x, &req, out);
			if (r == MC_EXEC_CLOSE)
				return SIZE_MAX;
			if (r == MC_EXEC_FORWARD) {
				s->fwd_len = consumed;
				break;
			}
			used += consumed;
			continue;
		}
		size_t len;
		const char *line = mc_err_reply(req.err, &len);
		if (!req.noreply || mc_err_closes(req.err))
			mc_out_str(out, line, len);
		if (mc_err_closes(req.err))
			return SIZE_MAX;
		used += consumed;
		s->swallow = req.swallow;
	}
	return used;
}

enum mc_exec_result mc_stream_input(struct mc_exec *x, struct mc_stream *s, const uint8_t *data,
				    size_t n, struct mc_out *out)
{
	const uint8_t *p = data;
	size_t len = n;

	s->fwd_len = 0;
	if (s->len > 0) {
		/* Finish the carried request: join the new bytes behind it. */
		if (n > 0 && mc_stream_append(s, data, n) != 0)
			return MC_EXEC_CLOSE;
		p = s->buf;
		len = s->len;
	}
	size_t used = stream_run(x, s, p, len, out);
	if (used == SIZE_MAX) {
		s->len = 0;
		return MC_EXEC_CLOSE;
	}
	enum mc_exec_result r = s->fwd_len ? MC_EXEC_FORWARD : MC_EXEC_OK;
	if (len - used == 0) {
		s->len = 0;
		return r;
	}
	return stream_keep(s, p + used, len - used) == 0 ? r : MC_EXEC_CLOSE;
}

int mc_stream_append(struct mc_stream *s, const uint8_t *data, size_t n)
{
	if (stream_reserve(s, s->len + n) != 0)
		return -ENOMEM;
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return 0;
}

void mc_stream_skip(struct mc_stream *s, size_t n)
{
	if (n >= s->len) {
		s->len = 0;
		return;
	}
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

enum mc_udp_verdict mc_dgram_input(struct mc_exec *x, const uint8_t *dgram, size_t len,
				   struct mc_udp_hdr *hdr, struct mc_out *out)
{
	enum mc_udp_verdict v = mc_udp_validate(dgram, len, hdr);
	const uint8_t *p = dgram + MC_UDP_HDR_LEN;
	size_t n = v == MC_UDP_OK ? len - MC_UDP_HDR_LEN : 0;

	while (n > 0) {
		struct mc_request req;
		size_t consumed = 0;
		int rc = mc_parse(p, n, &x->cfg.limits, &req, &consumed);
		if (rc == MC_PARSE_NEED_MORE)
			return MC_UDP_DROP_TRUNCATED;
		if (rc == MC_PARSE_OK) {
			/* quit: memcached stops reading the datagram */
			if (req.cmd == MC_CMD_QUIT)
				break;
			mc_exec_request(x, &req, out);
		} else {
			size_t elen;
			const char *line = mc_err_reply(req.err, &elen);
			if (!req.noreply || mc_err_closes(req.err))
				mc_out_str(out, line, elen);
			if (mc_err_closes(req.err) || req.swallow > n - consumed)
				break;
			consumed += req.swallow;
		}
		p += consumed;
		n -= consumed;
	}
	return v;
}
