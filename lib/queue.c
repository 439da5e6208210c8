/* SPDX-License-Identifier: MIT */
/*
 * Queues: a byte ring of frames in one shared anonymous mapping, used by
 * every process forked after its creation and by every thread.
 *
 * The mapping starts with a header: a process-shared robust lock, the
 * queue's state and three futex words to wait on; the ring follows.  An item is
 * one frame exactly as a connection carries it (length header, then payload),
 * so a value put here is the byte sequence mpconn_recv() would see.
 *
 * The state is changed only with the lock held, and a whole change becomes
 * current with one store: the new state is written to the slot that is not
 * current, then the index of the current slot is flipped.  An item's bytes
 * are in the ring before the put's state is current, and a get copies an
 * item out before its state is.  So a process killed at any instant, even
 * holding the lock halfway through a copy, leaves the state it found or the
 * state it made, never a mixture: the next process to take the lock sees
 * EOWNERDEAD, marks the lock consistent and carries on.
 *
 * The lock and the waits for a change under it are lock.c's; the ring's
 * copies are ring.c's.  A change wakes its waiters before it becomes
 * current, with the lock
 * held: the woken then block on the lock itself, so if the waker dies
 * before it releases the lock they get EOWNERDEAD, never a lost wake-up.
 *
 * There is no feeder thread: a put has finished when it returns.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The start of the shared mapping.  Positions only grow; a position's byte
 * is ring[position % capacity]. */
struct qshared {
  pthread_mutex_t lock;
  struct mpconn__qstate slot[2];
  uint32_t cur;    /* the current slot: 0 or 1 */
  uint32_t closed; /* 1 once any process has closed the queue */
  /* What waiters wait for (lock.c). */
  struct mpconn__cond put;  /* an item was added, or the queue was closed */
  struct mpconn__cond got;  /* room was freed, or the queue was closed */
  struct mpconn__cond done; /* unfinished tasks reached 0 */
  uint32_t owner_deaths;    /* times the lock was found with its owner dead */
};

/* ------------------------------------------------------------------------ */
/* Locking, state and wake-ups                                              */
/* ------------------------------------------------------------------------ */

void mpconn__queue_signal_at(mpconn_queue *q, enum mpconn__queue_point p,
                             int sig) {
  if (q) {
    q->hook = p;
    q->hook_sig = sig;
  }
}

uint32_t *mpconn__queue_lock_word(const mpconn_queue *q) {
  if (q->rings)
    return mpconn__qrings_lock_word(q);
#ifdef __GLIBC__
  return (uint32_t *)&q->sh->lock.__data.__lock;
#else
  (void)q;
  return NULL;
#endif
}

uint32_t mpconn__queue_owner_deaths(const mpconn_queue *q) {
  if (q->rings)
    return mpconn__qrings_owner_deaths(q);
  return __atomic_load_n(&q->sh->owner_deaths, __ATOMIC_SEQ_CST);
}

/* What every way of taking the lock does next, given what
 * mpconn__lock_until() returned: 0 with the lock held, or a negative code
 * without it. */
static int locked(const mpconn_queue *q, int rc) {
  if (rc < 0)
    return rc;
  if (rc == MPCONN__LOCK_OWNER_DIED) {
    /* The state is whole whatever the owner was doing.  Waiters were
     * woken before any change became current, so none should be missing
     * a wake-up; waking them all once more costs little and makes sure. */
    __atomic_add_fetch(&q->sh->owner_deaths, 1, __ATOMIC_SEQ_CST);
    mpconn__cond_wake(&q->sh->put);
    mpconn__cond_wake(&q->sh->got);
    mpconn__cond_wake(&q->sh->done);
  }
  mpconn__queue_crash(q, MPCONN__Q_LOCKED);
  return 0;
}

