/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

/* Write all of buf to a raw descriptor. */
static inline void raw_write(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* A raw pipe whose read end is wrapped: tests write exact bytes into *wfd. */
static inline mpconn *raw_reader(int *wfd) {
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  /* Room for a test to write a whole large frame before reading it. */
  assert_true(fcntl(fds[1], F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024);
  mpconn *c;
  assert_int_equal(mpconn_from_fds(&c, fds[0], -1), 0);
  *wfd = fds[1];
  return c;
}

/* Deterministic content: byte i of message `seed`. */
static inline uint8_t pattern(size_t seed, size_t i) {
  return (uint8_t)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

/* Skip a test that sets RLIMIT_NOFILE when it runs under valgrind (the
 * valgrind test setup says so), which refuses to change that limit. */
#define SKIP_UNDER_VALGRIND()                                                  \
  do {                                                                         \
    if (getenv("MPCONN_TEST_VALGRIND")) {                                      \
      printf("skipped: valgrind does not let a program set RLIMIT_NOFILE\n");  \
      skip();                                                                  \
    }                                                                          \
  } while (0)

static inline uint8_t *pattern_buf(size_t seed, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  assert_non_null(p);
  for (size_t i = 0; i < len; i++)
    p[i] = pattern(seed, i);
  return p;
}

/* Receive one message and check it is exactly pattern(seed, len). */
static inline void expect_pattern(mpconn *c, size_t seed, size_t len) {
  void *data;
  size_t got;
  assert_int_equal(mpconn_recv_bytes(c, &data, &got, MPCONN_UNLIMITED, 5000),
                   0);
  assert_int_equal(got, len);
  uint8_t *want = pattern_buf(seed, len);
  if (len)
    assert_memory_equal(data, want, len);
  free(want);
  free(data);
}

/* Parse hex such as "dd ff 00" into out; anything but hex digits is
 * ignored.  The number of bytes. */
static inline size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    int v;
    if (*s >= '0' && *s <= '9')
      v = *s - '0';
    else if (*s >= 'a' && *s <= 'f')
      v = *s - 'a' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      assert_true(n < cap);
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  assert_int_equal(hi, -1);
  return n;
}

/*
 * The connection suites run twice: over a socketpair, and with
 * MPCONN_TEST_RING set in the environment over a ring pair
 * (mpconn_pipe_ex(..., MPCONN_PIPE_RING)), whose frames travel through
 * shared memory.  Everything they check through the API must hold for
 * both.
 */
static inline bool ring_mode(void) {
  const char *v = getenv("MPCONN_TEST_RING");
  return v && *v && strcmp(v, "0") != 0;
}

/* A duplex pair, over a socketpair or a ring pair as ring_mode() says. */
static inline int make_test_pair(mpconn **a, mpconn **b) {
  return ring_mode() ? mpconn_pipe_ex(a, b, MPCONN_PIPE_RING, 0)
                     : mpconn_pipe(a, b, true);
}

/* A test that reads or writes a pair's socket by hand, or passes
 * descriptors over it, has nothing to check over a ring pair. */
#define SOCKET_ONLY()                                                          \
  do {                                                                         \
    if (ring_mode()) {                                                         \
      printf("skipped over a ring pair: it uses the socket itself\n");         \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* Fixture: a duplex pair in *state as mpconn *[2]. */
static inline int pair_setup(void **state) {
  mpconn **pair = calloc(2, sizeof(*pair));
  if (!pair || make_test_pair(&pair[0], &pair[1]) < 0)
    return -1;
  *state = pair;
  return 0;
}

static inline int pair_teardown(void **state) {
  mpconn **pair = *state;
  mpconn_free(pair[0]);
  mpconn_free(pair[1]);
  free(pair);
  return 0;
}

/* The descriptors this process has open: equal before and after a call
 * that must not leak any. */
static inline int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

/*
 * The fixture of the tests of packing and unpacking: a buffer with a
 * packer writing into it, a zone and an unpacked value for decoding, and
 * an error for the format functions.
 */
struct pack_fixture {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_zone zone;
  msgpack_unpacked u;
  mpconn_error err;
};

static inline int pack_setup(void **state) {
  struct pack_fixture *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  msgpack_sbuffer_init(&f->sb);
  msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
  msgpack_unpacked_init(&f->u);
  if (!msgpack_zone_init(&f->zone, MSGPACK_ZONE_CHUNK_SIZE)) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static inline int pack_teardown(void **state) {
  struct pack_fixture *f = *state;
  msgpack_unpacked_destroy(&f->u);
  msgpack_sbuffer_destroy(&f->sb);
  msgpack_zone_destroy(&f->zone);
  free(f);
  return 0;
}

#endif
