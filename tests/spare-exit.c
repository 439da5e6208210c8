/* SPDX-License-Identifier: MIT */
/*
 * Receives small values in the main thread and in a second one, then
 * returns from main(): run under valgrind by test-spare-exit.sh, which
 * counts memory still reachable at exit as an error.  The per-thread spare
 * message of each thread must be gone: the second thread's when it exits,
 * the main thread's at process exit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpconn.h"

static int fail(const char *what, int rc) {
  fprintf(stderr, "spare-exit: %s: %s\n", what, mpconn_err_name(rc));
  return 1;
}

/* Send one small value and receive it: the freed message becomes the
 * calling thread's spare. */
static int round_trip(mpconn *a, mpconn *b, int i) {
  int rc = mpconn_sendf(a, "[s, i]", "spam", i);
  if (rc < 0)
    return fail("sendf", rc);
  mpconn_msg *m;
  if ((rc = mpconn_recv(b, &m, 5000)) < 0)
    return fail("recv", rc);
  int got = -1;
  char s[8];
  rc = mpconn_unpackf(mpconn_msg_value(m), NULL, "[s, i]", s, sizeof(s), &got);
  mpconn_msg_free(m);
  if (rc < 0)
    return fail("unpackf", rc);
  return got == i ? 0 : fail("value", MPCONN_EUNPACK);
}

static mpconn *ends[2];

static void *thread_main(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++)
    if (round_trip(ends[0], ends[1], 100 + i))
      return ends;
  return NULL;
}

int main(void) {
  int rc = mpconn_pipe(&ends[0], &ends[1], true);
  if (rc < 0)
    return fail("pipe", rc);
  for (int i = 0; i < 3; i++)
    if (round_trip(ends[0], ends[1], i))
      return 1;
  pthread_t t;
  void *res;
  if (pthread_create(&t, NULL, thread_main, NULL) != 0 ||
      pthread_join(t, &res) != 0 || res != NULL)
    return fail("thread", MPCONN_EINVAL);
  mpconn_free(ends[0]);
  mpconn_free(ends[1]);
  puts("ok");
  return 0;
}