/*
 * Tries of the held lock before sleeping on it.  Puts and gets hold it for
 * one short copy; with many processes on few cores, sleeping at once made
 * 8 producers and 4 consumers slower than 4 and 1 (docs/queue.md).
 */
#define QUEUE_SPINS 100

/*
 * Take the lock by @deadline: 0, MPCONN_ETIMEDOUT, or -errno.  The lock is
 * held only to copy one item, but a process stopped while it holds the
 * lock (SIGSTOP, a debugger) would otherwise hold up every timed call.
 */
static int lock_until(const mpconn_queue *q, int64_t deadline) {
  return locked(q,
                mpconn__lock_spin_until(&q->sh->lock, QUEUE_SPINS, deadline));
}

static int lock(const mpconn_queue *q) { return lock_until(q, MPCONN_FOREVER); }

/* The deadline for taking the lock in a call with @timeout_ms: a call
 * with timeout 0 never waits for an item or for room, but does wait for
 * the lock's holder to finish copying its item. */
static int64_t lock_deadline(int timeout_ms, int64_t deadline) {
  return timeout_ms == 0 ? MPCONN_FOREVER : deadline;
}

static void unlock(const mpconn_queue *q) {
  mpconn__lock_release(&q->sh->lock);
}

static struct mpconn__qstate current(const mpconn_queue *q) {
  uint32_t c = __atomic_load_n(&q->sh->cur, __ATOMIC_ACQUIRE);
  return q->sh->slot[c & 1];
}

/* Make @next the state with one store; @p is the test hook in between. */
static void commit(const mpconn_queue *q, const struct mpconn__qstate *next,
                   enum mpconn__queue_point p) {
  uint32_t c = __atomic_load_n(&q->sh->cur, __ATOMIC_ACQUIRE) & 1;
  q->sh->slot[c ^ 1] = *next;
  mpconn__queue_crash(q, p);
  __atomic_store_n(&q->sh->cur, c ^ 1, __ATOMIC_RELEASE);
}

static bool closed(const mpconn_queue *q) {
  return __atomic_load_n(&q->sh->closed, __ATOMIC_ACQUIRE) != 0;
}

static bool expired(int64_t deadline) {
  return deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0;
}

/* Called with the lock held after finding that the caller must wait for
 * @cv: 0 with the lock held (look again), or a negative code without it,
 * MPCONN_ETIMEDOUT when the lock could not be taken again in time. */
static int sleep_on(const mpconn_queue *q, struct mpconn__cond *cv,
                    int64_t deadline) {
  return locked(q, mpconn__cond_wait(cv, &q->sh->lock, deadline));
}

/* ------------------------------------------------------------------------ */
/* Creating and freeing                                                     */
/* ------------------------------------------------------------------------ */

int mpconn_queue_new_ex(mpconn_queue **q, size_t maxsize, size_t capacity,
                        unsigned flags) {
  if (!q)
    return MPCONN_EINVAL;
  *q = NULL;
  if (flags & ~(unsigned)MPCONN_QUEUE_RINGS)
    return MPCONN_EINVAL;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (capacity == 0)
    capacity = MPCONN_QUEUE_DEFAULT_CAPACITY;
  size_t hdr = (sizeof(struct qshared) + page - 1) / page * page;
  if (capacity > SIZE_MAX - hdr - page)
    return MPCONN_ENOMEM;
  capacity = (capacity + page - 1) / page * page;

  mpconn_queue *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  h->maxsize = maxsize;
  if (flags & MPCONN_QUEUE_RINGS) {
    h->ring.cap = capacity; /* the items' limit; each lane has as much */
    int rc = mpconn__qrings_new(h, capacity);
    if (rc < 0) {
      free(h);
      return rc;
    }
    *q = h;
    return 0;
  }
  /* MAP_NORESERVE: the capacity is address space; a page costs memory
   * only once an item has been written to it. */
  void *map = mmap(NULL, hdr + capacity, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    int rc = -errno;
    free(h);
    return rc;
  }
  h->sh = map;
  h->ring =
      (struct mpconn__ring){.base = (uint8_t *)map + hdr, .cap = capacity};
  h->map_len = hdr + capacity;
  h->maxsize = maxsize;

  int rc = mpconn__lock_init(&h->sh->lock);
  if (rc < 0) {
    munmap(map, h->map_len);
    free(h);
    return rc;
  }
  *q = h;
  return 0;
}

