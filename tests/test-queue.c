/* SPDX-License-Identifier: MIT */
/*
 * Queues (lib/queue.c): every call and its codes, the ring wrapping around
 * with items of many sizes, threads and forked processes as producers and
 * consumers, and processes killed holding the queue's lock.  With
 * MPCONN_TEST_QUEUE_RINGS=1 in the environment every test runs on queues
 * made with MPCONN_QUEUE_RINGS (lib/queue-rings.c) instead; where the two
 * differ (order between processes, which call finds a dead lock owner) the
 * test says so.
 */
#include "queue-util.h"

#include "queue-test.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* A timeout only a broken queue reaches. */
#define LONG_MS 60000

static size_t page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* 0, or MPCONN_QUEUE_RINGS: every queue of the run is made with it. */
static unsigned queue_flags;

static bool rings(void) { return queue_flags & MPCONN_QUEUE_RINGS; }

static mpconn_queue *new_queue(size_t maxsize, size_t capacity) {
  mpconn_queue *q = NULL;
  assert_int_equal(mpconn_queue_new_ex(&q, maxsize, capacity, queue_flags), 0);
  assert_non_null(q);
  return q;
}

static void put_pattern(mpconn_queue *q, size_t seed, size_t len) {
  uint8_t *p = pattern_buf(seed, len);
  assert_int_equal(mpconn_queue_put_bytes(q, p, len, 0), 0);
  free(p);
}

static void expect_item(mpconn_queue *q, size_t seed, size_t len) {
  void *data = NULL;
  size_t got = 0;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &got, 0), 0);
  assert_non_null(data);
  assert_int_equal(got, len);
  uint8_t *want = pattern_buf(seed, len);
  if (len)
    assert_memory_equal(data, want, len);
  free(want);
  free(data);
}

static void expect_empty(mpconn_queue *q) {
  void *data = (void *)1;
  size_t len = 1;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), MPCONN_EEMPTY);
  assert_null(data);
  assert_int_equal(len, 0);
  assert_int_equal(mpconn_queue_qsize(q), 0);
  assert_true(mpconn_queue_empty(q));
}

/* ------------------------------------------------------------------------ */
/* Creating                                                                 */
/* ------------------------------------------------------------------------ */

static void test_new_and_free(void **state) {
  (void)state;
  assert_int_equal(mpconn_queue_new(NULL, 0), MPCONN_EINVAL);
  mpconn_queue *q = (mpconn_queue *)&q;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, 0, ~MPCONN_QUEUE_RINGS),
                   MPCONN_EINVAL);
  assert_null(q);
  q = (mpconn_queue *)&q;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, 0, 2), MPCONN_EINVAL);
  assert_null(q);
  q = (mpconn_queue *)&q;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, SIZE_MAX, queue_flags),
                   MPCONN_ENOMEM);
  assert_null(q);
  q = (mpconn_queue *)&q;
  /* Rings: sixteen times the capacity must fit in the address space. */
  assert_int_equal(mpconn_queue_new_ex(&q, 0, SIZE_MAX / 8, MPCONN_QUEUE_RINGS),
                   MPCONN_ENOMEM);
  assert_null(q);

  assert_int_equal(mpconn_queue_new_ex(&q, 0, 0, queue_flags), 0);
  assert_int_equal(mpconn_queue_qsize(q), 0);
  assert_true(mpconn_queue_empty(q));
  assert_false(mpconn_queue_full(q));
  mpconn_queue_free(q);
  mpconn_queue_free(NULL);
}

/* The capacity is rounded up to whole pages; an item is its payload and a
 * 4-byte header, and one that cannot fit in the whole ring is refused. */
static void test_capacity_and_too_big(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 1);
  size_t cap = page();
  put_pattern(q, 1, cap - 4);
  expect_item(q, 1, cap - 4);
  uint8_t *big = pattern_buf(2, cap);
  assert_int_equal(mpconn_queue_put_bytes(q, big, cap - 3, 0), MPCONN_ETOOBIG);
  assert_int_equal(mpconn_queue_put_bytes(q, big, cap - 3, -1), MPCONN_ETOOBIG);
  /* A value: a bin of n bytes (n < 65536) packs to n + 3 (c5, 2-byte
   * size). */
  assert_int_equal(mpconn_queue_putf(q, 0, "y#", big, cap - 6), MPCONN_ETOOBIG);
  assert_int_equal(mpconn_queue_putf(q, 0, "y#", big, cap - 7), 0);
  free(big);
  assert_int_equal(mpconn_queue_qsize(q), 1);
  mpconn_msg *m;
  assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
  assert_int_equal(mpconn_msg_value(m)->via.bin.size, cap - 7);
  mpconn_msg_free(m);
  mpconn_queue_free(q);

  /* The default capacity: refused before a byte is read. */
  q = new_queue(0, 0);
  char one = 0;
  assert_int_equal(
      mpconn_queue_put_bytes(q, &one, MPCONN_QUEUE_DEFAULT_CAPACITY - 3, 0),
      MPCONN_ETOOBIG);
  assert_int_equal(mpconn_queue_put_bytes(q, &one, SIZE_MAX, 0),
                   MPCONN_ETOOBIG);
  expect_empty(q);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Values and bytes                                                         */
/* ------------------------------------------------------------------------ */

/* An item is exactly the frame mpconn_send() would write. */
static void test_values_round_trip(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  msgpack_object items[3];
  items[0].type = MSGPACK_OBJECT_NIL;
  items[1].type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
  items[1].via.i64 = -5;
  items[2].type = MSGPACK_OBJECT_STR;
  items[2].via.str.ptr = "spam";
  items[2].via.str.size = 4;
  msgpack_object v = {.type = MSGPACK_OBJECT_ARRAY};
  v.via.array.size = 3;
  v.via.array.ptr = items;
  assert_int_equal(mpconn_queue_put(q, &v, 0), 0);
  assert_int_equal(
      mpconn_queue_putf(q, 0, "{s:i, s:[b, f]}", "a", 1, "b", 1, 2.5), 0);
  assert_int_equal(mpconn_queue_qsize(q), 2);

  mpconn_msg *m = NULL;
  assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
  size_t len;
  const void *data = mpconn_msg_data(m, &len);
  assert_int_equal(len, 8);
  assert_memory_equal(data, "\x93\xc0\xfb\xa4spam", 8);
  const msgpack_object *got = mpconn_msg_value(m);
  assert_int_equal(got->type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(got->via.array.ptr[1].via.i64, -5);
  mpconn_msg_free(m);

  assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
  int a, b;
  double f;
  assert_int_equal(mpconn_unpackf(mpconn_msg_value(m), NULL, "{s:i, s:[b, f]}",
                                  "a", &a, "b", &b, &f),
                   0);
  assert_int_equal(a, 1);
  assert_true(b);
  assert_true(f == 2.5);
  mpconn_msg_free(m);
  expect_empty(q);
  mpconn_queue_free(q);
}

/* A message got from a queue owns its memory: it outlives the queue. */
static void test_message_outlives_queue(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  assert_int_equal(mpconn_queue_putf(q, 0, "[s, i]", "eggs", 7), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
  mpconn_queue_free(q);
  char s[8];
  int i;
  assert_int_equal(
      mpconn_unpackf(mpconn_msg_value(m), NULL, "[s, i]", s, sizeof(s), &i), 0);
  assert_string_equal(s, "eggs");
  assert_int_equal(i, 7);
  mpconn_msg_free(m);
}

static void test_bytes_fifo(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  assert_int_equal(mpconn_queue_put_bytes(q, NULL, 0, 0), 0);
  for (size_t i = 1; i <= 20; i++)
    put_pattern(q, i, i * 13);
  assert_int_equal(mpconn_queue_qsize(q), 21);
  void *data = NULL;
  size_t len = 99;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), 0);
  assert_non_null(data);
  assert_int_equal(len, 0);
  free(data);
  for (size_t i = 1; i <= 20; i++)
    expect_item(q, i, i * 13);
  expect_empty(q);
  mpconn_queue_free(q);
}

