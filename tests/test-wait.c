/* SPDX-License-Identifier: MIT */
/* poll() and wait() (lib/wait.c): level-triggered, aware of buffered frames. */
#include "test-util.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>

#define NCONN 3

struct pairs {
  mpconn *a[NCONN], *b[NCONN];
};

static int setup(void **state) {
  struct pairs *p = calloc(1, sizeof(*p));
  for (int i = 0; i < NCONN; i++)
    if (make_test_pair(&p->a[i], &p->b[i]) < 0)
      return -1;
  *state = p;
  return 0;
}

static int teardown(void **state) {
  struct pairs *p = *state;
  for (int i = 0; i < NCONN; i++) {
    mpconn_free(p->a[i]);
    mpconn_free(p->b[i]);
  }
  free(p);
  return 0;
}

static void test_poll_levels(void **state) {
  SOCKET_ONLY();
  struct pairs *p = *state;
  mpconn *c = p->b[0];
  assert_int_equal(mpconn_poll(c, 0), 0);
  assert_int_equal(mpconn_poll(c, 20), 0);
  /* Two frames in one write: after receiving one, the other is buffered. */
  int fd = mpconn_fileno(p->a[0]);
  raw_write(fd,
            "\x00\x00\x00\x01"
            "a"
            "\x00\x00\x00\x01"
            "b",
            10);
  assert_int_equal(mpconn_poll(c, 1000), 1);
  assert_int_equal(mpconn_poll(c, 0), 1); /* level-triggered */
  char ch;
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(c, &ch, 1, 0, &len, 0), 0);
  assert_int_equal(ch, 'a');
  assert_int_equal(mpconn_poll(c, 0), 1);
  assert_int_equal(mpconn_recv_bytes_into(c, &ch, 1, 0, &len, 0), 0);
  assert_int_equal(ch, 'b');
  assert_int_equal(mpconn_poll(c, 0), 0);
  /* Half a frame is not ready. */
  raw_write(fd,
            "\x00\x00\x00\x02"
            "x",
            5);
  assert_int_equal(mpconn_poll(c, 30), 0);
  raw_write(fd, "y", 1);
  assert_int_equal(mpconn_poll(c, 1000), 1);
  char two[2];
  assert_int_equal(mpconn_recv_bytes_into(c, two, 2, 0, &len, 0), 0);
  assert_memory_equal(two, "xy", 2);
  /* EOF is ready: a receive returns at once. */
  mpconn_close(p->a[0]);
  assert_int_equal(mpconn_poll(c, 1000), 1);
  assert_int_equal(mpconn_recv_bytes_into(c, two, 2, 0, &len, 0), MPCONN_EOF);
  assert_int_equal(mpconn_poll(c, 0), 1);
}

static void test_poll_direction(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_poll(w, 0), MPCONN_EWRITEONLY);
  mpconn *list[2] = {r, w}, *ready[2];
  assert_int_equal(mpconn_wait(list, 2, 0, ready), MPCONN_EWRITEONLY);
  list[1] = NULL;
  assert_int_equal(mpconn_wait(list, 2, 0, ready), MPCONN_EINVAL);
  mpconn_free(r);
  mpconn_free(w);
}

static void test_wait_reports_ready_subset(void **state) {
  struct pairs *p = *state;
  mpconn *ready[NCONN];
  assert_int_equal(mpconn_wait(p->b, NCONN, 0, ready), 0);
  assert_int_equal(mpconn_wait(p->b, NCONN, 30, ready), 0);
  assert_int_equal(mpconn_send_bytes(p->a[2], "2", 1), 0);
  assert_int_equal(mpconn_send_bytes(p->a[0], "0", 1), 0);
  assert_int_equal(mpconn_wait(p->b, NCONN, 1000, ready), 2);
  assert_ptr_equal(ready[0], p->b[0]);
  assert_ptr_equal(ready[1], p->b[2]);
  char ch;
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p->b[0], &ch, 1, 0, &len, 0), 0);
  assert_int_equal(mpconn_wait(p->b, NCONN, 1000, ready), 1);
  assert_ptr_equal(ready[0], p->b[2]);
}

/* A frame already in the buffer is ready although the descriptor is idle. */
static void test_wait_sees_buffered_frames(void **state) {
  SOCKET_ONLY();
  struct pairs *p = *state;
  raw_write(mpconn_fileno(p->a[1]),
            "\x00\x00\x00\x01"
            "a"
            "\x00\x00\x00\x01"
            "b",
            10);
  char ch;
  size_t len;
  assert_int_equal(mpconn_recv_bytes_into(p->b[1], &ch, 1, 0, &len, 1000), 0);
  mpconn *ready[NCONN];
  assert_int_equal(mpconn_wait(p->b, NCONN, -1, ready), 1);
  assert_ptr_equal(ready[0], p->b[1]);
}

