/* SPDX-License-Identifier: MIT */
/*
 * The server workload: one server process and BENCH_CLIENTS client
 * processes, each client making round trips: it sends ["spam", i, "eggs"]
 * and waits for it to come back.  The clock runs from the first client let
 * go to the last reply; a "message" is one round trip, counted over all
 * clients.
 *
 * The clients are the same in both rows, hand-written over a socketpair
 * each: one write() of the frame, a read of the reply, compared byte for
 * byte with the request.  The servers differ:
 *
 * mpconn: the loop of examples/epoll-server.c: each connection wrapped
 * (mpconn_from_fd()) with sends that never block (mpconn_set_send_timeout(
 * c, 0)) in one level-triggered epoll set; on readiness, mpconn_recv() with
 * timeout 0 until MPCONN_ETIMEDOUT, each value checked and sent back with
 * mpconn_send(); a send that returns MPCONN_EAGAIN keeps its message and
 * pauses the connection until EPOLLOUT (mpconn_events()) and
 * mpconn_flush() have made room.
 *
 * hand-written epoll: the same framing (4-byte big-endian length, msgpack
 * payload) by hand: non-blocking sockets in one level-triggered epoll set;
 * on readiness one read() of up to 64 KiB, every whole frame in it
 * unpacked with msgpack_unpack_next(), checked, and packed back with its
 * header into the connection's output, then one write() of the output;
 * what write() does not take waits for EPOLLOUT.
 */
#include "bench.h"

#include <mpconn.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

struct sv_arg {
  enum bench_server_variant variant;
  uint64_t n;
  int fds[BENCH_CLIENTS][2]; /* [0] the server's end, [1] the client's */
  uint32_t *done;            /* clients finished, in shared memory */
};

/* The round trips client @index makes: n split as evenly as it goes. */
static uint64_t share(uint64_t n, int index) {
  return n / BENCH_CLIENTS + ((uint64_t)index < n % BENCH_CLIENTS);
}

/* msgpack-c's write callback into a fixed buffer of 64 bytes. */
struct small_buf {
  uint8_t p[64];
  size_t len;
};

static int small_write(void *data, const char *buf, size_t len) {
  struct small_buf *b = data;
  if (len > sizeof(b->p) - b->len)
    return -1;
  memcpy(b->p + b->len, buf, len);
  b->len += len;
  return 0;
}

static void put_be32(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static size_t get_be32(const uint8_t *p) {
  return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------------------ */
/* The clients                                                              */
/* ------------------------------------------------------------------------ */

static void client(void *arg, int index) {
  struct sv_arg *a = arg;
  for (int k = 0; k < BENCH_CLIENTS; k++) {
    close(a->fds[k][0]);
    if (k != index)
      close(a->fds[k][1]);
  }
  int fd = a->fds[index][1];
  uint64_t n = share(a->n, index);
  struct small_buf req;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &req, small_write);
  uint8_t reply[64];
  bench_go();
  for (uint64_t i = 0; i < n; i++) {
    req.len = 4;
    bench_pack_small(&pk, i);
    put_be32(req.p, req.len - 4);
    bench_write_all(fd, req.p, req.len);
    bench_read_all(fd, reply, req.len);
    if (memcmp(reply, req.p, req.len) != 0)
      bench_fail("client %d: reply %llu is not its request", index,
                 (unsigned long long)i);
  }
  if (__atomic_add_fetch(a->done, 1, __ATOMIC_SEQ_CST) == BENCH_CLIENTS)
    bench_mark_end();
  close(fd);
}

/* ------------------------------------------------------------------------ */
/* mpconn: the loop of examples/epoll-server.c                              */
/* ------------------------------------------------------------------------ */

struct mp_conn {
  mpconn *c;
  int fd;
  mpconn_msg *held; /* a reply its connection did not take */
  uint32_t watching;
  bool ended;
};

static void mp_check(int rc, const char *what) {
  if (rc < 0)
    bench_fail("%s: %s", what, mpconn_err_name(rc));
}

/* Watch what the connection needs now; one that has ended and has
 * nothing left to write leaves the set (EPOLLHUP would come for ever). */
static void set_watch(int ep, int fd, uint32_t *watching, uint32_t want,
                      bool gone, void *ptr) {
  if (gone) {
    if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0)
      bench_fail("epoll_ctl: %s", strerror(errno));
    return;
  }
  if (want == *watching)
    return;
  struct epoll_event ev = {.events = want, .data.ptr = ptr};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
    bench_fail("epoll_ctl: %s", strerror(errno));
  *watching = want;
}

