/* SPDX-License-Identifier: MIT */
/*
 * SIGPIPE never kills the host (lib/io.c): sends to a vanished reader
 * return MPCONN_EPIPE with the default disposition in force, the signal
 * mask is restored, and no SIGPIPE is left pending.  Each case runs in a
 * child; the parent makes the assertions.
 */
#include "test-util.h"

#include <signal.h>

enum { OK = 0, BAD_RC = 10, PENDING = 11, MASK = 12, LOST_PENDING = 13 };

static int sigpipe_blocked(void) {
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, SIGPIPE);
}

static int sigpipe_pending(void) {
  sigset_t p;
  sigpending(&p);
  return sigismember(&p, SIGPIPE);
}

/* How the program left SIGPIPE before the sends. */
enum before { UNBLOCKED, BLOCKED, BLOCKED_PENDING };

static int child_body(bool duplex, enum before before) {
  signal(SIGPIPE, SIG_DFL);
  bool prepend_pending = before == BLOCKED_PENDING;
  if (before != UNBLOCKED) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, NULL);
  }
  if (prepend_pending)
    raise(SIGPIPE);
  mpconn *a, *b;
  if (mpconn_pipe(&a, &b, duplex) < 0)
    return BAD_RC;
  mpconn *reader = a, *sender = b;
  mpconn_free(reader);
  char big[100000] = {0};
  if (mpconn_send_bytes(sender, "x", 1) != MPCONN_EPIPE)
    return BAD_RC;
  if (mpconn_send_bytes(sender, big, sizeof(big)) != MPCONN_EPIPE)
    return BAD_RC;
  mpconn_free(sender);
  if (prepend_pending)
    return sigpipe_pending() ? OK : LOST_PENDING;
  if (sigpipe_pending())
    return PENDING;
  if (sigpipe_blocked() != (before == BLOCKED))
    return MASK;
  return OK;
}

static void run(bool duplex, enum before before) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(child_body(duplex, before));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_false(WIFSIGNALED(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), OK);
}

static void test_pipe_reader_gone(void **state) {
  (void)state;
  run(false, UNBLOCKED);
}

static void test_socket_reader_gone(void **state) {
  (void)state;
  run(true, UNBLOCKED);
}

/* The program blocks SIGPIPE itself: the sends' own signals are taken
 * back, and its mask stays as it was. */
static void test_pipe_already_blocked(void **state) {
  (void)state;
  run(false, BLOCKED);
}

/* A SIGPIPE the program had pending before stays pending. */
static void test_pending_signal_kept(void **state) {
  (void)state;
  run(false, BLOCKED_PENDING);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pipe_reader_gone),
      cmocka_unit_test(test_socket_reader_gone),
      cmocka_unit_test(test_pipe_already_blocked),
      cmocka_unit_test(test_pending_signal_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
