/* SPDX-License-Identifier: MIT */
/*
 * Queues with one ring per producer (MPCONN_QUEUE_RINGS).
 *
 * The mapping starts with a header, then LANES byte rings ("lanes") of the
 * queue's capacity each.  A process puts into the lane of its process ID
 * (pid % LANES), so processes forked one after the other each have their
 * own, and a put touches no cache line that another producer writes.
 * Consumers take from any lane, round robin.
 *
 * Each lane has two sides: the put side (tail: the position just past the
 * newest item; puts: items ever published) and the get side (head: the
 * oldest item's first byte; gets: items ever taken).  Each side has a
 * robust lock, held by at most one producer (put) or one consumer (get) of
 * that lane, and its state in two slots: the holder writes the slot that
 * is not current, then makes it current by advancing a generation number
 * with one store.  The other side reads a state without any lock, as a
 * sequence lock is read: generation, slot, generation again, and again
 * from the start if it moved.  So a process killed at any instant leaves
 * the state it found or the one it made, never a mixture, and the next
 * holder of that side's lock sees EOWNERDEAD and carries on.
 *
 * A lane's items are bytes between head and tail, written before the tail
 * that covers them is published and read before the head that frees them
 * is: nobody else touches them.  Every position read from shared memory
 * is checked (tail - head at most the capacity, each header against the
 * bytes it claims) and every copy is taken modulo this process's own copy
 * of the capacity, so a scribbled header is reported, never followed out
 * of the mapping.
 *
 * A lane whose tail is far into its memory (JUMP_AFTER) goes back to the
 * start of it when its producer finds it empty: the producer publishes the
 * position it jumped from (gap) with the tail, and the consumer that
 * reaches that position moves the head to the start of the next lap.  So
 * a lane whose consumers keep up uses its first pages only; one whose
 * consumers stay behind cycles through its whole capacity, as the locked
 * queue's ring does.  Each side's state keeps one writer: the lane's
 * producer or consumer holding its lock.
 *
 * Waiting (lock.c's cond_enter/sleep/signal): a consumer that finds every
 * lane empty enters the `put` wait, looks once more, then sleeps; a
 * producer, after publishing, fences and wakes only if somebody waits.
 * Producers wait on `got` for room (their lane full, or maxsize items in
 * the queue) the same way.  Under load nobody sleeps, and a put or get
 * makes no system call.
 *
 * Bounded queues (maxsize > 0): puts hold one more lock, `bound`, while
 * they count the items (sum over lanes of puts - gets, each side read
 * whole; gets first, so the count errs high) and publish, so maxsize is
 * never exceeded.
 *
 * Closing: `closed` goes 0 → 1 (puts refuse), then the closer takes and
 * releases every lane's put lock, so that every put that had passed its
 * check has published, then 1 → 2.  Gets report MPCONN_EOF only at 2; a
 * get that finds 1 (its closer was killed halfway) finishes the close.
 *
 * Tasks: `done` counts task_done() calls; unfinished = sum of puts - done.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LANES 16

/* Tries of a lane's held lock before sleeping on it (see queue.c). */
#define SPINS 100

/* Once a lane's tail is this far into the lane's memory, its producer
 * looks at the head every JUMP_LOOK bytes, and goes back to the start of
 * the memory when it finds the lane empty. */
#define JUMP_AFTER ((uint64_t)256 * 1024)
#define JUMP_LOOK ((uint64_t)4 * 1024)

/* Gets from one lane in a row before a consumer looks at the next. */
#define BATCH 256

struct side_state {
  uint64_t pos;   /* tail (put side) or head (get side) */
  uint64_t count; /* puts or gets, ever */
  uint64_t gap;   /* put side: where the producer last jumped to the start
                     of the lane's memory; nothing lies from there to the
                     next multiple of the capacity */
};

struct side {
  alignas(64) pthread_mutex_t lock;
  alignas(64) uint64_t gen; /* slot[gen & 1] is current */
  struct side_state slot[2];
};

struct lane {
  struct side put, get;
};

