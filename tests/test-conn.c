/* SPDX-License-Identifier: MIT */
/* Creating, wrapping, handing over and closing connections (lib/conn.c). */
#include "test-util.h"

#include <sys/socket.h>

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static bool fd_cloexec(int fd) {
  return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

static void test_pipe_kinds(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, false), 0);
  int r = mpconn_fileno(a), w = mpconn_fileno(b);
  assert_true(r >= 0 && w >= 0 && r != w);
  assert_true(fd_cloexec(r) && fd_cloexec(w));
  assert_int_equal(fcntl(r, F_GETFL) & O_ACCMODE, O_RDONLY);
  assert_int_equal(fcntl(w, F_GETFL) & O_ACCMODE, O_WRONLY);
  char s[32];
  assert_int_equal(mpconn_fd_string(a, s, sizeof(s)), 0);
  char want[32];
  snprintf(want, sizeof(want), "%d,-1", r);
  assert_string_equal(s, want);
  assert_int_equal(mpconn_fd_string(b, s, sizeof(s)), 0);
  snprintf(want, sizeof(want), "-1,%d", w);
  assert_string_equal(s, want);
  assert_int_equal(mpconn_fd_string(b, s, 3), MPCONN_EINVAL);
  mpconn_free(a);
  mpconn_free(b);
  assert_false(fd_open(r));
  assert_false(fd_open(w));

  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  int fa = mpconn_fileno(a);
  assert_true(fd_cloexec(fa));
  assert_true(mpconn_readable(a) && mpconn_writable(a));
  assert_int_equal(mpconn_fd_string(a, s, sizeof(s)), 0);
  snprintf(want, sizeof(want), "%d", fa);
  assert_string_equal(s, want);
  mpconn_free(a);
  mpconn_free(b);
  assert_false(fd_open(fa));
}

/* Descriptors handed over are owned: closed even when the call fails. */
static void test_from_fds_owns_on_failure(void **state) {
  (void)state;
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_from_fds(&c, -1, -1), MPCONN_EINVAL);
  assert_null(c);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  /* The write end cannot receive. */
  assert_int_equal(mpconn_from_fds(&c, fds[1], -1), MPCONN_EBADF);
  assert_null(c);
  assert_false(fd_open(fds[1]));
  /* A pipe end is not a socket: the same descriptor twice is refused. */
  assert_int_equal(mpconn_from_fds(&c, fds[0], fds[0]), MPCONN_EBADF);
  assert_false(fd_open(fds[0]));
  /* A closed descriptor. */
  assert_int_equal(mpconn_from_fds(&c, fds[0], -1), MPCONN_EBADF);
  assert_int_equal(mpconn_from_fd(&c, 987), MPCONN_EBADF);
  assert_int_equal(mpconn_from_fd(&c, -1), MPCONN_EINVAL);
}

static void test_from_fd_detects_direction(void **state) {
  (void)state;
  int fds[2], sv[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_false(fd_cloexec(fds[0]));
  mpconn *r, *w, *s;
  assert_int_equal(mpconn_from_fd(&r, fds[0]), 0);
  assert_int_equal(mpconn_from_fd(&w, fds[1]), 0);
  assert_int_equal(mpconn_from_fd(&s, sv[0]), 0);
  assert_true(fd_cloexec(fds[0]) && fd_cloexec(fds[1]) && fd_cloexec(sv[0]));
  assert_true(mpconn_readable(r) && !mpconn_writable(r));
  assert_true(!mpconn_readable(w) && mpconn_writable(w));
  assert_true(mpconn_readable(s) && mpconn_writable(s));
  assert_int_equal(mpconn_send_bytes(w, "hi", 2), 0);
  char buf[2];
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(r, buf, 2, 0, &len, -1), 0);
  assert_memory_equal(buf, "hi", 2);
  mpconn_free(r);
  mpconn_free(w);
  mpconn_free(s);
  close(sv[1]);
}

