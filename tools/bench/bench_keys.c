/* SPDX-License-Identifier: BSD-3-Clause */
/* Builds the bench key set (see bench_keys.h); runs before any timing starts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "table/table.h"

#include "bench_keys.h"

uint32_t bench_keys_min_size(uint64_t n)
{
	uint32_t digits = 1;

	for (uint64_t m = n > 0 ? n - 1 : 0; m >= 10; m /= 10)
		digits++;
	return digits + 1; /* the leading 'k' */
}

int bench_keys_build(struct bench_keys *k, uint64_t n, uint32_t size, uint64_t hash_seed)
{
	char tmp[TBL_KEY_MAX + 32];

	if (n == 0 || size < bench_keys_min_size(n) || size > TBL_KEY_MAX)
		return -EINVAL;
	k->n = n;
	k->size = size;
	/* Aligned starts keep word loads of hash functions (rte_hash_crc) aligned. */
	k->stride = (size + 7) & ~7u;
	k->bytes = calloc(n, k->stride);
	k->hashes = malloc(n * sizeof(*k->hashes));
	if (k->bytes == NULL || k->hashes == NULL) {
		bench_keys_free(k);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *key = k->bytes + i * k->stride;

		snprintf(tmp, sizeof(tmp), "k%0*" PRIu64, (int)size - 1, i);
		memcpy(key, tmp, size);
		k->hashes[i] = tbl_hash(key, size, hash_seed);
	}
	return 0;
}

void bench_keys_free(struct bench_keys *k)
{
	free(k->bytes);
	free(k->hashes);
	k->bytes = NULL;
	k->hashes = NULL;
}