struct rshared {
  alignas(64) pthread_mutex_t bound; /* bounded queues: held by puts */
  alignas(64) uint32_t closed;       /* 0 open, 1 closing, 2 closed */
  alignas(64) uint64_t done;         /* task_done() calls */
  uint32_t owner_deaths;
  alignas(64) struct mpconn__cond put; /* an item was published, or closed */
  alignas(64) struct mpconn__cond got; /* room was freed, or closed */
  alignas(64) struct mpconn__cond fin; /* unfinished tasks reached 0 */
  struct lane lane[LANES];
};

/* This process's view; every size here is its own copy. */
struct mpconn__qrings {
  struct rshared *sh;
  struct mpconn__ring ring[LANES];
  uint64_t seen_head[LANES];          /* a producer's last look at the head, */
  uint64_t next_look[LANES];          /* and where it looks again: both read and
                                         written only with the put lock held */
  struct side_state seen_tail[LANES]; /* a consumer's last look at the put
                                         side; with the get lock held */
  uint64_t left_at[LANES]; /* the head after this process's last get from
                              each lane; with the get lock held */
  unsigned cursor;         /* the lane a get looks at first, */
  unsigned run;            /* and how many it took from there in a row */
  unsigned lane;           /* this process's lane, */
  unsigned lane_epoch;     /* for fork_epoch + 1 (0: not chosen yet) */
};

/* ------------------------------------------------------------------------ */
/* Which lane a process puts into                                           */
/* ------------------------------------------------------------------------ */

/* Moves in every child at fork(), so that a child chooses its own lane
 * without calling getpid() at every put. */
static unsigned fork_epoch;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void forked(void) {
  __atomic_add_fetch(&fork_epoch, 1, __ATOMIC_RELAXED);
}

static void watch_forks(void) { pthread_atfork(NULL, NULL, forked); }

/* This process's lane.  A consumer starts looking there too, so that the
 * consumers of one queue spread over the lanes. */
static unsigned my_lane(struct mpconn__qrings *r) {
  unsigned e = __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED) + 1;
  if (__atomic_load_n(&r->lane_epoch, __ATOMIC_RELAXED) != e) {
    unsigned lane = (unsigned)getpid() % LANES;
    __atomic_store_n(&r->lane, lane, __ATOMIC_RELAXED);
    __atomic_store_n(&r->cursor, lane, __ATOMIC_RELAXED);
    __atomic_store_n(&r->run, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->lane_epoch, e, __ATOMIC_RELAXED);
  }
  return __atomic_load_n(&r->lane, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Sides: locks and states                                                  */
/* ------------------------------------------------------------------------ */

/* A side's current state, read whole without its lock. */
static struct side_state snap(struct side *s) {
  for (;;) {
    uint64_t g = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
    struct side_state *sl = &s->slot[g & 1];
    struct side_state st = {__atomic_load_n(&sl->pos, __ATOMIC_RELAXED),
                            __atomic_load_n(&sl->count, __ATOMIC_RELAXED),
                            __atomic_load_n(&sl->gap, __ATOMIC_RELAXED)};
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->gen, __ATOMIC_RELAXED) == g)
      return st;
    mpconn__cpu_relax();
  }
}

/* A consumer's last look at lane @i's put side, and a new one; the
 * caller holds the lane's get lock.  Atomic only because a look without
 * the lock reads seen_tail[i].pos as a hint. */
static struct side_state seen_tail(struct mpconn__qrings *r, unsigned i) {
  struct side_state *t = &r->seen_tail[i];
  return (struct side_state){__atomic_load_n(&t->pos, __ATOMIC_RELAXED),
                             t->count, t->gap};
}

static void set_seen_tail(struct mpconn__qrings *r, unsigned i,
                          struct side_state t) {
  r->seen_tail[i].count = t.count;
  r->seen_tail[i].gap = t.gap;
  __atomic_store_n(&r->seen_tail[i].pos, t.pos, __ATOMIC_RELAXED);
}

