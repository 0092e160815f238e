/* SPDX-License-Identifier: MIT */
/*
 * Standard base64 (RFC 4648, "+/" alphabet) for the data_b64 and
 * hmac_key_b64 arguments.  Decoding accepts padded or unpadded input and
 * skips line breaks (CR, LF), so the output of base64(1) is fine; any other
 * character outside the alphabet is an error.
 */
#ifndef CELERIAC_B64_H
#define CELERIAC_B64_H

#include <stddef.h>

/* Bytes b64_encode_into writes for n input bytes (no terminator). */
size_t b64_encoded_len(size_t n);
/* Writes the encoding of src[0..n) to dst; returns the length written. */
size_t b64_encode_into(char *dst, const void *src, size_t n);
/* Upper bound of the decoded size of n characters. */
size_t b64_decoded_max(size_t n);
/*
 * Decodes s[0..n) into out (at least b64_decoded_max(n) bytes); stores the
 * decoded length in *outlen.  Returns 0, or -1 with *bad_at set to the
 * offset of the first bad character (n for bad length or padding).
 */
int b64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen,
               size_t *bad_at);

#endif
