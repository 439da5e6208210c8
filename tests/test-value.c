/* SPDX-License-Identifier: MIT */
/* Values over connections (lib/value.c). */
#include "test-util.h"

#include <malloc.h>
#include <pthread.h>

static mpconn_msg *recv_ok(mpconn *c) {
  mpconn_msg *m = NULL;
  assert_int_equal(mpconn_recv(c, &m, 5000), 0);
  assert_non_null(m);
  return m;
}

/* Packing in place puts exactly msgpack's bytes behind the header. */
static void test_pack_in_place_wire(void **state) {
  mpconn **p = *state;
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  msgpack_pack_array(pk, 3);
  msgpack_pack_str_with_body(pk, "spam", 4);
  msgpack_pack_int(pk, 42);
  msgpack_pack_str_with_body(pk, "eggs", 4);
  assert_int_equal(mpconn_pack_end(p[0]), 0);
  uint8_t buf[16];
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], buf, sizeof(buf), 0, &len, -1),
                   0);
  assert_int_equal(len, 12);
  assert_memory_equal(buf,
                      "\x93\xa4spam\x2a\xa4"
                      "eggs",
                      12);
}

static void test_send_object_round_trip(void **state) {
  mpconn **p = *state;
  msgpack_object items[4];
  items[0].type = MSGPACK_OBJECT_NIL;
  items[1].type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
  items[1].via.i64 = INT64_MIN;
  items[2].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
  items[2].via.u64 = UINT64_MAX;
  items[3].type = MSGPACK_OBJECT_STR;
  items[3].via.str.ptr = "h\xc3\xa9llo";
  items[3].via.str.size = 6;
  msgpack_object v = {.type = MSGPACK_OBJECT_ARRAY};
  v.via.array.size = 4;
  v.via.array.ptr = items;
  assert_int_equal(mpconn_send(p[0], &v), 0);
  mpconn_msg *m = recv_ok(p[1]);
  const msgpack_object *r = mpconn_msg_value(m);
  assert_int_equal(r->type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(r->via.array.size, 4);
  assert_true(msgpack_object_equal(*r, v));
  assert_int_equal(r->via.array.ptr[1].via.i64, INT64_MIN);
  assert_true(r->via.array.ptr[2].via.u64 == UINT64_MAX);
  /* The string body lies inside the received frame: not copied. */
  size_t flen;
  const uint8_t *frame = mpconn_msg_data(m, &flen);
  const uint8_t *s = (const uint8_t *)r->via.array.ptr[3].via.str.ptr;
  assert_true(s > frame && s + 6 <= frame + flen);
  mpconn_msg_free(m);
  mpconn_msg_free(NULL);
}

/* The size a message took on the wire, with either header form. */
static void test_frame_size(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  /* [1, 2]: 4-byte header; the long header for the same 3 bytes; nil. */
  raw_write(wfd, "\x00\x00\x00\x03\x92\x01\x02", 7);
  raw_write(wfd, "\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x03\x92\x01\x02",
            15);
  raw_write(wfd, "\x00\x00\x00\x01\xc0", 5);
  size_t want[] = {7, 15, 5};
  for (int i = 0; i < 3; i++) {
    mpconn_msg *m = recv_ok(c);
    assert_int_equal(mpconn_msg_frame_size(m), want[i]);
    mpconn_msg_free(m);
  }
  assert_int_equal(mpconn_msg_frame_size(NULL), 0);
  close(wfd);
  mpconn_free(c);
}

/* Send an array of @n small ints (items of one byte each). */
static void send_ints(mpconn *c, uint32_t n) {
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(c, &pk), 0);
  msgpack_pack_array(pk, n);
  for (uint32_t i = 0; i < n; i++)
    msgpack_pack_int(pk, (int)(i % 100));
  assert_int_equal(mpconn_pack_end(c), 0);
}

