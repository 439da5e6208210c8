/* SPDX-License-Identifier: MIT */
/* tools/base64.c: strict padded base64 around libcrypto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <mpconn.h>

#include "base64.h"

/* RFC 4648, section 10. */
static const char *const vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void encode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
    char *out;
    size_t len;
    assert_int_equal(
        tool_base64_encode(vectors[i][0], strlen(vectors[i][0]), &out, &len),
        0);
    assert_string_equal(out, vectors[i][1]);
    assert_int_equal(len, strlen(vectors[i][1]));
    free(out);
  }
  unsigned char all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (unsigned char)i;
  char *out;
  size_t len;
  assert_int_equal(tool_base64_encode(all, sizeof(all), &out, &len), 0);
  assert_int_equal(len, 344);
  assert_memory_equal(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44);
  assert_string_equal(out + 320, "8PHy8/T19vf4+fr7/P3+/w==");
  free(out);
}

static void decode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
    unsigned char *out;
    size_t len;
    assert_int_equal(
        tool_base64_decode(vectors[i][1], strlen(vectors[i][1]), &out, &len),
        0);
    assert_non_null(out);
    assert_int_equal(len, strlen(vectors[i][0]));
    assert_memory_equal(out, vectors[i][0], len);
    free(out);
  }
  unsigned char *out;
  size_t len;
  assert_int_equal(tool_base64_decode("+/8=", 4, &out, &len), 0);
  assert_int_equal(len, 2);
  assert_memory_equal(out, "\xfb\xff", 2);
  free(out);
}

static void refuse(void **state) {
  (void)state;
  static const char *const bad[] = {
      "Zg",    "Zg=",  "Zm9vY",    "=",      "====",
      "Z===",  "Zm=v", "Zg==Zg==", "Zm9v\n", " Zm9v",
      "Zm9v ", "Zm-_", "Zm9v\r\n", "Zm9*",   "Zm\0v",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    unsigned char *out = NULL;
    size_t len = 99;
    size_t n = i == 14 ? 4 : strlen(bad[i]);
    assert_int_equal(tool_base64_decode(bad[i], n, &out, &len), MPCONN_EINVAL);
    assert_null(out);
    assert_int_equal(len, 99);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encode),
      cmocka_unit_test(decode),
      cmocka_unit_test(refuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
