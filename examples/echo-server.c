/* SPDX-License-Identifier: MIT */
/*
 * An echo server for many clients at once: a listener with an authkey, and
 * one loop that answers whichever client has a message, found with
 * mpconn_wait().
 *
 *   echo-server ADDRESS CLIENTS [AUTHKEY]
 *       Listen on ADDRESS (for example 127.0.0.1:0, /tmp/echo.sock, @echo),
 *       print "listening on BOUND-ADDRESS", send every message back to its
 *       sender, and exit once CLIENTS clients have come and gone.  A Python
 *       client: Client(address, authkey=b"AUTHKEY").send_bytes(b"hi").
 *   echo-server
 *       A demonstration: forks three clients with the right key and one
 *       with a wrong key, serves them, and reports.
 */
#include <mpconn.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct server {
  mpconn_listener *listener;
  mpconn **conns; /* the clients being served */
  size_t n, cap;
  size_t accepted, finished, refused, echoed;
};

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "echo-server: %s: %s\n", what, mpconn_strerror(rc));
    exit(1);
  }
}

static void add_client(struct server *s, mpconn *c) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->conns = realloc(s->conns, s->cap * sizeof(*s->conns));
    if (!s->conns)
      check(MPCONN_ENOMEM, "clients");
  }
  s->conns[s->n++] = c;
  s->accepted++;
}

static void drop_client(struct server *s, mpconn *c) {
  for (size_t i = 0; i < s->n; i++) {
    if (s->conns[i] == c) {
      s->conns[i] = s->conns[--s->n];
      break;
    }
  }
  mpconn_free(c);
  s->finished++;
}

/* Take one client from the listener, if its handshake succeeds. */
static void accept_client(struct server *s) {
  mpconn *c;
  int rc = mpconn_listener_accept(s->listener, &c, 0);
  if (rc == 0)
    add_client(s, c);
  else if (rc == MPCONN_EAUTH)
    s->refused++; /* that client is gone; the listener carries on */
  else if (rc == -EMFILE || rc == -ENFILE)
    /* Out of descriptors: the listener turned the waiting client away,
     * so that this loop does not spin on it.  The clients already here
     * are served as before, and new ones once descriptors are free. */
    fprintf(stderr,
            "echo-server: out of descriptors (%s): a client was turned away\n",
            mpconn_strerror(rc));
  else if (rc != MPCONN_ETIMEDOUT)
    check(rc, "accept");
}

/* Answer one message from c, or drop c when it has left. */
static void echo_one(struct server *s, mpconn *c) {
  void *data;
  size_t len;
  int rc = mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 0);
  if (rc == 0) {
    rc = mpconn_send_bytes(c, data, len);
    free(data);
    if (rc == 0) {
      s->echoed++;
      return;
    }
  }
  if (rc != MPCONN_EOF)
    fprintf(stderr, "echo-server: dropping a client: %s\n",
            mpconn_strerror(rc));
  drop_client(s, c);
}

/*
 * Serve until @clients clients have come and gone and at least @refusals
 * were refused.  mpconn_wait() with no timeout answers every client that
 * has a whole message buffered; only when none has does the loop sleep in
 * poll() on the listener and the clients' descriptors, which wake it for
 * new bytes or a new client.
 */
static void serve(struct server *s, size_t clients, size_t refusals) {
  while (s->finished < clients || s->refused < refusals) {
    if (s->n > 0) {
      mpconn **ready = malloc(s->n * sizeof(*ready));
      if (!ready)
        check(MPCONN_ENOMEM, "wait");
      int k = mpconn_wait(s->conns, s->n, 0, ready);
      check(k, "wait");
      for (int i = 0; i < k; i++)
        echo_one(s, ready[i]);
      free(ready);
      if (k > 0)
        continue;
    }
    bool more = s->accepted < clients || s->refused < refusals;
    struct pollfd *p = calloc(s->n + 1, sizeof(*p));
    if (!p)
      check(MPCONN_ENOMEM, "poll");
    for (size_t i = 0; i < s->n; i++)
      p[i] =
          (struct pollfd){.fd = mpconn_fileno(s->conns[i]), .events = POLLIN};
    p[s->n] =
        (struct pollfd){.fd = more ? mpconn_listener_fileno(s->listener) : -1,
                        .events = POLLIN};
    if (poll(p, s->n + 1, -1) > 0 && (p[s->n].revents & POLLIN))
      accept_client(s);
    free(p);
  }
}

/* A client of the demonstration: three messages, each must come back. */
static int demo_client(const char *address, const char *key, int id) {
  mpconn_net_options o = {.authkey = key, .authkey_len = strlen(key)};
  mpconn *c;
  int rc = mpconn_client(&c, address, &o);
  if (rc < 0)
    return rc == MPCONN_EAUTH ? 10 : 1;
  for (int i = 0; i < 3; i++) {
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "message %d from client %d", i, id);
    void *data;
    size_t len;
    if (mpconn_send_bytes(c, msg, (size_t)n) < 0 ||
        mpconn_recv_bytes(c, &data, &len, 64, 5000) < 0)
      return 2;
    bool same = len == (size_t)n && memcmp(data, msg, len) == 0;
    free(data);
    if (!same)
      return 3;
  }
  mpconn_free(c);
  return 0;
}

static int demo(void) {
  char dir[] = "/tmp/echo-server-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char address[64];
  snprintf(address, sizeof(address), "%s/echo.sock", dir);
  const char *key = "the demo key";
  mpconn_net_options o = {.authkey = key, .authkey_len = strlen(key)};
  struct server s = {0};
  check(mpconn_listener_new(&s.listener, address, &o), "listen");
  printf("listening on a socket file only this user can open, with a key\n");
  fflush(stdout);

  pid_t pids[4];
  for (int id = 0; id < 4; id++) {
    pids[id] = fork();
    if (pids[id] < 0) {
      perror("fork");
      return 1;
    }
    if (pids[id] == 0) {
      /* The child's copy of the listener: its file stays the parent's. */
      mpconn_listener_free(s.listener);
      _exit(demo_client(address, id < 3 ? key : "a wrong key", id));
    }
  }
  serve(&s, 3, 1);
  mpconn_listener_free(s.listener);
  free(s.conns);
  rmdir(dir);

  printf("served %zu clients, echoed %zu messages, refused %zu client\n",
         s.finished, s.echoed, s.refused);
  for (int id = 0; id < 4; id++) {
    int status;
    waitpid(pids[id], &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (id < 3)
      printf("client %d: %s\n", id,
             code == 0 ? "got all its messages back" : "FAILED");
    else
      printf("client with a wrong key: %s\n",
             code == 10 ? "refused (authentication failed)" : "FAILED");
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 1)
    return demo();
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: echo-server [ADDRESS CLIENTS [AUTHKEY]]\n");
    return 2;
  }
  mpconn_net_options o = {0};
  if (argc == 4) {
    o.authkey = argv[3];
    o.authkey_len = strlen(argv[3]);
  }
  struct server s = {0};
  check(mpconn_listener_new(&s.listener, argv[1], &o), "listen");
  char bound[MPCONN_ADDRESS_MAX];
  check(mpconn_listener_address(s.listener, bound, sizeof(bound)), "address");
  printf("listening on %s\n", bound);
  fflush(stdout);
  serve(&s, strtoul(argv[2], NULL, 10), 0);
  printf("served %zu clients, echoed %zu messages\n", s.finished, s.echoed);
  mpconn_listener_free(s.listener);
  free(s.conns);
  return 0;
}