/* The decode limit: exact at the boundary, sets' members counted, small
 * messages too, the connection usable after a refusal. */
static void test_decode_limit(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_get_max_decoded(p[1]), MPCONN_DEFAULT_MAX_DECODED);
  assert_int_equal(mpconn_set_max_decoded(p[1], 1000), 0);
  assert_int_equal(mpconn_get_max_decoded(p[1]), 1000);
  /* An array item is one msgpack_object: 41 take 41 * 24 = 984 bytes;
   * 42 take 1008. */
  assert_int_equal(sizeof(msgpack_object), 24);
  send_ints(p[0], 41);
  send_ints(p[0], 42);
  send_ints(p[0], 3);
  mpconn_msg *m = recv_ok(p[1]);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, 41);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_recv(p[1], &m, 5000), MPCONN_EDECODELIMIT);
  assert_null(m);
  m = recv_ok(p[1]);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, 3);
  mpconn_msg_free(m);

  /* A set's members count, though they are decoded only on demand: the
   * top-level tree here is one ext object. */
  msgpack_object members[50];
  for (int i = 0; i < 50; i++)
    members[i] = (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER,
                                  .via.u64 = (uint64_t)i};
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  assert_int_equal(mpconn_pack_set(pk, members, 50), 0);
  assert_int_equal(mpconn_pack_end(p[0]), 0);
  assert_int_equal(mpconn_recv(p[1], &m, 5000), MPCONN_EDECODELIMIT);

  /* Small messages are not exempt: 5 items, 120 bytes. */
  assert_int_equal(mpconn_set_max_decoded(p[1], 100), 0);
  send_ints(p[0], 5);
  send_ints(p[0], 4);
  assert_int_equal(mpconn_recv(p[1], &m, 5000), MPCONN_EDECODELIMIT);
  m = recv_ok(p[1]);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, 4);
  mpconn_msg_free(m);

  assert_int_equal(mpconn_set_max_decoded(p[1], MPCONN_UNLIMITED), 0);
  send_ints(p[0], 1000);
  m = recv_ok(p[1]);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, 1000);
  mpconn_msg_free(m);

  assert_int_equal(mpconn_set_max_decoded(NULL, 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_get_max_decoded(NULL), 0);
  assert_int_equal(mpconn_close(p[1]), 0);
  assert_int_equal(mpconn_set_max_decoded(p[1], 1), MPCONN_ECLOSED);
}

/* Large values take the big-frame path and still decode. */
static void test_large_value(void **state) {
  mpconn **p = *state;
  size_t n = 150000;
  uint8_t *blob = pattern_buf(3, n);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    msgpack_packer *pk;
    if (mpconn_pack_begin(p[0], &pk) < 0)
      _exit(1); /* the parent's assertions report it */
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "blob", 4);
    msgpack_pack_bin_with_body(pk, blob, n);
    int rc = mpconn_pack_end(p[0]);
    free(blob);
    pair_teardown(state);
    _exit(rc == 0 ? 0 : 1);
  }
  mpconn_msg *m = recv_ok(p[1]);
  const msgpack_object *r = mpconn_msg_value(m);
  assert_int_equal(r->type, MSGPACK_OBJECT_MAP);
  assert_int_equal(r->via.map.ptr[0].val.type, MSGPACK_OBJECT_BIN);
  assert_int_equal(r->via.map.ptr[0].val.via.bin.size, n);
  assert_memory_equal(r->via.map.ptr[0].val.via.bin.ptr, blob, n);
  mpconn_msg_free(m);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(blob);
}

