/* SPDX-License-Identifier: MIT */
/*
 * Accepting (lib/accept.c): every pending handshake in progress at once,
 * the cap on them, their deadlines, the listener's descriptor for event
 * loops, running out of descriptors, and the peer's address.
 */
#include "net-util.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/time.h>

#define KEY "accept key"
#define KEYLEN 10

/* A listener on a free TCP port with @o; its address in @addr. */
static mpconn_listener *listen_tcp(const mpconn_net_options *o, char *addr) {
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, "127.0.0.1:0", o), 0);
  assert_int_equal(mpconn_listener_address(l, addr, MPCONN_ADDRESS_MAX), 0);
  return l;
}

/* A raw TCP connection to @addr ("127.0.0.1:PORT") that says nothing. */
static int silent_client(const char *addr) {
  const char *colon = strrchr(addr, ':');
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  return fd;
}

/* Make room for @n more descriptors, or skip saying why. */
static void need_fds(int n) {
  struct rlimit rl;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rlim_t want = (rlim_t)(count_fds() + n + 64);
  if (rl.rlim_cur < want) {
    if (rl.rlim_max < want) {
      printf("skipped: RLIMIT_NOFILE allows %lu descriptors, %lu needed\n",
             (unsigned long)rl.rlim_max, (unsigned long)want);
      skip();
    }
    rl.rlim_cur = want;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
}

/*
 * A thousand clients connect and stay silent, then a good one comes: it
 * is accepted at once, from one thread, while the silent ones are still
 * in their handshake (their deadline is a minute away).  At most
 * max_pending of them are kept; the oldest went.
 */
static void test_silent_clients_cost_a_slot(void **state) {
  (void)state;
  need_fds(2200);
  mpconn_net_options o = {.authkey = KEY,
                          .authkey_len = KEYLEN,
                          .handshake_timeout_ms = 60000,
                          .max_pending = 100};
  char addr[MPCONN_ADDRESS_MAX];
  mpconn_listener *l = listen_tcp(&o, addr);
  int silent[1000];
  for (int i = 0; i < 1000; i++)
    silent[i] = silent_client(addr);
  struct net_client nc = {.address = addr,
                          .talk = true,
                          .opts = {.authkey = KEY, .authkey_len = KEYLEN}};
  int64_t began = net_now_ms();
  net_client_start(&nc);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  net_serve_one(c);
  net_client_join(&nc);
  /* Reported, not asserted: machines here are shared. */
  printf("good client accepted and answered in %lld ms after 1000 silent "
         "ones\n",
         (long long)(net_now_ms() - began));
  assert_int_equal(nc.rc, 0);
  assert_int_equal(nc.talked, 1);
  mpconn_free(c);
  /* The table never held more than its cap. */
  assert_true(mpconn_listener_pending(l) <= 100);
  assert_true(mpconn_listener_pending(l) > 0);
  for (int i = 0; i < 1000; i++)
    close(silent[i]);
  mpconn_listener_free(l);
}

/* A client past its deadline is refused with MPCONN_EAUTH, and the
 * listener carries on; one that connects and leaves too. */
static void test_deadline_refuses(void **state) {
  (void)state;
  mpconn_net_options o = {
      .authkey = KEY, .authkey_len = KEYLEN, .handshake_timeout_ms = 100};
  char addr[MPCONN_ADDRESS_MAX];
  mpconn_listener *l = listen_tcp(&o, addr);
  int fd = silent_client(addr);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  assert_null(c);
  assert_int_equal(mpconn_listener_pending(l), 0);
  close(fd);
  fd = silent_client(addr);
  assert_int_equal(mpconn_listener_accept(l, &c, 20), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_listener_pending(l), 1);
  close(fd);
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), MPCONN_EAUTH);
  mpconn_listener_free(l);
}

/*
 * For an event loop: the listener's descriptor is readable when a client
 * arrives or a pending one sends, and accept with timeout 0 returns at
 * once whatever the pending clients do.
 */
static void test_event_loop_contract(void **state) {
  (void)state;
  mpconn_net_options o = {
      .authkey = KEY, .authkey_len = KEYLEN, .handshake_timeout_ms = 60000};
  char addr[MPCONN_ADDRESS_MAX];
  mpconn_listener *l = listen_tcp(&o, addr);
  struct pollfd p = {.fd = mpconn_listener_fileno(l), .events = POLLIN};
  assert_int_equal(poll(&p, 1, 0), 0);
  int fd = silent_client(addr);
  assert_int_equal(poll(&p, 1, NET_TIMEOUT_MS), 1);
  mpconn *c;
  /* Takes the client in and sends its challenge; nothing more to do. */
  assert_int_equal(mpconn_listener_accept(l, &c, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_listener_pending(l), 1);
  assert_int_equal(poll(&p, 1, 0), 0);
  /* The silent client is readable (its challenge came); it answers
   * nothing but closes: the listener's descriptor says so. */
  close(fd);
  assert_int_equal(poll(&p, 1, NET_TIMEOUT_MS), 1);
  assert_int_equal(mpconn_listener_accept(l, &c, 0), MPCONN_EAUTH);
  assert_int_equal(poll(&p, 1, 0), 0);
  /* No key: a client is ready as soon as it connects. */
  mpconn_listener *open;
  assert_int_equal(mpconn_listener_new(&open, "127.0.0.1:0", NULL), 0);
  assert_int_equal(mpconn_listener_address(open, addr, sizeof(addr)), 0);
  fd = silent_client(addr);
  assert_int_equal(mpconn_listener_accept(open, &c, NET_TIMEOUT_MS), 0);
  assert_int_equal(fcntl(mpconn_fileno(c), F_GETFL) & O_NONBLOCK, 0);
  /* Its peer's address: the client's end. */
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  char want[64], got[MPCONN_ADDRESS_MAX];
  snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
  assert_int_equal(mpconn_peer_address(c, got, sizeof(got)), 0);
  assert_string_equal(got, want);
  assert_int_equal(mpconn_peer_address(c, got, 4), MPCONN_EINVAL);
  mpconn_free(c);
  close(fd);
  mpconn_listener_free(open);
  mpconn_listener_free(l);
}

/* A Unix client has no name: "", as Python's last_accepted. */
static void test_peer_address_unix(void **state) {
  (void)state;
  char name[64];
  net_abstract(name, sizeof(name), "peer");
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, name, NULL), 0);
  mpconn *client, *c;
  assert_int_equal(mpconn_client(&client, name, NULL), 0);
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  char got[MPCONN_ADDRESS_MAX] = "x";
  assert_int_equal(mpconn_peer_address(c, got, sizeof(got)), 0);
  assert_string_equal(got, "");
  /* The client's peer is the listener. */
  assert_int_equal(mpconn_peer_address(client, got, sizeof(got)), 0);
  assert_string_equal(got, name);
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, false), 0);
  assert_int_equal(mpconn_peer_address(a, got, sizeof(got)), MPCONN_EINVAL);
  mpconn_free(a);
  mpconn_free(b);
  mpconn_free(c);
  mpconn_free(client);
  mpconn_listener_free(l);
}

