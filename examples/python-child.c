/* SPDX-License-Identifier: MIT */
/*
 * A C parent and a Python child exchanging values.
 *
 *   python-child [PYTHON [SCRIPT]]
 *
 * mpconn_spawn() starts PYTHON (default "python3", looked up in PATH)
 * running SCRIPT (default: python_child.py next to this file's source),
 * with one end of a duplex connection.  The child takes it with
 * mpconn.inherited_connection() and answers each list of words with how
 * many there are and the set of them.  A Python set arrives in hash order,
 * which changes from run to run; "<s# ...>" takes its members one at a
 * time, and the parent sorts them.
 *
 * Prints:
 *     parent sends: spam eggs spam ham
 *     child counts 4 words, 3 different: eggs ham spam
 *     parent sends: to be or not to be
 *     child counts 6 words, 4 different: be not or to
 *     child exit code: 0
 *
 * Exit status 77 (skipped) when PYTHON is not installed or has no msgpack
 * module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpconn.h"

#ifndef PYTHON_CHILD_SCRIPT
#define PYTHON_CHILD_SCRIPT "python_child.py"
#endif
#define SKIP 77

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* Send {"words": [...]}: a list of any length, packed straight into the
 * connection's send buffer. */
static int send_words(mpconn *c, const char *const *words, size_t n) {
  msgpack_packer *pk;
  int rc = mpconn_pack_begin(c, &pk);
  if (rc < 0)
    return rc;
  msgpack_pack_map(pk, 1);
  msgpack_pack_str_with_body(pk, "words", 5);
  msgpack_pack_array(pk, n);
  printf("parent sends:");
  for (size_t i = 0; i < n; i++) {
    msgpack_pack_str_with_body(pk, words[i], strlen(words[i]));
    printf(" %s", words[i]);
  }
  printf("\n");
  return mpconn_pack_end(c);
}

struct word {
  const char *p;
  size_t len;
};

static int by_text(const void *a, const void *b) {
  const struct word *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->p, y->p, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Receive {"count": N, "unique": {...}} and print it. */
static int print_answer(mpconn *c) {
  mpconn_msg *m;
  int rc = mpconn_recv(c, &m, 10000);
  if (rc < 0)
    return rc;
  int count = 0;
  mpconn_iter unique;
  mpconn_error err;
  rc = mpconn_unpackf(mpconn_msg_value(m), &err, "{s:i, s:<s# ...>}", "count",
                      &count, "unique", &unique);
  struct word words[16];
  size_t n = 0;
  while (rc == 0 && n < 16 &&
         (rc = mpconn_iter_next(&unique, &err, &words[n].p, &words[n].len)) ==
             1) {
    n++;
    rc = 0;
  }
  if (rc < 0) {
    fprintf(stderr, "answer: %s\n", err.text);
    mpconn_msg_free(m);
    return rc;
  }
  qsort(words, n, sizeof(words[0]), by_text);
  printf("child counts %d words, %zu different:", count, n);
  for (size_t i = 0; i < n; i++)
    printf(" %.*s", (int)words[i].len, words[i].p);
  printf("\n");
  mpconn_msg_free(m); /* the words pointed into it */
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 3) {
    fprintf(stderr, "usage: %s [PYTHON [SCRIPT]]\n", argv[0]);
    return EXIT_FAILURE;
  }
  char *child_argv[] = {argc > 1 ? argv[1] : "python3",
                        argc > 2 ? argv[2] : PYTHON_CHILD_SCRIPT, NULL};
  mpconn_process *child;
  mpconn *conn;
  fflush(stdout);
  int rc = mpconn_spawn(&child, &conn, child_argv, NULL);
  if (rc == -ENOENT) {
    fprintf(stderr, "skipped: %s is not installed\n", child_argv[0]);
    return SKIP;
  }
  check(rc, "spawn");

  static const char *const first[] = {"spam", "eggs", "spam", "ham"};
  static const char *const second[] = {"to", "be", "or", "not", "to", "be"};
  rc = send_words(conn, first, 4);
  if (rc == 0)
    rc = print_answer(conn);
  if (rc == 0)
    rc = send_words(conn, second, 6);
  if (rc == 0)
    rc = print_answer(conn);
  /* Closing is the child's signal to stop. */
  mpconn_free(conn);

  int exitcode;
  check(mpconn_process_wait(child, &exitcode, 10000), "wait");
  mpconn_process_free(child);
  if (exitcode == SKIP) {
    fprintf(stderr, "skipped: %s has no msgpack module\n", child_argv[0]);
    return SKIP;
  }
  check(rc, "exchange");
  printf("child exit code: %d\n", exitcode);
  return exitcode == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
