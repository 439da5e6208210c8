/* SPDX-License-Identifier: MIT */
/* The error table (lib/errors.c): every code has a name and a message. */
#include "test-util.h"

#include <limits.h>

struct entry {
  int code;
  const char *name;
  const char *msg;
};

static const struct entry table[] = {
#define XX(name, value, msg) {value, "MPCONN_" #name, msg},
    MPCONN_ERRNO_MAP(XX)
#undef XX
};
#define N (sizeof(table) / sizeof(table[0]))

static void test_every_code_named(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) {
    assert_true(table[i].code < 0);
    assert_string_equal(mpconn_err_name(table[i].code), table[i].name);
    assert_string_equal(mpconn_strerror(table[i].code), table[i].msg);
    assert_true(strlen(table[i].msg) > 5);
    for (size_t j = i + 1; j < N; j++)
      assert_int_not_equal(table[i].code, table[j].code);
  }
}

/* Library conditions sit outside the errno range. */
static void test_library_codes_outside_errno(void **state) {
  (void)state;
  const int lib[] = {MPCONN_EOF,       MPCONN_ETRUNCATED, MPCONN_ECLOSED,
                     MPCONN_EREADONLY, MPCONN_EWRITEONLY, MPCONN_ETOOBIG,
                     MPCONN_EBADFRAME, MPCONN_ETIMEDOUT,  MPCONN_ETOOSHORT,
                     MPCONN_EBADVALUE, MPCONN_ETOODEEP,   MPCONN_EBADSET,
                     MPCONN_EFORMAT,   MPCONN_EUNPACK,    MPCONN_EAUTH,
                     MPCONN_EBADADDR,  MPCONN_EEMPTY,     MPCONN_EFULL};
  for (size_t i = 0; i < sizeof(lib) / sizeof(lib[0]); i++)
    assert_true(lib[i] <= -4000);
  assert_int_equal(MPCONN_EOF, -4095);
  assert_int_equal(MPCONN_EPIPE, -EPIPE);
  assert_int_equal(MPCONN_EAUTH, -4081);
  assert_int_equal(MPCONN_EBADADDR, -4080);
  assert_int_equal(MPCONN_EEMPTY, -4079);
  assert_int_equal(MPCONN_EFULL, -4078);
  assert_int_equal(MPCONN_EADDRINUSE, -EADDRINUSE);
  assert_int_equal(MPCONN_ECONNREFUSED, -ECONNREFUSED);
}

static void test_python_wording(void **state) {
  (void)state;
  assert_string_equal(mpconn_strerror(MPCONN_ETRUNCATED),
                      "got end of file during message");
  assert_string_equal(mpconn_strerror(MPCONN_ECLOSED), "handle is closed");
  assert_string_equal(mpconn_strerror(MPCONN_EREADONLY),
                      "connection is read-only");
  assert_string_equal(mpconn_strerror(MPCONN_EWRITEONLY),
                      "connection is write-only");
}

static void test_unknown_and_passthrough(void **state) {
  (void)state;
  assert_string_equal(mpconn_strerror(0), "success");
  assert_string_equal(mpconn_err_name(0), "MPCONN_OK");
  assert_int_equal(MPCONN_OK, 0);
  /* Any int: -INT_MIN overflows, so it must never be negated (UBSan
   * checks that in the sanitizer run). */
  assert_string_equal(mpconn_strerror(INT_MIN), "unknown error");
  assert_string_equal(mpconn_err_name(INT_MIN), "MPCONN_UNKNOWN");
  assert_string_equal(mpconn_strerror(INT_MAX), "unknown error");
  assert_string_equal(mpconn_strerror(-4096), "unknown error");
  assert_string_equal(mpconn_strerror(-4095 + 94), "unknown error");
  assert_string_equal(mpconn_strerror(-3999), "unknown error");
  assert_string_equal(mpconn_strerror(1), "unknown error");
  assert_string_equal(mpconn_err_name(-3999), "MPCONN_UNKNOWN");
  assert_string_equal(mpconn_strerror(-EACCES), "Permission denied");
  assert_string_equal(mpconn_err_name(-EACCES), "MPCONN_UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_named),
      cmocka_unit_test(test_library_codes_outside_errno),
      cmocka_unit_test(test_python_wording),
      cmocka_unit_test(test_unknown_and_passthrough),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
