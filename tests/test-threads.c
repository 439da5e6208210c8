/* SPDX-License-Identifier: MIT */
/*
 * One sending thread and one receiving thread on the same duplex
 * connection at once: a sends while a also receives the echoes b returns.
 */
#include "test-util.h"

#include <pthread.h>

#define COUNT 20000

static size_t size_of(size_t i) {
  return i % 97 == 0 ? 70000 + i % 5000 : (i * 37) % 300;
}

static void *sender(void *arg) {
  mpconn *a = arg;
  for (size_t i = 0; i < COUNT; i++) {
    uint8_t *p = pattern_buf(i, size_of(i));
    int rc = mpconn_send_bytes(a, p, size_of(i));
    free(p);
    if (rc < 0)
      return (void *)1;
  }
  return NULL;
}

static void *echo(void *arg) {
  mpconn *b = arg;
  for (;;) {
    void *d;
    size_t len;
    int rc = mpconn_recv_bytes(b, &d, &len, MPCONN_UNLIMITED, 10000);
    if (rc == MPCONN_EOF)
      return NULL;
    if (rc < 0)
      return (void *)1;
    rc = mpconn_send_bytes(b, d, len);
    free(d);
    if (rc < 0)
      return (void *)1;
  }
}

static void test_send_and_receive_concurrently(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(make_test_pair(&a, &b), 0);
  pthread_t ts, te;
  assert_int_equal(pthread_create(&te, NULL, echo, b), 0);
  assert_int_equal(pthread_create(&ts, NULL, sender, a), 0);
  for (size_t i = 0; i < COUNT; i++)
    expect_pattern(a, i, size_of(i));
  void *r;
  pthread_join(ts, &r);
  assert_null(r);
  /* Half-close is not in the API: closing a ends the echo thread. */
  mpconn_free(a);
  pthread_join(te, &r);
  assert_null(r);
  mpconn_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_send_and_receive_concurrently),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