/* Items that are not one well-formed value are taken and reported, as a
 * connection reports such frames; the next item is unaffected. */
static void test_get_malformed_items(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  uint8_t deep[40];
  memset(deep, 0x91, sizeof(deep));
  deep[sizeof(deep) - 1] = 0x01;
  struct {
    const void *p;
    size_t n;
    int rc;
  } bad[] = {
      {"\xc1", 1, MPCONN_EBADVALUE},     /* never used */
      {"", 0, MPCONN_EBADVALUE},         /* empty */
      {"\x01\x02", 2, MPCONN_EBADVALUE}, /* trailing bytes */
      {"\x92\x01", 2, MPCONN_EBADVALUE}, /* short */
      {deep, sizeof(deep), MPCONN_ETOODEEP},
      {"\xd4\x53\x01", 3, MPCONN_EBADSET}, /* a set of no array */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(mpconn_queue_put_bytes(q, bad[i].p, bad[i].n, 0), 0);
    assert_int_equal(mpconn_queue_putf(q, 0, "i", (int)i), 0);
    mpconn_msg *m = (mpconn_msg *)&m;
    assert_int_equal(mpconn_queue_get(q, &m, 0), bad[i].rc);
    assert_null(m);
    assert_int_equal(mpconn_queue_qsize(q), 1);
    assert_int_equal(mpconn_queue_get(q, &m, 0), 0);
    assert_int_equal(mpconn_msg_value(m)->via.u64, i);
    mpconn_msg_free(m);
  }
  mpconn_queue_free(q);
}

/* A process that maps a rings queue may scribble on its lanes' states.
 * Every position read from shared memory is checked: a tail beyond the
 * capacity, a head ahead of the tail, or a gap that sends the head astray
 * give MPCONN_EBADFRAME, to gets and to puts into that lane, and leave the
 * state alone: once it is put back, the queue works again.  (A header that
 * claims more than is there is test_get_malformed_items's case, through
 * the same check.)  (This runs on a rings queue in both
 * runs of the suite.) */
static void test_hostile_lane_state(void **state) {
  (void)state;
  mpconn_queue *q = NULL;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, page(), MPCONN_QUEUE_RINGS), 0);
  unsigned lane = mpconn__queue_my_lane(q);
  put_pattern(q, 1, 10);
  put_pattern(q, 2, 20);
  uint64_t *tail = mpconn__queue_lane_state(q, lane, true);
  uint64_t *head = mpconn__queue_lane_state(q, lane, false);
  assert_int_equal(tail[0], 2 * 4 + 30);
  assert_int_equal(tail[1], 2);
  assert_int_equal(head[0], 0);
  struct {
    uint64_t *word;
    uint64_t value;
    bool put_fails;
  } bad[] = {
      {&tail[0], page() + 1, true},     /* more than the capacity */
      {&tail[0], UINT64_MAX / 2, true}, /* far beyond it */
      /* A tail inside the first item: its header claims more than there
       * is.  (A put would write there: not tried.) */
      {&tail[0], 10, false},
      /* A head ahead of the tail: a put looks at the head only when the
       * one it saw last leaves too little room, so puts carry on. */
      {&head[0], 39, false},
      {&head[0], UINT64_MAX, false},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t saved = *bad[i].word;
    *bad[i].word = bad[i].value;
    void *data = (void *)1;
    size_t len = 1;
    assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0),
                     MPCONN_EBADFRAME);
    assert_null(data);
    mpconn_msg *m = (mpconn_msg *)&m;
    assert_int_equal(mpconn_queue_get(q, &m, 0), MPCONN_EBADFRAME);
    assert_null(m);
    if (bad[i].put_fails)
      assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 0), MPCONN_EBADFRAME);
    *bad[i].word = saved;
  }
  /* A gap where the head is: the head jumps to the next lap, beyond the
   * tail.  (The states' current slots change with every put and get.) */
  expect_item(q, 1, 10);
  expect_item(q, 2, 20);
  put_pattern(q, 3, 30);
  tail = mpconn__queue_lane_state(q, lane, true);
  assert_int_equal(tail[0], 38 + 4 + 30);
  tail[2] = 38;
  void *data = (void *)1;
  size_t len = 1;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), MPCONN_EBADFRAME);
  assert_null(data);
  /* The jump was taken: the head moved, and every get says so. */
  head = mpconn__queue_lane_state(q, lane, false);
  assert_int_equal(head[0], page());
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), MPCONN_EBADFRAME);
  tail[2] = 0;
  head[0] = 38;
  expect_item(q, 3, 30);
  expect_empty(q);
  mpconn_queue_free(q);
}

/* A rings queue's lane goes back to the start of its memory when its
 * producer finds it empty with the tail 256 KiB in or more (it looks every
 * 4 KiB), so a queue whose consumers keep up touches few pages; the jump
 * costs no room, and the whole capacity stays usable. */
static void test_lane_goes_back(void **state) {
  (void)state;
  const size_t cap = 1024 * 1024, n = 1000;
  mpconn_queue *q = NULL;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, cap, MPCONN_QUEUE_RINGS), 0);
  unsigned lane = mpconn__queue_my_lane(q);
  /* 2 MiB through it, one item at a time: */
  for (size_t i = 0; i < 2 * cap / (n + 4); i++) {
    put_pattern(q, i, n);
    expect_item(q, i, n);
    uint64_t *tail = mpconn__queue_lane_state(q, lane, true);
    /* never further than 256 KiB + 4 KiB (how often it looks) + 1 item */
    assert_true(tail[0] % cap <= 256 * 1024 + 4 * 1024 + n + 4);
  }
  uint64_t *tail = mpconn__queue_lane_state(q, lane, true);
  assert_true(tail[0] >= 2 * cap); /* it went back at least twice */

  expect_empty(q);

  /* 1000 items of 1000 bytes behind: close to the whole capacity, which
   * the lane keeps whatever its tail does meanwhile. */
  size_t most = cap / (n + 4);
  for (size_t i = 0; i < most; i++)
    put_pattern(q, i, n);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", n, 0), MPCONN_EFULL);
  for (size_t i = 0; i < most; i++)
    expect_item(q, i, n);
  expect_empty(q);
  mpconn_queue_free(q);
}

