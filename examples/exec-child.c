/* SPDX-License-Identifier: MIT */
/*
 * Handing one end of a connection to an exec'd child.
 *
 * mpconn_spawn() does it all: it makes a duplex pair, starts the program
 * with posix_spawn(), gives the child its end as descriptor 3 and names
 * it in the environment variable MPCONN_FD, closes every other descriptor
 * in the child, closes the child's end here, and hands back this process's
 * end and a handle to wait for the child with.  The exec'd child calls
 * mpconn_from_string(getenv("MPCONN_FD")).
 *
 * The program spawns itself (/proc/self/exe) with the argument --child.
 *
 * Prints:
 *     parent sends: What is 6 times 7?
 *     parent receives: exec'd child got 18 bytes: What is 6 times 7?
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* The exec'd child: answer one question on the inherited connection. */
static int run_child(void) {
  const char *spec = getenv("MPCONN_FD");
  if (!spec) {
    fprintf(stderr, "child: MPCONN_FD is not set\n");
    return EXIT_FAILURE;
  }
  mpconn *c;
  check(mpconn_from_string(&c, spec), "child: mpconn_from_string");

  void *data;
  size_t len;
  check(mpconn_recv_bytes(c, &data, &len, 4096, -1), "child: recv");
  char answer[4200];
  int n = snprintf(answer, sizeof(answer), "exec'd child got %zu bytes: %.*s",
                   len, (int)len, (const char *)data);
  free(data);
  check(mpconn_send_bytes(c, answer, (size_t)n), "child: send");
  check(mpconn_close(c), "child: close");
  mpconn_free(c);
  return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--child") == 0)
    return run_child();
  if (argc != 1) {
    fprintf(stderr, "usage: %s\n", argv[0]);
    return EXIT_FAILURE;
  }

  /* Start the child with its end of a new duplex pair; keep ours. */
  static char child_flag[] = "--child";
  char *child_argv[] = {argv[0], child_flag, NULL};
  mpconn_spawn_options opts = {.path = "/proc/self/exe"};
  mpconn_process *child;
  mpconn *mine;
  fflush(stdout); /* nothing buffered here is printed by the child too */
  check(mpconn_spawn(&child, &mine, child_argv, &opts), "spawn");

  static const char question[] = "What is 6 times 7?";
  printf("parent sends: %s\n", question);
  int rc = mpconn_send_bytes(mine, question, strlen(question));
  void *data = NULL;
  size_t len = 0;
  if (rc == 0)
    rc = mpconn_recv_bytes(mine, &data, &len, 4096, 10000);
  mpconn_free(mine);

  /* Python's join() and exitcode: 0, a status, or minus a signal. */
  int exitcode;
  check(mpconn_process_wait(child, &exitcode, 10000), "wait");
  mpconn_process_free(child);
  if (rc < 0) {
    free(data);
    check(rc, "parent: send/recv");
  }
  if (exitcode != 0) {
    fprintf(stderr, "child failed: exit code %d\n", exitcode);
    free(data);
    return EXIT_FAILURE;
  }
  printf("parent receives: %.*s\n", (int)len, (const char *)data);
  free(data);
  return EXIT_SUCCESS;
}
