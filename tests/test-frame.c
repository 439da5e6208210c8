/* SPDX-License-Identifier: MIT */
/* The wire format and the receive state machine (lib/frame.c). */
#include "test-util.h"

#include <pthread.h>

#include "mpconn-private.h"

static void test_header_encode(void **state) {
  (void)state;
  uint8_t h[MPCONN_HEADER_MAX];
  assert_int_equal(mpconn__header_encode(h, 0), 4);
  assert_memory_equal(h, "\x00\x00\x00\x00", 4);
  assert_int_equal(mpconn__header_encode(h, 0x01020304), 4);
  assert_memory_equal(h, "\x01\x02\x03\x04", 4);
  assert_int_equal(mpconn__header_encode(h, 0x7fffffff), 4);
  assert_memory_equal(h, "\x7f\xff\xff\xff", 4);
  assert_int_equal(mpconn__header_encode(h, 0x80000000u), 12);
  assert_memory_equal(h, "\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00",
                      12);
  assert_int_equal(mpconn__header_encode(h, 0x0102030405060708ull), 12);
  assert_memory_equal(h, "\xff\xff\xff\xff\x01\x02\x03\x04\x05\x06\x07\x08",
                      12);
}

/* Exact bytes on the wire for frames sent through a pipe. */
static void test_send_wire_bytes(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  mpconn *w;
  assert_int_equal(mpconn_from_fds(&w, -1, fds[1]), 0);
  assert_int_equal(mpconn_send_bytes(w, "hello", 5), 0);
  assert_int_equal(mpconn_send_bytes(w, NULL, 0), 0);
  mpconn_free(w);
  uint8_t buf[64];
  ssize_t n = read(fds[0], buf, sizeof(buf));
  assert_int_equal(n, 13);
  assert_memory_equal(buf, "\x00\x00\x00\x05hello\x00\x00\x00\x00", 13);
  close(fds[0]);
}

/* CPython's 64-bit header form is accepted for any length. */
static void test_long_header(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  raw_write(wfd,
            "\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x03"
            "abc",
            15);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   0);
  assert_int_equal(len, 3);
  assert_memory_equal(data, "abc", 3);
  free(data);
  close(wfd);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_EOF);
  mpconn_free(c);
}

/* A negative length other than -1 is malformed, and stays so. */
static void test_bad_negative_length_sticky(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  raw_write(wfd,
            "\xff\xff\xff\xfe"
            "abcd"
            "\x00\x00\x00\x01z",
            13);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_EBADFRAME);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_EBADFRAME);
  assert_int_equal(mpconn_poll(c, 0), 1);
  close(wfd);
  mpconn_free(c);
}

/* Oversized headers fail before any payload is read or allocated. */
static void test_too_big_from_header(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  /* 2^62 bytes announced, no payload follows: only the header decides. */
  raw_write(wfd, "\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00", 12);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_ETOOBIG);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_ETOOBIG);
  close(wfd);
  mpconn_free(c);

  c = raw_reader(&wfd);
  assert_int_equal(mpconn_set_max_size(c, 10), 0);
  assert_int_equal(mpconn_get_max_size(c), 10);
  raw_write(wfd,
            "\x00\x00\x00\x0a"
            "0123456789"
            "\x00\x00\x00\x0b",
            18);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   0);
  assert_int_equal(len, 10);
  free(data);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   MPCONN_ETOOBIG);
  close(wfd);
  mpconn_free(c);

  /* With no limit, an impossible size allocates nothing up front (that
   * would fail: MPCONN_ENOMEM): the receive waits for the bytes. */
  c = raw_reader(&wfd);
  assert_int_equal(mpconn_set_max_size(c, MPCONN_UNLIMITED), 0);
  raw_write(wfd, "\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00", 12);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 100),
                   MPCONN_ETIMEDOUT);
  close(wfd);
  mpconn_free(c);
}

static void expect_end(const char *bytes, size_t n, int want) {
  int wfd;
  mpconn *c = raw_reader(&wfd);
  if (n)
    raw_write(wfd, bytes, n);
  close(wfd);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   want);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 1000),
                   want);
  mpconn_free(c);
}

/* EOF at a frame boundary differs from EOF inside a frame. */
static void test_eof_kinds(void **state) {
  (void)state;
  expect_end("", 0, MPCONN_EOF);
  expect_end("\x00\x00", 2, MPCONN_ETRUNCATED);
  expect_end("\xff\xff\xff\xff\x00\x00", 6, MPCONN_ETRUNCATED);
  expect_end("\x00\x00\x00\x05"
             "abc",
             7, MPCONN_ETRUNCATED);
  /* A big frame cut short is truncated too. */
  size_t n = 100000;
  uint8_t *big = calloc(1, n);
  assert_non_null(big);
  memcpy(big, "\x00\x01\x86\xa0", 4); /* announces 100000, carries less */
  expect_end((const char *)big, n, MPCONN_ETRUNCATED);
  free(big);
}

