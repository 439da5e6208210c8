/* SPDX-License-Identifier: MIT */
/*
 * Both ends of a duplex pipe send and receive.  The C version of:
 *
 *     def hijo(conn):
 *         conn.send_bytes(b"Hola, soy el hijo")
 *         print("El hijo recibe:", conn.recv_bytes().decode())
 *
 *     padre, hijo_conn = Pipe()          # duplex=True
 *     p = Process(target=hijo, args=(hijo_conn,))
 *     p.start()
 *     padre.send_bytes(b"Hola, soy el padre")
 *     msg = padre.recv_bytes().decode()
 *     p.join()
 *     print("El padre recibe:", msg)
 *
 * Both sides send before they receive; that cannot deadlock, because a
 * small message fits in the socket's buffer.  The parent prints only after
 * the child has exited, so the lines always come in this order.
 *
 * Prints:
 *     El hijo recibe: Hola, soy el padre
 *     El padre recibe: Hola, soy el hijo
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

/* Send msg, then receive the other side's message (new; free() it). */
static char *exchange(mpconn *c, const char *msg, size_t *len) {
  void *data;
  check(mpconn_send_bytes(c, msg, strlen(msg)), "send");
  check(mpconn_recv_bytes(c, &data, len, MPCONN_UNLIMITED, -1), "recv");
  return data;
}

int main(void) {
  mpconn *padre, *hijo;
  check(mpconn_pipe(&padre, &hijo, true), "pipe");

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(padre);
    size_t len;
    char *msg = exchange(hijo, "Hola, soy el hijo", &len);
    printf("El hijo recibe: %.*s\n", (int)len, msg);
    free(msg);
    mpconn_free(hijo);
    exit(EXIT_SUCCESS);
  }

  mpconn_free(hijo);
  size_t len;
  char *msg = exchange(padre, "Hola, soy el padre", &len);
  mpconn_free(padre);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    free(msg);
    return EXIT_FAILURE;
  }
  printf("El padre recibe: %.*s\n", (int)len, msg);
  free(msg);
  return EXIT_SUCCESS;
}