static void test_from_string(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  char spec[32];
  snprintf(spec, sizeof(spec), "%d,%d", fds[0], fds[1]);
  mpconn *c;
  assert_int_equal(mpconn_from_string(&c, spec), 0);
  assert_true(mpconn_readable(c) && mpconn_writable(c));
  assert_int_equal(mpconn_send_bytes(c, "loop", 4), 0);
  char buf[4];
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(c, buf, 4, 0, &len, -1), 0);
  assert_memory_equal(buf, "loop", 4);
  mpconn_free(c);

  assert_int_equal(pipe(fds), 0);
  snprintf(spec, sizeof(spec), "-1,%d", fds[1]);
  assert_int_equal(mpconn_from_string(&c, spec), 0);
  assert_false(mpconn_readable(c));
  mpconn_free(c);
  snprintf(spec, sizeof(spec), "%d", fds[0]);
  assert_int_equal(mpconn_from_string(&c, spec), 0);
  assert_true(mpconn_readable(c) && !mpconn_writable(c));
  mpconn_free(c);

  const char *bad[] = {"", "abc", "3,", ",3", "1,2,3", "-1", "-1,-1",
                       "12345678901", " 3", "3 ", "+3"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    c = (mpconn *)1;
    assert_int_equal(mpconn_from_string(&c, bad[i]), MPCONN_EINVAL);
    assert_null(c);
  }
  assert_int_equal(mpconn_from_string(&c, NULL), MPCONN_EINVAL);
}

static void test_inheritable(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, false), 0);
  int fd = mpconn_fileno(a);
  assert_int_equal(mpconn_set_inheritable(a, true), 0);
  assert_false(fd_cloexec(fd));
  assert_true(fd_cloexec(mpconn_fileno(b)));
  assert_int_equal(mpconn_set_inheritable(a, false), 0);
  assert_true(fd_cloexec(fd));
  mpconn_close(a);
  assert_int_equal(mpconn_set_inheritable(a, true), MPCONN_ECLOSED);
  mpconn_free(a);
  mpconn_free(b);
}

/* After close, every call says so; close and free accept repeats/NULL. */
static void test_closed_handle(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_close(a), 0);
  assert_int_equal(mpconn_close(a), 0);
  assert_int_equal(mpconn_close(NULL), 0);
  mpconn_free(NULL);
  assert_false(mpconn_readable(a) || mpconn_writable(a));
  assert_int_equal(mpconn_fileno(a), MPCONN_ECLOSED);
  assert_int_equal(mpconn_set_max_size(a, 5), MPCONN_ECLOSED);
  char s[32];
  assert_int_equal(mpconn_fd_string(a, s, sizeof(s)), MPCONN_ECLOSED);
  assert_int_equal(mpconn_send_bytes(a, "x", 1), MPCONN_ECLOSED);
  void *d;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(a, &d, &len, 1, 0), MPCONN_ECLOSED);
  assert_int_equal(mpconn_recv_bytes_into(a, s, 1, 0, &len, 0),
                   MPCONN_ECLOSED);
  assert_int_equal(mpconn_poll(a, 0), MPCONN_ECLOSED);
  mpconn *list[1] = {a}, *ready[1];
  assert_int_equal(mpconn_wait(list, 1, 0, ready), MPCONN_ECLOSED);
  assert_int_equal(mpconn_get_max_size(b), MPCONN_DEFAULT_MAX_SIZE);
  mpconn_free(a);
  mpconn_free(b);
}

static void test_bad_arguments(void **state) {
  (void)state;
  mpconn *a;
  assert_int_equal(mpconn_pipe(&a, NULL, true), MPCONN_EINVAL);
  assert_int_equal(mpconn_fileno(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_send_bytes(NULL, "x", 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_poll(NULL, 0), MPCONN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pipe_kinds),
      cmocka_unit_test(test_from_fds_owns_on_failure),
      cmocka_unit_test(test_from_fd_detects_direction),
      cmocka_unit_test(test_from_string),
      cmocka_unit_test(test_inheritable),
      cmocka_unit_test(test_closed_handle),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