/* Make @next the side's state with one store; the caller is its only
 * writer.  @p is the test hook in between. */
static void commit(const mpconn_queue *q, struct side *s,
                   struct side_state next, enum mpconn__queue_point p) {
  uint64_t g = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
  struct side_state *sl = &s->slot[(g + 1) & 1];
  /* The last generation's store before this slot's: a reader that sees
   * these values also sees that the generation moved. */
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&sl->pos, next.pos, __ATOMIC_RELAXED);
  __atomic_store_n(&sl->count, next.count, __ATOMIC_RELAXED);
  __atomic_store_n(&sl->gap, next.gap, __ATOMIC_RELAXED);
  mpconn__queue_crash(q, p);
  __atomic_store_n(&s->gen, g + 1, __ATOMIC_RELEASE);
}

static int taken(const mpconn_queue *q, int rc);

/* Take a lock; after a dead owner, wake every waiter once more (what they
 * wait for may have happened just before the death).  0 or a negative
 * code. */
static int take(const mpconn_queue *q, pthread_mutex_t *m, int64_t deadline) {
  return taken(q, mpconn__lock_spin_until(m, SPINS, deadline));
}

/* The same, without waiting: -EBUSY when the lock is held. */
static int take_free(const mpconn_queue *q, pthread_mutex_t *m) {
  return taken(q, mpconn__lock_try(m));
}

static int taken(const mpconn_queue *q, int rc) {
  struct rshared *sh = q->rings->sh;
  if (rc < 0)
    return rc;
  if (rc == MPCONN__LOCK_OWNER_DIED) {
    __atomic_add_fetch(&sh->owner_deaths, 1, __ATOMIC_SEQ_CST);
    mpconn__cond_wake(&sh->put);
    mpconn__cond_wake(&sh->got);
    mpconn__cond_wake(&sh->fin);
  }
  mpconn__queue_crash(q, MPCONN__Q_LOCKED);
  return 0;
}

static int64_t lock_deadline(int timeout_ms, int64_t deadline) {
  return timeout_ms == 0 ? MPCONN_FOREVER : deadline;
}

static bool expired(int64_t deadline) {
  return deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0;
}

static uint32_t closed_state(const struct rshared *sh) {
  return __atomic_load_n(&sh->closed, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* Creating and freeing                                                     */
/* ------------------------------------------------------------------------ */

int mpconn__qrings_new(mpconn_queue *q, size_t capacity) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t hdr = (sizeof(struct rshared) + page - 1) / page * page;
  if (capacity > (SIZE_MAX - hdr) / LANES)
    return MPCONN_ENOMEM;
  struct mpconn__qrings *r = calloc(1, sizeof(*r));
  if (!r)
    return MPCONN_ENOMEM;
  size_t len = hdr + capacity * LANES;
  /* Address space: a page costs memory once an item was written to it. */
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    int rc = -errno;
    free(r);
    return rc == -EINVAL ? MPCONN_ENOMEM : rc;
  }
  r->sh = map;
  int rc = mpconn__lock_init(&r->sh->bound);
  for (unsigned i = 0; rc == 0 && i < LANES; i++) {
    rc = mpconn__lock_init(&r->sh->lane[i].put.lock);
    if (rc == 0)
      rc = mpconn__lock_init(&r->sh->lane[i].get.lock);
    r->ring[i] = (struct mpconn__ring){
        .base = (uint8_t *)map + hdr + (size_t)i * capacity, .cap = capacity};
  }
  if (rc < 0) {
    munmap(map, len);
    free(r);
    return rc;
  }
  pthread_once(&fork_once, watch_forks);
  q->rings = r;
  q->map_len = len;
  return 0;
}

void mpconn__qrings_free(mpconn_queue *q) {
  munmap(q->rings->sh, q->map_len);
  free(q->rings);
}

/* ------------------------------------------------------------------------ */
/* Counting                                                                 */
/* ------------------------------------------------------------------------ */