static int child_put_lane(void *arg) {
  mpconn_queue *q = arg;
  int rc = mpconn_queue_put_bytes(q, "child", 5, 0);
  unsigned lane = mpconn__queue_my_lane(q);
  mpconn_queue_free(q);
  return rc == 0 && lane == (unsigned)getpid() % 16 ? 0 : 1;
}

/* Each process puts into the lane of its own process ID, also a child
 * forked after its parent had chosen its lane. */
static void test_lane_per_process(void **state) {
  (void)state;
  mpconn_queue *q = NULL;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, page(), MPCONN_QUEUE_RINGS), 0);
  assert_int_equal(mpconn_queue_put_bytes(q, "parent", 6, 0), 0);
  unsigned mine = mpconn__queue_my_lane(q);
  assert_int_equal(mine, (unsigned)getpid() % 16);
  assert_int_equal(mpconn__queue_lane_state(q, mine, true)[1], 1);
  pid_t pid = spawn(child_put_lane, q);
  reap_ok(pid);
  unsigned theirs = (unsigned)pid % 16;
  if (theirs == mine) {
    assert_int_equal(mpconn__queue_lane_state(q, mine, true)[1], 2);
  } else {
    assert_int_equal(mpconn__queue_lane_state(q, mine, true)[1], 1);
    assert_int_equal(mpconn__queue_lane_state(q, theirs, true)[1], 1);
  }
  assert_int_equal(mpconn_queue_qsize(q), 2);
  mpconn_queue_free(q);
}

static int child_close_killed(void *arg) {
  mpconn__queue_signal_at(arg, MPCONN__Q_LOCKED, SIGKILL);
  mpconn_queue_close(arg);
  return 3; /* not reached */
}

/* A rings queue closes in two steps; a closer killed between them (here:
 * at the first lane lock it takes) leaves the queue refusing puts, and the
 * next get that finds it empty finishes the close and reports the end. */
static void test_closer_killed(void **state) {
  (void)state;
  mpconn_queue *q = NULL;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, page(), MPCONN_QUEUE_RINGS), 0);
  put_pattern(q, 1, 10);
  reap_killed(spawn(child_close_killed, q));
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 0), MPCONN_ECLOSED);
  expect_item(q, 1, 10);
  void *data = (void *)1;
  size_t len = 1;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), MPCONN_EOF);
  assert_null(data);
  assert_int_equal(mpconn_queue_close(q), 0);
  assert_int_equal(mpconn__queue_owner_deaths(q), 1);
  mpconn_queue_free(q);
}

static void test_bad_arguments(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  mpconn_msg *m = (mpconn_msg *)&m;
  void *data = (void *)&data;
  size_t len = 1;

  assert_int_equal(mpconn_queue_put(NULL, &nil, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_put(q, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_putf(NULL, 0, "n"), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_putf(q, 0, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_put_bytes(NULL, "x", 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_put_bytes(q, NULL, 1, 0), MPCONN_EINVAL);
  /* Bad formats and arguments put nothing. */
  assert_int_equal(mpconn_queue_putf(q, 0, "[i"), MPCONN_EFORMAT);
  assert_int_equal(mpconn_queue_putf(q, 0, "[i, s]", 1, (char *)NULL),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_qsize(q), 0);

  assert_int_equal(mpconn_queue_get(NULL, &m, 0), MPCONN_EINVAL);
  assert_null(m);
  assert_int_equal(mpconn_queue_get(q, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_get_bytes(NULL, &data, &len, 0), MPCONN_EINVAL);
  assert_null(data);
  assert_int_equal(len, 0);
  assert_int_equal(mpconn_queue_get_bytes(q, NULL, &len, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_get_bytes(q, &data, NULL, 0), MPCONN_EINVAL);

  assert_int_equal(mpconn_queue_qsize(NULL), 0);
  assert_true(mpconn_queue_empty(NULL));
  assert_false(mpconn_queue_full(NULL));
  assert_int_equal(mpconn_queue_close(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_task_done(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_join(NULL, 0), MPCONN_EINVAL);
  /* Nothing above reached the queue. */
  assert_int_equal(mpconn_queue_join(q, 0), 0);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Empty, full, closed                                                      */
/* ------------------------------------------------------------------------ */

static void test_empty(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  mpconn_msg *m = (mpconn_msg *)&m;
  assert_int_equal(mpconn_queue_get(q, &m, 0), MPCONN_EEMPTY);
  assert_null(m);
  /* An expired timeout gives the same code, as Python raises Empty. */
  assert_int_equal(mpconn_queue_get(q, &m, 20), MPCONN_EEMPTY);
  assert_null(m);
  void *data;
  size_t len;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 20), MPCONN_EEMPTY);
  expect_empty(q);
  mpconn_queue_free(q);
}

static void test_full_by_count(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(2, 0);
  put_pattern(q, 1, 10);
  assert_false(mpconn_queue_full(q));
  put_pattern(q, 2, 10);
  assert_true(mpconn_queue_full(q));
  assert_int_equal(mpconn_queue_qsize(q), 2);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 0), MPCONN_EFULL);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 20), MPCONN_EFULL);
  assert_int_equal(mpconn_queue_putf(q, 0, "i", 3), MPCONN_EFULL);
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  assert_int_equal(mpconn_queue_put(q, &nil, 20), MPCONN_EFULL);
  expect_item(q, 1, 10);
  assert_false(mpconn_queue_full(q));
  put_pattern(q, 3, 10);
  expect_item(q, 2, 10);
  expect_item(q, 3, 10);
  expect_empty(q);
  mpconn_queue_free(q);
}

/* Without an item limit a put waits for room in the ring; full() keeps
 * Python's meaning and stays false. */
static void test_full_by_bytes(void **state) {
  (void)state;
  size_t cap = page();
  mpconn_queue *q = new_queue(0, cap);
  put_pattern(q, 1, cap - 4 - 100);
  uint8_t *p = pattern_buf(2, 200);
  assert_int_equal(mpconn_queue_put_bytes(q, p, 200, 0), MPCONN_EFULL);
  assert_int_equal(mpconn_queue_put_bytes(q, p, 200, 20), MPCONN_EFULL);
  assert_false(mpconn_queue_full(q));
  assert_int_equal(mpconn_queue_qsize(q), 1);
  put_pattern(q, 3, 96); /* exactly the room left */
  assert_int_equal(mpconn_queue_put_bytes(q, NULL, 0, 0), MPCONN_EFULL);
  expect_item(q, 1, cap - 4 - 100);
  assert_int_equal(mpconn_queue_put_bytes(q, p, 200, 0), 0);
  free(p);
  expect_item(q, 3, 96);
  expect_item(q, 2, 200);
  expect_empty(q);
  mpconn_queue_free(q);
}

static void test_close(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  put_pattern(q, 1, 10);
  assert_int_equal(mpconn_queue_putf(q, 0, "s", "last"), 0);
  assert_int_equal(mpconn_queue_close(q), 0);
  assert_int_equal(mpconn_queue_close(q), 0);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 0), MPCONN_ECLOSED);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, -1), MPCONN_ECLOSED);
  assert_int_equal(mpconn_queue_putf(q, 0, "i", 1), MPCONN_ECLOSED);
  msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
  assert_int_equal(mpconn_queue_put(q, &nil, 0), MPCONN_ECLOSED);
  /* What is left is still got, then end of file, even when waiting. */
  assert_int_equal(mpconn_queue_qsize(q), 2);
  expect_item(q, 1, 10);
  mpconn_msg *m;
  assert_int_equal(mpconn_queue_get(q, &m, -1), 0);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_queue_get(q, &m, -1), MPCONN_EOF);
  assert_null(m);
  void *data;
  size_t len;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), MPCONN_EOF);
  assert_true(mpconn_queue_empty(q));
  /* Tasks still count. */
  assert_int_equal(mpconn_queue_join(q, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_queue_task_done(q), 0);
  assert_int_equal(mpconn_queue_task_done(q), 0);
  assert_int_equal(mpconn_queue_join(q, -1), 0);
  assert_int_equal(mpconn_queue_task_done(q), MPCONN_EINVAL);
  mpconn_queue_free(q);
}