static void mp_watch(int ep, struct mp_conn *k) {
  uint32_t want = 0;
  if (!k->held && !k->ended)
    want |= EPOLLIN;
  if (mpconn_events(k->c) & POLLOUT)
    want |= EPOLLOUT;
  set_watch(ep, k->fd, &k->watching, want, want == 0 && k->ended, k);
}

/* Send @m back; false when the connection did not take it (kept). */
static bool mp_reply(struct mp_conn *k, mpconn_msg *m) {
  int rc = mpconn_send(k->c, mpconn_msg_value(m));
  if (rc == MPCONN_EAGAIN) {
    k->held = m;
    return false;
  }
  mp_check(rc, "send");
  mpconn_msg_free(m);
  return true;
}

/* Answer what the connection has: the number answered. */
static uint64_t mp_ready(struct mp_conn *k, uint32_t events) {
  uint64_t answered = 0;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
    int rc = mpconn_flush(k->c);
    if (rc != MPCONN_EAGAIN)
      mp_check(rc, "flush");
    if (k->held) {
      mpconn_msg *m = k->held;
      k->held = NULL;
      answered += mp_reply(k, m);
    }
  }
  while (!k->held && !k->ended) {
    mpconn_msg *m;
    int rc = mpconn_recv(k->c, &m, 0);
    if (rc == MPCONN_ETIMEDOUT)
      break;
    if (rc == MPCONN_EOF) {
      k->ended = true;
      break;
    }
    mp_check(rc, "recv");
    uint64_t i;
    if (!bench_small_number(mpconn_msg_value(m), &i))
      bench_fail("a request is not [\"spam\", i, \"eggs\"]");
    answered += mp_reply(k, m);
  }
  return answered;
}

static void mp_server(struct sv_arg *a) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    bench_fail("epoll_create1: %s", strerror(errno));
  static struct mp_conn conns[BENCH_CLIENTS];
  for (int k = 0; k < BENCH_CLIENTS; k++) {
    close(a->fds[k][1]);
    struct mp_conn *c = &conns[k];
    mp_check(mpconn_from_fd(&c->c, a->fds[k][0]), "from_fd");
    mp_check(mpconn_set_send_timeout(c->c, 0), "set_send_timeout");
    c->fd = mpconn_fileno(c->c);
    c->watching = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
      bench_fail("epoll_ctl: %s", strerror(errno));
  }
  bench_go();
  uint64_t answered = 0;
  for (;;) {
    /* Done once every request is answered and every reply written. */
    bool writing = false;
    for (int k = 0; k < BENCH_CLIENTS && answered == a->n && !writing; k++)
      writing = conns[k].held || (mpconn_events(conns[k].c) & POLLOUT);
    if (answered == a->n && !writing)
      break;
    struct epoll_event ev[64];
    int n = epoll_wait(ep, ev, 64, -1);
    if (n < 0 && errno != EINTR)
      bench_fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      struct mp_conn *k = ev[i].data.ptr;
      answered += mp_ready(k, ev[i].events);
      mp_watch(ep, k);
    }
  }
  for (int k = 0; k < BENCH_CLIENTS; k++)
    mpconn_free(conns[k].c);
  close(ep);
}

/* ------------------------------------------------------------------------ */
/* hand-written epoll                                                       */
/* ------------------------------------------------------------------------ */

struct hw_buf {
  uint8_t *p;
  size_t start, len, cap; /* bytes [start, len) wait */
};

static void hw_reserve(struct hw_buf *b, size_t n) {
  if (b->start > 0 && b->cap - b->len < n) {
    memmove(b->p, b->p + b->start, b->len - b->start);
    b->len -= b->start;
    b->start = 0;
  }
  if (b->cap - b->len >= n)
    return;
  size_t cap = b->cap ? b->cap : BENCH_CHUNK;
  while (cap - b->len < n)
    cap *= 2;
  if (!(b->p = realloc(b->p, cap)))
    bench_fail("out of memory");
  b->cap = cap;
}