int mpconn_queue_new(mpconn_queue **q, size_t maxsize) {
  return mpconn_queue_new_ex(q, maxsize, 0, 0);
}

void mpconn_queue_free(mpconn_queue *q) {
  if (!q)
    return;
  /* The lock is not destroyed: other processes may still use it.  The
   * mapping goes away with the last process that unmaps it. */
  if (q->rings)
    mpconn__qrings_free(q);
  else
    munmap(q->sh, q->map_len);
  free(q);
}

/* ------------------------------------------------------------------------ */
/* Putting                                                                  */
/* ------------------------------------------------------------------------ */

/* Put one frame whose payload is @data; the common end of every put. */
static int put_frame(mpconn_queue *q, const void *data, size_t len,
                     int timeout_ms) {
  const uint64_t cap = q->ring.cap;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, len);
  if (len > cap || hlen > cap - len)
    return MPCONN_ETOOBIG;
  if (q->rings)
    return mpconn__qrings_put(q, hdr, hlen, data, len, timeout_ms);
  uint64_t need = hlen + len;
  int64_t deadline = mpconn__deadline(timeout_ms);

  int rc = lock_until(q, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  struct mpconn__qstate st;
  for (;;) {
    if (closed(q)) {
      unlock(q);
      return MPCONN_ECLOSED;
    }
    st = current(q);
    bool room = cap - (st.tail - st.head) >= need;
    if (room && (q->maxsize == 0 || st.count < q->maxsize))
      break;
    if (expired(deadline)) {
      unlock(q);
      return MPCONN_EFULL;
    }
    rc = sleep_on(q, &q->sh->got, deadline);
    if (rc < 0)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  }

  /* Beyond the tail nobody looks: a copy cut short is never seen. */
  mpconn__ring_write(&q->ring, st.tail, hdr, hlen);
  size_t half = len / 2;
  mpconn__ring_write(&q->ring, st.tail + hlen, data, half);
  mpconn__queue_crash(q, MPCONN__Q_PUT_COPY);
  mpconn__ring_write(&q->ring, st.tail + hlen + half,
                     (const uint8_t *)data + half, len - half);
  st.tail += need;
  st.count++;
  st.unfinished++;
  mpconn__cond_bump(&q->sh->put);
  commit(q, &st, MPCONN__Q_PUT_COMMIT);
  mpconn__queue_crash(q, MPCONN__Q_PUT_UNLOCK);
  unlock(q);
  return 0;
}

int mpconn_queue_put_bytes(mpconn_queue *q, const void *data, size_t len,
                           int timeout_ms) {
  if (!q || (!data && len))
    return MPCONN_EINVAL;
  return put_frame(q, data, len, timeout_ms);
}

/* Put what was packed into @b (values are packed first, on the stack while
 * they are small), and release @b. */
static int put_packed(mpconn_queue *q, struct mpconn__wbuf *b, int rc,
                      int timeout_ms) {
  if (rc == 0 && b->oom)
    rc = MPCONN_ENOMEM;
  if (rc == 0)
    rc = put_frame(q, b->p, b->len, timeout_ms);
  mpconn__wbuf_free(b);
  return rc;
}

int mpconn_queue_put(mpconn_queue *q, const msgpack_object *v, int timeout_ms) {
  if (!q || !v)
    return MPCONN_EINVAL;
  struct mpconn__packbuf pb;
  int rc = msgpack_pack_object(mpconn__packbuf_init(&pb), *v) < 0
               ? MPCONN_ENOMEM
               : 0;
  return put_packed(q, &pb.b, rc, timeout_ms);
}

