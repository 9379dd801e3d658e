/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for TX coalescing (dataplane/txhold.h), driven the way the
 * lcore loop drives it, with made-up time (1 tsc = 1 ns, a 20 us window),
 * on an lcore with requests on 64 connections in its last tick unless said: off at window 0; a lone client's
 * replies go at once (round trip over the window) or wait for under 1% of
 * requests (a fast client, or pure ACKs between requests: the backoff);
 * under steady load replies share kicks and none waits longer than the
 * window; the packet and loop caps; a reply left waiting goes when the
 * window ends without more input; after an idle spell a short burst goes
 * at once and waiting resumes under sustained load; no waiting with
 * requests on fewer than 8 connections a tick, and at most half as many
 * loops' replies waiting as there were connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../dataplane/txhold.h"

#define US 1000ULL
#define WINDOW (20 * US)

/* A model lcore: polls every `poll` ns; a loop at an arrival queues `pkts`
 * packets. Counts kicks and the longest any packet waited. */
struct model {
	struct dp_txhold h;
	uint64_t now, oldest;
	unsigned queued, bursts;
	uint64_t kicks, pkts_sent, longest_wait, waited_loops;
};

/* A model lcore whose last tick saw requests on 64 connections. */
static void model_init(struct model *m, uint64_t window)
{
	*m = (struct model){ .now = 1000 * US };
	dp_txhold_init(&m->h, window);
	dp_txhold_tick(&m->h, 64);
}

/* One loop at m->now with input (queuing pkts packets) or without;
 * returns true if it sent. */
static bool model_loop_in(struct model *m, bool input, unsigned pkts)
{
	if (pkts > 0) {
		if (m->queued == 0)
			m->oldest = m->now;
		m->queued += pkts;
		m->bursts++;
	}
	if (dp_txhold_wait(&m->h, m->now, input, m->queued, m->bursts)) {
		m->waited_loops++;
		return false;
	}
	if (m->queued > 0) {
		m->kicks++;
		m->pkts_sent += m->queued;
		if (m->now - m->oldest > m->longest_wait)
			m->longest_wait = m->now - m->oldest;
	}
	m->queued = m->bursts = 0;
	dp_txhold_sent(&m->h);
	return true;
}

static bool model_loop(struct model *m, unsigned pkts)
{
	return model_loop_in(m, pkts > 0, pkts);
}

/* `n` arrivals of `pkts` packets every `gap` ns, polling every `poll` ns
 * between them. */
static void model_run(struct model *m, unsigned n, uint64_t gap, uint64_t poll, unsigned pkts)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = m->now;

		model_loop(m, pkts);
		for (m->now = t0 + poll; m->now < t0 + gap; m->now += poll)
			model_loop(m, 0);
		m->now = t0 + gap;
	}
}

static void test_off(void **state)
{
	struct model m;

	(void)state;
	model_init(&m, 0);
	model_run(&m, 1000, 1 * US, 100, 1);
	assert_int_equal(m.kicks, 1000);
	assert_int_equal(m.waited_loops, 0);
}

/* A closed-loop client with one request in flight: the next request comes
 * `rtt` ns after its reply went (plus, with ack, the client's pure ACK of
 * the reply 1 us before it). Returns how many of n replies waited. */
static unsigned lone_client(struct model *m, unsigned n, uint64_t rtt, bool ack)
{
	unsigned waited = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!model_loop(m, 1)) {
			waited++;
			while (!model_loop(m, 0))
				m->now += 100;
		}
		m->now += rtt;
		if (ack) {
			m->now -= 1 * US;
			model_loop_in(m, true, 0); /* input, no reply */
			m->now += 1 * US;
		}
	}
	return waited;
}

static void test_lone_requests_go_at_once(void **state)
{
	struct model m;

	(void)state;
	/* a round trip longer than the window: never expected to share */
	model_init(&m, WINDOW);
	assert_int_equal(lone_client(&m, 10000, 25 * US, false), 0);
	assert_int_equal(m.kicks, 10000);

	/* with a pure ACK 1 us before each request, two inputs per round trip
	 * bring the average gap under the window: a few replies wait, nothing
	 * joins them, and the backoff keeps that under 1% */
	model_init(&m, WINDOW);
	unsigned w = lone_client(&m, 10000, 25 * US, true);
	assert_true(w > 0 && w < 100);
	assert_true(m.longest_wait <= WINDOW);

	/* a fast client, 5 us round trips: the same */
	model_init(&m, WINDOW);
	w = lone_client(&m, 10000, 5 * US, false);
	assert_true(w > 0 && w < 100);
	assert_true(m.longest_wait <= WINDOW);
}

static void test_steady_load_shares_kicks(void **state)
{
	struct model m;

	(void)state;
	/* a request every 5 us, polled every 200 ns: about four replies per kick */
	model_init(&m, WINDOW);
	model_run(&m, 16, 5 * US, 200, 1);
	assert_true(m.kicks >= 10); /* from the idle state: about a dozen go at once */
	uint64_t kicks0 = m.kicks, sent0 = m.pkts_sent;
	model_run(&m, 4000, 5 * US, 200, 1);
	uint64_t kicks = m.kicks - kicks0, sent = m.pkts_sent - sent0;
	assert_true(sent >= 3990 && sent <= 4000 + m.queued);
	assert_true(kicks <= sent / 3);  /* coalesced */
	assert_true(kicks >= sent / 5);  /* but no more than the window allows */
	assert_true(m.longest_wait <= WINDOW);
}