static void test_pack_state_errors(void **state) {
  mpconn **p = *state;
  msgpack_packer *pk;
  assert_int_equal(mpconn_pack_end(p[0]), MPCONN_EINVAL);
  assert_int_equal(mpconn_pack_begin(p[0], &pk), 0);
  msgpack_pack_nil(pk);
  assert_int_equal(mpconn_pack_begin(p[0], &pk), MPCONN_EINVAL);
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), MPCONN_EINVAL);
  mpconn_pack_abort(p[0]);
  /* Nothing of the aborted value went out. */
  assert_int_equal(mpconn_send_bytes(p[0], "x", 1), 0);
  char ch;
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p[1], &ch, 1, 0, &len, 1000), 0);
  assert_int_equal(ch, 'x');
  assert_int_equal(mpconn_poll(p[1], 0), 0);
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_pack_begin(r, &pk), MPCONN_EREADONLY);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(w, &m, 0), MPCONN_EWRITEONLY);
  assert_null(m);
  mpconn_free(r);
  mpconn_free(w);
  assert_int_equal(mpconn_send(p[0], NULL), MPCONN_EINVAL);
}

/* Each hostile frame: its exact code, and the next frame still arrives. */
static void expect_bad(mpconn **p, const char *bytes, size_t n, int code) {
  assert_int_equal(mpconn_send_bytes(p[0], bytes, n), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "\xc3", 1), 0); /* true */
  mpconn_msg *m = (mpconn_msg *)1;
  assert_int_equal(mpconn_recv(p[1], &m, 1000), code);
  assert_null(m);
  m = recv_ok(p[1]);
  assert_int_equal(mpconn_msg_value(m)->type, MSGPACK_OBJECT_BOOLEAN);
  assert_true(mpconn_msg_value(m)->via.boolean);
  mpconn_msg_free(m);
}

static void test_hostile_frames(void **state) {
  mpconn **p = *state;
  expect_bad(p, "", 0, MPCONN_EBADVALUE);
  expect_bad(p, "\xdd\xff\x00\x00\x00", 5, MPCONN_EBADVALUE);
  expect_bad(p, "\xc1", 1, MPCONN_EBADVALUE);
  expect_bad(p, "\x01\x02", 2, MPCONN_EBADVALUE);
  expect_bad(p,
             "\xa5"
             "abc",
             4, MPCONN_EBADVALUE);
  expect_bad(p, "\xd4\x53\x01", 3, MPCONN_EBADSET);
  char nested[31 * 5];
  for (int i = 0; i < 31; i++)
    memcpy(nested + 5 * i, "\xdd\x0f\xff\xff\xff", 5);
  expect_bad(p, nested, sizeof(nested), MPCONN_EBADVALUE);
  char deep[MPCONN_MAX_DEPTH + 2];
  memset(deep, 0x91, MPCONN_MAX_DEPTH + 1);
  deep[MPCONN_MAX_DEPTH + 1] = 0x00;
  expect_bad(p, deep, sizeof(deep), MPCONN_ETOODEEP);
  /* Past the size decoded without counting first (SPARE_MAX / 24 bytes),
   * and past the 64 KiB receive chunk: an array one item short. */
  static const size_t big[] = {1000, 100000};
  for (size_t i = 0; i < 2; i++) {
    char *frame = malloc(big[i]);
    assert_non_null(frame);
    size_t items = big[i] - 5;
    frame[0] = (char)0xdd;
    for (int b = 0; b < 4; b++)
      frame[1 + b] = (char)((items + 1) >> (24 - 8 * b));
    memset(frame + 5, 0x01, items);
    expect_bad(p, frame, big[i], MPCONN_EBADVALUE);
    for (int b = 0; b < 4; b++) /* now whole */
      frame[1 + b] = (char)(items >> (24 - 8 * b));
    assert_int_equal(mpconn_send_bytes(p[0], frame, big[i]), 0);
    mpconn_msg *m = recv_ok(p[1]);
    assert_int_equal(mpconn_msg_value(m)->via.array.size, items);
    mpconn_msg_free(m);
    free(frame);
  }
  /* Exactly the supported depth is fine. */
  assert_int_equal(mpconn_send_bytes(p[0], deep + 1, sizeof(deep) - 1), 0);
  mpconn_msg *m = recv_ok(p[1]);
  mpconn_msg_free(m);
}