struct call {
  mpconn_queue *q;
  int rc;
};

static void *get_thread(void *arg) {
  struct call *c = arg;
  void *data = NULL;
  size_t len;
  c->rc = mpconn_queue_get_bytes(c->q, &data, &len, LONG_MS);
  free(data);
  return NULL;
}

static void *put_thread(void *arg) {
  struct call *c = arg;
  c->rc = mpconn_queue_put_bytes(c->q, "late", 4, LONG_MS);
  return NULL;
}

static void *join_thread(void *arg) {
  struct call *c = arg;
  c->rc = mpconn_queue_join(c->q, LONG_MS);
  return NULL;
}

/* Closing wakes a waiting get (MPCONN_EOF) and a waiting put
 * (MPCONN_ECLOSED).  The pause only makes it likely that they are already
 * waiting; the codes are the same either way. */
static void test_close_wakes_waiters(void **state) {
  (void)state;
  mpconn_queue *empty = new_queue(0, 0);
  mpconn_queue *full = new_queue(1, 0);
  put_pattern(full, 1, 1);
  struct call g = {.q = empty}, p = {.q = full};
  pthread_t tg, tp;
  assert_int_equal(pthread_create(&tg, NULL, get_thread, &g), 0);
  assert_int_equal(pthread_create(&tp, NULL, put_thread, &p), 0);
  sleep_ms(50);
  assert_int_equal(mpconn_queue_close(empty), 0);
  assert_int_equal(mpconn_queue_close(full), 0);
  assert_int_equal(pthread_join(tg, NULL), 0);
  assert_int_equal(pthread_join(tp, NULL), 0);
  assert_int_equal(g.rc, MPCONN_EOF);
  assert_int_equal(p.rc, MPCONN_ECLOSED);
  assert_int_equal(mpconn_queue_qsize(full), 1);
  mpconn_queue_free(empty);
  mpconn_queue_free(full);
}

/* A waiting get is woken by a put, a waiting put by a get. */
static void test_waiters_woken(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(1, 0);
  struct call g = {.q = q};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, get_thread, &g), 0);
  sleep_ms(20);
  put_pattern(q, 1, 5);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(g.rc, 0);

  put_pattern(q, 2, 5);
  struct call p = {.q = q};
  assert_int_equal(pthread_create(&t, NULL, put_thread, &p), 0);
  sleep_ms(20);
  expect_item(q, 2, 5);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(p.rc, 0);
  void *data;
  size_t len;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), 0);
  assert_memory_equal(data, "late", 4);
  free(data);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

