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
void mpconn__lock_release(pthread_mutex_t *m);

#endif
