/* SPDX-License-Identifier: MIT */
/*
 * Lock, RLock, Semaphore and Event, each in a shared anonymous mapping
 * of its own made before fork().
 *
 * Lock and RLock are robust process-shared pthread mutexes, taken with
 * lock.c's mpconn__lock_until(): the kernel knows each holder, and when
 * one dies it hands the mutex to the next process that takes it, marked
 * so that lock.c reports the death.  Being robust is why only the holder
 * may release: a mutex has an owner, where Python's Lock, a semaphore,
 * has none.
 *
 * Semaphore and Event are futex words (futex.c).  A semaphore waiter
 * sleeps at most MPCONN__RECHECK_MS at a time: a release wakes one
 * waiter, and if that one is killed before it takes the count, the
 * others find the count by looking again.
 */
#include "shared.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Mutexes                                                                  */
/* ------------------------------------------------------------------------ */

int mpconn__rlock_init(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  int rc = pthread_mutexattr_init(&a);
  if (rc != 0)
    return -rc;
  rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  if (rc == 0)
    rc = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return -rc;
}

bool mpconn__rlock_held(const pthread_mutex_t *m) {
#ifdef __GLIBC__
  /* The futex word of a robust mutex holds its holder's thread ID; the
   * kernel clears it when the holder dies. */
  uint32_t word =
      __atomic_load_n((const uint32_t *)&m->__data.__lock, __ATOMIC_RELAXED);
  return (word & FUTEX_TID_MASK) == (uint32_t)gettid();
#else
  (void)m;
  return true;
#endif
}

/* Take @m within @timeout_ms: 0, MPCONN_EOWNERDEAD (taken), or the codes
 * of mpconn__lock_until().  A free lock (or, for an RLock, one the caller
 * holds) is taken by the first try, without reading the clock. */
static int acquire(pthread_mutex_t *m, int timeout_ms) {
  int rc = pthread_mutex_trylock(m);
  if (rc == 0)
    return 0;
  if (rc == EBUSY)
    rc = mpconn__lock_until(m, mpconn__deadline(timeout_ms));
  else if (rc == EOWNERDEAD && pthread_mutex_consistent(m) == 0)
    rc = MPCONN__LOCK_OWNER_DIED;
  else
    rc = -rc;
  return rc == MPCONN__LOCK_OWNER_DIED ? MPCONN_EOWNERDEAD : rc;
}

static int release(pthread_mutex_t *m) {
  int rc = pthread_mutex_unlock(m);
  if (rc == 0)
    return 0;
  return rc == EPERM ? MPCONN_ENOTOWNER : -rc;
}

/* A mutex in a mapping of its own. */
static pthread_mutex_t *new_mutex(bool recursive, int *rc) {
  pthread_mutex_t *m = mpconn__map_shared(sizeof(*m), rc);
  if (!m)
    return NULL;
  *rc = recursive ? mpconn__rlock_init(m) : mpconn__lock_init(m);
  if (*rc < 0) {
    munmap(m, sizeof(*m));
    return NULL;
  }
  return m;
}

struct mpconn_lock {
  pthread_mutex_t *m;
};

int mpconn_lock_new(mpconn_lock **l) {
  if (!l)
    return MPCONN_EINVAL;
  *l = NULL;
  mpconn_lock *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->m = new_mutex(false, &rc);
  if (!h->m) {
    free(h);
    return rc;
  }
  *l = h;
  return 0;
}

void mpconn_lock_free(mpconn_lock *l) {
  if (!l)
    return;
  /* Not destroyed: other processes may still use it. */
  munmap(l->m, sizeof(*l->m));
  free(l);
}

int mpconn_lock_acquire(mpconn_lock *l, int timeout_ms) {
  return l ? acquire(l->m, timeout_ms) : MPCONN_EINVAL;
}

int mpconn_lock_release(mpconn_lock *l) {
  return l ? release(l->m) : MPCONN_EINVAL;
}

int mpconn_rlock_new(mpconn_rlock **l) {
  if (!l)
    return MPCONN_EINVAL;
  *l = NULL;
  mpconn_rlock *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->m = new_mutex(true, &rc);
  if (!h->m) {
    free(h);
    return rc;
  }
  h->map = h->m;
  h->map_len = sizeof(*h->m);
  *l = h;
  return 0;
}

void mpconn_rlock_free(mpconn_rlock *l) {
  /* An array's lock belongs to its array (map is NULL). */
  if (!l || !l->map)
    return;
  munmap(l->map, l->map_len);
  free(l);
}

int mpconn_rlock_acquire(mpconn_rlock *l, int timeout_ms) {
  return l ? acquire(l->m, timeout_ms) : MPCONN_EINVAL;
}

