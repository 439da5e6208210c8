/* SPDX-License-Identifier: MIT */
/* The send side (lib/send.c): frames written at once, or corked. */
#include "test-util.h"

#include <poll.h>
#include <pthread.h>

/* Receive one frame: exactly @len bytes @want. */
static void expect_pattern_bytes(mpconn *c, const char *want, size_t len) {
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, 1000), 0);
  assert_int_equal(n, len);
  assert_memory_equal(d, want, len);
  free(d);
}

/* Read whatever raw bytes the socket holds now. */
static size_t raw_available(mpconn *c, uint8_t *buf, size_t size) {
  ssize_t n = recv(mpconn_fileno(c), buf, size, MSG_DONTWAIT);
  return n < 0 ? 0 : (size_t)n;
}

/* Uncorked, each send is on the wire when the call returns. */
static void test_uncorked_writes_at_once(void **state) {
  SOCKET_ONLY();
  mpconn **p = *state;
  assert_int_equal(mpconn_send_bytes(p[0], "ab", 2), 0);
  uint8_t buf[16];
  assert_int_equal(raw_available(p[1], buf, sizeof(buf)), 6);
  assert_memory_equal(buf,
                      "\x00\x00\x00\x02"
                      "ab",
                      6);
  assert_int_equal(mpconn_flush(p[0]), 0);
}

/* Corked frames wait for flush, then go in order, bytes and values mixed. */
static void test_cork_then_flush(void **state) {
  SOCKET_ONLY();
  mpconn **p = *state;
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "a", 1), 0);
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  msgpack_pack_int(pk, 7);
  assert_int_equal(mpconn_pack_end(p[0]), 0);
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  msgpack_pack_int(pk, 8);
  mpconn_pack_abort(p[0]); /* dropped; the frames before it stay */
  assert_int_equal(mpconn_send_bytes(p[0], NULL, 0), 0);
  uint8_t buf[64];
  assert_int_equal(raw_available(p[1], buf, sizeof(buf)), 0);
  assert_int_equal(mpconn_flush(p[0]), 0);
  assert_int_equal(raw_available(p[1], buf, sizeof(buf)), 14);
  assert_memory_equal(buf,
                      "\x00\x00\x00\x01"
                      "a"
                      "\x00\x00\x00\x01\x07"
                      "\x00\x00\x00\x00",
                      14);
  assert_int_equal(mpconn_flush(p[0]), 0);
  assert_int_equal(raw_available(p[1], buf, sizeof(buf)), 0);
}

/* 64 KiB gathered are written without a flush; large payloads are not
 * copied but still follow the frames held before them. */
static void test_cork_thresholds(void **state) {
  SOCKET_ONLY();
  mpconn **p = *state;
  assert_int_equal(mpconn_cork(p[0], true), 0);
  uint8_t *chunk = pattern_buf(1, 16384);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mpconn_send_bytes(p[0], chunk, 16384), 0);
  assert_int_equal(mpconn_poll(p[1], 0), 0);
  assert_int_equal(mpconn_send_bytes(p[0], chunk, 16384), 0);
  /* 4 * (4 + 16384) bytes >= 64 KiB: written. */
  for (int i = 0; i < 4; i++)
    expect_pattern(p[1], 1, 16384);
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), 0);
  uint8_t *big = pattern_buf(2, 50000);
  assert_int_equal(mpconn_send_bytes(p[0], big, 50000), 0);
  char ch;
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], &ch, 1, 0, &len, 1000), 0);
  assert_int_equal(ch, 'x');
  expect_pattern(p[1], 2, 50000);
  free(chunk);
  free(big);
}

static void test_uncork_flushes(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_sendf(p[0], "[s, i, s]", "spam", 42, "eggs"), 0);
  assert_int_equal(mpconn_poll(p[1], 0), 0);
  assert_int_equal(mpconn_cork(p[0], false), 0);
  uint8_t buf[32];
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, sizeof(buf), 0, &len, 0),
                   0);
  assert_int_equal(len, 12);
  assert_memory_equal(buf,
                      "\x93\xa4spam\x2a\xa4"
                      "eggs",
                      12);
}

