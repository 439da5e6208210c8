/* SPDX-License-Identifier: MIT */
/*
 * Ring pairs (lib/ringconn.c): what the connection suites check is run
 * again over ring pairs (the "-ring" tests, MPCONN_TEST_RING); this file
 * checks what only rings have: waking without a lost wake-up under load
 * with random pauses, either end killed at a random moment, a peer writing
 * garbage positions into the shared control words, messages larger than
 * the ring, timed and non-blocking sends, the upgrade of a Unix socket
 * connection, and what a ring pair does not offer.
 */
#include "queue-util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "mpconn-private.h"
#include "ringconn-test.h"

/* A small deterministic generator: a child and its parent agree. */
static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* A pause now and then: nothing, a yield, or a sleep of up to 200 µs. */
static void maybe_pause(uint64_t *s) {
  uint64_t r = next_rand(s) % 1000;
  if (r < 5)
    sleep_ms(0), usleep((useconds_t)(r * 40));
  else if (r < 20)
    sched_yield();
}

/* Messages of the lost-wake-up test: 200 000 in the unit suite, which
 * valgrind runs too; `test-ringconn stress` (the stress suite) sends
 * two million. */
static uint64_t stress_messages = 200000;

static int stress_sender(void *arg) {
  mpconn *c = arg;
  uint64_t s = 0x1234567;
  for (uint64_t i = 0; i < stress_messages; i++) {
    uint8_t msg[64];
    size_t len = 8 + (size_t)(next_rand(&s) % 56);
    memcpy(msg, &i, 8);
    memset(msg + 8, (int)(i & 0xff), len - 8);
    if (mpconn_send_bytes(c, msg, len) < 0)
      return 1;
    maybe_pause(&s);
  }
  /* Wait for the receiver's word that it got them all. */
  void *d;
  size_t n;
  if (mpconn_recv_bytes(c, &d, &n, 16, 60000) < 0)
    return 2;
  free(d);
  return 0;
}

/*
 * Two processes, messages of random sizes with random pauses on both
 * sides, so that each side keeps going to sleep and being woken: a lost
 * wake-up would leave one asleep for ever (the test's bound reports it).
 * Every message arrives once, in order, intact.
 */
static void test_no_lost_wakeup(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 4096), 0);
  pid_t pid = spawn(stress_sender, a);
  mpconn_free(a);
  uint64_t s = 0x7654321;
  for (uint64_t i = 0; i < stress_messages; i++) {
    uint8_t msg[64];
    size_t n;
    int rc = mpconn_recv_bytes_into(b, msg, sizeof(msg), 0, &n, 60000);
    if (rc != 0)
      fail_msg("message %llu: %s", (unsigned long long)i, mpconn_err_name(rc));
    uint64_t got;
    memcpy(&got, msg, 8);
    if (got != i || n < 8 || (n > 8 && msg[n - 1] != (uint8_t)(i & 0xff)))
      fail_msg("message %llu: got number %llu of %zu bytes",
               (unsigned long long)i, (unsigned long long)got, n);
    maybe_pause(&s);
  }
  assert_int_equal(mpconn_send_bytes(b, "done", 4), 0);
  reap_ok(pid);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 5000), MPCONN_EOF);
  mpconn_free(b);
}

/* A sender killed at a random moment: every message it had sent arrives
 * whole and in order, then end of file or, if it died inside a frame
 * larger than the ring, MPCONN_ETRUNCATED; never a half message. */
static int endless_sender(void *arg) {
  mpconn *c = arg;
  uint8_t *big = malloc(20000);
  if (!big)
    return 1;
  for (uint64_t i = 0;; i++) {
    size_t len = i % 7 == 6 ? 20000 : 8 + (size_t)(i % 50);
    memset(big, (int)(i & 0xff), len);
    memcpy(big, &i, 8);
    if (mpconn_send_bytes(c, big, len) < 0)
      return 2;
  }
}

