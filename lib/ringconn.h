/* SPDX-License-Identifier: MIT */
/* ringconn.c — connections whose frames travel through shared rings. */
#ifndef MPCONN_RINGCONN_H
#define MPCONN_RINGCONN_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct mpconn mpconn;
struct mpconn__ringconn;

/* Read up to @len bytes of the inbound stream, as mpconn__read() does
 * from a descriptor: how many (> 0), 0 at end of file (the sender's end
 * of the socket is closed and its ring is empty), or a code:
 * MPCONN_ETIMEDOUT, MPCONN_EBADRING, -errno. */
ssize_t mpconn__ringconn_read(mpconn *c, uint8_t *dst, size_t len,
                              int64_t deadline);
/* The same without a system call: 0 when the ring is empty (the sender
 * is then asked to ring). */
ssize_t mpconn__ringconn_peek(mpconn *c, uint8_t *dst, size_t len);
/* Write @iov (modified) into the outbound ring, waiting for room until
 * @deadline (0: never waits; *@written says how much went): 0 or a code:
 * MPCONN_EPIPE, MPCONN_ETIMEDOUT, MPCONN_EBADRING. */
int mpconn__ringconn_write(mpconn *c, struct iovec *iov, int iovcnt,
                           int64_t deadline, size_t *written);
/* Wait for room in the outbound ring: 0 (look again), MPCONN_EPIPE,
 * MPCONN_ETIMEDOUT, MPCONN_EBADRING. */
int mpconn__ringconn_wait_room(mpconn *c, int64_t deadline);
/* This end is closing (see ringconn.c). */
void mpconn__ringconn_close(mpconn *c);
void mpconn__ringconn_free(struct mpconn__ringconn *r);

#endif
