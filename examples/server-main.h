/* SPDX-License-Identifier: MIT */
/*
 * What epoll-server.c and uv-server.c share, so that each of them is its
 * event loop and little else: the command line, the counts a server keeps
 * and reports, and the demonstration's clients.
 *
 *   PROGRAM [-t MS] [-p N] ADDRESS CLIENTS [AUTHKEY]
 *       Listen on ADDRESS (127.0.0.1:0, /tmp/echo.sock, @echo, ...), print
 *       "listening on BOUND-ADDRESS", send every message back to its
 *       sender, and exit once CLIENTS clients have come and gone and no
 *       client is left in its handshake; then it prints what it did.
 *       Once CLIENTS are served it says so, with the refusals so far and
 *       the clients still in their handshake.  -t sets the handshake
 *       timeout (default 5000 ms), -p how many clients may be in their
 *       handshake at once (default 256).
 *   PROGRAM
 *       A demonstration: forks clients with the right key, one with a
 *       wrong key, one that connects and says nothing, and one that reads
 *       nothing for a while, serves them all, and reports.
 *
 * A program includes this file, defines the loop,
 *   static int serve(mpconn_listener *l, const struct server_goal *goal,
 *                    struct server_stats *st);
 * and calls server_main() from main().
 */
#ifndef SERVER_MAIN_H
#define SERVER_MAIN_H

#include <mpconn.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* When serve() returns: see server_done(). */
struct server_goal {
  size_t clients; /* clients that must have come and gone */
  size_t gone;    /* clients that must have come and gone or been refused */
  bool progress;  /* print a line once the clients are served */
};

/* What a server counts. */
struct server_stats {
  size_t served;      /* clients that came and went */
  size_t echoed;      /* messages sent back */
  size_t refused;     /* clients whose handshake failed (MPCONN_EAUTH) */
  size_t turned_away; /* clients dropped for want of descriptors */
  size_t paused;      /* replies that had to wait for their reader */
  bool said_served;   /* the progress line was printed */
};

/* Each client's replies may wait in its connection's send buffer up to
 * this many bytes (plus the one reply a send always takes into an empty
 * buffer): what a client that stops reading can make the server hold. */
#define SERVER_SEND_BUFFER ((size_t)256 * 1024)

static const char *server_prog = "server";

/* Whether serve() is done: @goal's clients served (or refused), and no
 * client left in its handshake (so each is seen to its end).  Prints the
 * progress line once, when asked to. */
static bool server_done(mpconn_listener *l, const struct server_goal *goal,
                        struct server_stats *st) {
  if (st->served < goal->clients || st->served + st->refused < goal->gone)
    return false;
  size_t pending = mpconn_listener_pending(l);
  if (goal->progress && !st->said_served) {
    printf("%zu clients served; refused %zu so far, %zu in their handshake\n",
           st->served, st->refused, pending);
    fflush(stdout);
    st->said_served = true;
  }
  return pending == 0;
}

/* Accept returned -EMFILE or -ENFILE: the process is out of descriptors,
 * and the listener has turned one waiting client away to say so.  Nothing
 * else is wrong: say it and carry on. */
static void server_turned_away(struct server_stats *st, int rc) {
  st->turned_away++;
  fprintf(stderr, "%s: out of descriptors (%s): a client was turned away\n",
          server_prog, mpconn_strerror(rc));
}

/* An error the server cannot go on after. */
static _Noreturn void server_die(const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s\n", server_prog, what, mpconn_strerror(rc));
  exit(1);
}

/* The loop: each program defines it. */
static int serve(mpconn_listener *l, const struct server_goal *goal,
                 struct server_stats *st);

/* ------------------------------------------------------------------------ */
/* The demonstration                                                        */
/* ------------------------------------------------------------------------ */

#define DEMO_KEY "the demo key"
/* The slow reader's messages: enough to fill every buffer on the way. */
#define DEMO_SLOW_MESSAGES 100
#define DEMO_SLOW_SIZE ((size_t)32 * 1024)

static void demo_sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int demo_connect(mpconn **c, const char *address, const char *key) {
  mpconn_net_options o = {.authkey = key, .authkey_len = strlen(key)};
  return mpconn_client(c, address, &o);
}