static void test_task_done_and_join(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  assert_int_equal(mpconn_queue_join(q, 0), 0);
  assert_int_equal(mpconn_queue_task_done(q), MPCONN_EINVAL);
  for (size_t i = 0; i < 3; i++)
    put_pattern(q, i, 4);
  assert_int_equal(mpconn_queue_join(q, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_queue_join(q, 20), MPCONN_ETIMEDOUT);
  for (size_t i = 0; i < 3; i++)
    expect_item(q, i, 4);
  /* Got is not done. */
  assert_int_equal(mpconn_queue_join(q, 0), MPCONN_ETIMEDOUT);
  struct call j = {.q = q};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, join_thread, &j), 0);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(mpconn_queue_task_done(q), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(j.rc, 0);
  assert_int_equal(mpconn_queue_join(q, 0), 0);
  /* One more than was put: Python's ValueError. */
  assert_int_equal(mpconn_queue_task_done(q), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_join(q, 0), 0);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* qsize, empty and full agree                                              */
/* ------------------------------------------------------------------------ */

static void test_size_agreement(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(3, 0);
  size_t model = 0, put_seed = 0, get_seed = 0;
  uint32_t r = 12345;
  for (int step = 0; step < 600; step++) {
    r = r * 1103515245u + 12345u;
    if ((r >> 16) & 1) {
      int rc = mpconn_queue_put_bytes(q, &r, sizeof(r), 0);
      if (model == 3) {
        assert_int_equal(rc, MPCONN_EFULL);
      } else {
        assert_int_equal(rc, 0);
        model++;
        put_seed++;
      }
    } else {
      void *data;
      size_t len;
      int rc = mpconn_queue_get_bytes(q, &data, &len, 0);
      if (model == 0) {
        assert_int_equal(rc, MPCONN_EEMPTY);
      } else {
        assert_int_equal(rc, 0);
        assert_int_equal(len, sizeof(r));
        free(data);
        model--;
        get_seed++;
      }
    }
    assert_int_equal(mpconn_queue_qsize(q), model);
    assert_int_equal(mpconn_queue_empty(q), model == 0);
    assert_int_equal(mpconn_queue_full(q), model == 3);
  }
  assert_int_equal(put_seed - get_seed, model);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* The ring wraps around                                                    */
/* ------------------------------------------------------------------------ */

/* Move an empty queue's position forward by @d bytes (d >= 4). */
static void advance(mpconn_queue *q, size_t *pos, size_t d, size_t cap) {
  put_pattern(q, 0, d - 4);
  expect_item(q, 0, d - 4);
  *pos = (*pos + d) % cap;
}

/* Bring an empty queue's position to @target. */
static void move_to(mpconn_queue *q, size_t *pos, size_t target, size_t cap) {
  size_t d = (target + cap - *pos) % cap;
  if (d == 0)
    return;
  if (d < 8) {
    advance(q, pos, (cap + d) / 2, cap);
    d = (target + cap - *pos) % cap;
  }
  advance(q, pos, d, cap);
}

/* The header split at every byte, and payloads split anywhere. */
static void test_wrap_exact_positions(void **state) {
  (void)state;
  size_t cap = page();
  mpconn_queue *q = new_queue(0, cap);
  size_t pos = 0;
  for (size_t back = 1; back <= 16; back++) {
    for (size_t len = 0; len < 40; len += 13) {
      move_to(q, &pos, cap - back, cap);
      put_pattern(q, back * 100 + len, len);
      put_pattern(q, back * 100 + len + 1, 7);
      expect_item(q, back * 100 + len, len);
      expect_item(q, back * 100 + len + 1, 7);
      pos = (pos + len + 4 + 11) % cap;
    }
  }
  /* An item that fills the whole ring, starting anywhere. */
  for (size_t start = 0; start < cap; start += cap / 7) {
    move_to(q, &pos, start, cap);
    put_pattern(q, start, cap - 4);
    assert_int_equal(mpconn_queue_put_bytes(q, NULL, 0, 0), MPCONN_EFULL);
    expect_item(q, start, cap - 4);
  }
  expect_empty(q);
  mpconn_queue_free(q);
}

/* Many sizes in flight at once, far more bytes than the ring holds. */
static void test_wrap_many_sizes(void **state) {
  (void)state;
  size_t cap = 4 * page();
  mpconn_queue *q = new_queue(0, cap);
  static const size_t sizes[] = {0,    1,    2,   3,     4,    5,    7,
                                 31,   127,  128, 255,   1000, 4093, 4096,
                                 5000, 8191, 333, 12000, 17,   2};
  enum { N = sizeof(sizes) / sizeof(sizes[0]) };
  size_t fifo[64], head = 0, tail = 0;
  size_t moved = 0;
  for (size_t i = 0; moved < 60 * cap; i++) {
    size_t len = sizes[(i * 7) % N];
    uint8_t *p = pattern_buf(i, len);
    int rc;
    while ((rc = mpconn_queue_put_bytes(q, p, len, 0)) == MPCONN_EFULL) {
      assert_true(head != tail);
      size_t s = fifo[head++ % 64];
      expect_item(q, s, sizes[(s * 7) % N]);
    }
    assert_int_equal(rc, 0);
    free(p);
    fifo[tail++ % 64] = i;
    assert_true(tail - head <= 64);
    moved += len + 4;
  }
  assert_int_equal(mpconn_queue_qsize(q), tail - head);
  while (head != tail) {
    size_t s = fifo[head++ % 64];
    expect_item(q, s, sizes[(s * 7) % N]);
  }
  expect_empty(q);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

#define TP 4    /* producer threads */
#define TC 4    /* consumer threads */
#define TN 1500 /* items per producer */

struct record {
  uint32_t producer, seq, len, sum;
};

static uint32_t item_len(uint32_t producer, uint32_t seq) {
  if (seq % 97 == 0)
    return 20000 + producer;
  return (seq * 37 + producer) % 700;
}

static uint32_t sum32(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

struct tshared {
  mpconn_queue *q;
  uint32_t seen[TP][TN];
  uint32_t bad;
  int errors;
};

struct targ {
  struct tshared *s;
  uint32_t id;
};

static void *producer_thread(void *arg) {
  struct targ *a = arg;
  uint8_t *buf = malloc(sizeof(struct record) + 20000 + TP);
  if (!buf) {
    __atomic_add_fetch(&a->s->errors, 1, __ATOMIC_SEQ_CST);
    return NULL;
  }
  for (uint32_t seq = 0; seq < TN; seq++) {
    uint32_t len = item_len(a->id, seq);
    for (uint32_t i = 0; i < len; i++)
      buf[sizeof(struct record) + i] = pattern(a->id * TN + seq, i);
    struct record r = {a->id, seq, len, sum32(buf + sizeof(r), len)};
    memcpy(buf, &r, sizeof(r));
    int rc = mpconn_queue_put_bytes(a->s->q, buf, sizeof(r) + len, LONG_MS);
    if (rc < 0)
      __atomic_add_fetch(&a->s->errors, 1, __ATOMIC_SEQ_CST);
  }
  free(buf);
  return NULL;
}

static void *consumer_thread(void *arg) {
  struct targ *a = arg;
  for (;;) {
    void *data;
    size_t len;
    int rc = mpconn_queue_get_bytes(a->s->q, &data, &len, LONG_MS);
    if (rc == MPCONN_EOF)
      return NULL;
    if (rc < 0) {
      __atomic_add_fetch(&a->s->errors, 1, __ATOMIC_SEQ_CST);
      return NULL;
    }
    struct record r;
    if (len < sizeof(r)) {
      __atomic_add_fetch(&a->s->bad, 1, __ATOMIC_SEQ_CST);
      free(data);
      continue;
    }
    memcpy(&r, data, sizeof(r));
    const uint8_t *payload = (const uint8_t *)data + sizeof(r);
    if (r.producer >= TP || r.seq >= TN || r.len != len - sizeof(r) ||
        r.len != item_len(r.producer, r.seq) || r.sum != sum32(payload, r.len))
      __atomic_add_fetch(&a->s->bad, 1, __ATOMIC_SEQ_CST);
    else
      __atomic_add_fetch(&a->s->seen[r.producer][r.seq], 1, __ATOMIC_SEQ_CST);
    free(data);
  }
}

static void test_threads(void **state) {
  (void)state;
  struct tshared *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  /* Small enough that producers wait for room all the time. */
  s->q = new_queue(0, 64 * 1024);
  pthread_t tp[TP], tc[TC];
  struct targ ap[TP], ac[TC];
  for (uint32_t i = 0; i < TC; i++) {
    ac[i] = (struct targ){s, i};
    assert_int_equal(pthread_create(&tc[i], NULL, consumer_thread, &ac[i]), 0);
  }
  for (uint32_t i = 0; i < TP; i++) {
    ap[i] = (struct targ){s, i};
    assert_int_equal(pthread_create(&tp[i], NULL, producer_thread, &ap[i]), 0);
  }
  for (int i = 0; i < TP; i++)
    assert_int_equal(pthread_join(tp[i], NULL), 0);
  assert_int_equal(mpconn_queue_close(s->q), 0);
  for (int i = 0; i < TC; i++)
    assert_int_equal(pthread_join(tc[i], NULL), 0);
  assert_int_equal(s->errors, 0);
  assert_int_equal(s->bad, 0);
  for (int p = 0; p < TP; p++)
    for (int i = 0; i < TN; i++)
      assert_int_equal(s->seen[p][i], 1);
  mpconn_queue_free(s->q);
  free(s);
}

/* ------------------------------------------------------------------------ */
/* Forked processes                                                         */
/* ------------------------------------------------------------------------ */

#define FN 300

static int child_produce(void *arg) {
  mpconn_queue *q = arg;
  for (size_t i = 0; i < FN; i++) {
    uint8_t *p = malloc(i * 11 + 1);
    if (!p)
      return 2;
    for (size_t k = 0; k < i * 11; k++)
      p[k] = pattern(i, k);
    int rc = mpconn_queue_put_bytes(q, p, i * 11, LONG_MS);
    free(p);
    if (rc < 0)
      return 1;
  }
  mpconn_queue_free(q);
  return 0;
}

static int consume(mpconn_queue *q) {
  for (size_t i = 0; i < FN; i++) {
    void *data;
    size_t len;
    if (mpconn_queue_get_bytes(q, &data, &len, LONG_MS) < 0)
      return 1;
    int bad = len != i * 11;
    for (size_t k = 0; !bad && k < len; k++)
      bad = ((uint8_t *)data)[k] != pattern(i, k);
    free(data);
    if (bad)
      return 3;
  }
  return mpconn_queue_get_bytes(q, &(void *){NULL}, &(size_t){0}, 0) ==
                 MPCONN_EEMPTY
             ? 0
             : 4;
}

/* Each process frees the handle it inherited. */
static int child_consume(void *arg) {
  int rc = consume(arg);
  mpconn_queue_free(arg);
  return rc;
}

/* A child producer and a parent consumer, then the other way round; the
 * item limit makes both sides wait for each other. */
static void test_processes(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(4, 0);
  pid_t pid = spawn(child_produce, q);
  for (size_t i = 0; i < FN; i++) {
    void *data;
    size_t len;
    assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, LONG_MS), 0);
    assert_int_equal(len, i * 11);
    uint8_t *want = pattern_buf(i, len);
    assert_memory_equal(data, want, len);
    free(want);
    free(data);
  }
  reap_ok(pid);
  expect_empty(q);

  pid = spawn(child_consume, q);
  for (size_t i = 0; i < FN; i++) {
    uint8_t *p = pattern_buf(i, i * 11);
    assert_int_equal(mpconn_queue_put_bytes(q, p, i * 11, LONG_MS), 0);
    free(p);
  }
  reap_ok(pid);
  expect_empty(q);
  mpconn_queue_free(q);
}

static int child_put_big_and_exit(void *arg) {
  mpconn_queue *q = arg;
  size_t len = 1024 * 1024;
  uint8_t *p = malloc(len);
  if (!p)
    return 2;
  for (size_t k = 0; k < len; k++)
    p[k] = pattern(77, k);
  /* Timeout 0: with no feeder thread, the item is in the queue when
   * this returns, or it fails now. */
  int rc = mpconn_queue_put_bytes(q, p, len, 0);
  free(p);
  mpconn_queue_free(q);
  return rc == 0 ? 0 : 1;
}

/* CPython issue #73983: a child that put a large item cannot exit until
 * it is consumed, so joining it before draining deadlocks.  Here the put
 * is finished when it returns. */
static void test_exit_after_put_join_before_drain(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  pid_t pid = spawn(child_put_big_and_exit, q);
  reap_ok(pid);
  assert_int_equal(mpconn_queue_qsize(q), 1);
  expect_item(q, 77, 1024 * 1024);
  mpconn_queue_free(q);
}

static int work(mpconn_queue *q) {
  for (;;) {
    void *data;
    size_t len;
    int rc = mpconn_queue_get_bytes(q, &data, &len, LONG_MS);
    if (rc == MPCONN_EOF)
      return 0;
    if (rc < 0)
      return 1;
    free(data);
    if (mpconn_queue_task_done(q) < 0)
      return 2;
  }
}

static int child_worker(void *arg) {
  int rc = work(arg);
  mpconn_queue_free(arg);
  return rc;
}

static int child_joiner(void *arg) {
  int rc = mpconn_queue_join(arg, LONG_MS) == 0 ? 0 : 1;
  mpconn_queue_free(arg);
  return rc;
}

/* JoinableQueue: workers in other processes mark items done; join() in
 * the parent and in another child returns once all are. */
static void test_joinable_processes(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  for (size_t i = 0; i < 40; i++)
    put_pattern(q, i, i);
  assert_int_equal(mpconn_queue_join(q, 0), MPCONN_ETIMEDOUT);
  pid_t joiner = spawn(child_joiner, q);
  pid_t w[3];
  for (int i = 0; i < 3; i++)
    w[i] = spawn(child_worker, q);
  assert_int_equal(mpconn_queue_join(q, LONG_MS), 0);
  assert_true(mpconn_queue_empty(q));
  reap_ok(joiner);
  assert_int_equal(mpconn_queue_task_done(q), MPCONN_EINVAL);
  assert_int_equal(mpconn_queue_close(q), 0);
  for (int i = 0; i < 3; i++)
    reap_ok(w[i]);
  mpconn_queue_free(q);
}

struct timeouts {
  mpconn_queue *empty, *full;
};

static int child_timeouts(void *arg) {
  struct timeouts *t = arg;
  void *data;
  size_t len;
  int rc = 0;
  if (mpconn_queue_get_bytes(t->empty, &data, &len, 30) != MPCONN_EEMPTY)
    rc = 1;
  else if (mpconn_queue_put_bytes(t->full, "x", 1, 30) != MPCONN_EFULL)
    rc = 2;
  else if (mpconn_queue_join(t->full, 30) != MPCONN_ETIMEDOUT)
    rc = 3;
  mpconn_queue_free(t->empty);
  mpconn_queue_free(t->full);
  return rc;
}

/* Every timeout, waiting in another process than the one that filled
 * the queue. */
static void test_timeouts_in_child(void **state) {
  (void)state;
  struct timeouts t = {new_queue(0, 0), new_queue(1, 0)};
  put_pattern(t.full, 1, 1);
  reap_ok(spawn(child_timeouts, &t));
  assert_int_equal(mpconn_queue_qsize(t.full), 1);
  expect_empty(t.empty);
  mpconn_queue_free(t.empty);
  mpconn_queue_free(t.full);
}

/* ------------------------------------------------------------------------ */
/* Processes killed holding the lock                                        */
/* ------------------------------------------------------------------------ */

struct crash {
  mpconn_queue *q;
  enum mpconn__queue_point point;
  bool put;
  size_t len;
};

static int child_crash(void *arg) {
  struct crash *c = arg;
  mpconn__queue_signal_at(c->q, c->point, SIGKILL);
  if (c->put) {
    uint8_t *p = malloc(c->len);
    if (!p)
      return 2;
    for (size_t k = 0; k < c->len; k++)
      p[k] = pattern(99, k);
    mpconn_queue_put_bytes(c->q, p, c->len, LONG_MS);
  } else {
    void *data;
    size_t len;
    mpconn_queue_get_bytes(c->q, &data, &len, LONG_MS);
  }
  return 3; /* not reached: the hook kills the child */
}

static void crash_child(mpconn_queue *q, enum mpconn__queue_point point,
                        bool put, size_t len) {
  struct crash c = {q, point, put, len};
  reap_killed(spawn(child_crash, &c));
}

/* Get @n items, whose seeds and lengths are @seeds and @lens in some
 * order: a rings queue orders the items of different processes in no set
 * way. */
static void expect_items_any_order(mpconn_queue *q, const size_t *seeds,
                                   const size_t *lens, size_t n) {
  bool used[8] = {false};
  assert_true(n <= 8);
  for (size_t k = 0; k < n; k++) {
    void *data = NULL;
    size_t got = 0;
    assert_int_equal(mpconn_queue_get_bytes(q, &data, &got, 0), 0);
    bool found = false;
    for (size_t j = 0; j < n && !found; j++) {
      if (used[j] || lens[j] != got)
        continue;
      uint8_t *want = pattern_buf(seeds[j], got);
      found = got == 0 || memcmp(want, data, got) == 0;
      free(want);
      used[j] = found;
    }
    free(data);
    if (!found)
      fail_msg("item %zu (%zu bytes) is none of those expected", k, got);
  }
}

/* A putter killed before its item is whole leaves nothing; one killed
 * after, with the lock still held, leaves the whole item.  Either way the
 * next caller that takes the lock recovers it: any caller of the locked
 * queue; for rings, the next process that puts into the dead one's ring,
 * or mpconn_queue_close(), which takes every ring's put lock. */
static void test_putter_killed(void **state) {
  (void)state;
  static const enum mpconn__queue_point lost[] = {
      MPCONN__Q_LOCKED, MPCONN__Q_PUT_COPY, MPCONN__Q_PUT_COMMIT};
  for (size_t i = 0; i < 3; i++) {
    mpconn_queue *q = new_queue(0, page());
    put_pattern(q, 1, 100);
    crash_child(q, lost[i], true, 3000);
    assert_int_equal(mpconn_queue_qsize(q), 1);
    put_pattern(q, 3, 500);
    expect_item(q, 1, 100);
    expect_item(q, 3, 500);
    expect_empty(q);
    assert_int_equal(mpconn_queue_task_done(q), 0);
    assert_int_equal(mpconn_queue_task_done(q), 0);
    assert_int_equal(mpconn_queue_task_done(q), MPCONN_EINVAL);
    assert_int_equal(mpconn_queue_join(q, 0), 0);
    assert_int_equal(mpconn_queue_close(q), 0);
    assert_int_equal(mpconn__queue_owner_deaths(q), 1);
    mpconn_queue_free(q);
  }

  mpconn_queue *q = new_queue(0, page());
  put_pattern(q, 1, 100);
  crash_child(q, MPCONN__Q_PUT_UNLOCK, true, 3000);
  assert_int_equal(mpconn_queue_qsize(q), 2);
  put_pattern(q, 3, 500);
  if (rings()) {
    static const size_t seeds[] = {1, 99, 3}, lens[] = {100, 3000, 500};
    expect_items_any_order(q, seeds, lens, 3);
  } else {
    expect_item(q, 1, 100);
    expect_item(q, 99, 3000);
    expect_item(q, 3, 500);
  }
  expect_empty(q);
  assert_int_equal(mpconn_queue_close(q), 0);
  assert_int_equal(mpconn__queue_owner_deaths(q), 1);
  mpconn_queue_free(q);
}

/* A getter killed before its copy is complete leaves the item in place;
 * one killed after the item is taken, with the lock still held, has lost
 * it, and nothing is duplicated. */
static void test_getter_killed(void **state) {
  (void)state;
  static const enum mpconn__queue_point kept[] = {
      MPCONN__Q_LOCKED, MPCONN__Q_GET_COPY, MPCONN__Q_GET_COMMIT};
  size_t cap = page();
  for (size_t i = 0; i < 3; i++) {
    mpconn_queue *q = new_queue(0, cap);
    size_t pos = 0;
    /* The first item wraps around the ring's end. */
    move_to(q, &pos, cap - 1000, cap);
    put_pattern(q, 1, 3000);
    put_pattern(q, 2, 10);
    crash_child(q, kept[i], false, 0);
    assert_int_equal(mpconn_queue_qsize(q), 2);
    expect_item(q, 1, 3000);
    assert_int_equal(mpconn__queue_owner_deaths(q), 1);
    expect_item(q, 2, 10);
    expect_empty(q);
    mpconn_queue_free(q);
  }

  mpconn_queue *q = new_queue(0, cap);
  put_pattern(q, 1, 3000);
  put_pattern(q, 2, 10);
  crash_child(q, MPCONN__Q_GET_UNLOCK, false, 0);
  assert_int_equal(mpconn_queue_qsize(q), 1);
  expect_item(q, 2, 10);
  assert_int_equal(mpconn__queue_owner_deaths(q), 1);
  expect_empty(q);
  mpconn_queue_free(q);
}

static int child_get_one(void *arg) {
  void *data = NULL;
  size_t len;
  int rc = mpconn_queue_get_bytes(arg, &data, &len, LONG_MS);
  free(data);
  mpconn_queue_free(arg);
  return rc == 0 ? 0 : 1;
}

static int child_put_late(void *arg) {
  int rc = mpconn_queue_put_bytes(arg, "late", 4, LONG_MS);
  mpconn_queue_free(arg);
  return rc == 0 ? 0 : 1;
}

/* Waiters are woken before a change is made current, so a waker killed
 * holding the lock still wakes them: a waiting get receives the item of a
 * putter killed just after putting it, a waiting put gets the room freed
 * by a getter killed just after taking an item.  The pauses only make it
 * likely that the waiters already wait; the outcome is the same if not. */
static void test_waiters_woken_by_killed(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(1, 0);
  pid_t waiter = spawn(child_get_one, q);
  sleep_ms(50);
  crash_child(q, MPCONN__Q_PUT_UNLOCK, true, 10);
  reap_ok(waiter);
  expect_empty(q);

  put_pattern(q, 1, 10);
  waiter = spawn(child_put_late, q);
  sleep_ms(50);
  crash_child(q, MPCONN__Q_GET_UNLOCK, false, 0);
  reap_ok(waiter);
  void *data;
  size_t len;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 0), 0);
  assert_memory_equal(data, "late", 4);
  free(data);
  mpconn_queue_free(q);
}

