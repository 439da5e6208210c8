/* SPDX-License-Identifier: MIT */
/*
 * mpconn_unpackf() (lib/unpackf.c) against arbitrary values.
 *
 * Input: byte 0 picks one of the formats below, byte 1 picks the part of
 * the value it is applied to (the whole value, or an item, key or value
 * one level down), the rest is a frame's payload.  Payloads the validator
 * refuses are skipped: they never become values.
 *
 * Checks: the result is 0 or MPCONN_EUNPACK, nothing else (every set of a
 * received value was checked on receipt, so MPCONN_EBADSET and
 * MPCONN_ETOODEEP cannot happen); on failure the error struct holds the
 * same code and NUL-terminated text and path; on success it is cleared;
 * borrowed pointers point into the frame; copied strings are terminated
 * within their buffer; the same call without an error struct returns the
 * same code.
 */
#include "fuzz.h"

#include "mpconn-private.h"

#include <string.h>

/* The frame the value was decoded from, for pointer checks. */
static const uint8_t *frame_start;
static size_t frame_len;

static void check_borrowed(const char *p, size_t len) {
  FUZZ_CHECK(p != NULL);
  if (len == 0)
    return;
  FUZZ_CHECK((const uint8_t *)p >= frame_start &&
             (const uint8_t *)p + len <= frame_start + frame_len);
}

static void check_copied(const char *buf, size_t size) {
  FUZZ_CHECK(memchr(buf, '\0', size) != NULL);
}

/* An optional key that is absent leaves its buffer alone. */
static void check_copied_or_untouched(const char *buf, size_t size) {
  if (memchr(buf, '\0', size))
    return;
  for (size_t i = 0; i < size; i++)
    FUZZ_CHECK(buf[i] == 0x5a);
}

#define DEEP32                                                                 \
  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"