/* Closing writes what is held: nothing is lost, then EOF. */
static void test_close_flushes(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_cork(p[0], true), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(mpconn_send_bytes(p[0], &i, sizeof(i)), 0);
  assert_int_equal(mpconn_close(p[0]), 0);
  for (int i = 0; i < 10; i++) {
    int v;
    size_t len;
    assert_int_equal(mpconn_recv_bytes_into(p[1], &v, sizeof(v), 0, &len, 0),
                     0);
    assert_int_equal(v, i);
  }
  void *d;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &len, 10, 0), MPCONN_EOF);
  assert_int_equal(mpconn_cork(p[0], false), MPCONN_ECLOSED);
  assert_int_equal(mpconn_flush(p[0]), MPCONN_ECLOSED);
}

/* A write error surfaces where the held frames are written. */
static void test_flush_reports_epipe(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), 0);
  mpconn_close(p[1]);
  assert_int_equal(mpconn_flush(p[0]), MPCONN_EPIPE);
  /* The held frame is gone with the failed write. */
  assert_int_equal(mpconn_flush(p[0]), 0);
}

/* ---- Large bodies of mpconn_send() ------------------------------------ */

/* One frame received in a thread, so that a sender may block. */
struct reader {
  mpconn *c;
  int rc;
  void *data;
  size_t len;
};

static void *read_one(void *arg) {
  struct reader *r = arg;
  r->rc = mpconn_recv_bytes(r->c, &r->data, &r->len, MPCONN_UNLIMITED, 10000);
  return NULL;
}

/* mpconn_send(@v) puts exactly msgpack_pack_object()'s bytes on the wire. */
static void send_and_expect(mpconn **p, const msgpack_object *v) {
  struct reader r = {.c = p[1]};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_one, &r), 0);
  int rc = mpconn_send(p[0], v);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(rc, 0);
  assert_int_equal(r.rc, 0);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  assert_int_equal(msgpack_pack_object(&pk, *v), 0);
  assert_int_equal(r.len, sb.size);
  assert_memory_equal(r.data, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  free(r.data);
}

static msgpack_object bin_of(const uint8_t *p, uint32_t n) {
  return (msgpack_object){.type = MSGPACK_OBJECT_BIN,
                          .via.bin = {.size = n, .ptr = (const char *)p}};
}

/*
 * Bodies of 16 KiB or more are written from the value, not copied: around
 * and between them, headers, small values and a body one byte short of the
 * threshold; str, bin and ext.  More such bodies than are noted (8) are
 * copied.  The bytes on the wire are exactly msgpack-c's in every case.
 */
static void test_send_large_bodies(void **state) {
  mpconn **p = *state;
  uint8_t *a = pattern_buf(2, 70000), *b = pattern_buf(3, 16384);
  uint8_t *c = pattern_buf(4, 16383);
  msgpack_object items[5] = {
      bin_of(a, 70000),
      {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 7},
      {.type = MSGPACK_OBJECT_STR,
       .via.str = {.size = 16384, .ptr = (const char *)b}},
      bin_of(c, 16383),
      {.type = MSGPACK_OBJECT_EXT,
       .via.ext = {.type = 5, .size = 20000, .ptr = (const char *)a}},
  };
  msgpack_object v = {.type = MSGPACK_OBJECT_ARRAY,
                      .via.array = {.size = 5, .ptr = items}};
  send_and_expect(p, &v);
  send_and_expect(p, &items[0]); /* the body alone, after a header */

  msgpack_object many[11];
  for (int i = 0; i < 11; i++)
    many[i] = bin_of(a + 1000 * i, 16384 + (uint32_t)i);
  v.via.array = (msgpack_object_array){.size = 11, .ptr = many};
  send_and_expect(p, &v);
  free(a);
  free(b);
  free(c);
}

/* Corked, a value with a large body is written at once, after the frames
 * held before it; the frames after it are held again. */
