/* SPDX-License-Identifier: MIT */
/* conn.c — a connection: its descriptors, its receive state (frame.c)
 * and its send state (send.c). */
#ifndef MPCONN_CONN_H
#define MPCONN_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"
#include "mpconn.h"
#include "send.h"

struct mpconn {
  int rfd, wfd;
  bool wsock; /* wfd is a socket: send with MSG_NOSIGNAL */
  bool rsock; /* rfd is a socket: read without blocking, then poll */
  bool runix; /* rfd is a Unix socket: descriptors may come with bytes */
  bool wunix; /* wfd is a Unix socket: descriptors may be sent */
  size_t shm_threshold;          /* shared-memory messages: 0 off (memfd.c) */
  struct mpconn__ringconn *ring; /* frames through shared rings, or NULL */
  bool closed;
  bool shut_wr;       /* mpconn_shutdown(): sending is over */
  int send_timeout;   /* -1 blocking; 0 never waits; else milliseconds */
  size_t send_cap;    /* the most a send leaves in the send buffer */
  size_t max_size;    /* the receive limit: of a frame's payload */
  size_t max_decoded; /* the decode limit: of a value's tree */
  struct mpconn_rx rx;
  struct mpconn_tx tx;
};

/* Whether c can receive now: 0 or the error a receive returns. */
static inline int mpconn__check_recv(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  return c->rfd < 0 ? MPCONN_EWRITEONLY : 0;
}

/* Whether c can send now: 0 or the error a send returns. */
static inline int mpconn__check_send(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (c->shut_wr)
    return MPCONN_EPIPE;
  if (c->wfd < 0)
    return MPCONN_EREADONLY;
  /* A value being packed owns the send side until it ends. */
  return c->tx.packing ? MPCONN_EINVAL : 0;
}

#endif
