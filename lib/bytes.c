/* SPDX-License-Identifier: MIT */
/* The bytes API: one frame of raw bytes per call. */
#include "mpconn-private.h"

#include <stdlib.h>
#include <string.h>

int mpconn_send_bytes(mpconn *c, const void *data, size_t len) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  if (!data && len)
    return MPCONN_EINVAL;
  return mpconn__tx_send(c, data, len);
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int mpconn_recv_bytes(mpconn *c, void **data, size_t *len, size_t maxlength,
                      int timeout_ms) {
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if (!data || !len)
    return MPCONN_EINVAL;
  rc = mpconn__rx_next(c, min_size(maxlength, c->max_size), MPCONN_RX_FRAME,
                       mpconn__deadline(timeout_ms));
  if (rc < 0)
    return rc;
  size_t n = (size_t)c->rx.plen;
  uint8_t *p = mpconn__rx_take(c);
  if (!p) {
    p = malloc(n ? n : 1);
    if (!p)
      return MPCONN_ENOMEM;
    memcpy(p, mpconn__rx_payload(c), n);
    mpconn__rx_consume(c);
  }
  *data = p;
  *len = n;
  return 0;
}

int mpconn_recv_bytes_into(mpconn *c, void *buf, size_t size, size_t offset,
                           size_t *len, int timeout_ms) {
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if ((!buf && size) || !len || offset > size)
    return MPCONN_EINVAL;
  int64_t deadline = mpconn__deadline(timeout_ms);
  rc = mpconn__rx_next(c, c->max_size, MPCONN_RX_HEADER, deadline);
  if (rc < 0)
    return rc;
  if (c->rx.plen > size - offset) {
    *len = (size_t)c->rx.plen;
    return MPCONN_ETOOSHORT;
  }
  size_t n = (size_t)c->rx.plen;
  rc = mpconn__rx_direct(c, (uint8_t *)buf + offset, deadline);
  if (rc < 0)
    return rc;
  if (rc == 1) {
    *len = n;
    return 0;
  }
  rc = mpconn__rx_next(c, c->max_size, MPCONN_RX_FRAME, deadline);
  if (rc < 0)
    return rc;
  if (n)
    memcpy((uint8_t *)buf + offset, mpconn__rx_payload(c), n);
  mpconn__rx_consume(c);
  *len = n;
  return 0;
}