static void test_send_large_body_corked(void **state) {
  mpconn **p = *state;
  uint8_t *a = pattern_buf(5, 20000);
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "a", 1), 0);
  assert_int_equal(mpconn_poll(p[1], 0), 0);
  msgpack_object v = bin_of(a, 20000);
  assert_int_equal(mpconn_send(p[0], &v), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "b", 1), 0);
  expect_pattern_bytes(p[1], "a", 1);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(p[1], &m, 1000), 0);
  const msgpack_object *got = mpconn_msg_value(m);
  assert_int_equal(got->type, MSGPACK_OBJECT_BIN);
  assert_int_equal(got->via.bin.size, 20000);
  assert_memory_equal(got->via.bin.ptr, a, 20000);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_poll(p[1], 0), 0); /* "b" is held */
  assert_int_equal(mpconn_flush(p[0]), 0);
  expect_pattern_bytes(p[1], "b", 1);
  free(a);
}

/* The packing API copies every body: the caller may reuse its buffer
 * before mpconn_pack_end(). */
static void test_pack_copies_bodies(void **state) {
  mpconn **p = *state;
  uint8_t *a = pattern_buf(6, 20000);
  uint8_t *want = pattern_buf(6, 20000);
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  msgpack_pack_bin_with_body(pk, a, 20000);
  memset(a, 0, 20000);
  assert_int_equal(mpconn_pack_end(p[0]), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(p[1], &m, 1000), 0);
  assert_int_equal(mpconn_msg_value(m)->via.bin.size, 20000);
  assert_memory_equal(mpconn_msg_value(m)->via.bin.ptr, want, 20000);
  mpconn_msg_free(m);
  free(a);
  free(want);
}

static void test_direction_and_packing(void **state) {
  mpconn **p = *state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_cork(r, true), MPCONN_EREADONLY);
  assert_int_equal(mpconn_flush(r), MPCONN_EREADONLY);
  mpconn_free(r);
  mpconn_free(w);
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  assert_int_equal(mpconn_flush(p[0]), MPCONN_EINVAL);
  assert_int_equal(mpconn_cork(p[0], true), MPCONN_EINVAL);
  mpconn_pack_abort(p[0]);
  mpconn_pack_abort(p[0]);
  assert_int_equal(mpconn_pack_end(p[0]), MPCONN_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Send timeouts                                                            */
/* ------------------------------------------------------------------------ */

#define MSG 65536 /* bytes of each message of these tests */

/* Send message @i (MSG bytes of pattern(i)); the send's code. */
static int send_msg(mpconn *c, size_t i) {
  uint8_t *m = pattern_buf(i, MSG);
  int rc = mpconn_send_bytes(c, m, MSG);
  free(m);
  return rc;
}

/* Receive message @i on @r without blocking, flushing @w whenever the
 * message is not whole yet: the reader makes room, flushing fills it. */
static void expect_flushed(mpconn *r, mpconn *w, size_t i) {
  void *d;
  size_t n;
  int rc;
  while ((rc = mpconn_recv_bytes(r, &d, &n, MPCONN_UNLIMITED, 0)) ==
         MPCONN_ETIMEDOUT) {
    rc = mpconn_flush(w);
    assert_true(rc == 0 || rc == MPCONN_EAGAIN);
  }
  assert_int_equal(rc, 0);
  uint8_t *want = pattern_buf(i, MSG);
  assert_int_equal(n, MSG);
  assert_memory_equal(d, want, MSG);
  free(want);
  free(d);
}

/* Send messages until one is not taken; how many were.  That one returned
 * @want. */
static size_t fill(mpconn *c, int want) {
  size_t i = 0;
  int rc;
  while ((rc = send_msg(c, i)) == 0) {
    i++;
    assert_true(i < 10000);
  }
  assert_int_equal(rc, want);
  return i;
}

/*
 * Timeout 0: a peer that does not read fills the socket, then the send
 * buffer up to its cap; the send that would pass the cap returns
 * MPCONN_EAGAIN having taken nothing.  When the peer reads later, it gets
 * every message taken, whole and in order, and nothing else.
 */
static void test_send_nonblocking(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_set_send_timeout(p[0], 0), 0);
  assert_int_equal(mpconn_set_send_buffer(p[0], 4 * MSG), 0);
  assert_int_equal(mpconn_events(p[0]), POLLIN);
  size_t taken = fill(p[0], MPCONN_EAGAIN);
  assert_true(taken >= 4);
  assert_int_equal(mpconn_events(p[0]), POLLIN | POLLOUT);
  assert_int_equal(mpconn_flush(p[0]), MPCONN_EAGAIN);
  /* The peer reads: whatever the socket held, then what flushing brings. */
  for (size_t i = 0; i < taken; i++)
    expect_flushed(p[1], p[0], i);
  assert_int_equal(mpconn_flush(p[0]), 0);
  assert_int_equal(mpconn_events(p[0]), POLLIN);
  /* Nothing more: the refused message never went out. */
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 0),
                   MPCONN_ETIMEDOUT);
  /* And the connection goes on. */
  assert_int_equal(send_msg(p[0], 99), 0);
  expect_pattern(p[1], 99, MSG);
}

