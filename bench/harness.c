/* SPDX-License-Identifier: MIT */
/*
 * Running one row: each role in its own forked process, started together
 * behind a barrier, timed with CLOCK_MONOTONIC (one clock for every
 * process), and reaped with wait4() for its peak RSS.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The server workload: BENCH_CLIENTS clients and the server. */
#define MAX_PROCS 72
/* A child still running after this many seconds is stuck: SIGALRM ends
 * it, and the row reports an error instead of hanging the benchmark. */
#define CHILD_TIMEOUT_S 900

/* One page shared by the parent and the children of one row. */
struct shared {
  int64_t start_ns[MAX_PROCS]; /* when each sender was let go */
  int64_t end_ns;              /* when the last message was taken */
  int failed;                  /* the first bench_fail() claims msg */
  char msg[256];
};

/* In a child: which row and role it runs. */
static struct shared *sh;
static int ready_fd = -1, go_fd = -1;
static int my_index = -1; /* sender index, or -1 for the receiver */
static bool went;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

_Noreturn void bench_fail(const char *fmt, ...) {
  if (sh && __atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST) == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->msg, sizeof(sh->msg), fmt, ap);
    va_end(ap);
  }
  _exit(2);
}

void bench_go(void) {
  if (went)
    bench_fail("bench_go() called twice");
  went = true;
  char b = 'r';
  while (write(ready_fd, &b, 1) < 0)
    if (errno != EINTR)
      bench_fail("barrier: %s", strerror(errno));
  close(ready_fd);
  /* The parent closes its end once everybody is ready: end of file. */
  ssize_t n;
  while ((n = read(go_fd, &b, 1)) != 0)
    if (n < 0 && errno != EINTR)
      bench_fail("barrier: %s", strerror(errno));
  close(go_fd);
  if (my_index >= 0)
    sh->start_ns[my_index] = now_ns();
}

void bench_mark_end(void) { sh->end_ns = now_ns(); }

void bench_write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      bench_fail("write: %s", n < 0 ? strerror(errno) : "wrote nothing");
    p += n;
    len -= (size_t)n;
  }
}

void bench_read_all(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      bench_fail("read: %s", n < 0 ? strerror(errno) : "end of file");
    p += n;
    len -= (size_t)n;
  }
}

int bench_socketpair(int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ? -errno
                                                                     : 0;
}

static _Noreturn void child(const struct bench_roles *roles, void *arg, int p,
                            int ready[2], int go[2]) {
  close(ready[0]);
  close(go[1]);
  ready_fd = ready[1];
  go_fd = go[0];
  alarm(CHILD_TIMEOUT_S);
  if (p < roles->senders) {
    my_index = p;
    roles->sender(arg, p);
  } else {
    roles->receiver(arg, 0);
  }
  if (!went)
    bench_fail("a role returned without bench_go()");
  _exit(0);
}

static void describe_status(char *buf, size_t size, int st) {
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
    snprintf(buf, size, "a process ran over %d s", CHILD_TIMEOUT_S);
  else if (WIFSIGNALED(st))
    snprintf(buf, size, "a process died of signal %d", WTERMSIG(st));
  else
    snprintf(buf, size, "a process exited with status %d", WEXITSTATUS(st));
}

int bench_run(struct bench_result *r, const struct bench_roles *roles,
              void *arg) {
  int nproc = roles->senders + 1;
  if (roles->senders < 1 || nproc > MAX_PROCS) {
    bench_error(r, "bad number of senders");
    return -1;
  }
  struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    bench_error(r, "mmap: %s", strerror(errno));
    return -1;
  }
  memset(s, 0, sizeof(*s));
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0) {
    bench_error(r, "pipe: %s", strerror(errno));
    munmap(s, sizeof(*s));
    return -1;
  }
  if (pipe2(go, O_CLOEXEC) < 0) {
    bench_error(r, "pipe: %s", strerror(errno));
    close(ready[0]);
    close(ready[1]);
    munmap(s, sizeof(*s));
    return -1;
  }

  pid_t pids[MAX_PROCS];
  int started = 0;
  char why[160] = "";
  fflush(NULL);
  for (; started < nproc; started++) {
    pid_t pid = fork();
    if (pid == 0) {
      sh = s;
      child(roles, arg, started, ready, go);
    }
    if (pid < 0) {
      snprintf(why, sizeof(why), "fork: %s", strerror(errno));
      break;
    }
    pids[started] = pid;
  }
  close(ready[1]);
  close(go[0]);

  /* Every child writes one byte when ready; a child that fails first
   * closes its end without writing. */
  int nready = 0;
  while (nready < started && !why[0]) {
    char b;
    ssize_t n = read(ready[0], &b, 1);
    if (n == 1)
      nready++;
    else if (n == 0 || errno != EINTR)
      break;
  }
  close(ready[0]);
  bool all_ready = nready == nproc && !why[0];
  if (!all_ready)
    for (int i = 0; i < started; i++)
      kill(pids[i], SIGKILL);
  close(go[1]);

  long rss_send = 0, rss_recv = 0;
  int left = started;
  while (left > 0) {
    int st;
    struct rusage ru;
    pid_t pid = wait4(-1, &st, 0, &ru);
    if (pid < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    int p = 0;
    while (p < started && pids[p] != pid)
      p++;
    if (p == started)
      continue;
    pids[p] = 0;
    left--;
    if (p < roles->senders) {
      if (ru.ru_maxrss > rss_send)
        rss_send = ru.ru_maxrss;
    } else {
      rss_recv = ru.ru_maxrss;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      if (!why[0])
        describe_status(why, sizeof(why), st);
      /* The others may wait for it for ever. */
      for (int i = 0; i < started; i++)
        if (pids[i] > 0)
          kill(pids[i], SIGKILL);
    }
  }

  int rc = 0;
  if (s->failed) {
    bench_error(r, "%s", s->msg);
    rc = -1;
  } else if (why[0]) {
    bench_error(r, "%s", why);
    rc = -1;
  } else if (s->end_ns == 0) {
    bench_error(r, "no process marked the end");
    rc = -1;
  } else {
    int64_t start = s->start_ns[0];
    for (int i = 1; i < roles->senders; i++)
      if (s->start_ns[i] < start)
        start = s->start_ns[i];
    r->seconds = (double)(s->end_ns - start) / 1e9;
    r->rss_send_mib = (double)rss_send / 1024.0;
    r->rss_recv_mib = (double)rss_recv / 1024.0;
  }
  munmap(s, sizeof(*s));
  return rc;
}
