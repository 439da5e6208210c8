/* SPDX-License-Identifier: MIT */
/*
 * Listeners (lib/listener.c): binding every kind of address, socket file
 * safety, accepting, and the handshake as the accepting side sees it.
 * Clients run in threads; the main thread makes every assertion.
 */
#include "net-util.h"

#include <grp.h>

/* A fixture: a private directory and its "sock" path. */
struct fix {
  char dir[128];
  char path[160];
};

static int setup(void **state) {
  struct fix *f = calloc(1, sizeof(*f));
  net_tmpdir(f->dir, sizeof(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fix *f = *state;
  net_rmdir(f->dir);
  free(f);
  return 0;
}

/* Accept one client that talks (see net_client_run()) and check it. */
static void accept_and_talk(mpconn_listener *l, const char *address,
                            const mpconn_net_options *o) {
  struct net_client nc = {.address = address, .talk = true};
  if (o)
    nc.opts = *o;
  net_client_start(&nc);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  net_serve_one(c);
  net_client_join(&nc);
  assert_int_equal(nc.rc, 0);
  assert_int_equal(nc.talked, 1);
  mpconn_free(c);
}

static void test_path(void **state) {
  struct fix *f = *state;
  mpconn_listener *l;
  /* The socket file is private whatever the umask. */
  mode_t old = umask(0);
  int rc = mpconn_listener_new(&l, f->path, NULL);
  umask(old);
  assert_int_equal(rc, 0);
  struct stat st;
  assert_int_equal(lstat(f->path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);

  char buf[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)), 0);
  assert_string_equal(buf, f->path);
  assert_int_equal(mpconn_listener_address(l, buf, strlen(f->path)),
                   MPCONN_EINVAL);
  int fd = mpconn_listener_fileno(l);
  assert_true(fd >= 0);
  assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  struct net_client nc = {.address = f->path, .talk = true};
  net_client_start(&nc);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  /* Accepted connections are close-on-exec and blocking. */
  int cfd = mpconn_fileno(c);
  assert_int_equal(fcntl(cfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  assert_int_equal(fcntl(cfd, F_GETFL) & O_NONBLOCK, 0);
  pid_t pid;
  uid_t uid;
  gid_t gid;
  assert_int_equal(mpconn_peer_cred(c, &pid, &uid, &gid), 0);
  assert_int_equal(pid, getpid());
  assert_int_equal(uid, geteuid());
  assert_int_equal(gid, getegid());
  net_serve_one(c);
  net_client_join(&nc);
  assert_int_equal(nc.rc, 0);
  assert_int_equal(nc.talked, 1);
  mpconn_free(c);

  /* Closing removes the file and stops everything but free. */
  assert_int_equal(mpconn_listener_close(l), 0);
  assert_false(net_exists(f->path));
  assert_int_equal(mpconn_listener_close(l), 0);
  assert_int_equal(mpconn_listener_accept(l, &c, 0), MPCONN_ECLOSED);
  assert_null(c);
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)),
                   MPCONN_ECLOSED);
  assert_int_equal(mpconn_listener_fileno(l), MPCONN_ECLOSED);
  mpconn_listener_free(l);
  mpconn_listener_free(NULL);
  assert_int_equal(mpconn_listener_close(NULL), 0);
}

/* A socket file left by a listener that is gone is replaced. */
static void test_stale_replaced(void **state) {
  struct fix *f = *state;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  strcpy(un.sun_path, f->path);
  assert_int_equal(bind(s, (struct sockaddr *)&un, sizeof(un)), 0);
  assert_int_equal(listen(s, 1), 0);
  close(s);
  assert_true(net_exists(f->path));

  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, NULL), 0);
  accept_and_talk(l, f->path, NULL);
  mpconn_listener_free(l);
  assert_false(net_exists(f->path));
}

/* A live listener's socket is never taken over.  The probe that found it
 * alive is a client that leaves at once: with a key, accept reports it as
 * MPCONN_EAUTH and goes on. */
