/* SPDX-License-Identifier: MIT */
/* Unpacking with format strings (lib/unpackf.c). */
#include "test-util.h"

#include <limits.h>
#include <stdio.h>

#include "mpconn-private.h"

/* Decode the bytes now in the packer's buffer, as a receiver would. */
static const msgpack_object *decode(struct pack_fixture *f) {
  assert_int_equal(mpconn__validate((const uint8_t *)f->sb.data, f->sb.size),
                   0);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&f->u, f->sb.data, f->sb.size, &off),
                   MSGPACK_UNPACK_SUCCESS);
  return &f->u.data;
}

/* A value from hand-written msgpack. */
static const msgpack_object *hex(struct pack_fixture *f, const char *s) {
  uint8_t buf[4096];
  size_t n = unhex(s, buf, sizeof(buf));
  msgpack_sbuffer_clear(&f->sb);
  msgpack_sbuffer_write(&f->sb, (const char *)buf, n);
  return decode(f);
}

/* A value built with packf. */
static const msgpack_object *build(struct pack_fixture *f, const char *fmt,
                                   ...) {
  msgpack_sbuffer_clear(&f->sb);
  va_list ap;
  va_start(ap, fmt);
  assert_int_equal(mpconn_vpackf(&f->pk, NULL, fmt, ap), 0);
  va_end(ap);
  return decode(f);
}

/* The error struct holds exactly this. */
static void expect_err(struct pack_fixture *f, int rc, int code,
                       size_t position, const char *path, const char *text) {
  if (rc != code)
    fail_msg("got %s (%s), want %s", mpconn_err_name(rc), f->err.text,
             mpconn_err_name(code));
  assert_int_equal(f->err.code, code);
  assert_int_equal(f->err.position, position);
  assert_string_equal(f->err.path, path);
  if (text)
    assert_string_equal(f->err.text, text);
}

static void test_scalars(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v =
      build(f, "[n, b, b, i, i, i, I, I, U, U, f]", 1, 0, 42, INT_MAX, INT_MIN,
            INT64_MIN, INT64_MAX, UINT64_MAX, (uint64_t)0, 1.5);
  bool t = false, fa = true;
  int i1 = 0, i2 = 0, i3 = 0;
  int64_t l1 = 0, l2 = 0;
  uint64_t u1 = 0, u2 = 1;
  double d = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err,
                                  "[n, b, b, i, i, i, I, I, U, U, f]", &t, &fa,
                                  &i1, &i2, &i3, &l1, &l2, &u1, &u2, &d),
                   0);
  assert_true(t);
  assert_false(fa);
  assert_int_equal(i1, 42);
  assert_int_equal(i2, INT_MAX);
  assert_int_equal(i3, INT_MIN);
  assert_true(l1 == INT64_MIN);
  assert_true(l2 == INT64_MAX);
  assert_true(u1 == UINT64_MAX);
  assert_true(u2 == 0);
  assert_true(d == 1.5);
  /* 'I' takes small positive ints, 'i' negative fixints. */
  v = hex(f, "92 05 ff");
  assert_int_equal(mpconn_unpackf(v, NULL, "[I i]", &l1, &i1), 0);
  assert_true(l1 == 5);
  assert_int_equal(i1, -1);
}

static void test_float32(void **state) {
  struct pack_fixture *f = *state;
  double d = 0;
  assert_int_equal(mpconn_unpackf(hex(f, "ca 3f c0 00 00"), NULL, "f", &d), 0);
  assert_true(d == 1.5);
}

static void test_strings(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "[s, s#, y#, s]", "spam", "a\0b",
                                  (size_t)3, "\x01\x02", (size_t)2, "");
  char buf[5], empty[1] = {'x'};
  const char *p = NULL, *bp = NULL;
  size_t n = 0, bn = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "[s, s#, y#, s]", buf,
                                  sizeof(buf), &p, &n, &bp, &bn, empty,
                                  sizeof(empty)),
                   0);
  assert_string_equal(buf, "spam");
  /* s# and y# point into the value itself. */
  assert_ptr_equal(p, v->via.array.ptr[1].via.str.ptr);
  assert_int_equal(n, 3);
  assert_memory_equal(p, "a\0b", 3);
  assert_ptr_equal(bp, v->via.array.ptr[2].via.bin.ptr);
  assert_int_equal(bn, 2);
  assert_string_equal(empty, "");
}

static void test_object(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "[i, {s:n}]", 1, "k");
  msgpack_object o = {.type = MSGPACK_OBJECT_NIL};
  int i = 0;
  assert_int_equal(mpconn_unpackf(v, NULL, "[i, O]", &i, &o), 0);
  assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
  assert_ptr_equal(o.via.map.ptr, v->via.array.ptr[1].via.map.ptr);
  assert_int_equal(mpconn_unpackf(v, NULL, "O", &o), 0);
  assert_true(msgpack_object_equal(o, *v));
}

static void test_map_any_order(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v =
      build(f, "{s:s, s:i, s:[i, i]}", "name", "bob", "spam", 42, "list", 1, 2);
  int spam = 0, a = 0, b = 0;
  char name[8];
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:[i i], s:i, s:s}", "list", &a,
                                  &b, "spam", &spam, "name", name,
                                  sizeof(name)),
                   0);
  assert_int_equal(spam, 42);
  assert_int_equal(a, 1);
  assert_int_equal(b, 2);
  assert_string_equal(name, "bob");
}

