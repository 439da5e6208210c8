/* SPDX-License-Identifier: MIT */
/*
 * A connection fresh from mpconn_listener_accept() can be moved to a
 * worker with mpconn_send_conn(): the pre-fork pattern the header
 * describes.  A client may send its first message right after its last
 * handshake step (Python's Client() returns after writing #WELCOME#, and
 * the caller's first send_bytes() follows at once), so that message can
 * reach the listener together with #WELCOME#.  The handshake reads each of
 * its messages exactly, as CPython's Listener does (lib/auth.c, the exact
 * mode of lib/frame.c), so the first message stays in the descriptor and
 * travels with it.  The client here writes #WELCOME# and its first message
 * with one write(), which makes the case certain.
 */
#include "test-util.h"

#include <poll.h>
#include <signal.h>
#include <sys/un.h>

#define KEY "handover key"

struct fixture {
  char dir[64];
  char path[96];
  mpconn_listener *l;
  pid_t child;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  snprintf(f->dir, sizeof(f->dir), "/tmp/mpconn-handover-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
  mpconn_net_options o = {.authkey = KEY, .authkey_len = strlen(KEY)};
  assert_int_equal(mpconn_listener_new(&f->l, f->path, &o), 0);
  f->child = -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  if (f->child > 0) {
    kill(f->child, SIGKILL);
    waitpid(f->child, NULL, 0);
  }
  mpconn_listener_free(f->l);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* A frame of @len bytes at @out: the header, then the payload. */
static size_t frame(uint8_t *out, const char *payload, size_t len) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
  memcpy(out + 4, payload, len);
  return 4 + len;
}

/*
 * The client, in the child: Python's Client() handshake (answer the
 * listener's challenge, then challenge it), except that #WELCOME# and the
 * first message go out in one write().  Then it waits for the parent to
 * close.  Exit status: 0, or the step that failed.
 */
static _Noreturn void eager_client(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    _exit(10);
  mpconn *c;
  if (mpconn_from_fds(&c, dup(fd), dup(fd)) < 0)
    _exit(11);
  if (mpconn_answer_challenge(c, KEY, strlen(KEY), 5000) < 0)
    _exit(12);
  char challenge[11 + 8 + 40] = "#CHALLENGE#{sha256}";
  memset(challenge + 19, 'n', 40);
  if (mpconn_send_bytes(c, challenge, sizeof(challenge)) < 0)
    _exit(13);
  void *answer;
  size_t len;
  if (mpconn_recv_bytes(c, &answer, &len, 256, 5000) < 0)
    _exit(14);
  free(answer);
  uint8_t out[64];
  size_t n = frame(out, "#WELCOME#", 9);
  n += frame(out + n, "hello", 5);
  if (write(fd, out, n) != (ssize_t)n)
    _exit(15);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char b[16];
  while (poll(&p, 1, 10000) == 1 && read(fd, b, sizeof(b)) > 0)
    ;
  _exit(0);
}

static void test_move_accepted(void **state) {
  struct fixture *f = *state;
  f->child = fork();
  assert_true(f->child >= 0);
  if (f->child == 0)
    eager_client(f->path);
  mpconn *client;
  assert_int_equal(mpconn_listener_accept(f->l, &client, 5000), 0);
  mpconn *to_worker, *worker;
  assert_int_equal(mpconn_pipe(&to_worker, &worker, true), 0);
  /* "hello" is still in the descriptor, not in the connection. */
  assert_int_equal(mpconn_send_conn(to_worker, client), 0);
  mpconn_free(client);
  mpconn *moved;
  assert_int_equal(mpconn_recv_conn(worker, &moved, 5000), 0);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(moved, &d, &n, 64, 5000), 0);
  assert_int_equal(n, 5);
  assert_memory_equal(d, "hello", 5);
  free(d);
  mpconn_free(moved);
  mpconn_free(to_worker);
  mpconn_free(worker);
  int status;
  assert_int_equal(waitpid(f->child, &status, 0), f->child);
  f->child = -1;
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_move_accepted, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
