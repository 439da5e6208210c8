/* SPDX-License-Identifier: MIT */
/*
 * A pre-fork server: one process accepts and authenticates clients, and
 * four worker processes, forked before the first client comes, serve them.
 * Each worker is joined to the acceptor by a socketpair
 * (mpconn_pipe(..., true)).  The acceptor moves each authenticated client
 * to the next worker in turn with mpconn_send_conn(); the worker takes it
 * with mpconn_recv_conn() and serves it alongside its other clients,
 * found with mpconn_wait().  A client sends numbers as msgpack values and
 * the worker answers each with its square.  The clients are Python's
 * multiprocessing.connection.Client (examples/prefork_client.py).
 *
 *   prefork-server ADDRESS AUTHKEY CLIENTS
 *       Listen on ADDRESS (127.0.0.1:0, /tmp/squares.sock, @squares, ...),
 *       print "listening on BOUND-ADDRESS", hand CLIENTS authenticated
 *       clients to the workers, then stop listening; the workers finish
 *       with their clients, report and exit.  A client, in Python:
 *           c = Client("/tmp/squares.sock", authkey=b"AUTHKEY")
 *           c.send_bytes(msgpack.packb(12))
 *           msgpack.unpackb(c.recv_bytes())  # 144
 *       or: PYTHONPATH=python python3 examples/prefork_client.py \
 *               /tmp/squares.sock AUTHKEY 12 13
 *       (Any user can read a command line: a real server would read its
 *       key from a file only it can open.)
 *   prefork-server [-P PYTHON]
 *       A demonstration: starts eight Python clients with the key and one
 *       with a wrong key (PYTHON, default python3, runs prefork_client.py,
 *       which needs python3-msgpack and python/mpconn.py on PYTHONPATH),
 *       serves them, and prints what each worker did, how the workers
 *       ended and how each client fared.  Round robin hands each worker
 *       two clients.  Exit status 77 (skipped) when PYTHON cannot run or
 *       cannot import those modules.
 *
 * Shutting down: once every client is handed out, the acceptor shuts down
 * the sending side of each worker's socketpair.  A worker gets the end of
 * file after the last connection moved to it, finishes with its clients,
 * sends the acceptor a report and exits; the acceptor reaps every worker
 * and says how one that failed ended.  Workers also stop when the acceptor
 * dies: their socketpairs end the same way.
 */
#include <mpconn.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PREFORK_CLIENT_SCRIPT
#define PREFORK_CLIENT_SCRIPT "prefork_client.py"
#endif

#define WORKERS 4
#define MAX_CLIENTS 64  /* clients a worker serves at once */
#define IDLE_MS 10000   /* a client silent this long is dropped */
#define SEND_MS 1000    /* a client that reads no answer this long, too */
#define REPORT_MS 20000 /* how long a worker may take to finish and report */
#define SKIP 77

struct worker {
  pid_t pid;
  mpconn *conn; /* the acceptor's end of its socketpair, or NULL */
};

