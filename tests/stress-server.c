/* SPDX-License-Identifier: MIT */
/*
 * One-thread servers under pressure: the examples epoll-server and
 * uv-server (slow-clients, slow-reader, flood) and echo-server (flood).
 *
 *   stress-server SERVER slow-clients PYTHON SERVER-CLIENTS-PY
 *   stress-server SERVER slow-reader
 *   stress-server SERVER flood
 *
 * slow-clients: 200 TCP connections that say nothing and 20 Python clients
 *   that trickle their handshake one byte per 100 ms (10 with the key, 10
 *   with a wrong one) come while 50 good clients (25 Python Client()s, 25
 *   mpconn_client() threads) each exchange 1000 messages with the server.
 *   The silent clients' handshake deadline is SILENT_DEADLINE_MS.  Every
 *   good and slow client must be served and the server must say so before
 *   it has refused any silent one; in the end exactly 210 are refused (the
 *   200 silent ones, each of which got the challenge and then the end of
 *   its connection, and the 10 wrong keys).  The server's descriptors
 *   (/proc/PID/fd) and its peak RSS (wait4()'s ru_maxrss) stay within the
 *   bounds below.
 * slow-reader: a client sends 300 messages of 16 KiB from one thread and
 *   reads nothing until 10 other clients have each exchanged 200 messages;
 *   then it gets every reply, in order.  The server has to pause it
 *   (its replies waited for it: the summary says how many times).
 * flood: the server runs with RLIMIT_NOFILE at FLOOD_NOFILE.  20 clients
 *   connect and stay; 60 more connections flood it, more than it has
 *   descriptors for: it turns each extra one away, saying so on stderr
 *   once per client, and keeps running.  The 20 are then served while it
 *   is out of descriptors, and once the flood has gone (its descriptor
 *   count back where it was), 10 new clients are served too.
 *
 * Clients run in threads of this process and in one Python process; they
 * only record what happened, and the main thread makes every assertion.
 * Every wait has a deadline, every child is reaped (killed first if it
 * outlives its deadline), and a failure says which process failed and how.
 */
#include "net-util.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>

#define KEY "stress key"
/* No step of a scenario takes this long; a whole scenario, no longer than
 * RUN_TIMEOUT_MS, and the good clients of slow-clients no longer than
 * STEP_TIMEOUT_MS. */
#define STEP_TIMEOUT_MS 45000
#define RUN_TIMEOUT_MS 55000

/* slow-clients */
#define SILENT 200
#define SLOW 10       /* trickling with the key */
#define WRONG 10      /* trickling with a wrong key */
#define GOOD_C 25     /* mpconn_client() threads */
#define GOOD_PY 25    /* Python Client()s */
#define MESSAGES 1000 /* each good client's */
#define SLOW_MESSAGES 10
/* A trickling client's handshake takes about 7 s with Python 3.11's
 * messages (12 s with 3.12's longer ones); good clients are done in a few
 * seconds.  The silent ones must outlive them all. */
#define SILENT_DEADLINE_MS 20000
/* The server's peak RSS: measured at 29 MiB for epoll-server and for
 * uv-server (75 MiB under AddressSanitizer), of which 3.4 MiB before the
 * first client.  A client in its handshake costs little; one that
 * exchanges messages costs its 64 KiB receive buffer, a 70000-byte
 * message's own allocation while it comes in, and a send buffer that grows
 * to hold the largest reply its descriptor did not take at once and is
 * kept (up to 1 MiB). */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUND_MIB 160
#else
#define RSS_BOUND_MIB 48
#endif

/* slow-reader */
#define READER_MESSAGES 300
#define READER_SIZE ((size_t)16 * 1024)
#define OTHERS 10
#define OTHER_MESSAGES 200

/* flood */
#define FLOOD_NOFILE 48
#define HOLDERS 20
#define FLOOD 60
#define LATE 10
#define FLOOD_MESSAGES 5

static const char *server_exe, *python, *clients_py;

/* ------------------------------------------------------------------------ */
/* Child processes                                                          */
/* ------------------------------------------------------------------------ */

