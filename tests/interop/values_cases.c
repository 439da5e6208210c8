/* SPDX-License-Identifier: MIT */
/*
 * The values of the value interop tests, built with the library's format
 * strings and mpconn_pack_set() where they can express the value, and with
 * msgpack-c's own msgpack_pack_*() for long or generated ones.
 *
 * Maps list their pairs in the order of the Python dicts in
 * values_cases.py, so that the bytes match msgpack.packb()'s.
 */
#include "values-cases.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop-pattern.h"

/* 0, or MPCONN_ENOMEM for a failed msgpack_pack_*() (its writer failed). */
#define PACKED(call) ((call) == 0 ? 0 : MPCONN_ENOMEM)

static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Scalars                                                                  */
/* ------------------------------------------------------------------------ */

static int build_nil(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "n");
}

static int build_bool(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "b", (int)vc->i);
}

static int build_uint(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "U", vc->u);
}

static int build_int(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "I", vc->i);
}

static int build_float(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "f", vc->f);
}

static int build_str(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "s#", vc->s, vc->n);
}

static int build_bin(msgpack_packer *pk, const struct value_case *vc) {
  return mpconn_packf(pk, NULL, "y#", vc->s, vc->n);
}

/* vc->n bytes of pattern vc->u (interop-pattern.h), packed as bin. */
static int bin_pattern(msgpack_packer *pk, const struct value_case *vc) {
  uint8_t *p = malloc(vc->n);
  if (!p)
    return MPCONN_ENOMEM;
  pattern_fill(p, vc->n, (size_t)vc->u, PY_TAG);
  int rc = mpconn_packf(pk, NULL, "y#", p, vc->n);
  free(p);
  return rc;
}

/* vc->s repeated to vc->n bytes, a multiple of its length, as one str. */
static int str_repeat(msgpack_packer *pk, const struct value_case *vc) {
  size_t period = strlen(vc->s);
  int rc = PACKED(msgpack_pack_str(pk, vc->n));
  for (size_t done = 0; !rc && done < vc->n; done += period)
    rc = PACKED(msgpack_pack_str_body(pk, vc->s, period));
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Arrays and maps                                                          */
/* ------------------------------------------------------------------------ */

static int array_empty(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "[]");
}

static int array_mixed(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "[i, s, f, n]", 1, "two", 3.0);
}

static int array_nested_5(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "[i [i [i [i [i]]]]]", 1, 2, 3, 4, 5);
}

static int array_tuple(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "[i, s, [f, n]]", 1, "two", 3.0);
}

static int array_16(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  int rc = PACKED(msgpack_pack_array(pk, 16));
  for (int i = 0; !rc && i < 16; i++)
    rc = PACKED(msgpack_pack_int(pk, i));
  return rc;
}

static int array_10000_ints(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  int rc = PACKED(msgpack_pack_array(pk, 10000));
  for (int i = 0; !rc && i < 10000; i++)
    rc = PACKED(msgpack_pack_int(pk, (i * 37) % 1000 - 500));
  return rc;
}

static int array_depth_32(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  int rc = 0;
  for (int i = 0; !rc && i < 31; i++)
    rc = PACKED(msgpack_pack_array(pk, 1));
  return rc ? rc : PACKED(msgpack_pack_array(pk, 0));
}

static int map_empty(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "{}");
}

#define NAME_SPAM_FMT "{s:s, s:i}"
#define NAME_SPAM_ARGS "name", "bob", "spam", 42

static int map_name_spam(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, NAME_SPAM_FMT, NAME_SPAM_ARGS);
}

static int map_keys(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "{i:s, i:s, f:s, y#:s, n:s, b:s, U:s, s:s}", 7,
                      "a", -2, "b", 3.5, "c", "k", (size_t)1, "d", "e", 1, "f",
                      UINT64_MAX, "g", "", "h");
}

static int map_nested(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL,
                      "{s:[i, {s:[i, i, {s:n}]}], s:{s:{s:[]}}, s:[[], {}]}",
                      "a", 1, "b", 2, 3, "c", "d", "e", "f", "g");
}

static int map_16(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  int rc = PACKED(msgpack_pack_map(pk, 16));
  for (int i = 0; !rc && i < 16; i++) {
    char key[8];
    snprintf(key, sizeof(key), "k%02d", i);
    rc = PACKED(msgpack_pack_str_with_body(pk, key, strlen(key)) ||
                msgpack_pack_int(pk, i));
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Sets                                                                     */
/* ------------------------------------------------------------------------ */

static int set_str(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<s s s s>", "aa", "mm", "pp", "ss");
}

static msgpack_object pos(uint64_t u) {
  msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
  o.via.u64 = u;
  return o;
}

static msgpack_object neg(int64_t i) {
  msgpack_object o = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER};
  o.via.i64 = i;
  return o;
}

static int set_int(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  msgpack_object m[] = {pos(1),          neg(-1),        pos(300),
                        pos(1ull << 40), neg(INT64_MIN), pos(UINT64_MAX)};
  return mpconn_pack_set(pk, m, sizeof(m) / sizeof(m[0]));
}

static int set_one(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<i>", 1);
}

static int set_empty(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_pack_set(pk, NULL, 0);
}

static int set_mixed(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<n, b, f, y#, s, i>", 1, 1.5, "k", (size_t)1,
                      "s", -7);
}

