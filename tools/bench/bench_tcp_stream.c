/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The receive side of a `pollux-bench tcp` connection (see bench_tcp.h):
 * bytes are read at the tail of one buffer and whole replies are taken from
 * its head, so a reply split across reads, or many replies in one read,
 * cost no copy; the unparsed rest moves to the front only when the tail
 * runs out of room. No sockets here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_tcp.h"

int tcp_rx_init(struct tcp_rx *rx, size_t cap, size_t cap_max)
{
	*rx = (struct tcp_rx){.cap = cap, .cap_max = cap_max < cap ? cap : cap_max};
	rx->buf = malloc(cap);
	return rx->buf != NULL ? 0 : -ENOMEM;
}

void tcp_rx_free(struct tcp_rx *rx)
{
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = 0;
}

uint8_t *tcp_rx_space(struct tcp_rx *rx, size_t *room)
{
	*room = 0;
	if (rx->head == rx->tail)
		rx->head = rx->tail = 0;
	/* Compact when the tail is nearly full, or the reply at head cannot fit after it. */
	if (rx->head > 0 && (rx->cap - rx->tail < rx->cap / 4 || rx->head + rx->need > rx->cap)) {
		memmove(rx->buf, rx->buf + rx->head, rx->tail - rx->head);
		rx->tail -= rx->head;
		rx->head = 0;
	}
	if (rx->tail == rx->cap || rx->need > rx->cap) {
		size_t want = rx->need > rx->cap * 2 ? rx->need : rx->cap * 2;

		if (want > rx->cap_max)
			want = rx->cap_max;
		if (want <= rx->cap || want < rx->need)
			return NULL;
		uint8_t *nb = realloc(rx->buf, want);
		if (nb == NULL)
			return NULL;
		rx->buf = nb;
		rx->cap = want;
	}
	*room = rx->cap - rx->tail;
	return rx->buf + rx->tail;
}

void tcp_rx_commit(struct tcp_rx *rx, size_t n)
{
	rx->tail += n;
}

enum tcp_rx_status tcp_rx_next(struct tcp_rx *rx, enum load_proto proto, enum load_op op,
			       const uint8_t **p, size_t *len)
{
	size_t avail = rx->tail - rx->head, need;

	if (avail == 0 || rx->need > avail)
		return TCP_RX_MORE;
	size_t n = load_reply_frame(rx->buf + rx->head, avail, proto, op, &need);
	if (n == LOAD_FRAME_BAD)
		return TCP_RX_BAD;
	if (n == 0) {
		rx->need = need;
		return TCP_RX_MORE;
	}
	*p = rx->buf + rx->head;
	*len = n;
	rx->head += n;
	rx->need = 0;
	return TCP_RX_REPLY;
}
