/* SPDX-License-Identifier: MIT */
/* A byte ring in shared memory: copies in and out across the wrap. */
#include "mpconn-private.h"

#include "ring.h"

#include <string.h>

void mpconn__ring_write(const struct mpconn__ring *r, uint64_t pos,
                        const void *src, size_t n) {
  if (n == 0)
    return;
  size_t off = (size_t)(pos % r->cap);
  size_t first = n < r->cap - off ? n : (size_t)(r->cap - off);
  memcpy(r->base + off, src, first);
  if (n > first)
    memcpy(r->base, (const uint8_t *)src + first, n - first);
}

void mpconn__ring_read(const struct mpconn__ring *r, uint64_t pos, void *dst,
                       size_t n) {
  if (n == 0)
    return;
  size_t off = (size_t)(pos % r->cap);
  size_t first = n < r->cap - off ? n : (size_t)(r->cap - off);
  memcpy(dst, r->base + off, first);
  if (n > first)
    memcpy((uint8_t *)dst + first, r->base, n - first);
}

int mpconn__ring_frame(const struct mpconn__ring *r, uint64_t pos,
                       uint64_t used, size_t *hlen, uint64_t *plen) {
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t have = used < MPCONN_HEADER_MAX ? (size_t)used : MPCONN_HEADER_MAX;
  mpconn__ring_read(r, pos, hdr, have);
  if (mpconn__header_decode(hdr, have, hlen, plen) <= 0 || *plen > used - *hlen)
    return MPCONN_EBADFRAME;
  return 0;
}
