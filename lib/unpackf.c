/* SPDX-License-Identifier: MIT */
/*
 * Unpacking with format strings: check a value's shape and store its parts
 * through pointer arguments.  The format is checked whole first (format.c);
 * then the format and the value are walked together.  A NULL value means
 * "skip": the arguments of an absent optional key are still consumed, so
 * the ones after it line up.
 */
#include "mpconn-private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bits for which entries of a map the format matched; most maps fit. */
#define SEEN_INLINE 512

static const char *type_name(const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    return "nil";
  case MSGPACK_OBJECT_BOOLEAN:
    return "bool";
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return "int";
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return "float";
  case MSGPACK_OBJECT_STR:
    return "str";
  case MSGPACK_OBJECT_BIN:
    return "bin";
  case MSGPACK_OBJECT_ARRAY:
    return "array";
  case MSGPACK_OBJECT_MAP:
    return "map";
  case MSGPACK_OBJECT_EXT:
    return v->via.ext.type == MPCONN_EXT_SET ? "set" : "ext";
  default:
    return "unknown";
  }
}

static const char *expected_name(char c) {
  switch (c) {
  case 'n':
    return "nil";
  case 'b':
    return "bool";
  case 'i':
    return "int";
  case 'I':
    return "int64";
  case 'U':
    return "uint64";
  case 'f':
    return "float";
  case 's':
    return "str";
  case 'y':
    return "bin";
  case '[':
    return "array";
  case '{':
    return "map";
  default:
    return "set";
  }
}

static int mismatch(struct mpconn__walk *s, size_t at, char c,
                    const msgpack_object *v) {
  return mpconn__walk_fail(s, MPCONN_EUNPACK, at, "expected %s at %s, got %s",
                           expected_name(c), mpconn__walk_path(s),
                           type_name(v));
}

static int out_of_range(struct mpconn__walk *s, size_t at, char c,
                        const msgpack_object *v) {
  char num[24];
  if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v->via.u64);
  else
    snprintf(num, sizeof(num), "%lld", (long long)v->via.i64);
  return mpconn__walk_fail(s, MPCONN_EUNPACK, at,
                           "expected %s at %s, got %s (out of range)",
                           expected_name(c), mpconn__walk_path(s), num);
}

static int null_arg(struct mpconn__walk *s, size_t at) {
  return mpconn__walk_fail(s, MPCONN_EINVAL, at,
                           "a NULL pointer argument for %s",
                           mpconn__walk_path(s));
}

static int unpack_item(struct mpconn__walk *s, const msgpack_object *v);

/* Items of an array or a set, by position.  @a is NULL when skipping. */
static int unpack_items(struct mpconn__walk *s, char kind, size_t at,
                        const struct mpconn__box *box,
                        const msgpack_object_array *a) {
  if (a && (box->rest ? a->size < box->n : a->size != box->n))
    return mpconn__walk_fail(
        s, MPCONN_EUNPACK, at, "expected %s of %s%u at %s, got %s of %u",
        expected_name(kind), box->rest ? "at least " : "", (unsigned)box->n,
        mpconn__walk_path(s), expected_name(kind), (unsigned)a->size);
  struct mpconn__step *step = mpconn__walk_push(s, kind);
  for (uint32_t i = 0; i < box->n; i++) {
    step->index = i;
    int rc = unpack_item(s, a ? &a->ptr[i] : NULL);
    if (rc < 0)
      return rc;
  }
  mpconn__walk_pop(s);
  if (box->rest)
    mpconn__walk_close(s); /* the '*' */
  mpconn__walk_close(s);
  return 0;
}

static int unpack_set(struct mpconn__walk *s, size_t at,
                      const struct mpconn__box *box, const msgpack_object *v) {
  if (!v)
    return unpack_items(s, '<', at, box, NULL);
  if (v->type != MSGPACK_OBJECT_EXT || v->via.ext.type != MPCONN_EXT_SET)
    return mismatch(s, at, '<', v);
  /*
   * The members live in a zone of their own, sized exactly, and freed
   * before return; the syntax pass refused 'O' inside a set so nothing
   * stored through the arguments points into it.
   */
  size_t need = 0;
  int rc = mpconn__validate_set((const uint8_t *)v->via.ext.ptr,
                                v->via.ext.size, &need);
  msgpack_zone zone;
  if (!rc && !msgpack_zone_init(&zone, need ? need : 1))
    rc = MPCONN_ENOMEM;
  if (rc < 0)
    return mpconn__walk_fail(
        s, rc, at, "%s at %s (%s)",
        rc == MPCONN_ENOMEM ? "out of memory" : "malformed set",
        mpconn__walk_path(s), mpconn_err_name(rc));
  msgpack_object_array members;
  rc = mpconn_set_unpack(v, &zone, &members);
  if (rc == 0)
    rc = unpack_items(s, '<', at, box, &members);
  else
    rc = mpconn__fmt_fail(s->err, rc, at, NULL, "out of memory");
  msgpack_zone_destroy(&zone);
  return rc;
}