static void test_sender_killed(void **state) {
  (void)state;
  for (int round = 0; round < 10; round++) {
    mpconn *a, *b;
    assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 8192), 0);
    pid_t pid = spawn(endless_sender, a);
    mpconn_free(a);
    uint8_t *buf = malloc(20000);
    uint64_t i = 0;
    int rc;
    size_t n;
    for (;; i++) {
      if (i == (uint64_t)(200 + round * 317))
        kill(pid, SIGKILL);
      rc = mpconn_recv_bytes_into(b, buf, 20000, 0, &n, 10000);
      if (rc != 0)
        break;
      uint64_t got;
      memcpy(&got, buf, 8);
      size_t want = i % 7 == 6 ? 20000 : 8 + (size_t)(i % 50);
      if (got != i || n != want || (n > 8 && buf[n - 1] != (uint8_t)(i & 0xff)))
        fail_msg("round %d: message %llu is wrong", round,
                 (unsigned long long)i);
    }
    if (rc != MPCONN_EOF && rc != MPCONN_ETRUNCATED)
      fail_msg("round %d: after %llu messages, %s", round,
               (unsigned long long)i, mpconn_err_name(rc));
    reap_killed(pid);
    free(buf);
    mpconn_free(b);
  }
}

/* A receiver killed: the sender gets MPCONN_EPIPE once the ring is full
 * (or at once, if it had to ring the receiver awake). */
static int slow_receiver(void *arg) {
  mpconn *c = arg;
  void *d;
  size_t n;
  for (;;) {
    if (mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, -1) < 0)
      return 1;
    free(d);
  }
}

static void test_receiver_killed(void **state) {
  (void)state;
  for (int round = 0; round < 5; round++) {
    mpconn *a, *b;
    assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 4096), 0);
    pid_t pid = spawn(slow_receiver, b);
    mpconn_free(b);
    int rc = 0;
    uint64_t i = 0;
    for (; i < 1000000 && rc == 0; i++) {
      if (i == (uint64_t)(100 + round * 1000))
        kill(pid, SIGKILL);
      rc = mpconn_send_bytes(a, "some bytes", 10);
    }
    assert_int_equal(rc, MPCONN_EPIPE);
    reap_killed(pid);
    mpconn_free(a);
  }
}

/* A peer writing garbage positions: each is refused with
 * MPCONN_EBADRING, for good, and nothing is read or written out of
 * bounds (ASan and valgrind run this too). */
static void test_hostile_positions(void **state) {
  (void)state;
  uint64_t bad[] = {UINT64_MAX, (uint64_t)1 << 62, 4097, 8192};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    mpconn *a, *b;
    assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 4096), 0);
    assert_int_equal(mpconn_send_bytes(a, "ok", 2), 0);
    void *d;
    size_t n;
    assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 1000), 0);
    free(d);
    uint64_t *in_tail, *out_head;
    /* The receiver's inbound tail: ahead by more than a ring, or behind
     * its head. */
    mpconn__ringconn_words(b, &in_tail, &out_head);
    *in_tail = k == 3 ? 1 : *in_tail + bad[k];
    assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 1000), MPCONN_EBADRING);
    assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 0), MPCONN_EBADRING);
    assert_int_equal(mpconn_poll(b, 0), 1);
    /* The sender's outbound head: past its tail, or a ring behind. */
    mpconn__ringconn_words(a, &in_tail, &out_head);
    *out_head = k % 2 ? *out_head + bad[k] : (uint64_t)0 - 5000;
    assert_int_equal(mpconn_send_bytes(a, "x", 1), MPCONN_EBADRING);
    assert_int_equal(mpconn_send_bytes(a, "x", 1), MPCONN_EBADRING);
    mpconn_free(a);
    mpconn_free(b);
  }
}

/* Messages larger than the ring stream through it, both ways at once. */
struct big_echo {
  mpconn *c;
  size_t len;
  int rc;
};

