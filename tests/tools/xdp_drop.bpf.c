// SPDX-License-Identifier: BSD-3-Clause
/* xdp_drop: an XDP program that drops a fixed fraction of the packets an
 * interface receives, chosen at random per packet with bpf_get_prandom_u32(),
 * and passes the rest to the stack untouched. It counts both outcomes in a
 * per-CPU array (index 0 passed, 1 dropped) that the loader sums. The drop
 * fraction is a read-only global the loader sets before the program is
 * loaded. It looks at no header: ARP, IPv4 and everything else is treated
 * alike. For tests only (tests/tools/xdp_drop.c loads it). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum { XDP_DROP_PASSED, XDP_DROP_DROPPED, XDP_DROP_NCOUNTERS };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_DROP_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* A packet is dropped when a fresh random 32-bit number is below this:
 * 0 drops nothing, 1 << 32 drops everything. Set by the loader. */
const volatile __u64 drop_below = 0;

SEC("xdp")
int xdp_drop_random(struct xdp_md *ctx)
{
	__u32 idx = XDP_DROP_PASSED;
	int verdict = XDP_PASS;
	__u64 *n;

	(void)ctx;
	if (drop_below && (__u64)bpf_get_prandom_u32() < drop_below) {
		idx = XDP_DROP_DROPPED;
		verdict = XDP_DROP;
	}
	n = bpf_map_lookup_elem(&counters, &idx);
	if (n)
		(*n)++;
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
