/* SPDX-License-Identifier: MIT */
/*
 * Clients (lib/client.c): connecting, refusals and timeouts, the handshake
 * against raw listeners that misbehave, and peer credentials.  mpconn
 * clients run in threads; the raw listeners and every assertion are in the
 * main thread.
 */
#include "net-util.h"

#include <grp.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SUN_OFFSET offsetof(struct sockaddr_un, sun_path)

/* A raw listening socket on abstract name @name ("@..."). */
static int raw_listen(const char *name, int backlog) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  size_t n = strlen(name) - 1;
  memcpy(un.sun_path + 1, name + 1, n);
  assert_int_equal(
      bind(s, (struct sockaddr *)&un, (socklen_t)(SUN_OFFSET + 1 + n)), 0);
  assert_int_equal(listen(s, backlog), 0);
  return s;
}

static int raw_accept(int s) {
  struct pollfd p = {.fd = s, .events = POLLIN};
  assert_int_equal(poll(&p, 1, NET_TIMEOUT_MS), 1);
  int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
  assert_true(c >= 0);
  return c;
}

static void write_frame(int fd, const void *data, size_t len) {
  uint8_t hdr[4] = {0, 0, (uint8_t)(len >> 8), (uint8_t)len};
  raw_write(fd, hdr, 4);
  raw_write(fd, data, len);
}

static void read_exact(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, NET_TIMEOUT_MS), 1);
    ssize_t n = read(fd, p, len);
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

static size_t read_frame(int fd, uint8_t *buf, size_t size) {
  uint8_t hdr[4];
  read_exact(fd, hdr, 4);
  size_t n = (size_t)hdr[2] << 8 | hdr[3];
  assert_true(hdr[0] == 0 && hdr[1] == 0 && n <= size);
  read_exact(fd, buf, n);
  return n;
}

static void test_refused(void **state) {
  (void)state;
  char dir[128], path[160];
  net_tmpdir(dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/sock", dir);
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_client(&c, path, NULL), -ENOENT);
  assert_null(c);

  /* A socket file nobody listens on any more. */
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  strcpy(un.sun_path, path);
  assert_int_equal(bind(s, (struct sockaddr *)&un, sizeof(un)), 0);
  close(s);
  assert_int_equal(mpconn_client(&c, path, NULL), MPCONN_ECONNREFUSED);
  net_rmdir(dir);

  char name[64];
  net_abstract(name, sizeof(name), "nobody");
  assert_int_equal(mpconn_client(&c, name, NULL), MPCONN_ECONNREFUSED);

  /* A TCP port that was just free. */
  mpconn_listener *l;
  char addr[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", NULL), 0);
  assert_int_equal(mpconn_listener_address(l, addr, sizeof(addr)), 0);
  mpconn_listener_free(l);
  assert_int_equal(mpconn_client(&c, addr, NULL), MPCONN_ECONNREFUSED);
}

static void test_bad_arguments(void **state) {
  (void)state;
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_client(&c, "nowhere", NULL), MPCONN_EBADADDR);
  assert_null(c);
  assert_int_equal(mpconn_client(&c, "@", NULL), MPCONN_EBADADDR);
  assert_int_equal(mpconn_client(&c, "127.0.0.1:0", NULL), MPCONN_EBADADDR);
  assert_int_equal(mpconn_client(&c, "[::1]:x", NULL), MPCONN_EBADADDR);
  assert_int_equal(mpconn_client(&c, NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_client(NULL, "@x", NULL), MPCONN_EINVAL);
  mpconn_net_options o = {.same_uid_only = true};
  assert_int_equal(mpconn_client(&c, "127.0.0.1:1", &o), MPCONN_EINVAL);
  o = (mpconn_net_options){.authkey_len = 8};
  assert_int_equal(mpconn_client(&c, "@x", &o), MPCONN_EINVAL);
}

/* A listener whose backlog is full: connecting gives up at the timeout. */
static void test_connect_timeout(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "full");
  int s = raw_listen(name, 0);
  /* Backlog 0 still queues one connection; the next one waits. */
  int first = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  size_t n = strlen(name) - 1;
  memcpy(un.sun_path + 1, name + 1, n);
  assert_int_equal(
      connect(first, (struct sockaddr *)&un, (socklen_t)(SUN_OFFSET + 1 + n)),
      0);
  mpconn_net_options o = {.handshake_timeout_ms = 150};
  mpconn *c;
  int64_t t0 = net_now_ms();
  assert_int_equal(mpconn_client(&c, name, &o), MPCONN_ETIMEDOUT);
  int64_t took = net_now_ms() - t0;
  assert_true(took >= 140 && took < 5000);

  /* Room again: it gets in. */
  close(raw_accept(s));
  struct net_client nc = {.address = name};
  net_client_start(&nc);
  close(raw_accept(s));
  net_client_join(&nc);
  assert_int_equal(nc.rc, 0);
  close(first);
  close(s);
}

