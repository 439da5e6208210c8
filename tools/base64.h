/* SPDX-License-Identifier: MIT */
/* Standard base64 (RFC 4648, section 4) with padding, via libcrypto. */
#ifndef MPCONN_TOOL_BASE64_H
#define MPCONN_TOOL_BASE64_H

#include <stddef.h>

/* The most bytes tool_base64_encode_chunk() takes: a multiple of 3. */
#define TOOL_BASE64_CHUNK ((size_t)3072)

/*
 * tool_base64_encode_chunk() - encode @n bytes, at most TOOL_BASE64_CHUNK.
 * @out: room for 4 characters per 3 bytes begun, and a NUL.
 *
 * A long text is encoded chunk by chunk; every chunk but the last must be
 * a multiple of 3 bytes long, so that padding comes only at the end.
 * Return: the length of the text written (without its NUL).
 */
size_t tool_base64_encode_chunk(const void *in, size_t n, char *out);

/*
 * tool_base64_decode() - decode padded base64.
 * Strict: the length is a multiple of 4, only the 64 letters of the
 * standard alphabet appear, and '=' only as the last one or two characters.
 * No white space.
 * Ownership: *out is new (free()); never NULL on success.
 * Return: 0, MPCONN_EINVAL for text that is not base64, or MPCONN_ENOMEM.
 */
int tool_base64_decode(const char *text, size_t n, unsigned char **out,
                       size_t *outlen);

#endif