static void test_optional_keys(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "{s:i, s:s}", "a", 1, "c", "x");
  int a = 0, b = -7, d = -8;
  const char *c = NULL;
  size_t cn = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:i, s?:i, s?:s#, s?:i}", "a",
                                  &a, "b", &b, "c", &c, &cn, "d", &d),
                   0);
  assert_int_equal(a, 1);
  assert_int_equal(b, -7); /* absent: untouched */
  assert_int_equal(d, -8);
  assert_int_equal(cn, 1);
  assert_memory_equal(c, "x", 1);

  /* An absent optional container still consumes its arguments. */
  int x = -1, y = -1, z = 0;
  const char *s = NULL;
  size_t sn = 99;
  assert_int_equal(
      mpconn_unpackf(v, &f->err, "{s?:{s:[i, s#], s:<i>}, s:i, s:s#}", "zz",
                     "p", &x, &s, &sn, "q", &y, "a", &z, "c", &c, &cn),
      0);
  assert_int_equal(x, -1);
  assert_int_equal(y, -1);
  assert_null(s);
  assert_int_equal(sn, 99);
  assert_int_equal(z, 1);
}

static void test_star(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "[i, i, i]", 1, 2, 3);
  int a = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "[i *]", &a), 0);
  assert_int_equal(a, 1);
  assert_int_equal(mpconn_unpackf(v, &f->err, "[*]"), 0);
  assert_int_equal(mpconn_unpackf(v, &f->err, "[i, i, i, *]", &a, &a, &a), 0);
  assert_int_equal(a, 3);

  v = build(f, "{s:i, s:i}", "a", 1, "b", 2);
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:i, *}", "b", &a), 0);
  assert_int_equal(a, 2);
  assert_int_equal(mpconn_unpackf(v, &f->err, "{*}"), 0);

  v = build(f, "<i, i>", 5, 6);
  assert_int_equal(mpconn_unpackf(v, &f->err, "<i *>", &a), 0);
  assert_int_equal(a, 5);
}

static void test_strict_without_star(void **state) {
  struct pack_fixture *f = *state;
  int a = 0, b = 0;
  const msgpack_object *v = build(f, "[i, i]", 1, 2);
  expect_err(f, mpconn_unpackf(v, &f->err, "[i]", &a), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected array of 1 at $, got array of 2");
  expect_err(f, mpconn_unpackf(v, &f->err, "[i i i]", &a, &b, &b),
             MPCONN_EUNPACK, 0, "$",
             "format position 0: expected array of 3 at $, got array of 2");
  expect_err(f, mpconn_unpackf(v, &f->err, "[i i i *]", &a, &b, &b),
             MPCONN_EUNPACK, 0, "$",
             "format position 0: expected array of at least 3 at $, got "
             "array of 2");

  v = build(f, "{s:i, s:i}", "a", 1, "b", 2);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:i}", "a", &a), MPCONN_EUNPACK, 4,
             "$.b", "format position 4: unexpected key at $.b");
  /* A key given twice in the value: the second is not matched. */
  v = hex(f, "82 a1 61 01 a1 61 02");
  expect_err(f, mpconn_unpackf(v, &f->err, " { s : i } ", "a", &a),
             MPCONN_EUNPACK, 9, "$.a", NULL);
  assert_int_equal(a, 1);
  /* Keys that are not strings are never matched. */
  v = hex(f, "82 a1 61 01 05 02");
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:i}", "a", &a), MPCONN_EUNPACK, 4,
             "$[5]", NULL);

  v = build(f, "<i, i>", 1, 2);
  expect_err(f, mpconn_unpackf(v, &f->err, "[n <i>]"), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected array at $, got set");
  expect_err(f, mpconn_unpackf(v, &f->err, "<i>", &a), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected set of 1 at $, got set of 2");
}

/* Maps longer than the inline record of matched entries. */
static void test_large_map(void **state) {
  struct pack_fixture *f = *state;
  msgpack_sbuffer_clear(&f->sb);
  msgpack_pack_map(&f->pk, 600);
  for (int i = 0; i < 600; i++) {
    char key[8];
    int n = snprintf(key, sizeof(key), "k%d", i);
    msgpack_pack_str_with_body(&f->pk, key, (size_t)n);
    msgpack_pack_int(&f->pk, i);
  }
  const msgpack_object *v = decode(f);
  int a = 0, b = 0;
  assert_int_equal(
      mpconn_unpackf(v, &f->err, "{s:i s:i *}", "k599", &a, "k7", &b), 0);
  assert_int_equal(a, 599);
  assert_int_equal(b, 7);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:i}", "k0", &a), MPCONN_EUNPACK,
             4, "$.k1", NULL);
}

