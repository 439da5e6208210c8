/* SPDX-License-Identifier: MIT */
/*
 * A one-thread server whose client stops reading (lib/send.c's send buffer
 * and cap under an event loop, as examples/epoll-server.c runs it).
 *
 * The server pushes numbered messages to a client that reads nothing, with
 * sends that never wait (mpconn_set_send_timeout(c, 0)) and a send buffer
 * capped at CAP.  Once the buffer is full a send returns MPCONN_EAGAIN,
 * having taken nothing; after every send the buffer holds at most the cap
 * and one frame.  While that client is stalled, ECHOERS other clients each
 * exchange ECHOES messages with the same server and finish.  Then the slow
 * client starts reading, the server carries on as the descriptor becomes
 * writable (mpconn_flush(), then more messages), shuts its side down, and
 * the client receives every message the server's sends took, in order,
 * then MPCONN_EOF: nothing lost, nothing twice.
 *
 * The children only do their I/O and report; the parent, which is the
 * server, makes every assertion.  Every child is reaped with a deadline.
 */
#include "net-util.h"
#include "queue-util.h"

#include "mpconn-private.h"

#include <poll.h>
#include <sys/epoll.h>

#define CAP ((size_t)64 * 1024)
#define ECHOERS 6
#define ECHOES 300
/* Messages pushed once the slow client reads. */
#define AFTER 400
/* Pushes before the first MPCONN_EAGAIN, at most: far more than any
 * socket buffer holds. */
#define BEFORE_MAX 100000
/* The whole test, whatever happens (valgrind included). */
#define TEST_TIMEOUT_MS 60000

/* Message i: its size (some larger than the cap: a send into an empty
 * buffer takes any frame) and its bytes, its number first. */
static size_t push_size(uint64_t i) {
  return i % 97 == 50 ? 100000 : 8 + (size_t)(i * 131 % 1500);
}

static void push_fill(uint8_t *p, uint64_t i) {
  size_t n = push_size(i);
  memcpy(p, &i, 8);
  for (size_t j = 8; j < n; j++)
    p[j] = (uint8_t)(j * 11 + i * 7);
}

/* What the slow client reports through its pipe. */
struct slow_report {
  uint64_t received; /* messages, before MPCONN_EOF */
  int64_t bad;       /* the first message that was wrong, or -1 */
  int rc;            /* the code that ended it: MPCONN_EOF when all went well */
};

struct child_arg {
  const char *address;
  int start; /* read end: one byte says go */
  int report;
};

static int wait_byte(int fd) {
  char b;
  ssize_t n;
  while ((n = read(fd, &b, 1)) < 0 && errno == EINTR)
    ;
  return n == 1 ? 0 : -1;
}

/* The slow client: says who it is, reads nothing until told, then
 * everything. */
static int slow_client(void *arg) {
  struct child_arg *a = arg;
  mpconn *c;
  if (mpconn_client(&c, a->address, NULL) < 0 ||
      mpconn_send_bytes(c, "slow", 4) < 0)
    return 1;
  if (wait_byte(a->start) < 0)
    return 2;
  struct slow_report r = {.bad = -1};
  uint8_t *want = malloc(100000);
  if (!want)
    return 3;
  for (;;) {
    void *got;
    size_t len;
    r.rc = mpconn_recv_bytes(c, &got, &len, MPCONN_UNLIMITED, 20000);
    if (r.rc < 0)
      break;
    push_fill(want, r.received);
    if (r.bad < 0 &&
        (len != push_size(r.received) || memcmp(got, want, len) != 0))
      r.bad = (int64_t)r.received;
    free(got);
    r.received++;
  }
  free(want);
  mpconn_free(c);
  return write(a->report, &r, sizeof(r)) == sizeof(r) ? 0 : 4;
}

/* An echoer: waits for the word, then ECHOES round trips. */
static int echo_client(void *arg) {
  struct child_arg *a = arg;
  mpconn *c;
  if (mpconn_client(&c, a->address, NULL) < 0 ||
      mpconn_send_bytes(c, "echo", 4) < 0)
    return 1;
  void *got;
  size_t len;
  if (mpconn_recv_bytes(c, &got, &len, 8, 20000) < 0)
    return 2;
  free(got);
  if (wait_byte(a->start) < 0)
    return 3;
  for (int i = 0; i < ECHOES; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof(msg), "round trip %d", i);
    if (mpconn_send_bytes(c, msg, (size_t)n) < 0 ||
        mpconn_recv_bytes(c, &got, &len, 64, 20000) < 0)
      return 4;
    bool same = len == (size_t)n && memcmp(got, msg, len) == 0;
    free(got);
    if (!same)
      return 5;
  }
  mpconn_free(c);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The server                                                               */
/* ------------------------------------------------------------------------ */

