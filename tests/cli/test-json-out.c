/* SPDX-License-Identifier: MIT */
/*
 * tools/json-out.c: received values to JSON text, written while walking the
 * value.  Numbers and strings are compared with what jansson prints for the
 * same value (the text the tool printed when it went through json_t);
 * tests/cli/test_cli.py checks whole values against msgpack-python.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpconn.h>

#include "json.h"

/* Receive @payload as a value, through a file like any frame: any size. */
static mpconn_msg *receive(const void *payload, size_t len) {
  FILE *f = tmpfile();
  assert_non_null(f);
  unsigned char header[4] = {(unsigned char)(len >> 24),
                             (unsigned char)(len >> 16),
                             (unsigned char)(len >> 8), (unsigned char)len};
  assert_int_equal(fwrite(header, 1, 4, f), 4);
  assert_int_equal(fwrite(payload, 1, len, f), len);
  assert_int_equal(fflush(f), 0);
  rewind(f);
  mpconn *c;
  assert_int_equal(mpconn_from_fd(&c, dup(fileno(f))), 0);
  fclose(f);
  assert_int_equal(mpconn_set_max_size(c, MPCONN_UNLIMITED), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(c, &m, 1000), 0);
  mpconn_free(c);
  return m;
}

/* The text of a payload, new. */
static char *text_of(const void *payload, size_t len, size_t *n) {
  mpconn_msg *m = receive(payload, len);
  char *text;
  assert_int_equal(tool_json_from_msgpack(m, mpconn_msg_value(m), &text, n), 0);
  assert_int_equal(strlen(text), *n);
  mpconn_msg_free(m);
  return text;
}

static void to_json(const void *payload, size_t len, const char *want) {
  size_t n;
  char *text = text_of(payload, len, &n);
  assert_string_equal(text, want);
  free(text);
}

#define TO_JSON(bytes, want) to_json(bytes, sizeof(bytes) - 1, want)

/* What jansson prints for @j (stolen), as the tool printed it. */
static void like_jansson(const void *payload, size_t len, json_t *j) {
  char *want = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                 JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
  assert_non_null(want);
  json_decref(j);
  to_json(payload, len, want);
  free(want);
}

/* A simple generator, so that runs repeat. */
static uint64_t next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void one_double(double d) {
  unsigned char p[9] = {0xcb};
  uint64_t bits;
  memcpy(&bits, &d, 8);
  for (int i = 0; i < 8; i++)
    p[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
  like_jansson(p, 9, json_real(d));
}

static void floats(void **state) {
  (void)state;
  /* Plain, around 17 digits, large, small, subnormal and the least
   * normal, the greatest, float 32's greatest and least. */
  static const char edges[] =
      "0 1 0.5 0.1 100 123456789 1000000000000000.5 9007199254740993 1e16 "
      "1e17 1e21 1e22 1e100 1e300 12345678901234567890 0.000123 1e-4 1e-5 "
      "1e-7 1e-100 1e-300 5e-324 2.2250738585072014e-308 "
      "1.7976931348623157e308 3.4028234663852886e38 1.4012984643248171e-45";
  char *end;
  for (const char *p = edges;; p = end) {
    double d = strtod(p, &end);
    if (end == p)
      break;
    one_double(d);
    one_double(-d);
  }
  uint64_t s = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = next(&s);
    double d;
    memcpy(&d, &bits, 8);
    if (isfinite(d))
      one_double(d);
  }
  TO_JSON("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", "{\"$float\":\"nan\"}");
  TO_JSON("\xcb\xff\xf0\x00\x00\x00\x00\x00\x00", "{\"$float\":\"-inf\"}");
  TO_JSON("\xca\x7f\x80\x00\x00", "{\"$float\":\"inf\"}");
  TO_JSON("\xca\x3f\xc0\x00\x00", "1.5");
  TO_JSON("\xca\x3d\xcc\xcc\xcd", "0.10000000149011612");
}