static const char *const formats[] = {
    "n",
    "b",
    "i",
    "I",
    "U",
    "f",
    "s",
    "s#",
    "y#",
    "O",
    "[*]",
    "[i, s#, *]",
    "[I, U, f, b, n, y#, s#, s]",
    "{s:i, s?:s#, *}",
    "{s?:i, s?:y#, s?:b}",
    "{s:[i, *], s?:<i, *>}",
    "<*>",
    "<i, i>",
    "<s#, *>",
    "[[[[[[[[*]]]]]]]]",
    "{s:{s:{s:O}}}",
    "[<[i, *], *>, *]",
    "[O, {s?:n, *}, *]",
    "<{s?:i, *}, [*], <*>, *>",
    "{s?:f, s?:U, s?:I, s?:s, *}",
    DEEP32,
    "{s:<<<<*>>>>, *}",
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

/* Map keys the formats ask for; "" is a key too. */
static const char *const keys[] = {"a", "b", "", "k"};

/* Run format @k on @v with @err; check what it stored. */
static int apply(unsigned k, const msgpack_object *v, mpconn_error *err,
                 size_t strsize) {
  const char *fmt = formats[k];
  bool b = false;
  int i = 0;
  int64_t i64 = 0;
  uint64_t u64 = 0;
  double f = 0;
  const char *p = NULL, *q = NULL;
  size_t plen = 0, qlen = 0;
  char buf[64];
  msgpack_object o;
  int rc;
  memset(buf, 0x5a, sizeof(buf));

  switch (k) {
  case 0: /* n */
  case 10:
  case 16:
  case 19:
  case 25:
    rc = mpconn_unpackf(v, err, fmt);
    break;
  case 1:
    rc = mpconn_unpackf(v, err, fmt, &b);
    break;
  case 2:
    rc = mpconn_unpackf(v, err, fmt, &i);
    break;
  case 3:
    rc = mpconn_unpackf(v, err, fmt, &i64);
    break;
  case 4:
    rc = mpconn_unpackf(v, err, fmt, &u64);
    break;
  case 5:
    rc = mpconn_unpackf(v, err, fmt, &f);
    break;
  case 6:
    rc = mpconn_unpackf(v, err, fmt, buf, strsize);
    if (rc == 0)
      check_copied(buf, strsize);
    break;
  case 7:
  case 8:
    rc = mpconn_unpackf(v, err, fmt, &p, &plen);
    if (rc == 0)
      check_borrowed(p, plen);
    break;
  case 9:
    rc = mpconn_unpackf(v, err, fmt, &o);
    break;
  case 11:
    rc = mpconn_unpackf(v, err, fmt, &i, &p, &plen);
    if (rc == 0)
      check_borrowed(p, plen);
    break;
  case 12:
    rc = mpconn_unpackf(v, err, fmt, &i64, &u64, &f, &b, &p, &plen, &q, &qlen,
                        buf, strsize);
    if (rc == 0) {
      check_borrowed(p, plen);
      check_borrowed(q, qlen);
      check_copied(buf, strsize);
    }
    break;
  case 13:
    rc = mpconn_unpackf(v, err, fmt, keys[0], &i, keys[1], &p, &plen);
    if (rc == 0 && p)
      check_borrowed(p, plen);
    break;
  case 14:
    rc = mpconn_unpackf(v, err, fmt, keys[0], &i, keys[2], &p, &plen, keys[3],
                        &b);
    if (rc == 0 && p)
      check_borrowed(p, plen);
    break;
  case 15:
    rc = mpconn_unpackf(v, err, fmt, keys[0], &i, keys[1], &i);
    break;
  case 17:
    rc = mpconn_unpackf(v, err, fmt, &i, &i);
    break;
  case 18:
    rc = mpconn_unpackf(v, err, fmt, &p, &plen);
    if (rc == 0)
      check_borrowed(p, plen);
    break;
  case 20:
    rc = mpconn_unpackf(v, err, fmt, keys[0], keys[1], keys[3], &o);
    break;
  case 21:
    rc = mpconn_unpackf(v, err, fmt, &i);
    break;
  case 22:
    rc = mpconn_unpackf(v, err, fmt, &o, keys[2]);
    break;
  case 23:
    rc = mpconn_unpackf(v, err, fmt, keys[0], &i);
    break;
  case 24:
    rc = mpconn_unpackf(v, err, fmt, keys[0], &f, keys[1], &u64, keys[2], &i64,
                        keys[3], buf, strsize);
    if (rc == 0)
      check_copied_or_untouched(buf, strsize);
    break;
  default: /* 26 */
    rc = mpconn_unpackf(v, err, fmt, keys[3]);
    break;
  }
  return rc;
}

/* The part of @v that byte @sel picks. */
static const msgpack_object *pick(const msgpack_object *v, uint8_t sel) {
  if (sel == 0)
    return v;
  unsigned k = sel - 1u;
  if (v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size)
    return &v->via.array.ptr[k % v->via.array.size];
  if (v->type == MSGPACK_OBJECT_MAP && v->via.map.size) {
    const msgpack_object_kv *kv = &v->via.map.ptr[(k / 2) % v->via.map.size];
    return k % 2 ? &kv->key : &kv->val;
  }
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  unsigned k = data[0] % NFORMATS;
  /* The buffer of 's' has 1 to 64 bytes. */
  size_t strsize = (size_t)(data[0] / NFORMATS) * 7 % 64 + 1;
  uint8_t sel = data[1];
  size_t n = size - 2;
  mpconn_msg *m = NULL;
  if (fuzz_msg(data + 2, n, true, &m) < 0)
    return 0;
  frame_start = mpconn_msg_data(m, &frame_len);
  const msgpack_object *v = pick(mpconn_msg_value(m), sel);

  /* Every format is well-formed: a parse error would hide everything. */
  struct mpconn__fmt f;
  FUZZ_CHECK(mpconn__fmt_parse(&f, formats[k], true, NULL) == 0);
  mpconn__fmt_free(&f);

  mpconn_error err;
  memset(&err, 0x77, sizeof(err));
  int rc = apply(k, v, &err, strsize);
  FUZZ_CHECK_RC(rc == 0 || rc == MPCONN_EUNPACK, rc);
  if (rc == 0) {
    /* A success clears it. */
    FUZZ_CHECK(err.code == 0 && err.position == 0 && err.path[0] == '\0' &&
               err.text[0] == '\0');
  } else {
    FUZZ_CHECK(err.code == rc);
    FUZZ_CHECK(memchr(err.text, '\0', sizeof(err.text)) != NULL);
    FUZZ_CHECK(memchr(err.path, '\0', sizeof(err.path)) != NULL);
    FUZZ_CHECK(strncmp(err.text, "format position ", 16) == 0);
    FUZZ_CHECK(err.path[0] == '$');
    FUZZ_CHECK(err.position < strlen(formats[k]) + 1);
    FUZZ_CHECK(strchr(err.text, '\n') == NULL);
  }
  FUZZ_CHECK(apply(k, v, NULL, strsize) == rc);
  mpconn_msg_free(m);
  return 0;
}
