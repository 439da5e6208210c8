/* SPDX-License-Identifier: MIT */
/* The bytes API (lib/bytes.c). */
#include "test-util.h"

static void test_empty_message(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], NULL, 0), 0);
  void *data = NULL;
  size_t len = 99;
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, MPCONN_UNLIMITED, -1),
                   0);
  assert_non_null(data);
  assert_int_equal(len, 0);
  free(data);
}

static void test_null_with_length(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], NULL, 3), MPCONN_EINVAL);
}

/* Python's recv_bytes(maxlength): a longer message is refused, for good. */
static void test_maxlength(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], "abc", 3), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "abcd", 4), 0);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, 3, -1), 0);
  assert_int_equal(len, 3);
  free(data);
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, 3, -1), MPCONN_ETOOBIG);
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, 100, -1),
                   MPCONN_ETOOBIG);
  /* The duplex end can still send. */
  assert_int_equal(mpconn_send_bytes(p[1], "ok", 2), 0);
  assert_int_equal(mpconn_recv_bytes(p[0], &data, &len, 10, -1), 0);
  assert_memory_equal(data, "ok", 2);
  free(data);
}

/* A buffer too short keeps the message for the next receive. */
static void test_into_too_short_keeps_message(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], "0123456789", 10), 0);
  char buf[12] = {0};
  size_t len = 0;
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, 12, 3, &len, -1),
                   MPCONN_ETOOSHORT);
  assert_int_equal(len, 10);
  assert_int_equal(buf[3], 0);
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, 12, 2, &len, -1), 0);
  assert_int_equal(len, 10);
  assert_memory_equal(buf + 2, "0123456789", 10);
  /* Same for a frame too big for the chunk buffer. */
  uint8_t *big = pattern_buf(4, 100000);
  assert_int_equal(mpconn_send_bytes(p[0], big, 100000), 0);
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, 12, 0, &len, -1),
                   MPCONN_ETOOSHORT);
  assert_int_equal(len, 100000);
  expect_pattern(p[1], 4, 100000);
  free(big);
}

static void test_into_bad_offset(void **state) {
  mpconn **p = *state;
  char buf[4];
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, 4, 5, &len, 0),
                   MPCONN_EINVAL);
}

static void test_into_large(void **state) {
  mpconn **p = *state;
  size_t n = 1 << 20;
  uint8_t *src = pattern_buf(9, n);
  uint8_t *dst = calloc(1, n + 8);
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), 0);
  /* The pair's socket buffers hold less than 1 MiB: send from a child. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int rc = mpconn_send_bytes(p[0], src, n);
    free(src);
    free(dst);
    pair_teardown(state);
    _exit(rc == 0 ? 0 : 1);
  }
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], dst, n + 8, 8, &len, 5000), 0);
  assert_int_equal(len, 1);
  assert_int_equal(dst[8], 'x');
  assert_int_equal(mpconn_recv_bytes_into(p[1], dst, n + 8, 8, &len, 5000), 0);
  assert_int_equal(len, n);
  assert_memory_equal(dst + 8, src, n);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(src);
  free(dst);
}

/* A large frame read straight into the caller's buffer, cut by a timeout
 * in the middle: nothing is lost, and the next receive of either kind
 * completes it. */
static void test_into_large_timeout_resumes(void **state) {
  SOCKET_ONLY();
  mpconn **p = *state;
  size_t n = 300000;
  uint8_t *src = pattern_buf(5, n);
  int go[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* The header and half the payload, then wait for the word. */
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
    int fd = mpconn_fileno(p[0]);
    raw_write(fd, hdr, 4);
    raw_write(fd, src, n / 2);
    char b;
    while (read(go[0], &b, 1) < 0 && errno == EINTR)
      ;
    raw_write(fd, src + n / 2, n - n / 2);
    raw_write(fd, hdr, 4); /* and the whole frame once more */
    raw_write(fd, src, n);
    free(src);
    pair_teardown(state);
    _exit(0);
  }
  uint8_t *dst = calloc(1, n);
  size_t len = 0;
  assert_int_equal(mpconn_recv_bytes_into(p[1], dst, n, 0, &len, 300),
                   MPCONN_ETIMEDOUT);
  raw_write(go[1], "g", 1);
  for (int k = 0; k < 2; k++) {
    if (k == 0) {
      assert_int_equal(mpconn_recv_bytes_into(p[1], dst, n, 0, &len, 5000), 0);
    } else {
      /* The second copy, received with recv_bytes this time. */
      void *d;
      assert_int_equal(
          mpconn_recv_bytes(p[1], &d, &len, MPCONN_UNLIMITED, 5000), 0);
      memcpy(dst, d, len);
      free(d);
    }
    assert_int_equal(len, n);
    assert_memory_equal(dst, src, n);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(go[0]);
  close(go[1]);
  free(src);
  free(dst);
}

static void test_timeout_empty(void **state) {
  mpconn **p = *state;
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, MPCONN_UNLIMITED, 0),
                   MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, MPCONN_UNLIMITED, 30),
                   MPCONN_ETIMEDOUT);
  char buf[4];
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, 4, 0, &len, 10),
                   MPCONN_ETIMEDOUT);
}

/* Closing one end: the peer gets every frame sent, then EOF, then EOF. */
static void test_close_delivers_then_eof(void **state) {
  mpconn **p = *state;
  for (int i = 0; i < 50; i++)
    assert_int_equal(mpconn_send_bytes(p[0], &i, sizeof(i)), 0);
  assert_int_equal(mpconn_close(p[0]), 0);
  assert_int_equal(mpconn_close(p[0]), 0);
  for (int i = 0; i < 50; i++) {
    int v;
    size_t len;
    assert_int_equal(mpconn_recv_bytes_into(p[1], &v, sizeof(v), 0, &len, -1),
                     0);
    assert_int_equal(v, i);
  }
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, MPCONN_UNLIMITED, -1),
                   MPCONN_EOF);
  assert_int_equal(mpconn_recv_bytes(p[1], &data, &len, MPCONN_UNLIMITED, -1),
                   MPCONN_EOF);
  /* The closed end refuses everything. */
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), MPCONN_ECLOSED);
  assert_int_equal(mpconn_recv_bytes(p[0], &data, &len, 1, 0), MPCONN_ECLOSED);
  assert_int_equal(mpconn_poll(p[0], 0), MPCONN_ECLOSED);
  /* Sending to a closed peer is EPIPE, and the process lives on. */
  assert_int_equal(mpconn_send_bytes(p[1], "x", 1), MPCONN_EPIPE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_empty_message, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_null_with_length, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_maxlength, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_into_too_short_keeps_message,
                                      pair_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_into_bad_offset, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_into_large, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_into_large_timeout_resumes,
                                      pair_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_timeout_empty, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_close_delivers_then_eof, pair_setup,
                                      pair_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