static void test_mismatches(void **state) {
  struct pack_fixture *f = *state;
  int i = 0;
  int64_t l = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  char buf[4];
  const char *p;
  size_t n;
  const msgpack_object *v = build(f, "[i, s]", 1, "x");
  expect_err(f, mpconn_unpackf(v, &f->err, "[i, i]", &i, &i), MPCONN_EUNPACK, 4,
             "$[1]", "format position 4: expected int at $[1], got str");

  v = build(f, "U", (uint64_t)INT_MAX + 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "i", &i), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int at $, got 2147483648 (out of "
             "range)");
  v = build(f, "I", (int64_t)INT_MIN - 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "i", &i), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int at $, got -2147483649 (out of "
             "range)");
  v = build(f, "U", (uint64_t)INT64_MAX + 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "I", &l), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int64 at $, got "
             "9223372036854775808 (out of range)");
  v = build(f, "i", -1);
  expect_err(f, mpconn_unpackf(v, &f->err, "U", &u), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected uint64 at $, got -1 (out of range)");
  v = build(f, "i", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "f", &d), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected float at $, got int");
  expect_err(f, mpconn_unpackf(v, &f->err, "b", &b), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected bool at $, got int");
  v = build(f, "b", 0);
  expect_err(f, mpconn_unpackf(v, &f->err, "n"), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected nil at $, got bool");
  expect_err(f, mpconn_unpackf(v, &f->err, "i", &i), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int at $, got bool");
  v = build(f, "n");
  expect_err(f, mpconn_unpackf(v, &f->err, "U", &u), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected uint64 at $, got nil");
  expect_err(f, mpconn_unpackf(v, &f->err, "I", &l), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int64 at $, got nil");
  expect_err(f, mpconn_unpackf(v, &f->err, "{}"), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected map at $, got nil");
  v = build(f, "y#", "ab", (size_t)2);
  expect_err(f, mpconn_unpackf(v, &f->err, "s#", &p, &n), MPCONN_EUNPACK, 0,
             "$", "format position 0: expected str at $, got bin");
  expect_err(f, mpconn_unpackf(v, &f->err, "s", buf, sizeof(buf)),
             MPCONN_EUNPACK, 0, "$",
             "format position 0: expected str at $, got bin");
  v = build(f, "s", "ab");
  expect_err(f, mpconn_unpackf(v, &f->err, "y#", &p, &n), MPCONN_EUNPACK, 0,
             "$", "format position 0: expected bin at $, got str");
  v = build(f, "f", 1.0);
  expect_err(f, mpconn_unpackf(v, &f->err, "i", &i), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected int at $, got float");
  v = hex(f, "d4 05 00");
  expect_err(f, mpconn_unpackf(v, &f->err, "<>"), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected set at $, got ext");
}

static void test_string_buffer(void **state) {
  struct pack_fixture *f = *state;
  char buf[4] = "zzz";
  const msgpack_object *v = build(f, "s", "spam");
  expect_err(f, mpconn_unpackf(v, &f->err, "s", buf, sizeof(buf)),
             MPCONN_EUNPACK, 0, "$",
             "format position 0: str at $ needs 5 bytes with its NUL, the "
             "buffer has 4");
  assert_string_equal(buf, "zzz");
  v = build(f, "[s#]", "a\0b", (size_t)3);
  char big[8] = "zzz";
  expect_err(f, mpconn_unpackf(v, &f->err, "[s]", big, sizeof(big)),
             MPCONN_EUNPACK, 1, "$[0]",
             "format position 1: str at $[0] holds a NUL byte; use s#");
  assert_string_equal(big, "zzz");
}

static void test_paths(void **state) {
  struct pack_fixture *f = *state;
  int i;
  const msgpack_object *v = build(f, "{s:[s]}", "list", "x");
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:[i]}", "list", &i),
             MPCONN_EUNPACK, 4, "$.list[0]",
             "format position 4: expected int at $.list[0], got str");
  v = build(f, "{s:{s:i}}", "a b", "q\"\\", 1);
  expect_err(
      f, mpconn_unpackf(v, &f->err, "{s:{s:s#}}", "a b", "q\"\\", NULL, NULL),
      MPCONN_EINVAL, 6, "$[\"a b\"][\"q\\\"\\\\\"]", NULL);
  v = build(f, "{s:{s:i}}", "a b", "q\"\\", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:{s:n}}", "a b", "q\"\\"),
             MPCONN_EUNPACK, 6, "$[\"a b\"][\"q\\\"\\\\\"]",
             "format position 6: expected nil at $[\"a b\"][\"q\\\"\\\\\"], "
             "got int");
  v = build(f, "{s:i}", "spam", 1);
  expect_err(
      f, mpconn_unpackf(v, &f->err, "{s:i, s:i}", "spam", &i, "eggs", &i),
      MPCONN_EUNPACK, 6, "$.eggs", "format position 6: missing key at $.eggs");
  v = build(f, "[n, <i, s>]", 1, "x");
  expect_err(f, mpconn_unpackf(v, &f->err, "[n, <i, i>]", &i, &i),
             MPCONN_EUNPACK, 8, "$[1]",
             "format position 8: every member of the set at $[1] that "
             "matches this item is needed by another item");
  expect_err(f, mpconn_unpackf(v, &f->err, "[n, <f, i>]", &i, &i),
             MPCONN_EUNPACK, 5, "$[1]",
             "format position 5: no member of the set at $[1] matches this "
             "item");
  /* Inside a set's member, the member's path (in payload order). */
  v = build(f, "<s, [i, s]>", "x", 1, "y");
  expect_err(f, mpconn_unpackf(v, &f->err, "<s, [i, i]>", NULL, (size_t)0),
             MPCONN_EINVAL, 1, "$<0>",
             "format position 1: a NULL pointer argument for $<0>");
  v = build(f, "{s:i}", "_x9", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:s#}", "_x9", NULL, NULL),
             MPCONN_EINVAL, 3, "$._x9", NULL);
  v = build(f, "{s:i}", "9x", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:n}", "9x"), MPCONN_EUNPACK, 3,
             "$[\"9x\"]", NULL);
}

static void test_nested(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "{s:[{s:i}, {s:<s, s>}], s:b}", "items",
                                  "id", 7, "tags", "a", "b", "ok", 1);
  int id = 0;
  bool ok = false;
  char t1[4], t2[4];
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:b, s:[{s:i}, {s:<s s>}]}",
                                  "ok", &ok, "items", "id", &id, "tags", t1,
                                  sizeof(t1), t2, sizeof(t2)),
                   0);
  assert_true(ok);
  assert_int_equal(id, 7);
  assert_string_equal(t1, "a");
  assert_string_equal(t2, "b");
}

static void test_sets(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "<s, <i>, [i]>", "aa", 5, 6);
  const char *p;
  size_t n;
  int a = 0, b = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "<s#, <i>, [i]>", &p, &n, &a, &b),
                   0);
  assert_int_equal(n, 2);
  assert_memory_equal(p, "aa", 2);
  /* s# inside a set points into the value's payload, not a zone. */
  assert_true(p > v->via.ext.ptr && p < v->via.ext.ptr + v->via.ext.size);
  assert_int_equal(a, 5);
  assert_int_equal(b, 6);
  assert_int_equal(mpconn_unpackf(hex(f, "d4 53 90"), &f->err, "<>"), 0);
}