static const msgpack_object *find_key(const msgpack_object_map *m,
                                      const char *key, size_t len,
                                      uint32_t *index) {
  for (uint32_t i = 0; i < m->size; i++) {
    const msgpack_object *k = &m->ptr[i].key;
    /* msgpack-c gives an empty str a NULL pointer: never pass it on. */
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
        (len == 0 || memcmp(k->via.str.ptr, key, len) == 0)) {
      *index = i;
      return &m->ptr[i].val;
    }
  }
  return NULL;
}

/* Pairs of "s:v" or "s?:v", looked up by key; then '*' or strictness. */
static int unpack_map(struct mpconn__walk *s, size_t at,
                      const struct mpconn__box *box, const msgpack_object *v) {
  const msgpack_object_map *m = NULL;
  if (v) {
    if (v->type != MSGPACK_OBJECT_MAP)
      return mismatch(s, at, '{', v);
    m = &v->via.map;
  }
  /* Without '*', every entry must be matched by some key. */
  bool strict = m && !box->rest;
  uint64_t seen_inline[SEEN_INLINE / 64] = {0};
  uint64_t *seen = seen_inline;
  if (strict && m->size > SEEN_INLINE) {
    seen = calloc((m->size + 63) / 64, sizeof(*seen));
    if (!seen)
      return mpconn__fmt_fail(s->err, MPCONN_ENOMEM, at, NULL, "out of memory");
  }
  struct mpconn__step *step = mpconn__walk_push(s, '{');
  int rc = 0;
  for (uint32_t i = 0; i < box->n && !rc; i++) {
    size_t key_at;
    mpconn__walk_next(s, &key_at);
    bool optional = mpconn__walk_accept(s, '?');
    const char *key = va_arg(s->ap, const char *);
    if (!key) {
      mpconn__walk_pop(s);
      rc = null_arg(s, key_at);
      break;
    }
    size_t len = strlen(key);
    step->index = i;
    step->key = (msgpack_object){.type = MSGPACK_OBJECT_STR};
    step->key.via.str.ptr = key;
    step->key.via.str.size = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    const msgpack_object *val = NULL;
    uint32_t index;
    if (m && (val = find_key(m, key, len, &index)) && strict)
      seen[index / 64] |= (uint64_t)1 << (index % 64);
    if (m && !val && !optional) {
      rc = mpconn__walk_fail(s, MPCONN_EUNPACK, key_at, "missing key at %s",
                             mpconn__walk_path(s));
      break;
    }
    rc = unpack_item(s, val);
  }
  if (!rc && box->rest) {
    mpconn__walk_close(s); /* the '*' */
  } else if (!rc && strict) {
    size_t close_at = mpconn__walk_here(s);
    for (uint32_t i = 0; i < m->size; i++) {
      if (seen[i / 64] & ((uint64_t)1 << (i % 64)))
        continue;
      step->key = m->ptr[i].key;
      rc = mpconn__walk_fail(s, MPCONN_EUNPACK, close_at,
                             "unexpected key at %s", mpconn__walk_path(s));
      break;
    }
  }
  if (seen != seen_inline)
    free(seen);
  if (rc < 0)
    return rc;
  mpconn__walk_pop(s);
  mpconn__walk_close(s);
  return 0;
}

/* Fetch a pointer argument; NULL is a caller's mistake, never a skip. */
#define TARGET(type, var)                                                      \
  type var = va_arg(s->ap, type);                                              \
  if (!var)                                                                    \
  return null_arg(s, at)