static void test_caps(void **state)
{
	struct model m;

	(void)state;
	/* 8 packets per loop every 300 ns: 32 queued go at once, every 4 loops */
	model_init(&m, WINDOW);
	model_run(&m, 64, 300, 300, 8);
	uint64_t k0 = m.kicks;
	m.longest_wait = 0;
	model_run(&m, 800, 300, 300, 8);
	assert_true(m.kicks - k0 >= 199 && m.kicks - k0 <= 201);
	assert_true(m.longest_wait == 3 * 300);

	/* 1 packet per loop every 300 ns: the loop cap sends every 8 loops */
	model_init(&m, WINDOW);
	model_run(&m, 64, 300, 300, 1);
	k0 = m.kicks;
	m.longest_wait = 0;
	model_run(&m, 800, 300, 300, 1);
	assert_true(m.kicks - k0 >= 99 && m.kicks - k0 <= 101);
	assert_true(m.longest_wait == (DP_TXHOLD_BURSTS - 1) * 300);
}

static void test_wait_ends_with_window(void **state)
{
	struct model m;

	(void)state;
	model_init(&m, WINDOW);
	model_run(&m, 100, 2 * US, 100, 1);
	/* the last arrival's reply may wait; with no more input it goes when
	 * the window ends, at the first poll after */
	while (m.queued == 0) {
		m.now += 2 * US;
		model_loop(&m, 1);
	}
	uint64_t start = m.oldest;
	while (m.queued > 0) {
		m.now += 100;
		model_loop(&m, 0);
	}
	assert_true(m.now - start >= WINDOW && m.now - start <= WINDOW + 100);
}

static void test_idle_spell(void **state)
{
	struct model m;

	(void)state;
	model_init(&m, WINDOW);
	model_run(&m, 200, 3 * US, 100, 1);
	assert_true(m.waited_loops > 0);
	/* a second of nothing, then a request: its reply goes at once */
	if (m.queued)
		model_run(&m, 1, WINDOW + 100, 100, 0);
	assert_int_equal(m.queued, 0);
	m.now += 1000000 * US;
	/* a burst of eight 1 us apart after it: every reply goes at once */
	for (unsigned i = 0; i < 8; i++) {
		assert_true(model_loop(&m, 1));
		m.now += 1 * US;
	}
	/* sustained load: replies wait again, after about sixteen loops */
	uint64_t w0 = m.waited_loops;
	unsigned i;
	for (i = 0; i < 24 && m.waited_loops == w0; i++) {
		model_loop(&m, 1);
		m.now += 1 * US;
	}
	assert_true(m.waited_loops > w0);

	/* a gap just under four windows is not an idle spell: it only adds to
	 * the average, and replies wait again within six close arrivals */
	model_init(&m, WINDOW);
	model_run(&m, 200, 3 * US, 100, 1);
	model_run(&m, 1, 4 * WINDOW - 1 - 3 * US, 100, 0); /* the last input was 3 us ago */
	assert_int_equal(m.queued, 0);
	w0 = m.waited_loops;
	model_run(&m, 6, 3 * US, 100, 1);
	assert_true(m.waited_loops > w0);
}

static void test_only_with_many_connections(void **state)
{
	struct model m;
	uint64_t w0;

	(void)state;
	/* no tick yet, or requests on 7 connections in the last: no waiting,
	 * however close the input */
	m = (struct model){ .now = 1000 * US };
	dp_txhold_init(&m.h, WINDOW);
	model_run(&m, 1000, 1 * US, 100, 1);
	assert_int_equal(m.waited_loops, 0);
	dp_txhold_tick(&m.h, DP_TXHOLD_FLOWS - 1);
	model_run(&m, 1000, 1 * US, 100, 1);
	assert_int_equal(m.waited_loops, 0);

	/* 8 connections: the replies of up to 4 loops wait together (half of
	 * them), so the other 4 clients can still send */
	dp_txhold_tick(&m.h, DP_TXHOLD_FLOWS);
	uint64_t k0 = m.kicks;
	model_run(&m, 800, 1 * US, 100, 1);
	assert_true(m.waited_loops > 0);
	assert_true(m.kicks - k0 >= 199 && m.kicks - k0 <= 201);

	/* 20 connections: up to 8 loops (DP_TXHOLD_BURSTS) */
	dp_txhold_tick(&m.h, 20);
	k0 = m.kicks;
	model_run(&m, 800, 1 * US, 100, 1);
	assert_true(m.kicks - k0 >= 99 && m.kicks - k0 <= 101);

	/* back to 2 connections: off at the next tick */
	dp_txhold_tick(&m.h, 2);
	model_run(&m, 1, WINDOW + 100, 100, 0);
	w0 = m.waited_loops;
	model_run(&m, 1000, 1 * US, 100, 1);
	assert_int_equal(m.waited_loops, w0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_lone_requests_go_at_once),
		cmocka_unit_test(test_steady_load_shares_kicks),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_wait_ends_with_window),
		cmocka_unit_test(test_idle_spell),
		cmocka_unit_test(test_only_with_many_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
