/* SPDX-License-Identifier: MIT */
/*
 * Waiting and waking on a 32-bit word in memory shared between processes.
 *
 * Process-shared condition variables are not used for this: a waiter killed
 * inside pthread_cond_wait() can leave glibc's condition variable state
 * broken for every other process.  A futex word holds no such state.  The
 * futex calls here are the shared ones (no FUTEX_PRIVATE_FLAG), so a word
 * in a MAP_SHARED mapping wakes waiters in every process that maps it.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int mpconn__futex_wait(uint32_t *word, uint32_t expected, int64_t deadline) {
  if (deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0)
    return MPCONN_ETIMEDOUT;
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, the clock of
   * mpconn__deadline(), so a wake-up that is not ours does not stretch the
   * wait. */
  struct timespec abs, *tp = NULL;
  if (deadline != MPCONN_FOREVER) {
    abs.tv_sec = (time_t)(deadline / 1000);
    abs.tv_nsec = (long)(deadline % 1000) * 1000000L;
    tp = &abs;
  }
  long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tp, NULL,
                    FUTEX_BITSET_MATCH_ANY);
  if (rc == 0)
    return 0;
  switch (errno) {
  case EAGAIN: /* the word had already changed */
  case EINTR:
    return 0;
  case ETIMEDOUT:
    return MPCONN_ETIMEDOUT;
  default:
    return -errno;
  }
}

void mpconn__futex_wake(uint32_t *word, int n) {
  syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void mpconn__futex_wake_all(uint32_t *word) {
  mpconn__futex_wake(word, INT_MAX);
}