static void test_bad_set_payload(void **state) {
  struct pack_fixture *f = *state;
  /* A hand-made object: received values never carry such a set. */
  msgpack_object v = {.type = MSGPACK_OBJECT_EXT};
  v.via.ext.type = MPCONN_EXT_SET;
  v.via.ext.ptr = "\xc0";
  v.via.ext.size = 1;
  expect_err(f, mpconn_unpackf(&v, &f->err, "<*>"), MPCONN_EBADSET, 0, "$",
             "format position 0: malformed set at $ (MPCONN_EBADSET)");
  char deep[MPCONN_MAX_DEPTH + 2];
  memset(deep, '\x91', sizeof(deep) - 1);
  deep[sizeof(deep) - 1] = '\x01';
  v.via.ext.ptr = deep;
  v.via.ext.size = sizeof(deep);
  expect_err(f, mpconn_unpackf(&v, &f->err, "<*>"), MPCONN_ETOODEEP, 0, "$",
             NULL);
  v.via.ext.ptr++;
  v.via.ext.size--;
  assert_int_equal(mpconn_unpackf(&v, &f->err, "<*>"), 0);
}

struct format_case {
  const char *fmt;
  size_t position;
};

static void test_bad_formats(void **state) {
  struct pack_fixture *f = *state;
  static const struct format_case cases[] = {
      {"[s?]", 2},      /* '?' not after a map key */
      {"{s:s?}", 4},    /* '?' after a value */
      {"?", 0},         /* '?' alone */
      {"{s??:i}", 3},   /* '?' twice */
      {"{i:i}", 1},     /* keys are 's' */
      {"{s#:i}", 2},    /* keys are plain 's' */
      {"{[]:i}", 1},    /* keys are 's' */
      {"[* i]", 1},     /* '*' not last */
      {"{*, s:i}", 1},  /* '*' not last */
      {"{s:*}", 3},     /* '*' as a value */
      {"*", 0},         /* '*' outside a container */
      {"[* *]", 1},     /* '*' twice */
      {"<O>", 1},       /* 'O' would outlive the set's zone */
      {"<[{s:O}]>", 5}, /* the same, deeper in the set */
      {"{s?}", 3},      /* key without value */
      {"[s, i", 5},     /* not closed */
      {"[y]", 1},       /* 'y' without '#' */
      {"i#", 1},        /* '#' after 'i' */
      {"[i] n", 4},     /* two values */
      {"", 0},          /* no value */
      {"[q]", 1},       /* unknown */
  };
  const msgpack_object *v = build(f, "[]");
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = mpconn_unpackf(v, &f->err, cases[i].fmt);
    if (rc != MPCONN_EFORMAT || f->err.position != cases[i].position)
      fail_msg("\"%s\": %s at %zu (%s)", cases[i].fmt, mpconn_err_name(rc),
               f->err.position, f->err.text);
    assert_int_equal(f->err.code, MPCONN_EFORMAT);
  }
  /* 'O' outside a set is fine, and so is '*' inside one. */
  msgpack_object o;
  assert_int_equal(mpconn_unpackf(v, &f->err, "O", &o), 0);
  assert_int_equal(mpconn_unpackf(hex(f, "d4 53 90"), &f->err, "<*>"), 0);
  expect_err(f, mpconn_unpackf(v, &f->err, "<O>", &o), MPCONN_EFORMAT, 1, "",
             "format position 1: 'O' inside a set: the object would outlive "
             "the set's members");
}

static void test_null_arguments(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "{s:[i]}", "a", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:[i]}", "a", (int *)NULL),
             MPCONN_EINVAL, 4, "$.a[0]",
             "format position 4: a NULL pointer argument for $.a[0]");
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:[i]}", (char *)NULL),
             MPCONN_EINVAL, 1, "$", NULL);
  assert_int_equal(mpconn_unpackf(NULL, &f->err, "n"), MPCONN_EINVAL);
  assert_int_equal(mpconn_unpackf(v, &f->err, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_unpackf(v, NULL, "{s:[i]}", "a", (int *)NULL),
                   MPCONN_EINVAL);
}

/* A stale error, as a failing call leaves one. */
static void make_stale(mpconn_error *err) {
  memset(err, 0x5a, sizeof(*err));
  err->code = MPCONN_EUNPACK;
  err->position = 12;
  snprintf(err->path, sizeof(err->path), "$.old");
  snprintf(err->text, sizeof(err->text), "format position 12: old");
}

static void expect_cleared(const mpconn_error *err) {
  assert_int_equal(err->code, 0);
  assert_int_equal(err->position, 0);
  assert_string_equal(err->path, "");
  assert_string_equal(err->text, "");
}

/* Every call given an error struct clears it when it succeeds. */
static void test_success_clears_err(void **state) {
  struct pack_fixture *f = *state;
  make_stale(&f->err);
  assert_int_equal(mpconn_unpackf(build(f, "n"), &f->err, "n"), 0);
  expect_cleared(&f->err);

  const msgpack_object *v = build(f, "[i]", 5);
  mpconn_iter it;
  int x = 0;
  make_stale(&f->err);
  assert_int_equal(mpconn_unpackf(v, &f->err, "[i ...]", &it), 0);
  expect_cleared(&f->err);
  make_stale(&f->err);
  assert_int_equal(mpconn_iter_next(&it, &f->err, &x), 1);
  expect_cleared(&f->err);
  assert_int_equal(x, 5);
  /* The end is no failure either. */
  make_stale(&f->err);
  assert_int_equal(mpconn_iter_next(&it, &f->err, &x), 0);
  expect_cleared(&f->err);
}

