/* SPDX-License-Identifier: MIT */
/*
 * The C side of the descriptor-passing interop tests, driven by
 * test_fds.py: descriptors and connections handed to and from CPython's
 * multiprocessing.reduction send_handle() / recv_handle(), between frames.
 *
 *   MPCONN_FD=SPEC fd-peer STEP...     (SPEC as mpconn_from_string())
 *   fd-peer connect:PATH STEP...       (a Unix socket listener, no key)
 *
 * Connections live in slots 0..3: slot 0 is the one above, and the steps
 * act on the current slot (0 at first).  The steps run in order; the first
 * that does not go exactly as expected prints why on stderr and exits with
 * status 1.
 *
 *   use:I            later steps act on slot I
 *   send:N / recv:N  the next C message of N bytes / the next Python one
 *   recv-c:N         the next message is a C message of N bytes (one this
 *                    program sent on another slot)
 *   expect:NAME      mpconn_recv_bytes() fails with MPCONN_NAME
 *   expect-send:NAME mpconn_send_bytes() fails with MPCONN_NAME
 *   expect-fd:NAME   mpconn_recv_fd() fails with MPCONN_NAME, fd -1
 *   recv-fd-file:T   mpconn_recv_fd() gives a close-on-exec descriptor of a
 *                    file holding exactly T; closed after
 *   recv-fd-pipe:T   the same, a pipe's write end: T is written, it is closed
 *   echo-fd          mpconn_recv_fd(), then mpconn_send_fd() of it back
 *   send-fd-file:T   a memfd holding T goes with mpconn_send_fd()
 *   send-fd-pipe:T   a pipe's write end goes; its read end then gives
 *                    exactly T before end of file
 *   pair:I:J         mpconn_pipe(duplex) into slots I and J
 *   send-conn:I      mpconn_send_conn() of slot I, which is then closed
 *   recv-conn:I      mpconn_recv_conn() into slot I
 *   expect-conn:NAME mpconn_recv_conn() fails with MPCONN_NAME
 *   close            free the current slot's connection
 *   fds              as many descriptors open as once slot 0 was made
 *   chunks:R,...     later reads take at most R bytes each, in turn (0: no
 *                    limit; "chunks:" alone: no limits)
 *   positions:R      the descriptors' bytes came at every position 0..R-1
 *                    of reads cut to R bytes
 *   sync             read one byte of standard input
 *
 * mpconn__read_fds() is replaced (-Wl,--wrap) by one that cuts reads as
 * "chunks" says, and notes where the descriptors' bytes land.  Message
 * contents are in interop-pattern.h, counted per slot.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interop-pattern.h"
#include "mpconn-private.h"
#include "mpconn.h"
#include "peer-util.h"

#define NSLOTS 4
#define MAX_CHUNK 64

static struct slot {
  mpconn *c;
  size_t nsent, nreceived;
} slots[NSLOTS];
static struct slot *cur = &slots[0];
static int base_fds = -1;

/* ------------------------------------------------------------------------ */
/* Reads cut to scripted sizes                                              */
/* ------------------------------------------------------------------------ */

static size_t script[64];
static size_t nscript, next_read;
/* seen[r][p]: descriptors came with byte p of a read cut to r bytes. */
static bool seen[MAX_CHUNK + 1][MAX_CHUNK];

ssize_t __real_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in);
ssize_t __wrap_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in);
ssize_t __wrap_mpconn__read_fds(int fd, void *buf, size_t len, int64_t deadline,
                                struct mpconn__fds_in *in) {
  size_t cut = 0;
  if (nscript) {
    size_t k = script[next_read++ % nscript];
    if (k && k <= len)
      cut = len = k;
  }
  ssize_t n = __real_mpconn__read_fds(fd, buf, len, deadline, in);
  if (cut && n > 0 && in->n > 0)
    seen[cut][n - 1] = true;
  return n;
}

static void set_chunks(const char *list) {
  char copy[256];
  snprintf(copy, sizeof(copy), "%s", list);
  nscript = next_read = 0;
  for (char *save, *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    size_t r = parse_size(t);
    if (r > MAX_CHUNK || nscript == sizeof(script) / sizeof(script[0]))
      die("bad chunk list '%s'", list);
    script[nscript++] = r;
  }
}

static void check_positions(size_t r) {
  if (r == 0 || r > MAX_CHUNK)
    die("bad chunk size %zu", r);
  for (size_t p = 0; p < r; p++)
    if (!seen[r][p])
      die("no descriptor came with byte %zu of a read cut to %zu bytes", p, r);
}

/* ------------------------------------------------------------------------ */
/* Descriptors                                                              */
/* ------------------------------------------------------------------------ */

