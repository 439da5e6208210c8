/* SPDX-License-Identifier: MIT */
/*
 * Descriptors and connections handed between processes (lib/fd.c, and the
 * reads of lib/frame.c that take descriptors in).  mpconn__read_fds() is
 * replaced (-Wl,--wrap) by one that hands out at most a scripted number of
 * bytes per read, so the descriptor's byte lands at every position of a
 * read; the kernel still decides which bytes the descriptors come with.
 */
#include "test-util.h"

#include <poll.h>
#include <sys/socket.h>

#include "mpconn-private.h"

/* The most bytes each read hands out, in turn; 0: no limit. */
static size_t script[64];
static size_t nscript, next_read;

ssize_t __real_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in);
ssize_t __wrap_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in);
ssize_t __wrap_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in) {
  if (nscript) {
    size_t k = script[next_read++ % nscript];
    if (k && k < len)
      len = k;
  }
  return __real_mpconn__read_fds(fd, buf, len, deadline, in);
}

static void no_script(void) {
  nscript = 0;
  next_read = 0;
}

/* A pipe; its two ends in @fds. */
static void make_pipe(int fds[2]) {
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

/* That @fd is a descriptor of the write end whose read end is @rfd: a
 * byte written to it arrives. */
static void expect_same_pipe(int fd, int rfd, char byte) {
  assert_int_equal(write(fd, &byte, 1), 1);
  char got = 0;
  assert_int_equal(read(rfd, &got, 1), 1);
  assert_int_equal(got, byte);
}

static void send_str(mpconn *c, const char *s) {
  assert_int_equal(mpconn_send_bytes(c, s, strlen(s)), 0);
}

static void expect_str(mpconn *c, const char *want) {
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, 5000), 0);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(d, want, n);
  free(d);
}

/* A descriptor goes, close-on-exec, and is the same open file. */
static void test_send_recv_fd(void **state) {
  mpconn **p = *state;
  no_script();
  int fds = count_fds();
  int pfd[2];
  make_pipe(pfd);
  assert_int_equal(mpconn_send_fd(p[0], pfd[1]), 0);
  int got;
  assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), 0);
  assert_true(got >= 0 && got != pfd[1]);
  assert_int_equal(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  expect_same_pipe(got, pfd[0], 'x');
  close(got);
  close(pfd[0]);
  close(pfd[1]);
  assert_int_equal(count_fds(), fds);
  /* The wire: exactly the byte 1 (the count). */
  make_pipe(pfd);
  assert_int_equal(mpconn_send_fd(p[0], pfd[0]), 0);
  uint8_t byte;
  char ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = ctl,
                     .msg_controllen = sizeof(ctl)};
  assert_int_equal(recvmsg(mpconn_fileno(p[1]), &m, MSG_CMSG_CLOEXEC), 1);
  assert_int_equal(byte, 1);
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  assert_non_null(h);
  assert_int_equal(h->cmsg_type, SCM_RIGHTS);
  assert_int_equal(h->cmsg_len, CMSG_LEN(sizeof(int)));
  int raw;
  memcpy(&raw, CMSG_DATA(h), sizeof(raw));
  close(raw);
  close(pfd[0]);
  close(pfd[1]);
  assert_int_equal(count_fds(), fds);
}

/*
 * Frames and descriptors interleaved, with the descriptor's byte at every
 * position of a read: a frame of k bytes before it, reads of at most r
 * bytes.  A frame receive that meets the descriptor first says so and
 * takes nothing; mpconn_recv_fd() takes it; what follows is intact.
 */
static void test_interleaved_every_position(void **state) {
  mpconn **p = *state;
  int pfd[2];
  make_pipe(pfd);
  int fds = count_fds();
  char big[300];
  memset(big, 'k', sizeof(big));
  for (size_t r = 1; r <= 9; r += 4) {
    for (size_t k = 0; k < 40; k++) {
      script[0] = r;
      script[1] = 0;
      script[2] = 2 * r + 1;
      nscript = 3;
      next_read = k % 3;
      big[k] = '\0';
      send_str(p[0], big);
      assert_int_equal(mpconn_send_fd(p[0], pfd[1]), 0);
      send_str(p[0], "after");
      big[k] = 'k';
      char want[300];
      memset(want, 'k', k);
      want[k] = '\0';
      expect_str(p[1], want);
      void *d;
      size_t n;
      assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                       MPCONN_EFDPENDING);
      assert_int_equal(mpconn_poll(p[1], 0), 1);
      int got;
      assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), 0);
      expect_same_pipe(got, pfd[0], (char)('a' + k % 26));
      close(got);
      assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), MPCONN_ENOFD);
      assert_int_equal(got, -1);
      expect_str(p[1], "after");
    }
  }
  no_script();
  assert_int_equal(count_fds(), fds);
  close(pfd[0]);
  close(pfd[1]);
}