static int set_tuple(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<[i, s], s>", 1, "two", "x");
}

static int frozenset(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<s, i>", "a", 1);
}

static int set_in_list(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "[<i, i>, i]", 1, 2, 3);
}

static int set_in_dict(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "{s: <i, i, i>}", "ids", 1, 2, 3);
}

static int set_in_set(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<<i, i>, <>, s>", 1, 2, "x");
}

static int set_empty_in_set(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, "<<>, i>", 1);
}

static int set_1000_ints(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  msgpack_object m[1000];
  /* Another order than Python's, which the receiver must not mind. */
  for (int i = 0; i < 1000; i++)
    m[i] = 499 - i >= 0 ? pos((uint64_t)(499 - i)) : neg(499 - i);
  return mpconn_pack_set(pk, m, 1000);
}

/* 31 arrays, each holding the next, the innermost holding an empty set. */
static int set_at_depth_32(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  int rc = 0;
  for (int i = 0; !rc && i < 31; i++)
    rc = PACKED(msgpack_pack_array(pk, 1));
  return rc ? rc : mpconn_pack_set(pk, NULL, 0);
}

/* 32 sets, each holding the next; the innermost is empty. */
static int set_depth_32(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  char fmt[2 * 32 + 1];
  memset(fmt, '<', 32);
  memset(fmt + 32, '>', 32);
  fmt[64] = '\0';
  return mpconn_packf(pk, NULL, fmt);
}

/* ------------------------------------------------------------------------ */
/* Ext                                                                      */
/* ------------------------------------------------------------------------ */

/* Ext type vc->i holding vc->n bytes at vc->s. */
static int build_ext(msgpack_packer *pk, const struct value_case *vc) {
  int rc = PACKED(msgpack_pack_ext(pk, vc->n, (int8_t)vc->i));
  if (!rc && vc->n)
    rc = PACKED(msgpack_pack_ext_body(pk, vc->s, vc->n));
  return rc;
}

static int ext_100_300(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  uint8_t p[300];
  pattern_fill(p, sizeof(p), 2, PY_TAG);
  return PACKED(msgpack_pack_ext(pk, sizeof(p), 100) ||
                msgpack_pack_ext_body(pk, p, sizeof(p)));
}

static int ext_in_array(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return PACKED(msgpack_pack_array(pk, 2) || msgpack_pack_ext(pk, 3, 5) ||
                msgpack_pack_ext_body(pk, "xyz", 3) || msgpack_pack_int(pk, 1));
}

/* ------------------------------------------------------------------------ */
/* Records: sent with mpconn_sendf(), taken apart with mpconn_unpackf()     */
/* ------------------------------------------------------------------------ */

#define LIST_FMT "[s, i, s]"
#define LIST_ARGS "spam", 42, "eggs"

static int record_list(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, LIST_FMT, LIST_ARGS);
}

static int send_record_list(mpconn *c) {
  return mpconn_sendf(c, LIST_FMT, LIST_ARGS);
}

static int parse_record_list(mpconn_msg *m) {
  const msgpack_object *v = mpconn_msg_value(m);
  char a[8], b[8];
  int n = 0;
  mpconn_error err;
  int rc = mpconn_unpackf(v, &err, LIST_FMT, a, sizeof(a), &n, b, sizeof(b));
  if (rc != 0)
    return fail("mpconn_unpackf(\"%s\"): %s", LIST_FMT, err.text);
  if (strcmp(a, "spam") != 0 || n != 42 || strcmp(b, "eggs") != 0)
    return fail("mpconn_unpackf gave [\"%s\", %d, \"%s\"]", a, n, b);
  /* The same value does not match another shape. */
  rc = mpconn_unpackf(v, &err, "[s, s, s]", a, sizeof(a), b, sizeof(b), a,
                      sizeof(a));
  if (rc != MPCONN_EUNPACK || err.position != 4 || strcmp(err.path, "$[1]"))
    return fail("mpconn_unpackf(\"[s, s, s]\") returned %d, position %zu, "
                "path %s",
                rc, err.position, err.path);
  return 0;
}

static int record_map(msgpack_packer *pk, const struct value_case *vc) {
  return map_name_spam(pk, vc);
}

static int send_record_map(mpconn *c) {
  return mpconn_sendf(c, NAME_SPAM_FMT, NAME_SPAM_ARGS);
}