/* CPU time this process has used, in milliseconds. */
static long cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

/* Exit statuses of the child of test_out_of_descriptors(). */
enum { FD_OK, FD_NO_CLIENT, FD_CLIENT, FD_AGAIN, FD_SPUN, FD_AFTER };

static int out_of_descriptors(void) {
  mpconn_listener *l;
  char addr[MPCONN_ADDRESS_MAX];
  if (mpconn_listener_new(&l, "127.0.0.1:0", NULL) < 0 ||
      mpconn_listener_address(l, addr, sizeof(addr)) < 0)
    return 99;
  /* The client's socket first, then use up every descriptor. */
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct rlimit rl = {.rlim_cur = (rlim_t)count_fds() + 8,
                      .rlim_max = (rlim_t)count_fds() + 8};
  if (client < 0 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 99;
  while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0)
    ;
  mpconn *c;
  /* Nobody waiting: the call waits for its timeout, without spinning. */
  long before = cpu_ms();
  if (mpconn_listener_accept(l, &c, 500) != MPCONN_ETIMEDOUT)
    return FD_NO_CLIENT;
  if (cpu_ms() - before > 100)
    return FD_SPUN;
  /* A client waiting: it is dropped, and the code says why. */
  const char *colon = strrchr(addr, ':');
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(client, (struct sockaddr *)&sin, sizeof(sin)) < 0)
    return 98;
  if (mpconn_listener_accept(l, &c, 5000) != -EMFILE)
    return FD_CLIENT;
  /* Dropped: it sees its connection end. */
  char byte;
  if (read(client, &byte, 1) > 0)
    return FD_AFTER;
  /* Calling again does not spin on the same client. */
  before = cpu_ms();
  if (mpconn_listener_accept(l, &c, 500) != MPCONN_ETIMEDOUT)
    return FD_AGAIN;
  if (cpu_ms() - before > 100)
    return FD_SPUN;
  return FD_OK;
}

/*
 * Out of descriptors, in a child: with no client waiting, accept waits for
 * its timeout instead of failing at once; with one waiting, it drops that
 * client (by way of its spare descriptor) and returns -EMFILE, and the
 * next call waits again.  CPU time stays small (getrusage): no spinning.
 */
static void test_out_of_descriptors(void **state) {
  (void)state;
  SKIP_UNDER_VALGRIND();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(out_of_descriptors());
  int status = net_reap(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != FD_OK)
    fail_msg("child: %s %d (1 no client, 2 a client waiting, 3 again, "
             "4 spun, 5 the dropped client read something)",
             WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* A child forked from a process with pending clients accepts on its own:
 * its first accept starts afresh. */
static void test_fork_accepts_afresh(void **state) {
  (void)state;
  mpconn_net_options o = {
      .authkey = KEY, .authkey_len = KEYLEN, .handshake_timeout_ms = 60000};
  char addr[MPCONN_ADDRESS_MAX];
  mpconn_listener *l = listen_tcp(&o, addr);
  int fd = silent_client(addr);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_listener_pending(l), 1);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mpconn *n;
    int rc = mpconn_listener_accept(l, &n, NET_TIMEOUT_MS);
    if (rc == 0) {
      net_serve_one(n);
      mpconn_free(n);
    }
    _exit(rc == 0 && mpconn_listener_pending(l) == 0 ? 0 : 1);
  }
  struct net_client nc = {.address = addr,
                          .talk = true,
                          .opts = {.authkey = KEY, .authkey_len = KEYLEN}};
  net_client_start(&nc);
  net_client_join(&nc);
  int status = net_reap(pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(nc.rc, 0);
  assert_int_equal(nc.talked, 1);
  /* The parent's pending client is still the parent's. */
  assert_int_equal(mpconn_listener_pending(l), 1);
  close(fd);
  mpconn_listener_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_silent_clients_cost_a_slot),
      cmocka_unit_test(test_deadline_refuses),
      cmocka_unit_test(test_event_loop_contract),
      cmocka_unit_test(test_peer_address_unix),
      cmocka_unit_test(test_out_of_descriptors),
      cmocka_unit_test(test_fork_accepts_afresh),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
