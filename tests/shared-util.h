/* SPDX-License-Identifier: MIT */
/* Helpers for the shared-state tests: a page of flags shared with the
 * children, children that say what went wrong, and bounded waits. */
#ifndef SHARED_UTIL_H
#define SHARED_UTIL_H

#include "queue-util.h"

#include <dirent.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <time.h>

/* A time only a broken primitive reaches. */
#define LONG_MS 20000

/* A zero-filled page shared with every child forked afterwards. */
static inline void *shared_page(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  assert_true(p != MAP_FAILED);
  return p;
}

/* In a child: report on stderr which child failed and how, and return
 * the exit status for the parent's reap_ok() to report. */
static inline int child_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int child_fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "child %d: ", (int)getpid());
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return status;
}

/* In a child: @rc must be @want, else report and fail. */
#define CHILD_EXPECT(rc, want, what)                                           \
  do {                                                                         \
    int got_ = (rc);                                                           \
    if (got_ != (want))                                                        \
      return child_fail(10, "%s: got %s (%d), wanted %s", (what),              \
                        mpconn_err_name(got_), got_, mpconn_err_name(want));   \
  } while (0)

static inline int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until *@word == @value, at most @limit_ms; fails the test if not. */
static inline void wait_word(const uint32_t *word, uint32_t value,
                             long limit_ms, const char *what) {
  int64_t end = now_ms() + limit_ms;
  while (__atomic_load_n(word, __ATOMIC_SEQ_CST) != value) {
    if (now_ms() > end)
      fail_msg("%s: still %u after %ld ms, wanted %u", what,
               __atomic_load_n(word, __ATOMIC_SEQ_CST), limit_ms, value);
    sleep_ms(1);
  }
}

/* In a child: wait until *@word == @value (the parent's go), at most
 * LONG_MS: false if it never comes. */
static inline bool child_wait_word(const uint32_t *word, uint32_t value) {
  int64_t end = now_ms() + LONG_MS;
  while (__atomic_load_n(word, __ATOMIC_SEQ_CST) != value) {
    if (now_ms() > end)
      return false;
    sleep_ms(1);
  }
  return true;
}

/* Wait until @pid sleeps in the kernel on a futex, at most @limit_ms. */
static inline void wait_futex_sleep(pid_t pid, long limit_ms) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
  for (long waited = 0; waited < limit_ms; waited += 2) {
    char wchan[128] = "";
    FILE *f = fopen(path, "r");
    if (f) {
      if (!fgets(wchan, sizeof(wchan), f))
        wchan[0] = 0;
      fclose(f);
    }
    if (strstr(wchan, "futex"))
      return;
    sleep_ms(2);
  }
  fail_msg("child %d never waited on a futex", (int)pid);
}

/* Reap a child that must have exited with @status. */
static inline void reap_status(pid_t pid, int status) {
  int st = reap_within(pid, 120000);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != status)
    fail_msg("child %d: %s %d, wanted exit status %d", (int)pid,
             WIFEXITED(st) ? "exit status" : "signal",
             WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), status);
}

/* How many lines of /proc/self/maps contain @needle. */
static inline int count_maps(const char *needle) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}

#endif