/* "[T ...]": any number of items, each taken with mpconn_iter_next(). */
static void test_each_array(void **state) {
  struct pack_fixture *f = *state;
  msgpack_sbuffer_clear(&f->sb);
  /* {"id": 3, "items": [[0, "n0"], [1, "n1"], ..., [9, "n9"]]}, except
   * item 7, which is [7, 70]. */
  msgpack_pack_map(&f->pk, 2);
  msgpack_pack_str_with_body(&f->pk, "id", 2);
  msgpack_pack_int(&f->pk, 3);
  msgpack_pack_str_with_body(&f->pk, "items", 5);
  msgpack_pack_array(&f->pk, 10);
  for (int k = 0; k < 10; k++) {
    char name[4] = {'n', (char)('0' + k)};
    msgpack_pack_array(&f->pk, 2);
    msgpack_pack_int(&f->pk, k);
    if (k == 7)
      msgpack_pack_int(&f->pk, 70);
    else
      msgpack_pack_str_with_body(&f->pk, name, 2);
  }
  const msgpack_object *v = decode(f);
  static const char fmt[] = "{s:i, s:[[i, s#] ...]}";
  int id = 0, n = -1;
  mpconn_iter it;
  assert_int_equal(mpconn_unpackf(v, &f->err, fmt, "id", &id, "items", &it), 0);
  assert_int_equal(id, 3);
  assert_int_equal(mpconn_iter_count(&it), 10);
  const char *name;
  size_t len;
  for (int k = 0; k < 10; k++) {
    int rc = mpconn_iter_next(&it, &f->err, &n, &name, &len);
    if (k == 7) {
      /* The whole path, and the position of the 's' in the format. */
      expect_err(f, rc, MPCONN_EUNPACK, 13, "$.items[7][1]",
                 "format position 13: expected str at $.items[7][1], got int");
      assert_int_equal(n, 7); /* stored before the failing item */
      continue;
    }
    assert_int_equal(rc, 1);
    assert_int_equal(n, k);
    assert_int_equal(len, 2);
    assert_memory_equal(name, "n", 1);
    assert_int_equal(name[1], '0' + k);
    /* Borrowed from the value. */
    assert_ptr_equal(
        name,
        v->via.map.ptr[1].val.via.array.ptr[k].via.array.ptr[1].via.str.ptr);
  }
  assert_int_equal(mpconn_iter_next(&it, &f->err, &n, &name, &len), 0);
  assert_int_equal(mpconn_iter_next(&it, NULL, &n, &name, &len), 0);

  /* An empty array, and a NULL iterator. */
  v = build(f, "[]");
  assert_int_equal(mpconn_unpackf(v, &f->err, "[s ...]", &it), 0);
  assert_int_equal(mpconn_iter_count(&it), 0);
  assert_int_equal(mpconn_iter_next(&it, &f->err, NULL, (size_t)0), 0);
  expect_err(f, mpconn_unpackf(v, &f->err, "[i ...]", (mpconn_iter *)NULL),
             MPCONN_EINVAL, 0, "$",
             "format position 0: a NULL pointer argument for $");
  expect_err(f, mpconn_iter_next(NULL, &f->err), MPCONN_EINVAL, 0, "",
             "format position 0: no iterator, or one mpconn_unpackf() did "
             "not fill");
  assert_int_equal(mpconn_iter_count(NULL), 0);

  /* 's' with a buffer: its size is checked per item, with the path. */
  v = build(f, "[s, s]", "ab", "abcdef");
  assert_int_equal(mpconn_unpackf(v, &f->err, "[s ...]", &it), 0);
  char buf[4];
  assert_int_equal(mpconn_iter_next(&it, &f->err, buf, sizeof(buf)), 1);
  assert_string_equal(buf, "ab");
  expect_err(f, mpconn_iter_next(&it, &f->err, buf, sizeof(buf)),
             MPCONN_EUNPACK, 1, "$[1]",
             "format position 1: str at $[1] needs 7 bytes with its NUL, the "
             "buffer has 4");
  /* A NULL target is found by the item, with its path. */
  v = build(f, "[i]", 1);
  assert_int_equal(mpconn_unpackf(v, &f->err, "[i ...]", &it), 0);
  expect_err(f, mpconn_iter_next(&it, &f->err, (int *)NULL), MPCONN_EINVAL, 1,
             "$[0]", "format position 1: a NULL pointer argument for $[0]");
  /* 'O' in an array's T: objects borrowed from the value. */
  v = build(f, "[i, s]", 1, "x");
  assert_int_equal(mpconn_unpackf(v, &f->err, "[O ...]", &it), 0);
  msgpack_object o;
  assert_int_equal(mpconn_iter_next(&it, &f->err, &o), 1);
  assert_true(msgpack_object_equal(o, v->via.array.ptr[0]));
  assert_int_equal(mpconn_iter_next(&it, &f->err, &o), 1);
  assert_ptr_equal(o.via.str.ptr, v->via.array.ptr[1].via.str.ptr);
}

/* "<T ...>": the members of a set in the order of its payload. */
static void test_each_set(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v =
      build(f, "{s:<s, s, i, s>}", "tags", "red", "green", 5, "blue");
  mpconn_iter it;
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:<s# ...>}", "tags", &it), 0);
  assert_int_equal(mpconn_iter_count(&it), 4);
  const char *p;
  size_t n;
  assert_int_equal(mpconn_iter_next(&it, &f->err, &p, &n), 1);
  assert_int_equal(n, 3);
  assert_memory_equal(p, "red", 3);
  /* Borrowed from the set's payload, which is in the value. */
  const msgpack_object *set = &v->via.map.ptr[0].val;
  assert_true(p > set->via.ext.ptr && p < set->via.ext.ptr + set->via.ext.size);
  assert_int_equal(mpconn_iter_next(&it, &f->err, &p, &n), 1);
  assert_memory_equal(p, "green", 5);
  expect_err(f, mpconn_iter_next(&it, &f->err, &p, &n), MPCONN_EUNPACK, 4,
             "$.tags<2>",
             "format position 4: expected str at $.tags<2>, got int");
  assert_int_equal(mpconn_iter_next(&it, &f->err, &p, &n), 1);
  assert_memory_equal(p, "blue", 4);
  assert_int_equal(mpconn_iter_next(&it, &f->err, &p, &n), 0);

  /* Nested sets and long sets (ext 16 and array 16 headers). */
  msgpack_sbuffer_clear(&f->sb);
  msgpack_sbuffer big;
  msgpack_sbuffer_init(&big);
  msgpack_packer bp;
  msgpack_packer_init(&bp, &big, msgpack_sbuffer_write);
  msgpack_pack_array(&bp, 300);
  for (int k = 0; k < 300; k++)
    msgpack_pack_int(&bp, k * 1000);
  msgpack_pack_ext(&f->pk, big.size, MPCONN_EXT_SET);
  msgpack_pack_ext_body(&f->pk, big.data, big.size);
  msgpack_sbuffer_destroy(&big);
  v = decode(f);
  assert_int_equal(mpconn_unpackf(v, &f->err, "<i ...>", &it), 0);
  assert_int_equal(mpconn_iter_count(&it), 300);
  int x, k = 0;
  while ((x = -1, mpconn_iter_next(&it, &f->err, &x)) == 1) {
    assert_int_equal(x, k * 1000);
    k++;
  }
  assert_int_equal(k, 300);
  expect_err(f, mpconn_unpackf(v, &f->err, "<s ...>", &it), 0, 0, "", "");
  char s[4];
  expect_err(f, mpconn_iter_next(&it, &f->err, s, sizeof(s)), MPCONN_EUNPACK, 1,
             "$<0>", "format position 1: expected str at $<0>, got int");

  /* A malformed payload (a hand-made object) is refused up front. */
  msgpack_object bad = {.type = MSGPACK_OBJECT_EXT};
  bad.via.ext.type = MPCONN_EXT_SET;
  bad.via.ext.ptr = "\x92\x01";
  bad.via.ext.size = 2;
  expect_err(f, mpconn_unpackf(&bad, &f->err, "<i ...>", &it), MPCONN_EBADSET,
             0, "$", "format position 0: malformed set at $ (MPCONN_EBADSET)");
}

