/* SPDX-License-Identifier: MIT */
/* Packing from format strings (lib/format.c): exact bytes and errors. */
#include "test-util.h"

#include <limits.h>

#include "mpconn-private.h"

/* The packer holds exactly these bytes, one whole value; then empty it. */
static void expect(struct pack_fixture *f, const char *hex) {
  uint8_t want[512];
  size_t n = unhex(hex, want, sizeof(want));
  if (f->sb.size != n || memcmp(f->sb.data, want, n) != 0) {
    char got[3 * 512 + 1] = "";
    for (size_t i = 0; i < f->sb.size && i < 512; i++)
      sprintf(got + 3 * i, "%02x ", (uint8_t)f->sb.data[i]);
    fail_msg("want %s\n got %s", hex, got);
  }
  assert_int_equal(mpconn__validate((const uint8_t *)f->sb.data, f->sb.size),
                   0);
  msgpack_sbuffer_clear(&f->sb);
}

static void test_spec_examples(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[s, i, s]", "spam", 42, "eggs"),
                   0);
  expect(f, "93 a4 73 70 61 6d 2a a4 65 67 67 73");
  assert_int_equal(
      mpconn_packf(&f->pk, NULL, "{s:s, s:i}", "name", "bob", "spam", 42), 0);
  expect(f, "82 a4 6e 61 6d 65 a3 62 6f 62 a4 73 70 61 6d 2a");
}

static void test_nil_bool(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "n"), 0);
  expect(f, "c0");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[b b b]", 1, 0, 7), 0);
  expect(f, "93 c3 c2 c3");
}

static void test_int_boundaries(void **state) {
  struct pack_fixture *f = *state;
  static const struct {
    int v;
    const char *hex;
  } cases[] = {
      {0, "00"},
      {127, "7f"},
      {128, "cc 80"},
      {255, "cc ff"},
      {256, "cd 01 00"},
      {65535, "cd ff ff"},
      {65536, "ce 00 01 00 00"},
      {INT_MAX, "ce 7f ff ff ff"},
      {-1, "ff"},
      {-32, "e0"},
      {-33, "d0 df"},
      {-128, "d0 80"},
      {-129, "d1 ff 7f"},
      {-32768, "d1 80 00"},
      {-32769, "d2 ff ff 7f ff"},
      {INT_MIN, "d2 80 00 00 00"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(mpconn_packf(&f->pk, NULL, "i", cases[i].v), 0);
    expect(f, cases[i].hex);
  }
}

static void test_int64_uint64(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "I", INT64_MIN), 0);
  expect(f, "d3 80 00 00 00 00 00 00 00");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "I", INT64_MAX), 0);
  expect(f, "cf 7f ff ff ff ff ff ff ff");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "I", (int64_t)-2147483649LL), 0);
  expect(f, "d3 ff ff ff ff 7f ff ff ff");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "I", (int64_t)4294967296LL), 0);
  expect(f, "cf 00 00 00 01 00 00 00 00");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "I", (int64_t)3), 0);
  expect(f, "03");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "U", UINT64_MAX), 0);
  expect(f, "cf ff ff ff ff ff ff ff ff");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "U", (uint64_t)5), 0);
  expect(f, "05");
}

static void test_double(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[f f]", 1.5, -0.0), 0);
  expect(f, "92 cb 3f f8 00 00 00 00 00 00 cb 80 00 00 00 00 00 00 00");
}

static void test_strings_and_bytes(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "s", ""), 0);
  expect(f, "a0");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "s#", "a\0b", (size_t)3), 0);
  expect(f, "a3 61 00 62");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "s#", NULL, (size_t)0), 0);
  expect(f, "a0");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "y#", "\x01\x02", (size_t)2), 0);
  expect(f, "c4 02 01 02");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "y#", NULL, (size_t)0), 0);
  expect(f, "c4 00");
  /* 32 bytes no longer fit a fixstr */
  assert_int_equal(
      mpconn_packf(&f->pk, NULL, "s", "0123456789abcdef0123456789abcdef"), 0);
  expect(f, "d9 20 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66"
            "   30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66");
}