/* Items in the queue, counting a get or put in flight as not yet made. */
static uint64_t count_items(struct rshared *sh) {
  uint64_t n = 0;
  for (unsigned i = 0; i < LANES; i++) {
    uint64_t gets = snap(&sh->lane[i].get).count;
    uint64_t puts = snap(&sh->lane[i].put).count;
    n += puts > gets ? puts - gets : 0;
  }
  return n;
}

static uint64_t count_puts(struct rshared *sh) {
  uint64_t n = 0;
  for (unsigned i = 0; i < LANES; i++)
    n += snap(&sh->lane[i].put).count;
  return n;
}

size_t mpconn__qrings_qsize(const mpconn_queue *q) {
  return (size_t)count_items(q->rings->sh);
}

/* ------------------------------------------------------------------------ */
/* Putting                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Whether @need bytes fit after the tail of lane @i, whose put lock the
 * caller holds and whose put side is *@tail: 1, 0, or MPCONN_EBADFRAME
 * (the head is not one a consumer could have written).  Far into the
 * lane's memory, jumps back to its start when the consumers have freed
 * it (*@tail then says so, and is what the caller publishes).
 */
static int room(const mpconn_queue *q, unsigned i, struct side_state *tail,
                uint64_t need) {
  struct mpconn__qrings *r = q->rings;
  uint64_t cap = r->ring[i].cap;
  uint64_t off = tail->pos % cap;
  /* Far in, look at the head every JUMP_LOOK bytes. */
  bool look = off >= JUMP_AFTER && tail->pos >= r->next_look[i];
  uint64_t used = tail->pos - r->seen_head[i];
  if (!look && used <= cap && cap - used >= need)
    return 1;
  uint64_t head = snap(&r->sh->lane[i].get).pos;
  if (tail->gap % cap != 0 && head == tail->gap)
    head = tail->gap - tail->gap % cap + cap; /* as good as jumped */
  if (tail->pos - head > cap)
    return MPCONN_EBADFRAME;
  r->seen_head[i] = head;
  r->next_look[i] = tail->pos + JUMP_LOOK;
  uint64_t lap = tail->pos - off;
  if (off >= JUMP_AFTER && head == tail->pos) {
    /* Empty: the item goes to the start of the lane's memory, at the
     * start of the next lap.  That costs no room: a producer that finds
     * the head at the gap counts it as past it (above), and a consumer
     * that reaches it jumps. */
    tail->gap = tail->pos;
    tail->pos = lap + cap;
    return 1;
  }
  return cap - (tail->pos - head) >= need;
}

/* Whether a bounded queue has room for one more item; the caller holds
 * `bound`, so no other put adds one meanwhile. */
static bool below_max(const mpconn_queue *q) {
  return q->maxsize == 0 || count_items(q->rings->sh) < q->maxsize;
}

static void unlock_put(const mpconn_queue *q, struct lane *l) {
  mpconn__lock_release(&l->put.lock);
  if (q->maxsize)
    mpconn__lock_release(&q->rings->sh->bound);
}

/* Take `bound` (bounded queues) and the lane's put lock, in that order. */
static int lock_put(const mpconn_queue *q, struct lane *l, int64_t deadline) {
  struct rshared *sh = q->rings->sh;
  if (q->maxsize) {
    int rc = take(q, &sh->bound, deadline);
    if (rc < 0)
      return rc;
  }
  int rc = take(q, &l->put.lock, deadline);
  if (rc < 0 && q->maxsize)
    mpconn__lock_release(&sh->bound);
  return rc;
}

