/* SPDX-License-Identifier: MIT */
/* Waiting on shared words (lib/futex.c). */
#include "test-util.h"

#include "mpconn-private.h"

#include <pthread.h>
#include <sys/mman.h>

static uint32_t *shared_word(void) {
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  assert_true(p != MAP_FAILED);
  return p;
}

/* A word that already differs returns at once: no wake-up can be lost
 * between reading it and going to sleep. */
static void test_changed_word_returns(void **state) {
  (void)state;
  uint32_t w = 7;
  assert_int_equal(mpconn__futex_wait(&w, 6, MPCONN_FOREVER), 0);
}

static void test_timeout(void **state) {
  (void)state;
  uint32_t w = 0;
  assert_int_equal(mpconn__futex_wait(&w, 0, mpconn__deadline(0)),
                   MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn__futex_wait(&w, 0, mpconn__deadline(20)),
                   MPCONN_ETIMEDOUT);
}

struct waiter {
  uint32_t *word;
  int rc;
};

static void *wait_thread(void *arg) {
  struct waiter *w = arg;
  /* Sleep until the word leaves 0; each return means "look again". */
  while (__atomic_load_n(w->word, __ATOMIC_SEQ_CST) == 0) {
    w->rc = mpconn__futex_wait(w->word, 0, mpconn__deadline(60000));
    if (w->rc < 0)
      break;
  }
  return NULL;
}

static void test_wake_thread(void **state) {
  (void)state;
  uint32_t *word = shared_word();
  struct waiter w = {.word = word};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
  __atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
  mpconn__futex_wake_all(word);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(w.rc, 0);
  munmap(word, 4096);
}

/* The word is in a MAP_SHARED mapping: a wake in the parent reaches a
 * child sleeping on its inherited copy of the mapping. */
static void test_wake_other_process(void **state) {
  (void)state;
  uint32_t *word = shared_word();
  int ready[2];
  assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    int rc = 0;
    if (write(ready[1], "r", 1) != 1)
      _exit(2);
    while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == 0) {
      rc = mpconn__futex_wait(word, 0, mpconn__deadline(60000));
      if (rc < 0)
        _exit(1);
    }
    _exit(0);
  }
  close(ready[1]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  __atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
  mpconn__futex_wake_all(word);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  munmap(word, 4096);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_changed_word_returns),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_wake_thread),
      cmocka_unit_test(test_wake_other_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
