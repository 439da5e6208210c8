/* SPDX-License-Identifier: MIT */
/*
 * tools/json-in.c: JSON text to msgpack, and back through json-out.c, in
 * particular the integers above INT64_MAX that travel around jansson.
 * tests/cli/test_cli.py checks the same mapping through the tool against
 * msgpack-python.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <mpconn.h>

#include "json.h"

/* Receive payload as a value, through a pipe like any frame. */
static mpconn_msg *receive(const void *payload, size_t len) {
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_send_bytes(w, payload, len), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(r, &m, 1000), 0);
  mpconn_free(r);
  mpconn_free(w);
  return m;
}

static void to_json(const char *payload, size_t len, const char *want) {
  mpconn_msg *m = receive(payload, len);
  char *text;
  size_t n;
  assert_int_equal(tool_json_from_msgpack(m, mpconn_msg_value(m), &text, &n),
                   0);
  assert_string_equal(text, want);
  assert_int_equal(n, strlen(want));
  free(text);
  mpconn_msg_free(m);
}

#define TO_JSON(bytes, want) to_json(bytes, sizeof(bytes) - 1, want)

/* JSON to msgpack and back: the packed bytes and the same text again. */
static void both_ways(const char *json, const char *packed, size_t len) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  struct tool_error err;
  assert_int_equal(tool_json_to_msgpack(json, strlen(json), &pk, &err), 0);
  assert_int_equal(sb.size, len);
  assert_memory_equal(sb.data, packed, len);
  msgpack_sbuffer_destroy(&sb);
  to_json(packed, len, json);
}

#define BOTH(json, bytes) both_ways(json, bytes, sizeof(bytes) - 1)

/* JSON to msgpack, and the canonical text back. */
static void both_ways_to(const char *json, const char *packed, size_t len,
                         const char *back) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  struct tool_error err;
  assert_int_equal(tool_json_to_msgpack(json, strlen(json), &pk, &err), 0);
  assert_int_equal(sb.size, len);
  assert_memory_equal(sb.data, packed, len);
  msgpack_sbuffer_destroy(&sb);
  to_json(packed, len, back);
}

static void refused(const char *json, int column, const char *want) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  struct tool_error err;
  assert_int_equal(tool_json_to_msgpack(json, strlen(json), &pk, &err), -1);
  assert_int_equal(err.column, column);
  assert_string_equal(err.text, want);
  msgpack_sbuffer_destroy(&sb);
}

#define U64MAX "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
#define I64MAX1 "\xcf\x80\x00\x00\x00\x00\x00\x00\x00"

static void scalars(void **state) {
  (void)state;
  BOTH("null", "\xc0");
  BOTH("[true,false]", "\x92\xc3\xc2");
  BOTH("[0,-1,-33,128,-9223372036854775808]",
       "\x95\x00\xff\xd0\xdf\xcc\x80\xd3\x80\x00\x00\x00\x00\x00\x00\x00");
  BOTH("[1.0,-0.0]", "\x92\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"
                     "\xcb\x80\x00\x00\x00\x00\x00\x00\x00");
  BOTH("{\"$float\":\"-inf\"}", "\xcb\xff\xf0\x00\x00\x00\x00\x00\x00");
  BOTH("\"a\\u0000\"", "\xa2\x61\x00");
  BOTH("{\"$str\":\"/w==\"}", "\xa1\xff");
  BOTH("{\"$bytes\":\"\"}", "\xc4\x00");
  BOTH("{\"$ext\":[-2,\"\"]}", "\xc7\x00\xfe");
  TO_JSON("\xca\x3f\xc0\x00\x00", "1.5");
}