/* Iterators inside iterators. */
static void test_each_nested(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v =
      build(f, "[[i, i], [], [i, s, i]]", 1, 2, 3, "x", 4);
  mpconn_iter rows, row;
  assert_int_equal(mpconn_unpackf(v, &f->err, "[[i ...] ...]", &rows), 0);
  assert_int_equal(mpconn_iter_count(&rows), 3);
  static const int want_counts[] = {2, 0, 3};
  int x, sum = 0;
  for (int r = 0; r < 3; r++) {
    assert_int_equal(mpconn_iter_next(&rows, &f->err, &row), 1);
    assert_int_equal(mpconn_iter_count(&row), want_counts[r]);
    int rc;
    while ((rc = mpconn_iter_next(&row, &f->err, &x)) != 0) {
      if (rc == 1) {
        sum += x;
        continue;
      }
      expect_err(f, rc, MPCONN_EUNPACK, 2, "$[2][1]",
                 "format position 2: expected int at $[2][1], got str");
    }
  }
  assert_int_equal(sum, 1 + 2 + 3 + 4);
  assert_int_equal(mpconn_iter_next(&rows, &f->err, &row), 0);
  /* A set of arrays, each of any length. */
  v = build(f, "<[s], [s, s]>", "a", "b", "c");
  mpconn_iter set;
  assert_int_equal(mpconn_unpackf(v, &f->err, "<[s# ...] ...>", &set), 0);
  size_t total = 0;
  while (mpconn_iter_next(&set, &f->err, &row) == 1)
    total += mpconn_iter_count(&row);
  assert_int_equal(total, 3);
}

/* An absent optional key: targets keep their defaults, an iterator is
 * made empty. */
static void test_each_optional(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "{s:i}", "a", 1);
  mpconn_iter it;
  memset(&it, 0x5a, sizeof(it));
  int a = 0, b = 42, c = 43;
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:i, s?:[i ...], s?:i, s?:<i>}",
                                  "a", &a, "list", &it, "b", &b, "set", &c),
                   0);
  assert_int_equal(a, 1);
  assert_int_equal(b, 42);
  assert_int_equal(c, 43);
  assert_int_equal(mpconn_iter_count(&it), 0);
  assert_int_equal(mpconn_iter_next(&it, &f->err, &a), 0);
  /* Present, the same key is taken apart and checked. */
  v = build(f, "{s:i, s:[i, i], s:i, s:<i>}", "a", 1, "list", 5, 6, "b", 7,
            "set", 8);
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:i, s?:[i ...], s?:i, s?:<i>}",
                                  "a", &a, "list", &it, "b", &b, "set", &c),
                   0);
  assert_int_equal(mpconn_iter_count(&it), 2);
  assert_int_equal(b, 7);
  assert_int_equal(c, 8);
  v = build(f, "{s:i, s:[i, i], s:s}", "a", 1, "list", 5, 6, "b", "x");
  expect_err(f,
             mpconn_unpackf(v, &f->err, "{s:i, s?:[i ...], s?:i}", "a", &a,
                            "list", &it, "b", &b),
             MPCONN_EUNPACK, 21, "$.b",
             "format position 21: expected int at $.b, got str");
}

static void test_each_mismatch(void **state) {
  struct pack_fixture *f = *state;
  mpconn_iter it;
  const msgpack_object *v = build(f, "{s:i}", "a", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "[i ...]", &it), MPCONN_EUNPACK, 0,
             "$", "format position 0: expected array at $, got map");
  expect_err(f, mpconn_unpackf(v, &f->err, "{s:<i ...>}", "a", &it),
             MPCONN_EUNPACK, 3, "$.a",
             "format position 3: expected set at $.a, got int");
  v = build(f, "[<i>]", 1);
  expect_err(f, mpconn_unpackf(v, &f->err, "<i ...>", &it), MPCONN_EUNPACK, 0,
             "$", "format position 0: expected set at $, got array");
  /* Items after an iterator are matched as usual. */
  v = build(f, "[[i], s]", 1, "x");
  int x = 0;
  expect_err(f, mpconn_unpackf(v, &f->err, "[[i ...], i]", &it, &x),
             MPCONN_EUNPACK, 10, "$[1]",
             "format position 10: expected int at $[1], got str");
  char s[2];
  assert_int_equal(
      mpconn_unpackf(v, &f->err, "[[i ...], s]", &it, s, sizeof(s)), 0);
  assert_string_equal(s, "x");
  assert_int_equal(mpconn_iter_next(&it, &f->err, &x), 1);
  assert_int_equal(x, 1);
}

