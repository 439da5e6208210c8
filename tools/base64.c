/* SPDX-License-Identifier: MIT */
/*
 * libcrypto's EVP_EncodeBlock()/EVP_DecodeBlock() do the work.  Around
 * them: lengths, which they take as int, are handled in chunks (the
 * caller's, when encoding); and since EVP_DecodeBlock() accepts '='
 * anywhere (as if it were 'A'), trims white space and counts padding as
 * decoded bytes, the text is checked first and the padding subtracted
 * afterwards.
 */
#include "base64.h"

#include <mpconn.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>

/* Whole groups per decoding call: 4 characters become 3 bytes. */
#define CHUNK_GROUPS ((size_t)1 << 24)

size_t tool_base64_encode_chunk(const void *in, size_t n, char *out) {
  return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static bool b64_letter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int tool_base64_decode(const char *text, size_t n, unsigned char **out,
                       size_t *outlen) {
  if (n % 4 != 0)
    return MPCONN_EINVAL;
  size_t pad = 0;
  if (n > 0 && text[n - 1] == '=')
    pad = text[n - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < n - pad; i++)
    if (!b64_letter(text[i]))
      return MPCONN_EINVAL;
  /* One spare byte: malloc(0) may return NULL. */
  unsigned char *buf = malloc(n / 4 * 3 + 1);
  if (!buf)
    return MPCONN_ENOMEM;
  size_t done = 0, len = 0;
  while (done < n) {
    size_t k = n - done < 4 * CHUNK_GROUPS ? n - done : 4 * CHUNK_GROUPS;
    int r =
        EVP_DecodeBlock(buf + len, (const unsigned char *)text + done, (int)k);
    if (r < 0) {
      /* The checks above leave nothing it could refuse. */
      free(buf);
      return MPCONN_EINVAL;
    }
    len += (size_t)r;
    done += k;
  }
  *out = buf;
  *outlen = len - pad;
  return 0;
}
