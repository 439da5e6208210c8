/* SPDX-License-Identifier: MIT */
/* Creating, wrapping, handing over and closing connections. */
#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void close_fds(int rfd, int wfd) {
  if (rfd >= 0)
    close(rfd);
  if (wfd >= 0 && wfd != rfd)
    close(wfd);
}

/* Whether fd is open with an access mode that allows the direction. */
static int check_fd(int fd, int want) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return MPCONN_EBADF;
  int mode = fl & O_ACCMODE;
  if (mode != O_RDWR && mode != want)
    return MPCONN_EBADF;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

static bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool is_unix_socket(int fd) {
  int domain;
  socklen_t len = sizeof(domain);
  return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
         domain == AF_UNIX;
}

int mpconn_from_fds(mpconn **c, int rfd, int wfd) {
  int rc = 0;
  if (c)
    *c = NULL;
  if (!c || (rfd < 0 && wfd < 0))
    rc = MPCONN_EINVAL;
  if (!rc && rfd >= 0)
    rc = check_fd(rfd, O_RDONLY);
  if (!rc && wfd >= 0)
    rc = check_fd(wfd, wfd == rfd ? O_RDWR : O_WRONLY);
  mpconn *n = rc ? NULL : calloc(1, sizeof(*n));
  if (!rc && !n)
    rc = MPCONN_ENOMEM;
  if (rc) {
    close_fds(rfd, wfd);
    return rc;
  }
  n->rfd = rfd;
  n->wfd = wfd;
  n->wsock = wfd >= 0 && is_socket(wfd);
  n->rsock = rfd >= 0 && (rfd == wfd ? n->wsock : is_socket(rfd));
  n->runix = rfd >= 0 && is_unix_socket(rfd);
  n->wunix = wfd >= 0 && (wfd == rfd ? n->runix : is_unix_socket(wfd));
  mpconn__rx_init(&n->rx);
  n->send_timeout = -1;
  n->send_cap = MPCONN_DEFAULT_SEND_BUFFER;
  n->max_size = MPCONN_DEFAULT_MAX_SIZE;
  n->max_decoded = MPCONN_DEFAULT_MAX_DECODED;
  *c = n;
  return 0;
}

int mpconn_from_fd(mpconn **c, int fd) {
  int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  if (fl < 0) {
    if (c)
      *c = NULL;
    return fd < 0 ? MPCONN_EINVAL : MPCONN_EBADF;
  }
  switch (fl & O_ACCMODE) {
  case O_RDONLY:
    return mpconn_from_fds(c, fd, -1);
  case O_WRONLY:
    return mpconn_from_fds(c, -1, fd);
  default:
    return mpconn_from_fds(c, fd, fd);
  }
}

/* A descriptor number, or -1, taking the whole of [s, end). */
static bool parse_fd(const char *s, const char *end, int *fd) {
  if (end - s == 2 && s[0] == '-' && s[1] == '1') {
    *fd = -1;
    return true;
  }
  long v = 0;
  if (s == end || end - s > 9)
    return false;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9')
      return false;
    v = v * 10 + (*s - '0');
  }
  *fd = (int)v;
  return true;
}

int mpconn_from_string(mpconn **c, const char *spec) {
  if (c)
    *c = NULL;
  if (!c || !spec)
    return MPCONN_EINVAL;
  const char *comma = strchr(spec, ',');
  const char *end = spec + strlen(spec);
  int rfd, wfd;
  if (!comma)
    return parse_fd(spec, end, &rfd) && rfd >= 0 ? mpconn_from_fd(c, rfd)
                                                 : MPCONN_EINVAL;
  if (!parse_fd(spec, comma, &rfd) || !parse_fd(comma + 1, end, &wfd))
    return MPCONN_EINVAL;
  return mpconn_from_fds(c, rfd, wfd);
}

int mpconn_pipe(mpconn **a, mpconn **b, bool duplex) {
  if (!a || !b)
    return MPCONN_EINVAL;
  *a = *b = NULL;
  int fds[2];
  if (duplex) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
      return -errno;
  } else if (pipe2(fds, O_CLOEXEC) < 0) {
    return -errno;
  }
  int rc = duplex ? mpconn_from_fds(a, fds[0], fds[0])
                  : mpconn_from_fds(a, fds[0], -1);
  if (rc < 0) {
    close(fds[1]);
    return rc;
  }
  rc = duplex ? mpconn_from_fds(b, fds[1], fds[1])
              : mpconn_from_fds(b, -1, fds[1]);
  if (rc < 0) {
    mpconn_free(*a);
    *a = NULL;
  }
  return rc;
}