static void test_object(void **state) {
  struct pack_fixture *f = *state;
  msgpack_object items[2] = {{.type = MSGPACK_OBJECT_NIL},
                             {.type = MSGPACK_OBJECT_STR}};
  items[1].via.str.ptr = "x";
  items[1].via.str.size = 1;
  msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY};
  arr.via.array.size = 2;
  arr.via.array.ptr = items;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[O, O]", &items[1], &arr), 0);
  expect(f, "92 a1 78 92 c0 a1 78");
  /* An object can be a map key too. */
  assert_int_equal(mpconn_packf(&f->pk, NULL, "{O:i}", &items[1], 1), 0);
  expect(f, "81 a1 78 01");
}

static void test_containers(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[]"), 0);
  expect(f, "90");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "{}"), 0);
  expect(f, "80");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "<>"), 0);
  expect(f, "d4 53 90");
  assert_int_equal(
      mpconn_packf(&f->pk, NULL, "[{s:[i,i]}, [], {}, <>]", "k", 1, 2), 0);
  expect(f, "94 81 a1 6b 92 01 02 90 80 d4 53 90");
  /* Any item can be a key, containers included. */
  assert_int_equal(mpconn_packf(&f->pk, NULL, "{i:s, [i]:n}", 1, "a", 2), 0);
  expect(f, "82 01 a1 61 91 02 c0");
  /* Separators are only separators. */
  assert_int_equal(mpconn_packf(&f->pk, NULL, "  [ n ,\tn : n\r\n]\f\v"), 0);
  expect(f, "93 c0 c0 c0");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "[nn{bb}]", 1, 0), 0);
  expect(f, "93 c0 c0 81 c3 c2");
}

/* Sixteen items need array 16; more containers than fit inline. */
static void test_many_containers(void **state) {
  struct pack_fixture *f = *state;
  char fmt[128] = "[";
  for (int i = 0; i < 40; i++)
    strcat(fmt, "[]");
  strcat(fmt, "]");
  assert_int_equal(mpconn_packf(&f->pk, NULL, fmt), 0);
  char hex[256] = "dc 00 28";
  for (int i = 0; i < 40; i++)
    strcat(hex, " 90");
  expect(f, hex);
}

static void test_deepest(void **state) {
  struct pack_fixture *f = *state;
  char fmt[2 * MPCONN_MAX_DEPTH + 2] = "";
  memset(fmt, '[', MPCONN_MAX_DEPTH);
  fmt[MPCONN_MAX_DEPTH] = 'n';
  memset(fmt + MPCONN_MAX_DEPTH + 1, ']', MPCONN_MAX_DEPTH);
  assert_int_equal(mpconn_packf(&f->pk, NULL, fmt), 0);
  char hex[4 * MPCONN_MAX_DEPTH + 4] = "";
  for (int i = 0; i < MPCONN_MAX_DEPTH; i++)
    strcat(hex, "91 ");
  strcat(hex, "c0");
  expect(f, hex);
}

static void test_sets(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(
      mpconn_packf(&f->pk, NULL, "<s s s s>", "aa", "mm", "pp", "ss"), 0);
  expect(f, "c7 0d 53 94 a2 61 61 a2 6d 6d a2 70 70 a2 73 73");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "<<>, i>", 1), 0);
  expect(f, "c7 05 53 92 d4 53 90 01");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "{s: <i, i, i>}", "s", 1, 2, 3),
                   0);
  expect(f, "81 a1 73 d6 53 93 01 02 03");
  assert_int_equal(mpconn_packf(&f->pk, NULL, "<[i], {s:n}>", 1, "k"), 0);
  expect(f, "c7 07 53 92 91 01 81 a1 6b c0");
}

struct format_case {
  const char *fmt;
  size_t position;
};

