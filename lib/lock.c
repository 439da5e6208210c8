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
 *
 * Waiting for a change under the lock uses a futex word (futex.c), never a
 * process-shared condition variable: a waiter killed inside
 * pthread_cond_wait() can leave glibc's condition variable broken for
 * every other process.
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
  return mpconn__lock_spin_until(m, 0, deadline);
}

int mpconn__lock_spin_until(pthread_mutex_t *m, int spins, int64_t deadline) {
  int rc = pthread_mutex_trylock(m);
  for (int i = 0; rc == EBUSY && i < spins; i++) {
    mpconn__cpu_relax();
    rc = pthread_mutex_trylock(m);
  }
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

int mpconn__lock_try(pthread_mutex_t *m) {
  int rc = pthread_mutex_trylock(m);
  if (rc == EOWNERDEAD) {
    pthread_mutex_consistent(m);
    return MPCONN__LOCK_OWNER_DIED;
  }
  return -rc;
}

void mpconn__lock_release(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

void mpconn__cond_bump(struct mpconn__cond *cv) {
  __atomic_add_fetch(&cv->seq, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&cv->waiters, __ATOMIC_SEQ_CST) != 0)
    mpconn__futex_wake_all(&cv->seq);
}

void mpconn__cond_wake(struct mpconn__cond *cv) {
  __atomic_add_fetch(&cv->seq, 1, __ATOMIC_SEQ_CST);
  mpconn__futex_wake_all(&cv->seq);
}

int mpconn__cond_wait(struct mpconn__cond *cv, pthread_mutex_t *m,
                      int64_t deadline) {
  uint32_t seen = __atomic_load_n(&cv->seq, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&cv->waiters, 1, __ATOMIC_SEQ_CST);
  mpconn__lock_release(m);
  int rc = mpconn__futex_wait(&cv->seq, seen, deadline);
  __atomic_sub_fetch(&cv->waiters, 1, __ATOMIC_SEQ_CST);
  if (rc < 0 && rc != MPCONN_ETIMEDOUT)
    return rc;
  /* After a timeout too: the caller looks once more, then sees that the
   * deadline has passed. */
  return mpconn__lock_until(m, deadline);
}

uint32_t mpconn__cond_enter(struct mpconn__cond *cv) {
  uint32_t seen = __atomic_load_n(&cv->seq, __ATOMIC_SEQ_CST);
  __atomic_exchange_n(&cv->waiters, 1, __ATOMIC_SEQ_CST);
  return seen;
}

int mpconn__cond_sleep(struct mpconn__cond *cv, uint32_t seen,
                       int64_t deadline) {
  int rc = mpconn__futex_wait(&cv->seq, seen, deadline);
  return rc == MPCONN_ETIMEDOUT ? rc : 0;
}

void mpconn__cond_signal(struct mpconn__cond *cv) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(&cv->waiters, __ATOMIC_SEQ_CST) != 0 &&
      __atomic_exchange_n(&cv->waiters, 0, __ATOMIC_SEQ_CST) != 0) {
    __atomic_add_fetch(&cv->seq, 1, __ATOMIC_SEQ_CST);
    mpconn__futex_wake_all(&cv->seq);
  }
}