struct writer_args {
  int fd;
  const size_t *sizes;
  size_t count;
  size_t step; /* write in pieces of this size */
};

static void *writer(void *arg) {
  struct writer_args *a = arg;
  for (size_t i = 0; i < a->count; i++) {
    size_t len = a->sizes[i];
    uint8_t *p = malloc(len + 4);
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    for (size_t j = 0; j < len; j++)
      p[4 + j] = pattern(i, j);
    for (size_t off = 0; off < len + 4; off += a->step) {
      size_t k = len + 4 - off < a->step ? len + 4 - off : a->step;
      raw_write(a->fd, p + off, k);
    }
    free(p);
  }
  close(a->fd);
  return NULL;
}

/* Frames of every size, split anyhow, arrive whole and in order. */
static void run_stream(const size_t *sizes, size_t count, size_t step) {
  int wfd;
  mpconn *c = raw_reader(&wfd);
  struct writer_args a = {wfd, sizes, count, step};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer, &a), 0);
  for (size_t i = 0; i < count; i++)
    expect_pattern(c, i, sizes[i]);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 5000),
                   MPCONN_EOF);
  pthread_join(t, NULL);
  mpconn_free(c);
}

static void test_sizes_around_chunk(void **state) {
  (void)state;
  const size_t sizes[] = {0,     1,     16384, 16385,   65531, 65532,  65533,
                          65536, 70000, 0,     1 << 20, 3,     200000, 1};
  size_t n = sizeof(sizes) / sizeof(sizes[0]);
  run_stream(sizes, n, SIZE_MAX);
  run_stream(sizes, n, 4093);
}

static void test_random_stream(void **state) {
  (void)state;
  size_t sizes[600];
  uint32_t x = 12345;
  for (size_t i = 0; i < 600; i++) {
    x = x * 1103515245u + 12345u;
    size_t r = (x >> 8) % 100;
    sizes[i] = r < 70   ? (x >> 4) % 64
               : r < 95 ? (x >> 4) % 9000
                        : (x >> 4) % 300000;
  }
  run_stream(sizes, 600, SIZE_MAX);
  run_stream(sizes, 200, 7);
}

struct half_writer {
  int fd;
  const uint8_t *frame;
  size_t len, half;
  int go; /* read end of a pipe: one byte means "write the rest" */
};

static void *write_halves(void *arg) {
  struct half_writer *h = arg;
  raw_write(h->fd, h->frame, h->half);
  char b;
  while (read(h->go, &b, 1) < 0 && errno == EINTR)
    ;
  raw_write(h->fd, h->frame + h->half, h->len - h->half);
  return NULL;
}

/* A timeout inside a frame loses nothing: the next receive completes it. */
static void test_timeout_resumes(void **state) {
  (void)state;
  const size_t lens[] = {10, 1 << 20};
  for (int k = 0; k < 2; k++) {
    size_t len = lens[k];
    int wfd, go[2];
    mpconn *c = raw_reader(&wfd);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    uint8_t *frame = malloc(len + 4);
    assert_non_null(frame);
    uint8_t hdr[MPCONN_HEADER_MAX];
    assert_int_equal(mpconn__header_encode(hdr, len), 4);
    memcpy(frame, hdr, 4);
    for (size_t j = 0; j < len; j++)
      frame[4 + j] = pattern(k, j);
    struct half_writer h = {wfd, frame, len + 4, (len + 4) / 2, go[0]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_halves, &h), 0);
    void *data;
    size_t got;
    assert_int_equal(mpconn_recv_bytes(c, &data, &got, MPCONN_UNLIMITED, 200),
                     MPCONN_ETIMEDOUT);
    assert_int_equal(mpconn_poll(c, 0), 0);
    raw_write(go[1], "g", 1);
    expect_pattern(c, k, len);
    pthread_join(t, NULL);
    close(wfd);
    close(go[0]);
    close(go[1]);
    free(frame);
    mpconn_free(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_encode),
      cmocka_unit_test(test_send_wire_bytes),
      cmocka_unit_test(test_long_header),
      cmocka_unit_test(test_bad_negative_length_sticky),
      cmocka_unit_test(test_too_big_from_header),
      cmocka_unit_test(test_eof_kinds),
      cmocka_unit_test(test_sizes_around_chunk),
      cmocka_unit_test(test_random_stream),
      cmocka_unit_test(test_timeout_resumes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
