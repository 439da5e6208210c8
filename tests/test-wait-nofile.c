/* SPDX-License-Identifier: MIT */
/*
 * mpconn_wait() and mpconn_wait_any() (lib/wait.c) on more connections
 * than half the process's descriptor limit.
 *
 * Known bug, kept as a failing test (should_fail in tests/meson.build)
 * until lib/wait.c is fixed: every item takes two poll() entries, the
 * second unused (-1) for a socket, and poll() refuses more entries than
 * RLIMIT_NOFILE (EINVAL).  So a process with a soft limit of 1024 that
 * waits on 513 connections or more gets MPCONN_EINVAL, with only half its
 * descriptors in use; examples/echo-server exited on it when a flood of
 * clients filled its descriptors.
 */
#include "test-util.h"

#include <poll.h>
#include <sys/resource.h>

#define PAIRS 20

/* In a child: PAIRS socketpairs (2 * PAIRS descriptors) under a limit
 * that leaves a few spare, then wait on all 2 * PAIRS ends.  Exit status:
 * 0 when both calls said "nothing ready", else which failed. */
static int wait_on_many(void) {
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = (rlim_t)(count_fds() + 2 * PAIRS + 8);
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 99;
  mpconn *conns[2 * PAIRS], *ready[2 * PAIRS];
  for (int i = 0; i < PAIRS; i++)
    if (mpconn_pipe(&conns[2 * i], &conns[2 * i + 1], true) < 0)
      return 98;
  int status = 0;
  if (mpconn_wait(conns, 2 * PAIRS, 0, ready) != 0)
    status |= 1;
  mpconn_wait_item items[2 * PAIRS];
  for (int i = 0; i < 2 * PAIRS; i++)
    items[i] = (mpconn_wait_item){
        .kind = MPCONN_WAIT_CONN, .conn = conns[i], .events = POLLIN};
  if (mpconn_wait_any(items, 2 * PAIRS, 0) != 0)
    status |= 2;
  for (int i = 0; i < 2 * PAIRS; i++)
    mpconn_free(conns[i]);
  return status;
}

/* Nothing is ready: both calls return 0, whatever the limit. */
static void test_wait_near_the_limit(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(wait_on_many());
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0)
    fail_msg("child: exit status %d (1: mpconn_wait() failed, 2: "
             "mpconn_wait_any() failed, 3: both)",
             WEXITSTATUS(status));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wait_near_the_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