/* Owners killed one after the other, each while recovering from the
 * last: the lock is still recovered.  (Rings: the getters die holding the
 * get lock of the parent's ring, the putters each their own put lock,
 * found by close.) */
static void test_killed_in_a_row(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  put_pattern(q, 1, 10);
  for (int i = 0; i < 4; i++)
    crash_child(q, MPCONN__Q_LOCKED, i % 2, 10);
  assert_int_equal(mpconn_queue_qsize(q), 1);
  expect_item(q, 1, 10);
  assert_int_equal(mpconn_queue_close(q), 0);
  /* Each child but the first recovered the lock before it died. */
  assert_int_equal(mpconn__queue_owner_deaths(q), 4);
  mpconn_queue_free(q);
}

/* Wait until @pid is stopped (SIGSTOP). */
static void wait_stopped(pid_t pid) {
  int status = 0;
  for (int waited = 0; waited < 120000; waited += 5) {
    pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);
    assert_true(r == 0 || r == pid);
    if (r == pid && WIFSTOPPED(status))
      return;
    assert_true(r == 0);
    sleep_ms(5);
  }
  kill(pid, SIGKILL);
  reap_within(pid, 120000);
  fail_msg("child %d did not stop", (int)pid);
}

/* Stop holding the lock that guards the oldest item. */
static int child_stop_holding(void *arg) {
  mpconn__queue_signal_at(arg, MPCONN__Q_LOCKED, SIGSTOP);
  void *data;
  size_t len;
  mpconn_queue_get_bytes(arg, &data, &len, 0);
  return 3; /* killed before it continues */
}

