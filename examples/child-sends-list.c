/* SPDX-License-Identifier: MIT */
/*
 * A child sends a list to its parent.  The C version of:
 *
 *     def f(conn):
 *         conn.send(['hello world'])
 *         conn.close()
 *
 *     parent_conn, child_conn = Pipe()
 *     p = Process(target=f, args=(child_conn,))
 *     p.start()
 *     print(parent_conn.recv())
 *     p.join()
 *
 * The list travels as a msgpack array holding one str; the parent prints
 * what it received the way Python's print() would.
 *
 * Prints:
 *     ['hello world']
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"
#include "print-value.h"

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void f(mpconn *conn) {
  check(mpconn_sendf(conn, "[s]", "hello world"), "child: send");
  check(mpconn_close(conn), "child: close");
}

int main(void) {
  mpconn *parent_conn, *child_conn;
  check(mpconn_pipe(&parent_conn, &child_conn, true), "pipe");

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(parent_conn);
    f(child_conn);
    mpconn_free(child_conn);
    exit(EXIT_SUCCESS);
  }

  mpconn_free(child_conn);
  /* Any failure is reported after the child is reaped. */
  mpconn_msg *msg;
  int rc = mpconn_recv(parent_conn, &msg, -1);
  int print_rc = 0;
  if (rc == 0) {
    print_rc = print_value(stdout, mpconn_msg_value(msg));
    mpconn_msg_free(msg);
  }
  mpconn_free(parent_conn);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  check(rc, "parent: recv");
  check(print_rc, "parent: print");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
