/* SPDX-License-Identifier: MIT */
/* Creating, wrapping, handing over and closing connections (lib/conn.c). */
#include "test-util.h"

#include <poll.h>
#include <pthread.h>

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

  const char *bad[] = {"",      "abc",         "3,", ",3", "1,2,3", "-1",
                       "-1,-1", "12345678901", " 3", "3 ", "+3"};
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
  assert_int_equal(mpconn_recv_bytes_into(a, s, 1, 0, &len, 0), MPCONN_ECLOSED);
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

/* ------------------------------------------------------------------------ */
/* Half-close and state                                                     */
/* ------------------------------------------------------------------------ */

static void expect_bytes(mpconn *c, const char *want) {
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, 5000), 0);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(d, want, n);
  free(d);
}

static int recv_code(mpconn *c, int timeout_ms) {
  void *d = NULL;
  size_t n;
  int rc = mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, timeout_ms);
  free(d);
  return rc;
}

/* Shutting down the sending side: the peer gets every message, then end
 * of file, and both can still go the other way. */
static void test_shutdown_write(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], "one", 3), 0);
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "two", 3), 0); /* held */
  assert_int_equal(mpconn_shutdown(p[0], MPCONN_SHUT_WR), 0);
  assert_false(mpconn_writable(p[0]));
  assert_true(mpconn_readable(p[0]));
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), MPCONN_EPIPE);
  assert_int_equal(mpconn_events(p[0]), POLLIN);
  expect_bytes(p[1], "one");
  expect_bytes(p[1], "two");
  assert_int_equal(recv_code(p[1], 5000), MPCONN_EOF);
  assert_int_equal(mpconn_events(p[1]), 0);
  /* The other way is open. */
  assert_int_equal(mpconn_send_bytes(p[1], "back", 4), 0);
  expect_bytes(p[0], "back");
  /* Again is nothing more; the other side too, then both have ended. */
  assert_int_equal(mpconn_shutdown(p[0], MPCONN_SHUT_WR), 0);
  assert_int_equal(mpconn_shutdown(p[1], MPCONN_SHUT_WR), 0);
  assert_int_equal(recv_code(p[0], 5000), MPCONN_EOF);
}

/* A pipe's writer: its descriptor is closed, the reader sees the end. */
static void test_shutdown_pipe(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  int fds = count_fds();
  assert_int_equal(mpconn_send_bytes(w, "last", 4), 0);
  assert_int_equal(mpconn_shutdown(w, MPCONN_SHUT_WR), 0);
  assert_int_equal(count_fds(), fds - 1);
  assert_int_equal(mpconn_send_bytes(w, "x", 1), MPCONN_EPIPE);
  expect_bytes(r, "last");
  assert_int_equal(recv_code(r, 5000), MPCONN_EOF);
  assert_int_equal(mpconn_shutdown(r, MPCONN_SHUT_RD), MPCONN_EINVAL);
  mpconn_free(r);
  mpconn_free(w);
}

struct blocked {
  mpconn *c;
  int rc;
};

static void *blocked_recv(void *arg) {
  struct blocked *b = arg;
  b->rc = recv_code(b->c, -1);
  return NULL;
}

/* Shutting down the receiving side wakes a thread blocked in a receive on
 * the same connection, which gets end of file; sending goes on. */
static void test_shutdown_read_wakes(void **state) {
  mpconn **p = *state;
  struct blocked b = {.c = p[1], .rc = 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, blocked_recv, &b), 0);
  /* Give it time to block; the result is the same if it has not yet. */
  poll(NULL, 0, 50);
  assert_int_equal(mpconn_shutdown(p[1], MPCONN_SHUT_RD), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(b.rc, MPCONN_EOF);
  assert_int_equal(recv_code(p[1], 0), MPCONN_EOF);
  assert_int_equal(mpconn_send_bytes(p[1], "still", 5), 0);
  expect_bytes(p[0], "still");
}

/* With a send timeout, pending bytes must go first: until they can,
 * nothing is shut down. */
static void test_shutdown_waits_for_buffer(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_set_send_timeout(p[0], 0), 0);
  size_t big = 4 * 1024 * 1024;
  uint8_t *m = pattern_buf(1, big);
  assert_int_equal(mpconn_send_bytes(p[0], m, big), 0);
  free(m);
  assert_int_equal(mpconn_shutdown(p[0], MPCONN_SHUT_WR), MPCONN_EAGAIN);
  assert_true(mpconn_writable(p[0]));
  assert_int_equal(mpconn_set_send_timeout(p[0], -1), 0);
  /* The reader takes it in another thread while this one shuts down. */
  struct blocked b = {.c = p[1], .rc = 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, blocked_recv, &b), 0);
  assert_int_equal(mpconn_shutdown(p[0], MPCONN_SHUT_WR), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(b.rc, 0);
  assert_int_equal(recv_code(p[1], 5000), MPCONN_EOF);
}

static void test_shutdown_arguments(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_shutdown(NULL, MPCONN_SHUT_WR), MPCONN_EINVAL);
  assert_int_equal(mpconn_shutdown(p[0], 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_shutdown(p[0], 4), MPCONN_EINVAL);
  assert_false(mpconn_closed(p[0]));
  assert_true(mpconn_closed(NULL));
  assert_int_equal(mpconn_close(p[0]), 0);
  assert_true(mpconn_closed(p[0]));
  assert_int_equal(mpconn_shutdown(p[0], MPCONN_SHUT_WR), MPCONN_ECLOSED);
  assert_int_equal(mpconn_events(p[0]), 0);
  assert_int_equal(mpconn_send_fileno(p[0]), MPCONN_ECLOSED);
  assert_int_equal(mpconn_send_fileno(NULL), MPCONN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_shutdown_write, pair_setup,
                                      pair_teardown),
      cmocka_unit_test(test_shutdown_pipe),
      cmocka_unit_test_setup_teardown(test_shutdown_read_wakes, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_waits_for_buffer,
                                      pair_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_arguments, pair_setup,
                                      pair_teardown),
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
