/* SPDX-License-Identifier: MIT */
/*
 * Barrier: a robust mutex guarding the round's count and the list of its
 * waiters, and a futex word holding the round's number and whether the
 * barrier is broken, in a shared anonymous mapping.
 *
 * The last to arrive starts the next round by storing its number in the
 * word and waking everybody; a waiter returns when the number it waited
 * in is no longer current.  A round that ended because of reset() rather
 * than because it filled is marked in a 64-round history that its
 * waiters read, so they return MPCONN_EBROKEN instead of passing.
 *
 * A waiter killed while it waits would otherwise leave the others asleep
 * for ever.  So each waiter records its process (pid and start time,
 * from /proc) in its slot, and a waiter that has slept MPCONN__RECHECK_MS
 * looks at the processes waiting with it: one that is gone, a zombie, or
 * whose pid now belongs to a process started later has died, and the
 * barrier breaks.  A process killed while it holds the mutex, in the
 * middle of the bookkeeping, also breaks it.
 */
#include "shared.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PARTIES 65536u
#define BROKEN 1u /* bit 0 of the word; the round's number is above it */

struct slot {
  int32_t pid;
  uint32_t pad;
  uint64_t start; /* start time in clock ticks since boot; 0 if unknown */
};

struct barrier_shared {
  pthread_mutex_t lock;
  uint32_t word; /* futex word: round << 1 | BROKEN */
  uint32_t parties;
  uint32_t count; /* arrived in the current round */
  uint32_t pad;
  uint64_t reset_bits; /* bit (round % 64): that round ended by reset() */
  struct slot slot[];  /* the current round's waiters, in arrival order */
};

struct mpconn_barrier {
  struct barrier_shared *sh;
  size_t map_len;
};

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

/* Read /proc/PID/stat: its state letter and start time.  false when the
 * process does not exist (or /proc cannot say). */
