/* SPDX-License-Identifier: MIT */
/*
 * print_value() prints a received value the way Python's print() prints the
 * object it stands for: a str as it is, anything else as its repr, e.g.
 * ['spam', 42, 'eggs'] or {'name': 'bob', 'spam': 42}.  Shared by the
 * examples; every function is static.
 *
 * Where Python's output depends on more than the value, the choice made here:
 * - A set's members are printed sorted (numbers, then str, then bytes), so
 *   the output is the same on every run; Python prints them in hash order,
 *   which changes from run to run.  A frozenset prints as a set.
 * - An array prints as a list, also when the sender sent a tuple.
 * - Non-ASCII characters of a str are copied as they are (UTF-8); Python
 *   would escape the few that are not printable.
 */
#ifndef PRINT_VALUE_H
#define PRINT_VALUE_H

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

static int print_repr(FILE *f, const msgpack_object *v);

/* A str or bytes literal: Python quotes with ' unless only " avoids
 * escaping, and escapes the quote, the backslash and control bytes. */
static void print_quoted(FILE *f, const char *p, size_t n, bool bytes) {
  /* msgpack-c gives an empty str a NULL pointer: no mem*() call on it. */
  bool single = n && memchr(p, '\'', n), dbl = n && memchr(p, '"', n);
  char quote = single && !dbl ? '"' : '\'';
  fputs(bytes ? "b" : "", f);
  fputc(quote, f);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == quote || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch == '\n' || ch == '\r' || ch == '\t')
      fprintf(f, "\\%c", ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't');
    else if (ch < 0x20 || ch == 0x7f || (bytes && ch > 0x7f))
      fprintf(f, "\\x%02x", ch);
    else
      fputc(ch, f);
  }
  fputc(quote, f);
}

/* Python's repr(float): the fewest digits that read back as the same
 * double, positional when the exponent is in [-4, 16). */
static void print_float(FILE *f, double d) {
  if (isnan(d) || isinf(d)) {
    fputs(isnan(d) ? "nan" : d < 0 ? "-inf" : "inf", f);
    return;
  }
  char buf[40];
  int digits = 1;
  for (; digits < 17; digits++) {
    snprintf(buf, sizeof(buf), "%.*e", digits - 1, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  snprintf(buf, sizeof(buf), "%.*e", digits - 1, d);
  int exp = atoi(strchr(buf, 'e') + 1);
  if (exp < -4 || exp >= 16) {
    fputs(buf, f);
    return;
  }
  int decimals = digits - 1 - exp > 0 ? digits - 1 - exp : 0;
  fprintf(f, "%.*f%s", decimals, d, decimals ? "" : ".0");
}

/* Rank of a type in a sorted set: numbers first, then str, then bytes. */
static int type_rank(const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_BOOLEAN:
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return 0;
  case MSGPACK_OBJECT_STR:
    return 1;
  case MSGPACK_OBJECT_BIN:
    return 2;
  default:
    return 3;
  }
}

static double as_double(const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_BOOLEAN:
    return v->via.boolean;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    return (double)v->via.u64;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return (double)v->via.i64;
  default:
    return v->via.f64;
  }
}

/* qsort() order of set members; members Python could not compare with
 * the others (None, tuples, ...) come last, in no particular order. */
static int compare_members(const void *pa, const void *pb) {
  const msgpack_object *a = pa, *b = pb;
  int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb)
    return ra < rb ? -1 : 1;
  if (ra == 0) {
    double x = as_double(a), y = as_double(b);
    return (x > y) - (x < y);
  }
  if (ra == 3)
    return 0;
  /* str and bin bodies share the layout; UTF-8 byte order is code point
   * order, which is Python's str order. */
  size_t na = a->via.str.size, nb = b->via.str.size;
  int c =
      na && nb ? memcmp(a->via.str.ptr, b->via.str.ptr, na < nb ? na : nb) : 0;
  return c ? c : (na > nb) - (na < nb);
}

/* A set, its members sorted (see above); @members itself is not changed. */
static int print_set(FILE *f, const msgpack_object_array *members) {
  uint32_t n = members->size;
  if (n == 0) {
    fputs("set()", f);
    return 0;
  }
  msgpack_object *sorted = malloc(n * sizeof(*sorted));
  if (!sorted)
    return MPCONN_ENOMEM;
  memcpy(sorted, members->ptr, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), compare_members);
  int rc = 0;
  fputc('{', f);
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    fputs(i ? ", " : "", f);
    rc = print_repr(f, &sorted[i]);
  }
  fputc('}', f);
  free(sorted);
  return rc;
}

static int print_ext(FILE *f, const msgpack_object *v) {
  if (v->via.ext.type != MPCONN_EXT_SET) {
    /* What msgpack-python's ExtType prints. */
    fprintf(f, "ExtType(code=%d, data=", v->via.ext.type);
    print_quoted(f, v->via.ext.ptr, v->via.ext.size, true);
    fputc(')', f);
    return 0;
  }
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, 1024))
    return MPCONN_ENOMEM;
  msgpack_object_array members;
  int rc = mpconn_set_unpack(v, &zone, &members);
  if (rc == 0)
    rc = print_set(f, &members);
  msgpack_zone_destroy(&zone);
  return rc;
}

/* Python's repr() of the value; 0 or a negative code (a malformed set). */
static int print_repr(FILE *f, const msgpack_object *v) {
  int rc = 0;
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    fputs("None", f);
    break;
  case MSGPACK_OBJECT_BOOLEAN:
    fputs(v->via.boolean ? "True" : "False", f);
    break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    fprintf(f, "%" PRIu64, v->via.u64);
    break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    fprintf(f, "%" PRId64, v->via.i64);
    break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    print_float(f, v->via.f64);
    break;
  case MSGPACK_OBJECT_STR:
    print_quoted(f, v->via.str.ptr, v->via.str.size, false);
    break;
  case MSGPACK_OBJECT_BIN:
    print_quoted(f, v->via.bin.ptr, v->via.bin.size, true);
    break;
  case MSGPACK_OBJECT_ARRAY:
    fputc('[', f);
    for (uint32_t i = 0; rc == 0 && i < v->via.array.size; i++) {
      fputs(i ? ", " : "", f);
      rc = print_repr(f, &v->via.array.ptr[i]);
    }
    fputc(']', f);
    break;
  case MSGPACK_OBJECT_MAP:
    fputc('{', f);
    for (uint32_t i = 0; rc == 0 && i < v->via.map.size; i++) {
      fputs(i ? ", " : "", f);
      rc = print_repr(f, &v->via.map.ptr[i].key);
      fputs(": ", f);
      if (rc == 0)
        rc = print_repr(f, &v->via.map.ptr[i].val);
    }
    fputc('}', f);
    break;
  case MSGPACK_OBJECT_EXT:
    rc = print_ext(f, v);
    break;
  }
  return rc;
}

/* print(value): a str as it is, anything else as its repr; then a newline.
 * Return: 0, or a negative code for a set that cannot be decoded. */
static int print_value(FILE *f, const msgpack_object *v) {
  int rc = 0;
  if (v->type != MSGPACK_OBJECT_STR)
    rc = print_repr(f, v);
  else if (v->via.str.size)
    fwrite(v->via.str.ptr, 1, v->via.str.size, f);
  fputc('\n', f);
  return rc;
}

#endif /* PRINT_VALUE_H */
