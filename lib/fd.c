/* SPDX-License-Identifier: MIT */
/*
 * Handing descriptors and connections to another process over a Unix
 * socket, as multiprocessing.reduction's send_handle() and recv_handle()
 * do on Linux: one byte, the count of descriptors mod 256, carrying them
 * as SCM_RIGHTS, outside any frame.  Receiving is frame.c's: every read of
 * a Unix socket takes the descriptors that come with its bytes, and keeps
 * them with the byte they came with.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Whether @c can send descriptors: 0 or a code. */
static int check_unix_send(const mpconn *c) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  return c->wunix && !c->ring ? 0 : MPCONN_EINVAL;
}

/* Send the byte and @n descriptors after everything sent before them. */
static int send_fds(mpconn *c, const int *fds, unsigned n) {
  /* The frames before must go first, whole: the byte goes after them. */
  int rc = mpconn_flush(c);
  if (rc < 0)
    return rc;
  uint8_t byte = (uint8_t)(n % 256);
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  return mpconn__send_fds(c->wfd, &iov, 1, fds, n, c->send_timeout < 0);
}

int mpconn_send_fd(mpconn *c, int fd) {
  int rc = check_unix_send(c);
  if (rc < 0)
    return rc;
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return MPCONN_EBADF;
  return send_fds(c, &fd, 1);
}

int mpconn_recv_fd(mpconn *c, int *fd, int timeout_ms) {
  if (fd)
    *fd = -1;
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if (!fd || !c->runix || c->ring)
    return MPCONN_EINVAL;
  int fds[MPCONN_FDS_PER_READ];
  unsigned n;
  rc = mpconn__rx_fds(c, fds, &n, timeout_ms);
  if (rc < 0)
    return rc;
  if (n != 1) {
    /* More than the one announced as a handle: none is taken. */
    for (unsigned i = 0; i < n; i++)
      close(fds[i]);
    return MPCONN_EBADFDS;
  }
  *fd = fds[0];
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

int mpconn_send_conn(mpconn *c, mpconn *other) {
  int rc = check_unix_send(c);
  if (rc < 0)
    return rc;
  if (!other || other == c)
    return MPCONN_EINVAL;
  if (other->closed)
    return MPCONN_ECLOSED;
  if (other->ring) /* its rings are this process's mapping */
    return MPCONN_EINVAL;
  /* Nothing of its conversation may be left behind in this process. */
  if (mpconn__rx_busy(other) || other->tx.packing ||
      mpconn__tx_queued(other) > 0)
    return MPCONN_EBUSY;
  int fds[2] = {other->rfd >= 0 ? other->rfd : other->wfd, other->wfd};
  unsigned n =
      other->rfd >= 0 && other->wfd >= 0 && other->wfd != other->rfd ? 2 : 1;
  rc = send_fds(c, fds, n);
  if (rc < 0)
    return rc;
  /* Moved: this process's copy goes. */
  mpconn_close(other);
  return 0;
}

int mpconn_recv_conn(mpconn *c, mpconn **other, int timeout_ms) {
  if (other)
    *other = NULL;
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if (!other || !c->runix || c->ring)
    return MPCONN_EINVAL;
  int fds[MPCONN_FDS_PER_READ];
  unsigned n;
  rc = mpconn__rx_fds(c, fds, &n, timeout_ms);
  if (rc < 0)
    return rc;
  if (n > 2) {
    for (unsigned i = 0; i < n; i++)
      close(fds[i]);
    return MPCONN_EBADFDS;
  }
  /* One descriptor finds its direction; two are receive, then send. */
  return n == 1 ? mpconn_from_fd(other, fds[0])
                : mpconn_from_fds(other, fds[0], fds[1]);
}
