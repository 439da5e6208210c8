/* SPDX-License-Identifier: MIT */
/* Receiving raw bytes: one frame's payload per call.  (Sending them is
 * mpconn_send_bytes(), in send.c.) */
#include "mpconn-private.h"

#include <string.h>

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
  if (f.fd >= 0) { /* a shared-memory message: its bytes, copied */
    uint8_t *out;
    rc = mpconn__memfd_read(c, &f, NULL, 0, &out, len);
    if (rc < 0)
      return rc;
    *data = out;
    return 0;
  }
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
  uint8_t *dst = (uint8_t *)buf + offset;
  size_t room = size - offset;
  if (!c->shm_threshold)
    return mpconn__rx_read_into(c, dst, room, len, timeout_ms);
  /* Shared-memory messages may come: each frame is looked at whole. */
  struct mpconn__frame f;
  rc = mpconn__rx_next(c, c->max_size, timeout_ms, &f);
  if (rc < 0)
    return rc;
  if (f.fd >= 0) {
    uint8_t *out;
    rc = mpconn__memfd_read(c, &f, dst, room, &out, len);
    return rc < 0 ? rc : 0;
  }
  *len = f.len;
  if (f.len > room)
    return MPCONN_ETOOSHORT;
  if (f.len)
    memcpy(dst, f.payload, f.len);
  mpconn__rx_consume(c);
  return 0;
}
