/* SPDX-License-Identifier: MIT */
/*
 * Message contents shared by the C programs of the interop tests.  Keep in
 * step with pattern() in interop_common.py: byte j of the message of n bytes
 * with index k, sent by side `tag`, is ((j % 251) * 7 + k * 13 + n + tag)
 * & 0xff.  The period 251 does not divide any power of two, so a shifted,
 * dropped or repeated slice of a message never matches.
 */
#ifndef INTEROP_PATTERN_H
#define INTEROP_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Added to the pattern of messages Python sends, and of those C sends. */
#define PY_TAG 0u
#define C_TAG 101u

static inline uint8_t pattern_byte(size_t n, size_t k, unsigned tag, size_t j) {
  return (uint8_t)(((j % 251) * 7 + k * 13 + n + tag) & 0xff);
}

static inline void pattern_fill(uint8_t *p, size_t n, size_t k, unsigned tag) {
  for (size_t j = 0; j < n; j++)
    p[j] = pattern_byte(n, k, tag, j);
}

/*
 * Whether p[0, len) is exactly the pattern of a message of n bytes; when it
 * is not, says on stderr where it first differs.
 */
static inline int pattern_check(const uint8_t *p, size_t len, size_t n,
                                size_t k, unsigned tag) {
  if (len != n) {
    fprintf(stderr, "message %zu: got %zu bytes, expected %zu\n", k, len, n);
    return 0;
  }
  for (size_t j = 0; j < n; j++) {
    if (p[j] != pattern_byte(n, k, tag, j)) {
      fprintf(stderr,
              "message %zu (%zu bytes): byte %zu is 0x%02x, expected 0x%02x\n",
              k, n, j, p[j], pattern_byte(n, k, tag, j));
      return 0;
    }
  }
  return 1;
}

#endif
