/* SPDX-License-Identifier: MIT */
/*
 * A child fills a shared array with squares; the parent prints it after
 * waiting for the child.  The C version of:
 *
 *     from multiprocessing import Process, Array
 *
 *     def square(result):
 *         for i in range(len(result)):
 *             result[i] = i * i
 *
 *     result = Array('i', 10)
 *     p = Process(target=square, args=(result,))
 *     p.start()
 *     p.join()
 *     print(result[:])
 *
 * The array lives in memory shared with every child forked after it was
 * made: the child's writes are the parent's.  Only one process writes, and
 * the parent reads after waitpid(), so the lock is not needed here.
 *
 * Prints:
 *     [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 */
#include <errno.h>
#include <stdint.h>
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

static void square(mpconn_array *result) {
  int32_t *p = mpconn_array_data(result); /* 'i' is a C int, 32 bits */
  for (size_t i = 0; i < mpconn_array_length(result); i++)
    p[i] = (int32_t)(i * i);
}

int main(void) {
  mpconn_array *result;
  check(mpconn_array_new(&result, 'i', 10, 0), "array");

  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return EXIT_FAILURE;
  }
  if (pid == 0) {
    square(result);
    mpconn_array_free(result);
    _exit(EXIT_SUCCESS);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      perror("waitpid");
      return EXIT_FAILURE;
    }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "the child failed\n");
    return EXIT_FAILURE;
  }

  const int32_t *p = mpconn_array_data(result);
  printf("[");
  for (size_t i = 0; i < mpconn_array_length(result); i++)
    printf("%s%d", i ? ", " : "", (int)p[i]);
  printf("]\n");
  mpconn_array_free(result);
  return EXIT_SUCCESS;
}
