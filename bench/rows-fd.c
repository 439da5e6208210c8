/* SPDX-License-Identifier: MIT */
/*
 * The fdpass workload: the sender hands one open descriptor (its end of a
 * pipe made before the fork) to the receiver n times, and the receiver
 * closes each one it gets.
 *
 * mpconn: mpconn_pipe(..., true), mpconn_send_fd() and mpconn_recv_fd().
 *
 * hand-written: CPython's reduction.sendfds()/recvfds() in C over a
 * socketpair: sendmsg() of one byte (the count, 1) with an SCM_RIGHTS
 * message holding the descriptor; recvmsg() of one byte with room for one
 * descriptor, MSG_CMSG_CLOEXEC (mpconn's descriptors are close-on-exec
 * too), the byte and the control message checked.
 *
 * Every received descriptor is closed, and close() failing fails the row;
 * the first and the last are also compared with the sent one by fstat()
 * (device and inode).
 */
#include "bench.h"

#include <mpconn.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct fd_arg {
  enum bench_fd_variant variant;
  uint64_t n;
  int passed[2];   /* a pipe: the sender passes [1] */
  mpconn *rx, *tx; /* mpconn: the receiving and the sending end */
  int fds[2];      /* hand-written: [0] the receiver's end, [1] the sender's */
};

static void check(int rc, const char *what) {
  if (rc < 0)
    bench_fail("%s: %s", what, mpconn_err_name(rc));
}

/* Whether @fd is the descriptor the sender passes. */
static void check_same(const struct fd_arg *a, int fd, uint64_t i) {
  struct stat want, got;
  if (fstat(a->passed[1], &want) < 0 || fstat(fd, &got) < 0 ||
      want.st_dev != got.st_dev || want.st_ino != got.st_ino)
    bench_fail("descriptor %llu is not the one sent", (unsigned long long)i);
}

static void take(const struct fd_arg *a, int fd, uint64_t i) {
  if (i == 0 || i + 1 == a->n)
    check_same(a, fd, i);
  if (close(fd) < 0)
    bench_fail("close of descriptor %llu: %s", (unsigned long long)i,
               strerror(errno));
}

static void mp_sender(void *arg, int index) {
  (void)index;
  struct fd_arg *a = arg;
  mpconn_free(a->rx);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++)
    check(mpconn_send_fd(a->tx, a->passed[1]), "send_fd");
  mpconn_free(a->tx);
}

static void mp_receiver(void *arg, int index) {
  (void)index;
  struct fd_arg *a = arg;
  mpconn_free(a->tx);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    int fd;
    check(mpconn_recv_fd(a->rx, &fd, -1), "recv_fd");
    take(a, fd, i);
  }
  bench_mark_end();
  mpconn_free(a->rx);
}

static void hw_sender(void *arg, int index) {
  (void)index;
  struct fd_arg *a = arg;
  int sock = a->fds[1];
  close(a->fds[0]);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    char byte = 1;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &a->passed[1], sizeof(int));
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
      ;
    if (n != 1)
      bench_fail("sendmsg: %s", n < 0 ? strerror(errno) : "short");
  }
  close(sock);
}

static void hw_receiver(void *arg, int index) {
  (void)index;
  struct fd_arg *a = arg;
  int sock = a->fds[0];
  close(a->fds[1]);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
      ;
    if (n != 1)
      bench_fail("recvmsg: %s", n < 0 ? strerror(errno) : "end of file");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (byte != 1 || (msg.msg_flags & MSG_CTRUNC) || !c ||
        c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
      bench_fail("message %llu carries no descriptor", (unsigned long long)i);
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    take(a, fd, i);
  }
  bench_mark_end();
  close(sock);
}

void bench_row_fd(struct bench_result *r, enum bench_fd_variant v, uint64_t n) {
  struct fd_arg a = {.variant = v, .n = n, .fds = {-1, -1}};
  if (pipe2(a.passed, O_CLOEXEC) < 0) {
    bench_error(r, "pipe: %s", strerror(errno));
    return;
  }
  struct bench_roles roles = {.senders = 1};
  int rc;
  if (v == BENCH_FD_MPCONN) {
    rc = mpconn_pipe(&a.rx, &a.tx, true);
    if (rc < 0)
      bench_error(r, "%s", mpconn_strerror(rc));
    roles.sender = mp_sender;
    roles.receiver = mp_receiver;
  } else {
    rc = bench_socketpair(a.fds);
    if (rc < 0)
      bench_error(r, "socketpair: %s", strerror(-rc));
    roles.sender = hw_sender;
    roles.receiver = hw_receiver;
  }
  if (rc == 0) {
    r->messages = n;
    bench_run(r, &roles, &a);
  }
  mpconn_free(a.rx);
  mpconn_free(a.tx);
  if (a.fds[0] >= 0) {
    close(a.fds[0]);
    close(a.fds[1]);
  }
  close(a.passed[0]);
  close(a.passed[1]);
}
