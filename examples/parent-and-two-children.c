/* SPDX-License-Identifier: MIT */
/*
 * A parent talks with two children, each over its own duplex pipe.  The C
 * version of:
 *
 *     def hijo(conn, n):
 *         msg = conn.recv()
 *         conn.send(f"El hijo {n} recibió: {msg}")
 *         conn.close()
 *
 *     conns, procs = [], []
 *     for n in (1, 2):
 *         padre, hijo_conn = Pipe()
 *         p = Process(target=hijo, args=(hijo_conn, n))
 *         p.start()
 *         conns.append(padre)
 *         procs.append(p)
 *     for n, conn in enumerate(conns, 1):
 *         conn.send(f"Hola, hijo {n}")
 *     for conn in conns:
 *         print(conn.recv())
 *     for p in procs:
 *         p.join()
 *
 * The children run at the same time; the parent reads the answers in the
 * order of its pipes, so they are printed in that order whichever child
 * answers first.
 *
 * Prints:
 *     El hijo 1 recibió: Hola, hijo 1
 *     El hijo 2 recibió: Hola, hijo 2
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define CHILDREN 2

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void hijo(mpconn *conn, int n) {
  mpconn_msg *msg;
  check(mpconn_recv(conn, &msg, -1), "child: recv");
  const char *text;
  size_t len;
  check(mpconn_unpackf(mpconn_msg_value(msg), NULL, "s#", &text, &len),
        "child: unpack");
  char answer[128];
  snprintf(answer, sizeof(answer), "El hijo %d recibió: %.*s", n, (int)len,
           text);
  mpconn_msg_free(msg);
  check(mpconn_sendf(conn, "s", answer), "child: send");
  check(mpconn_close(conn), "child: close");
}

int main(void) {
  mpconn *padre[CHILDREN] = {NULL};
  pid_t pids[CHILDREN];
  for (int i = 0; i < CHILDREN; i++) {
    mpconn *hijo_conn;
    check(mpconn_pipe(&padre[i], &hijo_conn, true), "pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
      check(-errno, "fork");
    if (pid == 0) {
      /* Keep only this child's end: drop the parent's ends, including
       * those inherited from earlier iterations. */
      for (int j = 0; j <= i; j++)
        mpconn_free(padre[j]);
      hijo(hijo_conn, i + 1);
      mpconn_free(hijo_conn);
      exit(EXIT_SUCCESS);
    }
    pids[i] = pid;
    mpconn_free(hijo_conn);
  }

  /* Failures are reported once every child is reaped. */
  int rc = 0;
  for (int i = 0; rc == 0 && i < CHILDREN; i++) {
    char msg[32];
    snprintf(msg, sizeof(msg), "Hola, hijo %d", i + 1);
    rc = mpconn_sendf(padre[i], "s", msg);
  }
  for (int i = 0; rc == 0 && i < CHILDREN; i++) {
    mpconn_msg *msg;
    rc = mpconn_recv(padre[i], &msg, -1);
    if (rc < 0)
      break;
    const char *text;
    size_t len;
    rc = mpconn_unpackf(mpconn_msg_value(msg), NULL, "s#", &text, &len);
    if (rc == 0)
      printf("%.*s\n", (int)len, text);
    mpconn_msg_free(msg);
  }
  /* Freeing the ends first lets a child still waiting for a message see
   * MPCONN_EOF and exit, so waitpid() cannot hang. */
  for (int i = 0; i < CHILDREN; i++)
    mpconn_free(padre[i]);

  int failed = 0;
  for (int i = 0; i < CHILDREN; i++) {
    int status;
    if (waitpid(pids[i], &status, 0) < 0)
      check(-errno, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed++;
  }
  check(rc, "parent");
  if (failed) {
    fprintf(stderr, "%d child(ren) failed\n", failed);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