int mpconn_rlock_release(mpconn_rlock *l) {
  return l ? release(l->m) : MPCONN_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Semaphores                                                               */
/* ------------------------------------------------------------------------ */

struct sem_shared {
  uint32_t value;   /* the count; the futex word */
  uint32_t bounded; /* 1 for a BoundedSemaphore */
  uint32_t max;     /* its initial value, which releases may not pass */
  uint32_t waiters; /* how many sleep on value (a waiter killed asleep
                       leaves its count: a system call per release) */
};

struct mpconn_semaphore {
  struct sem_shared *sh;
};

static int new_semaphore(mpconn_semaphore **s, unsigned value, bool bounded) {
  if (!s)
    return MPCONN_EINVAL;
  *s = NULL;
  if (value > MPCONN_SEMAPHORE_MAX)
    return MPCONN_EINVAL;
  mpconn_semaphore *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->sh = mpconn__map_shared(sizeof(*h->sh), &rc);
  if (!h->sh) {
    free(h);
    return rc;
  }
  h->sh->value = value;
  h->sh->bounded = bounded;
  h->sh->max = value;
  *s = h;
  return 0;
}

int mpconn_semaphore_new(mpconn_semaphore **s, unsigned value) {
  return new_semaphore(s, value, false);
}

int mpconn_bounded_semaphore_new(mpconn_semaphore **s, unsigned value) {
  return new_semaphore(s, value, true);
}

void mpconn_semaphore_free(mpconn_semaphore *s) {
  if (!s)
    return;
  munmap(s->sh, sizeof(*s->sh));
  free(s);
}

int mpconn_semaphore_acquire(mpconn_semaphore *s, int timeout_ms) {
  if (!s)
    return MPCONN_EINVAL;
  struct sem_shared *sh = s->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  for (;;) {
    uint32_t v = __atomic_load_n(&sh->value, __ATOMIC_ACQUIRE);
    while (v > 0)
      if (__atomic_compare_exchange_n(&sh->value, &v, v - 1, false,
                                      __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
        return 0;
    if (mpconn__expired(deadline))
      return MPCONN_ETIMEDOUT;
    /* Counted before the futex checks the word, and a release counts up
     * before it reads waiters: one of the two sees the other. */
    __atomic_add_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
    int rc = mpconn__futex_wait(&sh->value, 0, mpconn__recheck_until(deadline));
    __atomic_sub_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
    if (rc < 0 && rc != MPCONN_ETIMEDOUT)
      return rc;
  }
}

int mpconn_semaphore_release(mpconn_semaphore *s) {
  if (!s)
    return MPCONN_EINVAL;
  struct sem_shared *sh = s->sh;
  uint32_t v = __atomic_load_n(&sh->value, __ATOMIC_RELAXED);
  do {
    if (sh->bounded && v >= sh->max)
      return MPCONN_EOVERRELEASE;
    if (v >= MPCONN_SEMAPHORE_MAX)
      return -EOVERFLOW;
  } while (!__atomic_compare_exchange_n(&sh->value, &v, v + 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  if (__atomic_load_n(&sh->waiters, __ATOMIC_SEQ_CST) != 0)
    mpconn__futex_wake(&sh->value, 1);
  return 0;
}

int mpconn_semaphore_value(const mpconn_semaphore *s) {
  if (!s)
    return MPCONN_EINVAL;
  return (int)__atomic_load_n(&s->sh->value, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/* word: bit 0 is the flag; the rest counts set() calls that raised it, so
 * that a waiter woken by one knows, even if the flag was cleared since. */
struct event_shared {
  uint32_t word;
  uint32_t waiters;
};

struct mpconn_event {
  struct event_shared *sh;
};

int mpconn_event_new(mpconn_event **e) {
  if (!e)
    return MPCONN_EINVAL;
  *e = NULL;
  mpconn_event *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->sh = mpconn__map_shared(sizeof(*h->sh), &rc);
  if (!h->sh) {
    free(h);
    return rc;
  }
  *e = h;
  return 0;
}

void mpconn_event_free(mpconn_event *e) {
  if (!e)
    return;
  munmap(e->sh, sizeof(*e->sh));
  free(e);
}

int mpconn_event_set(mpconn_event *e) {
  if (!e)
    return MPCONN_EINVAL;
  uint32_t w = __atomic_load_n(&e->sh->word, __ATOMIC_RELAXED);
  do {
    if (w & 1)
      return 0;
  } while (!__atomic_compare_exchange_n(&e->sh->word, &w, (w + 2) | 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  if (__atomic_load_n(&e->sh->waiters, __ATOMIC_SEQ_CST) != 0)
    mpconn__futex_wake_all(&e->sh->word);
  return 0;
}

int mpconn_event_clear(mpconn_event *e) {
  if (!e)
    return MPCONN_EINVAL;
  __atomic_and_fetch(&e->sh->word, ~(uint32_t)1, __ATOMIC_SEQ_CST);
  return 0;
}

bool mpconn_event_is_set(const mpconn_event *e) {
  return e && (__atomic_load_n(&e->sh->word, __ATOMIC_ACQUIRE) & 1);
}

int mpconn_event_wait(mpconn_event *e, int timeout_ms) {
  if (!e)
    return MPCONN_EINVAL;
  struct event_shared *sh = e->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  uint32_t w = __atomic_load_n(&sh->word, __ATOMIC_ACQUIRE);
  for (;;) {
    if (w & 1)
      return 0;
    if (mpconn__expired(deadline))
      return MPCONN_ETIMEDOUT;
    __atomic_add_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
    int rc = mpconn__futex_wait(&sh->word, w, deadline);
    __atomic_sub_fetch(&sh->waiters, 1, __ATOMIC_SEQ_CST);
    if (rc < 0 && rc != MPCONN_ETIMEDOUT)
      return rc;
    uint32_t now = __atomic_load_n(&sh->word, __ATOMIC_ACQUIRE);
    if ((now >> 1) != (w >> 1))
      return 0; /* set() ran, whatever the flag is now */
    w = now;
  }
}
