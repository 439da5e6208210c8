/* SPDX-License-Identifier: MIT */
/*
 * The shared workload: BENCH_COUNTERS processes add 1 to one shared
 * counter, each holding a lock for each addition, n additions in all.
 *
 * mpconn value lock: the counter is mpconn_value_new(&v, 'i', 0) and the
 * lock is its own, mpconn_array_get_lock(), as Python's
 * `with v.get_lock(): v.value += 1`.
 *
 * pthread robust mutex: what one writes by hand: a process-shared robust
 * pthread_mutex_t and an int in one shared anonymous mapping,
 * pthread_mutex_lock() and pthread_mutex_unlock() around the addition.
 *
 * The clock runs from the first process let go to the last one done; the
 * receiver role only waits at the start line.
 */
#include "bench.h"

#include <mpconn.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

/* The hand-written row's mapping, and the count of processes done. */
struct by_hand {
  pthread_mutex_t lock;
  int32_t counter;
  uint32_t done;
};

struct sh_arg {
  enum bench_shared_variant variant;
  uint64_t n;
  mpconn_array *value;
  struct by_hand *sh; /* also the done count of the mpconn row */
};

static void check(int rc, const char *what) {
  if (rc < 0 && rc != MPCONN_EOWNERDEAD)
    bench_fail("%s: %s", what, mpconn_err_name(rc));
}

/* The additions process @index makes: n split as evenly as it goes. */
static uint64_t share(uint64_t n, int index) {
  return n / BENCH_COUNTERS + ((uint64_t)index < n % BENCH_COUNTERS);
}

/* The last process to finish stops the clock. */
static void finished(struct sh_arg *a) {
  if (__atomic_add_fetch(&a->sh->done, 1, __ATOMIC_SEQ_CST) == BENCH_COUNTERS)
    bench_mark_end();
}

static void counter_mpconn(struct sh_arg *a, uint64_t n) {
  mpconn_rlock *lock = mpconn_array_get_lock(a->value);
  int32_t *value = mpconn_array_data(a->value);
  for (uint64_t i = 0; i < n; i++) {
    check(mpconn_rlock_acquire(lock, -1), "acquire");
    *value += 1;
    check(mpconn_rlock_release(lock), "release");
  }
}

static void counter_by_hand(struct sh_arg *a, uint64_t n) {
  struct by_hand *sh = a->sh;
  for (uint64_t i = 0; i < n; i++) {
    int rc = pthread_mutex_lock(&sh->lock);
    if (rc == EOWNERDEAD)
      pthread_mutex_consistent(&sh->lock);
    else if (rc != 0)
      bench_fail("pthread_mutex_lock: %s", strerror(rc));
    sh->counter += 1;
    pthread_mutex_unlock(&sh->lock);
  }
}

static void counter(void *arg, int index) {
  struct sh_arg *a = arg;
  uint64_t n = share(a->n, index);
  bench_go();
  if (a->variant == BENCH_SHARED_MPCONN)
    counter_mpconn(a, n);
  else
    counter_by_hand(a, n);
  finished(a);
}

static void starter(void *arg, int index) {
  (void)arg;
  (void)index;
  bench_go();
}

static int init_by_hand(struct by_hand *sh) {
  pthread_mutexattr_t at;
  int rc = pthread_mutexattr_init(&at);
  if (rc == 0)
    rc = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutex_init(&sh->lock, &at);
  pthread_mutexattr_destroy(&at);
  return rc;
}

void bench_row_shared(struct bench_result *r, enum bench_shared_variant v,
                      uint64_t n) {
  struct sh_arg a = {.variant = v, .n = n};
  a.sh = mmap(NULL, sizeof(*a.sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (a.sh == MAP_FAILED) {
    bench_error(r, "mmap: %s", strerror(errno));
    return;
  }
  int rc = v == BENCH_SHARED_MPCONN ? mpconn_value_new(&a.value, 'i', 0)
                                    : -init_by_hand(a.sh);
  if (rc < 0) {
    bench_error(r, "%s", mpconn_strerror(rc));
    munmap(a.sh, sizeof(*a.sh));
    return;
  }
  struct bench_roles roles = {
      .senders = BENCH_COUNTERS, .sender = counter, .receiver = starter};
  r->messages = n;
  if (bench_run(r, &roles, &a) == 0) {
    int32_t total = v == BENCH_SHARED_MPCONN
                        ? *(int32_t *)mpconn_array_data(a.value)
                        : a.sh->counter;
    if ((uint64_t)total != n)
      bench_error(r, "the counter is %d, not %llu", (int)total,
                  (unsigned long long)n);
  }
  mpconn_array_free(a.value);
  munmap(a.sh, sizeof(*a.sh));
}
