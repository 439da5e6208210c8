/* SPDX-License-Identifier: MIT */
/* The send side (lib/send.c): frames written at once, or corked. */
#include "test-util.h"

/* Read whatever raw bytes the socket holds now. */
static size_t raw_available(mpconn *c, uint8_t *buf, size_t size) {
  ssize_t n = recv(mpconn_fileno(c), buf, size, MSG_DONTWAIT);
  return n < 0 ? 0 : (size_t)n;
}

/* Uncorked, each send is on the wire when the call returns. */
static void test_uncorked_writes_at_once(void **state) {
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
