/* SPDX-License-Identifier: MIT */
/*
 * Queues: a byte ring of frames in one shared anonymous mapping, used by
 * every process forked after its creation and by every thread.
 *
 * The mapping starts with a header: a process-shared robust mutex, the
 * queue's state and three futex words; the ring follows.  An item is one
 * frame exactly as a connection carries it (length header, then payload),
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
 * Waiting uses the futex words (see futex.c), never a condition variable.
 * A change wakes its waiters before it becomes current, with the lock
 * held: the woken then block on the lock itself, so if the waker dies
 * before it releases the lock they get EOWNERDEAD, never a lost wake-up.
 *
 * There is no feeder thread: a put has finished when it returns.
 */
#include "queue-test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Everything one put, get or task_done changes. */
struct qstate {
  uint64_t head;       /* ring position of the oldest item's first byte */
  uint64_t tail;       /* ring position just past the newest item */
  uint64_t count;      /* items in the ring */
  uint64_t unfinished; /* items put and not yet marked done */
};

/* The start of the shared mapping.  Positions only grow; a position's byte
 * is ring[position % capacity]. */
struct qshared {
  pthread_mutex_t lock;
  struct qstate slot[2];
  uint32_t cur;    /* the current slot: 0 or 1 */
  uint32_t closed; /* 1 once any process has closed the queue */
  /* Futex words, bumped by each change of their kind. */
  uint32_t put_seq;  /* an item was added, or the queue was closed */
  uint32_t got_seq;  /* room was freed, or the queue was closed */
  uint32_t done_seq; /* unfinished tasks reached 0 */
  /* How many wait on each word.  A waiter killed while waiting leaves its
   * count behind, which costs later wakers a system call and nothing
   * else. */
  uint32_t getters, putters, joiners;
  uint32_t owner_deaths; /* times the lock was found with its owner dead */
};

/* This process's handle.  Sizes are kept here, not read from the shared
 * header, so that no other process can change where this one copies. */
struct mpconn_queue {
  struct qshared *sh;
  uint8_t *ring;
  size_t map_len;
  uint64_t cap;
  uint64_t maxsize;
  enum mpconn__queue_point hook; /* test hook: raise hook_sig there */
  int hook_sig;
};

/* ------------------------------------------------------------------------ */
/* Locking, state and wake-ups                                              */
/* ------------------------------------------------------------------------ */

static void crash_point(const mpconn_queue *q, enum mpconn__queue_point p) {
  if (p != MPCONN__Q_LIVE && q->hook == p)
    raise(q->hook_sig);
}

void mpconn__queue_signal_at(mpconn_queue *q, enum mpconn__queue_point p,
                             int sig) {
  if (q) {
    q->hook = p;
    q->hook_sig = sig;
  }
}

uint32_t *mpconn__queue_lock_word(const mpconn_queue *q) {
#ifdef __GLIBC__
  return (uint32_t *)&q->sh->lock.__data.__lock;
#else
  (void)q;
  return NULL;
#endif
}

uint32_t mpconn__queue_owner_deaths(const mpconn_queue *q) {
  return __atomic_load_n(&q->sh->owner_deaths, __ATOMIC_SEQ_CST);
}

static void bump(uint32_t *word, uint32_t *waiters) {
  __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(waiters, __ATOMIC_SEQ_CST) != 0)
    mpconn__futex_wake_all(word);
}

/*
 * Take the lock by @deadline: 0, MPCONN_ETIMEDOUT, or -errno.  The lock is
 * held only to copy one item, but a process stopped while it holds the
 * lock (SIGSTOP, a debugger) would otherwise hold up every timed call.
 */
static int lock_until(const mpconn_queue *q, int64_t deadline) {
  int rc = mpconn__lock_until(&q->sh->lock, deadline);
  if (rc < 0)
    return rc;
  if (rc == MPCONN__LOCK_OWNER_DIED) {
    /* The state is whole whatever the owner was doing.  Waiters were
     * woken before any change became current, so none should be missing
     * a wake-up; waking them all once more costs little and makes sure. */
    __atomic_add_fetch(&q->sh->owner_deaths, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&q->sh->put_seq, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&q->sh->got_seq, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&q->sh->done_seq, 1, __ATOMIC_SEQ_CST);
    mpconn__futex_wake_all(&q->sh->put_seq);
    mpconn__futex_wake_all(&q->sh->got_seq);
    mpconn__futex_wake_all(&q->sh->done_seq);
  }
  crash_point(q, MPCONN__Q_LOCKED);
  return 0;
}

static int lock(const mpconn_queue *q) { return lock_until(q, MPCONN_FOREVER); }