/* A positive timeout waits for room, then gives up having taken nothing;
 * values (packed in place) are refused the same way. */
static void test_send_timed(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_set_send_timeout(p[0], 50), 0);
  assert_int_equal(mpconn_set_send_buffer(p[0], 2 * MSG), 0);
  size_t taken = fill(p[0], MPCONN_ETIMEDOUT);
  /* A value as large does not fit either (a small one would). */
  uint8_t *big = pattern_buf(1, MSG);
  assert_int_equal(mpconn_sendf(p[0], "y#", big, (size_t)MSG),
                   MPCONN_ETIMEDOUT);
  free(big);
  assert_int_equal(mpconn_flush(p[0]), MPCONN_ETIMEDOUT);
  /* A reader in another thread drains it all; then flush completes. */
  for (size_t i = 0; i < taken; i++) {
    if (i == taken / 2)
      assert_int_equal(mpconn_set_send_timeout(p[0], 5000), 0);
    if (i >= taken / 2) {
      /* Enough has been read for the rest to fit in the socket. */
      int rc = mpconn_flush(p[0]);
      assert_true(rc == 0 || rc == MPCONN_ETIMEDOUT);
    }
    expect_pattern(p[1], i, MSG);
  }
  assert_int_equal(mpconn_flush(p[0]), 0);
  assert_int_equal(mpconn_sendf(p[0], "[s, i]", "value", 2), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(p[1], &m, 5000), 0);
  int v = 0;
  char s[8];
  assert_int_equal(
      mpconn_unpackf(mpconn_msg_value(m), NULL, "[s, i]", s, sizeof(s), &v), 0);
  assert_int_equal(v, 2);
  mpconn_msg_free(m);
}

/* A frame larger than the cap is taken whole when the buffer is empty. */
static void test_send_over_cap(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_set_send_timeout(p[0], 0), 0);
  assert_int_equal(mpconn_set_send_buffer(p[0], 1024), 0);
  size_t big = 8 * 1024 * 1024;
  uint8_t *m = pattern_buf(5, big);
  assert_int_equal(mpconn_send_bytes(p[0], m, big), 0);
  free(m);
  assert_int_equal(mpconn_events(p[0]) & POLLOUT, POLLOUT);
  /* The next is refused until that one is out. */
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), MPCONN_EAGAIN);
  void *d;
  size_t n;
  int rc;
  while ((rc = mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 0)) ==
         MPCONN_ETIMEDOUT) {
    rc = mpconn_flush(p[0]);
    assert_true(rc == 0 || rc == MPCONN_EAGAIN);
  }
  assert_int_equal(rc, 0);
  uint8_t *want = pattern_buf(5, big);
  assert_int_equal(n, big);
  assert_memory_equal(d, want, big);
  free(want);
  free(d);
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), 0);
  expect_pattern_bytes(p[1], "x", 1);
}

