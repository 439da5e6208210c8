/* SPDX-License-Identifier: MIT */
/*
 * Peers that misbehave at the worst moment: killed (SIGKILL) inside a
 * frame, gone while this side is blocked in a large send, trickling a frame
 * one byte at a time; and a thousand connections opened and closed, which
 * must leave no descriptor and no memory behind.
 *
 * Children only write raw bytes, or run the one call under test and report
 * its result through a pipe; the parent makes every assertion and reaps
 * every child.  Waits are bounded (NET_TIMEOUT_MS); nothing asserts on time.
 */
#include "net-util.h"

#include <dirent.h>
#include <malloc.h>
#include <sys/ioctl.h>

/* The writing descriptor of a pair's second end. */
static int wfd_of(mpconn *c) { return mpconn_fileno(c); }

/* A pair; a receives and b sends.  Room for 256 KiB in flight. */
static void make_pair(bool duplex, mpconn **a, mpconn **b) {
  assert_int_equal(mpconn_pipe(a, b, duplex), 0);
  if (!duplex)
    assert_true(fcntl(wfd_of(*b), F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024);
}

static void read_exact(int fd, void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t k = read(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    assert_true(k > 0);
    p += k;
    n -= (size_t)k;
  }
}

/* ------------------------------------------------------------------------ */
/* Killed inside a frame                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A child writes @n bytes of a stream, says so, and waits to be killed.
 * The parent kills it (SIGKILL), reaps it, and receives: @want, every time.
 */
static void killed_after(bool duplex, const uint8_t *bytes, size_t n,
                         size_t whole_frames, int want) {
  mpconn *a, *b;
  make_pair(duplex, &a, &b);
  int sync[2];
  assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(NET_TIMEOUT_MS / 1000 * 3); /* never outlive a failed parent */
    int fd = wfd_of(b);
    for (size_t done = 0; done < n;) {
      ssize_t k = write(fd, bytes + done, n - done);
      if (k <= 0)
        _exit(1);
      done += (size_t)k;
    }
    if (write(sync[1], "w", 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  close(sync[1]);
  mpconn_free(b); /* the child holds the only writer now */
  char ch;
  read_exact(sync[0], &ch, 1);
  close(sync[0]);
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status = net_reap(pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  for (size_t i = 0; i < whole_frames; i++) {
    void *data;
    size_t len;
    assert_int_equal(
        mpconn_recv_bytes(a, &data, &len, MPCONN_UNLIMITED, NET_TIMEOUT_MS), 0);
    free(data);
  }
  assert_int_equal(mpconn_poll(a, NET_TIMEOUT_MS), 1);
  mpconn_msg *m = NULL;
  assert_int_equal(mpconn_recv(a, &m, NET_TIMEOUT_MS), want);
  assert_null(m);
  void *data;
  size_t len;
  /* Sticky: the same code from every kind of receive. */
  assert_int_equal(
      mpconn_recv_bytes(a, &data, &len, MPCONN_UNLIMITED, NET_TIMEOUT_MS),
      want);
  uint8_t buf[8];
  assert_int_equal(mpconn_recv_bytes_into(a, buf, sizeof(buf), 0, &len, 0),
                   want);
  mpconn_free(a);
}

static void test_killed_mid_header(void **state) {
  (void)state;
  static const uint8_t hdr[] = {0x00, 0x00};
  static const uint8_t hdr64[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
  static const uint8_t one_then_hdr[] = {0, 0, 0, 1, 'x', 0};
  for (int duplex = 0; duplex <= 1; duplex++) {
    killed_after(duplex, hdr, sizeof(hdr), 0, MPCONN_ETRUNCATED);
    killed_after(duplex, hdr64, sizeof(hdr64), 0, MPCONN_ETRUNCATED);
    killed_after(duplex, one_then_hdr, sizeof(one_then_hdr), 1,
                 MPCONN_ETRUNCATED);
  }
}

static void test_killed_mid_payload(void **state) {
  (void)state;
  static const uint8_t small[] = {0, 0, 0, 10, 0x93, 0x01};
  static uint8_t big[4 + 70000];
  /* Announces 100000 bytes: received into a buffer of its own. */
  memcpy(big, "\x00\x01\x86\xa0", 4);
  memset(big + 4, 0xc0, sizeof(big) - 4);
  for (int duplex = 0; duplex <= 1; duplex++) {
    killed_after(duplex, small, sizeof(small), 0, MPCONN_ETRUNCATED);
    killed_after(duplex, big, sizeof(big), 0, MPCONN_ETRUNCATED);
  }
}

/* Killed between frames: every frame arrives, then end of file. */
static void test_killed_between_frames(void **state) {
  (void)state;
  static const uint8_t two[] = {0, 0, 0, 1, 0xc0, 0, 0, 0, 1, 0xc3};
  for (int duplex = 0; duplex <= 1; duplex++) {
    killed_after(duplex, two, 0, 0, MPCONN_EOF);
    killed_after(duplex, two, sizeof(two), 2, MPCONN_EOF);
  }
}

/* ------------------------------------------------------------------------ */
/* Gone during a large send                                                 */
/* ------------------------------------------------------------------------ */

#define LARGE_SEND ((size_t)16 * 1024 * 1024)

/* Whether process @pid is asleep (blocked in a system call). */
static bool asleep(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')');
  return paren && paren[1] == ' ' && paren[2] == 'S';
}

/*
 * A child with SIGPIPE's default disposition sends 16 MiB, which blocks
 * once the pipe or socket is full; then the parent, the only reader,
 * closes its end.  The child must see @want and live to report it.
 */
enum transport { PIPE, SOCKETPAIR, TCP };

/* A connected pair over @t: a receives, b sends. */
static void connect_pair(enum transport t, mpconn **a, mpconn **b) {
  if (t != TCP) {
    assert_int_equal(mpconn_pipe(a, b, t == SOCKETPAIR), 0);
    return;
  }
  mpconn_listener *l;
  char addr[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", NULL), 0);
  assert_int_equal(mpconn_listener_address(l, addr, sizeof(addr)), 0);
  assert_int_equal(mpconn_client(b, addr, NULL), 0);
  assert_int_equal(mpconn_listener_accept(l, a, NET_TIMEOUT_MS), 0);
  mpconn_listener_free(l);
}

static void reader_leaves(enum transport t, bool read_some, int want,
                          int or_want) {
  mpconn *a, *b;
  connect_pair(t, &a, &b);
  int res[2];
  assert_int_equal(pipe2(res, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(NET_TIMEOUT_MS / 1000 * 3);
    signal(SIGPIPE, SIG_DFL);
    mpconn_free(a);
    uint8_t *big = calloc(1, LARGE_SEND);
    int rc = big ? mpconn_send_bytes(b, big, LARGE_SEND) : MPCONN_ENOMEM;
    _exit(write(res[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 1);
  }
  close(res[1]);
  mpconn_free(b);
  int fd = mpconn_fileno(a);
  /* Wait until the child is blocked in its send: data is queued and the
   * child sleeps.  Bounded by NET_TIMEOUT_MS. */
  int64_t end = net_now_ms() + NET_TIMEOUT_MS;
  for (;;) {
    int queued = 0;
    assert_int_equal(ioctl(fd, FIONREAD, &queued), 0);
    if (queued >= 32 * 1024 && asleep(pid))
      break;
    assert_true(net_now_ms() < end);
    poll(NULL, 0, 5);
  }
  if (read_some) {
    /* Take the header and part of the payload: mid-frame. */
    uint8_t buf[4096];
    read_exact(fd, buf, sizeof(buf));
  }
  mpconn_free(a);
  int rc = 0;
  read_exact(res[0], &rc, sizeof(rc));
  close(res[0]);
  int status = net_reap(pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  if (want != or_want)
    print_message("the send returned %s\n", mpconn_err_name(rc));
  if (rc != or_want)
    assert_int_equal(rc, want);
}

static void test_reader_leaves_pipe(void **state) {
  (void)state;
  reader_leaves(PIPE, false, MPCONN_EPIPE, MPCONN_EPIPE);
  reader_leaves(PIPE, true, MPCONN_EPIPE, MPCONN_EPIPE);
}

/* A Unix socket's sender sees EPIPE too, with or without unread data left
 * in the closed end (no reset, unlike TCP). */
static void test_reader_leaves_socket(void **state) {
  (void)state;
  reader_leaves(SOCKETPAIR, false, MPCONN_EPIPE, MPCONN_EPIPE);
  reader_leaves(SOCKETPAIR, true, MPCONN_EPIPE, MPCONN_EPIPE);
}

/* TCP: closing with unread data sends a reset, which the blocked sender
 * sees as ECONNRESET, or as EPIPE if it reaches the send after the
 * reset was taken. */
static void test_reader_leaves_tcp(void **state) {
  (void)state;
  reader_leaves(TCP, false, MPCONN_ECONNRESET, MPCONN_EPIPE);
  reader_leaves(TCP, true, MPCONN_ECONNRESET, MPCONN_EPIPE);
}

/* ------------------------------------------------------------------------ */
/* Trickle                                                                  */
/* ------------------------------------------------------------------------ */

/* Sleep 50 to 100 ms, varying with @i. */
static void trickle_pause(size_t i) {
  struct timespec ts = {0, (long)(50 + (i * 37) % 51) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/*
 * A child writes @n bytes one at a time, each 50-100 ms after the parent
 * asks for it (a token byte), so until the last byte is asked for the frame
 * cannot be complete: every receive must time out, whatever the machine's
 * speed.
 */
static pid_t lockstep_child(mpconn *b, const uint8_t *bytes, size_t n,
                            int tokens[2]) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(NET_TIMEOUT_MS / 1000 * 6);
    close(tokens[1]);
    int fd = wfd_of(b);
    for (size_t i = 0; i < n; i++) {
      char t;
      if (read(tokens[0], &t, 1) != 1)
        _exit(1);
      trickle_pause(i);
      if (write(fd, bytes + i, 1) != 1)
        _exit(1);
    }
    _exit(0);
  }
  close(tokens[0]);
  return pid;
}

enum recv_kind { BYTES, INTO, VALUE, POLL };

/* One receive of @kind with a short timeout: 0 with the frame checked,
 * or the code. */
static int recv_once(mpconn *a, enum recv_kind kind, const uint8_t *payload,
                     size_t len) {
  void *data = NULL;
  size_t got = 0;
  int rc;
  uint8_t buf[64];
  mpconn_msg *m = NULL;
  switch (kind) {
  case BYTES:
    rc = mpconn_recv_bytes(a, &data, &got, MPCONN_UNLIMITED, 20);
    break;
  case INTO:
    rc = mpconn_recv_bytes_into(a, buf, sizeof(buf), 0, &got, 20);
    data = buf;
    break;
  case VALUE:
    rc = mpconn_recv(a, &m, 20);
    if (rc == 0)
      data = (void *)mpconn_msg_data(m, &got);
    break;
  default:
    rc = mpconn_poll(a, 20);
    if (rc == 0)
      return MPCONN_ETIMEDOUT;
    assert_int_equal(rc, 1);
    return recv_once(a, BYTES, payload, len);
  }
  if (rc == 0) {
    assert_int_equal(got, len);
    assert_memory_equal(data, payload, len);
  }
  if (kind == BYTES && rc == 0)
    free(data);
  mpconn_msg_free(m);
  return rc;
}

static void lockstep(bool duplex, enum recv_kind kind) {
  /* A 64-bit header, so that the header itself arrives in pieces. */
  static const uint8_t payload[] = {0x92, 0xa2, 'h', 'i', 0x2a};
  uint8_t stream[12 + sizeof(payload)];
  memcpy(stream, "\xff\xff\xff\xff\0\0\0\0\0\0\0", 11);
  stream[11] = sizeof(payload);
  memcpy(stream + 12, payload, sizeof(payload));

  mpconn *a, *b;
  make_pair(duplex, &a, &b);
  int tokens[2];
  assert_int_equal(pipe2(tokens, O_CLOEXEC), 0);
  pid_t pid = lockstep_child(b, stream, sizeof(stream), tokens);
  mpconn_free(b);
  size_t timeouts = 0;
  for (size_t i = 0; i < sizeof(stream); i++) {
    assert_int_equal(write(tokens[1], "t", 1), 1);
    if (i + 1 < sizeof(stream)) {
      /* At most i + 1 bytes are out: the frame cannot be complete. */
      assert_int_equal(recv_once(a, kind, payload, sizeof(payload)),
                       MPCONN_ETIMEDOUT);
      timeouts++;
    }
  }
  /* The last byte is on its way: the message completes, nothing lost. */
  int64_t end = net_now_ms() + NET_TIMEOUT_MS;
  int rc;
  while ((rc = recv_once(a, kind, payload, sizeof(payload))) ==
         MPCONN_ETIMEDOUT)
    assert_true(net_now_ms() < end);
  assert_int_equal(rc, 0);
  assert_int_equal(timeouts, sizeof(stream) - 1);
  close(tokens[1]);
  int status = net_reap(pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(a, &data, &len, 16, NET_TIMEOUT_MS),
                   MPCONN_EOF);
  mpconn_free(a);
}

static void test_trickle_lockstep(void **state) {
  (void)state;
  lockstep(false, BYTES);
  lockstep(true, INTO);
  lockstep(false, VALUE);
  lockstep(true, POLL);
}

/*
 * The same without lockstep: a child trickles two frames at 50-100 ms a
 * byte while the parent receives with a 30 ms timeout.  Timeouts come and
 * go; both messages arrive whole and in order.
 */
static void test_trickle_free_running(void **state) {
  (void)state;
  static const uint8_t stream[] = {0, 0, 0, 3, 'o', 'n', 'e',
                                   0, 0, 0, 3, 't', 'w', 'o'};
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpconn *a, *b;
    make_pair(duplex, &a, &b);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      alarm(NET_TIMEOUT_MS / 1000 * 3);
      for (size_t i = 0; i < sizeof(stream); i++) {
        trickle_pause(i);
        if (write(wfd_of(b), stream + i, 1) != 1)
          _exit(1);
      }
      _exit(0);
    }
    mpconn_free(b);
    const char *want[] = {"one", "two"};
    size_t timeouts = 0;
    int64_t end = net_now_ms() + 2 * NET_TIMEOUT_MS;
    for (int i = 0; i < 2; i++) {
      void *data;
      size_t len;
      int rc;
      while ((rc = mpconn_recv_bytes(a, &data, &len, 16, 30)) ==
             MPCONN_ETIMEDOUT) {
        timeouts++;
        assert_true(net_now_ms() < end);
      }
      assert_int_equal(rc, 0);
      assert_int_equal(len, 3);
      assert_memory_equal(data, want[i], 3);
      free(data);
    }
    print_message("%zu receives timed out meanwhile\n", timeouts);
    int status = net_reap(pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    mpconn_free(a);
  }
}

/* ------------------------------------------------------------------------ */
/* A thousand connections                                                   */
/* ------------------------------------------------------------------------ */

#define ROUNDS 1000
#define WARM 20

/* Heap in use, as glibc counts it (0 under allocators that replace it). */
static size_t heap_in_use(void) {
  malloc_trim(0);
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks;
}

/*
 * Run @round ROUNDS times; after the first WARM rounds (which may fill
 * per-thread caches), neither descriptors nor heap may grow.
 */
static void no_growth(void (*round)(int i)) {
  for (int i = 0; i < WARM; i++)
    round(i);
  int fds = count_fds();
  size_t heap = heap_in_use();
  for (int i = 0; i < ROUNDS; i++)
    round(i);
  assert_int_equal(count_fds(), fds);
  size_t after = heap_in_use();
  /* A few bytes of slack for the allocator's own bookkeeping; one leaked
   * connection per round would be over 100 KiB. */
  assert_true(after <= heap + 4096);
}

static void exchange(mpconn *x, mpconn *y, int i) {
  assert_int_equal(mpconn_sendf(x, "[i, s]", i, "round"), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(y, &m, NET_TIMEOUT_MS), 0);
  int got;
  char s[8];
  assert_int_equal(
      mpconn_unpackf(mpconn_msg_value(m), NULL, "[i, s]", &got, s, sizeof(s)),
      0);
  assert_int_equal(got, i);
  mpconn_msg_free(m);
}

static void round_pipe(int i) {
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, false), 0);
  exchange(b, a, i);
  mpconn_free(a);
  mpconn_free(b);
}

static void round_socketpair(int i) {
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  exchange(a, b, i);
  exchange(b, a, i);
  /* One side closes early: the other sees EOF, and is freed later. */
  assert_int_equal(mpconn_close(a), 0);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(b, &data, &len, 16, NET_TIMEOUT_MS),
                   MPCONN_EOF);
  mpconn_free(a);
  mpconn_free(b);
}

static mpconn_listener *listener;
static char where[MPCONN_ADDRESS_MAX];

static void round_client(int i) {
  mpconn *c, *s;
  assert_int_equal(mpconn_client(&c, where, NULL), 0);
  assert_int_equal(mpconn_listener_accept(listener, &s, NET_TIMEOUT_MS), 0);
  exchange(c, s, i);
  exchange(s, c, i);
  mpconn_free(c);
  mpconn_free(s);
}

static void listen_at(const char *address, const mpconn_net_options *o) {
  assert_int_equal(mpconn_listener_new(&listener, address, o), 0);
  assert_int_equal(mpconn_listener_address(listener, where, sizeof(where)), 0);
}

static void test_thousand_pipes(void **state) {
  (void)state;
  no_growth(round_pipe);
  no_growth(round_socketpair);
}

static void test_thousand_clients(void **state) {
  (void)state;
  char dir[64], path[80];
  net_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/sock", dir);
  const char *addresses[] = {"@", path, "127.0.0.1:0"};
  for (size_t k = 0; k < sizeof(addresses) / sizeof(addresses[0]); k++) {
    listen_at(addresses[k], NULL);
    no_growth(round_client);
    mpconn_listener_free(listener);
  }
  assert_false(net_exists(path));
  net_rmdir(dir);
}

/* With a key: the handshake runs, the client in a thread. */
static void *keyed_client(void *arg) {
  static const mpconn_net_options o = {.authkey = "k", .authkey_len = 1};
  mpconn **c = arg;
  if (mpconn_client(c, where, &o) < 0)
    *c = NULL;
  return NULL;
}

static void round_keyed(int i) {
  mpconn *c = NULL, *s;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, keyed_client, &c), 0);
  assert_int_equal(mpconn_listener_accept(listener, &s, NET_TIMEOUT_MS), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_non_null(c);
  exchange(c, s, i);
  mpconn_free(c);
  mpconn_free(s);
}

static void test_thousand_keyed_clients(void **state) {
  (void)state;
  static const mpconn_net_options o = {.authkey = "k", .authkey_len = 1};
  listen_at("@", &o);
  no_growth(round_keyed);
  mpconn_listener_free(listener);
}

/* Listeners themselves, with their socket files. */
static char listener_dir[64];

static void round_listener(int i) {
  (void)i;
  char path[80];
  snprintf(path, sizeof(path), "%s/sock", listener_dir);
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, path, NULL), 0);
  mpconn_listener_free(l);
  assert_false(net_exists(path));
}

static void test_thousand_listeners(void **state) {
  (void)state;
  net_tmpdir(listener_dir, sizeof(listener_dir));
  no_growth(round_listener);
  net_rmdir(listener_dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_killed_mid_header),
      cmocka_unit_test(test_killed_mid_payload),
      cmocka_unit_test(test_killed_between_frames),
      cmocka_unit_test(test_reader_leaves_pipe),
      cmocka_unit_test(test_reader_leaves_socket),
      cmocka_unit_test(test_reader_leaves_tcp),
      cmocka_unit_test(test_trickle_lockstep),
      cmocka_unit_test(test_trickle_free_running),
      cmocka_unit_test(test_thousand_pipes),
      cmocka_unit_test(test_thousand_clients),
      cmocka_unit_test(test_thousand_keyed_clients),
      cmocka_unit_test(test_thousand_listeners),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