/* A child whose standard output and error come back through pipes. */
struct proc {
  const char *name; /* "the server", "the Python clients" */
  pid_t pid;
  int fd[2];    /* stdout, stderr: non-blocking read ends */
  char *buf[2]; /* what they said so far, NUL-terminated */
  size_t len[2], cap[2];
  bool reaped;
  int status;
  struct rusage ru;
};

/* Every child started and not reaped: killed and reaped by teardown. */
#define MAX_PROCS 4
static struct proc *procs[MAX_PROCS];

static void proc_start(struct proc *p, const char *name, char *const argv[],
                       rlim_t nofile) {
  *p = (struct proc){.name = name};
  int pipes[2][2];
  for (int k = 0; k < 2; k++)
    assert_int_equal(pipe2(pipes[k], O_CLOEXEC), 0);
  pid_t parent = getpid();
  p->pid = fork();
  assert_true(p->pid >= 0);
  if (p->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    dup2(pipes[0][1], STDOUT_FILENO);
    dup2(pipes[1][1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    if (nofile) {
      struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
      if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        _exit(126);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  for (int k = 0; k < 2; k++) {
    close(pipes[k][1]);
    p->fd[k] = pipes[k][0];
    fcntl(p->fd[k], F_SETFL, O_NONBLOCK);
    p->cap[k] = 4096;
    p->buf[k] = calloc(1, p->cap[k]);
    assert_non_null(p->buf[k]);
  }
  for (int i = 0; i < MAX_PROCS; i++) {
    if (!procs[i]) {
      procs[i] = p;
      return;
    }
  }
  fail_msg("too many children");
}

/* Read what the child has written so far. */
static void proc_pump(struct proc *p) {
  for (int k = 0; k < 2; k++) {
    for (;;) {
      if (p->cap[k] - p->len[k] < 1024) {
        p->cap[k] *= 2;
        p->buf[k] = realloc(p->buf[k], p->cap[k]);
        assert_non_null(p->buf[k]);
      }
      ssize_t n =
          read(p->fd[k], p->buf[k] + p->len[k], p->cap[k] - p->len[k] - 1);
      if (n <= 0)
        break;
      p->len[k] += (size_t)n;
      p->buf[k][p->len[k]] = '\0';
    }
  }
}

/* The first whole line of the child's output that starts with @prefix,
 * copied into @line; false when there is none yet. */
static bool proc_line(struct proc *p, const char *prefix, char *line,
                      size_t size) {
  for (const char *s = p->buf[0]; *s;) {
    const char *end = strchr(s, '\n');
    if (!end)
      return false;
    if (strncmp(s, prefix, strlen(prefix)) == 0) {
      size_t n = (size_t)(end - s);
      assert_true(n < size);
      memcpy(line, s, n);
      line[n] = '\0';
      return true;
    }
    s = end + 1;
  }
  return false;
}

static bool proc_poll_reap(struct proc *p) {
  if (p->reaped)
    return true;
  pid_t r = wait4(p->pid, &p->status, WNOHANG, &p->ru);
  assert_true(r == 0 || r == p->pid);
  p->reaped = r == p->pid;
  if (p->reaped)
    proc_pump(p);
  return p->reaped;
}

/* "exit status 3", "killed by signal 9", "still running". */
static const char *proc_how(const struct proc *p, char *buf, size_t size) {
  if (!p->reaped)
    snprintf(buf, size, "still running");
  else if (WIFEXITED(p->status))
    snprintf(buf, size, "exit status %d", WEXITSTATUS(p->status));
  else
    snprintf(buf, size, "killed by signal %d", WTERMSIG(p->status));
  return buf;
}

/* Fail the test saying which child failed and how, with what it said. */
static _Noreturn void proc_fail(struct proc *p, const char *why) {
  proc_poll_reap(p);
  proc_pump(p);
  char how[64];
  fprintf(stderr, "--- %s's output:\n%s--- its errors:\n%s---\n", p->name,
          p->buf[0], p->buf[1]);
  fail_msg("%s (pid %d, %s): %s", p->name, (int)p->pid,
           proc_how(p, how, sizeof(how)), why);
  abort(); /* not reached */
}

/* Wait for the child's output to hold a line starting with @prefix. */
static void proc_wait_line(struct proc *p, const char *prefix, char *line,
                           size_t size, int64_t deadline) {
  for (;;) {
    proc_pump(p);
    if (proc_line(p, prefix, line, size))
      return;
    if (proc_poll_reap(p)) {
      proc_pump(p);
      if (proc_line(p, prefix, line, size))
        return;
      proc_fail(p, "exited before saying what was expected");
    }
    if (net_now_ms() > deadline)
      proc_fail(p, "did not say what was expected in time");
    poll(NULL, 0, 10);
  }
}

/* Wait for the child to exit; kill it at the deadline. */
static void proc_reap(struct proc *p, int64_t deadline) {
  while (!proc_poll_reap(p)) {
    proc_pump(p);
    if (net_now_ms() > deadline) {
      kill(p->pid, SIGKILL);
      proc_fail(p, "did not exit in time, killed");
    }
    poll(NULL, 0, 10);
  }
}

/* It must have exited with status 0. */
static void proc_expect_ok(struct proc *p) {
  if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0)
    proc_fail(p, "failed");
}

static void proc_free(struct proc *p) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i] == p)
      procs[i] = NULL;
  for (int k = 0; k < 2; k++) {
    close(p->fd[k]);
    free(p->buf[k]);
  }
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < MAX_PROCS; i++) {
    struct proc *p = procs[i];
    if (p && !p->reaped) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, NULL, 0);
      p->reaped = true;
    }
    procs[i] = NULL;
  }
  return 0;
}

