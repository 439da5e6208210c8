/* SPDX-License-Identifier: MIT */
/*
 * The C side of test_shared.py: named arrays shared with Python's
 * multiprocessing.shared_memory.SharedMemory.
 *
 *   shared-peer create NAME CODE LENGTH
 *       Create the array (with its lock), fill it with C's pattern, print
 *       "ready", wait for a line on standard input, then check that every
 *       element holds Python's pattern, that the lock still works, and
 *       unlink the name (which must still exist).
 *   shared-peer open NAME CODE LENGTH
 *       Open an object Python created: it has no mpconn lock; check
 *       Python's pattern, then write C's.
 *   shared-peer trap NAME
 *       Create an 'i' array of 4, print "ready", wait for a line, then
 *       print "present" or "gone" for the name, check that this process's
 *       mapping still works, and print what unlinking returned.
 *
 * The pattern is that of test_shared.py: element i of side 0 (C) or 1
 * (Python).  Exit status 0 when every check passed, 1 otherwise (the
 * reason on standard error), 2 for bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "shared-peer: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

static bool is_signed(char code) { return strchr("bhilq", code) != NULL; }

/* Element @i of side @side's pattern, for integer codes and 'c': its bits
 * (two's complement for signed codes). */
static uint64_t int_pattern(char code, size_t i, int side) {
  unsigned bits = 8 * (unsigned)mpconn_typecode_size(code);
  uint64_t mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
  uint64_t raw = (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15) +
                 (uint64_t)side * UINT64_C(0x632BE59BD9B4E019) +
                 UINT64_C(0x0123456789ABCDEF);
  /* The extremes first: minimum and maximum, in each side's order. */
  if (i < 2 && code != 'c') {
    bool want_min = (i == 0) == (side == 0);
    if (is_signed(code))
      return want_min ? (UINT64_C(1) << (bits - 1)) & mask : mask >> 1;
    return want_min ? 0 : mask;
  }
  return raw & mask;
}

static double float_pattern(char code, size_t i, int side) {
  if (code == 'f')
    return (double)((int)(i % 32) - 16) * 0.375 + side * 1000.5;
  return (double)((int)(i % 97) - 48) * 0.001 + side * 12345.678;
}

/* The pattern's element as a signed value, for set_int/get_int. */
static int64_t as_signed(char code, uint64_t bits) {
  unsigned n = 8 * (unsigned)mpconn_typecode_size(code);
  if (!is_signed(code) || n == 64)
    return (int64_t)bits;
  return (bits >> (n - 1)) ? (int64_t)(bits | ~((UINT64_C(1) << n) - 1))
                           : (int64_t)bits;
}

static int fill(mpconn_array *a, int side) {
  char code = mpconn_array_typecode(a);
  for (size_t i = 0; i < mpconn_array_length(a); i++) {
    int rc;
    if (code == 'f' || code == 'd')
      rc = mpconn_array_set_double(a, i, float_pattern(code, i, side));
    else if (is_signed(code))
      rc = mpconn_array_set_int(a, i,
                                as_signed(code, int_pattern(code, i, side)));
    else
      rc = mpconn_array_set_uint(a, i, int_pattern(code, i, side));
    if (rc < 0)
      return fail("set element %zu: %s", i, mpconn_err_name(rc));
  }
  return 0;
}

static int check(const mpconn_array *a, int side) {
  char code = mpconn_array_typecode(a);
  for (size_t i = 0; i < mpconn_array_length(a); i++) {
    if (code == 'f' || code == 'd') {
      double got;
      mpconn_array_get_double(a, i, &got);
      double want = float_pattern(code, i, side);
      if (code == 'f')
        want = (float)want;
      if (got != want)
        return fail("'%c' element %zu is %.17g, not %.17g", code, i, got, want);
    } else if (is_signed(code)) {
      int64_t got;
      mpconn_array_get_int(a, i, &got);
      int64_t want = as_signed(code, int_pattern(code, i, side));
      if (got != want)
        return fail("'%c' element %zu is %" PRId64 ", not %" PRId64, code, i,
                    got, want);
    } else {
      uint64_t got;
      mpconn_array_get_uint(a, i, &got);
      if (got != int_pattern(code, i, side))
        return fail("'%c' element %zu is %" PRIu64 ", not %" PRIu64, code, i,
                    got, int_pattern(code, i, side));
    }
  }
  return 0;
}

/* Wait for Python's line on standard input. */
static int wait_line(void) {
  char line[64];
  if (!fgets(line, sizeof(line), stdin))
    return fail("no line on standard input");
  return 0;
}

static int create(const char *name, char code, size_t len) {
  mpconn_array *a;
  int rc = mpconn_array_create(&a, name, code, len, 0);
  if (rc < 0)
    return fail("create: %s", mpconn_err_name(rc));
  if ((rc = fill(a, 0)) != 0)
    goto out;
  printf("ready\n");
  fflush(stdout);
  if ((rc = wait_line()) != 0 || (rc = check(a, 1)) != 0)
    goto out;
  mpconn_rlock *l = mpconn_array_get_lock(a);
  if (!l || mpconn_rlock_acquire(l, 0) != 0 || mpconn_rlock_release(l) != 0) {
    rc = fail("the lock does not work");
    goto out;
  }
  int u = mpconn_shm_unlink(name);
  if (u != 0)
    rc = fail("unlink: %s", mpconn_err_name(u));
out:
  mpconn_array_free(a);
  return rc;
}

static int open_python(const char *name, char code, size_t len) {
  mpconn_array *a;
  int rc = mpconn_array_open(&a, name, code, len, 0);
  if (rc < 0)
    return fail("open: %s", mpconn_err_name(rc));
  if (mpconn_array_get_lock(a))
    rc = fail("a lock where Python made none");
  if (rc == 0)
    rc = check(a, 1);
  if (rc == 0)
    rc = fill(a, 0);
  mpconn_array_free(a);
  return rc;
}

static int trap(const char *name) {
  mpconn_array *a, *b;
  int rc = mpconn_array_create(&a, name, 'i', 4, 0);
  if (rc < 0)
    return fail("create: %s", mpconn_err_name(rc));
  printf("ready\n");
  fflush(stdout);
  if ((rc = wait_line()) != 0)
    goto out;
  int o = mpconn_array_open(&b, name, 'i', 4, 0);
  if (o == 0)
    mpconn_array_free(b);
  printf("%s\n", o == 0 ? "present" : o == -ENOENT ? "gone" : "error");
  int64_t v = 0;
  if (mpconn_array_set_int(a, 3, 77) != 0 ||
      mpconn_array_get_int(a, 3, &v) != 0 || v != 77)
    rc = fail("the mapping no longer works");
  int u = mpconn_shm_unlink(name);
  printf("unlink %s\n", u == 0 ? "0" : mpconn_err_name(u));
out:
  mpconn_array_free(a);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 5 && strlen(argv[3]) == 1) {
    char *end;
    size_t len = strtoul(argv[4], &end, 10);
    if (strcmp(argv[1], "create") == 0)
      return create(argv[2], argv[3][0], len);
    if (strcmp(argv[1], "open") == 0)
      return open_python(argv[2], argv[3][0], len);
  }
  if (argc == 3 && strcmp(argv[1], "trap") == 0)
    return trap(argv[2]);
  fprintf(stderr, "usage: shared-peer create|open NAME CODE LENGTH\n"
                  "       shared-peer trap NAME\n");
  return 2;
}
