/* SPDX-License-Identifier: MIT */
/*
 * Two children send to their parent over one pipe.  The C version of:
 *
 *     def hijo(conn, n):
 *         conn.send(f"Hola desde el hijo {n}")
 *         conn.close()
 *
 *     r, w = Pipe(duplex=False)
 *     for n in (1, 2):
 *         p = Process(target=hijo, args=(w, n))
 *         p.start()
 *         p.join()
 *     w.close()
 *     print(r.recv())
 *     print(r.recv())
 *
 * The second child starts only after the first has exited: the messages
 * then arrive in a fixed order, and the children never send on the shared
 * end at the same time (see "Threads" in docs/guide.md).  Both messages
 * wait in the pipe until the parent reads them.  The parent reads until
 * MPCONN_EOF, which comes once every copy of the write end is closed.
 *
 * Prints:
 *     Hola desde el hijo 1
 *     Hola desde el hijo 2
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

static void hijo(mpconn *w, int n) {
  char msg[64];
  snprintf(msg, sizeof(msg), "Hola desde el hijo %d", n);
  check(mpconn_sendf(w, "s", msg), "child: send");
  check(mpconn_close(w), "child: close");
}

/* Reap a child; whether it exited with status 0. */
static bool join(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
  mpconn *r, *w;
  check(mpconn_pipe(&r, &w, false), "pipe");

  bool ok = true;
  for (int n = 1; n <= 2; n++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
      check(-errno, "fork");
    if (pid == 0) {
      mpconn_free(r);
      hijo(w, n);
      mpconn_free(w);
      exit(EXIT_SUCCESS);
    }
    ok = join(pid) && ok;
  }
  /* The parent's copy of the write end would hold off MPCONN_EOF. */
  mpconn_free(w);

  int rc;
  for (;;) {
    mpconn_msg *msg;
    rc = mpconn_recv(r, &msg, -1);
    if (rc < 0)
      break;
    const char *text;
    size_t len;
    rc = mpconn_unpackf(mpconn_msg_value(msg), NULL, "s#", &text, &len);
    if (rc == 0)
      printf("%.*s\n", (int)len, text);
    mpconn_msg_free(msg);
    if (rc < 0)
      break;
  }
  mpconn_free(r);
  if (rc != MPCONN_EOF)
    check(rc, "parent: recv");
  if (!ok) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