/* A process stopped while it holds the lock holds up every other user,
 * but timed calls still return by their deadline, with their codes. */
static void test_stopped_holder(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(1, 0);
  put_pattern(q, 1, 1);
  pid_t pid = spawn(child_stop_holding, q);
  wait_stopped(pid);
  void *data = (void *)&data;
  size_t len;
  assert_int_equal(mpconn_queue_get_bytes(q, &data, &len, 30), MPCONN_EEMPTY);
  assert_null(data);
  assert_int_equal(mpconn_queue_put_bytes(q, "x", 1, 30), MPCONN_EFULL);
  assert_int_equal(mpconn_queue_join(q, 30), MPCONN_ETIMEDOUT);
  kill(pid, SIGKILL);
  reap_killed(pid);
  assert_int_equal(mpconn_queue_qsize(q), 1);
  expect_item(q, 1, 1);
  assert_int_equal(mpconn__queue_owner_deaths(q), 1);
  mpconn_queue_free(q);
}

/* Wait until @pid sleeps in the kernel on a futex (here: the lock). */
static void wait_futex_sleep(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
  for (int waited = 0; waited < 120000; waited += 5) {
    char wchan[128] = "";
    FILE *f = fopen(path, "r");
    if (f) {
      if (!fgets(wchan, sizeof(wchan), f))
        wchan[0] = 0;
      fclose(f);
    }
    if (strstr(wchan, "futex"))
      return;
    sleep_ms(5);
  }
  fail_msg("child %d never waited on a futex", (int)pid);
}