/* The deadline for taking the lock in a call with @timeout_ms: a call
 * with timeout 0 never waits for an item or for room, but does wait for
 * the lock's holder to finish copying its item. */
static int64_t lock_deadline(int timeout_ms, int64_t deadline) {
  return timeout_ms == 0 ? MPCONN_FOREVER : deadline;
}

static void unlock(const mpconn_queue *q) { mpconn__lock_release(&q->sh->lock); }

static struct qstate current(const mpconn_queue *q) {
  uint32_t c = __atomic_load_n(&q->sh->cur, __ATOMIC_ACQUIRE);
  return q->sh->slot[c & 1];
}

/* Make @next the state with one store; @p is the test hook in between. */
static void commit(const mpconn_queue *q, const struct qstate *next,
                   enum mpconn__queue_point p) {
  uint32_t c = __atomic_load_n(&q->sh->cur, __ATOMIC_ACQUIRE) & 1;
  q->sh->slot[c ^ 1] = *next;
  crash_point(q, p);
  __atomic_store_n(&q->sh->cur, c ^ 1, __ATOMIC_RELEASE);
}

static bool closed(const mpconn_queue *q) {
  return __atomic_load_n(&q->sh->closed, __ATOMIC_ACQUIRE) != 0;
}

static bool expired(int64_t deadline) {
  return deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0;
}

/*
 * Called with the lock held after finding that the caller must wait: wait
 * until @word changes or the deadline passes, then take the lock again.
 * The word is read under the lock, so a change made after the caller
 * looked cannot be missed.  Return: 0 with the lock held (look again), or
 * a negative code without it: MPCONN_ETIMEDOUT when the lock could not be
 * taken again by the deadline.
 */
static int sleep_on(const mpconn_queue *q, uint32_t *word, uint32_t *waiters,
                    int64_t deadline) {
  uint32_t seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(waiters, 1, __ATOMIC_SEQ_CST);
  unlock(q);
  int rc = mpconn__futex_wait(word, seen, deadline);
  __atomic_sub_fetch(waiters, 1, __ATOMIC_SEQ_CST);
  if (rc < 0 && rc != MPCONN_ETIMEDOUT)
    return rc;
  /* After a timeout too: the caller looks once more, then sees that the
   * deadline has passed. */
  return lock_until(q, deadline);
}

/* ------------------------------------------------------------------------ */
/* The ring                                                                 */
/* ------------------------------------------------------------------------ */

static void ring_write(const mpconn_queue *q, uint64_t pos, const void *src,
                       size_t n) {
  if (n == 0)
    return;
  size_t off = (size_t)(pos % q->cap);
  size_t first = n < q->cap - off ? n : (size_t)(q->cap - off);
  memcpy(q->ring + off, src, first);
  if (n > first)
    memcpy(q->ring, (const uint8_t *)src + first, n - first);
}

static void ring_read(const mpconn_queue *q, uint64_t pos, void *dst,
                      size_t n) {
  if (n == 0)
    return;
  size_t off = (size_t)(pos % q->cap);
  size_t first = n < q->cap - off ? n : (size_t)(q->cap - off);
  memcpy(dst, q->ring + off, first);
  if (n > first)
    memcpy((uint8_t *)dst + first, q->ring, n - first);
}

static uint64_t load_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* ------------------------------------------------------------------------ */
/* Creating and freeing                                                     */
/* ------------------------------------------------------------------------ */

int mpconn_queue_new_ex(mpconn_queue **q, size_t maxsize, size_t capacity,
                        unsigned flags) {
  if (!q)
    return MPCONN_EINVAL;
  *q = NULL;
  if (flags != 0)
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
  h->ring = (uint8_t *)map + hdr;
  h->map_len = hdr + capacity;
  h->cap = capacity;
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
  munmap(q->sh, q->map_len);
  free(q);
}

/* ------------------------------------------------------------------------ */
/* Putting                                                                  */
/* ------------------------------------------------------------------------ */

