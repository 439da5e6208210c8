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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