/* A waiter that takes no part in the queue: it sleeps on the lock's word
 * as a process inside pthread_mutex_lock() does, and exits when woken. */
static int child_futex_decoy(void *arg) {
  uint32_t *word = mpconn__queue_lock_word(arg);
  uint32_t seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0);
  return 0;
}

/*
 * The lock's owner dies while two processes wait for the lock.  The kernel
 * marks the lock and wakes the first waiter only; here that one exits
 * without taking the lock, as a waiter killed just after its wake-up
 * does, and the kernel wakes nobody else.  The second waiter must find the
 * dead owner by itself, not sleep until its timeout (or for ever).
 */
static void test_woken_waiter_gone(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  if (!mpconn__queue_lock_word(q)) {
    mpconn_queue_free(q);
    skip(); /* not glibc: the mutex's word is not known */
  }
  put_pattern(q, 1, 10);
  pid_t holder = spawn(child_stop_holding, q);
  wait_stopped(holder);
  pid_t decoy = spawn(child_futex_decoy, q);
  wait_futex_sleep(decoy);
  pid_t waiter = spawn(child_get_one, q);
  wait_futex_sleep(waiter);
  kill(holder, SIGKILL); /* the kernel wakes the decoy, the first waiter */
  reap_killed(holder);
  reap_ok(decoy);
  reap_ok(waiter); /* it took the lock over, and the item */
  expect_empty(q);
  assert_int_equal(mpconn__queue_owner_deaths(q), 1);
  mpconn_queue_free(q);
}

static int child_wait_forever(void *arg) {
  void *data;
  size_t len;
  mpconn_queue_get_bytes(arg, &data, &len, -1);
  return 1;
}

/* A waiter killed while asleep changes nothing for the others. */
static void test_waiter_killed(void **state) {
  (void)state;
  mpconn_queue *q = new_queue(0, 0);
  pid_t pid = spawn(child_wait_forever, q);
  sleep_ms(50);
  kill(pid, SIGKILL);
  reap_killed(pid);
  struct call g = {.q = q};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, get_thread, &g), 0);
  sleep_ms(20);
  put_pattern(q, 1, 10);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(g.rc, 0);
  expect_empty(q);
  mpconn_queue_free(q);
}

int main(void) {
  const char *r = getenv("MPCONN_TEST_QUEUE_RINGS");
  if (r && strcmp(r, "1") == 0)
    queue_flags = MPCONN_QUEUE_RINGS;
  /* Tests that start threads come last: a forked child of a process that
   * has run threads inherits glibc's cached thread stacks, which valgrind
   * reports as possibly lost when the child dies. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_and_free),
      cmocka_unit_test(test_capacity_and_too_big),
      cmocka_unit_test(test_values_round_trip),
      cmocka_unit_test(test_message_outlives_queue),
      cmocka_unit_test(test_bytes_fifo),
      cmocka_unit_test(test_get_malformed_items),
      cmocka_unit_test(test_hostile_lane_state),
      cmocka_unit_test(test_lane_goes_back),
      cmocka_unit_test(test_lane_per_process),
      cmocka_unit_test(test_closer_killed),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_full_by_count),
      cmocka_unit_test(test_full_by_bytes),
      cmocka_unit_test(test_close),
      cmocka_unit_test(test_size_agreement),
      cmocka_unit_test(test_wrap_exact_positions),
      cmocka_unit_test(test_wrap_many_sizes),
      cmocka_unit_test(test_processes),
      cmocka_unit_test(test_exit_after_put_join_before_drain),
      cmocka_unit_test(test_joinable_processes),
      cmocka_unit_test(test_timeouts_in_child),
      cmocka_unit_test(test_putter_killed),
      cmocka_unit_test(test_getter_killed),
      cmocka_unit_test(test_waiters_woken_by_killed),
      cmocka_unit_test(test_killed_in_a_row),
      cmocka_unit_test(test_stopped_holder),
      cmocka_unit_test(test_waiter_killed),
      cmocka_unit_test(test_woken_waiter_gone),
      cmocka_unit_test(test_close_wakes_waiters),
      cmocka_unit_test(test_waiters_woken),
      cmocka_unit_test(test_task_done_and_join),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
