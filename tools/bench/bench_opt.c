/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Number parsing for subcommand options, with messages that name the
 * subcommand and the option. Parsing only: defaults and cross-option checks
 * belong to each subcommand.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_opt_bad(const char *cmd, const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "pollux-bench %s: bad %s '%s': %s\n", cmd, opt, val, why);
	return -EINVAL;
}

int bench_opt_u64(const char *cmd, const char *opt, const char *s, uint64_t lo, uint64_t hi,
		  uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult = 1;

	if (errno != 0 || end == s || s[0] == '-')
		return bench_opt_bad(cmd, opt, s, "not a number");
	if (*end == 'k' || *end == 'K')
		mult = 1000;
	else if (*end == 'm' || *end == 'M')
		mult = 1000000;
	if (mult > 1)
		end++;
	if (*end != '\0')
		return bench_opt_bad(cmd, opt, s, "trailing characters");
	if (v > UINT64_MAX / mult || v * mult < lo || v * mult > hi) {
		fprintf(stderr, "pollux-bench %s: %s must be in [%" PRIu64 ", %" PRIu64 "]\n", cmd,
			opt, lo, hi);
		return -EINVAL;
	}
	*out = v * mult;
	return 0;
}

int bench_opt_u32(const char *cmd, const char *opt, const char *s, uint32_t lo, uint32_t hi,
		  uint32_t *out)
{
	uint64_t v;
	int rc = bench_opt_u64(cmd, opt, s, lo, hi, &v);

	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

int bench_opt_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
		     double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);

	if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
		return bench_opt_bad(cmd, opt, s, "not a number");
	if (v < lo || v > hi) {
		fprintf(stderr, "pollux-bench %s: %s must be in [%g, %g]\n", cmd, opt, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int bench_opt_pick(const char *cmd, const char *opt, const char *s, const char *const *names,
		   unsigned n, unsigned *out)
{
	char why[128] = "expected";
	size_t len = strlen(why);

	for (unsigned i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	for (unsigned i = 0; i < n && len < sizeof(why); i++)
		len += (size_t)snprintf(why + len, sizeof(why) - len, "%s %s",
					i == 0 ? "" : i + 1 == n ? " or" : ",", names[i]);
	return bench_opt_bad(cmd, opt, s, why);
}