/* A pipe's write end becomes non-blocking; the same rules hold. */
static void test_send_nonblocking_pipe(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_set_send_timeout(r, 0), MPCONN_EREADONLY);
  assert_int_equal(mpconn_set_send_timeout(w, 0), 0);
  assert_int_equal(mpconn_set_send_buffer(w, MSG), 0);
  assert_true(fcntl(mpconn_send_fileno(w), F_GETFL) & O_NONBLOCK);
  size_t taken = fill(w, MPCONN_EAGAIN);
  for (size_t i = 0; i < taken; i++)
    expect_flushed(r, w, i);
  assert_int_equal(mpconn_flush(w), 0);
  mpconn_free(w);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(r, &d, &n, MPCONN_UNLIMITED, 1000),
                   MPCONN_EOF);
  mpconn_free(r);
  assert_int_equal(mpconn_set_send_timeout(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_set_send_buffer(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_events(NULL), 0);
}

/* A reader thread: every frame, checked, until the end. */
struct drain {
  mpconn *c;
  size_t count, got;
  int rc;
};

static void *drain_all(void *arg) {
  struct drain *d = arg;
  uint8_t *buf = malloc(MSG);
  size_t n;
  while ((d->rc = mpconn_recv_bytes_into(d->c, buf, MSG, 0, &n, 10000)) == 0) {
    uint8_t *want = pattern_buf(d->got, MSG);
    if (n != MSG || memcmp(buf, want, MSG) != 0)
      d->rc = -1000; /* wrong frame: d->got says which */
    free(want);
    if (d->rc)
      break;
    d->got++;
  }
  free(buf);
  return NULL;
}

/* With a send timeout, mpconn_close() writes what the send buffer holds
 * within that timeout; what it cannot write it drops, saying so. */
static void test_close_with_send_timeout(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_set_send_timeout(a, 0), 0);
  size_t taken = fill(a, MPCONN_EAGAIN);
  /* The reader makes some room, then the writer closes: not all of it fits
   * in the socket now, and a timeout of 0 does not wait. */
  expect_pattern(b, 0, MSG);
  assert_int_equal(mpconn_close(a), MPCONN_EAGAIN);
  mpconn_free(a);
  /* Whole frames, in order, then the cut one or the end. */
  uint8_t *buf = malloc(MSG);
  size_t got = 1, n;
  int rc;
  while ((rc = mpconn_recv_bytes_into(b, buf, MSG, 0, &n, 5000)) == 0) {
    assert_int_equal(n, MSG);
    uint8_t *want = pattern_buf(got, MSG);
    assert_memory_equal(buf, want, MSG);
    free(want);
    got++;
  }
  assert_true(got < taken);
  assert_true(rc == MPCONN_ETRUNCATED || rc == MPCONN_EOF);
  free(buf);
  mpconn_free(b);

  /* With a reader draining it in time, everything arrives and close
   * returns 0. */
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_set_send_timeout(a, 0), 0);
  taken = fill(a, MPCONN_EAGAIN);
  assert_int_equal(mpconn_set_send_timeout(a, 10000), 0);
  pthread_t t;
  struct drain d = {.c = b, .count = taken};
  assert_int_equal(pthread_create(&t, NULL, drain_all, &d), 0);
  assert_int_equal(mpconn_close(a), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(d.rc, MPCONN_EOF);
  assert_int_equal(d.got, taken);
  mpconn_free(a);
  mpconn_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_uncorked_writes_at_once, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_cork_then_flush, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_cork_thresholds, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_uncork_flushes, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_close_flushes, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_flush_reports_epipe, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_direction_and_packing, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_large_bodies, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_large_body_corked, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_nonblocking, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_timed, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_over_cap, pair_setup,
                                      pair_teardown),
      cmocka_unit_test(test_send_nonblocking_pipe),
      cmocka_unit_test(test_close_with_send_timeout),
      cmocka_unit_test_setup_teardown(test_pack_copies_bodies, pair_setup,
                                      pair_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