static void warn(const char *what, int rc) {
  fprintf(stderr, "prefork-server: %s: %s\n", what, mpconn_strerror(rc));
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* A worker                                                                 */
/* ------------------------------------------------------------------------ */

/* Answer one request: a number gets its square back.  Anything else gets
 * an error message, and the client is dropped.  Return: 0, or a code. */
static int answer(mpconn *c) {
  mpconn_msg *m;
  int rc = mpconn_recv(c, &m, 0); /* mpconn_wait() said one is there */
  if (rc < 0)
    return rc; /* MPCONN_EOF: the client has closed */
  int64_t n;
  mpconn_error err;
  rc = mpconn_unpackf(mpconn_msg_value(m), &err, "I", &n);
  mpconn_msg_free(m);
  if (rc == 0 && (n > 3037000499 || n < -3037000499)) {
    rc = MPCONN_EINVAL;
    snprintf(err.text, sizeof(err.text), "its square is too large");
  }
  if (rc < 0) {
    mpconn_sendf(c, "s", err.text);
    return rc;
  }
  return mpconn_sendf(c, "I", n * n);
}

/* Close client @i of @conns[1..*n], moving the last into its place. */
static void drop(mpconn **conns, long long *idle_until, size_t *n, size_t i) {
  mpconn_free(conns[i]);
  conns[i] = conns[*n];
  idle_until[i] = idle_until[*n];
  (*n)--;
}

/* Serve the clients the acceptor moves here until it says no more come
 * (end of file) and the last client has gone, then report.  Return: the
 * exit status. */
static int worker(mpconn *acceptor) {
  mpconn *conns[1 + MAX_CLIENTS] = {acceptor}; /* then the clients */
  long long idle_until[1 + MAX_CLIENTS];
  size_t n = 0;
  int64_t served = 0, answered = 0;
  bool taking = true;
  int status = 0;
  while (taking || n > 0) {
    /* The acceptor's socket is watched while there is room. */
    bool watch = taking && n < MAX_CLIENTS;
    long long now = now_ms(), timeout = IDLE_MS;
    for (size_t i = 1; i <= n; i++)
      if (idle_until[i] - now < timeout)
        timeout = idle_until[i] > now ? idle_until[i] - now : 0;
    mpconn *ready[1 + MAX_CLIENTS];
    int k =
        mpconn_wait(watch ? conns : conns + 1, n + watch, (int)timeout, ready);
    if (k < 0) {
      warn("worker: wait", k);
      status = 1;
      break;
    }
    now = now_ms();
    for (int j = 0; j < k; j++) {
      if (ready[j] == acceptor) {
        mpconn *c;
        int rc = mpconn_recv_conn(acceptor, &c, 0);
        if (rc == 0) {
          /* Settings do not travel with a connection: set them here.  A
           * request is a number; an answer that waits for its reader
           * must not hold up the other clients. */
          mpconn_set_max_size(c, 1024);
          mpconn_set_send_timeout(c, SEND_MS);
          n++;
          conns[n] = c;
          idle_until[n] = now + IDLE_MS;
          served++;
        } else {
          if (rc != MPCONN_EOF) {
            warn("worker: receiving a client", rc);
            status = 1;
          }
          taking = false;
        }
        continue;
      }
      size_t i = 1;
      while (conns[i] != ready[j])
        i++;
      int rc = answer(conns[i]);
      if (rc == 0) {
        answered++;
        idle_until[i] = now + IDLE_MS;
        continue;
      }
      if (rc != MPCONN_EOF)
        warn("worker: a client was dropped", rc);
      drop(conns, idle_until, &n, i);
    }
    for (size_t i = n; i >= 1; i--) {
      if (idle_until[i] <= now) {
        fprintf(stderr,
                "prefork-server: worker: a client silent for %d ms "
                "was dropped\n",
                IDLE_MS);
        drop(conns, idle_until, &n, i);
      }
    }
  }
  int rc = mpconn_sendf(acceptor, "{s:I, s:I}", "clients", served, "answers",
                        answered);
  if (rc < 0) {
    warn("worker: report", rc);
    status = 1;
  }
  for (size_t i = 1; i <= n; i++) /* left by a failed wait */
    mpconn_free(conns[i]);
  mpconn_free(acceptor);
  return status;
}

/* Fork the workers, each with one end of a socketpair; *w gets the other.
 * Return: how many started. */
static size_t start_workers(struct worker *w) {
  for (size_t i = 0; i < WORKERS; i++) {
    mpconn *mine, *theirs;
    int rc = mpconn_pipe(&mine, &theirs, true);
    if (rc < 0) {
      warn("socketpair", rc);
      return i;
    }
    fflush(stdout); /* nothing buffered is printed twice */
    pid_t pid = fork();
    if (pid == 0) {
      /* Only the acceptor holds the acceptor's ends, so that they close
       * when it does, and every worker sees the end of file. */
      mpconn_free(mine);
      for (size_t j = 0; j < i; j++)
        mpconn_free(w[j].conn);
      _exit(worker(theirs)); /* not exit(): the rest is the acceptor's */
    }
    mpconn_free(theirs);
    if (pid < 0) {
      perror("prefork-server: fork");
      mpconn_free(mine);
      return i;
    }
    w[i] = (struct worker){.pid = pid, .conn = mine};
  }
  return WORKERS;
}

/* ------------------------------------------------------------------------ */
/* The acceptor                                                             */
/* ------------------------------------------------------------------------ */

/* Move @c to the next worker in turn, skipping one that has gone.
 * Return: 0, or a code when no worker took it. */
static int hand_out(struct worker *w, size_t nw, size_t *next, mpconn *c) {
  int rc = MPCONN_EPIPE;
  for (size_t tries = 0; tries < nw; tries++) {
    struct worker *x = &w[*next];
    *next = (*next + 1) % nw;
    if (!x->conn)
      continue;
    rc = mpconn_send_conn(x->conn, c);
    /* MPCONN_EBUSY would be about the client, not the worker; a client
     * fresh from accept holds nothing, so it never happens here. */
    if (rc == 0 || rc == MPCONN_EBUSY)
      return rc;
    fprintf(stderr, "prefork-server: worker %zu is gone: %s\n", (size_t)(x - w),
            mpconn_strerror(rc));
    mpconn_free(x->conn);
    x->conn = NULL;
  }
  return rc;
}

/* Hand out @clients clients, and wait for @refusals refused ones.
 * Return: 0, or a code (MPCONN_ETIMEDOUT: none came in @timeout_ms). */
static int accept_clients(mpconn_listener *l, struct worker *w, size_t nw,
                          size_t clients, size_t refusals, int timeout_ms,
                          size_t *accepted, size_t *refused) {
  size_t next = 0;
  while (*accepted < clients || *refused < refusals) {
    mpconn *c;
    int rc = mpconn_listener_accept(l, &c, timeout_ms);
    if (rc == MPCONN_EAUTH) {
      (*refused)++;
      continue;
    }
    if (rc == -EMFILE || rc == -ENFILE) {
      warn("a client was turned away", rc);
      continue;
    }
    if (rc < 0)
      return rc;
    rc = hand_out(w, nw, &next, c);
    mpconn_free(c); /* closed here once moved; freed either way */
    if (rc < 0)
      return rc;
    (*accepted)++;
  }
  return 0;
}

/* Tell every worker that no more clients come, print each one's report,
 * and reap them all.  Return: 0 when each reported and exited with 0. */
static int finish_workers(struct worker *w, size_t nw) {
  int failed = 0;
  for (size_t i = 0; i < nw; i++) {
    int rc = w[i].conn ? mpconn_shutdown(w[i].conn, MPCONN_SHUT_WR) : 0;
    if (rc < 0)
      warn("shutdown", rc);
  }
  for (size_t i = 0; i < nw; i++) {
    mpconn_msg *m = NULL;
    int64_t clients, answers;
    int rc = w[i].conn ? mpconn_recv(w[i].conn, &m, REPORT_MS) : MPCONN_EPIPE;
    if (rc == 0)
      rc = mpconn_unpackf(mpconn_msg_value(m), NULL, "{s:I, s:I}", "clients",
                          &clients, "answers", &answers);
    mpconn_msg_free(m);
    mpconn_free(w[i].conn);
    w[i].conn = NULL;
    if (rc == 0) {
      printf("worker %zu: served %lld clients, answered %lld requests\n", i,
             (long long)clients, (long long)answers);
    } else {
      printf("worker %zu: no report (%s)\n", i, mpconn_strerror(rc));
      kill(w[i].pid, SIGKILL); /* so that waiting for it ends */
      failed = 1;
    }
  }
  for (size_t i = 0; i < nw; i++) {
    int st;
    pid_t pid;
    while ((pid = waitpid(w[i].pid, &st, 0)) < 0 && errno == EINTR)
      ;
    if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
      continue;
    failed = 1;
    if (pid < 0)
      printf("worker %zu: cannot wait for it: %s\n", i, strerror(errno));
    else if (WIFSIGNALED(st))
      printf("worker %zu was killed by signal %d (%s)\n", i, WTERMSIG(st),
             strsignal(WTERMSIG(st)));
    else
      printf("worker %zu exited with status %d\n", i, WEXITSTATUS(st));
  }
  if (!failed)
    printf("all %zu workers exited with status 0\n", nw);
  return failed;
}

/* ------------------------------------------------------------------------ */
/* The demonstration's Python clients                                       */
/* ------------------------------------------------------------------------ */

#define DEMO_KEY "the demo key"
#define DEMO_CLIENTS 8 /* with the key; then one with a wrong key */

/* Whether @python runs and imports what the clients need: 0 or SKIP. */
static int python_ready(const char *python) {
  char *argv[] = {(char *)python, "-c", "import msgpack, mpconn", NULL};
  mpconn_process *p;
  mpconn *c;
  int rc = mpconn_spawn(&p, &c, argv, NULL);
  if (rc < 0) {
    fprintf(stderr, "skipped: cannot run %s: %s\n", python,
            mpconn_strerror(rc));
    return SKIP;
  }
  mpconn_free(c);
  int code = -1;
  rc = mpconn_process_wait(p, &code, 10000);
  mpconn_process_free(p);
  if (rc == 0 && code == 0)
    return 0;
  fprintf(stderr,
          "skipped: %s cannot import msgpack and mpconn (Debian: "
          "python3-msgpack; PYTHONPATH=python)\n",
          python);
  return SKIP;
}

/* Start client @id, and send it its job: the address, the key, and four
 * numbers to square.  The key travels over the spawn's connection rather
 * than the command line, which any user can read. */
static int start_client(mpconn_process **p, const char *python,
                        const char *address, const char *key, int64_t id) {
  char *argv[] = {(char *)python, PREFORK_CLIENT_SCRIPT, NULL};
  mpconn *c;
  int rc = mpconn_spawn(p, &c, argv, NULL);
  if (rc < 0)
    return rc;
  int64_t x = 1000 * id;
  rc = mpconn_sendf(c, "{s:s, s:y#, s:[I, I, I, I]}", "address", address,
                    "authkey", key, strlen(key), "numbers", x + 1, x + 2, x + 3,
                    -x - 4);
  mpconn_free(c);
  if (rc < 0)
    mpconn_process_free(*p); /* kills and reaps it */
  return rc;
}

/* Wait for each client and say how it fared.  Return: 0 if all did as
 * expected. */
static int check_clients(mpconn_process **p, size_t n) {
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    int code = -1;
    int rc = mpconn_process_wait(p[i], &code, 10000);
    mpconn_process_free(p[i]); /* kills one that is still running */
    if (i < DEMO_CLIENTS && rc == 0 && code == 0)
      printf("client %zu: all 4 squares right\n", i);
    else if (i == DEMO_CLIENTS && rc == 0 && code == 2)
      printf("client %zu, with a wrong key: refused\n", i);
    else {
      printf("client %zu: FAILED (%s, exit code %d)\n", i, mpconn_strerror(rc),
             code);
      failed = 1;
    }
  }
  return failed;
}