/* Decoding stays within 24 bytes per frame byte plus 8 KiB. */
static void test_memory_bound(void **state) {
  mpconn **p = *state;
  size_t n = 1 << 20;
  uint8_t *frame = malloc(n);
  frame[0] = 0xdd;
  size_t count = n - 5;
  frame[1] = (uint8_t)(count >> 24);
  frame[2] = (uint8_t)(count >> 16);
  frame[3] = (uint8_t)(count >> 8);
  frame[4] = (uint8_t)count;
  for (size_t i = 5; i < n; i++)
    frame[i] = (uint8_t)(i & 0x7f);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int rc = mpconn_send_bytes(p[0], frame, n);
    free(frame);
    pair_teardown(state);
    _exit(rc == 0 ? 0 : 1);
  }
  assert_int_equal(mpconn_poll(p[1], 5000), 1);
  struct mallinfo2 before = mallinfo2();
  mpconn_msg *m = recv_ok(p[1]);
  struct mallinfo2 after = mallinfo2();
  size_t used =
      (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
  print_message("decoding %zu bytes used %zu bytes\n", n, used);
  assert_true(used <= 24 * n + 8192);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, count);
  assert_int_equal(mpconn_msg_value(m)->via.array.ptr[count - 1].via.u64,
                   (n - 1) & 0x7f);
  mpconn_msg_free(m);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(frame);
}

/* Messages of changing shapes and sizes, freed and received again: each
 * decodes exactly, whatever the spare message it reuses held before. */
static void receive_mixed(mpconn **p, int rounds) {
  for (int i = 0; i < rounds; i++) {
    size_t big = (size_t)(i % 7) * 3000; /* crosses the 8 KiB spare limit */
    char *text = malloc(big + 1);
    memset(text, 'a' + i % 26, big);
    text[big] = '\0';
    assert_int_equal(mpconn_sendf(p[0], "{s:i, s:[i, s#], s:<i, i>}", "n", i,
                                  "l", -i, text, big, "s", i, i + 1),
                     0);
    mpconn_msg *m = recv_ok(p[1]);
    int n, neg;
    const char *t;
    size_t tlen;
    mpconn_error err;
    assert_int_equal(mpconn_unpackf(mpconn_msg_value(m), &err,
                                    "{s:i, s:[i, s#], s:<*>}", "n", &n, "l",
                                    &neg, &t, &tlen, "s"),
                     0);
    assert_int_equal(n, i);
    assert_int_equal(neg, -i);
    assert_int_equal(tlen, big);
    if (big)
      assert_memory_equal(t, text, big);
    msgpack_object_array members;
    const msgpack_object *set = &mpconn_msg_value(m)->via.map.ptr[2].val;
    assert_int_equal(mpconn_msg_set_members(m, set, &members), 0);
    assert_int_equal(members.size, 2);
    assert_int_equal(members.ptr[0].via.i64 + members.ptr[1].via.i64,
                     2 * i + 1);
    mpconn_msg_free(m);
    free(text);
  }
}

static void test_reuse_across_shapes(void **state) {
  receive_mixed(*state, 300);
}

static void *receive_in_thread(void *arg) {
  receive_mixed(arg, 50);
  return NULL; /* the thread's spare message is freed as it exits */
}

static void test_reuse_in_exiting_threads(void **state) {
  for (int k = 0; k < 3; k++) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, receive_in_thread, *state), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pack_in_place_wire, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_send_object_round_trip, pair_setup,
                                      pair_teardown),
      cmocka_unit_test(test_frame_size),
      cmocka_unit_test_setup_teardown(test_decode_limit, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_large_value, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_pack_state_errors, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_hostile_frames, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_reuse_across_shapes, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_reuse_in_exiting_threads, pair_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_memory_bound, pair_setup,
                                      pair_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
