/* SPDX-License-Identifier: MIT */
/* Receiving raw bytes: one frame's payload per call.  (Sending them is
 * mpconn_send_bytes(), in send.c.) */
#include "mpconn-private.h"

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int mpconn_recv_bytes(mpconn *c, void **data, size_t *len, size_t maxlength,
                      int timeout_ms) {
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if (!data || !len)
    return MPCONN_EINVAL;
  struct mpconn__frame f;
  rc = mpconn__rx_next(c, min_size(maxlength, c->max_size), timeout_ms, &f);
  if (rc < 0)
    return rc;
  uint8_t *p = mpconn__rx_take(c, NULL);
  if (!p)
    return MPCONN_ENOMEM;
  *data = p;
  *len = f.len;
  return 0;
}

int mpconn_recv_bytes_into(mpconn *c, void *buf, size_t size, size_t offset,
                           size_t *len, int timeout_ms) {
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if ((!buf && size) || !len || offset > size)
    return MPCONN_EINVAL;
  return mpconn__rx_read_into(c, (uint8_t *)buf + offset, size - offset, len,
                              timeout_ms);
}