/* Start the server with @args after the executable, out of descriptors
 * at @nofile (0: as this process); its address in @address. */
static void start_server(struct proc *srv, const char *const *args,
                         rlim_t nofile, char *address) {
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)server_exe;
  for (; *args; args++)
    argv[n++] = (char *)*args;
  argv[n] = NULL;
  proc_start(srv, "the server", argv, nofile);
  char line[256];
  proc_wait_line(srv, "listening on ", line, sizeof(line),
                 net_now_ms() + STEP_TIMEOUT_MS);
  const char *bound = line + strlen("listening on ");
  assert_true(strlen(bound) < MPCONN_ADDRESS_MAX);
  memcpy(address, bound, strlen(bound) + 1);
}

/* The server's descriptors: all of them, and how many are sockets (the
 * listener's and one per connection). */
static void count_server_fds(pid_t pid, int *all, int *sockets) {
  char path[64], target[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  *all = *sockets = 0;
  if (!d)
    return; /* it has exited: the caller finds out why */
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
    if (n < 0)
      continue; /* closed meanwhile */
    target[n] = '\0';
    (*all)++;
    *sockets += strncmp(target, "socket:", 7) == 0;
  }
  closedir(d);
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */
/* ------------------------------------------------------------------------ */

/* Message i of client id: its size and its bytes (server_clients.py
 * makes the same ones). */
static size_t msg_size(int id, int i) {
  if (i % 250 == 7)
    return 70000 + (size_t)(id % 1000);
  return (size_t)((i * 37 + id * 11) % 600);
}

static void msg_fill(uint8_t *p, size_t n, int id, int i) {
  for (size_t j = 0; j < n; j++)
    p[j] = (uint8_t)(j * 7 + (size_t)id * 31 + (size_t)i * 13);
}

/* Send message @i of client @id and expect it back: 0, the code that went
 * wrong, or 1 for wrong bytes. */
static int echo_one(mpconn *c, int id, int i, uint8_t *want) {
  size_t n = msg_size(id, i);
  msg_fill(want, n, id, i);
  void *got = NULL;
  size_t len = 0;
  int rc = mpconn_send_bytes(c, want, n);
  if (rc == 0)
    rc = mpconn_recv_bytes(c, &got, &len, MPCONN_UNLIMITED, STEP_TIMEOUT_MS);
  if (rc == 0 && (len != n || (n && memcmp(got, want, n) != 0)))
    rc = 1;
  free(got);
  return rc;
}

/* A client thread: connects, then exchanges messages [from, to). */
struct client {
  int id;
  const char *address;
  int from, to;
  bool keep;        /* keep the connection for a later exchange */
  mpconn *c;        /* kept here */
  int connect_rc;   /* of mpconn_client() */
  int failed_at;    /* the message that went wrong, or -1 */
  int rc;           /* the code it went wrong with; 1: wrong bytes */
  atomic_int *done; /* incremented at the end */
  pthread_t thread;
};

static void *client_run(void *arg) {
  struct client *cl = arg;
  cl->failed_at = -1;
  if (!cl->c) {
    mpconn_net_options o = {.authkey = KEY,
                            .authkey_len = strlen(KEY),
                            .handshake_timeout_ms = STEP_TIMEOUT_MS};
    cl->connect_rc = mpconn_client(&cl->c, cl->address, &o);
  }
  uint8_t *want = malloc(71000);
  for (int i = cl->from; cl->c && i < cl->to; i++) {
    int rc = want ? echo_one(cl->c, cl->id, i, want) : MPCONN_ENOMEM;
    if (rc != 0) {
      cl->failed_at = i;
      cl->rc = rc;
      break;
    }
  }
  free(want);
  if (!cl->keep) {
    mpconn_free(cl->c);
    cl->c = NULL;
  }
  if (cl->done)
    atomic_fetch_add(cl->done, 1);
  return NULL;
}

static void client_start(struct client *cl) {
  assert_int_equal(pthread_create(&cl->thread, NULL, client_run, cl), 0);
}

/* Join the thread and check what it recorded; a failure shows what the
 * server @srv said. */
static void client_check(struct client *cl, struct proc *srv) {
  assert_int_equal(pthread_join(cl->thread, NULL), 0);
  char why[160];
  if (cl->connect_rc != 0)
    snprintf(why, sizeof(why), "its C client %d failed to connect: %s", cl->id,
             mpconn_strerror(cl->connect_rc));
  else if (cl->failed_at >= 0)
    snprintf(why, sizeof(why), "its C client %d failed at message %d: %s",
             cl->id, cl->failed_at,
             cl->rc == 1 ? "wrong bytes back" : mpconn_strerror(cl->rc));
  else
    return;
  proc_fail(srv, why);
}

/* A raw TCP connection to "127.0.0.1:PORT" that says nothing. */
static int tcp_connect(const char *address) {
  const char *colon = strrchr(address, ':');
  assert_non_null(colon);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  return fd;
}

/* The first thing a listener with a key sends: "#CHALLENGE#{sha256}" and
 * 40 random bytes, in one frame of 59 bytes. */
#define CHALLENGE_FRAME 63

/* Read from a raw connection until @len bytes came or its end; with a
 * deadline.  How many came (-errno on a read error). */
static ssize_t read_upto(int fd, uint8_t *buf, size_t len, int64_t deadline) {
  size_t have = 0;
  while (have < len) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = (int)(deadline - net_now_ms());
    if (left <= 0 || poll(&p, 1, left) != 1)
      fail_msg("a raw client heard nothing in time");
    ssize_t n = read(fd, buf + have, len - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    have += (size_t)n;
  }
  return (ssize_t)have;
}

/* A silent client's whole story: the challenge, then the end. */
static void expect_challenge_then_end(int fd, int64_t deadline) {
  uint8_t buf[CHALLENGE_FRAME + 1];
  ssize_t n = read_upto(fd, buf, sizeof(buf), deadline);
  if (n != CHALLENGE_FRAME)
    fail_msg("a silent client got %zd bytes, not the %d of the challenge, "
             "before the end of its connection",
             n, CHALLENGE_FRAME);
  static const uint8_t head[] = "\0\0\0\x3b#CHALLENGE#{sha256}";
  assert_memory_equal(buf, head, sizeof(head) - 1);
}

/* ------------------------------------------------------------------------ */
/* slow-clients                                                             */
/* ------------------------------------------------------------------------ */

static void test_slow_clients(void **state) {
  (void)state;
  if (access(python, X_OK) != 0) {
    printf("skipped: %s not found\n", python);
    skip();
  }
  int64_t began = net_now_ms();
  char deadline_ms[16], pending_max[16], clients[16];
  snprintf(deadline_ms, sizeof(deadline_ms), "%d", SILENT_DEADLINE_MS);
  snprintf(pending_max, sizeof(pending_max), "%d", 2 * SILENT);
  snprintf(clients, sizeof(clients), "%d", GOOD_C + GOOD_PY + SLOW);
  const char *args[] = {"-t",          deadline_ms, "-p", pending_max,
                        "127.0.0.1:0", clients,     KEY,  NULL};
  struct proc srv;
  char address[MPCONN_ADDRESS_MAX];
  start_server(&srv, args, 0, address);
  int fds_base, sockets_base;
  count_server_fds(srv.pid, &fds_base, &sockets_base);
  assert_int_equal(sockets_base, 1); /* the listening socket */

  /* The silent ones first: the server has taken them all in before any
   * other client (the backlog is first come, first taken). */
  int silent[SILENT];
  for (int i = 0; i < SILENT; i++)
    silent[i] = tcp_connect(address);

  char good_py[16], messages[16], slow[16], wrong[16];
  snprintf(good_py, sizeof(good_py), "%d", GOOD_PY);
  snprintf(messages, sizeof(messages), "%d", MESSAGES);
  snprintf(slow, sizeof(slow), "%d", SLOW);
  snprintf(wrong, sizeof(wrong), "%d", WRONG);
  char *py_argv[] = {(char *)python,
                     (char *)clients_py,
                     address,
                     KEY,
                     good_py,
                     messages,
                     slow,
                     wrong,
                     NULL};
  struct proc py;
  proc_start(&py, "the Python clients", py_argv, 0);

  atomic_int done = 0;
  struct client cl[GOOD_C];
  for (int i = 0; i < GOOD_C; i++) {
    cl[i] = (struct client){
        .id = i, .address = address, .to = MESSAGES, .done = &done};
    client_start(&cl[i]);
  }

  /* Until every good and slow client is done and the server says so:
   * watch its descriptors. */
  /* Sockets: the listener's and one per client.  Other descriptors (the
   * standard ones, the listener's epoll instance, timer and spare, the
   * loop's own) are made at the start and stay as they are. */
  int sockets_max = 0, others_min = INT32_MAX, others_max = 0;
  char line[256];
  bool said = false;
  int64_t deadline = began + STEP_TIMEOUT_MS;
  int fds_said = 0, sockets_said = 0;
  char served[32];
  snprintf(served, sizeof(served), "%d clients served",
           GOOD_C + GOOD_PY + SLOW);
  while (!said || atomic_load(&done) < GOOD_C || !proc_poll_reap(&py)) {
    int all, sockets;
    count_server_fds(srv.pid, &all, &sockets);
    if (all > 0 && sockets > sockets_max)
      sockets_max = sockets;
    if (all > 0 && all - sockets < others_min)
      others_min = all - sockets;
    if (all - sockets > others_max)
      others_max = all - sockets;
    proc_pump(&srv);
    proc_pump(&py);
    if (!said && proc_line(&srv, served, line, sizeof(line))) {
      said = true;
      count_server_fds(srv.pid, &fds_said, &sockets_said);
    }
    if (proc_poll_reap(&srv))
      proc_fail(&srv, "exited while its clients ran");
    if (net_now_ms() > deadline) {
      if (!proc_poll_reap(&py))
        proc_fail(&py, "not done in time");
      proc_fail(&srv, "did not serve every client in time");
    }
    poll(NULL, 0, 20);
  }
  int64_t good_done = net_now_ms();
  for (int i = 0; i < GOOD_C; i++)
    client_check(&cl[i], &srv);
  proc_expect_ok(&py);
  char want[128];
  snprintf(want, sizeof(want),
           "python clients: %d good, %d slow, %d wrong-key: as expected\n",
           GOOD_PY, SLOW, WRONG);
  assert_string_equal(py.buf[0], want);

  /* No silent client was refused before the others were all served: only
   * wrong keys may have been; every other refusal is still to come. */
  unsigned refused_then, pending_then;
  if (sscanf(line + strlen(served),
             "; refused %u so far, %u in their handshake", &refused_then,
             &pending_then) != 2)
    proc_fail(&srv, "said something else once its clients were served");
  printf("good and slow clients served in %lld ms; refused %u (wrong "
         "keys), %u still in their handshake\n",
         (long long)(good_done - began), refused_then, pending_then);
  if (refused_then > WRONG)
    proc_fail(&srv, "refused a silent client before serving the others");
  assert_int_equal(pending_then, SILENT + WRONG - refused_then);
  /* One socket per client still in its handshake (a wrong key may have
   * gone since), and the listener's. */
  assert_true(sockets_said >= 1 + SILENT &&
              sockets_said <= 1 + (int)pending_then);
  printf("server descriptors: %d at the start; then at most %d sockets, "
         "and %d to %d others\n",
         fds_base, sockets_max, others_min, others_max);
  assert_true(sockets_max <= 1 + SILENT + SLOW + WRONG + GOOD_C + GOOD_PY);
  assert_int_equal(others_min, others_max);
  assert_true(others_max <= fds_base - sockets_base + 8);

  /* The silent ones go at their deadline: each got the challenge, then
   * the end of its connection; then the server is done. */
  proc_reap(&srv, began + RUN_TIMEOUT_MS);
  proc_expect_ok(&srv);
  for (int i = 0; i < SILENT; i++) {
    expect_challenge_then_end(silent[i], net_now_ms() + NET_TIMEOUT_MS);
    close(silent[i]);
  }
  snprintf(want, sizeof(want),
           "served %d clients, echoed %d messages, refused %d clients; ",
           GOOD_C + GOOD_PY + SLOW,
           (GOOD_C + GOOD_PY) * MESSAGES + SLOW * SLOW_MESSAGES,
           SILENT + WRONG);
  if (!proc_line(&srv, "served ", line, sizeof(line)) ||
      strncmp(line, want, strlen(want)) != 0)
    proc_fail(&srv, "did not report what it should have");
  assert_string_equal(srv.buf[1], "");
  long rss_kib = srv.ru.ru_maxrss;
  printf("server peak RSS %.1f MiB (bound %d MiB); the whole run took "
         "%lld ms\n",
         rss_kib / 1024.0, RSS_BOUND_MIB, (long long)(net_now_ms() - began));
  assert_true(rss_kib <= RSS_BOUND_MIB * 1024L);
  proc_free(&py);
  proc_free(&srv);
}

/* ------------------------------------------------------------------------ */
/* slow-reader                                                              */
/* ------------------------------------------------------------------------ */

static void reader_fill(uint8_t *p, int i) {
  for (size_t j = 0; j < READER_SIZE; j++)
    p[j] = (uint8_t)(j * 5 + (size_t)i * 3);
}

struct writer {
  mpconn *c;
  int rc, sent;
};

/* The slow reader's sending thread. */
static void *writer_run(void *arg) {
  struct writer *w = arg;
  uint8_t *msg = malloc(READER_SIZE);
  w->rc = msg ? 0 : MPCONN_ENOMEM;
  for (; w->rc == 0 && w->sent < READER_MESSAGES; w->sent++) {
    reader_fill(msg, w->sent);
    w->rc = mpconn_send_bytes(w->c, msg, READER_SIZE);
  }
  free(msg);
  return NULL;
}

static void test_slow_reader(void **state) {
  (void)state;
  char clients[16];
  snprintf(clients, sizeof(clients), "%d", OTHERS + 1);
  const char *args[] = {"@", clients, KEY, NULL};
  struct proc srv;
  char address[MPCONN_ADDRESS_MAX];
  start_server(&srv, args, 0, address);

  mpconn_net_options o = {.authkey = KEY, .authkey_len = strlen(KEY)};
  struct writer w = {0};
  assert_int_equal(mpconn_client(&w.c, address, &o), 0);
  pthread_t wt;
  assert_int_equal(pthread_create(&wt, NULL, writer_run, &w), 0);

  /* The others are served while the slow reader reads nothing. */
  struct client cl[OTHERS];
  for (int i = 0; i < OTHERS; i++) {
    cl[i] = (struct client){.id = i, .address = address, .to = OTHER_MESSAGES};
    client_start(&cl[i]);
  }
  for (int i = 0; i < OTHERS; i++)
    client_check(&cl[i], &srv);

  uint8_t *want = malloc(READER_SIZE);
  assert_non_null(want);
  for (int i = 0; i < READER_MESSAGES; i++) {
    void *got;
    size_t len;
    int rc = mpconn_recv_bytes(w.c, &got, &len, READER_SIZE, STEP_TIMEOUT_MS);
    if (rc != 0) {
      pthread_join(wt, NULL);
      fail_msg("slow reader: reply %d: %s (the writer sent %d: %s)", i,
               mpconn_strerror(rc), w.sent, mpconn_strerror(w.rc));
    }
    reader_fill(want, i);
    if (len != READER_SIZE || memcmp(got, want, len) != 0)
      fail_msg("slow reader: reply %d is not message %d", i, i);
    free(got);
  }
  free(want);
  assert_int_equal(pthread_join(wt, NULL), 0);
  assert_int_equal(w.rc, 0);
  mpconn_free(w.c);

  proc_reap(&srv, net_now_ms() + STEP_TIMEOUT_MS);
  proc_expect_ok(&srv);
  char want_line[128], line[256];
  snprintf(want_line, sizeof(want_line),
           "served %d clients, echoed %d messages, refused 0 clients; ",
           OTHERS + 1, OTHERS * OTHER_MESSAGES + READER_MESSAGES);
  if (!proc_line(&srv, "served ", line, sizeof(line)) ||
      strncmp(line, want_line, strlen(want_line)) != 0)
    proc_fail(&srv, "did not report what it should have");
  /* It had to pause the slow reader: its replies waited. */
  unsigned waited;
  assert_int_equal(
      sscanf(line + strlen(want_line), "%u replies waited", &waited), 1);
  printf("%u replies waited for their reader\n", waited);
  assert_true(waited > 0);
  assert_string_equal(srv.buf[1], "");
  proc_free(&srv);
}

/* ------------------------------------------------------------------------ */
/* flood                                                                    */
/* ------------------------------------------------------------------------ */

/* Wait until the server has exactly @want descriptors. */
static void wait_fds(struct proc *srv, int want, const char *what) {
  int64_t deadline = net_now_ms() + STEP_TIMEOUT_MS;
  int all, sockets;
  for (;;) {
    count_server_fds(srv->pid, &all, &sockets);
    if (all == want)
      return;
    if (net_now_ms() > deadline) {
      char why[128];
      snprintf(why, sizeof(why), "%s: has %d descriptors, not %d", what, all,
               want);
      proc_fail(srv, why);
    }
    proc_pump(srv);
    poll(NULL, 0, 10);
  }
}

static size_t count_lines(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

static void test_flood(void **state) {
  (void)state;
  char clients[16];
  snprintf(clients, sizeof(clients), "%d", HOLDERS + LATE);
  const char *args[] = {"127.0.0.1:0", clients, KEY, NULL};
  struct proc srv;
  char address[MPCONN_ADDRESS_MAX];
  start_server(&srv, args, FLOOD_NOFILE, address);

  /* The holders connect, exchange their first message and stay. */
  struct client hold[HOLDERS];
  for (int i = 0; i < HOLDERS; i++) {
    hold[i] =
        (struct client){.id = i, .address = address, .to = 1, .keep = true};
    client_start(&hold[i]);
    client_check(&hold[i], &srv);
  }
  int fds_held, sockets;
  count_server_fds(srv.pid, &fds_held, &sockets);
  assert_int_equal(sockets, 1 + HOLDERS);
  assert_true(fds_held + FLOOD > FLOOD_NOFILE);

  /* The flood: more connections than the server has descriptors left.
   * Each gets the challenge (it is in its handshake), or is turned away
   * at once. */
  int flood[FLOOD];
  for (int i = 0; i < FLOOD; i++)
    flood[i] = tcp_connect(address);
  int taken = 0, away = 0;
  for (int i = 0; i < FLOOD; i++) {
    uint8_t buf[CHALLENGE_FRAME];
    ssize_t n =
        read_upto(flood[i], buf, sizeof(buf), net_now_ms() + STEP_TIMEOUT_MS);
    if (n == CHALLENGE_FRAME)
      taken++;
    else if (n == 0 || n == -ECONNRESET)
      away++;
    else
      fail_msg("flood connection %d: %zd bytes came, then its end", i, n);
  }
  printf("flood: %d taken into their handshake, %d turned away\n", taken, away);
  assert_int_equal(taken + away, FLOOD);
  assert_true(away > 0);
  /* It said so, once per client turned away, and runs on. */
  int64_t deadline = net_now_ms() + STEP_TIMEOUT_MS;
  do {
    proc_pump(&srv);
    if (proc_poll_reap(&srv))
      proc_fail(&srv, "exited when it ran out of descriptors");
    if (net_now_ms() > deadline)
      proc_fail(&srv, "did not say it turned clients away");
    poll(NULL, 0, 10);
  } while (count_lines(srv.buf[1], "\n") < (size_t)away);
  assert_int_equal(count_lines(srv.buf[1], "out of descriptors"), away);
  assert_int_equal(count_lines(srv.buf[1], "\n"), away);
  count_server_fds(srv.pid, &fds_held, &sockets);

  /* Out of descriptors, the clients already there are served. */
  for (int i = 0; i < HOLDERS; i++) {
    hold[i].from = 1;
    hold[i].to = 1 + FLOOD_MESSAGES;
    client_start(&hold[i]);
  }
  for (int i = 0; i < HOLDERS; i++)
    client_check(&hold[i], &srv);

  /* The flood ends: once the server has closed its side of every
   * connection, new clients are served. */
  for (int i = 0; i < FLOOD; i++)
    close(flood[i]);
  wait_fds(&srv, fds_held - taken, "after the flood");
  struct client late[LATE];
  for (int i = 0; i < LATE; i++) {
    late[i] = (struct client){
        .id = HOLDERS + i, .address = address, .to = FLOOD_MESSAGES};
    client_start(&late[i]);
  }
  for (int i = 0; i < LATE; i++)
    client_check(&late[i], &srv);
  for (int i = 0; i < HOLDERS; i++)
    mpconn_free(hold[i].c);

  proc_reap(&srv, net_now_ms() + STEP_TIMEOUT_MS);
  proc_expect_ok(&srv);
  char want[128], line[256];
  snprintf(want, sizeof(want), "served %d clients, echoed %d messages",
           HOLDERS + LATE,
           HOLDERS * (1 + FLOOD_MESSAGES) + LATE * FLOOD_MESSAGES);
  if (!proc_line(&srv, "served ", line, sizeof(line)) ||
      strncmp(line, want, strlen(want)) != 0)
    proc_fail(&srv, "did not report what it should have");
  /* The event-loop servers count the ones that were in their handshake
   * as refused (echo-server does not say). */
  char refused[64];
  snprintf(refused, sizeof(refused), ", refused %d clients", taken);
  const char *rest = line + strlen(want);
  assert_true(*rest == '\0' || strncmp(rest, refused, strlen(refused)) == 0);
  proc_free(&srv);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: stress-server SERVER slow-clients PYTHON SCRIPT\n"
                    "       stress-server SERVER slow-reader|flood\n");
    return 2;
  }
  server_exe = argv[1];
  const char *scenario = argv[2];
  struct CMUnitTest test;
  if (strcmp(scenario, "slow-clients") == 0 && argc == 5) {
    python = argv[3];
    clients_py = argv[4];
    test = (struct CMUnitTest)cmocka_unit_test_teardown(test_slow_clients,
                                                        teardown);
  } else if (strcmp(scenario, "slow-reader") == 0 && argc == 3) {
    test = (struct CMUnitTest)cmocka_unit_test_teardown(test_slow_reader,
                                                        teardown);
  } else if (strcmp(scenario, "flood") == 0 && argc == 3) {
    test = (struct CMUnitTest)cmocka_unit_test_teardown(test_flood, teardown);
  } else {
    fprintf(stderr, "stress-server: unknown scenario or arguments\n");
    return 2;
  }
  const struct CMUnitTest tests[] = {test};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
