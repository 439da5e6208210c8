/* SPDX-License-Identifier: MIT */
/*
 * The robust lock shared between processes: a process-shared robust
 * pthread mutex in a shared mapping, taken with a deadline, whose owner
 * may die holding it.
 *
 * When an owner dies, the kernel marks the lock and wakes one waiter; if
 * that waiter dies too before it takes the lock, the kernel wakes nobody
 * else, and the other waiters would sleep until their deadline, or for
 * ever.  So a wait for the lock lasts at most LOCK_RECHECK_MS before the
 * waiter looks again: it then finds the mark and takes the lock over.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <time.h>

#define LOCK_RECHECK_MS 100

int mpconn__lock_init(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  int rc = pthread_mutexattr_init(&a);
  if (rc != 0)
    return -rc;
  rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return -rc;
}

int mpconn__lock_until(pthread_mutex_t *m, int64_t deadline) {
  int rc = pthread_mutex_trylock(m);
  while (rc == EBUSY) {
    /* Locked at once when the lock is free, even past the deadline. */
    int64_t until = mpconn__deadline(LOCK_RECHECK_MS);
    bool last = deadline != MPCONN_FOREVER && deadline <= until;
    if (last)
      until = deadline;
    struct timespec abs = {.tv_sec = (time_t)(until / 1000),
                           .tv_nsec = (long)(until % 1000) * 1000000L};
    rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &abs);
    if (rc == ETIMEDOUT)
      rc = last ? ETIMEDOUT : EBUSY;
  }
  switch (rc) {
  case 0:
    return 0;
  case ETIMEDOUT:
    return MPCONN_ETIMEDOUT;
  case EOWNERDEAD:
    pthread_mutex_consistent(m);
    return MPCONN__LOCK_OWNER_DIED;
  default:
    return -rc;
  }
}

void mpconn__lock_release(pthread_mutex_t *m) { pthread_mutex_unlock(m); }
