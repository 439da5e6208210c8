/* SPDX-License-Identifier: MIT */
/* Children for the queue tests: started with fork(), always reaped, and
 * never outliving the test. */
#ifndef QUEUE_UTIL_H
#define QUEUE_UTIL_H

#include "test-util.h"

#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

/* Run fn(arg) in a child, which exits with what fn returns.  The child
 * only calls the library and plain system calls; the parent asserts. */
static inline pid_t spawn(int (*fn)(void *), void *arg) {
  pid_t parent = getpid();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* A child of a test that failed or was killed goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    _exit(fn(arg));
  }
  return pid;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Wait for @pid at most @limit_ms; a child still running then is killed,
 * reaped, and the test fails.  Return: the wait status. */
static inline int reap_within(pid_t pid, long limit_ms) {
  int status;
  for (long waited = 0;; waited += 5) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    assert_int_equal(r, 0);
    if (waited >= limit_ms) {
      kill(pid, SIGKILL);
      assert_int_equal(waitpid(pid, &status, 0), pid);
      fail_msg("child %d still ran after %ld ms", (int)pid, limit_ms);
    }
    sleep_ms(5);
  }
}

/* Reap a child that must have exited with status 0. */
static inline void reap_ok(pid_t pid) {
  int status = reap_within(pid, 120000);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child %d: %s %d", (int)pid,
             WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Reap a child that must have been killed by SIGKILL. */
static inline void reap_killed(pid_t pid) {
  int status = reap_within(pid, 120000);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
}

#endif
