/* SPDX-License-Identifier: MIT */
/*
 * What the two kinds of queue share: queue.c (one ring under one lock, the
 * default) and queue-rings.c (one ring per producer process,
 * MPCONN_QUEUE_RINGS).  queue.c has the public calls and hands a rings
 * queue's puts, gets and counts to queue-rings.c.
 */
#ifndef MPCONN_QUEUE_H
#define MPCONN_QUEUE_H

#include "queue-test.h"
#include "ring.h"
#include <signal.h>

/* Everything one put, get or task_done of the locked queue changes. */
struct mpconn__qstate {
  uint64_t head;       /* ring position of the oldest item's first byte */
  uint64_t tail;       /* ring position just past the newest item */
  uint64_t count;      /* items in the ring */
  uint64_t unfinished; /* items put and not yet marked done */
};

struct qshared;
struct mpconn__qrings;

/* This process's handle.  Sizes are kept here, not read from the shared
 * header, so that no other process can change where this one copies. */
struct mpconn_queue {
  struct qshared *sh;           /* the locked queue; NULL for rings */
  struct mpconn__qrings *rings; /* MPCONN_QUEUE_RINGS; NULL otherwise */
  struct mpconn__ring ring;     /* the locked queue's */
  size_t map_len;
  uint64_t maxsize;
  enum mpconn__queue_point hook; /* test hook: raise hook_sig there */
  int hook_sig;
};

/* The test hook: raise the signal asked for if @p is the point. */
static inline void mpconn__queue_crash(const mpconn_queue *q,
                                       enum mpconn__queue_point p) {
  if (p != MPCONN__Q_LIVE && q->hook == p)
    raise(q->hook_sig);
}

/*
 * The oldest item, found with the lock that guards it held, as the source
 * of a message (value.h): s.copy() copies it out while it stays; s.commit()
 * takes it and releases the lock; release() releases the lock and leaves
 * the item where it is.
 */
struct mpconn__qitem {
  struct mpconn__src s;
  mpconn_queue *q;
  void (*release)(struct mpconn__qitem *it);
  bool taken;               /* s.commit() ran: the lock is released */
  struct mpconn__qstate st; /* the locked queue: the state found */
  unsigned lane;            /* rings: the lane the item is in, */
  uint64_t head, gets;      /* and that lane's get side as found */
};

/* The source fields every queue item starts with. */
static inline struct mpconn__src
mpconn__qitem_src(uint64_t plen, size_t hlen,
                  void (*copy)(struct mpconn__src *, uint8_t *),
                  void (*commit)(struct mpconn__src *)) {
  return (struct mpconn__src){.len = (size_t)plen,
                              .hlen = hlen,
                              .max_tree = SIZE_MAX,
                              .copy = copy,
                              .commit = commit};
}

/* queue-rings.c; each takes a queue made with MPCONN_QUEUE_RINGS.  The
 * codes are those of the public call of the same name. */
int mpconn__qrings_new(mpconn_queue *q, size_t capacity);
void mpconn__qrings_free(mpconn_queue *q);
int mpconn__qrings_put(mpconn_queue *q, const uint8_t *hdr, size_t hlen,
                       const void *data, size_t len, int timeout_ms);
/* 0 with *@it set and its lane's lock held, or a negative code. */
int mpconn__qrings_oldest(mpconn_queue *q, struct mpconn__qitem *it,
                          int timeout_ms);
size_t mpconn__qrings_qsize(const mpconn_queue *q);
int mpconn__qrings_close(mpconn_queue *q);
int mpconn__qrings_task_done(mpconn_queue *q);
int mpconn__qrings_join(mpconn_queue *q, int timeout_ms);
uint32_t mpconn__qrings_owner_deaths(const mpconn_queue *q);
uint32_t *mpconn__qrings_lock_word(const mpconn_queue *q);

#endif