static void test_bad_formats(void **state) {
  struct pack_fixture *f = *state;
  static const struct format_case cases[] = {
      {"[s, i", 5},     /* not closed: reported at the end */
      {"{s:[", 4},      /* the same, nested */
      {"[s}", 2},       /* mismatched */
      {"<i]", 2},       /* mismatched */
      {"]", 0},         /* closes nothing */
      {"[s]]", 3},      /* closes nothing */
      {"{s:s, s}", 7},  /* a key without a value */
      {"{i}", 2},       /* the same */
      {"[x]", 1},       /* unknown */
      {"[s, %]", 4},    /* unknown */
      {"[i#]", 2},      /* '#' after something else */
      {"#", 0},         /* '#' after nothing */
      {"s##", 2},       /* '#' twice */
      {"[s #]", 3},     /* '#' must follow at once */
      {"[y]", 1},       /* 'y' without '#' */
      {"y", 0},         /* the same */
      {"{s?:i}", 2},    /* unpack only */
      {"[i, *]", 4},    /* unpack only */
      {"?", 0},         /* unpack only */
      {"", 0},          /* no value */
      {"  ,", 3},       /* no value */
      {"i i", 2},       /* two values */
      {"[] []", 3},     /* two values */
      {"[s, i, q]", 7}, /* packs nothing before the bad character */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    memset(&f->err, 0xa5, sizeof(f->err));
    int rc = mpconn_packf(&f->pk, &f->err, cases[i].fmt, "spam", 1, "x");
    if (rc != MPCONN_EFORMAT || f->err.position != cases[i].position)
      fail_msg("\"%s\": %s at %zu (%s)", cases[i].fmt, mpconn_err_name(rc),
               f->err.position, f->err.text);
    assert_int_equal(f->err.code, MPCONN_EFORMAT);
    assert_string_equal(f->err.path, "");
    assert_int_equal(f->sb.size, 0);
  }
}

static void test_bad_format_texts(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "[s}", "x"), MPCONN_EFORMAT);
  assert_string_equal(
      f->err.text,
      "format position 2: '}' does not close the container open here");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "{[i", 1), MPCONN_EFORMAT);
  assert_string_equal(f->err.text,
                      "format position 3: '[' at position 1 is not closed");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "[\x01]"), MPCONN_EFORMAT);
  assert_string_equal(f->err.text,
                      "format position 1: 0x01 is not a format character");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "[i *]", 1), MPCONN_EFORMAT);
  assert_string_equal(f->err.text,
                      "format position 3: '*' is only for unpacking");
  assert_int_equal(f->sb.size, 0);
}

/* Nesting deeper than a receiver accepts is refused at the bracket. */
static void test_too_deep_format(void **state) {
  struct pack_fixture *f = *state;
  char fmt[2 * MPCONN_MAX_DEPTH + 4] = "";
  memset(fmt, '{', MPCONN_MAX_DEPTH + 1);
  assert_int_equal(mpconn_packf(&f->pk, &f->err, fmt), MPCONN_EFORMAT);
  assert_int_equal(f->err.position, MPCONN_MAX_DEPTH);
}

