/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets.  Each target defines LLVMFuzzerTestOneInput();
 * it is linked either with libFuzzer (-Dfuzzing=true, clang) or with
 * replay.c, which runs the files of its corpus through it once each.
 *
 * A broken invariant aborts with a message: libFuzzer reports it as a crash
 * and keeps the input; the replay test fails.
 */
#ifndef MPCONN_FUZZ_H
#define MPCONN_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* FUZZ_CHECK() that also prints the code that was returned. */
#define FUZZ_CHECK_RC(cond, rc)                                                \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s (rc %d, %s)\n", __FILE__,   \
              __LINE__, #cond, (int)(rc), mpconn_err_name((int)(rc)));         \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* @n bytes at @p as the source of a message (lib/value.h). */
struct fuzz_src {
  struct mpconn__src s;
  const uint8_t *p;
  bool committed;
};

static inline void fuzz_copy(struct mpconn__src *s, uint8_t *dst) {
  if (s->len)
    memcpy(dst, ((struct fuzz_src *)s)->p, s->len);
}

static inline void fuzz_commit(struct mpconn__src *s) {
  ((struct fuzz_src *)s)->committed = true;
}

/*
 * A message made from the @n bytes at @p by mpconn__msg_build(), the
 * function mpconn_recv() and mpconn_queue_get() run: the bytes are copied
 * into the message, as a frame in a connection's chunk buffer or a queue
 * is, or, with @lend, handed over in an allocation of their own, as a
 * large frame is.  Return: as mpconn__msg_build().
 */
static inline int fuzz_msg(const uint8_t *p, size_t n, bool lend,
                           mpconn_msg **m) {
  struct fuzz_src src = {
      .s = {.len = n, .hlen = 4, .max_tree = SIZE_MAX, .copy = fuzz_copy,
            .commit = fuzz_commit},
      .p = p,
  };
  if (lend) {
    src.s.lent = malloc(n ? n : 1);
    FUZZ_CHECK(src.s.lent);
    if (n)
      memcpy(src.s.lent, p, n);
  }
  int rc = mpconn__msg_build(m, &src.s);
  /* The message owns a lent payload from commit() on, also on failure. */
  FUZZ_CHECK(src.committed == (rc != MPCONN_ENOMEM));
  if (!src.committed)
    free(src.s.lent);
  return rc;
}

#endif