/* Placeholders and real zeros side by side, in every kind of place. */
static void big_integers(void **state) {
  (void)state;
  BOTH("18446744073709551615", U64MAX);
  BOTH("[0,18446744073709551615,0,9223372036854775808,0]",
       "\x95\x00" U64MAX "\x00" I64MAX1 "\x00");
  BOTH("{\"0\":0,\"a\":18446744073709551615,\"b\":\"0\"}", "\x83\xa1"
                                                           "0"
                                                           "\x00\xa1"
                                                           "a" U64MAX "\xa1"
                                                           "b\xa1"
                                                           "0");
  BOTH("{\"$map\":[[18446744073709551615,0],[0,9223372036854775808]]}",
       "\x82" U64MAX "\x00\x00" I64MAX1);
  BOTH("[{\"$ext\":[0,\"AA==\"]},18446744073709551615]",
       "\x92\xd4\x00\x00" U64MAX);
  BOTH("{\"$set\":[0,{\"$set\":[18446744073709551615]},0]}",
       "\xd8\x53\x93\x00\xc7\x0a\x53\x91" U64MAX "\x00");
  BOTH("[\"18446744073709551615\",18446744073709551614]",
       "\x92\xb4"
       "18446744073709551615"
       "\xcf\xff\xff\xff\xff\xff\xff\xff\xfe");
}

static void maps(void **state) {
  (void)state;
  BOTH("{\"b\":1,\"a\":2}", "\x82\xa1"
                            "b\x01\xa1"
                            "a\x02");
  BOTH("{\"$map\":[[\"$x\",1]]}", "\x81\xa2$x\x01");
  BOTH("{\"$map\":[[\"a\",1],[\"a\",2]]}", "\x82\xa1"
                                           "a\x01\xa1"
                                           "a\x02");
  BOTH("{\"$map\":[[\"a\\u0000\",1]]}", "\x81\xa2"
                                        "a\x00\x01");
  BOTH("{\"$map\":[[{\"$str\":\"/w==\"},1]]}", "\x81\xa1\xff\x01");
  BOTH("{\"$x\":1,\"$y\":2}", "\x82\xa2$x\x01\xa2$y\x02");
  BOTH("{}", "\x80");
}

static void errors(void **state) {
  (void)state;
  refused("[1,", 3, "']' expected near end of file");
  refused("{\"$nope\":1}", 0, "unknown form \"$nope\"");
  refused("{\"$bytes\":\"a\"}", 0, "$bytes: invalid base64");
  /* An error at a big integer speaks of the text as written. */
  refused("{18446744073709551615:1}", 21,
          "too big integer near '18446744073709551615'");
  /* Elsewhere the spaces that stand in for the digits do not show. */
  refused("[18446744073709551615,]", 23, "unexpected token near ']'");
  refused("[18446744073709551616]", 21,
          "too big integer near '18446744073709551616'");
  refused("[-9223372036854775809]", 21,
          "too big negative integer near '-9223372036854775809'");
  refused("[09223372036854775808]", 2, "invalid token near '0'");
  refused("{\"$ext\":[9223372036854775808,\"\"]}", 0,
          "$ext: type must be an integer from -128 to 127");
}

/* Which tokens count as integers: only numbers outside strings without a
 * fraction or an exponent, whatever escapes the strings hold. */
static void integer_tokens(void **state) {
  (void)state;
  BOTH("[9223372036854775807,9223372036854775808]",
       "\x92\xcf\x7f\xff\xff\xff\xff\xff\xff\xff" I64MAX1);
  BOTH("[\"\\\"\",18446744073709551615]", "\x92\xa1\"" U64MAX);
  BOTH("[\"\\\\\",18446744073709551615,\"8\\\\\\\"9\"]",
       "\x93\xa1\\" U64MAX "\xa4"
       "8\\\"9");
  BOTH("[1.8446744073709552e19,18446744073709551615]",
       "\x92\xcb\x43\xf0\x00\x00\x00\x00\x00\x00" U64MAX);
  BOTH("[true,false,null,18446744073709551615]", "\x94\xc3\xc2\xc0" U64MAX);
  /* Other spellings of the same numbers. */
  both_ways_to("[1E+19,10000000000000000000]",
               "\x92\xcb\x43\xe1\x58\xe4\x60\x91\x3d\x00"
               "\xcf\x8a\xc7\x23\x04\x89\xe8\x00\x00",
               19, "[1e19,10000000000000000000]");
  both_ways_to(" [ 18446744073709551615 ,\t9223372036854775808 ] ",
               "\x92" U64MAX I64MAX1, 19,
               "[18446744073709551615,9223372036854775808]");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scalars),        cmocka_unit_test(big_integers),
      cmocka_unit_test(maps),           cmocka_unit_test(errors),
      cmocka_unit_test(integer_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
