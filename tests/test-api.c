/* SPDX-License-Identifier: MIT */
/* The public API as a user sees it: linked against the shared library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

static void test_duplex_round_trip(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_send_bytes(a, "ping", 4), 0);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(b, &data, &len, MPCONN_UNLIMITED, -1), 0);
  assert_int_equal(len, 4);
  assert_memory_equal(data, "ping", 4);
  free(data);
  assert_int_equal(mpconn_send_bytes(b, "pong!", 5), 0);
  char buf[8];
  assert_int_equal(mpconn_recv_bytes_into(a, buf, sizeof(buf), 2, &len, -1), 0);
  assert_int_equal(len, 5);
  assert_memory_equal(buf + 2, "pong!", 5);
  mpconn_free(a);
  assert_int_equal(mpconn_recv_bytes(b, &data, &len, MPCONN_UNLIMITED, -1),
                   MPCONN_EOF);
  mpconn_free(b);
}

static void test_simplex_directions(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_true(mpconn_readable(r));
  assert_false(mpconn_writable(r));
  assert_true(mpconn_writable(w));
  assert_false(mpconn_readable(w));
  assert_int_equal(mpconn_send_bytes(r, "x", 1), MPCONN_EREADONLY);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(w, &data, &len, MPCONN_UNLIMITED, 0),
                   MPCONN_EWRITEONLY);
  mpconn_free(r);
  mpconn_free(w);
}

static void test_error_strings(void **state) {
  (void)state;
  assert_string_equal(mpconn_err_name(MPCONN_EOF), "MPCONN_EOF");
  assert_string_equal(mpconn_strerror(MPCONN_ECLOSED), "handle is closed");
  assert_string_equal(mpconn_strerror(MPCONN_EWRITEONLY),
                      "connection is write-only");
  assert_string_equal(mpconn_strerror(MPCONN_EREADONLY),
                      "connection is read-only");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duplex_round_trip),
      cmocka_unit_test(test_simplex_directions),
      cmocka_unit_test(test_error_strings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
