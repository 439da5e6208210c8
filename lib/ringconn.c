/* SPDX-License-Identifier: MIT */
/*
 * Connections whose frames travel through shared memory: one
 * single-producer, single-consumer byte ring per direction, in a mapping
 * both processes share, with the connection's socket kept as the doorbell
 * and for end of file.
 *
 * The rings carry the byte stream a socket would: frame.c reads from the
 * inbound ring where it would read() (mpconn__ringconn_read()), send.c
 * writes into the outbound ring where it would write(), so framing,
 * limits, timeouts, MPCONN_EOF and MPCONN_ETRUNCATED are exactly a
 * socket's.  What is in a ring is the receiver's once its tail is
 * published: a send returns then, with no system call, unless the
 * receiver may be asleep.
 *
 * Waking without losing a wake-up (docs/internals.md argues it in full):
 * a receiver that finds its ring empty stores sleeping = 1, then looks at
 * the tail once more; a sender stores the new tail, then looks at
 * sleeping and, when it is 1, sets it to 0 and writes one byte to the
 * socket.  Both are sequentially consistent, so of the receiver's second
 * look and the sender's look at least one sees the other's store: either
 * the receiver finds the bytes, or the sender rings.  The receiver then
 * sleeps in the socket (poll() or a blocking recv()), where the byte, or
 * end of file when the sender has gone, wakes it.  Under load the
 * receiver never sleeps and no byte is ever written.
 *
 * A sender that finds the ring full stores want_space = 1, looks at the
 * head once more, and sleeps on the space futex word, which the receiver
 * bumps (and wakes) when it frees room and sees want_space.  It looks
 * again every WAIT_SLICE_MS to notice a receiver that has gone (its end of
 * the socket then reports a hang-up): MPCONN_EPIPE.  A receiver that
 * closes its end asks to be rung, so the next send writes to the socket
 * and gets MPCONN_EPIPE when that was the last copy of the end (a process
 * that frees its copy after fork() is not the receiver going: only the
 * socket knows).  A receiver killed while awake is found when a send must
 * ring it or wait for room.
 *
 * Everything read from the shared control words is checked before it is
 * used: a tail behind this side's head or more than a ring ahead of it, a
 * head ahead of this side's tail or behind it by more than a ring, is
 * MPCONN_EBADRING, for good.  Sizes and positions are this process's own.
 */
#include "mpconn-private.h"
#include "ringconn-test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A sleeping sender looks at its receiver this often. */
#define WAIT_SLICE_MS 50
/* The smallest ring. */
#define RING_MIN ((size_t)4096)

/* The control words of one ring, each writer's on a cache line of its
 * own. */
struct ringctl {
  uint64_t tail; /* written by the sender */
  uint32_t want_space;
  uint8_t pad0[64 - 12];
  uint64_t head; /* written by the receiver */
  uint32_t space_seq;
  uint8_t pad1[64 - 12];
  uint32_t sleeping; /* written by the receiver, cleared by the sender */
  uint8_t pad2[64 - 4];
};

/* One process's view of a mapping holding two rings: the two ends of a
 * pair made in one process share it until fork(). */
struct ringmap {
  void *base;
  size_t len;
  unsigned refs;
};

struct mpconn__ringconn {
  struct ringmap *in_map, *out_map; /* the same for a pair from one mapping */
  struct ringctl *in_ctl, *out_ctl;
  uint8_t *in, *out;
  uint64_t in_cap, out_cap; /* powers of two, this process's own */
  uint64_t head, tail; /* this side's own positions: in's head, out's tail */
  int err;             /* MPCONN_EBADRING, for good */
  int spin_us;
};

/* ------------------------------------------------------------------------ */
/* Mapping                                                                  */
/* ------------------------------------------------------------------------ */

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* The two control blocks take the first page. */
static size_t map_len(uint64_t cap) { return page_size() + 2 * (size_t)cap; }

/* A ring size from what the caller asked for: a power of two, at least
 * RING_MIN; 0 on overflow. */
static uint64_t ring_cap(size_t want) {
  if (want == 0)
    want = MPCONN_DEFAULT_RING;
  uint64_t cap = RING_MIN;
  while (cap < want) {
    if (cap > SIZE_MAX / 4)
      return 0;
    cap *= 2;
  }
  return cap;
}