static int hw_write_cb(void *data, const char *src, size_t n) {
  struct hw_buf *b = data;
  hw_reserve(b, n);
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

struct hw_conn {
  int fd;
  struct hw_buf in, out;
  uint32_t watching;
  bool ended;
};

/* Write what the output holds, as far as the socket takes it. */
static void hw_flush(struct hw_conn *k) {
  while (k->out.start < k->out.len) {
    ssize_t w =
        write(k->fd, k->out.p + k->out.start, k->out.len - k->out.start);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (w < 0)
      bench_fail("write: %s", strerror(errno));
    k->out.start += (size_t)w;
  }
  k->out.start = k->out.len = 0;
}

/* One read, then every whole frame it completed: the number answered. */
static uint64_t hw_read(struct hw_conn *k, msgpack_unpacked *up) {
  hw_reserve(&k->in, BENCH_CHUNK / 2);
  ssize_t r = read(k->fd, k->in.p + k->in.len, k->in.cap - k->in.len);
  if (r == 0) {
    k->ended = true;
    return 0;
  }
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return 0;
    bench_fail("read: %s", strerror(errno));
  }
  k->in.len += (size_t)r;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &k->out, hw_write_cb);
  uint64_t answered = 0;
  while (k->in.len - k->in.start >= 4) {
    size_t len = get_be32(k->in.p + k->in.start);
    if (k->in.len - k->in.start - 4 < len) {
      hw_reserve(&k->in, len + 4);
      break;
    }
    const char *payload = (const char *)k->in.p + k->in.start + 4;
    size_t off = 0;
    uint64_t i;
    if (msgpack_unpack_next(up, payload, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len || !bench_small_number(&up->data, &i))
      bench_fail("a request is not [\"spam\", i, \"eggs\"]");
    k->in.start += 4 + len;
    hw_reserve(&k->out, 4);
    size_t at = k->out.len;
    k->out.len += 4;
    msgpack_pack_object(&pk, up->data);
    put_be32(k->out.p + at, k->out.len - at - 4);
    answered++;
  }
  if (k->in.start == k->in.len)
    k->in.start = k->in.len = 0;
  hw_flush(k);
  return answered;
}

static void hw_server(struct sv_arg *a) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    bench_fail("epoll_create1: %s", strerror(errno));
  static struct hw_conn conns[BENCH_CLIENTS];
  for (int k = 0; k < BENCH_CLIENTS; k++) {
    close(a->fds[k][1]);
    struct hw_conn *c = &conns[k];
    c->fd = a->fds[k][0];
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
      bench_fail("fcntl: %s", strerror(errno));
    hw_reserve(&c->in, BENCH_CHUNK);
    hw_reserve(&c->out, BENCH_CHUNK);
    c->watching = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
      bench_fail("epoll_ctl: %s", strerror(errno));
  }
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  bench_go();
  uint64_t answered = 0;
  for (;;) {
    bool writing = false;
    for (int k = 0; k < BENCH_CLIENTS && answered == a->n && !writing; k++)
      writing = conns[k].out.len > conns[k].out.start;
    if (answered == a->n && !writing)
      break;
    struct epoll_event ev[64];
    int n = epoll_wait(ep, ev, 64, -1);
    if (n < 0 && errno != EINTR)
      bench_fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      struct hw_conn *k = ev[i].data.ptr;
      if (ev[i].events & EPOLLOUT)
        hw_flush(k);
      if ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !k->ended)
        answered += hw_read(k, &up);
      /* Read only while the output is empty: a client that does not
       * read its replies is not read from. */
      bool waiting = k->out.len > k->out.start;
      uint32_t want = waiting ? EPOLLOUT : k->ended ? 0 : EPOLLIN;
      set_watch(ep, k->fd, &k->watching, want, want == 0, k);
    }
  }
  msgpack_unpacked_destroy(&up);
  for (int k = 0; k < BENCH_CLIENTS; k++) {
    close(conns[k].fd);
    free(conns[k].in.p);
    free(conns[k].out.p);
  }
  close(ep);
}

static void server(void *arg, int index) {
  (void)index;
  struct sv_arg *a = arg;
  if (a->variant == BENCH_SERVER_MPCONN)
    mp_server(a);
  else
    hw_server(a);
}

void bench_row_server(struct bench_result *r, enum bench_server_variant v,
                      uint64_t n) {
  struct sv_arg *a = calloc(1, sizeof(*a));
  if (!a) {
    bench_error(r, "out of memory");
    return;
  }
  a->variant = v;
  a->n = n;
  int made = 0, rc = 0;
  for (; made < BENCH_CLIENTS && rc == 0; made++)
    rc = bench_socketpair(a->fds[made]);
  a->done = mmap(NULL, sizeof(*a->done), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (rc < 0 || a->done == MAP_FAILED) {
    bench_error(r, "%s", strerror(rc < 0 ? -rc : errno));
  } else {
    *a->done = 0;
    struct bench_roles roles = {
        .senders = BENCH_CLIENTS, .sender = client, .receiver = server};
    r->messages = n;
    bench_run(r, &roles, a);
  }
  for (int k = 0; k < made - (rc < 0); k++) {
    close(a->fds[k][0]);
    close(a->fds[k][1]);
  }
  if (a->done != MAP_FAILED)
    munmap(a->done, sizeof(*a->done));
  free(a);
}