static void integers(void **state) {
  (void)state;
  TO_JSON("\x00", "0");
  TO_JSON("\x7f", "127");
  TO_JSON("\xe0", "-32");
  TO_JSON("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", "9223372036854775807");
  TO_JSON("\xcf\x80\x00\x00\x00\x00\x00\x00\x00", "9223372036854775808");
  TO_JSON("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "18446744073709551615");
  TO_JSON("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "-9223372036854775808");
  TO_JSON("\xd3\x00\x00\x00\x00\x00\x00\x00\x05", "5");
  uint64_t s = 12345;
  for (int i = 0; i < 2000; i++) {
    int64_t v = (int64_t)next(&s) >> (next(&s) % 64);
    unsigned char p[9] = {0xd3};
    for (int k = 0; k < 8; k++)
      p[1 + k] = (unsigned char)((uint64_t)v >> (56 - 8 * k));
    like_jansson(p, 9, json_integer(v));
  }
}

/* A str of @n bytes, msgpack str 32, and what jansson prints for it. */
static void one_string(const char *s, size_t n) {
  unsigned char *p = malloc(n + 5);
  assert_non_null(p);
  p[0] = 0xdb;
  for (int i = 0; i < 4; i++)
    p[1 + i] = (unsigned char)(n >> (24 - 8 * i));
  memcpy(p + 5, s, n);
  like_jansson(p, n + 5, json_stringn(s, n));
  free(p);
}

static void strings(void **state) {
  (void)state;
  for (int c = 0; c < 128; c++) {
    char s[3] = {'a', (char)c, 'b'};
    one_string(s, 3);
    one_string(s + 1, 1);
  }
  one_string("", 0);
  one_string("\"\\/\b\f\n\r\t\x1f\x7f", 10);
  one_string("é日本😀\xef\xbf\xbf\xf4\x8f\xbf\xbf", 20);
  /* Long, escapes across the writer's buffer. */
  size_t n = 100000;
  char *big = malloc(n);
  assert_non_null(big);
  uint64_t s = 7;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = next(&s) % 8;
    big[i] = r == 0 ? '\n' : r == 1 ? '\x01' : r == 2 ? '"' : 'a' + (char)r;
  }
  one_string(big, n);
  free(big);
}

#define VALID(s) valid(s, sizeof(s) - 1)

/* Whether a str is printed as a JSON string (valid UTF-8) or as $str. */
static bool valid(const char *s, size_t n) {
  unsigned char p[40] = {(unsigned char)(0xa0 | n)};
  memcpy(p + 1, s, n);
  size_t len;
  char *text = text_of(p, n + 1, &len);
  bool plain = text[0] == '"';
  if (!plain)
    assert_memory_equal(text, "{\"$str\":\"", 9);
  free(text);
  return plain;
}

static void utf8(void **state) {
  (void)state;
  assert_true(VALID(""));
  assert_true(VALID("plain ascii \x7f"));
  assert_true(VALID("a\0b"));
  assert_true(VALID("\xc2\x80"));         /* U+0080 */
  assert_true(VALID("\xdf\xbf"));         /* U+07FF */
  assert_true(VALID("\xe0\xa0\x80"));     /* U+0800 */
  assert_true(VALID("\xed\x9f\xbf"));     /* U+D7FF */
  assert_true(VALID("\xee\x80\x80"));     /* U+E000 */
  assert_true(VALID("\xef\xbf\xbf"));     /* U+FFFF */
  assert_true(VALID("\xf0\x90\x80\x80")); /* U+10000 */
  assert_true(VALID("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
  assert_true(VALID("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"));

  assert_false(VALID("\x80")); /* lone continuation */
  assert_false(VALID("\xbf"));
  assert_false(VALID("\xc0\x80"));         /* overlong NUL */
  assert_false(VALID("\xc1\xbf"));         /* overlong */
  assert_false(VALID("\xe0\x9f\xbf"));     /* overlong U+07FF */
  assert_false(VALID("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
  assert_false(VALID("\xed\xa0\x80"));     /* U+D800 */
  assert_false(VALID("\xed\xbf\xbf"));     /* U+DFFF */
  assert_false(VALID("\xf4\x90\x80\x80")); /* U+110000 */
  assert_false(VALID("\xf5\x80\x80\x80"));
  assert_false(VALID("\xff"));
  assert_false(VALID("\xc3")); /* cut short */
  assert_false(VALID("\xe6\x97"));
  assert_false(VALID("\xf0\x9f\x98"));
  assert_false(VALID("\xc3\x28")); /* bad continuation */
  assert_false(VALID("ok\xe6\x97\x41"));
}

static void raw(void **state) {
  (void)state;
  TO_JSON("\xa1\xff", "{\"$str\":\"/w==\"}");
  TO_JSON("\xc4\x00", "{\"$bytes\":\"\"}");
  TO_JSON("\xc4\x03\x00\x01\x02", "{\"$bytes\":\"AAEC\"}");
  TO_JSON("\xd4\x05\x00", "{\"$ext\":[5,\"AA==\"]}");
  TO_JSON("\xc7\x00\xfe", "{\"$ext\":[-2,\"\"]}");
  TO_JSON("\xd6\xff\x00\x00\x00\x01", "{\"$ext\":[-1,\"AAAAAQ==\"]}");
  /* Base64 across chunks: the same text as one pass over the bytes. */
  size_t n = 10001;
  unsigned char *p = malloc(n + 5);
  assert_non_null(p);
  p[0] = 0xc6;
  for (int i = 0; i < 4; i++)
    p[1 + i] = (unsigned char)(n >> (24 - 8 * i));
  for (size_t i = 0; i < n; i++)
    p[5 + i] = (unsigned char)(i * 31);
  size_t len;
  char *text = text_of(p, n + 5, &len);
  assert_int_equal(len, 13 + (n + 2) / 3 * 4);
  assert_memory_equal(text, "{\"$bytes\":\"AB8+XXyb", 19);
  assert_string_equal(text + len - 2, "\"}");
  assert_int_equal(text[len - 3], '=');
  assert_null(memchr(text + 11, '=', len - 11 - 4));
  free(text);
  free(p);
}

static void containers(void **state) {
  (void)state;
  TO_JSON("\x90", "[]");
  TO_JSON("\x80", "{}");
  TO_JSON("\x93\x01\xa3two\xc0", "[1,\"two\",null]");
  TO_JSON("\x82\xa1"
          "b\x01\xa1"
          "a\x02",
          "{\"b\":1,\"a\":2}");
  TO_JSON("\x81\xa1$\xc0", "{\"$map\":[[\"$\",null]]}");
  TO_JSON("\x81\xa2$x\x01", "{\"$map\":[[\"$x\",1]]}");
  TO_JSON("\x82\xa2$x\x01\xa2$y\x02", "{\"$x\":1,\"$y\":2}");
  TO_JSON("\x81\xa0\x01", "{\"\":1}");
  TO_JSON("\x82\xa1"
          "a\x01\xa1"
          "a\x02",
          "{\"$map\":[[\"a\",1],[\"a\",2]]}");
  TO_JSON("\x82\xa0\x01\xa0\x02", "{\"$map\":[[\"\",1],[\"\",2]]}");
  TO_JSON("\x81\xa2"
          "a\x00\x01",
          "{\"$map\":[[\"a\\u0000\",1]]}");
  TO_JSON("\x81\xa1\xff\x01", "{\"$map\":[[{\"$str\":\"/w==\"},1]]}");
  TO_JSON("\x82\xc0\xc0\x01\xc2", "{\"$map\":[[null,null],[1,false]]}");
  TO_JSON("\xd4\x53\x90", "{\"$set\":[]}");
  TO_JSON("\xd8\x53\x93\x00\xc7\x0a\x53\x91"
          "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x00",
          "{\"$set\":[0,{\"$set\":[18446744073709551615]},0]}");
  TO_JSON("\x92\xd5\x53\x91\x01\x81\xd4\x53\x90\xd5\x53\x91\x02",
          "[{\"$set\":[1]},{\"$map\":[[{\"$set\":[]},{\"$set\":[2]}]]}]");
}

/* A map of @n distinct keys, then @dup: the key of entry @dup again
 * (none when @dup == n). */
static void big_map(uint32_t n, uint32_t dup) {
  size_t cap = 5 + (size_t)(n + 1) * 6;
  unsigned char *p = malloc(cap);
  assert_non_null(p);
  uint32_t entries = n + (dup < n);
  size_t len = 0;
  p[len++] = 0xdf;
  for (int i = 0; i < 4; i++)
    p[len++] = (unsigned char)(entries >> (24 - 8 * i));
  for (uint32_t i = 0; i < entries; i++) {
    uint32_t k = i < n ? i : dup;
    p[len++] = 0xa3;
    p[len++] = (unsigned char)('a' + k / 676);
    p[len++] = (unsigned char)('a' + k / 26 % 26);
    p[len++] = (unsigned char)('a' + k % 26);
    p[len++] = 0xc0;
  }
  size_t tlen;
  char *text = text_of(p, len, &tlen);
  if (dup < n) {
    assert_memory_equal(text, "{\"$map\":[[\"aaa\",null],", 22);
  } else {
    assert_memory_equal(text, "{\"aaa\":null,\"aab\":null", 22);
    assert_int_equal(tlen, 2 + (size_t)n * 11 - 1);
  }
  free(text);
  free(p);
}

static void map_keys(void **state) {
  (void)state;
  /* Pair by pair up to 16 keys, with a table above. */
  for (uint32_t n = 2; n < 40; n++) {
    big_map(n, n);
    big_map(n, 0);
    big_map(n, n - 1);
    big_map(n, n / 2);
  }
  big_map(17000, 17000);
  big_map(17000, 16999);
  big_map(17000, 3);
}

/* ---- Failures ---------------------------------------------------------- */

struct sink {
  size_t calls, bytes, fail_after;
};

static int counting(void *arg, const char *text, size_t len) {
  struct sink *s = arg;
  (void)text;
  if (s->calls++ >= s->fail_after)
    return -1;
  s->bytes += len;
  return 0;
}

/* A conversion that fails writes nothing: here a set that does not
 * decode, after items that would otherwise have been written already. */
static void nothing_written(void **state) {
  (void)state;
  mpconn_msg *m = receive("\x90", 1);
  static char text[9000];
  memset(text, 'x', sizeof(text));
  msgpack_object items[3] = {
      {.type = MSGPACK_OBJECT_STR, .via.str = {sizeof(text), text}},
      {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1},
      {.type = MSGPACK_OBJECT_EXT,
       .via.ext = {.type = MPCONN_EXT_SET, .size = 1, .ptr = "\x01"}},
  };
  msgpack_object v = {.type = MSGPACK_OBJECT_ARRAY,
                      .via.array = {.size = 3, .ptr = items}};
  struct sink s = {.fail_after = SIZE_MAX};
  assert_int_equal(tool_json_write(m, &v, counting, &s), MPCONN_EBADSET);
  assert_int_equal(s.calls, 0);
  /* Without the set, the same writes 9006 bytes in two pieces. */
  v.via.array.size = 2;
  assert_int_equal(tool_json_write(m, &v, counting, &s), 0);
  assert_int_equal(s.calls, 2);
  assert_int_equal(s.bytes, 9006);
  /* A failing write is reported, and nothing more is written. */
  s = (struct sink){.fail_after = 0};
  assert_int_equal(tool_json_write(m, &v, counting, &s),
                   TOOL_JSON_WRITE_FAILED);
  assert_int_equal(s.calls, 1);
  mpconn_msg_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(floats),   cmocka_unit_test(integers),
      cmocka_unit_test(strings),  cmocka_unit_test(utf8),
      cmocka_unit_test(raw),      cmocka_unit_test(containers),
      cmocka_unit_test(map_keys), cmocka_unit_test(nothing_written),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