static void *send_big(void *arg) {
  struct big_echo *e = arg;
  uint8_t *m = pattern_buf(3, e->len);
  e->rc = mpconn_send_bytes(e->c, m, e->len);
  free(m);
  return NULL;
}

static void test_larger_than_ring(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 4096), 0);
  assert_int_equal(mpconn_ring_size(a), 4096);
  struct big_echo e1 = {.c = a, .len = 1 << 20}, e2 = {.c = b, .len = 300000};
  pthread_t t1, t2;
  assert_int_equal(pthread_create(&t1, NULL, send_big, &e1), 0);
  assert_int_equal(pthread_create(&t2, NULL, send_big, &e2), 0);
  expect_pattern(b, 3, 1 << 20);
  expect_pattern(a, 3, 300000);
  assert_int_equal(pthread_join(t1, NULL), 0);
  assert_int_equal(pthread_join(t2, NULL), 0);
  assert_int_equal(e1.rc, 0);
  assert_int_equal(e2.rc, 0);
  mpconn_free(a);
  mpconn_free(b);
}

/* With a send timeout, a full ring: MPCONN_EAGAIN or MPCONN_ETIMEDOUT,
 * nothing taken; what was taken arrives. */
static void test_send_timeouts(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 4096), 0);
  assert_int_equal(mpconn_set_send_buffer(a, 1024), 0);
  assert_int_equal(mpconn_set_send_timeout(a, 0), 0);
  uint8_t msg[500];
  int taken = 0, rc;
  while ((rc = mpconn_send_bytes(a, msg, sizeof(msg))) == 0)
    taken++;
  assert_int_equal(rc, MPCONN_EAGAIN);
  assert_int_equal(mpconn_set_send_timeout(a, 30), 0);
  assert_int_equal(mpconn_send_bytes(a, msg, sizeof(msg)), MPCONN_ETIMEDOUT);
  for (int i = 0; i < taken; i++) {
    void *d;
    size_t n;
    while ((rc = mpconn_recv_bytes(b, &d, &n, MPCONN_UNLIMITED, 0)) ==
           MPCONN_ETIMEDOUT)
      assert_true(mpconn_flush(a) <= 0);
    assert_int_equal(rc, 0);
    assert_int_equal(n, sizeof(msg));
    free(d);
  }
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(b, &d, &n, MPCONN_UNLIMITED, 50),
                   MPCONN_ETIMEDOUT);
  mpconn_free(a);
  mpconn_free(b);
}

