/* SPDX-License-Identifier: MIT */
/*
 * Condition: an RLock and a futex word, in a shared anonymous mapping.
 *
 * Process-shared condition variables are not used (see futex.c): a
 * waiter killed inside pthread_cond_wait() can break one for everybody.
 * Instead two counts, changed only with the lock held, say who may
 * return: nwait, the waiters not yet notified, and signals, the
 * notifications not yet taken.  notify(n) moves up to n from the first
 * to the second, bumps the futex word and wakes as many sleepers; a
 * waiter returns 0 only by taking one notification, under the lock.  So
 * notify(n) lets at most n waiters return, whichever wake first.
 *
 * nwait + signals is the number of waiters inside wait(), counting those
 * that were killed there.  A killed waiter's share stays: notifications
 * given to it are taken by a later waiter, which returns early.  A
 * waiter sleeps at most MPCONN__RECHECK_MS at a time, so a notification
 * whose woken waiter was killed before taking it is found by another.
 */
#include "shared.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

struct cond_shared {
  pthread_mutex_t lock; /* the condition's own RLock, when it has one */
  uint32_t seq;         /* futex word, bumped by every notification */
  uint32_t nwait;       /* waiting and not yet notified */
  uint32_t signals;     /* notified and not yet returned */
};

struct mpconn_condition {
  struct cond_shared *sh;
  pthread_mutex_t *m; /* &sh->lock, or a given RLock's */
};

int mpconn_condition_new(mpconn_condition **c, mpconn_rlock *lock) {
  if (!c)
    return MPCONN_EINVAL;
  *c = NULL;
  mpconn_condition *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->sh = mpconn__map_shared(sizeof(*h->sh), &rc);
  if (!h->sh) {
    free(h);
    return rc;
  }
  if (!lock && (rc = mpconn__rlock_init(&h->sh->lock)) < 0) {
    munmap(h->sh, sizeof(*h->sh));
    free(h);
    return rc;
  }
  h->m = lock ? lock->m : &h->sh->lock;
  *c = h;
  return 0;
}

void mpconn_condition_free(mpconn_condition *c) {
  if (!c)
    return;
  munmap(c->sh, sizeof(*c->sh));
  free(c);
}

int mpconn_condition_acquire(mpconn_condition *c, int timeout_ms) {
  if (!c)
    return MPCONN_EINVAL;
  int rc = mpconn__lock_until(c->m, mpconn__deadline(timeout_ms));
  return rc == MPCONN__LOCK_OWNER_DIED ? MPCONN_EOWNERDEAD : rc;
}

int mpconn_condition_release(mpconn_condition *c) {
  if (!c)
    return MPCONN_EINVAL;
  int rc = pthread_mutex_unlock(c->m);
  return rc == 0 ? 0 : rc == EPERM ? MPCONN_ENOTOWNER : -rc;
}

/* Release every level the caller holds: how many there were.  The call
 * that fails is the one after the last level, and fails because the
 * caller no longer holds the lock, whoever holds it by then. */
static unsigned release_all(pthread_mutex_t *m) {
  unsigned levels = 0;
  while (pthread_mutex_unlock(m) == 0)
    levels++;
  return levels;
}

/* Take the lock back at @levels levels: 0, MPCONN__LOCK_OWNER_DIED or a
 * negative code (then the lock is not held). */
static int reacquire(pthread_mutex_t *m, unsigned levels) {
  int rc = mpconn__lock_until(m, MPCONN_FOREVER);
  if (rc < 0)
    return rc;
  /* A recursive mutex its holder takes again: never waits. */
  for (unsigned i = 1; i < levels; i++)
    pthread_mutex_trylock(m);
  return rc;
}

int mpconn_condition_wait(mpconn_condition *c, int timeout_ms) {
  if (!c)
    return MPCONN_EINVAL;
  if (!mpconn__rlock_held(c->m))
    return MPCONN_ENOTOWNER;
  struct cond_shared *sh = c->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  sh->nwait++;
  uint32_t seen = __atomic_load_n(&sh->seq, __ATOMIC_RELAXED);
  unsigned levels = release_all(c->m);
  for (;;) {
    int rc =
        mpconn__futex_wait(&sh->seq, seen, mpconn__recheck_until(deadline));
    (void)rc; /* whatever woke it, the counts under the lock decide */
    rc = reacquire(c->m, levels);
    if (rc < 0)
      return rc;
    bool died = rc == MPCONN__LOCK_OWNER_DIED;
    if (sh->signals > 0) {
      sh->signals--;
      return died ? MPCONN_EOWNERDEAD : 0;
    }
    /* Not notified: still counted in nwait. */
    if (died || mpconn__expired(deadline)) {
      if (sh->nwait > 0)
        sh->nwait--;
      return died ? MPCONN_EOWNERDEAD : MPCONN_ETIMEDOUT;
    }
    seen = __atomic_load_n(&sh->seq, __ATOMIC_RELAXED);
    release_all(c->m);
  }
}

int mpconn_condition_wait_for(mpconn_condition *c, bool (*predicate)(void *),
                              void *arg, int timeout_ms) {
  if (!c || !predicate)
    return MPCONN_EINVAL;
  if (!mpconn__rlock_held(c->m))
    return MPCONN_ENOTOWNER;
  int64_t deadline = mpconn__deadline(timeout_ms);
  for (;;) {
    if (predicate(arg))
      return 0;
    if (mpconn__expired(deadline))
      return MPCONN_ETIMEDOUT;
    int rc = mpconn_condition_wait(c, mpconn__remaining_ms(deadline));
    if (rc == MPCONN_ETIMEDOUT)
      return predicate(arg) ? 0 : MPCONN_ETIMEDOUT;
    if (rc < 0)
      return rc;
  }
}

int mpconn_condition_notify(mpconn_condition *c, unsigned n) {
  if (!c)
    return MPCONN_EINVAL;
  if (!mpconn__rlock_held(c->m))
    return MPCONN_ENOTOWNER;
  struct cond_shared *sh = c->sh;
  uint32_t k = n < sh->nwait ? n : sh->nwait;
  if (k == 0)
    return 0;
  sh->nwait -= k;
  sh->signals += k;
  __atomic_add_fetch(&sh->seq, 1, __ATOMIC_SEQ_CST);
  mpconn__futex_wake(&sh->seq, k > INT32_MAX ? INT32_MAX : (int)k);
  return 0;
}

int mpconn_condition_notify_all(mpconn_condition *c) {
  return mpconn_condition_notify(c, UINT32_MAX);
}