/* sendmsg() of @len bytes carrying @n duplicates of @fd. */
static void send_raw_fds(int sock, const void *bytes, size_t len, int fd,
                         int n) {
  int many[256];
  for (int i = 0; i < n; i++)
    many[i] = fd;
  char ctl[CMSG_SPACE(sizeof(many))];
  memset(ctl, 0, sizeof(ctl));
  struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = ctl,
                     .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
  memcpy(CMSG_DATA(h), many, sizeof(int) * (size_t)n);
  assert_int_equal(sendmsg(sock, &m, 0), (ssize_t)len);
}

/*
 * Hostile descriptors: with a frame's bytes, more than their byte counts,
 * more than a read takes (MSG_CTRUNC), a byte that counts wrong.  Each
 * receive that meets them says MPCONN_EBADFDS, they are closed (the count
 * of open descriptors is back where it was), and the stream goes on.
 */
static void test_hostile_descriptors(void **state) {
  mpconn **p = *state;
  no_script();
  int raw = mpconn_fileno(p[0]);
  int pfd[2];
  make_pipe(pfd);
  int fds = count_fds();

  /* With a plain frame's bytes. */
  send_raw_fds(raw, "\x00\x00\x00\x02hi", 6, pfd[1], 1);
  send_str(p[0], "next");
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                   MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);
  expect_str(p[1], "next");

  /* 200 in one message: the kernel passes 16, closes the rest, says so. */
  uint8_t count = 200;
  send_raw_fds(raw, &count, 1, pfd[1], 200);
  send_str(p[0], "after 200");
  int got;
  assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), MPCONN_EBADFDS);
  assert_int_equal(got, -1);
  assert_int_equal(count_fds(), fds);
  expect_str(p[1], "after 200");

  /* A byte that counts 2 for 1. */
  count = 2;
  send_raw_fds(raw, &count, 1, pfd[1], 1);
  assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);

  /* Two, counted right, where one handle is asked for. */
  count = 2;
  send_raw_fds(raw, &count, 1, pfd[1], 2);
  assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);

  /* Inside a large frame, read straight into the caller's buffer. */
  size_t len = 200000;
  uint8_t *buf = malloc(len + 4);
  memset(buf, 'z', len + 4);
  uint8_t hdr[4] = {0, 3, 0x0d, 0x40}; /* 200 000 */
  memcpy(buf, hdr, 4);
  assert_int_equal(send(raw, buf, 1000, 0), 1000);
  send_raw_fds(raw, buf + 1000, 10, pfd[1], 1);
  struct pollfd pw = {.fd = raw, .events = POLLOUT};
  size_t sent = 1010;
  /* The rest from here while the receiver reads. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    while (sent < len + 4) {
      poll(&pw, 1, 5000);
      ssize_t w = send(raw, buf + sent, len + 4 - sent, 0);
      if (w <= 0)
        _exit(1);
      sent += (size_t)w;
    }
    _exit(0);
  }
  uint8_t *into = malloc(len);
  assert_int_equal(mpconn_recv_bytes_into(p[1], into, len, 0, &n, 5000),
                   MPCONN_EBADFDS);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(count_fds(), fds);
  send_str(p[0], "still going");
  expect_str(p[1], "still going");
  free(into);
  free(buf);

  /* Left unread at close: closed with the connection. */
  assert_int_equal(mpconn_send_fd(p[0], pfd[1]), 0);
  assert_int_equal(mpconn_poll(p[1], 5000), 1);
  assert_int_equal(count_fds(), fds + 1);
  mpconn_close(p[1]);
  assert_int_equal(count_fds(), fds - 1);
  close(pfd[0]);
  close(pfd[1]);
}

/*
 * Descriptors with a frame's bytes, read one byte at a time: the read that
 * takes them ends on the frame's first byte, which cannot be told from a
 * descriptor's byte but does not count them.  The connection fails for
 * good with MPCONN_EBADFDS (frame and descriptor receives alike) instead
 * of losing its place in the stream, and the descriptors are closed.  With
 * two-byte reads the same frame is refused on its own and the stream goes
 * on.
 */
static void test_descriptors_with_a_cut_frame(void **state) {
  mpconn **p = *state;
  int raw = mpconn_fileno(p[0]);
  int pfd[2];
  make_pipe(pfd);
  int fds = count_fds();
  void *d;
  size_t n;
  int got;

  script[0] = 2;
  nscript = 1;
  next_read = 0;
  send_raw_fds(raw, "\x00\x00\x00\x02hi", 6, pfd[1], 1);
  send_str(p[0], "next");
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                   MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);
  expect_str(p[1], "next");

  script[0] = 1;
  send_raw_fds(raw, "\x00\x00\x00\x02hi", 6, pfd[1], 1);
  send_str(p[0], "lost");
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                   MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 0),
                   MPCONN_EBADFDS);
  assert_int_equal(mpconn_recv_fd(p[1], &got, 0), MPCONN_EBADFDS);
  assert_int_equal(got, -1);
  assert_int_equal(mpconn_poll(p[1], 0), 1);
  no_script();
  close(pfd[0]);
  close(pfd[1]);
}

/* A byte that does not count its descriptor, read alone because reads are
 * one byte: the same, and mpconn_recv_fd() says it too. */
