/* SPDX-License-Identifier: MIT */
/*
 * A child sends names until the sentinel "END"; the parent prints them.
 * The C version of:
 *
 *     def sender(conn, names):
 *         for name in names:
 *             conn.send(name)
 *         conn.send("END")
 *         conn.close()
 *
 *     def receiver(conn):
 *         while True:
 *             name = conn.recv()
 *             if name == "END":
 *                 break
 *             print(name)
 *
 *     r, w = Pipe(duplex=False)
 *     p = Process(target=sender,
 *                 args=(w, ["Carlos", "Renata", "Rebeca", "Sandra"]))
 *     p.start()
 *     receiver(r)
 *     p.join()
 *
 * The receiver reads each str in place ("s#": a pointer into the message
 * and a length) instead of copying it out.
 *
 * Prints:
 *     Carlos
 *     Renata
 *     Rebeca
 *     Sandra
 */
#include <errno.h>
#include <stdbool.h>
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

static void sender(mpconn *conn, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    check(mpconn_sendf(conn, "s", names[i]), "sender: send");
  check(mpconn_sendf(conn, "s", "END"), "sender: send");
  check(mpconn_close(conn), "sender: close");
}

/* Print names until "END"; 0 or a negative code. */
static int receiver(mpconn *conn) {
  for (;;) {
    mpconn_msg *msg;
    int rc = mpconn_recv(conn, &msg, -1);
    if (rc < 0)
      return rc;
    const char *name;
    size_t len;
    rc = mpconn_unpackf(mpconn_msg_value(msg), NULL, "s#", &name, &len);
    bool end = rc == 0 && len == 3 && memcmp(name, "END", 3) == 0;
    if (rc == 0 && !end)
      printf("%.*s\n", (int)len, name);
    /* name points into msg, so it is printed before msg is freed. */
    mpconn_msg_free(msg);
    if (rc < 0 || end)
      return rc;
  }
}

int main(void) {
  static const char *const names[] = {"Carlos", "Renata", "Rebeca", "Sandra"};
  mpconn *r, *w;
  check(mpconn_pipe(&r, &w, false), "pipe");

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(r);
    sender(w, names, sizeof(names) / sizeof(names[0]));
    mpconn_free(w);
    exit(EXIT_SUCCESS);
  }

  /* Without this, a sender that died before "END" would leave the
   * receiver waiting instead of getting MPCONN_EOF. */
  mpconn_free(w);
  int rc = receiver(r);
  mpconn_free(r);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  check(rc, "receiver");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
