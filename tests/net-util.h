/* SPDX-License-Identifier: MIT */
/* Helpers shared by the listener and client tests. */
#ifndef NET_UTIL_H
#define NET_UTIL_H

#include "test-util.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

/* No single step of a test should take this long. */
#define NET_TIMEOUT_MS 10000

static inline int64_t net_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A private directory for socket files; remove with net_rmdir(). */
static inline void net_tmpdir(char *dir, size_t size) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, size, "%s/mpconn-test-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(dir));
}

/* Remove the directory and the few plain names the tests put in it. */
static inline void net_rmdir(const char *dir) {
  const char *names[] = {"sock", "other", "stale", "plain", "rel"};
  char path[256];
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    unlink(path);
  }
  assert_int_equal(rmdir(dir), 0);
}

/* An abstract name nobody else uses: "@mpconn-test-PID-TAG". */
static inline void net_abstract(char *buf, size_t size, const char *tag) {
  snprintf(buf, size, "@mpconn-test-%ld-%s", (long)getpid(), tag);
}

static inline bool net_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* Send a string as one message; expect one. */
static inline void net_send_str(mpconn *c, const char *msg) {
  assert_int_equal(mpconn_send_bytes(c, msg, strlen(msg)), 0);
}

static inline void net_expect_str(mpconn *c, const char *want) {
  void *data;
  size_t len;
  assert_int_equal(
      mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, NET_TIMEOUT_MS), 0);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(data, want, len);
  free(data);
}

/*
 * A client run in a thread: connects with the options and, on success,
 * sends "hello", expects "welcome", and closes.  The main thread makes
 * every assertion from rc and the exchange result.
 */
struct net_client {
  const char *address;
  mpconn_net_options opts;
  bool talk;  /* do the exchange */
  int rc;     /* of mpconn_client() */
  int talked; /* 1 when the exchange went right */
  pthread_t thread;
};

static inline void *net_client_run(void *arg) {
  struct net_client *nc = arg;
  mpconn *c;
  nc->rc = mpconn_client(&c, nc->address, &nc->opts);
  if (nc->rc < 0)
    return NULL;
  if (nc->talk) {
    void *data = NULL;
    size_t len = 0;
    nc->talked = mpconn_send_bytes(c, "hello", 5) == 0 &&
                 mpconn_recv_bytes(c, &data, &len, 64, NET_TIMEOUT_MS) == 0 &&
                 len == 7 && memcmp(data, "welcome", 7) == 0;
    free(data);
  }
  mpconn_free(c);
  return NULL;
}

static inline void net_client_start(struct net_client *nc) {
  nc->rc = 1;
  nc->talked = 0;
  assert_int_equal(pthread_create(&nc->thread, NULL, net_client_run, nc), 0);
}

static inline void net_client_join(struct net_client *nc) {
  assert_int_equal(pthread_join(nc->thread, NULL), 0);
}

/* The listener's side of the exchange of net_client_run(). */
static inline void net_serve_one(mpconn *c) {
  net_expect_str(c, "hello");
  net_send_str(c, "welcome");
}

/* Wait for a child with a deadline, killing it when it runs late. */
static inline int net_reap(pid_t pid) {
  int64_t end = net_now_ms() + NET_TIMEOUT_MS;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    assert_true(r == 0);
    if (net_now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_msg("child %ld did not exit in time", (long)pid);
    }
    poll(NULL, 0, 10);
  }
}

#endif