/* ------------------------------------------------------------------------ */

static int usage(void) {
  fprintf(stderr, "usage: prefork-server ADDRESS AUTHKEY CLIENTS\n"
                  "       prefork-server [-P PYTHON]   (a demonstration)\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *python = "python3";
  int opt;
  while ((opt = getopt(argc, argv, "P:")) != -1) {
    if (opt != 'P')
      return usage();
    python = optarg;
  }
  int left = argc - optind;
  bool demo = left == 0;
  if (!demo && left != 3)
    return usage();
  if (demo && python_ready(python) != 0)
    return SKIP;

  char dir[] = "/tmp/prefork-server-XXXXXX", demo_address[64];
  const char *address = demo_address, *key = DEMO_KEY;
  size_t clients = DEMO_CLIENTS;
  if (demo) {
    if (!mkdtemp(dir)) {
      perror("prefork-server: mkdtemp");
      return 1;
    }
    snprintf(demo_address, sizeof(demo_address), "%s/squares.sock", dir);
  } else {
    address = argv[optind];
    key = argv[optind + 1];
    char *end;
    clients = strtoul(argv[optind + 2], &end, 10);
    if (*end || clients == 0)
      return usage();
  }

  /* The workers first: they hold no listener, and no other client. */
  struct worker w[WORKERS];
  size_t nw = start_workers(w);
  int failed = nw < WORKERS;

  mpconn_net_options o = {.authkey = key, .authkey_len = strlen(key)};
  mpconn_listener *l = NULL;
  int rc = nw ? mpconn_listener_new(&l, address, &o) : MPCONN_EINVAL;
  if (rc < 0)
    warn("listen", rc);
  char bound[MPCONN_ADDRESS_MAX];
  if (rc == 0 && demo)
    printf("listening on a socket file only this user can open, with a key\n");
  else if (rc == 0 &&
           (rc = mpconn_listener_address(l, bound, sizeof(bound))) == 0)
    printf("listening on %s\n", bound);
  fflush(stdout);

  mpconn_process *p[DEMO_CLIENTS + 1];
  size_t started = 0;
  while (rc == 0 && demo && started <= DEMO_CLIENTS) {
    rc = start_client(&p[started], python, address,
                      started < DEMO_CLIENTS ? key : "a wrong key",
                      (int64_t)started);
    if (rc < 0)
      warn("starting a client", rc);
    else
      started++;
  }
  if (rc == 0 && demo)
    printf("started %d Python clients with the key and 1 with a wrong key\n",
           DEMO_CLIENTS);

  size_t accepted = 0, refused = 0;
  if (rc == 0) {
    rc = accept_clients(l, w, nw, clients, demo ? 1 : 0, demo ? 10000 : -1,
                        &accepted, &refused);
    if (rc < 0)
      warn("accepting and handing out clients", rc);
    printf("accepted %zu clients, refused %zu\n", accepted, refused);
  }
  failed |= rc < 0;
  mpconn_listener_free(l);
  if (demo)
    rmdir(dir);

  failed |= finish_workers(w, nw);
  if (demo)
    failed |= check_clients(p, started);
  return failed ? 1 : 0;
}