static int parse_record_map(mpconn_msg *m) {
  const msgpack_object *v = mpconn_msg_value(m);
  char name[8];
  int spam = 0;
  mpconn_error err;
  int rc = mpconn_unpackf(v, &err, NAME_SPAM_FMT, "name", name, sizeof(name),
                          "spam", &spam);
  if (rc != 0)
    return fail("mpconn_unpackf(\"%s\"): %s", NAME_SPAM_FMT, err.text);
  if (strcmp(name, "bob") != 0 || spam != 42)
    return fail("mpconn_unpackf gave name \"%s\", spam %d", name, spam);
  rc = mpconn_unpackf(v, &err, "{s:s}", "name", name, sizeof(name));
  if (rc != MPCONN_EUNPACK || strcmp(err.path, "$.spam") != 0)
    return fail("mpconn_unpackf(\"{s:s}\") returned %d, path %s", rc, err.path);
  return 0;
}

#define MIXED_FMT "{s:s, s:[s, s], s:<i, i, i>, s:f, s:y#, s:n, s:b, s:U, s:I}"
#define MIXED_ARGS                                                             \
  "name", "bob", "tags", "a", "b", "ids", 1, 2, 3, "score", 1.5, "raw",        \
      "\x00\x01", (size_t)2, "none", "ok", 1, "big", UINT64_MAX, "neg",        \
      INT64_MIN

static int record_mixed(msgpack_packer *pk, const struct value_case *vc) {
  (void)vc;
  return mpconn_packf(pk, NULL, MIXED_FMT, MIXED_ARGS);
}

static int send_record_mixed(mpconn *c) {
  return mpconn_sendf(c, MIXED_FMT, MIXED_ARGS);
}

static int parse_record_mixed(mpconn_msg *m) {
  char name[8];
  const char *tag0, *tag1, *raw;
  size_t tag0_len, tag1_len, raw_len;
  msgpack_object ids;
  double score = 0;
  bool ok = false;
  uint64_t big = 0;
  int64_t small = 0;
  mpconn_error err;
  /* Keys in another order than sent: maps match by key. */
  int rc =
      mpconn_unpackf(mpconn_msg_value(m), &err,
                     "{s:I, s:U, s:b, s:n, s:y#, s:f, s:O, s:[s#, s#], s:s}",
                     "neg", &small, "big", &big, "ok", &ok, "none", "raw", &raw,
                     &raw_len, "score", &score, "ids", &ids, "tags", &tag0,
                     &tag0_len, &tag1, &tag1_len, "name", name, sizeof(name));
  if (rc != 0)
    return fail("mpconn_unpackf: %s", err.text);
  if (small != INT64_MIN || big != UINT64_MAX || !ok || raw_len != 2 ||
      memcmp(raw, "\x00\x01", 2) != 0 || score != 1.5 || tag0_len != 1 ||
      tag0[0] != 'a' || tag1_len != 1 || tag1[0] != 'b' ||
      strcmp(name, "bob") != 0)
    return fail("mpconn_unpackf gave other values than sent");
  msgpack_object_array members;
  rc = mpconn_msg_set_members(m, &ids, &members);
  if (rc != 0)
    return fail("mpconn_msg_set_members: %s", mpconn_err_name(rc));
  unsigned seen = 0;
  for (uint32_t i = 0; i < members.size; i++) {
    const msgpack_object *o = &members.ptr[i];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 >= 1 &&
        o->via.u64 <= 3)
      seen |= 1u << o->via.u64;
  }
  if (members.size != 3 || seen != 0xe)
    return fail("the set under \"ids\" is not {1, 2, 3}");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

#define NIL(name)                                                              \
  { name, build_nil, .i = 0 }
#define BOOL(name, v)                                                          \
  { name, build_bool, .i = (v) }
#define UINT(name, v)                                                          \
  { name, build_uint, .u = (v) }
#define SINT(name, v)                                                          \
  { name, build_int, .i = (v) }
#define FLOAT(name, v)                                                         \
  { name, build_float, .f = (v) }
/* A string literal, NUL bytes included. */
#define STR(name, v)                                                           \
  { name, build_str, .s = (v), .n = sizeof(v) - 1 }
#define BIN(name, v)                                                           \
  { name, build_bin, .s = (v), .n = sizeof(v) - 1 }
#define EXT(name, type, v)                                                     \
  { name, build_ext, .i = (type), .s = (v), .n = sizeof(v) - 1 }
#define CASE(name, fn)                                                         \
  { name, fn, .i = 0 }