static void test_null_arguments(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(
      mpconn_packf(&f->pk, &f->err, "[i, {s:s}]", 1, "k", (char *)NULL),
      MPCONN_EINVAL);
  assert_int_equal(f->err.code, MPCONN_EINVAL);
  assert_int_equal(f->err.position, 7);
  assert_string_equal(f->err.path, "$[1].k");
  assert_string_equal(f->err.text,
                      "format position 7: a NULL string at $[1].k");

  assert_int_equal(mpconn_packf(&f->pk, &f->err, "{s:i}", (char *)NULL, 1),
                   MPCONN_EINVAL);
  assert_int_equal(f->err.position, 1);
  assert_string_equal(f->err.path, "$");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "[n <s>]", (char *)NULL),
                   MPCONN_EINVAL);
  assert_int_equal(f->err.position, 4);
  assert_string_equal(f->err.path, "$[1]<0>");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "s#", NULL, (size_t)3),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "y#", NULL, (size_t)1),
                   MPCONN_EINVAL);
  assert_int_equal(
      mpconn_packf(&f->pk, &f->err, "[i O]", 1, (msgpack_object *)NULL),
      MPCONN_EINVAL);
  assert_int_equal(f->err.position, 3);
  assert_string_equal(f->err.path, "$[1]");
  assert_int_equal(mpconn_packf(NULL, &f->err, "n"), MPCONN_EINVAL);
  assert_int_equal(mpconn_packf(&f->pk, &f->err, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_packf(&f->pk, NULL, "s", (char *)NULL),
                   MPCONN_EINVAL);
}

/* Keys that are not identifiers, and keys that are not strings. */
static void test_error_paths(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(
      mpconn_packf(&f->pk, &f->err, "{s:{s:s}}", "a b", "c\"d", (char *)NULL),
      MPCONN_EINVAL);
  assert_string_equal(f->err.path, "$[\"a b\"][\"c\\\"d\"]");
  assert_int_equal(
      mpconn_packf(&f->pk, &f->err, "{i:[n, s]}", -5, (char *)NULL),
      MPCONN_EINVAL);
  assert_string_equal(f->err.path, "$[-5][1]");
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "{[]:s}", (char *)NULL),
                   MPCONN_EINVAL);
  assert_string_equal(f->err.path, "$[?]");
  /* A path too long for the struct says so. */
  char key[120];
  memset(key, 'k', sizeof(key) - 1);
  key[sizeof(key) - 1] = '\0';
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "{s:s}", key, (char *)NULL),
                   MPCONN_EINVAL);
  assert_int_equal(strlen(f->err.path), sizeof(f->err.path) - 1);
  assert_memory_equal(f->err.path, "$.kkk", 5);
  assert_string_equal(f->err.path + sizeof(f->err.path) - 4, "...");
}

/* The error struct is cleared by a call that succeeds. */
static void expect_cleared(const mpconn_error *err) {
  assert_int_equal(err->code, 0);
  assert_int_equal(err->position, 0);
  assert_string_equal(err->path, "");
  assert_string_equal(err->text, "");
}

/* A stale error, as a failing call leaves one. */
static void make_stale(mpconn_error *err) {
  memset(err, 0x5a, sizeof(*err));
  err->code = MPCONN_EUNPACK;
  err->position = 12;
  snprintf(err->path, sizeof(err->path), "$.old");
  snprintf(err->text, sizeof(err->text), "format position 12: old");
}

static void test_success_clears_err(void **state) {
  struct pack_fixture *f = *state;
  make_stale(&f->err);
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "i", 1), 0);
  expect_cleared(&f->err);
  expect(f, "01");
}

static int failing_write(void *data, const char *buf, size_t len) {
  (void)data;
  (void)buf;
  (void)len;
  return -1;
}

static void test_packer_failure(void **state) {
  struct pack_fixture *f = *state;
  msgpack_packer broken;
  msgpack_packer_init(&broken, NULL, failing_write);
  assert_int_equal(mpconn_packf(&broken, &f->err, "[i]", 1), MPCONN_ENOMEM);
  assert_int_equal(f->err.position, 0);
  assert_int_equal(mpconn_packf(&broken, &f->err, "<i>", 1), MPCONN_ENOMEM);
  assert_int_equal(mpconn_packf(&broken, &f->err, "s", "x"), MPCONN_ENOMEM);
}

static int vpackf_wrapper(msgpack_packer *pk, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vpackf(pk, NULL, fmt, ap);
  va_end(ap);
  return rc;
}

static void test_vpackf(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(
      vpackf_wrapper(&f->pk, "[s#, U]", "abc", (size_t)2, (uint64_t)1), 0);
  expect(f, "92 a2 61 62 01");
}

