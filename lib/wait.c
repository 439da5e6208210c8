/* SPDX-License-Identifier: MIT */
/*
 * Readiness: poll() on one connection, wait() on many, and wait_any() on
 * connections, listeners and plain descriptors together.  A connection is
 * ready to receive when a whole frame is buffered or a receive would fail
 * at once, so they look at the receive buffer before asking the kernel,
 * and bytes read while waiting stay in the connection's buffer.
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

/* poll() entries per item: a connection made from two descriptors may
 * need one for each direction. */
#define SLOTS 2

/* The descriptor and events item @it asks poll() about in slot @k. */
static struct pollfd slot(const mpconn_wait_item *it, int k) {
  struct pollfd p = {.fd = -1};
  switch (it->kind) {
  case MPCONN_WAIT_CONN: {
    mpconn *c = it->conn;
    int rfd = c->rfd, wfd = c->wfd;
    short in = it->events & POLLIN, out = it->events & POLLOUT;
    if (k == 0 && in)
      p = (struct pollfd){.fd = rfd,
                          .events = (short)(in | (wfd == rfd ? out : 0))};
    else if (k == 0 && out)
      p = (struct pollfd){.fd = wfd, .events = POLLOUT};
    else if (k == 1 && in && out && wfd != rfd)
      p = (struct pollfd){.fd = wfd, .events = POLLOUT};
    break;
  }
  case MPCONN_WAIT_LISTENER:
    if (k == 0)
      p = (struct pollfd){.fd = mpconn_listener_fileno(it->listener),
                          .events = POLLIN};
    break;
  default:
    if (k == 0)
      p = (struct pollfd){.fd = it->fd, .events = it->events};
    break;
  }
  return p;
}

/* Set the items' revents from what poll() said of their descriptors (the
 * events each got, already gathered in revents; none when nothing was
 * polled) and from the connections' buffers.  The number of items ready. */
static int collect(mpconn_wait_item *items, size_t n) {
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    mpconn_wait_item *it = &items[i];
    short got = it->revents;
    it->revents = 0;
    if (it->kind == MPCONN_WAIT_CONN) {
      if ((it->events & POLLIN) &&
          is_ready(it->conn, (got & (POLLIN | POLLHUP | POLLERR)) != 0))
        it->revents |= POLLIN;
      if ((it->events & POLLOUT) && (got & (POLLOUT | POLLERR | POLLHUP)))
        it->revents |= POLLOUT;
    } else if (it->kind == MPCONN_WAIT_LISTENER) {
      it->revents = got & (POLLIN | POLLERR | POLLHUP | POLLNVAL);
    } else {
      it->revents = got & (it->events | POLLERR | POLLHUP | POLLNVAL);
    }
    count += it->revents != 0;
  }
  return count;
}

/* Gather into each item's revents what poll() said of its descriptors. */
static void gather(mpconn_wait_item *items, size_t n, const struct pollfd *p,
                   const size_t *owner, size_t np) {
  for (size_t i = 0; i < n; i++)
    items[i].revents = 0;
  for (size_t j = 0; j < np; j++)
    items[owner[j]].revents |= p[j].revents;
}

static int check_item(const mpconn_wait_item *it) {
  switch (it->kind) {
  case MPCONN_WAIT_CONN:
    if (!it->conn)
      return MPCONN_EINVAL;
    if (it->events & POLLIN)
      return mpconn__check_recv(it->conn);
    if (it->conn->closed)
      return MPCONN_ECLOSED;
    return (it->events & POLLOUT) && it->conn->wfd < 0 ? MPCONN_EREADONLY : 0;
  case MPCONN_WAIT_LISTENER:
    return it->listener
               ? (mpconn_listener_fileno(it->listener) < 0 ? MPCONN_ECLOSED : 0)
               : MPCONN_EINVAL;
  case MPCONN_WAIT_FD:
    return 0;
  default:
    return MPCONN_EINVAL;
  }
}

int mpconn_wait_any(mpconn_wait_item *items, size_t n, int timeout_ms) {
  if ((!items && n) || n > INT32_MAX / SLOTS)
    return MPCONN_EINVAL;
  for (size_t i = 0; i < n; i++) {
    int rc = check_item(&items[i]);
    if (rc < 0)
      return rc;
    items[i].revents = 0;
  }
  int count = collect(items, n);
  if (count)
    return count;
  /* Only the descriptors there are: poll() refuses more entries than
   * RLIMIT_NOFILE, and a process may wait on nearly that many. */
  size_t max = n ? SLOTS * n : 1;
  struct pollfd *p = malloc(max * (sizeof(*p) + sizeof(size_t)));
  if (!p)
    return MPCONN_ENOMEM;
  size_t *owner = (size_t *)(p + max), np = 0;
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < SLOTS; k++) {
      struct pollfd e = slot(&items[i], k);
      if (e.fd >= 0) {
        owner[np] = i;
        p[np++] = e;
      }
    }
  int64_t deadline = mpconn__deadline(timeout_ms);
  int rc = 0;
  for (;;) {
    int left = mpconn__remaining_ms(deadline);
    int k = poll(p, (nfds_t)np, left);
    if (k < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
    if (k > 0) {
      gather(items, n, p, owner, np);
      if ((rc = collect(items, n)) > 0)
        break;
    }
    if (left == 0) {
      rc = 0;
      break;
    }
  }
  free(p);
  return rc;
}

int mpconn_wait(mpconn *const *conns, size_t n, int timeout_ms,
                mpconn **ready) {
  if ((!conns && n) || (!ready && n) || n > INT32_MAX)
    return MPCONN_EINVAL;
  mpconn_wait_item *items = calloc(n ? n : 1, sizeof(*items));
  if (!items)
    return MPCONN_ENOMEM;
  for (size_t i = 0; i < n; i++)
    items[i] = (mpconn_wait_item){
        .kind = MPCONN_WAIT_CONN, .conn = conns[i], .events = POLLIN};
  int rc = mpconn_wait_any(items, n, timeout_ms);
  size_t count = 0;
  for (size_t i = 0; rc > 0 && i < n; i++)
    if (items[i].revents)
      ready[count++] = conns[i];
  free(items);
  return rc;
}