enum role { UNKNOWN, SLOW, ECHO };

struct peer {
  mpconn *c;
  int fd;
  enum role role;
  uint32_t watching;
};

struct server {
  int ep;
  mpconn_listener *l;
  struct peer *slow;
  int go_slow, go_echo; /* write ends of the children's start pipes */
  size_t echoers_done;
  /* The push to the slow client. */
  uint8_t *msg;
  uint64_t next, limit;
  uint64_t eagain, stalled_at;
  size_t max_queued;
  bool stalled, released, shut, slow_gone;
};

static void watch(struct server *s, struct peer *p, int op) {
  uint32_t want = EPOLLIN;
  if (p->role == SLOW)
    want = (mpconn_events(p->c) & POLLOUT) ? EPOLLOUT : 0;
  if (op == EPOLL_CTL_MOD && want == p->watching)
    return;
  struct epoll_event ev = {.events = want, .data.ptr = p};
  assert_int_equal(epoll_ctl(s->ep, op, p->fd, &ev), 0);
  p->watching = want;
}

/* Push messages to the slow client until its connection takes no more,
 * or the limit: each send takes a whole frame or nothing. */
static void push(struct server *s) {
  mpconn *c = s->slow->c;
  while (s->next < s->limit) {
    size_t n = push_size(s->next), frame = 4 + n;
    push_fill(s->msg, s->next);
    size_t before = mpconn__tx_queued(c);
    int rc = mpconn_send_bytes(c, s->msg, n);
    if (rc == MPCONN_EAGAIN) {
      /* Nothing taken, and only because the frame would pass the cap. */
      assert_int_equal(mpconn__tx_queued(c), before);
      assert_true(before > 0 && before + frame > CAP);
      s->eagain++;
      return;
    }
    assert_int_equal(rc, 0);
    size_t queued = mpconn__tx_queued(c);
    if (queued > CAP + frame)
      fail_msg("message %llu: the send buffer holds %zu bytes, over the cap "
               "(%zu) and one frame (%zu)",
               (unsigned long long)s->next, queued, CAP, frame);
    if (queued > s->max_queued)
      s->max_queued = queued;
    s->next++;
  }
  if (s->next == BEFORE_MAX)
    fail_msg("%d messages were taken and no send returned MPCONN_EAGAIN",
             BEFORE_MAX);
}

/* The slow client's connection is writable. */
static void slow_writable(struct server *s) {
  int rc = mpconn_flush(s->slow->c);
  assert_true(rc == 0 || rc == MPCONN_EAGAIN);
  push(s);
  if (s->released && s->next == s->limit && !s->shut) {
    /* Its end of file comes after every message sent. */
    rc = mpconn_shutdown(s->slow->c, MPCONN_SHUT_WR);
    assert_true(rc == 0 || rc == MPCONN_EAGAIN);
    s->shut = rc == 0;
  }
}

static void peer_readable(struct server *s, struct peer *p) {
  for (;;) {
    void *data;
    size_t len;
    int rc = mpconn_recv_bytes(p->c, &data, &len, 64, 0);
    if (rc == MPCONN_ETIMEDOUT)
      return;
    if (rc == MPCONN_EOF) {
      assert_int_equal(p->role, ECHO);
      assert_int_equal(epoll_ctl(s->ep, EPOLL_CTL_DEL, p->fd, NULL), 0);
      mpconn_free(p->c);
      free(p);
      s->echoers_done++;
      return;
    }
    assert_int_equal(rc, 0);
    if (p->role == UNKNOWN) {
      assert_int_equal(len, 4);
      p->role = memcmp(data, "slow", 4) == 0 ? SLOW : ECHO;
    }
    if (p->role == SLOW) {
      free(data);
      assert_null(s->slow);
      s->slow = p;
      assert_int_equal(mpconn_set_send_timeout(p->c, 0), 0);
      assert_int_equal(mpconn_set_send_buffer(p->c, CAP), 0);
      push(s);
      watch(s, p, EPOLL_CTL_MOD);
      return;
    }
    /* An echoer's messages come back; it reads, so they are taken. */
    assert_int_equal(mpconn_send_bytes(p->c, data, len), 0);
    free(data);
  }
}

/* The slow client has read everything and left. */
static void slow_done(struct server *s) {
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(s->slow->c, &data, &len, 64, 0),
                   MPCONN_EOF);
  assert_int_equal(epoll_ctl(s->ep, EPOLL_CTL_DEL, s->slow->fd, NULL), 0);
  mpconn_free(s->slow->c);
  free(s->slow);
  s->slow = NULL;
  s->slow_gone = true;
}

