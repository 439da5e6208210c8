/* SPDX-License-Identifier: MIT */
/* io.c — system calls with EINTR, EAGAIN, short writes and SIGPIPE handled,
 * and the deadlines every wait is measured against. */
#ifndef MPCONN_IO_H
#define MPCONN_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Deadline meaning "never". */
#define MPCONN_FOREVER INT64_MAX

/* The CLOCK_MONOTONIC time in milliseconds @timeout_ms from now, or
 * MPCONN_FOREVER for a negative timeout (which reads no clock). */
int64_t mpconn__deadline(int timeout_ms);
/* A deadline read from the clock only when it is first needed: a call that
 * finds its work done without waiting never reads the clock. */
struct mpconn__timer {
  int timeout_ms;
  bool started;
  int64_t deadline;
};

static inline struct mpconn__timer mpconn__timer(int timeout_ms) {
  return (struct mpconn__timer){.timeout_ms = timeout_ms};
}

static inline int64_t mpconn__timer_deadline(struct mpconn__timer *t) {
  if (!t->started) {
    t->deadline = mpconn__deadline(t->timeout_ms);
    t->started = true;
  }
  return t->deadline;
}

/* Milliseconds left until @deadline, for poll(): -1 for ever, 0 once it has
 * passed. */
int mpconn__remaining_ms(int64_t deadline);
/* Wait for @events on @fd: 1 when ready, MPCONN_ETIMEDOUT at the deadline,
 * MPCONN_EBADF, or -errno. */
int mpconn__wait_fd(int fd, short events, int64_t deadline);
/* One read(): the number of bytes (> 0), 0 at end of file, or a negative
 * code.  With a finite deadline, a socket (@sock) is read without blocking
 * and polled only when it has nothing; any other descriptor is polled
 * first. */
ssize_t mpconn__read(int fd, bool sock, void *buf, size_t len,
                     int64_t deadline);
/* The most descriptors one read takes in (more are closed by the kernel,
 * which says so: MSG_CTRUNC). */
#define MPCONN_FDS_PER_READ 16

/* Descriptors that came with the bytes of a read. */
struct mpconn__fds_in {
  unsigned n;
  bool truncated; /* the kernel had more: MSG_CTRUNC */
  bool full;      /* the read took all the room it had */
  int fds[MPCONN_FDS_PER_READ];
};
/* One recvmsg() on a Unix socket: as mpconn__read(), and the descriptors
 * that came with the bytes in *@in, all close-on-exec.  On Linux they came
 * with the last of the bytes: a read stops after the message that carried
 * them, or where its room ends (in->full). */
ssize_t mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                         struct mpconn__fds_in *in);
/* Send @iov (modified) carrying @n descriptors (SCM_RIGHTS) on Unix socket
 * @fd, waiting for room when @wait: 0, MPCONN_EAGAIN (nothing was sent),
 * MPCONN_EPIPE, -errno. */
int mpconn__send_fds(int fd, struct iovec *iov, int iovcnt, const int *fds,
                     unsigned n, bool wait);
/* Write every byte of @iov (modified) to @fd, a socket when @sock: 0,
 * MPCONN_EPIPE, or -errno.  SIGPIPE is never delivered. */
int mpconn__writev_all(int fd, bool sock, struct iovec *iov, int iovcnt);
/* Write what fits now, never waiting (a pipe must be non-blocking for
 * that): the bytes written (0 when none fit), or a code, as above. */
ssize_t mpconn__write_some(int fd, bool sock, struct iovec *iov, int iovcnt);

#endif