static void test_miscounted_byte_cut_reads(void **state) {
  mpconn **p = *state;
  int raw = mpconn_fileno(p[0]);
  int pfd[2];
  make_pipe(pfd);
  int fds = count_fds();
  script[0] = 1;
  nscript = 1;
  next_read = 0;
  uint8_t two = 2;
  send_raw_fds(raw, &two, 1, pfd[1], 1);
  int got;
  assert_int_equal(mpconn_recv_fd(p[1], &got, 5000), MPCONN_EBADFDS);
  assert_int_equal(got, -1);
  assert_int_equal(count_fds(), fds);
  assert_int_equal(mpconn_recv_fd(p[1], &got, 0), MPCONN_EBADFDS);
  no_script();
  close(pfd[0]);
  close(pfd[1]);
}

/* Only Unix sockets carry descriptors. */
static void test_not_unix(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  int fd;
  assert_int_equal(mpconn_send_fd(w, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_recv_fd(r, &fd, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_recv_fd(w, &fd, 0), MPCONN_EWRITEONLY);
  assert_int_equal(mpconn_send_fd(r, 0), MPCONN_EREADONLY);
  mpconn *other;
  assert_int_equal(mpconn_recv_conn(r, &other, 0), MPCONN_EINVAL);
  mpconn_free(r);
  mpconn_free(w);
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_send_fd(a, -1), MPCONN_EBADF);
  assert_int_equal(mpconn_send_fd(a, 987654), MPCONN_EBADF);
  assert_int_equal(mpconn_recv_fd(a, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_recv_fd(a, &fd, 0), MPCONN_ETIMEDOUT);
  mpconn_free(a);
  mpconn_free(b);
}

/*
 * A connection moved to a forked worker mid-conversation: every message
 * before the move (received here) and after it (received there) arrives
 * once, in order.  Moving one with bytes buffered, or held to send, is
 * refused and sends nothing.
 */
static void test_move_connection(void **state) {
  mpconn **ctl = *state; /* to the worker: ctl[0] here, ctl[1] there */
  mpconn *client, *served;
  assert_int_equal(mpconn_pipe(&client, &served, true), 0);
  send_str(client, "one");
  expect_str(served, "one");
  /* Refused while "two" sits in its buffer. */
  send_str(client, "two");
  assert_int_equal(mpconn_poll(served, 5000), 1);
  assert_int_equal(mpconn_send_conn(ctl[0], served), MPCONN_EBUSY);
  expect_str(served, "two");
  /* And while a corked frame waits to go. */
  assert_int_equal(mpconn_cork(served, true), 0);
  send_str(served, "held");
  assert_int_equal(mpconn_send_conn(ctl[0], served), MPCONN_EBUSY);
  assert_int_equal(mpconn_flush(served), 0);
  expect_str(client, "held");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mpconn *moved;
    int rc = mpconn_recv_conn(ctl[1], &moved, 5000);
    if (rc < 0)
      _exit(1);
    void *d;
    size_t n;
    for (int i = 0; i < 3; i++) {
      if (mpconn_recv_bytes(moved, &d, &n, 64, 5000) < 0)
        _exit(2);
      rc = mpconn_send_bytes(moved, d, n); /* echo */
      free(d);
      if (rc < 0)
        _exit(3);
    }
    mpconn_free(moved);
    _exit(0);
  }
  send_str(client, "three");
  assert_int_equal(mpconn_send_conn(ctl[0], served), 0);
  assert_true(mpconn_closed(served));
  assert_int_equal(mpconn_send_bytes(served, "x", 1), MPCONN_ECLOSED);
  mpconn_free(served);
  send_str(client, "four");
  send_str(client, "five");
  expect_str(client, "three");
  expect_str(client, "four");
  expect_str(client, "five");
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  mpconn_free(client);
  /* A connection of two pipes travels as two descriptors. */
  int in[2], out[2];
  make_pipe(in);
  make_pipe(out);
  mpconn *two;
  assert_int_equal(mpconn_from_fds(&two, in[0], out[1]), 0);
  assert_int_equal(mpconn_send_conn(ctl[0], two), 0);
  mpconn_free(two);
  mpconn *back;
  assert_int_equal(mpconn_recv_conn(ctl[1], &back, 5000), 0);
  assert_true(mpconn_readable(back) && mpconn_writable(back));
  mpconn *feed, *drain;
  assert_int_equal(mpconn_from_fds(&feed, -1, in[1]), 0);
  assert_int_equal(mpconn_from_fds(&drain, out[0], -1), 0);
  send_str(feed, "in");
  expect_str(back, "in");
  send_str(back, "out");
  expect_str(drain, "out");
  mpconn_free(back);
  mpconn_free(feed);
  mpconn_free(drain);
  assert_int_equal(mpconn_send_conn(ctl[0], ctl[0]), MPCONN_EINVAL);
  assert_int_equal(mpconn_send_conn(ctl[0], NULL), MPCONN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_send_recv_fd, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_interleaved_every_position,
                                      pair_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_hostile_descriptors, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_descriptors_with_a_cut_frame,
                                      pair_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_miscounted_byte_cut_reads,
                                      pair_setup, pair_teardown),
      cmocka_unit_test(test_not_unix),
      cmocka_unit_test_setup_teardown(test_move_connection, pair_setup,
                                      pair_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