static void test_live_not_stolen(void **state) {
  struct fix *f = *state;
  mpconn_net_options o = {.authkey = "k", .authkey_len = 1};
  mpconn_listener *a, *b;
  assert_int_equal(mpconn_listener_new(&a, f->path, &o), 0);
  struct stat before, after;
  assert_int_equal(lstat(f->path, &before), 0);
  assert_int_equal(mpconn_listener_new(&b, f->path, &o), MPCONN_EADDRINUSE);
  assert_null(b);
  assert_int_equal(lstat(f->path, &after), 0);
  assert_int_equal(before.st_ino, after.st_ino);

  mpconn *c;
  assert_int_equal(mpconn_listener_accept(a, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  accept_and_talk(a, f->path, &o);
  mpconn_listener_free(a);
  assert_false(net_exists(f->path));
}

/* Nothing that is not a socket is removed. */
static void test_not_a_socket(void **state) {
  struct fix *f = *state;
  int fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  raw_write(fd, "data", 4);
  close(fd);
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, NULL), MPCONN_EADDRINUSE);
  struct stat st;
  assert_int_equal(lstat(f->path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_size, 4);
  unlink(f->path);

  /* Nor a symbolic link, even to a stale socket. */
  char target[192];
  snprintf(target, sizeof(target), "%s/stale", f->dir);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  strcpy(un.sun_path, target);
  assert_int_equal(bind(s, (struct sockaddr *)&un, sizeof(un)), 0);
  close(s);
  assert_int_equal(symlink(target, f->path), 0);
  assert_int_equal(mpconn_listener_new(&l, f->path, NULL), MPCONN_EADDRINUSE);
  assert_int_equal(lstat(f->path, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_true(net_exists(target));
}

/* A file that replaced the listener's is left alone on close. */
static void test_replaced_file_kept(void **state) {
  struct fix *f = *state;
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, NULL), 0);
  assert_int_equal(unlink(f->path), 0);
  int fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(mpconn_listener_close(l), 0);
  assert_true(net_exists(f->path));
  mpconn_listener_free(l);
}

/* A forked child that frees its copy leaves the file to the parent. */
static void test_fork_keeps_file(void **state) {
  struct fix *f = *state;
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, NULL), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mpconn_listener_free(l);
    _exit(0);
  }
  int status = net_reap(pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_true(net_exists(f->path));
  accept_and_talk(l, f->path, NULL);
  mpconn_listener_free(l);
  assert_false(net_exists(f->path));
}

static void test_abstract(void **state) {
  (void)state;
  char name[64], buf[MPCONN_ADDRESS_MAX];
  net_abstract(name, sizeof(name), "abstract");
  mpconn_listener *l, *other;
  assert_int_equal(mpconn_listener_new(&l, name, NULL), 0);
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)), 0);
  assert_string_equal(buf, name);
  assert_int_equal(mpconn_listener_new(&other, name, NULL), MPCONN_EADDRINUSE);
  accept_and_talk(l, name, NULL);
  mpconn_listener_free(l);

  /* "@" alone: the kernel picks a name, five hex digits. */
  assert_int_equal(mpconn_listener_new(&l, "@", NULL), 0);
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)), 0);
  assert_int_equal(strlen(buf), 6);
  assert_int_equal(buf[0], '@');
  assert_int_equal(strspn(buf + 1, "0123456789abcdef"), 5);
  accept_and_talk(l, buf, NULL);
  mpconn_listener_free(l);
}

static void test_tcp4(void **state) {
  (void)state;
  mpconn_listener *l;
  char buf[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", NULL), 0);
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)), 0);
  assert_memory_equal(buf, "127.0.0.1:", 10);
  int port = atoi(buf + 10);
  assert_true(port > 0 && port < 65536);
  accept_and_talk(l, buf, NULL);

  /* "localhost" is 127.0.0.1; TCP connections have no Unix credentials. */
  char local[64];
  snprintf(local, sizeof(local), "localhost:%d", port);
  struct net_client nc = {.address = local};
  net_client_start(&nc);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  net_client_join(&nc);
  assert_int_equal(nc.rc, 0);
  pid_t pid = 99;
  assert_int_equal(mpconn_peer_cred(c, &pid, NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(pid, 99);
  mpconn_free(c);

  /* The port is taken while the listener lives. */
  mpconn_listener *other;
  assert_int_equal(mpconn_listener_new(&other, buf, NULL), MPCONN_EADDRINUSE);
  mpconn_listener_free(l);
}

static void test_tcp6(void **state) {
  (void)state;
  mpconn_listener *l;
  int rc = mpconn_listener_new(&l, "[::1]:0", NULL);
  if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
    print_message("no IPv6 loopback here (%s)\n", mpconn_strerror(rc));
    skip();
  }
  assert_int_equal(rc, 0);
  char buf[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_address(l, buf, sizeof(buf)), 0);
  assert_memory_equal(buf, "[::1]:", 6);
  assert_true(atoi(buf + 6) > 0);
  accept_and_talk(l, buf, NULL);
  mpconn_listener_free(l);
}