/* 'i', 'I' or 'U', once the target is fetched and @v is not NULL. */
static int int_range(struct mpconn__walk *s, size_t at, char c,
                     const msgpack_object *v) {
  bool pos = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
  if (!pos && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
    return mismatch(s, at, c, v);
  bool fits = c == 'i'   ? (pos ? v->via.u64 <= INT_MAX : v->via.i64 >= INT_MIN)
              : c == 'I' ? !pos || v->via.u64 <= INT64_MAX
                         : pos;
  return fits ? 0 : out_of_range(s, at, c, v);
}

static int unpack_int(struct mpconn__walk *s, size_t at, char c,
                      const msgpack_object *v) {
  int rc;
  if (c == 'i') {
    TARGET(int *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      *out = (int)v->via.i64;
  } else if (c == 'I') {
    TARGET(int64_t *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      *out = v->via.i64;
  } else {
    TARGET(uint64_t *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      *out = v->via.u64;
  }
  return v ? rc : 0;
}

/* 's', 's#' or 'y#'. */
static int unpack_string(struct mpconn__walk *s, size_t at, char c,
                         const msgpack_object *v) {
  msgpack_object_type want = c == 's' ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN;
  if (mpconn__walk_accept(s, '#')) {
    TARGET(const char **, ptr);
    TARGET(size_t *, len);
    if (!v)
      return 0;
    if (v->type != want)
      return mismatch(s, at, c, v);
    /* str and bin share a layout in msgpack-c. */
    *len = c == 's' ? v->via.str.size : v->via.bin.size;
    *ptr = *len == 0 ? "" : c == 's' ? v->via.str.ptr : v->via.bin.ptr;
    return 0;
  }
  TARGET(char *, buf);
  size_t size = va_arg(s->ap, size_t);
  if (!v)
    return 0;
  if (v->type != want)
    return mismatch(s, at, c, v);
  size_t len = v->via.str.size;
  if (len && memchr(v->via.str.ptr, '\0', len))
    return mpconn__walk_fail(s, MPCONN_EUNPACK, at,
                             "str at %s holds a NUL byte; use s#",
                             mpconn__walk_path(s));
  if (len >= size)
    return mpconn__walk_fail(
        s, MPCONN_EUNPACK, at,
        "str at %s needs %zu bytes with its NUL, the buffer has %zu",
        mpconn__walk_path(s), len + 1, size);
  if (len)
    memcpy(buf, v->via.str.ptr, len);
  buf[len] = '\0';
  return 0;
}

static int unpack_item(struct mpconn__walk *s, const msgpack_object *v) {
  size_t at;
  char c = mpconn__walk_next(s, &at);
  switch (c) {
  case 'n':
    if (v && v->type != MSGPACK_OBJECT_NIL)
      return mismatch(s, at, c, v);
    return 0;
  case 'b': {
    TARGET(bool *, out);
    if (!v)
      return 0;
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
      return mismatch(s, at, c, v);
    *out = v->via.boolean;
    return 0;
  }
  case 'i':
  case 'I':
  case 'U':
    return unpack_int(s, at, c, v);
  case 'f': {
    TARGET(double *, out);
    if (!v)
      return 0;
    /* msgpack-c widens a float 32 into f64 as it decodes. */
    if (v->type != MSGPACK_OBJECT_FLOAT32 && v->type != MSGPACK_OBJECT_FLOAT64)
      return mismatch(s, at, c, v);
    *out = v->via.f64;
    return 0;
  }
  case 's':
  case 'y':
    return unpack_string(s, at, c, v);
  case 'O': {
    TARGET(msgpack_object *, out);
    if (v)
      *out = *v;
    return 0;
  }
  case '[': {
    const struct mpconn__box *box = mpconn__walk_box(s);
    if (v && v->type != MSGPACK_OBJECT_ARRAY)
      return mismatch(s, at, c, v);
    return unpack_items(s, '[', at, box, v ? &v->via.array : NULL);
  }
  case '{':
    return unpack_map(s, at, mpconn__walk_box(s), v);
  default: /* '<', the only one the syntax pass leaves */
    return unpack_set(s, at, mpconn__walk_box(s), v);
  }
}
#undef TARGET

int mpconn_vunpackf(const msgpack_object *v, mpconn_error *err, const char *fmt,
                    va_list ap) {
  if (!v || !fmt)
    return mpconn__fmt_fail(err, MPCONN_EINVAL, 0, NULL,
                            "no value or no format");
  struct mpconn__walk w;
  int rc = mpconn__walk_start(&w, fmt, true, err, ap);
  if (rc < 0)
    return rc;
  rc = unpack_item(&w, v);
  mpconn__walk_end(&w);
  return rc;
}

int mpconn_unpackf(const msgpack_object *v, mpconn_error *err, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vunpackf(v, err, fmt, ap);
  va_end(ap);
  return rc;
}