static bool proc_stat(pid_t pid, char *state, uint64_t *start) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n;
  do
    n = read(fd, buf, sizeof(buf) - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  /* "pid (comm) S ppid ...": comm may hold anything, even ") ". */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ')
    return false;
  *state = p[2];
  /* p + 3 is the space before field 4 of proc(5); the start time is
   * field 22. */
  p += 3;
  for (int field = 4; field <= 22 && p; field++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  *start = p ? strtoull(p, NULL, 10) : 0;
  return true;
}

/* This process: its pid and start time, read once per process. */
static struct slot myself(void) {
  static __thread struct slot cached;
  pid_t pid = getpid();
  if (cached.pid != pid) {
    char state;
    cached.pid = pid;
    if (!proc_stat(pid, &state, &cached.start))
      cached.start = 0;
  }
  return cached;
}

/* Whether the process in @s has died. */
static bool gone(const struct slot *s) {
  char state;
  uint64_t start;
  if (s->start == 0) /* no /proc: only what kill() tells */
    return kill(s->pid, 0) < 0 && errno == ESRCH;
  if (!proc_stat(s->pid, &state, &start))
    return true;
  return state == 'Z' || state == 'X' || start != s->start;
}

/* ------------------------------------------------------------------------ */
/* The barrier                                                              */
/* ------------------------------------------------------------------------ */

int mpconn_barrier_new(mpconn_barrier **b, unsigned parties) {
  if (!b)
    return MPCONN_EINVAL;
  *b = NULL;
  if (parties == 0 || parties > MAX_PARTIES)
    return MPCONN_EINVAL;
  mpconn_barrier *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  int rc;
  h->map_len = sizeof(*h->sh) + parties * sizeof(struct slot);
  h->sh = mpconn__map_shared(h->map_len, &rc);
  if (!h->sh) {
    free(h);
    return rc;
  }
  h->sh->parties = parties;
  if ((rc = mpconn__lock_init(&h->sh->lock)) < 0) {
    munmap(h->sh, h->map_len);
    free(h);
    return rc;
  }
  *b = h;
  return 0;
}

void mpconn_barrier_free(mpconn_barrier *b) {
  if (!b)
    return;
  munmap(b->sh, b->map_len);
  free(b);
}

static uint32_t load_word(const struct barrier_shared *sh) {
  return __atomic_load_n(&sh->word, __ATOMIC_ACQUIRE);
}

/* With the lock held: break the barrier and wake everybody. */
static void break_locked(struct barrier_shared *sh) {
  uint32_t w = load_word(sh);
  if (!(w & BROKEN)) {
    __atomic_store_n(&sh->word, w | BROKEN, __ATOMIC_RELEASE);
    mpconn__futex_wake_all(&sh->word);
  }
}

/* Take the lock.  Its holder died in the middle of the bookkeeping: the
 * count and the slots cannot be trusted, so the barrier breaks. */
static int lock(struct barrier_shared *sh) {
  int rc = mpconn__lock_until(&sh->lock, MPCONN_FOREVER);
  if (rc == MPCONN__LOCK_OWNER_DIED)
    break_locked(sh);
  return rc < 0 ? rc : 0;
}

static void unlock(struct barrier_shared *sh) {
  mpconn__lock_release(&sh->lock);
}

/* With the lock held: end round @w's number and start the next, the
 * history saying how it ended. */
static void next_round(struct barrier_shared *sh, uint32_t w, bool reset) {
  uint64_t bit = (uint64_t)1 << ((w >> 1) % 64);
  sh->reset_bits = reset ? sh->reset_bits | bit : sh->reset_bits & ~bit;
  __atomic_store_n(&sh->count, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&sh->word, (w & ~BROKEN) + 2, __ATOMIC_RELEASE);
  mpconn__futex_wake_all(&sh->word);
}

/* With the lock held, in round @w: whether a waiter has died. */
static bool waiter_died(const struct barrier_shared *sh) {
  for (uint32_t i = 0; i < sh->count && i < sh->parties; i++)
    if (gone(&sh->slot[i]))
      return true;
  return false;
}

int mpconn_barrier_wait(mpconn_barrier *b, int timeout_ms) {
  if (!b)
    return MPCONN_EINVAL;
  struct barrier_shared *sh = b->sh;
  int64_t deadline = mpconn__deadline(timeout_ms);
  struct slot me = myself();
  int rc = lock(sh);
  if (rc < 0)
    return rc;
  uint32_t w = load_word(sh);
  if (w & BROKEN) {
    unlock(sh);
    return MPCONN_EBROKEN;
  }
  uint32_t index = sh->count;
  /* Never more than parties - 1 wait: the last arrival ends the round. */
  if (index + 1 >= sh->parties) {
    next_round(sh, w, false);
    unlock(sh);
    return (int)(sh->parties - 1);
  }
  sh->slot[index] = me;
  __atomic_store_n(&sh->count, index + 1, __ATOMIC_RELAXED);
  unlock(sh);

  uint32_t round = w >> 1;
  for (;;) {
    uint32_t now = load_word(sh);
    if ((now >> 1) != round) {
      uint64_t bits = __atomic_load_n(&sh->reset_bits, __ATOMIC_ACQUIRE);
      return (bits >> (round % 64)) & 1 ? MPCONN_EBROKEN : (int)index;
    }
    if (now & BROKEN)
      return MPCONN_EBROKEN;
    if (mpconn__expired(deadline)) {
      /* Python's wait() breaks the barrier when it times out. */
      if ((rc = lock(sh)) < 0)
        return rc;
      bool still = load_word(sh) == now;
      if (still)
        break_locked(sh);
      unlock(sh);
      if (still)
        return MPCONN_ETIMEDOUT;
      continue; /* the round ended meanwhile */
    }
    rc = mpconn__futex_wait(&sh->word, now, mpconn__recheck_until(deadline));
    if (rc == MPCONN_ETIMEDOUT && !mpconn__expired(deadline)) {
      if ((rc = lock(sh)) < 0)
        return rc;
      if (load_word(sh) == now && waiter_died(sh))
        break_locked(sh);
      unlock(sh);
    }
  }
}

int mpconn_barrier_reset(mpconn_barrier *b) {
  if (!b)
    return MPCONN_EINVAL;
  struct barrier_shared *sh = b->sh;
  int rc = lock(sh);
  if (rc < 0)
    return rc;
  uint32_t w = load_word(sh);
  /* An empty, whole round is already what reset() makes. */
  if ((w & BROKEN) || sh->count > 0)
    next_round(sh, w, true);
  unlock(sh);
  return 0;
}

int mpconn_barrier_abort(mpconn_barrier *b) {
  if (!b)
    return MPCONN_EINVAL;
  int rc = lock(b->sh);
  if (rc < 0)
    return rc;
  break_locked(b->sh);
  unlock(b->sh);
  return 0;
}

unsigned mpconn_barrier_parties(const mpconn_barrier *b) {
  return b ? b->sh->parties : 0;
}

unsigned mpconn_barrier_n_waiting(const mpconn_barrier *b) {
  if (!b || (load_word(b->sh) & BROKEN))
    return 0;
  return __atomic_load_n(&b->sh->count, __ATOMIC_RELAXED);
}

bool mpconn_barrier_broken(const mpconn_barrier *b) {
  return b && (load_word(b->sh) & BROKEN);
}