/* Put one frame whose payload is @data; the common end of every put. */
static int put_frame(mpconn_queue *q, const void *data, size_t len,
                     int timeout_ms) {
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, len);
  if (len > q->cap || hlen > q->cap - len)
    return MPCONN_ETOOBIG;
  uint64_t need = hlen + len;
  int64_t deadline = mpconn__deadline(timeout_ms);

  int rc = lock_until(q, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  struct qstate st;
  for (;;) {
    if (closed(q)) {
      unlock(q);
      return MPCONN_ECLOSED;
    }
    st = current(q);
    bool room = q->cap - (st.tail - st.head) >= need;
    if (room && (q->maxsize == 0 || st.count < q->maxsize))
      break;
    if (expired(deadline)) {
      unlock(q);
      return MPCONN_EFULL;
    }
    rc = sleep_on(q, &q->sh->got_seq, &q->sh->putters, deadline);
    if (rc < 0)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  }

  /* Beyond the tail nobody looks: a copy cut short is never seen. */
  ring_write(q, st.tail, hdr, hlen);
  size_t half = len / 2;
  ring_write(q, st.tail + hlen, data, half);
  crash_point(q, MPCONN__Q_PUT_COPY);
  ring_write(q, st.tail + hlen + half, (const uint8_t *)data + half,
             len - half);
  st.tail += need;
  st.count++;
  st.unfinished++;
  bump(&q->sh->put_seq, &q->sh->getters);
  commit(q, &st, MPCONN__Q_PUT_COMMIT);
  crash_point(q, MPCONN__Q_PUT_UNLOCK);
  unlock(q);
  return 0;
}

int mpconn_queue_put_bytes(mpconn_queue *q, const void *data, size_t len,
                           int timeout_ms) {
  if (!q || (!data && len))
    return MPCONN_EINVAL;
  return put_frame(q, data, len, timeout_ms);
}

/*
 * A growing buffer that values are packed into before they are put: on
 * the stack while the value fits in 256 bytes, on the heap beyond.
 */
struct pbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
  uint8_t local[256];
};

static void pbuf_init(struct pbuf *b) {
  b->p = b->local;
  b->len = 0;
  b->cap = sizeof(b->local);
  b->oom = false;
}

static int pbuf_append(void *data, const char *buf, size_t len) {
  struct pbuf *b = data;
  if (b->oom)
    return -1;
  if (len == 0) /* an empty str or bin: buf may be NULL */
    return 0;
  if (len > b->cap - b->len) {
    size_t cap = b->cap;
    while (cap - b->len < len) {
      if (cap > SIZE_MAX / 2) {
        b->oom = true;
        return -1;
      }
      cap *= 2;
    }
    uint8_t *p = b->p == b->local ? malloc(cap) : realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return -1;
    }
    if (b->p == b->local)
      memcpy(p, b->local, b->len);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, buf, len);
  b->len += len;
  return 0;
}

/* Put what was packed into @b, and release @b. */
static int put_packed(mpconn_queue *q, struct pbuf *b, int rc, int timeout_ms) {
  if (rc == 0 && b->oom)
    rc = MPCONN_ENOMEM;
  if (rc == 0)
    rc = put_frame(q, b->p, b->len, timeout_ms);
  if (b->p != b->local)
    free(b->p);
  return rc;
}

int mpconn_queue_put(mpconn_queue *q, const msgpack_object *v, int timeout_ms) {
  if (!q || !v)
    return MPCONN_EINVAL;
  struct pbuf b;
  pbuf_init(&b);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &b, pbuf_append);
  int rc = msgpack_pack_object(&pk, *v) < 0 ? MPCONN_ENOMEM : 0;
  return put_packed(q, &b, rc, timeout_ms);
}

int mpconn_queue_putf(mpconn_queue *q, int timeout_ms, const char *fmt, ...) {
  if (!q)
    return MPCONN_EINVAL;
  struct pbuf b;
  pbuf_init(&b);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &b, pbuf_append);
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vpackf(&pk, NULL, fmt, ap);
  va_end(ap);
  return put_packed(q, &b, rc, timeout_ms);
}

/* ------------------------------------------------------------------------ */
/* Getting                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Where a got item's payload goes.  Under the lock, get_frame() calls
 * place() with the payload's length and copies the payload to what it
 * returns, then calls filled(), if set, before the item is taken.  A NULL
 * from place() or MPCONN_ENOMEM from filled() leaves the item in the
 * queue; any other code from filled() is returned once it is taken.
 */
struct sink {
  uint8_t *(*place)(struct sink *s, size_t len);
  int (*filled)(struct sink *s);
  uint8_t *buf;    /* for bytes: a new buffer */
  mpconn_msg *msg; /* for values: a message filled in place */
};

static uint8_t *place_bytes(struct sink *s, size_t len) {
  return s->buf = malloc(len ? len : 1);
}

static uint8_t *place_msg(struct sink *s, size_t len) {
  uint8_t *buf = NULL;
  s->msg = mpconn__msg_alloc(len, &buf);
  return buf;
}

/* Everything decoding will allocate is allocated while the item can still
 * stay; the decoding itself happens after the lock is released. */
static int fit_msg(struct sink *s) {
  int rc = mpconn__msg_fit(s->msg);
  if (rc == MPCONN_ENOMEM) {
    mpconn_msg_free(s->msg);
    s->msg = NULL;
  }
  return rc;
}