static void accept_all(struct server *s) {
  for (;;) {
    mpconn *c;
    int rc = mpconn_listener_accept(s->l, &c, 0);
    if (rc == MPCONN_ETIMEDOUT)
      return;
    assert_int_equal(rc, 0);
    struct peer *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->c = c;
    p->fd = mpconn_fileno(c);
    watch(s, p, EPOLL_CTL_ADD);
    peer_readable(s, p); /* what came with the handshake's last bytes */
  }
}

static void test_slow_reader(void **state) {
  (void)state;
  struct server s = {.limit = BEFORE_MAX};
  char address[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn_listener_new(&s.l, "@", NULL), 0);
  assert_int_equal(mpconn_listener_address(s.l, address, sizeof(address)), 0);
  int go_slow[2], go_echo[2], report[2];
  assert_int_equal(pipe2(go_slow, O_CLOEXEC), 0);
  assert_int_equal(pipe2(go_echo, O_CLOEXEC), 0);
  assert_int_equal(pipe2(report, O_CLOEXEC), 0);
  struct child_arg slow_arg = {address, go_slow[0], report[1]};
  struct child_arg echo_arg = {address, go_echo[0], -1};
  pid_t slow_pid = spawn(slow_client, &slow_arg);
  pid_t echo_pids[ECHOERS];
  for (int i = 0; i < ECHOERS; i++)
    echo_pids[i] = spawn(echo_client, &echo_arg);
  close(go_slow[0]);
  close(go_echo[0]);
  close(report[1]);
  s.go_slow = go_slow[1];
  s.go_echo = go_echo[1];
  s.msg = malloc(100000);
  assert_non_null(s.msg);

  s.ep = epoll_create1(EPOLL_CLOEXEC);
  assert_true(s.ep >= 0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  assert_int_equal(
      epoll_ctl(s.ep, EPOLL_CTL_ADD, mpconn_listener_fileno(s.l), &lev), 0);
  int64_t end = net_now_ms() + TEST_TIMEOUT_MS;
  while (!s.slow_gone) {
    if (net_now_ms() > end)
      fail_msg("still serving after %d ms: %zu echoers done, %llu pushed, "
               "%s",
               TEST_TIMEOUT_MS, s.echoers_done, (unsigned long long)s.next,
               s.released ? "the slow client reads" : "not released");
    struct epoll_event ev[16];
    int n = epoll_wait(s.ep, ev, 16, 100);
    assert_true(n >= 0 || errno == EINTR);
    for (int i = 0; i < n; i++) {
      struct peer *p = ev[i].data.ptr;
      if (!p)
        accept_all(&s);
      else if (p == s.slow && (ev[i].events & (EPOLLERR | EPOLLHUP)))
        slow_done(&s);
      else if (p == s.slow)
        slow_writable(&s);
      else
        peer_readable(&s, p);
      if (p && p == s.slow && !s.slow_gone)
        watch(&s, p, EPOLL_CTL_MOD);
    }
    /* Stalled: the echoers start, and are served meanwhile. */
    if (s.eagain > 0 && !s.stalled) {
      s.stalled = true;
      s.stalled_at = s.next;
      char go[ECHOERS];
      memset(go, 'g', sizeof(go));
      assert_int_equal(write(s.go_echo, go, sizeof(go)), ECHOERS);
    }
    /* They are all done, and the slow client has taken nothing more:
     * now it reads. */
    if (s.echoers_done == ECHOERS && !s.released) {
      assert_int_equal(s.next, s.stalled_at);
      s.released = true;
      s.limit = s.next + AFTER;
      assert_int_equal(write(s.go_slow, "g", 1), 1);
      /* Writable once it reads: EPOLLOUT is watched (the buffer holds
       * bytes), and EPOLLHUP once it has read everything and gone. */
      assert_true(s.slow->watching & EPOLLOUT);
    }
  }
  printf("%llu messages taken before the client read (%llu sends returned "
         "MPCONN_EAGAIN), %d after; the send buffer held at most %zu bytes "
         "(cap %zu)\n",
         (unsigned long long)s.stalled_at, (unsigned long long)s.eagain, AFTER,
         s.max_queued, CAP);

  struct slow_report r;
  assert_int_equal(read(report[0], &r, sizeof(r)), sizeof(r));
  reap_ok(slow_pid);
  for (int i = 0; i < ECHOERS; i++)
    reap_ok(echo_pids[i]);
  assert_int_equal(r.rc, MPCONN_EOF);
  assert_int_equal(r.bad, -1);
  assert_int_equal(r.received, s.stalled_at + AFTER);
  assert_int_equal(s.next, s.stalled_at + AFTER);
  assert_true(s.eagain >= 1);

  free(s.msg);
  close(s.ep);
  close(s.go_slow);
  close(s.go_echo);
  close(report[0]);
  mpconn_listener_free(s.l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slow_reader),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