/* An end reading @in (its control block and data) and writing @out. */
static struct mpconn__ringconn *
new_end(struct ringmap *in_map, struct ringctl *in_ctl, uint8_t *in,
        uint64_t in_cap, struct ringmap *out_map, struct ringctl *out_ctl,
        uint8_t *out, uint64_t out_cap) {
  struct mpconn__ringconn *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  *r = (struct mpconn__ringconn){.in_map = in_map,
                                 .out_map = out_map,
                                 .in_ctl = in_ctl,
                                 .out_ctl = out_ctl,
                                 .in = in,
                                 .out = out,
                                 .in_cap = in_cap,
                                 .out_cap = out_cap};
  /* Positions start where the words say: 0 for a new mapping. */
  r->head = __atomic_load_n(&in_ctl->head, __ATOMIC_ACQUIRE);
  r->tail = __atomic_load_n(&out_ctl->tail, __ATOMIC_ACQUIRE);
  in_map->refs++;
  out_map->refs++;
  return r;
}

/* An end of a pair made in one mapping: @first picks which ring is
 * inbound. */
static struct mpconn__ringconn *end_of(struct ringmap *m, uint64_t cap,
                                       bool first) {
  struct ringctl *ctl = m->base;
  uint8_t *data = (uint8_t *)m->base + page_size();
  int i = first ? 0 : 1;
  return new_end(m, &ctl[i], data + (uint64_t)i * cap, cap, m, &ctl[1 - i],
                 data + (uint64_t)(1 - i) * cap, cap);
}

static void unref(struct ringmap *m) {
  if (m && --m->refs == 0) {
    munmap(m->base, m->len);
    free(m);
  }
}

void mpconn__ringconn_close(mpconn *c) {
  if (!c->ring)
    return;
  /* Ask to be rung: the sender's next send then writes to the socket,
   * and learns there whether this end was its last copy (MPCONN_EPIPE)
   * or another process still holds it (which then wakes once, for
   * nothing). */
  __atomic_store_n(&c->ring->in_ctl->sleeping, 1, __ATOMIC_SEQ_CST);
  /* Bells left unread would make the close a reset for the peer, not an
   * end of file. */
  char bell[64];
  while (recv(c->rfd, bell, sizeof(bell), MSG_DONTWAIT) > 0)
    ;
}

void mpconn__ringconn_free(struct mpconn__ringconn *r) {
  if (!r)
    return;
  unref(r->in_map);
  unref(r->out_map);
  free(r);
}

int mpconn_pipe_ex(mpconn **a, mpconn **b, unsigned flags, size_t ring) {
  if (!a || !b || (flags & ~(unsigned)(MPCONN_PIPE_DUPLEX | MPCONN_PIPE_RING)))
    return MPCONN_EINVAL;
  *a = *b = NULL;
  if (!(flags & MPCONN_PIPE_RING))
    return mpconn_pipe(a, b, flags & MPCONN_PIPE_DUPLEX);
  uint64_t cap = ring_cap(ring);
  if (!cap)
    return MPCONN_EINVAL;
  struct ringmap *m = calloc(1, sizeof(*m));
  if (!m)
    return MPCONN_ENOMEM;
  m->len = map_len(cap);
  m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m->base == MAP_FAILED) {
    int rc = -errno;
    free(m);
    return rc;
  }
  int rc = mpconn_pipe(a, b, true);
  struct mpconn__ringconn *ra = rc ? NULL : end_of(m, cap, true);
  struct mpconn__ringconn *rb = ra ? end_of(m, cap, false) : NULL;
  if (!rc && !rb)
    rc = MPCONN_ENOMEM;
  if (rc < 0) {
    mpconn__ringconn_free(ra);
    if (!ra) {
      munmap(m->base, m->len);
      free(m);
    }
    mpconn_free(*a);
    mpconn_free(*b);
    *a = *b = NULL;
    return rc;
  }
  (*a)->ring = ra;
  (*b)->ring = rb;
  return 0;
}

size_t mpconn_ring_size(const mpconn *c) {
  return c && c->ring ? (size_t)c->ring->in_cap : 0;
}