static void expect_frame(mpconn *c, const char *hex) {
  uint8_t want[256];
  size_t n = unhex(hex, want, sizeof(want));
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 5000),
                   0);
  assert_int_equal(len, n);
  assert_memory_equal(data, want, n);
  free(data);
}

static void test_sendf(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_sendf(a, "[s, i, s]", "spam", 42, "eggs"), 0);
  /* Bad formats and arguments send nothing. */
  assert_int_equal(mpconn_sendf(a, "[s, i", "spam", 42), MPCONN_EFORMAT);
  assert_int_equal(mpconn_sendf(a, "[i, s]", 1, (char *)NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_sendf(a, "<s>", "x"), 0);
  expect_frame(b, "93 a4 73 70 61 6d 2a a4 65 67 67 73");
  expect_frame(b, "c7 03 53 91 a1 78");
  assert_int_equal(mpconn_poll(b, 0), 0);
  mpconn_free(a);
  mpconn_free(b);
}

static int vsendf_wrapper(mpconn *c, mpconn_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vsendf(c, err, fmt, ap);
  va_end(ap);
  return rc;
}

/* mpconn_sendf_ex() and mpconn_vsendf() fill the error on every path. */
static void test_sendf_ex(void **state) {
  struct pack_fixture *f = *state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  make_stale(&f->err);
  assert_int_equal(mpconn_sendf_ex(a, &f->err, "[s, i]", "spam", 42), 0);
  expect_cleared(&f->err);
  make_stale(&f->err);
  assert_int_equal(vsendf_wrapper(a, &f->err, "{s:<i>}", "k", 7), 0);
  expect_cleared(&f->err);
  expect_frame(b, "92 a4 73 70 61 6d 2a");
  expect_frame(b, "81 a1 6b d5 53 91 07");

  /* A bad format or argument: packf's error, and nothing is sent. */
  assert_int_equal(mpconn_sendf_ex(a, &f->err, "[s, i", "spam", 42),
                   MPCONN_EFORMAT);
  assert_int_equal(f->err.code, MPCONN_EFORMAT);
  assert_int_equal(f->err.position, 5);
  assert_string_equal(f->err.path, "");
  assert_string_equal(f->err.text,
                      "format position 5: '[' at position 0 is not closed");
  assert_int_equal(vsendf_wrapper(a, &f->err, "{s:[n, s]}", "k", (char *)NULL),
                   MPCONN_EINVAL);
  assert_int_equal(f->err.code, MPCONN_EINVAL);
  assert_int_equal(f->err.position, 7);
  assert_string_equal(f->err.path, "$.k[1]");
  assert_string_equal(f->err.text,
                      "format position 7: a NULL string at $.k[1]");
  assert_int_equal(mpconn_poll(b, 0), 0);
  assert_int_equal(mpconn_sendf_ex(a, &f->err, NULL), MPCONN_EINVAL);
  assert_string_equal(f->err.text, "format position 0: no packer or no format");

  /* Failing to send: the code and its message, no position or path. */
  mpconn_free(b);
  make_stale(&f->err);
  assert_int_equal(mpconn_sendf_ex(a, &f->err, "i", 1), MPCONN_EPIPE);
  assert_int_equal(f->err.code, MPCONN_EPIPE);
  assert_int_equal(f->err.position, 0);
  assert_string_equal(f->err.path, "");
  assert_string_equal(f->err.text, "broken pipe: the peer has closed its end");
  assert_int_equal(mpconn_close(a), 0);
  assert_int_equal(vsendf_wrapper(a, &f->err, "i", 1), MPCONN_ECLOSED);
  assert_int_equal(f->err.code, MPCONN_ECLOSED);
  assert_string_equal(f->err.text, "handle is closed");
  mpconn_free(a);

  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_sendf_ex(r, &f->err, "n"), MPCONN_EREADONLY);
  assert_int_equal(f->err.code, MPCONN_EREADONLY);
  assert_string_equal(f->err.text, "connection is read-only");
  assert_string_equal(f->err.path, "");
  assert_int_equal(mpconn_sendf_ex(NULL, &f->err, "n"), MPCONN_EINVAL);
  assert_string_equal(f->err.text, "invalid argument");
  /* NULL for the error struct is fine everywhere. */
  assert_int_equal(mpconn_sendf_ex(w, NULL, "n"), 0);
  assert_int_equal(mpconn_sendf_ex(w, NULL, "[i", 1), MPCONN_EFORMAT);
  expect_frame(r, "c0");
  mpconn_free(r);
  mpconn_free(w);
}

