/* SPDX-License-Identifier: MIT */
/* Standard base64 (RFC 4648, section 4) with padding, via libcrypto. */
#ifndef MPCONN_TOOL_BASE64_H
#define MPCONN_TOOL_BASE64_H

#include <stddef.h>

/*
 * tool_base64_encode() - encode @n bytes.
 * Ownership: *out is new (free()); NUL-terminated, *outlen excludes the NUL.
 * Return: 0, or MPCONN_ENOMEM.
 */
int tool_base64_encode(const void *data, size_t n, char **out, size_t *outlen);

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