/* A listener that accepts and then never speaks. */
static void test_silent_listener(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "silent");
  int s = raw_listen(name, 4);
  struct net_client nc = {.address = name};
  nc.opts = (mpconn_net_options){
      .authkey = "k", .authkey_len = 1, .handshake_timeout_ms = 150};
  int64_t t0 = net_now_ms();
  net_client_start(&nc);
  int a = raw_accept(s);
  net_client_join(&nc);
  int64_t took = net_now_ms() - t0;
  assert_int_equal(nc.rc, MPCONN_ETIMEDOUT);
  assert_true(took >= 140 && took < 5000);
  close(a);
  close(s);
}

/* A listener that closes at once, and one that says #FAILURE#. */
static void test_listener_refuses(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "refuses");
  int s = raw_listen(name, 4);
  struct net_client nc = {.address = name};
  nc.opts = (mpconn_net_options){.authkey = "k", .authkey_len = 1};
  net_client_start(&nc);
  close(raw_accept(s));
  net_client_join(&nc);
  assert_int_equal(nc.rc, MPCONN_EOF);

  net_client_start(&nc);
  int a = raw_accept(s);
  static const uint8_t legacy[] = "#CHALLENGE#01234567890123456789";
  write_frame(a, legacy, 31);
  uint8_t buf[256];
  assert_int_equal(read_frame(a, buf, sizeof(buf)), 16);
  write_frame(a, "#FAILURE#", 9);
  net_client_join(&nc);
  assert_int_equal(nc.rc, MPCONN_EAUTH);
  close(a);
  close(s);
}

/*
 * A listener that cannot prove the key: it gets the client's answer to a
 * challenge it made, says #WELCOME# whatever the answer, then answers the
 * client's challenge with a wrong MAC.  The client refuses it (#FAILURE#).
 */
static void test_impostor_refused(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "impostor");
  int s = raw_listen(name, 4);
  struct net_client nc = {.address = name, .talk = true};
  nc.opts = (mpconn_net_options){.authkey = "k", .authkey_len = 1};
  net_client_start(&nc);
  int a = raw_accept(s);
  static const uint8_t modern[] =
      "#CHALLENGE#{sha256}0123456789012345678901234567890123456789";
  write_frame(a, modern, 59);
  uint8_t buf[256];
  assert_int_equal(read_frame(a, buf, sizeof(buf)), 40);
  assert_memory_equal(buf, "{sha256}", 8);
  write_frame(a, "#WELCOME#", 9);

  /* The client's own challenge, answered with a MAC under another key. */
  size_t n = read_frame(a, buf, sizeof(buf));
  assert_int_equal(n, 59);
  assert_memory_equal(buf, "#CHALLENGE#{sha256}", 19);
  uint8_t resp[40];
  memcpy(resp, "{sha256}", 8);
  unsigned int len;
  HMAC(EVP_sha256(), "not k", 5, buf + 11, 48, resp + 8, &len);
  write_frame(a, resp, 40);
  assert_int_equal(read_frame(a, buf, sizeof(buf)), 9);
  assert_memory_equal(buf, "#FAILURE#", 9);
  net_client_join(&nc);
  assert_int_equal(nc.rc, MPCONN_EAUTH);
  assert_int_equal(nc.talked, 0);
  close(a);
  close(s);
}