int mpconn_queue_putf(mpconn_queue *q, int timeout_ms, const char *fmt, ...) {
  if (!q)
    return MPCONN_EINVAL;
  struct mpconn__packbuf pb;
  msgpack_packer *pk = mpconn__packbuf_init(&pb);
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vpackf(pk, NULL, fmt, ap);
  va_end(ap);
  return put_packed(q, &pb.b, rc, timeout_ms);
}

int mpconn_queue_vputf(mpconn_queue *q, int timeout_ms, mpconn_error *err,
                       const char *fmt, va_list ap) {
  if (!q)
    return mpconn__err_status(err, MPCONN_EINVAL);
  struct mpconn__packbuf pb;
  msgpack_packer *pk = mpconn__packbuf_init(&pb);
  /* mpconn_vpackf() fills @err itself, a failure with its path. */
  int rc = mpconn_vpackf(pk, err, fmt, ap);
  if (rc < 0)
    return put_packed(q, &pb.b, rc, timeout_ms);
  return mpconn__err_status(err, put_packed(q, &pb.b, rc, timeout_ms));
}

/* ------------------------------------------------------------------------ */
/* Getting                                                                  */
/* ------------------------------------------------------------------------ */

/* The oldest item as a message's source (queue.h). */
static void item_copy(struct mpconn__src *s, uint8_t *dst) {
  const struct mpconn__qitem *it = (const struct mpconn__qitem *)s;
  uint64_t at = it->st.head + s->hlen;
  size_t half = s->len / 2;
  mpconn__ring_read(&it->q->ring, at, dst, half);
  mpconn__queue_crash(it->q, MPCONN__Q_GET_COPY);
  mpconn__ring_read(&it->q->ring, at + half, dst + half, s->len - half);
}

static void item_commit(struct mpconn__src *s) {
  struct mpconn__qitem *it = (struct mpconn__qitem *)s;
  mpconn_queue *q = it->q;
  it->st.head += s->hlen + s->len;
  it->st.count--;
  mpconn__cond_bump(&q->sh->got);
  commit(q, &it->st, MPCONN__Q_GET_COMMIT);
  mpconn__queue_crash(q, MPCONN__Q_GET_UNLOCK);
  it->taken = true;
  unlock(q);
}

static void item_release(struct mpconn__qitem *it) { unlock(it->q); }

/*
 * Wait for an item and return with the lock held and *@it describing the
 * oldest: 0, or a negative code without the lock: MPCONN_EEMPTY, MPCONN_EOF
 * (closed and empty), MPCONN_EBADFRAME (only this library writes the
 * ring, but any process that maps it could scribble on it: a header that
 * does not fit what is used is reported, and the state is left alone).
 */
