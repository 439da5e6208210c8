/* SPDX-License-Identifier: MIT */
/*
 * Three worker processes each compute a power and put the result on one
 * queue; the parent collects the results.  The C version of:
 *
 *     def worker(q, job, base, exp):
 *         q.put((job, base ** exp))
 *
 *     jobs = [(5, 2), (3, 2), (7, 3)]
 *     q = Queue()
 *     procs = [Process(target=worker, args=(q, i, b, e))
 *              for i, (b, e) in enumerate(jobs)]
 *     for p in procs:
 *         p.start()
 *     for p in procs:
 *         p.join()
 *     results = dict(q.get() for _ in jobs)
 *     for i, (b, e) in enumerate(jobs):
 *         print(f"worker {i + 1}: {b} ** {e} = {results[i]}")
 *
 * The workers finish in any order, so each result carries its job number
 * and the parent prints them in job order.  The parent waits for every
 * worker before it gets anything: a put is complete when it returns, with
 * the item in the queue's shared memory, so a worker exits at once.  (In
 * CPython a process that has put a large item may not exit until the item
 * is consumed, and the same join-then-get order can deadlock there.)
 *
 * Prints:
 *     worker 1: 5 ** 2 = 25
 *     worker 2: 3 ** 2 = 9
 *     worker 3: 7 ** 3 = 343
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define NJOBS 3

static const struct { int base, exp; } jobs[NJOBS] = {{5, 2}, {3, 2}, {7, 3}};

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void worker(mpconn_queue *q, int job) {
  int64_t result = 1;
  for (int i = 0; i < jobs[job].exp; i++)
    result *= jobs[job].base;
  /* "[i, I]": the job number (int) and the result (int64_t). */
  check(mpconn_queue_putf(q, -1, "[i, I]", job, result), "worker: put");
}

int main(void) {
  /* Before fork(): every child inherits the queue. */
  mpconn_queue *q;
  check(mpconn_queue_new(&q, 0), "queue");

  pid_t pids[NJOBS];
  fflush(stdout);
  for (int i = 0; i < NJOBS; i++) {
    pids[i] = fork();
    if (pids[i] < 0)
      check(-errno, "fork");
    if (pids[i] == 0) {
      worker(q, i);
      /* Each process frees its own handle; the others keep the queue. */
      mpconn_queue_free(q);
      exit(EXIT_SUCCESS);
    }
  }

  bool ok = true;
  for (int i = 0; i < NJOBS; i++) {
    int status;
    if (waitpid(pids[i], &status, 0) < 0)
      check(-errno, "waitpid");
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  if (!ok) {
    fprintf(stderr, "a worker failed\n");
    return EXIT_FAILURE;
  }

  int64_t results[NJOBS];
  bool have[NJOBS] = {false};
  for (int n = 0; n < NJOBS; n++) {
    /* Every worker has exited, so every result is already queued: a get
     * that would wait means one is missing. */
    mpconn_msg *m;
    check(mpconn_queue_get(q, &m, 0), "get");
    int job;
    int64_t result;
    int rc = mpconn_unpackf(mpconn_msg_value(m), NULL, "[i, I]", &job, &result);
    mpconn_msg_free(m);
    check(rc, "unpack");
    if (job < 0 || job >= NJOBS || have[job]) {
      fprintf(stderr, "unexpected job number %d\n", job);
      return EXIT_FAILURE;
    }
    results[job] = result;
    have[job] = true;
  }
  mpconn_queue_free(q);

  for (int i = 0; i < NJOBS; i++)
    printf("worker %d: %d ** %d = %lld\n", i + 1, jobs[i].base, jobs[i].exp,
           (long long)results[i]);
  return EXIT_SUCCESS;
}