static void test_accept_timeout(void **state) {
  (void)state;
  mpconn_listener *l;
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_listener_new(&l, "@", NULL), 0);
  int64_t t0 = net_now_ms();
  assert_int_equal(mpconn_listener_accept(l, &c, 0), MPCONN_ETIMEDOUT);
  assert_null(c);
  assert_int_equal(mpconn_listener_accept(l, &c, 120), MPCONN_ETIMEDOUT);
  int64_t took = net_now_ms() - t0;
  assert_true(took >= 110 && took < 5000);
  mpconn_listener_free(l);
}

static void test_handshake(void **state) {
  struct fix *f = *state;
  static const char key[] = "a shared secret\0with a NUL";
  mpconn_net_options o = {.authkey = key, .authkey_len = sizeof(key)};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, &o), 0);
  accept_and_talk(l, f->path, &o);

  /* The key is copied: the caller's buffer may go. */
  char copy[sizeof(key)];
  memcpy(copy, key, sizeof(key));
  mpconn_net_options o2 = {.authkey = copy, .authkey_len = sizeof(copy)};
  mpconn_listener *l2;
  char name[64];
  net_abstract(name, sizeof(name), "copy");
  assert_int_equal(mpconn_listener_new(&l2, name, &o2), 0);
  memset(copy, 0, sizeof(copy));
  accept_and_talk(l2, name, &o);
  mpconn_listener_free(l2);

  /* An empty key is a key; both sides must have it. */
  mpconn_net_options empty = {.authkey = "", .authkey_len = 0};
  net_abstract(name, sizeof(name), "empty");
  assert_int_equal(mpconn_listener_new(&l2, name, &empty), 0);
  accept_and_talk(l2, name, &empty);
  mpconn_listener_free(l2);
  mpconn_listener_free(l);
}

/* A wrong key: both sides refuse, and the listener keeps working. */
static void test_wrong_key(void **state) {
  struct fix *f = *state;
  mpconn_net_options good = {.authkey = "right", .authkey_len = 5};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, f->path, &good), 0);
  struct net_client nc = {.address = f->path, .talk = true};
  nc.opts.authkey = "wrong";
  nc.opts.authkey_len = 5;
  net_client_start(&nc);
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  assert_null(c);
  net_client_join(&nc);
  assert_int_equal(nc.rc, MPCONN_EAUTH);

  /* A client without a key talks at once: its message is taken as the
   * answer to the challenge, and refused; nothing is delivered. */
  struct net_client plain = {.address = f->path, .talk = true};
  net_client_start(&plain);
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  net_client_join(&plain);
  assert_int_equal(plain.rc, 0);
  assert_int_equal(plain.talked, 0);

  accept_and_talk(l, f->path, &good);
  mpconn_listener_free(l);
}

/* A raw client: connects to @address (abstract) and writes @data. */
static int raw_client(const char *address, const void *data, size_t len) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  size_t n = strlen(address) - 1;
  memcpy(un.sun_path + 1, address + 1, n);
  assert_int_equal(
      connect(s, (struct sockaddr *)&un,
              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
      0);
  if (len)
    raw_write(s, data, len);
  return s;
}

/* Clients that stay silent, or stall inside a message, hold accept for
 * the handshake timeout only; the next good client gets in. */
static void test_silent_client(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "silent");
  mpconn_net_options o = {
      .authkey = "k", .authkey_len = 1, .handshake_timeout_ms = 200};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, &o), 0);
  const char *sends[] = {"", "\0\0"};
  for (size_t i = 0; i < 2; i++) {
    int s = raw_client(name, sends[i], i ? 2 : 0);
    mpconn *c;
    int64_t t0 = net_now_ms();
    assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS),
                     MPCONN_EAUTH);
    int64_t took = net_now_ms() - t0;
    assert_true(took >= 190 && took < 5000);
    close(s);
  }
  mpconn_net_options client = {.authkey = "k", .authkey_len = 1};
  accept_and_talk(l, name, &client);
  mpconn_listener_free(l);
}

/* An answer announcing 1 MiB is refused from its header. */
static void test_oversize_answer(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "oversize");
  mpconn_net_options o = {.authkey = "k", .authkey_len = 1};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, &o), 0);
  int s = raw_client(name, "\0\x10\0\0", 4);
  mpconn *c;
  int64_t t0 = net_now_ms();
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  assert_true(net_now_ms() - t0 < 3000);
  close(s);
  mpconn_listener_free(l);
}

static void test_same_uid(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "uid");
  mpconn_net_options o = {.same_uid_only = true};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, &o), 0);
  accept_and_talk(l, name, NULL);

  if (geteuid() != 0) {
    mpconn_listener_free(l);
    print_message("not root: cannot connect as another user\n");
    skip();
  }
  /* A child that drops to another user connects and waits. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    gid_t nogroup = 65534;
    if (setgroups(1, &nogroup) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0)
      _exit(2);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(name) - 1;
    memcpy(un.sun_path + 1, name + 1, n);
    if (connect(s, (struct sockaddr *)&un,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) <
        0)
      _exit(3);
    /* The listener closes this connection: read sees end of file. */
    char b;
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (poll(&p, 1, NET_TIMEOUT_MS) != 1 || read(s, &b, 1) != 0)
      _exit(4);
    _exit(0);
  }
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  int status = net_reap(pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  mpconn_listener_free(l);
}