static int vputf_wrapper(mpconn_queue *q, mpconn_error *err, const char *fmt,
                         ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_queue_vputf(q, 0, err, fmt, ap);
  va_end(ap);
  return rc;
}

/* mpconn_queue_vputf(): the same for a queue. */
static void test_queue_vputf(void **state) {
  struct pack_fixture *f = *state;
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new(&q, 1), 0);
  make_stale(&f->err);
  assert_int_equal(vputf_wrapper(q, &f->err, "[s, i]", "spam", 42), 0);
  expect_cleared(&f->err);
  assert_int_equal(vputf_wrapper(q, &f->err, "i", 2), MPCONN_EFULL);
  assert_int_equal(f->err.code, MPCONN_EFULL);
  assert_int_equal(f->err.position, 0);
  assert_string_equal(f->err.path, "");
  assert_string_equal(f->err.text, "queue is full");
  assert_int_equal(vputf_wrapper(q, &f->err, "[i, s]", 1, (char *)NULL),
                   MPCONN_EINVAL);
  assert_string_equal(f->err.text, "format position 4: a NULL string at $[1]");
  assert_int_equal(vputf_wrapper(NULL, &f->err, "n"), MPCONN_EINVAL);
  assert_string_equal(f->err.text, "invalid argument");
  mpconn_msg *m;
  assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
  char s[8];
  int i = 0;
  assert_int_equal(
      mpconn_unpackf(mpconn_msg_value(m), &f->err, "[s, i]", s, sizeof(s), &i),
      0);
  assert_string_equal(s, "spam");
  assert_int_equal(i, 42);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_queue_close(q), 0);
  assert_int_equal(vputf_wrapper(q, &f->err, "n"), MPCONN_ECLOSED);
  assert_string_equal(f->err.text, "handle is closed");
  mpconn_queue_free(q);
}

/* '...' is for unpacking only. */
static void test_each_not_packed(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_packf(&f->pk, &f->err, "[i ...]", 1), MPCONN_EFORMAT);
  assert_int_equal(f->err.position, 3);
  assert_string_equal(f->err.text,
                      "format position 3: '...' is only for unpacking");
  assert_int_equal(f->sb.size, 0);
}

static void test_sendf_wrong_direction(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_sendf(r, "n"), MPCONN_EREADONLY);
  assert_int_equal(mpconn_sendf(w, "n"), 0);
  expect_frame(r, "c0");
  mpconn_free(r);
  mpconn_free(w);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, pack_setup, pack_teardown)
  const struct CMUnitTest tests[] = {
      T(test_spec_examples),
      T(test_nil_bool),
      T(test_int_boundaries),
      T(test_int64_uint64),
      T(test_double),
      T(test_strings_and_bytes),
      T(test_object),
      T(test_containers),
      T(test_many_containers),
      T(test_deepest),
      T(test_sets),
      T(test_bad_formats),
      T(test_bad_format_texts),
      T(test_too_deep_format),
      T(test_null_arguments),
      T(test_error_paths),
      T(test_success_clears_err),
      T(test_packer_failure),
      T(test_vpackf),
      T(test_sendf),
      T(test_sendf_wrong_direction),
      T(test_sendf_ex),
      T(test_queue_vputf),
      T(test_each_not_packed),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