/* Three messages, each of which must come back. */
static int demo_echo_client(const char *address, const char *key, int id) {
  mpconn *c;
  int rc = demo_connect(&c, address, key);
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

/* Connects and says nothing: the server's challenge comes, then, once the
 * handshake time is up, the end of the connection. */
static int demo_silent_client(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
    return 1;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    ;
  close(fd);
  return n == 0 ? 0 : 2;
}

static void demo_slow_fill(uint8_t *p, int i) {
  for (size_t j = 0; j < DEMO_SLOW_SIZE; j++)
    p[j] = (uint8_t)(j * 7 + (size_t)i * 13);
}

/* The slow reader's sending thread: a connection may have one sending and
 * one receiving thread. */
static void *demo_slow_send(void *arg) {
  mpconn *c = arg;
  uint8_t *msg = malloc(DEMO_SLOW_SIZE);
  intptr_t rc = msg ? 0 : MPCONN_ENOMEM;
  for (int i = 0; i < DEMO_SLOW_MESSAGES && rc == 0; i++) {
    demo_slow_fill(msg, i);
    rc = mpconn_send_bytes(c, msg, DEMO_SLOW_SIZE);
  }
  free(msg);
  return (void *)rc;
}

/* Sends its messages from a thread and reads nothing for a while: the
 * server's replies fill every buffer on the way back, its sends return
 * MPCONN_EAGAIN, and it stops reading this client (and only this one)
 * until it catches up.  Then every reply comes, in order. */
static int demo_slow_reader(const char *address, const char *key) {
  mpconn *c;
  if (demo_connect(&c, address, key) < 0)
    return 1;
  pthread_t t;
  if (pthread_create(&t, NULL, demo_slow_send, c) != 0)
    return 1;
  demo_sleep_ms(300);
  uint8_t *want = malloc(DEMO_SLOW_SIZE);
  int status = want ? 0 : 1;
  for (int i = 0; i < DEMO_SLOW_MESSAGES && status == 0; i++) {
    void *data;
    size_t len;
    if (mpconn_recv_bytes(c, &data, &len, DEMO_SLOW_SIZE, 10000) < 0) {
      status = 2;
      break;
    }
    demo_slow_fill(want, i);
    if (len != DEMO_SLOW_SIZE || memcmp(data, want, len) != 0)
      status = 3;
    free(data);
  }
  void *sent;
  pthread_join(t, &sent);
  free(want);
  mpconn_free(c);
  return status == 0 && sent != NULL ? 4 : status;
}

static int demo(void) {
  char dir[64];
  snprintf(dir, sizeof(dir), "/tmp/%s-XXXXXX", server_prog);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char address[96];
  snprintf(address, sizeof(address), "%s/echo.sock", dir);
  /* A short handshake timeout, so that the silent client goes soon. */
  mpconn_net_options o = {.authkey = DEMO_KEY,
                          .authkey_len = strlen(DEMO_KEY),
                          .handshake_timeout_ms = 2000};
  mpconn_listener *l;
  int rc = mpconn_listener_new(&l, address, &o);
  if (rc < 0)
    server_die("listen", rc);
  printf("listening on a socket file only this user can open, with a key\n");
  fflush(stdout);

  enum { GOOD = 3, WRONG = GOOD, SILENT, SLOW, NCLIENTS };
  pid_t pids[NCLIENTS];
  for (int id = 0; id < NCLIENTS; id++) {
    pids[id] = fork();
    if (pids[id] < 0) {
      perror("fork");
      return 1;
    }
    if (pids[id] == 0) {
      /* The child's copy of the listener: its file stays the parent's. */
      mpconn_listener_free(l);
      alarm(20); /* a demonstration that goes wrong still ends */
      if (id < GOOD)
        _exit(demo_echo_client(address, DEMO_KEY, id));
      if (id == WRONG)
        _exit(demo_echo_client(address, "a wrong key", id));
      if (id == SILENT)
        _exit(demo_silent_client(address));
      _exit(demo_slow_reader(address, DEMO_KEY));
    }
  }
  /* Until each client is served or refused, whichever it is. */
  struct server_goal goal = {.gone = NCLIENTS};
  struct server_stats st = {0};
  rc = serve(l, &goal, &st);
  if (rc < 0)
    server_die("serve", rc);
  mpconn_listener_free(l);
  rmdir(dir);

  printf("served %zu clients, echoed %zu messages, refused %zu clients\n",
         st.served, st.echoed, st.refused);
  for (int id = 0; id < NCLIENTS; id++) {
    int status;
    waitpid(pids[id], &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (id < GOOD)
      printf("client %d: %s\n", id,
             code == 0 ? "got all its messages back" : "FAILED");
    else if (id == WRONG)
      printf("client with a wrong key: %s\n",
             code == 10 ? "refused (authentication failed)" : "FAILED");
    else if (id == SILENT)
      printf("silent client: %s\n",
             code == 0 ? "refused once its handshake time was up" : "FAILED");
    else
      printf("slow reader: %s\n",
             code == 0 ? "got all its replies back, in order" : "FAILED");
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The command line                                                         */
/* ------------------------------------------------------------------------ */

static int server_usage(void) {
  fprintf(stderr,
          "usage: %s [-t MS] [-p N] [ADDRESS CLIENTS [AUTHKEY]]\n"
          "  -t MS  handshake timeout in milliseconds (default %d)\n"
          "  -p N   most clients in their handshake at once (default %d)\n",
          server_prog, MPCONN_DEFAULT_HANDSHAKE_TIMEOUT,
          MPCONN_DEFAULT_MAX_PENDING);
  return 2;
}

static int server_main(int argc, char **argv, const char *prog) {
  server_prog = prog;
  if (argc == 1)
    return demo();
  mpconn_net_options o = {0};
  int opt;
  while ((opt = getopt(argc, argv, "t:p:")) != -1) {
    if (opt == 't')
      o.handshake_timeout_ms = atoi(optarg);
    else if (opt == 'p')
      o.max_pending = atoi(optarg);
    else
      return server_usage();
  }
  int left = argc - optind;
  if (left != 2 && left != 3)
    return server_usage();
  char **args = argv + optind;
  if (left == 3) {
    o.authkey = args[2];
    o.authkey_len = strlen(args[2]);
  }
  mpconn_listener *l;
  int rc = mpconn_listener_new(&l, args[0], &o);
  if (rc < 0)
    server_die("listen", rc);
  char bound[MPCONN_ADDRESS_MAX];
  rc = mpconn_listener_address(l, bound, sizeof(bound));
  if (rc < 0)
    server_die("address", rc);
  printf("listening on %s\n", bound);
  fflush(stdout);
  struct server_goal goal = {.clients = strtoul(args[1], NULL, 10),
                             .progress = true};
  struct server_stats st = {0};
  rc = serve(l, &goal, &st);
  if (rc < 0)
    server_die("serve", rc);
  printf("served %zu clients, echoed %zu messages, refused %zu clients; "
         "%zu replies waited for their reader\n",
         st.served, st.echoed, st.refused, st.paused);
  mpconn_listener_free(l);
  return 0;
}

#endif