int mpconn_fd_string(const mpconn *c, char *buf, size_t size) {
  if (!c || !buf)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  int n = c->rfd == c->wfd ? snprintf(buf, size, "%d", c->rfd)
                           : snprintf(buf, size, "%d,%d", c->rfd, c->wfd);
  return n < 0 || (size_t)n >= size ? MPCONN_EINVAL : 0;
}

static int set_cloexec(int fd, bool on) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0)
    return -errno;
  fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
  return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

int mpconn_set_inheritable(mpconn *c, bool inheritable) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  int rc = 0;
  if (c->rfd >= 0)
    rc = set_cloexec(c->rfd, !inheritable);
  if (!rc && c->wfd >= 0 && c->wfd != c->rfd)
    rc = set_cloexec(c->wfd, !inheritable);
  return rc;
}

int mpconn_fileno(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (c->rfd < 0 && c->wfd < 0) /* a pipe's writer, shut down */
    return MPCONN_ECLOSED;
  return c->rfd >= 0 ? c->rfd : c->wfd;
}

int mpconn_close(mpconn *c) {
  if (!c || c->closed)
    return 0;
  /* Corked frames are sent before the descriptors go. */
  int rc = mpconn__tx_flush_at_close(c);
  c->closed = true;
  mpconn__ringconn_close(c);
  if (c->rfd >= 0 && close(c->rfd) < 0 && errno != EINTR && !rc)
    rc = -errno;
  if (c->wfd >= 0 && c->wfd != c->rfd && close(c->wfd) < 0 && errno != EINTR &&
      !rc)
    rc = -errno;
  c->rfd = c->wfd = -1;
  mpconn__rx_release(&c->rx);
  return rc;
}

void mpconn_free(mpconn *c) {
  if (!c)
    return;
  mpconn_close(c);
  mpconn__ringconn_free(c->ring);
  mpconn__tx_release(&c->tx);
  free(c);
}

int mpconn_set_max_size(mpconn *c, size_t max_size) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  c->max_size = max_size;
  return 0;
}

size_t mpconn_get_max_size(const mpconn *c) { return c ? c->max_size : 0; }

int mpconn_set_max_decoded(mpconn *c, size_t max_decoded) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  c->max_decoded = max_decoded;
  return 0;
}

size_t mpconn_get_max_decoded(const mpconn *c) {
  return c ? c->max_decoded : 0;
}

bool mpconn_readable(const mpconn *c) { return c && !c->closed && c->rfd >= 0; }

bool mpconn_writable(const mpconn *c) {
  return c && !c->closed && c->wfd >= 0 && !c->shut_wr;
}

int mpconn_set_send_timeout(mpconn *c, int timeout_ms) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (c->wfd < 0)
    return MPCONN_EREADONLY;
  /* A pipe is written with write(), which has no per-call MSG_DONTWAIT. */
  if (timeout_ms >= 0 && !c->wsock) {
    int fl = fcntl(c->wfd, F_GETFL);
    if (fl < 0 || fcntl(c->wfd, F_SETFL, fl | O_NONBLOCK) < 0)
      return -errno;
  }
  c->send_timeout = timeout_ms < 0 ? -1 : timeout_ms;
  return 0;
}

int mpconn_set_send_buffer(mpconn *c, size_t bytes) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  c->send_cap = bytes;
  return 0;
}

int mpconn_events(const mpconn *c) {
  if (!c || c->closed)
    return 0;
  int ev = 0;
  if (c->rfd >= 0 && mpconn__rx_open(c))
    ev |= POLLIN;
  if (c->wfd >= 0 && mpconn__tx_queued(c) > 0)
    ev |= POLLOUT;
  return ev;
}

int mpconn_send_fileno(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  return c->wfd >= 0 ? c->wfd : MPCONN_EREADONLY;
}

int mpconn_shutdown(mpconn *c, int how) {
  if (!c || how == 0 || (how & ~(MPCONN_SHUT_WR | MPCONN_SHUT_RD)))
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  bool rd = how & MPCONN_SHUT_RD, wr = how & MPCONN_SHUT_WR;
  if (rd && (c->rfd < 0 || !is_socket(c->rfd)))
    return MPCONN_EINVAL;
  if (wr && c->wfd >= 0 && !c->shut_wr) {
    int rc = mpconn_flush(c);
    if (rc < 0)
      return rc;
    if (c->wsock) {
      if (shutdown(c->wfd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    } else {
      /* A pipe's write end: closing it is its end of file. */
      close(c->wfd);
      c->wfd = -1;
    }
    c->shut_wr = true;
  }
  if (rd && shutdown(c->rfd, SHUT_RD) < 0 && errno != ENOTCONN)
    return -errno;
  return 0;
}

bool mpconn_closed(const mpconn *c) { return !c || c->closed; }