static void test_each_formats(void **state) {
  struct pack_fixture *f = *state;
  static const struct {
    const char *fmt;
    size_t position;
    const char *text;
  } cases[] = {
      {"[i i ...]", 5,
       "format position 5: '...' must follow the only item of an array or "
       "set"},
      {"[...]", 1,
       "format position 1: '...' must follow the only item of an array or "
       "set"},
      {"{s:i ...}", 5,
       "format position 5: '...' must follow the only item of an array or "
       "set"},
      {"i ...", 2,
       "format position 2: '...' must follow the only item of an array or "
       "set"},
      {"[i ... i]", 3, "format position 3: '...' must end its container"},
      {"[i ... *]", 3, "format position 3: '...' must end its container"},
      {"[i .. ]", 3, "format position 3: '.' is not a format character"},
      {"[i * ...]", 3,
       "format position 3: '*' must be the last item of its container"},
      {"<O ...>", 1,
       "format position 1: 'O' inside a set: the object would outlive the "
       "set's members"},
      {"[i ...", 6, "format position 6: '[' at position 0 is not closed"},
  };
  const msgpack_object *v = build(f, "[]");
  mpconn_iter it;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = mpconn_unpackf(v, &f->err, cases[i].fmt, &it);
    if (rc != MPCONN_EFORMAT || f->err.position != cases[i].position ||
        strcmp(f->err.text, cases[i].text) != 0)
      fail_msg("\"%s\": %s at %zu (%s)", cases[i].fmt, mpconn_err_name(rc),
               f->err.position, f->err.text);
    assert_string_equal(f->err.path, "");
  }
  /* Separators around '...' are free, as everywhere. */
  assert_int_equal(mpconn_unpackf(v, &f->err, "[ i, ... ]", &it), 0);
  assert_int_equal(mpconn_unpackf(v, &f->err, "[i...]", &it), 0);
}

/* Fixed items of a set take members whatever the order they came in. */
static void test_set_any_order(void **state) {
  struct pack_fixture *f = *state;
  static const char *const orders[] = {"<s, i, s, i>", "<i, i, s, s>",
                                       "<s, s, i, i>", "<i, s, i, s>"};
  for (size_t k = 0; k < 4; k++) {
    const msgpack_object *v;
    if (k == 0)
      v = build(f, orders[k], "b", 2, "a", 1);
    else if (k == 1)
      v = build(f, orders[k], 2, 1, "b", "a");
    else if (k == 2)
      v = build(f, orders[k], "a", "b", 1, 2);
    else
      v = build(f, orders[k], 1, "b", 2, "a");
    int x = 0, y = 0;
    char s1[2], s2[2];
    /* Alike items take members in ascending order. */
    assert_int_equal(mpconn_unpackf(v, &f->err, "<s, i, i, s>", s1, sizeof(s1),
                                    &x, &y, s2, sizeof(s2)),
                     0);
    assert_string_equal(s1, "a");
    assert_string_equal(s2, "b");
    assert_int_equal(x, 1);
    assert_int_equal(y, 2);
    /* With '*': the first members that fit. */
    assert_int_equal(mpconn_unpackf(v, &f->err, "<s *>", s1, sizeof(s1)), 0);
    assert_string_equal(s1, "a");
    assert_int_equal(mpconn_unpackf(v, &f->err, "<i, *>", &x), 0);
    assert_int_equal(x, 1);
  }
  /* Python's order: the members of {3, 1, 2, -5} by hash. */
  const msgpack_object *v = hex(f, "c7 05 53 94 01 02 03 fb");
  int a, b, c, d;
  assert_int_equal(mpconn_unpackf(v, &f->err, "<i i i i>", &a, &b, &c, &d), 0);
  assert_int_equal(a, -5);
  assert_int_equal(b, 1);
  assert_int_equal(c, 2);
  assert_int_equal(d, 3);
}

/* Which member goes to which item: a member that fits two items goes to
 * the one only it fits. */
static void test_set_matching(void **state) {
  struct pack_fixture *f = *state;
  /* [1, 2] fits both items; [3] only "[i *]". */
  const msgpack_object *v = build(f, "<[i, i], [i]>", 1, 2, 3);
  int a = 0, b = 0, c = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "<[i *], [i, i]>", &a, &b, &c),
                   0);
  assert_int_equal(a, 3);
  assert_int_equal(b, 1);
  assert_int_equal(c, 2);
  /* Maps in a set, told apart by their keys. */
  v = build(f, "<{s:i}, {s:s}>", "n", 5, "name", "x");
  const char *p;
  size_t n;
  assert_int_equal(
      mpconn_unpackf(v, &f->err, "<{s:s#}, {s:i}>", "name", &p, &n, "n", &a),
      0);
  assert_int_equal(a, 5);
  assert_int_equal(n, 1);
  assert_memory_equal(p, "x", 1);
  /* Nothing is stored when no matching exists. */
  a = b = c = -1;
  v = build(f, "<[i], [i]>", 1, 2);
  expect_err(f, mpconn_unpackf(v, &f->err, "<[i *], [i, i]>", &a, &b, &c),
             MPCONN_EUNPACK, 8, "$",
             "format position 8: no member of the set at $ matches this item");
  assert_int_equal(a, -1);
  assert_int_equal(b, -1);
  assert_int_equal(c, -1);
  v = build(f, "<i, s>", 1, "x");
  expect_err(f, mpconn_unpackf(v, &f->err, "<i, i>", &a, &b), MPCONN_EUNPACK, 4,
             "$",
             "format position 4: every member of the set at $ that matches "
             "this item is needed by another item");
  /* Counts are checked first, as for arrays. */
  expect_err(f, mpconn_unpackf(v, &f->err, "<i>", &a), MPCONN_EUNPACK, 0, "$",
             "format position 0: expected set of 1 at $, got set of 2");
  expect_err(f, mpconn_unpackf(v, &f->err, "<i i i *>", &a, &b, &c),
             MPCONN_EUNPACK, 0, "$",
             "format position 0: expected set of at least 3 at $, got set of "
             "2");
  /* A NULL target is reported as such, not as a mismatch. */
  expect_err(f, mpconn_unpackf(v, &f->err, "<s, i>", NULL, (size_t)0, &a),
             MPCONN_EINVAL, 1, "$<0>",
             "format position 1: a NULL pointer argument for $<0>");
  /* Kinds sort nil, bool, int, float, str, bin, array, map, ext. */
  v = build(f, "<y#, f, s, n, b, i, [], {}, <>>", "\x01", (size_t)1, 0.5, "s",
            1, -3);
  bool t = false;
  double d = 0;
  assert_int_equal(mpconn_unpackf(v, &f->err, "<n b i f s# y# [] {} <>>", &t,
                                  &a, &d, &p, &n, &p, &n),
                   0);
  assert_true(t);
  assert_int_equal(a, -3);
  assert_true(d == 0.5);
}