int mpconn_set_spin(mpconn *c, int spin_us) {
  if (!c || spin_us < 0)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (!c->ring)
    return MPCONN_EINVAL;
  c->ring->spin_us = spin_us;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Copies                                                                   */
/* ------------------------------------------------------------------------ */

static void copy_in(const struct mpconn__ringconn *r, uint64_t pos,
                    const uint8_t *src, size_t n) {
  size_t off = (size_t)(pos & (r->out_cap - 1));
  size_t first = n < r->out_cap - off ? n : (size_t)(r->out_cap - off);
  memcpy(r->out + off, src, first);
  if (n > first)
    memcpy(r->out, src + first, n - first);
}

static void copy_out(const struct mpconn__ringconn *r, uint64_t pos,
                     uint8_t *dst, size_t n) {
  size_t off = (size_t)(pos & (r->in_cap - 1));
  size_t first = n < r->in_cap - off ? n : (size_t)(r->in_cap - off);
  memcpy(dst, r->in + off, first);
  if (n > first)
    memcpy(dst + first, r->in, n - first);
}

/* The bytes waiting in the inbound ring: checked against this side's
 * head, never trusted. */
static int inbound(struct mpconn__ringconn *r, uint64_t *avail) {
  uint64_t tail = __atomic_load_n(&r->in_ctl->tail, __ATOMIC_ACQUIRE);
  if (tail - r->head > r->in_cap) /* behind the head, or over a ring */
    return r->err = MPCONN_EBADRING;
  *avail = tail - r->head;
  return 0;
}

/* The room in the outbound ring, likewise. */
static int room(struct mpconn__ringconn *r, uint64_t *free_bytes) {
  uint64_t head = __atomic_load_n(&r->out_ctl->head, __ATOMIC_ACQUIRE);
  if (r->tail - head > r->out_cap) /* ahead of the tail, or a ring behind */
    return r->err = MPCONN_EBADRING;
  *free_bytes = r->out_cap - (r->tail - head);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

/* Take up to @len bytes from the inbound ring without waiting: how many
 * (0 when it is empty), or MPCONN_EBADRING. */
static ssize_t take(struct mpconn__ringconn *r, uint8_t *dst, size_t len) {
  uint64_t avail;
  if (r->err || inbound(r, &avail) < 0)
    return r->err;
  size_t n = avail < len ? (size_t)avail : len;
  if (n == 0)
    return 0;
  copy_out(r, r->head, dst, n);
  r->head += n;
  __atomic_store_n(&r->in_ctl->head, r->head, __ATOMIC_SEQ_CST);
  /* The sender may wait for this room. */
  if (__atomic_load_n(&r->in_ctl->want_space, __ATOMIC_SEQ_CST) &&
      __atomic_exchange_n(&r->in_ctl->want_space, 0, __ATOMIC_SEQ_CST)) {
    __atomic_add_fetch(&r->in_ctl->space_seq, 1, __ATOMIC_SEQ_CST);
    mpconn__futex_wake_all(&r->in_ctl->space_seq);
  }
  return (ssize_t)n;
}

/* The ring is empty: ask to be rung, and look once more (see the top). */
static ssize_t take_or_sleep(struct mpconn__ringconn *r, uint8_t *dst,
                             size_t len) {
  __atomic_store_n(&r->in_ctl->sleeping, 1, __ATOMIC_SEQ_CST);
  ssize_t n = take(r, dst, len);
  if (n != 0)
    __atomic_store_n(&r->in_ctl->sleeping, 0, __ATOMIC_RELAXED);
  return n;
}

/* Spin up to r->spin_us looking for bytes. */
static ssize_t take_spinning(struct mpconn__ringconn *r, uint8_t *dst,
                             size_t len) {
  int64_t until = 0;
  for (unsigned i = 0;; i++) {
    ssize_t n = take(r, dst, len);
    if (n != 0)
      return n;
    if ((i & 63) == 0) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
      if (until == 0)
        until = now + r->spin_us;
      else if (now >= until)
        return 0;
    }
    mpconn__cpu_relax();
  }
}

ssize_t mpconn__ringconn_read(mpconn *c, uint8_t *dst, size_t len,
                              int64_t deadline) {
  struct mpconn__ringconn *r = c->ring;
  for (;;) {
    ssize_t n = take(r, dst, len);
    if (n == 0 && r->spin_us)
      n = take_spinning(r, dst, len);
    if (n == 0)
      n = take_or_sleep(r, dst, len);
    if (n != 0)
      return n;
    /* Sleep in the socket: a doorbell byte, end of file, or the deadline.
     * One system call when waiting for ever: a blocking recv(). */
    char bell[64];
    ssize_t got;
    if (deadline == MPCONN_FOREVER) {
      got = recv(c->rfd, bell, sizeof(bell), 0);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        int rc = mpconn__wait_fd(c->rfd, POLLIN, deadline);
        if (rc < 0)
          return rc;
        continue;
      }
    } else {
      int rc = mpconn__wait_fd(c->rfd, POLLIN, deadline);
      if (rc < 0) {
        /* A last look: the bytes may have come without a bell. */
        n = take(r, dst, len);
        return n != 0 ? n : rc;
      }
      got = recv(c->rfd, bell, sizeof(bell), MSG_DONTWAIT);
    }
    /* The sender has gone: its end closed, or reset because it left a
     * bell unread (the socket carries nothing else).  What it published
     * before is still here. */
    if (got == 0 || (got < 0 && errno == ECONNRESET))
      return take(r, dst, len);
    if (got < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      n = take(r, dst, len);
      return n != 0 ? n : -errno;
    }
  }
}

