/* SPDX-License-Identifier: MIT */
/* Test hooks of queue.c, for the tests that kill processes on purpose.
 * Compiled into the library (hidden); declared only here. */
#ifndef MPCONN_QUEUE_TEST_H
#define MPCONN_QUEUE_TEST_H

#include "mpconn-private.h"

/* The places where a process can die holding the
 * queue's lock.  mpconn__queue_signal_at() makes this process raise @sig
 * (SIGKILL, SIGSTOP) when it reaches @p (MPCONN__Q_LIVE, the default:
 * never). */
enum mpconn__queue_point {
  MPCONN__Q_LIVE,
  MPCONN__Q_LOCKED,     /* the lock just taken, in any call */
  MPCONN__Q_PUT_COPY,   /* half of the item's bytes are in the ring */
  MPCONN__Q_PUT_COMMIT, /* the new state is written but not yet current */
  MPCONN__Q_PUT_UNLOCK, /* the item is in the queue; the lock still held */
  MPCONN__Q_GET_COPY,   /* half of the item is copied out */
  MPCONN__Q_GET_COMMIT, /* the new state is written but not yet current */
  MPCONN__Q_GET_UNLOCK, /* the item is taken; the lock still held */
};
void mpconn__queue_signal_at(mpconn_queue *q, enum mpconn__queue_point p,
                             int sig);
/* How many times a call found the lock's owner dead and recovered. */
uint32_t mpconn__queue_owner_deaths(const mpconn_queue *q);
/* The lock's futex word (rings: the get lock of the first ring holding an
 * item) (glibc's mutex word: owner's thread ID and the
 * kernel's FUTEX_WAITERS and FUTEX_OWNER_DIED bits), for tests that wait
 * on it as the kernel's robust-futex code sees waiters; NULL where the C
 * library's mutex layout is not known. */
uint32_t *mpconn__queue_lock_word(const mpconn_queue *q);

/* Rings (MPCONN_QUEUE_RINGS) only: the lane this process puts into, and
 * the current state of a lane's put side (@put) or get side as three
 * words, {position, count, gap}, for tests that scribble on it as a
 * hostile process could. */
unsigned mpconn__queue_my_lane(const mpconn_queue *q);
uint64_t *mpconn__queue_lane_state(const mpconn_queue *q, unsigned lane,
                                   bool put);

#endif
