// SPDX-License-Identifier: BSD-3-Clause
/* syn-flood: send a bounded number of TCP SYNs, at a bounded rate, from
 * spoofed sources to the test appliance, through a raw IPv4 socket of the
 * current network namespace. For the integration tests' client namespace
 * only, and built so it cannot be pointed anywhere else: the destination is
 * always 198.18.0.1 (the appliance of tests/lib/pxnet.py), and sources are
 * drawn from 198.18.0.FIRST..LAST inside the test /24, never .1 (the
 * appliance) or .2 (the real client). Nobody answers ARP for those sources
 * and the client's kernel does not own them, so SYN-ACKs go nowhere and
 * every SYN leaves a half-open connection (or a SYN cookie) behind.
 *
 *   ip netns exec pollux-cli syn-flood --count 100000 --rate 20000 --port 11211
 *   syn-flood: sent 100000 SYNs to 198.18.0.1:11211 from 198.18.0.100-250 in 5.00 s
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_DST "198.18.0.1"
#define FLOOD_NET 0xc6120000u /* 198.18.0.0/24, host order */
#define MAX_COUNT 2000000ul
#define MAX_RATE 200000ul
#define BATCH 32

struct syn_pkt {
	/* IPv4 header, no options */
	uint8_t ver_ihl, tos;
	uint16_t tot_len, id, frag;
	uint8_t ttl, proto;
	uint16_t ip_sum;
	uint32_t saddr, daddr;
	/* TCP header with one option, MSS */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t doff, flags;
	uint16_t win, tcp_sum, urg;
	uint8_t mss_kind, mss_len;
	uint16_t mss;
} __attribute__((packed));

_Static_assert(sizeof(struct syn_pkt) == 20 + 24, "IPv4 + TCP with MSS");

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static uint64_t rng_state;

/* xorshift64*: good enough for addresses, ports and sequence numbers. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void build(struct syn_pkt *p, uint32_t saddr, uint32_t daddr, uint16_t dport)
{
	uint64_t r = rng_next();
	uint32_t sum;

	memset(p, 0, sizeof(*p));
	p->ver_ihl = 0x45;
	p->tot_len = htons(sizeof(*p));
	p->id = htons((uint16_t)r);
	p->frag = htons(0x4000); /* DF */
	p->ttl = 64;
	p->proto = IPPROTO_TCP;
	p->saddr = saddr;
	p->daddr = daddr;
	p->ip_sum = fold(sum16(p, 20, 0));
	p->sport = htons((uint16_t)(1024 + (r >> 16) % 64000));
	p->dport = htons(dport);
	p->seq = htonl((uint32_t)(r >> 32));
	p->doff = 6 << 4;
	p->flags = 0x02; /* SYN */
	p->win = htons(64240);
	p->mss_kind = 2;
	p->mss_len = 4;
	p->mss = htons(1460);
	/* pseudo-header: saddr, daddr, zero, protocol, TCP length */
	sum = sum16(&p->saddr, 8, IPPROTO_TCP + 24);
	p->tcp_sum = fold(sum16(&p->sport, 24, sum));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: syn-flood [--count N] [--rate PER_SECOND] [--port P] [--src-first A]\n"
		   "                 [--src-last B] [--seed S]\n"
		   "  Send N (default 10000, at most %lu) TCP SYNs to " FLOOD_DST ":P (default\n"
		   "  11211) at PER_SECOND (default 10000, at most %lu) from random sources\n"
		   "  198.18.0.A..198.18.0.B (default 100..250, within 3..254), random ports.\n",
		MAX_COUNT, MAX_RATE);
}

static int parse_ul(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || end == s || *end || *v < lo || *v > hi ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"port", required_argument, NULL, 'p'},
		{"src-first", required_argument, NULL, 'f'},
		{"src-last", required_argument, NULL, 'l'},
		{"seed", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long count = 10000, rate = 10000, port = 11211, first = 100, last = 250, seed = 1;
	struct sockaddr_in dst = {.sin_family = AF_INET};
	unsigned long sent = 0, failed = 0;
	struct syn_pkt pkt;
	double t0, t;
	int c, fd, bad = 0;

	while ((c = getopt_long(argc, argv, "n:r:p:f:l:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			bad |= parse_ul(optarg, 1, MAX_COUNT, &count);
			break;
		case 'r':
			bad |= parse_ul(optarg, 1, MAX_RATE, &rate);
			break;
		case 'p':
			bad |= parse_ul(optarg, 1, 65535, &port);
			break;
		case 'f':
			bad |= parse_ul(optarg, 3, 254, &first);
			break;
		case 'l':
			bad |= parse_ul(optarg, 3, 254, &last);
			break;
		case 's':
			bad |= parse_ul(optarg, 0, ~0ul, &seed);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (bad || optind != argc || first > last) {
		fprintf(stderr, "syn-flood: bad arguments (count 1..%lu, rate 1..%lu, sources within "
				"3..254, first <= last)\n", MAX_COUNT, MAX_RATE);
		usage(stderr);
		return 2;
	}
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	inet_pton(AF_INET, FLOOD_DST, &dst.sin_addr);

	/* IPPROTO_RAW implies IP_HDRINCL: the kernel sends our header as is. */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		fprintf(stderr, "syn-flood: raw socket: %s (needs CAP_NET_RAW)\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);

	t0 = now_s();
	while (sent + failed < count && !stop_sig) {
		/* Pace in batches: send once the packets so far are due at rate. */
		double due = t0 + (double)(sent + failed) / (double)rate;

		t = now_s();
		if (due > t) {
			struct timespec ts = {.tv_sec = (time_t)(due - t),
					      .tv_nsec = (long)((due - t - (double)(time_t)(due - t)) * 1e9)};
			nanosleep(&ts, NULL);
			continue;
		}
		for (int i = 0; i < BATCH && sent + failed < count; i++) {
			uint32_t host = (uint32_t)(first + rng_next() % (last - first + 1));

			build(&pkt, htonl(FLOOD_NET | host), dst.sin_addr.s_addr, (uint16_t)port);
			if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&dst, sizeof(dst)) ==
			    (ssize_t)sizeof(pkt))
				sent++;
			else
				failed++; /* e.g. ENOBUFS: counted, not retried */
		}
	}
	t = now_s() - t0;
	close(fd);
	printf("syn-flood: sent %lu SYNs to " FLOOD_DST ":%lu from 198.18.0.%lu-%lu in %.2f s "
	       "(%.0f/s)%s", sent, port, first, last, t, t > 0 ? (double)sent / t : 0.0,
	       stop_sig ? ", interrupted" : "");
	if (failed)
		printf(", %lu sends failed", failed);
	printf("\n");
	return sent ? 0 : 1;
}
