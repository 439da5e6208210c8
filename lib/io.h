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
/* Milliseconds left until @deadline, for poll(): -1 for ever, 0 once it has
 * passed. */
int mpconn__remaining_ms(int64_t deadline);
/* Wait for @events on @fd: 1 when ready, MPCONN_ETIMEDOUT at the deadline,
 * MPCONN_EBADF, or -errno. */
int mpconn__wait_fd(int fd, short events, int64_t deadline);
/* One read(): the number of bytes (> 0), 0 at end of file, or a negative
 * code.  With a finite deadline, waits for readability first. */
ssize_t mpconn__read(int fd, void *buf, size_t len, int64_t deadline);
/* Write every byte of @iov (modified) to @fd, a socket when @sock: 0,
 * MPCONN_EPIPE, or -errno.  SIGPIPE is never delivered. */
int mpconn__writev_all(int fd, bool sock, struct iovec *iov, int iovcnt);

#endif