struct later {
  mpconn *c;
  int ms;
};

static void *send_later(void *arg) {
  struct later *l = arg;
  struct timespec ts = {0, l->ms * 1000000L};
  nanosleep(&ts, NULL);
  mpconn_send_bytes(l->c, "late", 4);
  return NULL;
}

static void test_wait_forever_wakes(void **state) {
  struct pairs *p = *state;
  struct later l = {p->a[1], 50};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, send_later, &l), 0);
  mpconn *ready[NCONN];
  assert_int_equal(mpconn_wait(p->b, NCONN, -1, ready), 1);
  assert_ptr_equal(ready[0], p->b[1]);
  pthread_join(t, NULL);
  l.c = p->a[2];
  assert_int_equal(pthread_create(&t, NULL, send_later, &l), 0);
  assert_int_equal(mpconn_poll(p->b[2], -1), 1);
  pthread_join(t, NULL);
}

/* A read error met while waiting is kept for the next receive. */
static void test_read_error_kept_for_receive(void **state) {
  SOCKET_ONLY();
  (void)state;
  for (int use_wait = 0; use_wait < 2; use_wait++) {
    mpconn *a, *b;
    assert_int_equal(make_test_pair(&a, &b), 0);
    assert_int_equal(mpconn_send_bytes(a, "unread", 6), 0);
    mpconn_free(b); /* closed with unread data: the peer sees a reset */
    if (use_wait) {
      mpconn *ready[1];
      assert_int_equal(mpconn_wait(&a, 1, 1000, ready), 1);
      assert_ptr_equal(ready[0], a);
      assert_int_equal(mpconn_wait(&a, 1, 1000, ready), 1);
    } else {
      assert_int_equal(mpconn_poll(a, 1000), 1);
      assert_int_equal(mpconn_poll(a, 1000), 1);
    }
    void *d;
    size_t len;
    assert_int_equal(mpconn_recv_bytes(a, &d, &len, MPCONN_UNLIMITED, 1000),
                     MPCONN_ECONNRESET);
    assert_int_equal(mpconn_recv_bytes(a, &d, &len, MPCONN_UNLIMITED, 1000),
                     MPCONN_EOF);
    mpconn_free(a);
  }
}

/* ------------------------------------------------------------------------ */
/* mpconn_wait_any()                                                        */
/* ------------------------------------------------------------------------ */