int mpconn__qrings_put(mpconn_queue *q, const uint8_t *hdr, size_t hlen,
                       const void *data, size_t len, int timeout_ms) {
  struct mpconn__qrings *r = q->rings;
  struct rshared *sh = r->sh;
  unsigned i = my_lane(r);
  struct lane *l = &sh->lane[i];
  uint64_t need = hlen + len;
  int64_t deadline = mpconn__deadline(timeout_ms);

  int rc = lock_put(q, l, lock_deadline(timeout_ms, deadline));
  if (rc < 0)
    return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  struct side_state tail;
  for (;;) {
    if (closed_state(sh) != 0) {
      unlock_put(q, l);
      return MPCONN_ECLOSED;
    }
    tail = l->put.slot[l->put.gen & 1];
    rc = room(q, i, &tail, need);
    if (rc == 1 && below_max(q))
      break;
    if (rc < 0 || expired(deadline)) {
      unlock_put(q, l);
      return rc < 0 ? rc : MPCONN_EFULL;
    }
    /* Enter, look again, sleep: a get that frees room after the look
     * sees this waiter and wakes it. */
    uint32_t seen = mpconn__cond_enter(&sh->got);
    rc = room(q, i, &tail, need);
    bool wait = rc == 0 || (rc == 1 && !below_max(q));
    unlock_put(q, l);
    if (wait && closed_state(sh) == 0)
      rc = mpconn__cond_sleep(&sh->got, seen, deadline);
    if (rc < 0 && rc != MPCONN_ETIMEDOUT)
      return rc;
    rc = lock_put(q, l, deadline);
    if (rc < 0)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EFULL : rc;
  }

  /* Beyond the tail nobody looks: a copy cut short is never seen. */
  const struct mpconn__ring *ring = &r->ring[i];
  mpconn__ring_write(ring, tail.pos, hdr, hlen);
  size_t half = len / 2;
  mpconn__ring_write(ring, tail.pos + hlen, data, half);
  mpconn__queue_crash(q, MPCONN__Q_PUT_COPY);
  mpconn__ring_write(ring, tail.pos + hlen + half, (const uint8_t *)data + half,
                     len - half);
  commit(q, &l->put,
         (struct side_state){tail.pos + need, tail.count + 1, tail.gap},
         MPCONN__Q_PUT_COMMIT);
  mpconn__cond_signal(&sh->put);
  mpconn__queue_crash(q, MPCONN__Q_PUT_UNLOCK);
  unlock_put(q, l);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Getting                                                                  */
/* ------------------------------------------------------------------------ */

static void item_copy(struct mpconn__src *s, uint8_t *dst) {
  const struct mpconn__qitem *it = (const struct mpconn__qitem *)s;
  const struct mpconn__ring *ring = &it->q->rings->ring[it->lane];
  uint64_t at = it->head + s->hlen;
  size_t half = s->len / 2;
  mpconn__ring_read(ring, at, dst, half);
  mpconn__queue_crash(it->q, MPCONN__Q_GET_COPY);
  mpconn__ring_read(ring, at + half, dst + half, s->len - half);
}

static void item_commit(struct mpconn__src *s) {
  struct mpconn__qitem *it = (struct mpconn__qitem *)s;
  const mpconn_queue *q = it->q;
  struct rshared *sh = q->rings->sh;
  struct lane *l = &sh->lane[it->lane];
  commit(q, &l->get,
         (struct side_state){it->head + s->hlen + s->len, it->gets + 1, 0},
         MPCONN__Q_GET_COMMIT);
  mpconn__cond_signal(&sh->got);
  mpconn__queue_crash(q, MPCONN__Q_GET_UNLOCK);
  it->taken = true;
  mpconn__lock_release(&l->get.lock);
}

static void item_release(struct mpconn__qitem *it) {
  mpconn__lock_release(&it->q->rings->sh->lane[it->lane].get.lock);
}

/*
 * Take the get lock of the first lane from the cursor that holds an item,
 * and describe the item: 0 with the lock held, MPCONN_EEMPTY (no lane
 * holds one), or a negative code without a lock.  Lanes whose lock
 * another consumer holds are passed over at first, and waited for only
 * when no other lane has an item.
 */
static int take_one(mpconn_queue *q, struct mpconn__qitem *it,
                    int64_t lock_by) {
  struct mpconn__qrings *r = q->rings;
  my_lane(r);
  unsigned start = __atomic_load_n(&r->cursor, __ATOMIC_RELAXED);
  bool busy = false;
  for (unsigned k = 0; k < 2 * LANES; k++) {
    if (k == LANES && !busy)
      break;
    unsigned i = (start + k) % LANES;
    struct lane *l = &r->sh->lane[i];
    /* A look without the lock first: most lanes are empty. */
    uint64_t hint = __atomic_load_n(&r->seen_tail[i].pos, __ATOMIC_RELAXED);
    uint64_t h = snap(&l->get).pos;
    if (h == hint && snap(&l->put).pos == h)
      continue;
    int rc =
        k < LANES ? take_free(q, &l->get.lock) : take(q, &l->get.lock, lock_by);
    if (rc == -EBUSY) {
      busy = true;
      continue;
    }
    if (rc < 0)
      return rc;
    /* The put side as last seen by this process, read again only when the
     * items it covers are gone: the line it is on is the producer's. */
    struct side_state head = snap(&l->get);
    struct side_state tail = seen_tail(r, i);
    bool fresh = (int64_t)(tail.pos - head.pos) <= 0;
    if (fresh)
      tail = snap(&l->put);
    if (tail.gap % r->ring[i].cap != 0 && head.pos == tail.gap) {
      /* The producer went back to the start of the lane's memory here. */
      head.pos = tail.gap - tail.gap % r->ring[i].cap + r->ring[i].cap;
      commit(q, &l->get, head, MPCONN__Q_LIVE);
    }
    uint64_t used = tail.pos - head.pos;
    if (used == 0) {
      if (fresh)
        set_seen_tail(r, i, tail);
      mpconn__lock_release(&l->get.lock);
      continue;
    }
    size_t hlen;
    uint64_t plen;
    if (used > r->ring[i].cap ||
        mpconn__ring_frame(&r->ring[i], head.pos, used, &hlen, &plen) < 0) {
      mpconn__lock_release(&l->get.lock);
      return MPCONN_EBADFRAME;
    }
    /* Only a tail that passed the checks is kept. */
    if (fresh)
      set_seen_tail(r, i, tail);
    /* Stay on this lane for a batch, then give the next its turn; move on
     * at once when another consumer took from it since this one did. */
    unsigned run = 1;
    if (i == start)
      run = head.pos == r->left_at[i]
                ? __atomic_load_n(&r->run, __ATOMIC_RELAXED) + 1
                : BATCH;
    r->left_at[i] = head.pos + hlen + plen;
    __atomic_store_n(&r->cursor, run >= BATCH ? (i + 1) % LANES : i,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&r->run, run >= BATCH ? 0 : run, __ATOMIC_RELAXED);
    *it = (struct mpconn__qitem){
        .s = mpconn__qitem_src(plen, hlen, item_copy, item_commit),
        .q = q,
        .release = item_release,
        .lane = i,
        .head = head.pos,
        .gets = head.count,
    };
    return 0;
  }
  return MPCONN_EEMPTY;
}

/* The second half of closing: wait out every put that passed its check,
 * then let gets report the end.  0 or a negative code. */
static int finish_close(mpconn_queue *q) {
  struct rshared *sh = q->rings->sh;
  for (unsigned i = 0; i < LANES; i++) {
    int rc = take(q, &sh->lane[i].put.lock, MPCONN_FOREVER);
    if (rc < 0)
      return rc;
    mpconn__lock_release(&sh->lane[i].put.lock);
  }
  __atomic_store_n(&sh->closed, 2, __ATOMIC_RELEASE);
  mpconn__cond_wake(&sh->put);
  mpconn__cond_wake(&sh->got);
  return 0;
}

int mpconn__qrings_oldest(mpconn_queue *q, struct mpconn__qitem *it,
                          int timeout_ms) {
  struct rshared *sh = q->rings->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  int64_t lock_by = lock_deadline(timeout_ms, deadline);
  for (;;) {
    int rc = take_one(q, it, lock_by);
    if (rc != MPCONN_EEMPTY)
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
    uint32_t c = closed_state(sh);
    if (c == 2) {
      /* Every put that will ever publish has: one more look. */
      rc = take_one(q, it, lock_by);
      if (rc == MPCONN_EEMPTY)
        return MPCONN_EOF;
      return rc == MPCONN_ETIMEDOUT ? MPCONN_EEMPTY : rc;
    }
    if (c == 1) {
      rc = finish_close(q);
      if (rc < 0)
        return rc;
      continue;
    }
    if (expired(deadline))
      return MPCONN_EEMPTY;
    uint32_t seen = mpconn__cond_enter(&sh->put);
    rc = take_one(q, it, lock_by);
    if (rc == MPCONN_EEMPTY && closed_state(sh) == 0)
      rc = mpconn__cond_sleep(&sh->put, seen, deadline) == 0 ? MPCONN_EEMPTY
                                                             : MPCONN_ETIMEDOUT;
    if (rc == 0 || (rc < 0 && rc != MPCONN_EEMPTY && rc != MPCONN_ETIMEDOUT))
      return rc;
  }
}

/* ------------------------------------------------------------------------ */
/* Closing and tasks                                                        */
/* ------------------------------------------------------------------------ */

int mpconn__qrings_close(mpconn_queue *q) {
  struct rshared *sh = q->rings->sh;
  uint32_t open = 0;
  __atomic_compare_exchange_n(&sh->closed, &open, 1, false, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  if (closed_state(sh) == 2)
    return 0;
  /* Puts waiting for room learn of it now. */
  mpconn__cond_wake(&sh->got);
  return finish_close(q);
}

int mpconn__qrings_task_done(mpconn_queue *q) {
  struct rshared *sh = q->rings->sh;
  uint64_t done = __atomic_load_n(&sh->done, __ATOMIC_SEQ_CST);
  for (;;) {
    uint64_t puts = count_puts(sh);
    if (puts <= done)
      return MPCONN_EINVAL;
    if (__atomic_compare_exchange_n(&sh->done, &done, done + 1, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      if (puts == done + 1)
        mpconn__cond_signal(&sh->fin);
      return 0;
    }
  }
}

int mpconn__qrings_join(mpconn_queue *q, int timeout_ms) {
  struct rshared *sh = q->rings->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  for (;;) {
    uint32_t seen = mpconn__cond_enter(&sh->fin);
    bool finished =
        count_puts(sh) == __atomic_load_n(&sh->done, __ATOMIC_SEQ_CST);
    int rc = 0;
    if (!finished)
      rc = expired(deadline) ? MPCONN_ETIMEDOUT
                             : mpconn__cond_sleep(&sh->fin, seen, deadline);
    if (finished)
      return 0;
    if (rc == MPCONN_ETIMEDOUT && expired(deadline))
      return MPCONN_ETIMEDOUT;
  }
}

/* ------------------------------------------------------------------------ */
/* Test hooks                                                               */
/* ------------------------------------------------------------------------ */

uint32_t mpconn__qrings_owner_deaths(const mpconn_queue *q) {
  return __atomic_load_n(&q->rings->sh->owner_deaths, __ATOMIC_SEQ_CST);
}

/* The get lock of the first lane that holds an item (lane 0 if none): the
 * lock a get waits for. */
uint32_t *mpconn__qrings_lock_word(const mpconn_queue *q) {
#ifdef __GLIBC__
  struct rshared *sh = q->rings->sh;
  struct lane *l = &sh->lane[0];
  for (unsigned i = 0; i < LANES; i++)
    if (snap(&sh->lane[i].put).pos != snap(&sh->lane[i].get).pos) {
      l = &sh->lane[i];
      break;
    }
  return (uint32_t *)&l->get.lock.__data.__lock;
#else
  (void)q;
  return NULL;
#endif
}

unsigned mpconn__queue_my_lane(const mpconn_queue *q) {
  return my_lane(q->rings);
}

uint64_t *mpconn__queue_lane_state(const mpconn_queue *q, unsigned lane,
                                   bool put) {
  struct side *sd =
      put ? &q->rings->sh->lane[lane].put : &q->rings->sh->lane[lane].get;
  return &sd->slot[sd->gen & 1].pos;
}
