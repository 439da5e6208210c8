/* SPDX-License-Identifier: MIT */
/*
 * Shared by the C peers of the interop tests: how they fail.  A peer sets
 * peer_name once and peer_step before each step, so that a failure says
 * which program failed at which step, and with which code.
 */
#ifndef PEER_UTIL_H
#define PEER_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

/* No step should wait this long; a receive that does reports it. */
#define TIMEOUT_MS 30000

static const char *peer_name = "peer";
static char peer_step[96] = "(setup)";

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt,
                                                                ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: step %s: ", peer_name, peer_step);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static inline const char *code_name(int rc) {
  return rc < 0 ? mpconn_err_name(rc) : "success";
}

static inline void check_ok(int rc, const char *call) {
  if (rc != 0)
    die("%s returned %d %s (%s)", call, rc, code_name(rc), mpconn_strerror(rc));
}

/* @name is a code's name without the MPCONN_ prefix, @len bytes of it. */
static inline void check_code_n(int rc, const char *name, size_t len,
                                const char *call) {
  const char *got = rc < 0 ? mpconn_err_name(rc) + strlen("MPCONN_") : "";
  if (rc >= 0 || strlen(got) != len || strncmp(got, name, len) != 0)
    die("%s returned %d %s, expected MPCONN_%.*s", call, rc, code_name(rc),
        (int)len, name);
}

static inline void check_code(int rc, const char *name, const char *call) {
  check_code_n(rc, name, strlen(name), call);
}

static inline void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    die("out of memory");
  return p;
}

/* A size from a step's argument, or die. */
static inline size_t parse_size(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v > SIZE_MAX)
    die("bad size '%s'", s);
  return (size_t)v;
}

/* How many descriptors this process has open. */
static inline int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    die("opendir /proc/self/fd: %s", strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

#endif