/* Errors keep the whole path through iterators, sets and optional keys. */
static void test_full_paths(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object *v = build(f, "[n, n, {s:[[i, s], [i, s], [i, i]]}]",
                                  "items", 1, "a", 2, "b", 3, 4);
  mpconn_iter items;
  assert_int_equal(
      mpconn_unpackf(v, &f->err, "[n, n, {s?:[[i, s#] ...]}]", "items", &items),
      0);
  int x;
  const char *p;
  size_t n;
  assert_int_equal(mpconn_iter_next(&items, &f->err, &x, &p, &n), 1);
  assert_int_equal(mpconn_iter_next(&items, &f->err, &x, &p, &n), 1);
  expect_err(f, mpconn_iter_next(&items, &f->err, &x, &p, &n), MPCONN_EUNPACK,
             16, "$[2].items[2][1]",
             "format position 16: expected str at $[2].items[2][1], got int");
  /* A set inside an iterated item. */
  v = build(f, "{s:[<s, i>, <s, s>]}", "t", "a", 1, "b", "c");
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:[<s#, i> ...]}", "t", &items),
                   0);
  assert_int_equal(mpconn_iter_next(&items, &f->err, &p, &n, &x), 1);
  assert_int_equal(x, 1);
  expect_err(f, mpconn_iter_next(&items, &f->err, &p, &n, &x), MPCONN_EUNPACK,
             9, "$.t[1]",
             "format position 9: no member of the set at $.t[1] matches this "
             "item");
  /* A long prefix ends in "..." and stays NUL-terminated. */
  char key[100];
  memset(key, 'k', sizeof(key) - 1);
  key[sizeof(key) - 1] = '\0';
  v = build(f, "{s:[s]}", key, "x");
  assert_int_equal(mpconn_unpackf(v, &f->err, "{s:[i ...]}", key, &items), 0);
  assert_int_equal(mpconn_iter_next(&items, &f->err, &x), MPCONN_EUNPACK);
  assert_int_equal(strlen(f->err.path), sizeof(f->err.path) - 1);
  assert_string_equal(f->err.path + sizeof(f->err.path) - 4, "...");
}

static int vunpackf_wrapper(const msgpack_object *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vunpackf(v, NULL, fmt, ap);
  va_end(ap);
  return rc;
}

/* Everything packf writes, unpackf reads back with the same format. */
static void test_round_trip(void **state) {
  struct pack_fixture *f = *state;
  static const char fmt[] =
      "{s:[n b i I U f], s:s, s:s#, s:y#, s:<i s>, s:{s:[]}, s:O}";
  msgpack_object obj = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
  obj.via.u64 = 99;
  const msgpack_object *v =
      build(f, fmt, "scalars", 1, -5, INT64_MIN, UINT64_MAX, 0.25, "str",
            "hello", "raw", "a\0b", (size_t)3, "bin", "\xff\x00", (size_t)2,
            "set", 3, "x", "map", "empty", "obj", &obj);
  bool b = false;
  int i = 0, m = 0;
  int64_t l = 0;
  uint64_t u = 0;
  double d = 0;
  char str[6], x[2];
  const char *raw, *bin;
  size_t rawn, binn;
  msgpack_object o;
  assert_int_equal(vunpackf_wrapper(v, fmt, "scalars", &b, &i, &l, &u, &d,
                                    "str", str, sizeof(str), "raw", &raw, &rawn,
                                    "bin", &bin, &binn, "set", &m, x, sizeof(x),
                                    "map", "empty", "obj", &o),
                   0);
  assert_true(b);
  assert_int_equal(i, -5);
  assert_true(l == INT64_MIN);
  assert_true(u == UINT64_MAX);
  assert_true(d == 0.25);
  assert_string_equal(str, "hello");
  assert_int_equal(rawn, 3);
  assert_memory_equal(raw, "a\0b", 3);
  assert_int_equal(binn, 2);
  assert_memory_equal(bin, "\xff\x00", 2);
  assert_int_equal(m, 3);
  assert_string_equal(x, "x");
  assert_true(msgpack_object_equal(o, obj));
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, pack_setup, pack_teardown)
  const struct CMUnitTest tests[] = {
      T(test_scalars),
      T(test_float32),
      T(test_strings),
      T(test_object),
      T(test_map_any_order),
      T(test_optional_keys),
      T(test_star),
      T(test_strict_without_star),
      T(test_large_map),
      T(test_mismatches),
      T(test_string_buffer),
      T(test_paths),
      T(test_nested),
      T(test_sets),
      T(test_bad_set_payload),
      T(test_bad_formats),
      T(test_null_arguments),
      T(test_success_clears_err),
      T(test_each_array),
      T(test_each_set),
      T(test_each_nested),
      T(test_each_optional),
      T(test_each_mismatch),
      T(test_each_formats),
      T(test_set_any_order),
      T(test_set_matching),
      T(test_full_paths),
      T(test_round_trip),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