/* Spinning is a setting of ring pairs only; messages go the same. */
static void test_spin_and_limits(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe_ex(&a, &b, MPCONN_PIPE_RING, 0), 0);
  assert_int_equal(mpconn_ring_size(a), MPCONN_DEFAULT_RING);
  assert_int_equal(mpconn_set_spin(b, 50), 0);
  assert_int_equal(mpconn_set_spin(b, -1), MPCONN_EINVAL);
  assert_int_equal(mpconn_send_bytes(a, "spin", 4), 0);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 1000), 0);
  free(d);
  assert_int_equal(mpconn_recv_bytes(b, &d, &n, 16, 20), MPCONN_ETIMEDOUT);
  /* No descriptors, no shared-memory messages, no moving it. */
  assert_int_equal(mpconn_send_fd(a, 0), MPCONN_EINVAL);
  int fd;
  assert_int_equal(mpconn_recv_fd(b, &fd, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_set_shm(a, 100), MPCONN_EINVAL);
  mpconn *x, *y;
  assert_int_equal(mpconn_pipe(&x, &y, true), 0);
  assert_int_equal(mpconn_send_conn(x, a), MPCONN_EINVAL);
  assert_int_equal(mpconn_ring_upgrade(a, 0, 0), MPCONN_EINVAL);
  mpconn_free(x);
  mpconn_free(y);
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_set_spin(r, 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_ring_size(r), 0);
  assert_int_equal(mpconn_ring_upgrade(w, 0, 0), MPCONN_EWRITEONLY);
  mpconn_free(r);
  mpconn_free(w);
  assert_int_equal(mpconn_pipe_ex(&x, &y, 8, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_pipe_ex(&x, &y, MPCONN_PIPE_RING, SIZE_MAX),
                   MPCONN_EINVAL);
  mpconn_free(a);
  mpconn_free(b);
}

/* The upgrade over a socketpair whose other end a forked child has: both
 * ask, both check the other's offer, then messages go through rings. */
static int upgrading_child(void *arg) {
  mpconn *c = arg;
  int rc = mpconn_ring_upgrade(c, 8192, 10000);
  if (rc < 0)
    return 10;
  if (mpconn_ring_size(c) != 8192)
    return 11;
  void *d;
  size_t n;
  for (int i = 0; i < 1000; i++) {
    if (mpconn_recv_bytes(c, &d, &n, MPCONN_UNLIMITED, 10000) < 0)
      return 12;
    rc = mpconn_send_bytes(c, d, n);
    free(d);
    if (rc < 0)
      return 13;
  }
  return 0;
}

static void test_upgrade(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  pid_t pid = spawn(upgrading_child, b);
  mpconn_free(b);
  assert_int_equal(mpconn_ring_upgrade(a, 0, 10000), 0);
  assert_int_equal(mpconn_ring_size(a), MPCONN_DEFAULT_RING);
  for (int i = 0; i < 1000; i++) {
    size_t len = (size_t)(i * 37) % 20000;
    uint8_t *m = pattern_buf((size_t)i, len);
    assert_int_equal(mpconn_send_bytes(a, m, len), 0);
    free(m);
    expect_pattern(a, (size_t)i, len);
  }
  reap_ok(pid);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(a, &d, &n, 16, 5000), MPCONN_EOF);
  mpconn_free(a);
}

/* A peer whose offer is not one: refused, nothing mapped. */
static void test_upgrade_refuses_bad_offers(void **state) {
  (void)state;
  for (int k = 0; k < 3; k++) {
    mpconn *a, *b;
    assert_int_equal(mpconn_pipe(&a, &b, true), 0);
    int fds = count_fds();
    /* What b sends instead of an offer: another message; an offer of a
     * size out of bounds; an offer with an unsealed memfd. */
    uint8_t offer[16] = {0x00, 'M', 'P', 'R', 'I', 'N', 'G', 0x01};
    int mfd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, 4096 + 4096), 0);
    if (k == 0) {
      assert_int_equal(mpconn_send_bytes(b, "not an offer at all", 19), 0);
    } else {
      offer[15] = k == 1 ? 0x03 : 0x00; /* 3 bytes; 4096 */
      offer[14] = k == 1 ? 0x00 : 0x10;
      assert_int_equal(mpconn_send_bytes(b, offer, 16), 0);
    }
    assert_int_equal(mpconn_send_fd(b, mfd), 0);
    close(mfd);
    assert_int_equal(mpconn_ring_upgrade(a, 0, 5000), MPCONN_EBADRING);
    assert_int_equal(mpconn_ring_size(a), 0);
    mpconn_free(a);
    mpconn_free(b);
    assert_int_equal(count_fds(), fds - 2);
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "stress") == 0) {
    stress_messages = 2000000;
    const struct CMUnitTest stress[] = {
        cmocka_unit_test(test_no_lost_wakeup),
        cmocka_unit_test(test_sender_killed),
    };
    return cmocka_run_group_tests(stress, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_lost_wakeup),
      cmocka_unit_test(test_sender_killed),
      cmocka_unit_test(test_receiver_killed),
      cmocka_unit_test(test_hostile_positions),
      cmocka_unit_test(test_larger_than_ring),
      cmocka_unit_test(test_send_timeouts),
      cmocka_unit_test(test_spin_and_limits),
      cmocka_unit_test(test_upgrade),
      cmocka_unit_test(test_upgrade_refuses_bad_offers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
