/* SPDX-License-Identifier: MIT */
/*
 * The parent sends a long message to its child.  The C version of:
 *
 *     def hijo(conn):
 *         msg = conn.recv_bytes().decode()
 *         print(f"El hijo recibió {len(msg)} bytes")
 *         print("Primeras palabras:", " ".join(msg.split()[:4]))
 *
 *     r, w = Pipe(duplex=False)
 *     p = Process(target=hijo, args=(r,))
 *     p.start()
 *     w.send_bytes(("Hola desde el padre. " * 100).encode())
 *     p.join()
 *
 * The frame is a 4-byte length and 2100 bytes of text; the child gets the
 * whole message from one call, however the kernel splits the bytes.
 *
 * Prints:
 *     El hijo recibió 2100 bytes
 *     Primeras palabras: Hola desde el padre.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define PIECE "Hola desde el padre. "
#define REPEAT 100

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* Length of the first n space-separated words of s[0, len). */
static size_t words_len(const char *s, size_t len, int n) {
  size_t i = 0;
  while (i < len && n > 0) {
    while (i < len && s[i] != ' ')
      i++;
    if (--n > 0)
      while (i < len && s[i] == ' ')
        i++;
  }
  return i;
}

static void hijo(mpconn *r) {
  void *data;
  size_t len;
  check(mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, -1), "child: recv");
  const char *msg = data;
  for (size_t i = 0; i < len; i++) {
    if (msg[i] != PIECE[i % strlen(PIECE)]) {
      fprintf(stderr, "child: byte %zu differs\n", i);
      exit(EXIT_FAILURE);
    }
  }
  printf("El hijo recibió %zu bytes\n", len);
  printf("Primeras palabras: %.*s\n", (int)words_len(msg, len, 4), msg);
  free(data);
}

int main(void) {
  mpconn *r, *w;
  check(mpconn_pipe(&r, &w, false), "pipe");

  size_t piece = strlen(PIECE);
  size_t len = piece * REPEAT;
  char *msg = malloc(len);
  if (!msg)
    check(MPCONN_ENOMEM, "malloc");
  for (size_t i = 0; i < REPEAT; i++)
    memcpy(msg + i * piece, PIECE, piece);

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(w);
    hijo(r);
    mpconn_free(r);
    free(msg);
    exit(EXIT_SUCCESS);
  }

  mpconn_free(r);
  int rc = mpconn_send_bytes(w, msg, len);
  free(msg);
  mpconn_free(w);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  check(rc, "parent: send");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
