/* SPDX-License-Identifier: MIT */
/*
 * Two processes pass a counter back and forth, each adding one, up to a
 * bound.  The C version of:
 *
 *     LIMIT = 10
 *
 *     def count(conn, name):
 *         while True:
 *             n = conn.recv()
 *             print(f"{name} received {n}", flush=True)
 *             if n == LIMIT:
 *                 break
 *             conn.send(n + 1)
 *             if n + 1 == LIMIT:
 *                 break
 *
 *     def proc1(conn):
 *         conn.send(0)
 *         count(conn, "proc1")
 *
 *     def proc2(conn):
 *         count(conn, "proc2")
 *
 *     a, b = Pipe()
 *     p1 = Process(target=proc1, args=(a,))
 *     p2 = Process(target=proc2, args=(b,))
 *     p1.start(); p2.start()
 *     p1.join(); p2.join()
 *
 * Only one process holds the counter at a time, so the lines come in a
 * fixed order if each process has written its line out before it sends
 * (flush=True above, fflush() below): when stdout is a pipe or a file,
 * stdio would otherwise keep the line until the process exits.
 *
 * Prints:
 *     proc2 received 0
 *     proc1 received 1
 *     proc2 received 2
 *     proc1 received 3
 *     proc2 received 4
 *     proc1 received 5
 *     proc2 received 6
 *     proc1 received 7
 *     proc2 received 8
 *     proc1 received 9
 *     proc2 received 10
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define LIMIT 10

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* Send n, after flushing what this process printed. */
static void send_count(mpconn *conn, int n) {
  fflush(stdout);
  check(mpconn_sendf(conn, "i", n), "send");
}

static void count(mpconn *conn, const char *name) {
  for (;;) {
    mpconn_msg *msg;
    check(mpconn_recv(conn, &msg, -1), name);
    int n;
    int rc = mpconn_unpackf(mpconn_msg_value(msg), NULL, "i", &n);
    mpconn_msg_free(msg);
    check(rc, name);
    printf("%s received %d\n", name, n);
    if (n == LIMIT)
      break;
    send_count(conn, n + 1);
    if (n + 1 == LIMIT)
      break;
  }
}

static void proc1(mpconn *conn) {
  send_count(conn, 0);
  count(conn, "proc1");
}

static void proc2(mpconn *conn) { count(conn, "proc2"); }

/* Run fn(conn) in a child, which first frees other. */
static pid_t start(void (*fn)(mpconn *), mpconn *conn, mpconn *other) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(other);
    fn(conn);
    mpconn_free(conn);
    exit(EXIT_SUCCESS);
  }
  return pid;
}

int main(void) {
  mpconn *a, *b;
  check(mpconn_pipe(&a, &b, true), "pipe");
  pid_t pids[2] = {start(proc1, a, b), start(proc2, b, a)};
  /* The children hold the only ends left: if one dies, the other gets
   * MPCONN_EOF instead of waiting forever. */
  mpconn_free(a);
  mpconn_free(b);

  int failed = 0;
  for (int i = 0; i < 2; i++) {
    int status;
    if (waitpid(pids[i], &status, 0) < 0)
      check(-errno, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed++;
  }
  if (failed) {
    fprintf(stderr, "%d child(ren) failed\n", failed);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
