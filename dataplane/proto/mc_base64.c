/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Strict RFC 4648 base64 used for meta protocol binary keys. Decoding
 * validates the whole input before writing anything, so a failed decode
 * never leaves partial output. Table-driven, branch-light, no state.
 */
#include <errno.h>

#include "mc_base64.h"

static const char mc_b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet bytes, 0xff for anything else (including '='). */
static uint8_t mc_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint8_t)(c - '0' + 52);
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return 0xff;
}

ssize_t mc_base64_decoded_len(const char *in, size_t inlen)
{
	if ((in == NULL && inlen > 0) || inlen % 4 != 0)
		return -EINVAL;
	if (inlen == 0)
		return 0;
	size_t pad = 0;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < inlen - pad; i++)
		if (mc_b64_value((uint8_t)in[i]) == 0xff)
			return -EINVAL;
	/* Padding bits must be zero (canonical encoding only). */
	uint8_t last = mc_b64_value((uint8_t)in[inlen - pad - 1]);
	if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0))
		return -EINVAL;
	return (ssize_t)(inlen / 4 * 3 - pad);
}

ssize_t mc_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
	ssize_t n = mc_base64_decoded_len(in, inlen);
	if (n < 0)
		return n;
	if ((size_t)n > outlen)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < inlen; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			uint8_t c = (uint8_t)in[i + j];
			v = (v << 6) | (c == '=' ? 0 : mc_b64_value(c));
		}
		uint8_t bytes[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
		for (size_t j = 0; j < 3 && o < (size_t)n; j++)
			out[o++] = bytes[j];
	}
	return n;
}

ssize_t mc_base64_encode(const uint8_t *in, size_t inlen, char *out, size_t outlen)
{
	size_t need = mc_base64_encoded_len(inlen);
	if ((in == NULL && inlen > 0) || need > outlen)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < inlen; i += 3) {
		size_t rem = inlen - i;
		uint32_t v = (uint32_t)in[i] << 16;
		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		out[o++] = mc_b64_alphabet[(v >> 18) & 0x3f];
		out[o++] = mc_b64_alphabet[(v >> 12) & 0x3f];
		out[o++] = rem > 1 ? mc_b64_alphabet[(v >> 6) & 0x3f] : '=';
		out[o++] = rem > 2 ? mc_b64_alphabet[v & 0x3f] : '=';
	}
	return (ssize_t)o;
}
