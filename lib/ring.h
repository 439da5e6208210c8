/* SPDX-License-Identifier: MIT */
/*
 * ring.c — a byte ring in shared memory.  Positions only grow; the byte of
 * position p is at base[p % cap].  Whoever writes and reads it (the queue)
 * decides who may touch which positions; this file only copies, and reads
 * a frame header back, checking it against what the caller says is there.
 */
#ifndef MPCONN_RING_H
#define MPCONN_RING_H

#include <stddef.h>
#include <stdint.h>

struct mpconn__ring {
  uint8_t *base;
  uint64_t cap; /* in bytes; kept by each process, never read from shared
                   memory */
};

void mpconn__ring_write(const struct mpconn__ring *r, uint64_t pos,
                        const void *src, size_t n);
void mpconn__ring_read(const struct mpconn__ring *r, uint64_t pos, void *dst,
                       size_t n);
/*
 * The frame header at @pos, of a frame that must fit in the @used bytes
 * from there: 0 with *@hlen and *@plen set, or MPCONN_EBADFRAME (the
 * memory was overwritten by someone else).
 */
int mpconn__ring_frame(const struct mpconn__ring *r, uint64_t pos,
                       uint64_t used, size_t *hlen, uint64_t *plen);

#endif