#define RECORD(name, fn)                                                       \
  { name, fn, send_##fn, parse_##fn, .i = 0 }

/* 10 characters of 1, 2 and 3 bytes in UTF-8: "abcdé日本語✓!". */
#define STR_PERIOD "abcd\u00e9\u65e5\u672c\u8a9e\u2713!"

const struct value_case value_cases[] = {
    /* nil-bool */
    NIL("nil"),
    BOOL("true", 1),
    BOOL("false", 0),
    /* ints */
    UINT("int-0", 0),
    UINT("int-1", 1),
    SINT("int-m1", -1),
    UINT("int-127", 127),
    UINT("int-128", 128),
    UINT("int-255", 255),
    UINT("int-256", 256),
    SINT("int-m32", -32),
    SINT("int-m33", -33),
    SINT("int-m128", -128),
    SINT("int-m129", -129),
    UINT("int-65535", 65535),
    UINT("int-65536", 65536),
    SINT("int-m32768", -32768),
    SINT("int-m32769", -32769),
    UINT("int-2p32m1", UINT32_MAX),
    UINT("int-2p32", 1ull << 32),
    SINT("int-m2p31", INT32_MIN),
    SINT("int-m2p31m1", (int64_t)INT32_MIN - 1),
    SINT("int-m2p63", INT64_MIN),
    UINT("int-2p63m1", INT64_MAX),
    UINT("int-2p63", 1ull << 63),
    UINT("int-2p64m1", UINT64_MAX),
    /* floats */
    FLOAT("float-0", 0.0),
    FLOAT("float-m0", -0.0),
    FLOAT("float-1.5", 1.5),
    FLOAT("float-1e300", 1e300),
    FLOAT("float-m1e-300", -1e-300),
    FLOAT("float-inf", INFINITY),
    FLOAT("float-minf", -INFINITY),
    FLOAT("float-nan", NAN),
    FLOAT("float-1", 1.0),
    FLOAT("float-min-subnormal", 5e-324),
    FLOAT("float-max", 1.7976931348623157e308),
    /* str */
    STR("str-empty", ""),
    STR("str-a", "a"),
    STR("str-spam", "spam"),
    STR("str-nul", "a\0b"),
    STR("str-es", "Mi c\u00f3digo es MX-317"),
    STR("str-ja", "\u65e5\u672c\u8a9e"),
    STR("str-emoji", "snake \U0001F40D!"),
    STR("str-31", "abcdefghijklmnopqrstuvwxyzABCDE"),
    STR("str-32", "abcdefghijklmnopqrstuvwxyzABCDEF"),
    {"str-300", str_repeat, .s = "0123456789", .n = 300},
    {"str-70000", str_repeat, .s = STR_PERIOD,
     .n = 7000 * (sizeof(STR_PERIOD) - 1)},
    /* bytes */
    BIN("bytes-empty", ""),
    BIN("bytes-00ff", "\x00\xff"),
    {"bytes-300", bin_pattern, .u = 1, .n = 300},
    {"bytes-1mib-plus-1", bin_pattern, .u = 0, .n = 1048577},
    /* arrays */
    CASE("array-empty", array_empty),
    CASE("array-mixed", array_mixed),
    CASE("array-nested-5", array_nested_5),
    CASE("array-tuple", array_tuple),
    CASE("array-16", array_16),
    CASE("array-10000-ints", array_10000_ints),
    CASE("array-depth-32", array_depth_32),
    /* maps */
    CASE("map-empty", map_empty),
    CASE("map-name-spam", map_name_spam),
    CASE("map-keys", map_keys),
    CASE("map-nested", map_nested),
    CASE("map-16", map_16),
    /* sets */
    CASE("set-str", set_str),
    CASE("set-int", set_int),
    CASE("set-one", set_one),
    CASE("set-empty", set_empty),
    CASE("set-mixed", set_mixed),
    CASE("set-tuple", set_tuple),
    CASE("frozenset", frozenset),
    CASE("set-in-list", set_in_list),
    CASE("set-in-dict", set_in_dict),
    CASE("set-in-set", set_in_set),
    CASE("set-empty-in-set", set_empty_in_set),
    CASE("set-1000-ints", set_1000_ints),
    CASE("set-at-depth-32", set_at_depth_32),
    CASE("set-depth-32", set_depth_32),
    /* ext */
    EXT("ext-5-xyz", 5, "xyz"),
    EXT("ext-0-fixext16", 0,
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
    EXT("ext-127-empty", 127, ""),
    CASE("ext-100-300", ext_100_300),
    CASE("ext-in-array", ext_in_array),
    /* records */
    RECORD("record-list", record_list),
    RECORD("record-map", record_map),
    RECORD("record-mixed", record_mixed),
};

const size_t value_cases_count = sizeof(value_cases) / sizeof(value_cases[0]);

const struct value_case *value_case_find(const char *name) {
  for (size_t i = 0; i < value_cases_count; i++)
    if (strcmp(value_cases[i].name, name) == 0)
      return &value_cases[i];
  return NULL;
}
