/* SPDX-License-Identifier: MIT */
/* tools/base64.c: strict padded base64 around libcrypto, encoded in chunks. */
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

/* Encode as json-out.c does: whole chunks, then the rest. */
static char *encode_all(const void *data, size_t n, size_t *len) {
  char *out = malloc(n / 3 * 4 + 5);
  assert_non_null(out);
  const char *p = data;
  *len = 0;
  out[0] = '\0';
  for (size_t done = 0; done < n;) {
    size_t k = n - done < TOOL_BASE64_CHUNK ? n - done : TOOL_BASE64_CHUNK;
    *len += tool_base64_encode_chunk(p + done, k, out + *len);
    done += k;
  }
  assert_int_equal(strlen(out), *len);
  return out;
}

static void encode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
    size_t len;
    char *out = encode_all(vectors[i][0], strlen(vectors[i][0]), &len);
    assert_string_equal(out, vectors[i][1]);
    assert_int_equal(len, strlen(vectors[i][1]));
    free(out);
  }
  unsigned char all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (unsigned char)i;
  size_t len;
  char *out = encode_all(all, sizeof(all), &len);
  assert_int_equal(len, 344);
  assert_memory_equal(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44);
  assert_string_equal(out + 320, "8PHy8/T19vf4+fr7/P3+/w==");
  free(out);
}

/* Across chunks: the text is that of one call over all the bytes, padded
 * only at its end, and decodes back. */
static void encode_chunks(void **state) {
  (void)state;
  static const size_t sizes[] = {TOOL_BASE64_CHUNK - 1, TOOL_BASE64_CHUNK,
                                 TOOL_BASE64_CHUNK + 1,
                                 3 * TOOL_BASE64_CHUNK + 2};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t k = 0; k < n; k++)
      data[k] = (unsigned char)(k * 7 + k / 251);
    size_t len;
    char *text = encode_all(data, n, &len);
    assert_int_equal(len, (n + 2) / 3 * 4);
    assert_null(memchr(text, '=', len - 2));
    unsigned char *back;
    size_t blen;
    assert_int_equal(tool_base64_decode(text, len, &back, &blen), 0);
    assert_int_equal(blen, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(text);
    free(data);
  }
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
      cmocka_unit_test(encode_chunks),
      cmocka_unit_test(decode),
      cmocka_unit_test(refuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