/* Several threads may accept on one listener at once. */
struct acceptor {
  mpconn_listener *l;
  int served;
  pthread_t thread;
};

static void *accept_two(void *arg) {
  struct acceptor *a = arg;
  for (int i = 0; i < 2; i++) {
    mpconn *c;
    if (mpconn_listener_accept(a->l, &c, NET_TIMEOUT_MS) < 0)
      return NULL;
    void *data = NULL;
    size_t len = 0;
    if (mpconn_recv_bytes(c, &data, &len, 64, NET_TIMEOUT_MS) == 0 &&
        len == 5 && memcmp(data, "hello", 5) == 0 &&
        mpconn_send_bytes(c, "welcome", 7) == 0)
      a->served++;
    free(data);
    mpconn_free(c);
  }
  return NULL;
}

static void test_threads_accept(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "threads");
  mpconn_net_options o = {.authkey = "k", .authkey_len = 1};
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, &o), 0);
  struct acceptor acc[2] = {{.l = l}, {.l = l}};
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&acc[i].thread, NULL, accept_two, &acc[i]),
                     0);
  struct net_client nc[4];
  for (int i = 0; i < 4; i++) {
    nc[i] = (struct net_client){.address = name, .opts = o, .talk = true};
    net_client_start(&nc[i]);
  }
  for (int i = 0; i < 4; i++) {
    net_client_join(&nc[i]);
    assert_int_equal(nc[i].rc, 0);
    assert_int_equal(nc[i].talked, 1);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(acc[i].thread, NULL);
  assert_int_equal(acc[0].served + acc[1].served, 4);
  mpconn_listener_free(l);
}

static void test_bad_arguments(void **state) {
  struct fix *f = *state;
  mpconn_listener *l = (mpconn_listener *)1;
  assert_int_equal(mpconn_listener_new(&l, "nowhere", NULL), MPCONN_EBADADDR);
  assert_null(l);
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:65536", NULL),
                   MPCONN_EBADADDR);
  assert_int_equal(mpconn_listener_new(&l, NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_listener_new(NULL, f->path, NULL), MPCONN_EINVAL);
  mpconn_net_options o = {.backlog = -1};
  assert_int_equal(mpconn_listener_new(&l, f->path, &o), MPCONN_EINVAL);
  o = (mpconn_net_options){.same_uid_only = true};
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", &o), MPCONN_EINVAL);
  o = (mpconn_net_options){.authkey_len = 8};
  assert_int_equal(mpconn_listener_new(&l, f->path, &o), MPCONN_EINVAL);
  assert_false(net_exists(f->path));

  char longpath[200];
  memset(longpath, 'x', sizeof(longpath));
  longpath[0] = '/';
  longpath[150] = '\0';
  assert_int_equal(mpconn_listener_new(&l, longpath, NULL), -ENAMETOOLONG);
  char nodir[192];
  snprintf(nodir, sizeof(nodir), "%s/missing/sock", f->dir);
  assert_int_equal(mpconn_listener_new(&l, nodir, NULL), -ENOENT);

  assert_int_equal(mpconn_listener_accept(NULL, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_listener_fileno(NULL), MPCONN_EINVAL);
  char buf[8];
  assert_int_equal(mpconn_listener_address(NULL, buf, sizeof(buf)),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_listener_new(&l, "@", NULL), 0);
  assert_int_equal(mpconn_listener_accept(l, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_listener_address(l, NULL, 8), MPCONN_EINVAL);
  assert_int_equal(mpconn_listener_address(l, buf, 6), MPCONN_EINVAL);
  mpconn_listener_free(l);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_path),
      T(test_stale_replaced),
      T(test_live_not_stolen),
      T(test_not_a_socket),
      T(test_replaced_file_kept),
      T(test_fork_keeps_file),
      cmocka_unit_test(test_abstract),
      cmocka_unit_test(test_tcp4),
      cmocka_unit_test(test_tcp6),
      cmocka_unit_test(test_accept_timeout),
      T(test_handshake),
      T(test_wrong_key),
      cmocka_unit_test(test_silent_client),
      cmocka_unit_test(test_oversize_answer),
      cmocka_unit_test(test_same_uid),
      cmocka_unit_test(test_threads_accept),
      T(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