/* Take the oldest item's payload into @out; its length in *@outlen. */
static int get_frame(mpconn_queue *q, struct sink *out, size_t *outlen,
                     int timeout_ms) {
  int64_t deadline = mpconn__deadline(timeout_ms);
  int rc = lock_until(q, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
  struct qstate st;
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
    rc = sleep_on(q, &q->sh->put_seq, &q->sh->getters, deadline);
    if (rc < 0)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
  }

  /* Only this library writes the ring, but any process that maps it
   * could scribble on it: a header that does not fit what is used is
   * reported, and the state is left alone. */
  uint64_t used = st.tail - st.head;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = used < 4 ? 0 : 4;
  uint64_t plen = 0;
  if (hlen) {
    ring_read(q, st.head, hdr, 4);
    int32_t n = (int32_t)(uint32_t)load_be(hdr, 4);
    if (n >= 0) {
      plen = (uint64_t)n;
    } else if (n == -1 && used >= MPCONN_HEADER_MAX) {
      ring_read(q, st.head, hdr, MPCONN_HEADER_MAX);
      hlen = MPCONN_HEADER_MAX;
      plen = load_be(hdr + 4, 8);
    } else {
      hlen = 0;
    }
  }
  if (hlen == 0 || plen > used - hlen) {
    unlock(q);
    return MPCONN_EBADFRAME;
  }

  size_t len = (size_t)plen;
  uint8_t *buf = out->place(out, len);
  if (!buf) {
    unlock(q);
    return MPCONN_ENOMEM;
  }
  /* The item stays in the ring until its copy is complete. */
  size_t half = len / 2;
  ring_read(q, st.head + hlen, buf, half);
  crash_point(q, MPCONN__Q_GET_COPY);
  ring_read(q, st.head + hlen + half, buf + half, len - half);
  int filled = out->filled ? out->filled(out) : 0;
  if (filled == MPCONN_ENOMEM) {
    unlock(q);
    return filled;
  }
  st.head += hlen + plen;
  st.count--;
  bump(&q->sh->got_seq, &q->sh->putters);
  commit(q, &st, MPCONN__Q_GET_COMMIT);
  crash_point(q, MPCONN__Q_GET_UNLOCK);
  unlock(q);
  *outlen = len;
  return filled;
}

int mpconn_queue_get_bytes(mpconn_queue *q, void **data, size_t *len,
                           int timeout_ms) {
  if (data)
    *data = NULL;
  if (len)
    *len = 0;
  if (!q || !data || !len)
    return MPCONN_EINVAL;
  struct sink out = {.place = place_bytes};
  int rc = get_frame(q, &out, len, timeout_ms);
  if (rc == 0)
    *data = out.buf;
  return rc;
}

int mpconn_queue_get(mpconn_queue *q, mpconn_msg **msg, int timeout_ms) {
  if (msg)
    *msg = NULL;
  if (!q || !msg)
    return MPCONN_EINVAL;
  struct sink out = {.place = place_msg, .filled = fit_msg};
  size_t len;
  int rc = get_frame(q, &out, &len, timeout_ms);
  if (rc < 0) {
    mpconn_msg_free(out.msg); /* taken, and not a value: or NULL */
    return rc;
  }
  /* Decoded in place, after the lock is released. */
  return mpconn__msg_decode(out.msg, msg);
}

/* ------------------------------------------------------------------------ */
/* Size, closing, tasks                                                     */
/* ------------------------------------------------------------------------ */

size_t mpconn_queue_qsize(const mpconn_queue *q) {
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
  int rc = lock(q);
  if (rc < 0)
    return rc;
  if (!closed(q)) {
    bump(&q->sh->put_seq, &q->sh->getters);
    bump(&q->sh->got_seq, &q->sh->putters);
    __atomic_store_n(&q->sh->closed, 1, __ATOMIC_RELEASE);
  }
  unlock(q);
  return 0;
}

int mpconn_queue_task_done(mpconn_queue *q) {
  if (!q)
    return MPCONN_EINVAL;
  int rc = lock(q);
  if (rc < 0)
    return rc;
  struct qstate st = current(q);
  if (st.unfinished == 0) {
    unlock(q);
    return MPCONN_EINVAL;
  }
  st.unfinished--;
  if (st.unfinished == 0)
    bump(&q->sh->done_seq, &q->sh->joiners);
  commit(q, &st, MPCONN__Q_LIVE);
  unlock(q);
  return 0;
}

int mpconn_queue_join(mpconn_queue *q, int timeout_ms) {
  if (!q)
    return MPCONN_EINVAL;
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
    rc = sleep_on(q, &q->sh->done_seq, &q->sh->joiners, deadline);
    if (rc < 0)
      return rc;
  }
}
