/* SPDX-License-Identifier: MIT */
/* lock.c — a robust lock shared between processes. */
#ifndef MPCONN_LOCK_H
#define MPCONN_LOCK_H

#include <pthread.h>
#include <stdint.h>

/* mpconn__lock_until(): the lock is taken, and its previous owner died
 * holding it.  Positive, so that callers test for errors with "< 0". */
#define MPCONN__LOCK_OWNER_DIED 1

/* Make @m, in memory shared between processes, a process-shared robust
 * mutex: 0 or -errno. */
int mpconn__lock_init(pthread_mutex_t *m);
/*
 * Take @m by @deadline (as mpconn__deadline()): 0;
 * MPCONN__LOCK_OWNER_DIED (taken, and marked consistent again: whatever
 * the dead owner protected is the caller's to repair); MPCONN_ETIMEDOUT;
 * or -errno.  A free lock is taken even when the deadline has passed.
 */
int mpconn__lock_until(pthread_mutex_t *m, int64_t deadline);
/* The same, trying a held lock @spins more times before sleeping on it:
 * for locks held only for a short copy by many processes, where a sleep
 * and a wake-up cost more than the wait (the queue's). */
int mpconn__lock_spin_until(pthread_mutex_t *m, int spins, int64_t deadline);
/* Take @m only if nobody holds it: 0, MPCONN__LOCK_OWNER_DIED (as
 * above), -EBUSY, or -errno. */
int mpconn__lock_try(pthread_mutex_t *m);
void mpconn__lock_release(pthread_mutex_t *m);

/*
 * A change that processes wait for under a robust lock, in shared memory:
 * a futex word bumped by each change, and how many wait on it.  Unlike a
 * process-shared condition variable it holds no state that a process
 * killed while waiting could leave broken: a waiter killed while waiting
 * leaves its count behind, which costs later wakers a system call and
 * nothing else.
 */
struct mpconn__cond {
  uint32_t seq;
  uint32_t waiters;
};

/* A change: wake every waiter (a system call only when there are some). */
void mpconn__cond_bump(struct mpconn__cond *cv);
/* The same, waking unconditionally (after an owner died). */
void mpconn__cond_wake(struct mpconn__cond *cv);
/*
 * Called with @m held, after finding that the caller must wait: release
 * @m, sleep until @cv changes or @deadline passes, and take @m again by
 * @deadline.  The word is read under the lock, so a change made after the
 * caller looked cannot be missed.  Return: as mpconn__lock_until(); 0 and
 * MPCONN__LOCK_OWNER_DIED with @m held (look again, also after the
 * deadline), a negative code without it.
 */
int mpconn__cond_wait(struct mpconn__cond *cv, pthread_mutex_t *m,
                      int64_t deadline);

/*
 * Waiting for a change that is made without the lock (the queue's rings).
 * Here @waiters is a flag, "somebody may sleep": the waiter reads the word
 * and raises the flag (enter), looks, and sleeps on what it read; the
 * changer makes its change, fences, and if the flag is up takes it down,
 * bumps the word and wakes everyone.  A waiter that raised the flag before
 * the changer took it down read the word before the bump, so its sleep
 * returns at once; one that raised it after looks after the change.  So
 * no wake-up is lost, only the first change after a waiter enters makes a
 * system call, and a change nobody waits for costs a fence and a read of
 * a line that stays shared.
 */
uint32_t mpconn__cond_enter(struct mpconn__cond *cv);
/* Sleep until @cv moves from @seen or @deadline: 0 (look again) or
 * MPCONN_ETIMEDOUT. */
int mpconn__cond_sleep(struct mpconn__cond *cv, uint32_t seen,
                       int64_t deadline);
void mpconn__cond_signal(struct mpconn__cond *cv);

#endif
