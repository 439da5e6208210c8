/* SPDX-License-Identifier: MIT */
/*
 * A child writes into a pipe, the parent reads.  The C version of:
 *
 *     r, w = os.pipe()
 *     if os.fork() == 0:
 *         os.close(r)
 *         os.write(w, "Mi código es MX-317".encode())
 *         os.close(w)
 *         os._exit(0)
 *     os.close(w)
 *     print("El padre lee:", os.read(r, 1024).decode())
 *
 * Here the bytes travel as one frame, so the parent reads whole messages
 * until MPCONN_EOF instead of guessing a buffer size.
 *
 * Prints:
 *     El padre lee: Mi código es MX-317
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void child(mpconn *w) {
  static const char msg[] = "Mi código es MX-317";
  check(mpconn_send_bytes(w, msg, strlen(msg)), "child: send");
  check(mpconn_close(w), "child: close");
  mpconn_free(w);
}

int main(void) {
  mpconn *r, *w;
  /* Python's order: the first end only receives, the second only sends. */
  check(mpconn_pipe(&r, &w, false), "pipe");

  /* Nothing buffered in stdout may be inherited and printed twice. */
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(r);
    child(w);
    exit(EXIT_SUCCESS);
  }

  /* Without this close the parent would wait for EOF forever: its own
   * write end would keep the pipe open. */
  mpconn_free(w);

  int rc;
  for (;;) {
    void *data;
    size_t len;
    rc = mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, -1);
    if (rc < 0)
      break;
    printf("El padre lee: %.*s\n", (int)len, (const char *)data);
    free(data);
  }
  mpconn_free(r);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  if (rc != MPCONN_EOF)
    check(rc, "parent: recv");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