static void check_fds(void) {
  int n = count_fds();
  if (n != base_fds)
    die("%d descriptors open, %d at the start", n, base_fds);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("write: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

/* Read @fd until end of file, each read within TIMEOUT_MS; it must give
 * exactly @want. */
static void expect_contents(int fd, const char *want) {
  char got[256];
  size_t have = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, TIMEOUT_MS);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      die("pipe: nothing within %d ms (%s)", TIMEOUT_MS,
          rc < 0 ? strerror(errno) : "timeout");
    ssize_t n = read(fd, got + have, sizeof(got) - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die("read: %s", strerror(errno));
    if (n == 0)
      break;
    have += (size_t)n;
    if (have == sizeof(got))
      break;
  }
  if (have != strlen(want) || memcmp(got, want, have) != 0)
    die("read '%.*s', expected '%s'", (int)have, got, want);
}

/* A received descriptor, checked close-on-exec. */
static int recv_fd(void) {
  int fd = -2;
  check_ok(mpconn_recv_fd(cur->c, &fd, TIMEOUT_MS), "mpconn_recv_fd");
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || !(flags & FD_CLOEXEC))
    die("received descriptor %d is not close-on-exec (flags %d)", fd, flags);
  return fd;
}

static void recv_fd_file(const char *want) {
  int fd = recv_fd();
  char got[256];
  ssize_t n;
  while ((n = pread(fd, got, sizeof(got), 0)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    die("pread of the received descriptor: %s", strerror(errno));
  if ((size_t)n != strlen(want) || memcmp(got, want, (size_t)n) != 0)
    die("the received file holds '%.*s', expected '%s'", (int)n, got, want);
  close(fd);
}

static void recv_fd_pipe(const char *text) {
  int fd = recv_fd();
  write_all(fd, text, strlen(text));
  close(fd);
}

static void echo_fd(void) {
  int fd = recv_fd();
  check_ok(mpconn_send_fd(cur->c, fd), "mpconn_send_fd");
  close(fd);
}

static void send_fd_file(const char *text) {
  int fd = memfd_create("fd-peer", MFD_CLOEXEC);
  if (fd < 0)
    die("memfd_create: %s", strerror(errno));
  write_all(fd, text, strlen(text));
  check_ok(mpconn_send_fd(cur->c, fd), "mpconn_send_fd");
  close(fd);
}

static void send_fd_pipe(const char *text) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    die("pipe2: %s", strerror(errno));
  check_ok(mpconn_send_fd(cur->c, p[1]), "mpconn_send_fd");
  close(p[1]);
  expect_contents(p[0], text);
  close(p[0]);
}

static void expect_fd(const char *name) {
  int fd = -2;
  int rc = mpconn_recv_fd(cur->c, &fd, TIMEOUT_MS);
  if (rc == 0)
    die("received descriptor %d, expected MPCONN_%s", fd, name);
  check_code(rc, name, "mpconn_recv_fd");
  if (fd != -1)
    die("mpconn_recv_fd failed and left fd %d, expected -1", fd);
}

/* ------------------------------------------------------------------------ */
/* Connections and messages                                                 */
/* ------------------------------------------------------------------------ */

static struct slot *slot_at(const char *s) {
  size_t i = parse_size(s);
  if (i >= NSLOTS)
    die("no slot %zu", i);
  return &slots[i];
}

static struct slot *empty_slot(const char *s) {
  struct slot *sl = slot_at(s);
  if (sl->c)
    die("slot %s is taken", s);
  sl->nsent = sl->nreceived = 0;
  return sl;
}

static void need_conn(void) {
  if (!cur->c)
    die("no connection in slot %d", (int)(cur - slots));
}

static void do_send(size_t n) {
  uint8_t *p = xmalloc(n);
  pattern_fill(p, n, cur->nsent, C_TAG);
  check_ok(mpconn_send_bytes(cur->c, p, n), "mpconn_send_bytes");
  free(p);
  cur->nsent++;
}

static void do_recv(size_t n, unsigned tag) {
  void *data;
  size_t len;
  check_ok(mpconn_recv_bytes(cur->c, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS),
           "mpconn_recv_bytes");
  if (!pattern_check(data, len, n, cur->nreceived, tag))
    die("wrong message");
  free(data);
  cur->nreceived++;
}

static void do_expect(const char *name) {
  void *data = NULL;
  size_t len = 0;
  int rc = mpconn_recv_bytes(cur->c, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS);
  if (rc == 0) {
    free(data);
    die("received a message of %zu bytes, expected MPCONN_%s", len, name);
  }
  check_code(rc, name, "mpconn_recv_bytes");
}

static void do_pair(const char *arg) {
  char a[8], b[8];
  if (sscanf(arg, "%7[0-9]:%7[0-9]", a, b) != 2)
    die("bad pair '%s'", arg);
  struct slot *x = empty_slot(a), *y = empty_slot(b);
  check_ok(mpconn_pipe(&x->c, &y->c, true), "mpconn_pipe");
}

static void send_conn(const char *arg) {
  struct slot *sl = slot_at(arg);
  check_ok(mpconn_send_conn(cur->c, sl->c), "mpconn_send_conn");
  if (!mpconn_closed(sl->c))
    die("the moved connection is still open here");
  check_code(mpconn_send_bytes(sl->c, "x", 1), "ECLOSED",
             "mpconn_send_bytes on the moved connection");
  mpconn_free(sl->c);
  sl->c = NULL;
}

static void expect_conn(const char *name) {
  mpconn *other = NULL;
  int rc = mpconn_recv_conn(cur->c, &other, TIMEOUT_MS);
  if (rc == 0)
    die("received a connection, expected MPCONN_%s", name);
  check_code(rc, name, "mpconn_recv_conn");
  if (other)
    die("mpconn_recv_conn failed and left a connection");
}

static void sync_stdin(void) {
  char b;
  ssize_t n;
  while ((n = read(0, &b, 1)) < 0 && errno == EINTR)
    ;
  if (n != 1)
    die("standard input: %s", n < 0 ? strerror(errno) : "end of file");
}

static void do_connect(const char *addr) {
  if (slots[0].c)
    die("slot 0 is taken");
  check_ok(mpconn_client(&slots[0].c, addr, NULL), "mpconn_client");
  base_fds = count_fds();
}

/* The argument of step "verb:arg", or NULL when the step is another verb. */
static const char *arg_of(const char *step, const char *verb) {
  size_t n = strlen(verb);
  return strncmp(step, verb, n) == 0 && step[n] == ':' ? step + n + 1 : NULL;
}

/* Steps that need no connection. */
static bool run_plain(const char *step) {
  const char *arg;
  if ((arg = arg_of(step, "connect")))
    do_connect(arg);
  else if ((arg = arg_of(step, "use")))
    cur = slot_at(arg);
  else if ((arg = arg_of(step, "pair")))
    do_pair(arg);
  else if ((arg = arg_of(step, "chunks")))
    set_chunks(arg);
  else if ((arg = arg_of(step, "positions")))
    check_positions(parse_size(arg));
  else if (strcmp(step, "fds") == 0)
    check_fds();
  else if (strcmp(step, "sync") == 0)
    sync_stdin();
  else
    return false;
  return true;
}

static void run_step(const char *step) {
  const char *arg;
  snprintf(peer_step, sizeof(peer_step), "'%s'", step);
  if (run_plain(step))
    return;
  need_conn();
  if ((arg = arg_of(step, "send")))
    do_send(parse_size(arg));
  else if ((arg = arg_of(step, "recv")))
    do_recv(parse_size(arg), PY_TAG);
  else if ((arg = arg_of(step, "recv-c")))
    do_recv(parse_size(arg), C_TAG);
  else if ((arg = arg_of(step, "expect")))
    do_expect(arg);
  else if ((arg = arg_of(step, "expect-send")))
    check_code(mpconn_send_bytes(cur->c, "x", 1), arg, "mpconn_send_bytes");
  else if ((arg = arg_of(step, "expect-fd")))
    expect_fd(arg);
  else if ((arg = arg_of(step, "recv-fd-file")))
    recv_fd_file(arg);
  else if ((arg = arg_of(step, "recv-fd-pipe")))
    recv_fd_pipe(arg);
  else if (strcmp(step, "echo-fd") == 0)
    echo_fd();
  else if ((arg = arg_of(step, "send-fd-file")))
    send_fd_file(arg);
  else if ((arg = arg_of(step, "send-fd-pipe")))
    send_fd_pipe(arg);
  else if ((arg = arg_of(step, "send-conn")))
    send_conn(arg);
  else if ((arg = arg_of(step, "recv-conn")))
    check_ok(mpconn_recv_conn(cur->c, &empty_slot(arg)->c, TIMEOUT_MS),
             "mpconn_recv_conn");
  else if ((arg = arg_of(step, "expect-conn")))
    expect_conn(arg);
  else if (strcmp(step, "close") == 0) {
    mpconn_free(cur->c);
    cur->c = NULL;
  } else
    die("unknown step");
}

/* Killed by the script, which gave up waiting: say where this side was. */
static void on_term(int sig) {
  static const char head[] = "fd-peer: terminated during step ";
  (void)!write(2, head, sizeof(head) - 1);
  (void)!write(2, peer_step, strlen(peer_step));
  (void)!write(2, "\n", 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(int argc, char **argv) {
  peer_name = "fd-peer";
  signal(SIGTERM, on_term);
  if (argc < 2) {
    fprintf(stderr, "usage: MPCONN_FD=SPEC %s STEP...\n", argv[0]);
    return 2;
  }
  const char *spec = getenv("MPCONN_FD");
  if (spec) {
    check_ok(mpconn_from_string(&slots[0].c, spec), "mpconn_from_string");
    base_fds = count_fds();
  }
  for (int i = 1; i < argc; i++)
    run_step(argv[i]);
  for (int i = 0; i < NSLOTS; i++)
    mpconn_free(slots[i].c);
  return 0;
}