ssize_t mpconn__ringconn_peek(mpconn *c, uint8_t *dst, size_t len) {
  struct mpconn__ringconn *r = c->ring;
  ssize_t n = take(r, dst, len);
  return n != 0 ? n : take_or_sleep(r, dst, len);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

/* Ring the receiver if it may be asleep: MPCONN_EPIPE when it has gone. */
static int ring_bell(mpconn *c) {
  struct mpconn__ringconn *r = c->ring;
  if (!__atomic_load_n(&r->out_ctl->sleeping, __ATOMIC_SEQ_CST) ||
      !__atomic_exchange_n(&r->out_ctl->sleeping, 0, __ATOMIC_SEQ_CST))
    return 0;
  static const char bell = 0;
  for (;;) {
    if (send(c->wfd, &bell, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
      return 0;
    if (errno == EINTR)
      continue;
    /* Full of bells already: it will wake. */
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return errno == EPIPE || errno == ECONNRESET ? MPCONN_EPIPE : -errno;
  }
}

/* Whether the receiver's end of the socket has gone. */
static bool receiver_gone(const mpconn *c) {
  struct pollfd p = {.fd = c->wfd, .events = POLLRDHUP};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP));
}

int mpconn__ringconn_wait_room(mpconn *c, int64_t deadline) {
  struct mpconn__ringconn *r = c->ring;
  uint32_t seen = __atomic_load_n(&r->out_ctl->space_seq, __ATOMIC_SEQ_CST);
  __atomic_store_n(&r->out_ctl->want_space, 1, __ATOMIC_SEQ_CST);
  uint64_t free_bytes;
  if (room(r, &free_bytes) < 0)
    return r->err;
  if (free_bytes > 0)
    return 0;
  if (receiver_gone(c))
    return MPCONN_EPIPE;
  int64_t slice = mpconn__deadline(WAIT_SLICE_MS);
  int rc = mpconn__futex_wait(&r->out_ctl->space_seq, seen,
                              deadline < slice ? deadline : slice);
  if (rc == MPCONN_ETIMEDOUT && deadline < slice)
    return rc;
  return rc < 0 && rc != MPCONN_ETIMEDOUT ? rc : 0;
}

int mpconn__ringconn_write(mpconn *c, struct iovec *iov, int iovcnt,
                           int64_t deadline, size_t *written) {
  struct mpconn__ringconn *r = c->ring;
  *written = 0;
  if (r->err)
    return r->err;
  while (iovcnt > 0) {
    uint64_t free_bytes;
    if (room(r, &free_bytes) < 0)
      return r->err;
    if (free_bytes == 0) {
      /* Publish what is there first, ringing if need be, then wait. */
      int rc = ring_bell(c);
      if (rc == 0 && deadline == 0)
        return 0; /* never waits: the caller keeps the rest */
      if (rc == 0)
        rc = mpconn__ringconn_wait_room(c, deadline);
      if (rc < 0)
        return rc;
      continue;
    }
    /* Copy what fits, all of the iovec that fits; one publish. */
    uint64_t pos = r->tail;
    while (iovcnt > 0 && free_bytes > 0) {
      size_t n = iov->iov_len < free_bytes ? iov->iov_len : (size_t)free_bytes;
      copy_in(r, pos, iov->iov_base, n);
      pos += n;
      free_bytes -= n;
      *written += n;
      iov->iov_base = (uint8_t *)iov->iov_base + n;
      iov->iov_len -= n;
      if (iov->iov_len == 0) {
        iov++;
        iovcnt--;
      }
    }
    r->tail = pos;
    __atomic_store_n(&r->out_ctl->tail, pos, __ATOMIC_SEQ_CST);
  }
  return ring_bell(c);
}

/* ------------------------------------------------------------------------ */
/* Upgrading a connection                                                   */
/* ------------------------------------------------------------------------ */

/* The offer each side sends: this, then the ring's size (8 bytes, big
 * endian), then, as a descriptor, the memfd of the ring it will read. */
static const uint8_t RING_OFFER[8] = {0x00, 'M', 'P', 'R', 'I', 'N', 'G', 0x01};
/* The largest ring an offer may ask the other side to map. */
#define RING_MAX ((uint64_t)1 << 30)

/* This side's inbound ring, in a memfd sealed against shrinking and
 * growing (so the peer's mapping of it can never fault). */
static int offer_ring(uint64_t cap, int *fd, struct ringmap **m) {
  *fd = memfd_create("mpconn-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd < 0)
    return -errno;
  size_t len = page_size() + (size_t)cap;
  int rc = 0;
  if (ftruncate(*fd, (off_t)len) < 0 ||
      fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
    rc = -errno;
  void *base = rc ? MAP_FAILED
                  : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
  if (!rc && base == MAP_FAILED)
    rc = -errno;
  if (!rc && !(*m = calloc(1, sizeof(**m)))) {
    munmap(base, len);
    rc = MPCONN_ENOMEM;
  }
  if (rc < 0) {
    close(*fd);
    return rc;
  }
  **m = (struct ringmap){.base = base, .len = len};
  return 0;
}

/* Map the ring the peer offers, after checking it: MPCONN_EBADRING for
 * an offer that is not one, a ring size out of bounds, a memfd not sealed
 * against shrinking and growing or not of the size announced. */
static int take_offer(const uint8_t *msg, size_t n, int fd, uint64_t *cap,
                      struct ringmap **m) {
  if (n != 16 || memcmp(msg, RING_OFFER, 8) != 0)
    return MPCONN_EBADRING;
  *cap = mpconn__load_be(msg + 8, 8);
  if (*cap < RING_MIN || *cap > RING_MAX || (*cap & (*cap - 1)))
    return MPCONN_EBADRING;
  size_t len = page_size() + (size_t)*cap;
  int seals = fcntl(fd, F_GET_SEALS);
  struct stat st;
  if (seals < 0 ||
      (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
          (F_SEAL_SHRINK | F_SEAL_GROW) ||
      fstat(fd, &st) < 0 || (uint64_t)st.st_size != len)
    return MPCONN_EBADRING;
  void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    return -errno;
  if (!(*m = calloc(1, sizeof(**m)))) {
    munmap(base, len);
    return MPCONN_ENOMEM;
  }
  **m = (struct ringmap){.base = base, .len = len};
  return 0;
}

int mpconn_ring_upgrade(mpconn *c, size_t ring, int timeout_ms) {
  int rc = mpconn__check_send(c);
  if (rc == 0)
    rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  if (!c->runix || !c->wunix || c->ring)
    return MPCONN_EINVAL;
  if (mpconn__rx_busy(c) || mpconn__tx_queued(c) > 0)
    return MPCONN_EBUSY;
  uint64_t cap = ring_cap(ring);
  if (!cap || cap > RING_MAX)
    return MPCONN_EINVAL;
  int64_t deadline = mpconn__deadline(timeout_ms);
  int fd;
  struct ringmap *mine = NULL;
  rc = offer_ring(cap, &fd, &mine);
  if (rc < 0)
    return rc;
  uint8_t offer[16];
  memcpy(offer, RING_OFFER, 8);
  for (int i = 0; i < 8; i++)
    offer[8 + i] = (uint8_t)(cap >> (56 - 8 * i));
  rc = mpconn_send_bytes(c, offer, sizeof(offer));
  if (rc == 0)
    rc = mpconn_send_fd(c, fd);
  close(fd);
  /* The peer's offer: a frame, then its memfd. */
  void *msg = NULL;
  size_t n = 0;
  int peer = -1;
  if (rc == 0)
    rc = mpconn_recv_bytes(c, &msg, &n, 64, mpconn__remaining_ms(deadline));
  if (rc == 0)
    rc = mpconn_recv_fd(c, &peer, mpconn__remaining_ms(deadline));
  struct ringmap *theirs = NULL;
  uint64_t peer_cap = 0;
  if (rc == 0)
    rc = take_offer(msg, n, peer, &peer_cap, &theirs);
  free(msg);
  if (peer >= 0)
    close(peer);
  struct mpconn__ringconn *r = NULL;
  if (rc == 0) {
    r = new_end(mine, mine->base, (uint8_t *)mine->base + page_size(), cap,
                theirs, theirs->base, (uint8_t *)theirs->base + page_size(),
                peer_cap);
    if (!r)
      rc = MPCONN_ENOMEM;
  }
  if (rc < 0) {
    if (theirs) {
      munmap(theirs->base, theirs->len);
      free(theirs);
    }
    munmap(mine->base, mine->len);
    free(mine);
    return rc;
  }
  c->ring = r;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Test hook                                                                */
/* ------------------------------------------------------------------------ */

void mpconn__ringconn_words(mpconn *c, uint64_t **in_tail,
                            uint64_t **out_head) {
  *in_tail = &c->ring->in_ctl->tail;
  *out_head = &c->ring->out_ctl->head;
}