static int oldest(mpconn_queue *q, struct mpconn__qitem *it, int timeout_ms) {
  if (q->rings)
    return mpconn__qrings_oldest(q, it, timeout_ms);
  int64_t deadline = mpconn__deadline(timeout_ms);
  int rc = lock_until(q, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
  struct mpconn__qstate st;
  for (;;) {
    st = current(q);
    if (st.count > 0)
      break;
    if (closed(q)) {
      unlock(q);
      return MPCONN_EOF;
    }
    if (expired(deadline)) {
      unlock(q);
      return MPCONN_EEMPTY;
    }
    rc = sleep_on(q, &q->sh->put, deadline);
    if (rc < 0)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
  }
  size_t hlen;
  uint64_t plen;
  if (mpconn__ring_frame(&q->ring, st.head, st.tail - st.head, &hlen, &plen) <
      0) {
    unlock(q);
    return MPCONN_EBADFRAME;
  }
  *it = (struct mpconn__qitem){
      .s = mpconn__qitem_src(plen, hlen, item_copy, item_commit),
      .q = q,
      .release = item_release,
      .st = st,
  };
  return 0;
}

int mpconn_queue_get_bytes(mpconn_queue *q, void **data, size_t *len,
                           int timeout_ms) {
  if (data)
    *data = NULL;
  if (len)
    *len = 0;
  if (!q || !data || !len)
    return MPCONN_EINVAL;
  struct mpconn__qitem it;
  int rc = oldest(q, &it, timeout_ms);
  if (rc < 0)
    return rc;
  uint8_t *p = malloc(it.s.len ? it.s.len : 1);
  if (!p) {
    it.release(&it);
    return MPCONN_ENOMEM;
  }
  /* The item stays in the ring until its copy is complete. */
  it.s.copy(&it.s, p);
  it.s.commit(&it.s);
  *data = p;
  *len = it.s.len;
  return 0;
}

int mpconn_queue_get(mpconn_queue *q, mpconn_msg **msg, int timeout_ms) {
  if (msg)
    *msg = NULL;
  if (!q || !msg)
    return MPCONN_EINVAL;
  struct mpconn__qitem it;
  int rc = oldest(q, &it, timeout_ms);
  if (rc < 0)
    return rc;
  /* Everything decoding needs is allocated while the item can still stay;
   * commit() takes it and releases the lock, and decoding happens after. */
  rc = mpconn__msg_build(msg, &it.s);
  if (!it.taken)
    it.release(&it);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Size, closing, tasks                                                     */
/* ------------------------------------------------------------------------ */

size_t mpconn_queue_qsize(const mpconn_queue *q) {
  if (q && q->rings)
    return mpconn__qrings_qsize(q);
  if (!q || lock(q) < 0)
    return 0;
  uint64_t n = current(q).count;
  unlock(q);
  return (size_t)n;
}

bool mpconn_queue_empty(const mpconn_queue *q) {
  return mpconn_queue_qsize(q) == 0;
}

bool mpconn_queue_full(const mpconn_queue *q) {
  return q && q->maxsize != 0 && mpconn_queue_qsize(q) >= q->maxsize;
}

int mpconn_queue_close(mpconn_queue *q) {
  if (!q)
    return MPCONN_EINVAL;
  if (q->rings)
    return mpconn__qrings_close(q);
  int rc = lock(q);
  if (rc < 0)
    return rc;
  if (!closed(q)) {
    mpconn__cond_bump(&q->sh->put);
    mpconn__cond_bump(&q->sh->got);
    __atomic_store_n(&q->sh->closed, 1, __ATOMIC_RELEASE);
  }
  unlock(q);
  return 0;
}

int mpconn_queue_task_done(mpconn_queue *q) {
  if (!q)
    return MPCONN_EINVAL;
  if (q->rings)
    return mpconn__qrings_task_done(q);
  int rc = lock(q);
  if (rc < 0)
    return rc;
  struct mpconn__qstate st = current(q);
  if (st.unfinished == 0) {
    unlock(q);
    return MPCONN_EINVAL;
  }
  st.unfinished--;
  if (st.unfinished == 0)
    mpconn__cond_bump(&q->sh->done);
  commit(q, &st, MPCONN__Q_LIVE);
  unlock(q);
  return 0;
}

int mpconn_queue_join(mpconn_queue *q, int timeout_ms) {
  if (!q)
    return MPCONN_EINVAL;
  if (q->rings)
    return mpconn__qrings_join(q, timeout_ms);
  int64_t deadline = mpconn__deadline(timeout_ms);
  int rc = lock_until(q, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc;
  for (;;) {
    if (current(q).unfinished == 0) {
      unlock(q);
      return 0;
    }
    if (expired(deadline)) {
      unlock(q);
      return MPCONN_ETIMEDOUT;
    }
    rc = sleep_on(q, &q->sh->done, deadline);
    if (rc < 0)
      return rc;
  }
}
