/* SPDX-License-Identifier: MIT */
/*
 * The Python rows: bench/python_bench.py measures multiprocessing.Pipe and
 * Queue the way the harness measures the C rows and prints one JSON line,
 * read here.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BENCH_PYTHON
#define BENCH_PYTHON "/usr/bin/python3"
#endif
#ifndef BENCH_PYTHON_SCRIPT
#define BENCH_PYTHON_SCRIPT "python_bench.py"
#endif

/* The number after "key": in @json, or -1 when absent. */
static double number(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof(pat), "\"%s\": ", key);
  const char *p = strstr(json, pat);
  return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* The string after "key": into @out; false when absent.  The helper only
 * writes plain ASCII messages, so escapes are not decoded. */
static bool string(const char *json, const char *key, char *out, size_t size) {
  char pat[64];
  snprintf(pat, sizeof(pat), "\"%s\": \"", key);
  const char *p = strstr(json, pat);
  if (!p)
    return false;
  p += strlen(pat);
  size_t n = 0;
  while (p[n] && p[n] != '"')
    n++;
  snprintf(out, size, "%.*s", (int)n, p);
  return true;
}

/* Run the helper; its standard output into @out.  0 or -1. */
static int run_helper(struct bench_result *r, char *const argv[], char *out,
                      size_t size) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    bench_error(r, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    bench_error(r, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fds[0], out + len, size - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
    if (len == size - 1) /* too much: keep draining, keep the start */
      len = 0;
  }
  out[len] = '\0';
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    bench_error(r, "%s exited with status %d", BENCH_PYTHON_SCRIPT,
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return -1;
  }
  return 0;
}

void bench_row_python(struct bench_result *r, enum bench_kind k,
                      const char *variant, uint64_t n) {
  if (access(BENCH_PYTHON, X_OK) != 0) {
    bench_skip(r, "%s not found", BENCH_PYTHON);
    return;
  }
  if (access(BENCH_PYTHON_SCRIPT, R_OK) != 0) {
    bench_skip(r, "%s not found", BENCH_PYTHON_SCRIPT);
    return;
  }
  char count[32];
  snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
  char *argv[] = {BENCH_PYTHON,
                  BENCH_PYTHON_SCRIPT,
                  (char *)bench_kind_name(k),
                  (char *)variant,
                  count,
                  NULL};
  char out[4096];
  if (run_helper(r, argv, out, sizeof(out)) < 0)
    return;

  char why[128];
  if (string(out, "skipped", why, sizeof(why))) {
    bench_skip(r, "%s", why);
    return;
  }
  if (string(out, "error", why, sizeof(why))) {
    bench_error(r, "%s", why);
    return;
  }
  double messages = number(out, "messages"), seconds = number(out, "seconds");
  if (messages <= 0 || seconds <= 0) {
    bench_error(r, "no result from %s", BENCH_PYTHON_SCRIPT);
    return;
  }
  r->messages = (uint64_t)messages;
  r->seconds = seconds;
  r->rss_send_mib = number(out, "rss_send_kib") / 1024.0;
  r->rss_recv_mib = number(out, "rss_recv_kib") / 1024.0;
}
