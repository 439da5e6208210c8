/* SPDX-License-Identifier: MIT */
/*
 * Four processes each add 1 to a shared counter 10 000 times, holding the
 * counter's lock for each addition.  The C version of:
 *
 *     from multiprocessing import Process, Value
 *
 *     def work(counter):
 *         for _ in range(10_000):
 *             with counter.get_lock():
 *                 counter.value += 1
 *
 *     counter = Value('i', 0)
 *     procs = [Process(target=work, args=(counter,)) for _ in range(4)]
 *     for p in procs:
 *         p.start()
 *     for p in procs:
 *         p.join()
 *     print(counter.value)
 *
 * Without the lock, two processes can read the same count and both write
 * count + 1, and additions are lost.  The lock is an RLock, as Python's
 * get_lock() returns; acquiring it returns MPCONN_EOWNERDEAD, with the
 * lock held, if its previous holder died holding it.
 *
 * Prints:
 *     40000
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define NPROCS 4
#define ADDS 10000

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void work(mpconn_array *counter) {
  mpconn_rlock *lock = mpconn_array_get_lock(counter);
  int32_t *value = mpconn_array_data(counter);
  for (int i = 0; i < ADDS; i++) {
    int rc = mpconn_rlock_acquire(lock, -1);
    if (rc != MPCONN_EOWNERDEAD) /* held in that case too */
      check(rc, "acquire");
    *value += 1;
    check(mpconn_rlock_release(lock), "release");
  }
}

int main(void) {
  mpconn_array *counter;
  check(mpconn_value_new(&counter, 'i', 0), "value");

  pid_t pids[NPROCS];
  for (int i = 0; i < NPROCS; i++) {
    pids[i] = fork();
    if (pids[i] < 0) {
      perror("fork");
      return EXIT_FAILURE;
    }
    if (pids[i] == 0) {
      work(counter);
      mpconn_array_free(counter);
      _exit(EXIT_SUCCESS);
    }
  }
  int failed = 0;
  for (int i = 0; i < NPROCS; i++) {
    int status;
    while (waitpid(pids[i], &status, 0) < 0)
      if (errno != EINTR) {
        perror("waitpid");
        return EXIT_FAILURE;
      }
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  if (failed) {
    fprintf(stderr, "a worker failed\n");
    return EXIT_FAILURE;
  }

  int64_t total;
  check(mpconn_value_get_int(counter, &total), "get");
  printf("%lld\n", (long long)total);
  mpconn_array_free(counter);
  return EXIT_SUCCESS;
}
