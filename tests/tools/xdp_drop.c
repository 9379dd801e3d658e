// SPDX-License-Identifier: BSD-3-Clause
/* xdp-drop: attach tests/tools/xdp_drop.bpf.c to an interface of the current
 * network namespace so that it drops a given fraction of the packets the
 * interface receives, at random; print the passed/dropped counters on
 * SIGUSR1, every --interval seconds, and at exit. The program is attached
 * through a BPF link, so it is detached when this process exits for any
 * reason, SIGKILL included; SIGINT, SIGTERM and SIGHUP end it cleanly. It
 * never touches another interface or another program: attaching fails when
 * the interface already has an XDP program.
 *
 *   ip netns exec pollux-cli xdp-drop veth-cli 0.05
 *   xdp-drop: attached to veth-cli (ifindex 2, native), dropping 5.000% of packets
 *   ... (SIGTERM)
 *   xdp-drop: passed=18774 dropped=1003
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "xdp_drop.skel.h"

/* Keep in step with the enum in xdp_drop.bpf.c. */
enum { XDP_DROP_PASSED, XDP_DROP_DROPPED, XDP_DROP_NCOUNTERS };

static volatile sig_atomic_t stop_sig;
static volatile sig_atomic_t report_req;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static void on_report(int sig)
{
	(void)sig;
	report_req = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xdp-drop [--mode native|generic|auto] [--interval SECONDS] IFACE RATE\n"
		   "  Drop RATE (0..1) of the packets IFACE receives, at random, until SIGINT,\n"
		   "  SIGTERM or SIGHUP; SIGUSR1 prints the counters. IFACE is a name or an\n"
		   "  ifindex in the current network namespace.\n");
}

/* Sum one counter over every possible CPU; 0 on error (reported). */
static int read_counter(const struct bpf_map *map, uint32_t idx, uint64_t *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	int err;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	err = bpf_map__lookup_elem(map, &idx, sizeof(idx), vals, (size_t)ncpu * sizeof(*vals), 0);
	*sum = 0;
	if (!err)
		for (int i = 0; i < ncpu; i++)
			*sum += vals[i];
	free(vals);
	return err;
}

static int report(const struct xdp_drop *skel)
{
	uint64_t passed, dropped;
	int err = read_counter(skel->maps.counters, XDP_DROP_PASSED, &passed);

	if (!err)
		err = read_counter(skel->maps.counters, XDP_DROP_DROPPED, &dropped);
	if (err) {
		fprintf(stderr, "xdp-drop: reading counters: %s\n", strerror(-err));
		return err;
	}
	printf("xdp-drop: passed=%" PRIu64 " dropped=%" PRIu64 "\n", passed, dropped);
	fflush(stdout);
	return 0;
}

static int parse_rate(const char *s, double *rate)
{
	char *end;

	errno = 0;
	*rate = strtod(s, &end);
	if (errno || end == s || *end || !(*rate >= 0.0 && *rate <= 1.0))
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"interval", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	LIBBPF_OPTS(bpf_link_create_opts, link_opts);
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	const char *mode = "auto";
	struct xdp_drop *skel = NULL;
	unsigned interval = 0;
	unsigned ifindex;
	int link_fd = -1, rc = 1, c, err;
	double rate;
	char *end;

	while ((c = getopt_long(argc, argv, "m:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mode = optarg;
			break;
		case 'i':
			interval = (unsigned)strtoul(optarg, &end, 10);
			if (*end || end == optarg) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(mode, "native"))
		link_opts.flags = XDP_FLAGS_DRV_MODE;
	else if (!strcmp(mode, "generic"))
		link_opts.flags = XDP_FLAGS_SKB_MODE;
	else if (strcmp(mode, "auto")) {
		fprintf(stderr, "xdp-drop: --mode %s: expected native, generic or auto\n", mode);
		return 2;
	}
	ifindex = if_nametoindex(argv[optind]);
	if (!ifindex) {
		ifindex = (unsigned)strtoul(argv[optind], &end, 10);
		if (*end || !ifindex) {
			fprintf(stderr, "xdp-drop: no interface %s in this network namespace\n",
				argv[optind]);
			return 1;
		}
	}
	if (parse_rate(argv[optind + 1], &rate)) {
		fprintf(stderr, "xdp-drop: rate %s: expected a number from 0 to 1\n", argv[optind + 1]);
		return 2;
	}

	skel = xdp_drop__open();
	if (!skel) {
		fprintf(stderr, "xdp-drop: opening the BPF object: %s\n", strerror(errno));
		goto out;
	}
	skel->rodata->drop_below = (uint64_t)llround(rate * 4294967296.0);
	err = xdp_drop__load(skel);
	if (err) {
		fprintf(stderr, "xdp-drop: loading the BPF program: %s\n", strerror(-err));
		goto out;
	}
	link_fd = bpf_link_create(bpf_program__fd(skel->progs.xdp_drop_random), (int)ifindex,
				  BPF_XDP, &link_opts);
	if (link_fd < 0) {
		fprintf(stderr, "xdp-drop: attaching to ifindex %u (%s mode): %s%s\n", ifindex, mode,
			strerror(-link_fd),
			link_fd == -EBUSY || link_fd == -EEXIST ? " (another XDP program is attached)"
								: "");
		goto out;
	}
	err = bpf_xdp_query((int)ifindex, 0, &query);
	printf("xdp-drop: attached to %s (ifindex %u, %s), dropping %.3f%% of packets\n",
	       argv[optind], ifindex,
	       err ? "mode unknown"
		   : query.attach_mode == XDP_ATTACHED_DRV ? "native"
		   : query.attach_mode == XDP_ATTACHED_SKB ? "generic"
							   : "other mode",
	       rate * 100.0);
	fflush(stdout);

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGHUP, on_stop);
	signal(SIGUSR1, on_report);
	for (unsigned waited = 0; !stop_sig;) {
		/* sleep() returns early when a signal arrives. */
		unsigned left = sleep(1);

		waited += 1 - left;
		if (report_req || (interval && waited >= interval)) {
			report_req = 0;
			waited = 0;
			report(skel);
		}
	}
	rc = report(skel) ? 1 : 0;
out:
	if (link_fd >= 0)
		close(link_fd);
	xdp_drop__destroy(skel);
	return rc;
}