/* The connection is an ordinary one: blocking, close-on-exec. */
static void test_connection_flags(void **state) {
  (void)state;
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", NULL), 0);
  char addr[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_address(l, addr, sizeof(addr)), 0);
  mpconn *c, *s;
  assert_int_equal(mpconn_client(&c, addr, NULL), 0);
  assert_int_equal(mpconn_listener_accept(l, &s, NET_TIMEOUT_MS), 0);
  int fd = mpconn_fileno(c);
  assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  assert_true(mpconn_readable(c) && mpconn_writable(c));
  net_send_str(c, "ping");
  assert_int_equal(mpconn_poll(s, NET_TIMEOUT_MS), 1);
  net_expect_str(s, "ping");
  mpconn_free(c);
  mpconn_free(s);
  mpconn_listener_free(l);
}

static void test_peer_cred(void **state) {
  (void)state;
  mpconn *a, *b;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_peer_cred(a, &pid, &uid, &gid), 0);
  assert_int_equal(pid, getpid());
  assert_int_equal(uid, geteuid());
  assert_int_equal(gid, getegid());
  assert_int_equal(mpconn_peer_cred(b, NULL, NULL, NULL), 0);
  mpconn_close(a);
  assert_int_equal(mpconn_peer_cred(a, &pid, &uid, &gid), MPCONN_ECLOSED);
  mpconn_free(a);
  mpconn_free(b);

  /* Pipes are not sockets; the write-only end is looked at too. */
  assert_int_equal(mpconn_pipe(&a, &b, false), 0);
  assert_int_equal(mpconn_peer_cred(a, &pid, &uid, &gid), -ENOTSOCK);
  assert_int_equal(mpconn_peer_cred(b, &pid, &uid, &gid), -ENOTSOCK);
  mpconn_free(a);
  mpconn_free(b);
  assert_int_equal(mpconn_peer_cred(NULL, &pid, &uid, &gid), MPCONN_EINVAL);
}

/* same_uid_only: a listener of this user is fine, another user's is not. */
static void test_same_uid(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "uid");
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, NULL), 0);
  struct net_client nc = {.address = name};
  nc.opts.same_uid_only = true;
  net_client_start(&nc);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  net_client_join(&nc);
  assert_int_equal(nc.rc, 0);
  mpconn_free(c);
  mpconn_listener_free(l);

  if (geteuid() != 0) {
    print_message("not root: cannot listen as another user\n");
    skip();
  }
  /* A child drops to another user, listens, and waits for its parent. */
  int ready[2], done[2];
  assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
  assert_int_equal(pipe2(done, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(done[1]);
    gid_t nogroup = 65534;
    if (setgroups(1, &nogroup) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
      _exit(2);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(name) - 1;
    memcpy(un.sun_path + 1, name + 1, n);
    if (bind(s, (struct sockaddr *)&un, (socklen_t)(SUN_OFFSET + 1 + n)) < 0 ||
        listen(s, 4) < 0)
      _exit(3);
    if (write(ready[1], "r", 1) != 1)
      _exit(4);
    char b;
    struct pollfd p = {.fd = done[0], .events = POLLIN};
    if (poll(&p, 1, NET_TIMEOUT_MS) != 1 || read(done[0], &b, 1) != 0)
      _exit(5);
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char b;
  struct pollfd p = {.fd = ready[0], .events = POLLIN};
  assert_int_equal(poll(&p, 1, NET_TIMEOUT_MS), 1);
  assert_int_equal(read(ready[0], &b, 1), 1);
  mpconn_net_options o = {.same_uid_only = true};
  assert_int_equal(mpconn_client(&c, name, &o), MPCONN_EAUTH);
  assert_null(c);
  /* Without the option the same listener is reached. */
  assert_int_equal(mpconn_client(&c, name, NULL), 0);
  uid_t uid;
  assert_int_equal(mpconn_peer_cred(c, NULL, &uid, NULL), 0);
  assert_int_equal(uid, 65534);
  mpconn_free(c);
  close(done[1]);
  close(ready[0]);
  int status = net_reap(pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_silent_listener),
      cmocka_unit_test(test_listener_refuses),
      cmocka_unit_test(test_impostor_refused),
      cmocka_unit_test(test_connection_flags),
      cmocka_unit_test(test_peer_cred),
      cmocka_unit_test(test_same_uid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
