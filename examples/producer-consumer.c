/* SPDX-License-Identifier: MIT */
/*
 * A producer process sends chat messages, a consumer process receives them
 * until the sentinel "END".  The C version of:
 *
 *     def producer(conn):
 *         msgs = ["hello", "are you there?", "hey", "LOL", "K", "THX",
 *                 "Bye!", "END"]
 *         for msg in msgs:
 *             conn.send(msg)
 *             print(f"Sent the message: {msg}")
 *         conn.close()
 *
 *     def consumer(conn):
 *         while 1:
 *             msg = conn.recv()
 *             if msg == "END":
 *                 break
 *             print(f"Received the message: {msg}")
 *
 *     consumer_conn, producer_conn = Pipe(duplex=False)
 *     p1 = Process(target=producer, args=(producer_conn,))
 *     p1.start()
 *     p1.join()
 *     p2 = Process(target=consumer, args=(consumer_conn,))
 *     p2.start()
 *     p2.join()
 *
 * Each message is one msgpack str in one frame, byte for byte what a Python
 * peer using msgpack would send.  The consumer starts only after the
 * producer has exited, so the lines cannot interleave; the eight small
 * frames wait in the pipe's buffer meanwhile.
 *
 * Prints:
 *     Sent the message: hello
 *     Sent the message: are you there?
 *     Sent the message: hey
 *     Sent the message: LOL
 *     Sent the message: K
 *     Sent the message: THX
 *     Sent the message: Bye!
 *     Sent the message: END
 *     Received the message: hello
 *     Received the message: are you there?
 *     Received the message: hey
 *     Received the message: LOL
 *     Received the message: K
 *     Received the message: THX
 *     Received the message: Bye!
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

static void producer(mpconn *conn) {
  static const char *const msgs[] = {
      "hello", "are you there?", "hey", "LOL", "K", "THX", "Bye!", "END"};
  for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
    /* "s": one str, packed from a NUL-terminated string. */
    check(mpconn_sendf(conn, "s", msgs[i]), "producer: send");
    printf("Sent the message: %s\n", msgs[i]);
  }
  check(mpconn_close(conn), "producer: close");
}

static void consumer(mpconn *conn) {
  for (;;) {
    /* One whole message, or MPCONN_EOF if the producer closed without
     * sending "END". */
    mpconn_msg *msg;
    check(mpconn_recv(conn, &msg, -1), "consumer: recv");

    /* Check that the value is a str and copy it out, NUL-terminated.  On
     * a mismatch, err says what was found where. */
    char text[64];
    mpconn_error err;
    int rc =
        mpconn_unpackf(mpconn_msg_value(msg), &err, "s", text, sizeof(text));
    /* text is a copy: the message can go now. */
    mpconn_msg_free(msg);
    if (rc < 0) {
      fprintf(stderr, "consumer: %s\n", err.text);
      exit(EXIT_FAILURE);
    }

    if (strcmp(text, "END") == 0)
      break;
    printf("Received the message: %s\n", text);
  }
}

/* Run fn(conn) in a child and wait for it; the child first frees other,
 * the end it does not use (or NULL).  Return: whether the child exited
 * with status 0. */
static bool run(void (*fn)(mpconn *), mpconn *conn, mpconn *other) {
  /* Nothing buffered in stdout may be inherited and printed twice. */
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(other);
    fn(conn);
    mpconn_free(conn);
    /* exit(), not _exit(): it flushes what the child printed. */
    exit(EXIT_SUCCESS);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
  /* Python's order: the first end only receives, the second only sends. */
  mpconn *consumer_conn, *producer_conn;
  check(mpconn_pipe(&consumer_conn, &producer_conn, false), "pipe");

  bool ok = run(producer, producer_conn, consumer_conn);
  /* The producer has exited and its frames stay readable in the pipe.  The
   * parent drops its write end too: if "END" were missing, the consumer
   * would then get MPCONN_EOF instead of waiting forever. */
  mpconn_free(producer_conn);
  if (ok)
    ok = run(consumer, consumer_conn, NULL);
  mpconn_free(consumer_conn);
  if (!ok) {
    fprintf(stderr, "a child failed\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
