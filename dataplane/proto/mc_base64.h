/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Base64 (RFC 4648, standard alphabet, '=' padding required) for meta
 * commands' binary keys (flag 'b'). Pure functions over caller buffers: no
 * allocation, no state. Decoding is strict: any byte outside the alphabet,
 * a length that is not a multiple of four or misplaced padding is an error.
 */
#ifndef PX_MC_BASE64_H
#define PX_MC_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Encoded size of n input bytes, no terminator. */
static inline size_t mc_base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/*
 * Validate in[0, inlen) and return its decoded length, or -EINVAL if it is
 * not valid padded base64. Reads every input byte once.
 */
ssize_t mc_base64_decoded_len(const char *in, size_t inlen);

/*
 * Decode in[0, inlen) into out. Returns the decoded length, -EINVAL for
 * invalid input, -ENOSPC when outlen is too small (out is then untouched).
 */
ssize_t mc_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);

/*
 * Encode in[0, inlen) into out (no NUL written). Returns the encoded
 * length, or -ENOSPC when outlen < mc_base64_encoded_len(inlen).
 */
ssize_t mc_base64_encode(const uint8_t *in, size_t inlen, char *out, size_t outlen);

#endif
