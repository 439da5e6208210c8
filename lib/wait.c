/* SPDX-License-Identifier: MIT */
/*
 * Readiness: poll() on one connection and wait() on many.  A connection is
 * ready when a whole frame is buffered or a receive would fail at once, so
 * both look at the receive buffer before asking the kernel, and bytes read
 * while waiting stay in the connection's buffer.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

int mpconn_poll(mpconn *c, int timeout_ms) {
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  return mpconn__rx_poll(c, timeout_ms);
}

/*
 * Without blocking: whether a receive on c would return at once.  When the
 * descriptor is readable, reads what it has first.
 */
static bool is_ready(mpconn *c, bool readable) {
  return mpconn__rx_ready(c) != 0 || (readable && mpconn__rx_poll(c, 0) != 0);
}

/* Store the ready connections in ready[]; the number stored. */
static size_t collect(mpconn *const *conns, size_t n, const struct pollfd *p,
                      mpconn **ready) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (is_ready(conns[i], p && p[i].revents))
      ready[count++] = conns[i];
  return count;
}

int mpconn_wait(mpconn *const *conns, size_t n, int timeout_ms,
                mpconn **ready) {
  if ((!conns && n) || (!ready && n) || n > INT32_MAX)
    return MPCONN_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (!conns[i])
      return MPCONN_EINVAL;
    int rc = mpconn__check_recv(conns[i]);
    if (rc < 0)
      return rc;
  }
  size_t count = collect(conns, n, NULL, ready);
  if (count)
    return (int)count;
  struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
  if (!p)
    return MPCONN_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    p[i].fd = conns[i]->rfd;
    p[i].events = POLLIN;
  }
  int64_t deadline = mpconn__deadline(timeout_ms);
  int rc = 0;
  for (;;) {
    int left = mpconn__remaining_ms(deadline);
    int k = poll(p, (nfds_t)n, left);
    if (k < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
    if (k > 0) {
      count = collect(conns, n, p, ready);
      if (count) {
        rc = (int)count;
        break;
      }
    }
    if (left == 0) {
      rc = 0;
      break;
    }
  }
  free(p);
  return rc;
}
