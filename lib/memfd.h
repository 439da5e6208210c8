/* SPDX-License-Identifier: MIT */
/* memfd.c — large messages through shared memory (sealed memfds). */
#ifndef MPCONN_MEMFD_H
#define MPCONN_MEMFD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"

/*
 * For a whole frame @f that came with a descriptor: check that it stands
 * for a shared-memory message and map its payload read-only.  1 with
 * *@map and *@len set (the frame stays, with its descriptor, until the
 * caller consumes it; unmap with mpconn__memfd_unmap()); 0 when @f came with
 * no descriptor (an ordinary frame); or a code, the frame consumed:
 * MPCONN_EBADSHM, MPCONN_ETOOBIG (over the receive limit), MPCONN_ENOMEM
 * or -errno (the frame stays).
 */
int mpconn__memfd_map(mpconn *c, const struct mpconn__frame *f, uint8_t **map,
                      size_t *len);
void mpconn__memfd_unmap(uint8_t *map, size_t len);
/* The same, reading the payload into @dst (room for @room bytes; NULL: a
 * new allocation) instead: 1 with *@out and *@len set and the frame
 * consumed; 0; MPCONN_ETOOSHORT with *@len set (nothing consumed); or a
 * code as above. */
int mpconn__memfd_read(mpconn *c, const struct mpconn__frame *f, uint8_t *dst,
                       size_t room, uint8_t **out, size_t *len);
/* Send @len bytes gathered from @iov (modified) as a shared-memory
 * message: one copy into a new memfd, sealed. */
int mpconn__memfd_send(mpconn *c, struct iovec *iov, int iovcnt, size_t len);

#endif