/* Connections, a listener and a plain descriptor in one wait. */
static void test_wait_any_mixed(void **state) {
  SOCKET_ONLY();
  struct pairs *p = *state;
  int efd = eventfd(0, EFD_CLOEXEC);
  assert_true(efd >= 0);
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, "@", NULL), 0);
  mpconn_wait_item items[4] = {
      {.kind = MPCONN_WAIT_CONN, .conn = p->b[0], .events = POLLIN},
      {.kind = MPCONN_WAIT_CONN, .conn = p->b[1], .events = POLLIN},
      {.kind = MPCONN_WAIT_LISTENER, .listener = l, .events = POLLIN},
      {.kind = MPCONN_WAIT_FD, .fd = efd, .events = POLLIN},
  };
  assert_int_equal(mpconn_wait_any(items, 4, 0), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(items[i].revents, 0);

  /* The program's own descriptor. */
  uint64_t one = 1;
  assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
  assert_int_equal(mpconn_wait_any(items, 4, 5000), 1);
  assert_int_equal(items[3].revents, POLLIN);
  assert_int_equal(read(efd, &one, sizeof(one)), (ssize_t)sizeof(one));

  /* Part of a message is not a message; the rest makes it one. */
  int raw = mpconn_fileno(p->a[1]);
  assert_int_equal(write(raw,
                         "\x00\x00\x00\x03"
                         "a",
                         5),
                   5);
  assert_int_equal(mpconn_wait_any(items, 4, 50), 0);
  assert_int_equal(write(raw, "bc", 2), 2);
  assert_int_equal(mpconn_wait_any(items, 4, 5000), 1);
  assert_int_equal(items[1].revents, POLLIN);
  /* Level-triggered, and from the buffer alone now. */
  assert_int_equal(mpconn_wait_any(items, 4, 0), 1);
  assert_int_equal(items[1].revents, POLLIN);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(p->b[1], &d, &n, 16, 0), 0);
  free(d);

  /* A client at the listener. */
  char addr[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_address(l, addr, sizeof(addr)), 0);
  mpconn *client;
  assert_int_equal(mpconn_client(&client, addr, NULL), 0);
  assert_int_equal(mpconn_wait_any(items, 4, 5000), 1);
  assert_int_equal(items[2].revents, POLLIN);
  mpconn *accepted;
  assert_int_equal(mpconn_listener_accept(l, &accepted, 0), 0);
  assert_int_equal(mpconn_wait_any(items, 4, 0), 0);

  /* Writable, for a connection asked for POLLOUT. */
  mpconn_wait_item out = {
      .kind = MPCONN_WAIT_CONN, .conn = client, .events = POLLOUT};
  assert_int_equal(mpconn_wait_any(&out, 1, 5000), 1);
  assert_int_equal(out.revents, POLLOUT);

  /* Bad entries. */
  mpconn_wait_item bad = {.kind = 99};
  assert_int_equal(mpconn_wait_any(&bad, 1, 0), MPCONN_EINVAL);
  bad = (mpconn_wait_item){.kind = MPCONN_WAIT_CONN};
  assert_int_equal(mpconn_wait_any(&bad, 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_wait_any(NULL, 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_wait_any(NULL, 0, 0), 0);
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  bad =
      (mpconn_wait_item){.kind = MPCONN_WAIT_CONN, .conn = w, .events = POLLIN};
  assert_int_equal(mpconn_wait_any(&bad, 1, 0), MPCONN_EWRITEONLY);
  bad = (mpconn_wait_item){
      .kind = MPCONN_WAIT_CONN, .conn = r, .events = POLLOUT};
  assert_int_equal(mpconn_wait_any(&bad, 1, 0), MPCONN_EREADONLY);
  mpconn_listener_close(l);
  assert_int_equal(mpconn_wait_any(&items[2], 1, 0), MPCONN_ECLOSED);

  mpconn_free(r);
  mpconn_free(w);
  mpconn_free(client);
  mpconn_free(accepted);
  mpconn_listener_free(l);
  close(efd);
}

/* mpconn_wait() and mpconn_wait_any() on more connections than half the
 * process's descriptor limit: poll() refuses more entries than
 * RLIMIT_NOFILE, so only the descriptors there are may be given to it. */
#define PAIRS 20

/* In a child: PAIRS socketpairs (2 * PAIRS descriptors) under a limit
 * that leaves a few spare, then wait on all 2 * PAIRS ends.  Exit status:
 * 0 when both calls said "nothing ready", else which failed. */
static int wait_on_many(void) {
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = (rlim_t)(count_fds() + 2 * PAIRS + 8);
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 99;
  mpconn *conns[2 * PAIRS], *ready[2 * PAIRS];
  for (int i = 0; i < PAIRS; i++)
    if (mpconn_pipe(&conns[2 * i], &conns[2 * i + 1], true) < 0)
      return 98;
  int status = 0;
  if (mpconn_wait(conns, 2 * PAIRS, 0, ready) != 0)
    status |= 1;
  mpconn_wait_item items[2 * PAIRS];
  for (int i = 0; i < 2 * PAIRS; i++)
    items[i] = (mpconn_wait_item){
        .kind = MPCONN_WAIT_CONN, .conn = conns[i], .events = POLLIN};
  if (mpconn_wait_any(items, 2 * PAIRS, 0) != 0)
    status |= 2;
  for (int i = 0; i < 2 * PAIRS; i++)
    mpconn_free(conns[i]);
  return status;
}

/* Nothing is ready: both calls return 0, whatever the limit. */
static void test_wait_near_the_limit(void **state) {
  (void)state;
  SKIP_UNDER_VALGRIND();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(wait_on_many());
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0)
    fail_msg("child: exit status %d (1: mpconn_wait() failed, 2: "
             "mpconn_wait_any() failed, 3: both)",
             WEXITSTATUS(status));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_wait_any_mixed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_poll_levels, setup, teardown),
      cmocka_unit_test(test_poll_direction),
      cmocka_unit_test(test_wait_near_the_limit),
      cmocka_unit_test_setup_teardown(test_wait_reports_ready_subset, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wait_sees_buffered_frames, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wait_forever_wakes, setup, teardown),
      cmocka_unit_test(test_read_error_kept_for_receive),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
