/* SPDX-License-Identifier: MIT */
/*
 * The synchronization primitives (lib/sync.c, condition.c, barrier.c):
 * Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier
 * between forked processes, their error codes, and processes killed
 * while they hold or wait on one.
 */
#include "shared-util.h"

/* Flags shared with the children: what each has reached. */
struct flags {
  uint32_t holding;          /* a holder has taken what it holds */
  uint32_t ready;            /* children that are about to wait */
  uint32_t go;               /* the parent's word to carry on */
  uint32_t woken;            /* children that returned from a wait */
  uint32_t holders;          /* semaphore holders right now */
  uint32_t max_seen;         /* the most holders any of them saw */
  uint32_t items;            /* condition test: items waiting */
  uint32_t taken;            /* condition test: items taken */
  uint32_t done;             /* condition test: no more items will come */
  uint32_t arrived[8];       /* barrier test: rounds each process started */
  uint32_t index_bits[1000]; /* barrier test: indices seen in each round */
};

static struct flags *fl;

static int setup(void **state) {
  (void)state;
  fl = shared_page(sizeof(*fl));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  munmap(fl, sizeof(*fl));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Lock                                                                     */
/* ------------------------------------------------------------------------ */

static void test_lock_basics(void **state) {
  (void)state;
  mpconn_lock *l = (mpconn_lock *)&l;
  assert_int_equal(mpconn_lock_new(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_lock_new(&l), 0);
  assert_int_equal(mpconn_lock_acquire(l, 0), 0);
  /* Held: its holder waits like anybody else (Python's acquire(False)
   * and acquire(timeout=...) return False). */
  assert_int_equal(mpconn_lock_acquire(l, 0), MPCONN_ETIMEDOUT);
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_lock_acquire(l, 40), MPCONN_ETIMEDOUT);
  assert_true(now_ms() - t0 >= 39);
  assert_int_equal(mpconn_lock_release(l), 0);
  assert_int_equal(mpconn_lock_release(l), MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_lock_acquire(l, -1), 0);
  assert_int_equal(mpconn_lock_release(l), 0);
  assert_int_equal(mpconn_lock_acquire(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_lock_release(NULL), MPCONN_EINVAL);
  mpconn_lock_free(l);
  mpconn_lock_free(NULL);
}

static int child_lock_hold_until_go(void *arg) {
  mpconn_lock *l = arg;
  CHILD_EXPECT(mpconn_lock_acquire(l, 0), 0, "acquire");
  __atomic_store_n(&fl->holding, 1, __ATOMIC_SEQ_CST);
  if (!child_wait_word(&fl->go, 1))
    return child_fail(11, "no go");
  CHILD_EXPECT(mpconn_lock_release(l), 0, "release");
  return 0;
}

/* Another process holds it: a try fails, a release is refused (only the
 * holder releases: see the header), and it is free once let go. */
static void test_lock_between_processes(void **state) {
  (void)state;
  mpconn_lock *l;
  assert_int_equal(mpconn_lock_new(&l), 0);
  pid_t pid = spawn(child_lock_hold_until_go, l);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  assert_int_equal(mpconn_lock_acquire(l, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_lock_release(l), MPCONN_ENOTOWNER);
  __atomic_store_n(&fl->go, 1, __ATOMIC_SEQ_CST);
  assert_int_equal(mpconn_lock_acquire(l, LONG_MS), 0);
  reap_ok(pid);
  assert_int_equal(mpconn_lock_release(l), 0);
  mpconn_lock_free(l);
}

static int child_lock_hold_forever(void *arg) {
  CHILD_EXPECT(mpconn_lock_acquire(arg, 0), 0, "acquire");
  __atomic_store_n(&fl->holding, 1, __ATOMIC_SEQ_CST);
  for (;;)
    pause();
}

static int child_lock_wait(void *arg) {
  __atomic_add_fetch(&fl->ready, 1, __ATOMIC_SEQ_CST);
  int rc = mpconn_lock_acquire(arg, LONG_MS);
  if (rc != 0 && rc != MPCONN_EOWNERDEAD)
    return child_fail(10, "waiter: %s", mpconn_err_name(rc));
  if (rc == MPCONN_EOWNERDEAD)
    __atomic_add_fetch(&fl->woken, 1, __ATOMIC_SEQ_CST);
  CHILD_EXPECT(mpconn_lock_release(arg), 0, "release");
  return 0;
}

/* The holder is killed while two processes wait: one of them gets the
 * lock with MPCONN_EOWNERDEAD, then the other gets it plainly. */
static void test_lock_holder_killed(void **state) {
  (void)state;
  mpconn_lock *l;
  assert_int_equal(mpconn_lock_new(&l), 0);
  pid_t holder = spawn(child_lock_hold_forever, l);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  pid_t w1 = spawn(child_lock_wait, l), w2 = spawn(child_lock_wait, l);
  wait_futex_sleep(w1, LONG_MS);
  wait_futex_sleep(w2, LONG_MS);
  kill(holder, SIGKILL);
  reap_killed(holder);
  reap_ok(w1);
  reap_ok(w2);
  assert_int_equal(fl->woken, 1);
  assert_int_equal(mpconn_lock_acquire(l, 0), 0);
  assert_int_equal(mpconn_lock_release(l), 0);
  mpconn_lock_free(l);
}

/* ------------------------------------------------------------------------ */
/* RLock                                                                    */
/* ------------------------------------------------------------------------ */

static int child_rlock_try(void *arg) {
  CHILD_EXPECT(mpconn_rlock_acquire(arg, 0), MPCONN_ETIMEDOUT, "try");
  CHILD_EXPECT(mpconn_rlock_release(arg), MPCONN_ENOTOWNER, "release");
  return 0;
}

static void test_rlock_basics(void **state) {
  (void)state;
  mpconn_rlock *l;
  assert_int_equal(mpconn_rlock_new(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_rlock_new(&l), 0);
  assert_int_equal(mpconn_rlock_release(l), MPCONN_ENOTOWNER);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mpconn_rlock_acquire(l, 0), 0);
  reap_ok(spawn(child_rlock_try, l));
  for (int i = 0; i < 2; i++)
    assert_int_equal(mpconn_rlock_release(l), 0);
  reap_ok(spawn(child_rlock_try, l));
  assert_int_equal(mpconn_rlock_release(l), 0);
  assert_int_equal(mpconn_rlock_release(l), MPCONN_ENOTOWNER);
  mpconn_rlock_free(l);
  mpconn_rlock_free(NULL);
}

static int child_rlock_hold_forever(void *arg) {
  for (int i = 0; i < 3; i++)
    CHILD_EXPECT(mpconn_rlock_acquire(arg, 0), 0, "acquire");
  __atomic_store_n(&fl->holding, 1, __ATOMIC_SEQ_CST);
  for (;;)
    pause();
}

static int child_rlock_take(void *arg) {
  CHILD_EXPECT(mpconn_rlock_acquire(arg, 0), 0, "acquire");
  CHILD_EXPECT(mpconn_rlock_release(arg), 0, "release");
  return 0;
}

/* Killed holding it three levels deep: the next acquirer holds it once. */
static void test_rlock_holder_killed(void **state) {
  (void)state;
  mpconn_rlock *l;
  assert_int_equal(mpconn_rlock_new(&l), 0);
  pid_t holder = spawn(child_rlock_hold_forever, l);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  kill(holder, SIGKILL);
  reap_killed(holder);
  assert_int_equal(mpconn_rlock_acquire(l, LONG_MS), MPCONN_EOWNERDEAD);
  assert_int_equal(mpconn_rlock_release(l), 0);
  assert_int_equal(mpconn_rlock_release(l), MPCONN_ENOTOWNER);
  reap_ok(spawn(child_rlock_take, l));
  mpconn_rlock_free(l);
}

/* ------------------------------------------------------------------------ */
/* Semaphores                                                               */
/* ------------------------------------------------------------------------ */

static void test_semaphore_basics(void **state) {
  (void)state;
  mpconn_semaphore *s = (mpconn_semaphore *)&s;
  assert_int_equal(mpconn_semaphore_new(NULL, 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_semaphore_new(&s, MPCONN_SEMAPHORE_MAX + 1u),
                   MPCONN_EINVAL);
  assert_null(s);
  assert_int_equal(mpconn_semaphore_new(&s, 1), 0);
  assert_int_equal(mpconn_semaphore_value(s), 1);
  assert_int_equal(mpconn_semaphore_acquire(s, 0), 0);
  assert_int_equal(mpconn_semaphore_acquire(s, 0), MPCONN_ETIMEDOUT);
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_semaphore_acquire(s, 40), MPCONN_ETIMEDOUT);
  assert_true(now_ms() - t0 >= 39);
  /* A plain semaphore may be released beyond its initial value. */
  assert_int_equal(mpconn_semaphore_release(s), 0);
  assert_int_equal(mpconn_semaphore_release(s), 0);
  assert_int_equal(mpconn_semaphore_value(s), 2);
  mpconn_semaphore_free(s);

  assert_int_equal(mpconn_semaphore_new(&s, MPCONN_SEMAPHORE_MAX), 0);
  assert_int_equal(mpconn_semaphore_release(s), -EOVERFLOW);
  mpconn_semaphore_free(s);

  assert_int_equal(mpconn_bounded_semaphore_new(&s, 2), 0);
  assert_int_equal(mpconn_semaphore_release(s), MPCONN_EOVERRELEASE);
  assert_int_equal(mpconn_semaphore_value(s), 2);
  assert_int_equal(mpconn_semaphore_acquire(s, 0), 0);
  assert_int_equal(mpconn_semaphore_release(s), 0);
  assert_int_equal(mpconn_semaphore_release(s), MPCONN_EOVERRELEASE);
  assert_int_equal(mpconn_semaphore_value(s), 2);
  mpconn_semaphore_free(s);

  assert_int_equal(mpconn_bounded_semaphore_new(&s, 0), 0);
  assert_int_equal(mpconn_semaphore_release(s), MPCONN_EOVERRELEASE);
  assert_int_equal(mpconn_semaphore_acquire(s, 0), MPCONN_ETIMEDOUT);
  mpconn_semaphore_free(s);

  assert_int_equal(mpconn_semaphore_acquire(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_semaphore_release(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_semaphore_value(NULL), MPCONN_EINVAL);
  mpconn_semaphore_free(NULL);
}

#define SEM_COUNT 3
#define SEM_PROCS 6
#define SEM_ROUNDS 2000

static int child_semaphore_stress(void *arg) {
  mpconn_semaphore *s = arg;
  if (!child_wait_word(&fl->go, 1))
    return child_fail(11, "no go");
  for (int i = 0; i < SEM_ROUNDS; i++) {
    CHILD_EXPECT(mpconn_semaphore_acquire(s, LONG_MS), 0, "acquire");
    uint32_t n = __atomic_add_fetch(&fl->holders, 1, __ATOMIC_SEQ_CST);
    uint32_t max = __atomic_load_n(&fl->max_seen, __ATOMIC_SEQ_CST);
    while (n > max &&
           !__atomic_compare_exchange_n(&fl->max_seen, &max, n, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      ;
    if (i % 64 == 0)
      sched_yield(); /* let others pile up behind */
    __atomic_sub_fetch(&fl->holders, 1, __ATOMIC_SEQ_CST);
    CHILD_EXPECT(mpconn_semaphore_release(s), 0, "release");
  }
  return 0;
}

/* Under stress the holders never outnumber the count, and a bounded
 * semaphore ends where it started. */
static void test_semaphore_stress(void **state) {
  (void)state;
  mpconn_semaphore *s;
  assert_int_equal(mpconn_bounded_semaphore_new(&s, SEM_COUNT), 0);
  pid_t pids[SEM_PROCS];
  for (int i = 0; i < SEM_PROCS; i++)
    pids[i] = spawn(child_semaphore_stress, s);
  __atomic_store_n(&fl->go, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < SEM_PROCS; i++)
    reap_ok(pids[i]);
  assert_true(fl->max_seen >= 1 && fl->max_seen <= SEM_COUNT);
  assert_int_equal(fl->holders, 0);
  assert_int_equal(mpconn_semaphore_value(s), SEM_COUNT);
  assert_int_equal(mpconn_semaphore_release(s), MPCONN_EOVERRELEASE);
  mpconn_semaphore_free(s);
}

static int child_semaphore_hold_forever(void *arg) {
  CHILD_EXPECT(mpconn_semaphore_acquire(arg, 0), 0, "acquire");
  __atomic_store_n(&fl->holding, 1, __ATOMIC_SEQ_CST);
  for (;;)
    pause();
}

static int child_semaphore_use(void *arg) {
  for (int i = 0; i < 1000; i++) {
    CHILD_EXPECT(mpconn_semaphore_acquire(arg, LONG_MS), 0, "acquire");
    CHILD_EXPECT(mpconn_semaphore_release(arg), 0, "release");
  }
  return 0;
}

/* A holder killed: its count is not given back (as in Python), the
 * others carry on with what is left, a timed acquire returns instead of
 * hanging, and a parent may release for the dead child. */
static void test_semaphore_holder_killed(void **state) {
  (void)state;
  mpconn_semaphore *s;
  assert_int_equal(mpconn_bounded_semaphore_new(&s, 2), 0);
  pid_t holder = spawn(child_semaphore_hold_forever, s);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  kill(holder, SIGKILL);
  reap_killed(holder);
  assert_int_equal(mpconn_semaphore_value(s), 1);
  pid_t a = spawn(child_semaphore_use, s), b = spawn(child_semaphore_use, s);
  reap_ok(a);
  reap_ok(b);
  assert_int_equal(mpconn_semaphore_acquire(s, 0), 0);
  assert_int_equal(mpconn_semaphore_acquire(s, 30), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_semaphore_release(s), 0);
  assert_int_equal(mpconn_semaphore_release(s), 0); /* the dead child's */
  assert_int_equal(mpconn_semaphore_value(s), 2);
  mpconn_semaphore_free(s);
}

static int child_semaphore_wait(void *arg) {
  CHILD_EXPECT(mpconn_semaphore_acquire(arg, LONG_MS), 0, "acquire");
  return 0;
}

/* Each release wakes a waiter; a waiter killed while it sleeps changes
 * nothing for the others. */
static void test_semaphore_waiters(void **state) {
  (void)state;
  mpconn_semaphore *s;
  assert_int_equal(mpconn_semaphore_new(&s, 0), 0);
  pid_t doomed = spawn(child_semaphore_wait, s);
  wait_futex_sleep(doomed, LONG_MS);
  kill(doomed, SIGKILL);
  reap_killed(doomed);
  pid_t w[3];
  for (int i = 0; i < 3; i++) {
    w[i] = spawn(child_semaphore_wait, s);
    wait_futex_sleep(w[i], LONG_MS);
  }
  for (int i = 0; i < 3; i++)
    assert_int_equal(mpconn_semaphore_release(s), 0);
  for (int i = 0; i < 3; i++)
    reap_ok(w[i]);
  assert_int_equal(mpconn_semaphore_value(s), 0);
  mpconn_semaphore_free(s);
}

/* ------------------------------------------------------------------------ */
/* Event                                                                    */
/* ------------------------------------------------------------------------ */

static void test_event_basics(void **state) {
  (void)state;
  mpconn_event *e;
  assert_int_equal(mpconn_event_new(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_event_new(&e), 0);
  assert_false(mpconn_event_is_set(e));
  assert_int_equal(mpconn_event_wait(e, 0), MPCONN_ETIMEDOUT);
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_event_wait(e, 40), MPCONN_ETIMEDOUT);
  assert_true(now_ms() - t0 >= 39);
  assert_int_equal(mpconn_event_set(e), 0);
  assert_int_equal(mpconn_event_set(e), 0);
  assert_true(mpconn_event_is_set(e));
  assert_int_equal(mpconn_event_wait(e, 0), 0);
  assert_int_equal(mpconn_event_wait(e, -1), 0);
  assert_int_equal(mpconn_event_clear(e), 0);
  assert_false(mpconn_event_is_set(e));
  assert_int_equal(mpconn_event_wait(e, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_event_set(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_event_clear(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_event_wait(NULL, 0), MPCONN_EINVAL);
  assert_false(mpconn_event_is_set(NULL));
  mpconn_event_free(e);
  mpconn_event_free(NULL);
}

static int child_event_wait(void *arg) {
  CHILD_EXPECT(mpconn_event_wait(arg, LONG_MS), 0, "wait");
  __atomic_add_fetch(&fl->woken, 1, __ATOMIC_SEQ_CST);
  return 0;
}

/* set() wakes every waiter, also when the flag is cleared again at once. */
static void test_event_wakes_all(void **state) {
  (void)state;
  mpconn_event *e;
  assert_int_equal(mpconn_event_new(&e), 0);
  for (int round = 0; round < 2; round++) {
    pid_t w[6];
    for (int i = 0; i < 6; i++)
      w[i] = spawn(child_event_wait, e);
    for (int i = 0; i < 6; i++)
      wait_futex_sleep(w[i], LONG_MS);
    assert_int_equal(fl->woken, 6 * round);
    assert_int_equal(mpconn_event_set(e), 0);
    if (round == 1)
      assert_int_equal(mpconn_event_clear(e), 0);
    for (int i = 0; i < 6; i++)
      reap_ok(w[i]);
    assert_int_equal(fl->woken, 6 * (round + 1));
    assert_int_equal(mpconn_event_clear(e), 0);
  }
  mpconn_event_free(e);
}

/* ------------------------------------------------------------------------ */
/* Condition                                                                */
/* ------------------------------------------------------------------------ */

static void test_condition_errors(void **state) {
  (void)state;
  mpconn_condition *c;
  assert_int_equal(mpconn_condition_new(NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_condition_new(&c, NULL), 0);
  /* Python's RuntimeError: the lock is not held. */
  assert_int_equal(mpconn_condition_wait(c, 0), MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_condition_notify(c, 1), MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_condition_notify_all(c), MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_condition_release(c), MPCONN_ENOTOWNER);
  /* Held twice: a wait releases both levels and takes both back. */
  assert_int_equal(mpconn_condition_acquire(c, 0), 0);
  assert_int_equal(mpconn_condition_acquire(c, 0), 0);
  assert_int_equal(mpconn_condition_notify(c, 1), 0); /* nobody waits */
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_condition_wait(c, 30), MPCONN_ETIMEDOUT);
  assert_true(now_ms() - t0 >= 29);
  assert_int_equal(mpconn_condition_wait(c, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_condition_release(c), 0);
  assert_int_equal(mpconn_condition_release(c), 0);
  assert_int_equal(mpconn_condition_release(c), MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_condition_wait(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_condition_notify(NULL, 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_condition_acquire(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_condition_release(NULL), MPCONN_EINVAL);
  mpconn_condition_free(c);
  mpconn_condition_free(NULL);
}

static bool have_item(void *arg) {
  (void)arg;
  return fl->items > 0 || fl->done;
}

static bool is_odd(void *arg) { return *(int *)arg % 2 == 1; }

static void test_condition_wait_for(void **state) {
  (void)state;
  mpconn_condition *c;
  assert_int_equal(mpconn_condition_new(&c, NULL), 0);
  int n = 1;
  assert_int_equal(mpconn_condition_wait_for(c, is_odd, &n, 0),
                   MPCONN_ENOTOWNER);
  assert_int_equal(mpconn_condition_acquire(c, -1), 0);
  assert_int_equal(mpconn_condition_wait_for(c, is_odd, &n, 0), 0);
  n = 2;
  assert_int_equal(mpconn_condition_wait_for(c, is_odd, &n, 0),
                   MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_condition_wait_for(c, is_odd, &n, 30),
                   MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_condition_wait_for(c, NULL, &n, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_condition_release(c), 0);
  mpconn_condition_free(c);
}

#define ITEMS 300

/* A consumer: takes items as they come, until done and none is left. */
static int child_consume(void *arg) {
  mpconn_condition *c = arg;
  for (;;) {
    CHILD_EXPECT(mpconn_condition_acquire(c, LONG_MS), 0, "acquire");
    CHILD_EXPECT(mpconn_condition_wait_for(c, have_item, NULL, LONG_MS), 0,
                 "wait_for");
    bool last = fl->items == 0;
    if (!last) {
      fl->items--;
      fl->taken++;
    }
    CHILD_EXPECT(mpconn_condition_release(c), 0, "release");
    if (last)
      return 0;
  }
}

/* notify(1) per item to three consumers waiting in a predicate loop;
 * notify_all() tells them all that no more will come. */
static void test_condition_producer_consumers(void **state) {
  (void)state;
  mpconn_condition *c;
  assert_int_equal(mpconn_condition_new(&c, NULL), 0);
  pid_t w[3];
  for (int i = 0; i < 3; i++)
    w[i] = spawn(child_consume, c);
  for (int i = 0; i < ITEMS; i++) {
    assert_int_equal(mpconn_condition_acquire(c, LONG_MS), 0);
    fl->items++;
    assert_int_equal(mpconn_condition_notify(c, 1), 0);
    assert_int_equal(mpconn_condition_release(c), 0);
    if (i % 50 == 0)
      sleep_ms(1);
  }
  assert_int_equal(mpconn_condition_acquire(c, LONG_MS), 0);
  fl->done = 1;
  assert_int_equal(mpconn_condition_notify_all(c), 0);
  assert_int_equal(mpconn_condition_release(c), 0);
  for (int i = 0; i < 3; i++)
    reap_ok(w[i]);
  assert_int_equal(fl->taken, ITEMS);
  assert_int_equal(fl->items, 0);
  mpconn_condition_free(c);
}

static int child_cond_wait(void *arg) {
  mpconn_condition *c = arg;
  CHILD_EXPECT(mpconn_condition_acquire(c, LONG_MS), 0, "acquire");
  fl->ready++; /* under the lock, which wait releases */
  CHILD_EXPECT(mpconn_condition_wait(c, LONG_MS), 0, "wait");
  fl->woken++;
  CHILD_EXPECT(mpconn_condition_release(c), 0, "release");
  return 0;
}

/* notify(2) lets exactly two of four waiters go; notify_all() the rest.
 * The condition here uses an array's lock. */
static void test_condition_notify_counts(void **state) {
  (void)state;
  mpconn_array *a;
  assert_int_equal(mpconn_array_new(&a, 'i', 1, 0), 0);
  mpconn_condition *c;
  assert_int_equal(mpconn_condition_new(&c, mpconn_array_get_lock(a)), 0);
  pid_t w[4];
  for (int i = 0; i < 4; i++)
    w[i] = spawn(child_cond_wait, c);
  /* ready counts waiters that are inside wait() once the lock is free. */
  for (int64_t end = now_ms() + LONG_MS;;) {
    assert_int_equal(mpconn_rlock_acquire(mpconn_array_get_lock(a), -1), 0);
    uint32_t ready = fl->ready;
    if (ready == 4)
      break;
    assert_int_equal(mpconn_rlock_release(mpconn_array_get_lock(a)), 0);
    assert_true(now_ms() < end);
    sleep_ms(1);
  }
  assert_int_equal(mpconn_condition_notify(c, 2), 0);
  assert_int_equal(mpconn_condition_release(c), 0);
  sleep_ms(300); /* time enough for a third to return, if it wrongly could */
  assert_int_equal(mpconn_condition_acquire(c, -1), 0);
  assert_int_equal(fl->woken, 2);
  assert_int_equal(mpconn_condition_notify_all(c), 0);
  assert_int_equal(mpconn_condition_release(c), 0);
  for (int i = 0; i < 4; i++)
    reap_ok(w[i]);
  assert_int_equal(fl->woken, 4);
  mpconn_condition_free(c);
  mpconn_array_free(a);
}

static int child_cond_hold_forever(void *arg) {
  mpconn_condition *c = arg;
  CHILD_EXPECT(mpconn_condition_acquire(c, LONG_MS), 0, "acquire");
  /* Tell the waiter, then die before releasing the lock. */
  CHILD_EXPECT(mpconn_condition_notify(c, 1), 0, "notify");
  __atomic_store_n(&fl->holding, 1, __ATOMIC_SEQ_CST);
  for (;;)
    pause();
}

static int child_cond_wait_dead_holder(void *arg) {
  mpconn_condition *c = arg;
  CHILD_EXPECT(mpconn_condition_acquire(c, LONG_MS), 0, "acquire");
  __atomic_store_n(&fl->ready, 1, __ATOMIC_SEQ_CST);
  /* Notified, but the notifier died holding the lock: the wait takes the
   * lock back with MPCONN_EOWNERDEAD. */
  CHILD_EXPECT(mpconn_condition_wait(c, LONG_MS), MPCONN_EOWNERDEAD, "wait");
  CHILD_EXPECT(mpconn_condition_release(c), 0, "release");
  return 0;
}

/* A process killed holding the Condition's lock: a waiter taking the lock
 * back, and later the next acquirer, carry on. */
static void test_condition_holder_killed(void **state) {
  (void)state;
  mpconn_condition *c;
  assert_int_equal(mpconn_condition_new(&c, NULL), 0);
  pid_t waiter = spawn(child_cond_wait_dead_holder, c);
  wait_word(&fl->ready, 1, LONG_MS, "waiter");
  wait_futex_sleep(waiter, LONG_MS);
  pid_t holder = spawn(child_cond_hold_forever, c);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  kill(holder, SIGKILL);
  reap_killed(holder);
  reap_ok(waiter);
  assert_int_equal(mpconn_condition_acquire(c, 0), 0);
  assert_int_equal(mpconn_condition_release(c), 0);

  /* No waiter: the next acquirer sees the death. */
  fl->holding = 0;
  holder = spawn(child_cond_hold_forever, c);
  wait_word(&fl->holding, 1, LONG_MS, "holder");
  kill(holder, SIGKILL);
  reap_killed(holder);
  assert_int_equal(mpconn_condition_acquire(c, LONG_MS), MPCONN_EOWNERDEAD);
  assert_int_equal(mpconn_condition_wait(c, 10), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_condition_release(c), 0);
  mpconn_condition_free(c);
}

/* ------------------------------------------------------------------------ */
/* Barrier                                                                  */
/* ------------------------------------------------------------------------ */

static void test_barrier_basics(void **state) {
  (void)state;
  mpconn_barrier *b = (mpconn_barrier *)&b;
  assert_int_equal(mpconn_barrier_new(&b, 0), MPCONN_EINVAL);
  assert_null(b);
  assert_int_equal(mpconn_barrier_new(&b, 65537), MPCONN_EINVAL);
  assert_int_equal(mpconn_barrier_new(NULL, 2), MPCONN_EINVAL);
  assert_int_equal(mpconn_barrier_new(&b, 1), 0);
  assert_int_equal(mpconn_barrier_wait(b, 0), 0);
  assert_int_equal(mpconn_barrier_wait(b, -1), 0);
  mpconn_barrier_free(b);

  assert_int_equal(mpconn_barrier_new(&b, 2), 0);
  assert_int_equal(mpconn_barrier_parties(b), 2);
  assert_int_equal(mpconn_barrier_n_waiting(b), 0);
  assert_false(mpconn_barrier_broken(b));
  /* A wait that times out breaks the barrier, as in Python. */
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_barrier_wait(b, 30), MPCONN_ETIMEDOUT);
  assert_true(now_ms() - t0 >= 29);
  assert_true(mpconn_barrier_broken(b));
  assert_int_equal(mpconn_barrier_n_waiting(b), 0);
  assert_int_equal(mpconn_barrier_wait(b, 0), MPCONN_EBROKEN);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  assert_false(mpconn_barrier_broken(b));
  assert_int_equal(mpconn_barrier_wait(b, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  assert_int_equal(mpconn_barrier_abort(b), 0);
  assert_true(mpconn_barrier_broken(b));
  assert_int_equal(mpconn_barrier_wait(b, -1), MPCONN_EBROKEN);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  assert_false(mpconn_barrier_broken(b));
  mpconn_barrier_free(b);

  assert_int_equal(mpconn_barrier_wait(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_barrier_reset(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_barrier_abort(NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_barrier_parties(NULL), 0);
  assert_int_equal(mpconn_barrier_n_waiting(NULL), 0);
  assert_false(mpconn_barrier_broken(NULL));
  mpconn_barrier_free(NULL);
}

#define BARRIER_PROCS 8
#define BARRIER_ROUNDS 1000

struct rounds {
  mpconn_barrier *b;
  int me;
};

/* Each round: say so, wait, then check that everybody had said so. */
static int child_rounds(void *arg) {
  struct rounds *r = arg;
  for (uint32_t round = 0; round < BARRIER_ROUNDS; round++) {
    __atomic_store_n(&fl->arrived[r->me], round + 1, __ATOMIC_SEQ_CST);
    int index = mpconn_barrier_wait(r->b, LONG_MS);
    if (index < 0 || index >= BARRIER_PROCS)
      return child_fail(10, "process %d, round %u: wait gave %s (%d)", r->me,
                        round, mpconn_err_name(index), index);
    __atomic_or_fetch(&fl->index_bits[round], 1u << index, __ATOMIC_SEQ_CST);
    for (int j = 0; j < BARRIER_PROCS; j++) {
      uint32_t other = __atomic_load_n(&fl->arrived[j], __ATOMIC_SEQ_CST);
      if (other < round + 1)
        return child_fail(12,
                          "process %d passed round %u before process %d "
                          "arrived (it is at %u)",
                          r->me, round, j, other);
    }
  }
  return 0;
}

/* 8 processes x 1 000 rounds: nobody passes early, and each round hands
 * out every index once. */
static void test_barrier_rounds(void **state) {
  (void)state;
  mpconn_barrier *b;
  assert_int_equal(mpconn_barrier_new(&b, BARRIER_PROCS), 0);
  struct rounds r[BARRIER_PROCS];
  pid_t pids[BARRIER_PROCS];
  for (int i = 0; i < BARRIER_PROCS; i++) {
    r[i] = (struct rounds){.b = b, .me = i};
    pids[i] = spawn(child_rounds, &r[i]);
  }
  for (int i = 0; i < BARRIER_PROCS; i++)
    reap_ok(pids[i]);
  for (int round = 0; round < BARRIER_ROUNDS; round++)
    if (fl->index_bits[round] != (1u << BARRIER_PROCS) - 1)
      fail_msg("round %d handed out indices %#x", round, fl->index_bits[round]);
  assert_false(mpconn_barrier_broken(b));
  mpconn_barrier_free(b);
}

static int child_barrier_broken(void *arg) {
  CHILD_EXPECT(mpconn_barrier_wait(arg, LONG_MS), MPCONN_EBROKEN, "wait");
  return 0;
}

static int child_barrier_wait_forever(void *arg) {
  mpconn_barrier_wait(arg, -1);
  return child_fail(13, "the barrier let it go");
}

static void wait_n_waiting(mpconn_barrier *b, unsigned n) {
  int64_t end = now_ms() + LONG_MS;
  while (mpconn_barrier_n_waiting(b) != n) {
    if (now_ms() > end)
      fail_msg("%u waiting, wanted %u", mpconn_barrier_n_waiting(b), n);
    sleep_ms(1);
  }
}

/* A participant killed mid-round breaks the barrier for the others, who
 * get MPCONN_EBROKEN in bounded time, even while the dead one is an
 * unreaped zombie. */
static void test_barrier_participant_killed(void **state) {
  (void)state;
  mpconn_barrier *b;
  assert_int_equal(mpconn_barrier_new(&b, 4), 0);
  pid_t a = spawn(child_barrier_broken, b);
  pid_t victim = spawn(child_barrier_wait_forever, b);
  pid_t c = spawn(child_barrier_broken, b);
  wait_n_waiting(b, 3);
  int64_t t0 = now_ms();
  kill(victim, SIGKILL);
  reap_status(a, 0); /* the victim is still a zombie here */
  reap_status(c, 0);
  int64_t took = now_ms() - t0;
  reap_killed(victim);
  assert_true(took < 5000);
  assert_true(mpconn_barrier_broken(b));
  assert_int_equal(mpconn_barrier_wait(b, 0), MPCONN_EBROKEN);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  assert_false(mpconn_barrier_broken(b));
  mpconn_barrier_free(b);
}

static int child_barrier_pass(void *arg) {
  int rc = mpconn_barrier_wait(arg, LONG_MS);
  if (rc < 0)
    return child_fail(10, "wait: %s", mpconn_err_name(rc));
  return 0;
}

/* reset() and abort() while processes wait: they get MPCONN_EBROKEN; after
 * reset() the barrier works again. */
static void test_barrier_reset_abort(void **state) {
  (void)state;
  mpconn_barrier *b;
  assert_int_equal(mpconn_barrier_new(&b, 3), 0);
  pid_t w[2];
  for (int i = 0; i < 2; i++)
    w[i] = spawn(child_barrier_broken, b);
  wait_n_waiting(b, 2);
  assert_int_equal(mpconn_barrier_reset(b), 0);
  for (int i = 0; i < 2; i++)
    reap_ok(w[i]);
  assert_false(mpconn_barrier_broken(b));
  assert_int_equal(mpconn_barrier_n_waiting(b), 0);

  for (int i = 0; i < 2; i++)
    w[i] = spawn(child_barrier_pass, b);
  wait_n_waiting(b, 2);
  assert_int_equal(mpconn_barrier_wait(b, LONG_MS), 2);
  for (int i = 0; i < 2; i++)
    reap_ok(w[i]);

  w[0] = spawn(child_barrier_broken, b);
  wait_n_waiting(b, 1);
  assert_int_equal(mpconn_barrier_abort(b), 0);
  reap_ok(w[0]);
  assert_int_equal(mpconn_barrier_wait(b, 0), MPCONN_EBROKEN);
  mpconn_barrier_free(b);
}

static int child_barrier_timeout(void *arg) {
  CHILD_EXPECT(mpconn_barrier_wait(arg, 100), MPCONN_ETIMEDOUT, "wait");
  return 0;
}

/* One waiter's timeout breaks the barrier for the other waiter. */
static void test_barrier_timeout_breaks(void **state) {
  (void)state;
  mpconn_barrier *b;
  assert_int_equal(mpconn_barrier_new(&b, 3), 0);
  pid_t a = spawn(child_barrier_broken, b);
  wait_n_waiting(b, 1);
  pid_t t = spawn(child_barrier_timeout, b);
  reap_ok(t);
  reap_ok(a);
  assert_true(mpconn_barrier_broken(b));
  mpconn_barrier_free(b);
}

static int reset_flags(void **state) {
  (void)state;
  memset(fl, 0, sizeof(*fl));
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_lock_basics, reset_flags),
      cmocka_unit_test_setup(test_lock_between_processes, reset_flags),
      cmocka_unit_test_setup(test_lock_holder_killed, reset_flags),
      cmocka_unit_test_setup(test_rlock_basics, reset_flags),
      cmocka_unit_test_setup(test_rlock_holder_killed, reset_flags),
      cmocka_unit_test_setup(test_semaphore_basics, reset_flags),
      cmocka_unit_test_setup(test_semaphore_stress, reset_flags),
      cmocka_unit_test_setup(test_semaphore_holder_killed, reset_flags),
      cmocka_unit_test_setup(test_semaphore_waiters, reset_flags),
      cmocka_unit_test_setup(test_event_basics, reset_flags),
      cmocka_unit_test_setup(test_event_wakes_all, reset_flags),
      cmocka_unit_test_setup(test_condition_errors, reset_flags),
      cmocka_unit_test_setup(test_condition_wait_for, reset_flags),
      cmocka_unit_test_setup(test_condition_producer_consumers, reset_flags),
      cmocka_unit_test_setup(test_condition_notify_counts, reset_flags),
      cmocka_unit_test_setup(test_condition_holder_killed, reset_flags),
      cmocka_unit_test_setup(test_barrier_basics, reset_flags),
      cmocka_unit_test_setup(test_barrier_rounds, reset_flags),
      cmocka_unit_test_setup(test_barrier_participant_killed, reset_flags),
      cmocka_unit_test_setup(test_barrier_reset_abort, reset_flags),
      cmocka_unit_test_setup(test_barrier_timeout_breaks, reset_flags),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
