/* SPDX-License-Identifier: MIT */
/*
 * System calls, made safe: EINTR is retried, EAGAIN on a non-blocking
 * descriptor waits for readiness, short writes continue, and a write to a
 * pipe whose reader is gone never raises SIGPIPE in the process.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mpconn__deadline(int timeout_ms) {
  if (timeout_ms < 0)
    return MPCONN_FOREVER;
  return now_ms() + timeout_ms;
}

/* Milliseconds left until the deadline, for poll(): -1 for ever. */
int mpconn__remaining_ms(int64_t deadline) {
  if (deadline == MPCONN_FOREVER)
    return -1;
  int64_t left = deadline - now_ms();
  if (left <= 0)
    return 0;
  return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* 1 when ready, MPCONN_ETIMEDOUT at the deadline, or -errno. */
int mpconn__wait_fd(int fd, short events, int64_t deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int n = poll(&p, 1, mpconn__remaining_ms(deadline));
    if (n > 0) {
      if (p.revents & POLLNVAL)
        return MPCONN_EBADF;
      return 1;
    }
    if (n == 0)
      return MPCONN_ETIMEDOUT;
    if (errno != EINTR)
      return -errno;
  }
}

/* A read found nothing (EAGAIN): wait for readability until @deadline;
 * MPCONN_ETIMEDOUT at once, with no poll(), when it has passed. */
static int wait_readable(int fd, int64_t deadline) {
  if (deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0)
    return MPCONN_ETIMEDOUT;
  return mpconn__wait_fd(fd, POLLIN, deadline);
}

/*
 * One read(): the number of bytes (> 0), 0 at end of file, or a negative
 * code.  With a finite deadline: a socket is read without blocking first
 * (one system call when bytes are there), any other descriptor is polled
 * first, so that a read on a blocking descriptor does not outlast the
 * deadline.
 */
ssize_t mpconn__read(int fd, bool sock, void *buf, size_t len,
                     int64_t deadline) {
  bool timed = deadline != MPCONN_FOREVER;
  for (;;) {
    if (timed && !sock) {
      int rc = mpconn__wait_fd(fd, POLLIN, deadline);
      if (rc < 0)
        return rc;
    }
    ssize_t n = sock ? recv(fd, buf, len, timed ? MSG_DONTWAIT : 0)
                     : read(fd, buf, len);
    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = wait_readable(fd, deadline);
      if (rc < 0)
        return rc;
      continue;
    }
    return -errno;
  }
}

ssize_t mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                         struct mpconn__fds_in *in) {
  in->n = 0;
  in->truncated = false;
  in->full = false;
  /* Room for the descriptors of one message, aligned as cmsg wants. */
  union {
    char buf[CMSG_SPACE(sizeof(int) * MPCONN_FDS_PER_READ)];
    struct cmsghdr align;
  } ctl;
  /* Without blocking first, as a socket in mpconn__read(). */
  int flags =
      MSG_CMSG_CLOEXEC | (deadline != MPCONN_FOREVER ? MSG_DONTWAIT : 0);
  for (;;) {
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
    ssize_t n = recvmsg(fd, &m, flags);
    if (n >= 0) {
      for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
          continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && in->n < MPCONN_FDS_PER_READ; i++)
          memcpy(&in->fds[in->n++], CMSG_DATA(h) + i * sizeof(int),
                 sizeof(int));
      }
      in->truncated = (m.msg_flags & MSG_CTRUNC) != 0;
      in->full = (size_t)n == len;
      return n;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = wait_readable(fd, deadline);
      if (rc < 0)
        return rc;
      continue;
    }
    return -errno;
  }
}

int mpconn__send_fds(int fd, struct iovec *iov, int iovcnt, const int *fds,
                     unsigned n, bool wait) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * MPCONN_FDS_PER_READ)];
    struct cmsghdr align;
  } ctl;
  if (n == 0 || n > MPCONN_FDS_PER_READ || iovcnt < 1)
    return MPCONN_EINVAL;
  memset(&ctl, 0, sizeof(ctl));
  struct msghdr m = {.msg_iov = iov,
                     .msg_iovlen = (size_t)iovcnt,
                     .msg_control = ctl.buf,
                     .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int) * n);
  memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
  for (;;) {
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
    if (w > 0) {
      /* The descriptors went with the first bytes; any rest goes plain
       * (a few dozen bytes go whole in practice). */
      size_t done = (size_t)w;
      while (iovcnt > 0 && done >= iov->iov_len) {
        done -= iov->iov_len;
        iov++;
        iovcnt--;
      }
      if (iovcnt == 0)
        return 0;
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
      return mpconn__writev_all(fd, true, iov, iovcnt);
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait)
        return MPCONN_EAGAIN;
      int rc = mpconn__wait_fd(fd, POLLOUT, MPCONN_FOREVER);
      if (rc < 0)
        return rc;
      continue;
    }
    return w < 0 ? (errno == EPIPE ? MPCONN_EPIPE : -errno) : -EIO;
  }
}

static ssize_t write_once(int fd, bool sock, struct iovec *iov, int iovcnt,
                          bool wait) {
  int flags = MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT);
  /* One buffer (a frame packed whole, or what is left of it) goes by the
   * plainer call: the kernel has no iovec to copy in. */
  if (sock && iovcnt == 1)
    return send(fd, iov->iov_base, iov->iov_len, flags);
  if (sock) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    return sendmsg(fd, &m, flags);
  }
  return writev(fd, iov, iovcnt);
}

/* Write @iov: all of it, waiting for room when @wait, or what fits now.
 * *@written receives the bytes written, also on failure.  0 or a code. */
static int write_loop(int fd, bool sock, struct iovec *iov, int iovcnt,
                      bool wait, size_t *written) {
  *written = 0;
  while (iovcnt > 0) {
    ssize_t n = write_once(fd, sock, iov, iovcnt, wait);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait)
          return 0;
        int rc = mpconn__wait_fd(fd, POLLOUT, MPCONN_FOREVER);
        if (rc < 0)
          return rc;
        continue;
      }
      return errno == EPIPE ? MPCONN_EPIPE : -errno;
    }
    size_t done = (size_t)n;
    *written += done;
    while (iovcnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return 0;
}

/*
 * Sockets use MSG_NOSIGNAL.  For pipes SIGPIPE is blocked in this thread
 * only, and a SIGPIPE this write raised is taken back before the mask is
 * restored, so the process-wide disposition is never consulted nor
 * changed.  A SIGPIPE that was already pending is left alone.  Two system
 * calls per write besides the write itself.  iov is modified.
 */
static int write_safely(int fd, bool sock, struct iovec *iov, int iovcnt,
                        bool wait, size_t *written) {
  if (sock)
    return write_loop(fd, sock, iov, iovcnt, wait, written);

  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  /* Only a thread that already blocked SIGPIPE can have one pending: an
   * unblocked one would have been delivered before this call. */
  bool was_pending = sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
                     sigismember(&pending, SIGPIPE);

  int rc = write_loop(fd, sock, iov, iovcnt, wait, written);

  if (rc == MPCONN_EPIPE && !was_pending) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int mpconn__writev_all(int fd, bool sock, struct iovec *iov, int iovcnt) {
  size_t written;
  return write_safely(fd, sock, iov, iovcnt, true, &written);
}

ssize_t mpconn__write_some(int fd, bool sock, struct iovec *iov, int iovcnt) {
  size_t written;
  int rc = write_safely(fd, sock, iov, iovcnt, false, &written);
  return rc < 0 ? rc : (ssize_t)written;
}
