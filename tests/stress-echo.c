/* SPDX-License-Identifier: MIT */
/*
 * Many clients at once against examples/echo-server.c.
 *
 *   stress-echo ECHO-SERVER unix|tcp|abstract
 *
 * Starts the server for CLIENTS clients with an authkey, then runs CLIENTS
 * client threads.  They all connect and authenticate first, then each
 * sends MESSAGES messages of varied sizes, one at a time, and checks that
 * every answer is its own message back, byte for byte.  Threads only
 * record what happened; the main thread makes every assertion.  Every wait
 * has a deadline, and the server is reaped (killed if it outlives its
 * deadline) whatever happens.
 */
#include "net-util.h"

#define CLIENTS 50
#define MESSAGES 1000
#define KEY "stress key"
/* Generous: this also runs under valgrind on two cores. */
#define STEP_TIMEOUT_MS 120000

static const char *server_exe, *transport;

struct client {
  int id;
  const char *address;
  pthread_barrier_t *start;
  int connect_rc;
  int failed_at; /* the message that went wrong, or -1 */
  int rc;        /* the code that went wrong there, or 0 for wrong bytes */
  pthread_t thread;
};

/* Message i of client id: its size and its bytes. */
static size_t msg_size(int id, int i) {
  if (i % 250 == 7)
    return 70000 + (size_t)id; /* larger than one receive buffer */
  return (size_t)((i * 37 + id * 11) % 600);
}

static void msg_fill(uint8_t *p, size_t n, int id, int i) {
  for (size_t j = 0; j < n; j++)
    p[j] = (uint8_t)(j * 7 + (size_t)id * 31 + (size_t)i * 13);
}

static void *client_run(void *arg) {
  struct client *cl = arg;
  mpconn_net_options o = {.authkey = KEY,
                          .authkey_len = strlen(KEY),
                          .handshake_timeout_ms = STEP_TIMEOUT_MS};
  mpconn *c = NULL;
  cl->connect_rc = mpconn_client(&c, cl->address, &o);
  /* Everyone is connected (or has failed) before the first message. */
  pthread_barrier_wait(cl->start);
  cl->failed_at = -1;
  if (cl->connect_rc < 0)
    return NULL;
  uint8_t *want = malloc(70000 + CLIENTS);
  for (int i = 0; i < MESSAGES && want; i++) {
    size_t n = msg_size(cl->id, i);
    msg_fill(want, n, cl->id, i);
    void *got = NULL;
    size_t len = 0;
    int rc = mpconn_send_bytes(c, want, n);
    if (rc == 0)
      rc = mpconn_recv_bytes(c, &got, &len, MPCONN_UNLIMITED, STEP_TIMEOUT_MS);
    bool same = rc == 0 && len == n && (n == 0 || memcmp(got, want, n) == 0);
    free(got);
    if (!same) {
      cl->failed_at = i;
      cl->rc = rc;
      break;
    }
  }
  if (!want) {
    cl->failed_at = 0;
    cl->rc = MPCONN_ENOMEM;
  }
  free(want);
  mpconn_free(c);
  return NULL;
}

/* The server's first line, "listening on ADDRESS", read with a deadline. */
static void read_address(int fd, char *address, size_t size) {
  char line[256];
  size_t have = 0;
  int64_t end = net_now_ms() + STEP_TIMEOUT_MS;
  while (!memchr(line, '\n', have)) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = (int)(end - net_now_ms());
    assert_true(left > 0);
    assert_int_equal(poll(&p, 1, left), 1);
    ssize_t n = read(fd, line + have, sizeof(line) - 1 - have);
    assert_true(n > 0);
    have += (size_t)n;
  }
  line[have] = '\0';
  *strchr(line, '\n') = '\0';
  const char *prefix = "listening on ";
  assert_memory_equal(line, prefix, strlen(prefix));
  size_t n = strlen(line + strlen(prefix));
  assert_true(n < size);
  memcpy(address, line + strlen(prefix), n + 1);
}

static pid_t start_server(const char *listen_on, int *out) {
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  char clients[16];
  snprintf(clients, sizeof(clients), "%d", CLIENTS);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execl(server_exe, server_exe, listen_on, clients, KEY, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  *out = fds[0];
  return pid;
}

/* Wait for the server to exit, killing it at the deadline. */
static int reap_server(pid_t pid) {
  int64_t end = net_now_ms() + STEP_TIMEOUT_MS;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0 || net_now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    poll(NULL, 0, 20);
  }
}

static void test_many_clients(void **state) {
  (void)state;
  char dir[128], listen_on[192];
  net_tmpdir(dir, sizeof(dir));
  if (strcmp(transport, "unix") == 0)
    snprintf(listen_on, sizeof(listen_on), "%s/sock", dir);
  else if (strcmp(transport, "tcp") == 0)
    snprintf(listen_on, sizeof(listen_on), "127.0.0.1:0");
  else
    snprintf(listen_on, sizeof(listen_on), "@");

  int out;
  pid_t server = start_server(listen_on, &out);
  char address[MPCONN_ADDRESS_MAX];
  read_address(out, address, sizeof(address));

  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, CLIENTS);
  struct client *cl = calloc(CLIENTS, sizeof(*cl));
  int started = 0;
  for (int i = 0; i < CLIENTS; i++) {
    cl[i] = (struct client){.id = i, .address = address, .start = &start};
    if (pthread_create(&cl[i].thread, NULL, client_run, &cl[i]) != 0)
      break;
    started++;
  }
  /* Threads that did start cannot pass the barrier without the rest. */
  if (started < CLIENTS) {
    kill(server, SIGKILL);
    fail_msg("could only start %d threads", started);
  }
  for (int i = 0; i < CLIENTS; i++)
    pthread_join(cl[i].thread, NULL);
  pthread_barrier_destroy(&start);

  int status = reap_server(server);
  char tail[256] = "";
  ssize_t n = read(out, tail, sizeof(tail) - 1);
  if (n > 0)
    tail[n] = '\0';
  close(out);
  net_rmdir(dir);

  for (int i = 0; i < CLIENTS; i++) {
    if (cl[i].connect_rc != 0)
      fail_msg("client %d: connect: %s", i, mpconn_strerror(cl[i].connect_rc));
    if (cl[i].failed_at >= 0)
      fail_msg("client %d: message %d: %s", i, cl[i].failed_at,
               cl[i].rc ? mpconn_strerror(cl[i].rc) : "wrong answer");
  }
  free(cl);
  assert_true(status >= 0 && WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  char want[128];
  snprintf(want, sizeof(want), "served %d clients, echoed %d messages\n",
           CLIENTS, CLIENTS * MESSAGES);
  assert_string_equal(tail, want);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: stress-echo ECHO-SERVER unix|tcp|abstract\n");
    return 2;
  }
  server_exe = argv[1];
  transport = argv[2];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_clients),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
