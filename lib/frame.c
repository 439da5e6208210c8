/* SPDX-License-Identifier: MIT */
/*
 * The wire format of multiprocessing.connection (Unix): a 4-byte big-endian
 * signed length, or -1 followed by an 8-byte big-endian length, then the
 * payload.  This file encodes and decodes headers and runs the receive
 * state machine; the rest of the library sees a connection's receive side
 * only through the functions below.
 */
#include "mpconn-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t mpconn__header_encode(uint8_t out[MPCONN_HEADER_MAX], uint64_t len) {
  if (len <= 0x7fffffff) {
    for (int i = 0; i < 4; i++)
      out[i] = (uint8_t)(len >> (24 - 8 * i));
    return 4;
  }
  memset(out, 0xff, 4);
  for (int i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 12;
}

int mpconn__header_decode(const uint8_t *p, size_t have, size_t *hlen,
                          uint64_t *plen) {
  if (have < 4)
    return 0;
  int32_t n = (int32_t)(uint32_t)mpconn__load_be(p, 4);
  if (n >= 0) {
    *hlen = 4;
    *plen = (uint64_t)n;
    return 1;
  }
  if (n != -1)
    return MPCONN_EBADFRAME;
  if (have < 12)
    return 0;
  *hlen = 12;
  *plen = mpconn__load_be(p + 4, 8);
  return 1;
}

/* What rx_wait() waits for. */
enum rx_mode {
  RX_FRAME,  /* a whole frame, for a receive */
  RX_HEADER, /* its header only */
  RX_PEEK,   /* a whole frame, for poll/wait: a read error stays pending so
                the next receive reports it */
};

static void drop_big(struct mpconn_rx *rx) {
  free(rx->big);
  rx->big = NULL;
  rx->big_have = rx->big_cap = 0;
  rx->have_header = false;
}

/*
 * The size a large frame's allocation grows to when @have bytes of it
 * have arrived and filled it: twice that, at least a chunk, at most the
 * payload.  A peer that announces a large frame and sends little makes
 * the receiver hold at most twice what it sent, or one chunk: the
 * announced length alone allocates nothing.
 */
static size_t big_size(const struct mpconn_rx *rx, size_t have) {
  size_t plen = (size_t)rx->plen;
  size_t want = have > plen / 2 ? plen : 2 * have;
  if (want < MPCONN_RX_CHUNK)
    want = MPCONN_RX_CHUNK;
  return want < plen ? want : plen;
}

/* Give the large frame @size bytes, keeping what it holds. */
static int grow_big(struct mpconn_rx *rx, size_t size) {
  uint8_t *p = realloc(rx->big, size);
  if (!p)
    return MPCONN_ENOMEM;
  rx->big = p;
  rx->big_cap = size;
  return 0;
}

static int fail(struct mpconn_rx *rx, int err) {
  drop_big(rx);
  rx->err = err;
  return err;
}

/* ------------------------------------------------------------------------ */
/* Descriptors that came with the bytes                                     */
/* ------------------------------------------------------------------------ */

/* The stream offset of the next unread byte. */
static uint64_t offset(const struct mpconn_rx *rx) {
  return rx->nread - (rx->end - rx->start);
}

static void close_fds(const int *fds, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    close(fds[i]);
}

/* Forget the oldest mark (its descriptors are closed or taken). */
static void shift_mark(struct mpconn_rx *rx) {
  memmove(&rx->marks[0], &rx->marks[1],
          (rx->nmarks - 1) * sizeof(rx->marks[0]));
  rx->nmarks--;
}

static void refuse_mark(struct mpconn_rx *rx) {
  close_fds(rx->marks[0].fds, rx->marks[0].n);
  shift_mark(rx);
  rx->fds_refused = true;
}

/*
 * The kernel hands descriptors out with the first read that reaches the
 * write they came with, and ends that read at the end of that write — or
 * where the read's room ends.  So when the room ended on the next byte,
 * the descriptors may have come with more than it: a frame whose first
 * byte the read took.  A byte that counts them is taken as the
 * descriptors' byte, the way the protocol sends it (one byte alone); any
 * other cannot be told from the start of a frame, and the connection
 * fails (MPCONN_EBADFDS, for good) rather than guess where its messages
 * begin.
 */
static bool place_lost(const struct mpconn_rx *rx) {
  const struct mpconn__fdmark *m = &rx->marks[0];
  return m->full &&
         (m->truncated || rx->buf[rx->start] != (uint8_t)(m->n % 256));
}

/* Close the descriptors of the next byte, and fail the connection. */
static int lose_place(struct mpconn_rx *rx) {
  refuse_mark(rx);
  rx->fds_refused = false;
  return fail(rx, MPCONN_EBADFDS);
}

/* Marks before the next unread byte came inside frames already handed
 * out: refused. */
static void drop_stale(struct mpconn_rx *rx) {
  uint64_t off = offset(rx);
  while (rx->nmarks && rx->marks[0].pos < off)
    refuse_mark(rx);
}

/*
 * Marks inside the complete frame: one descriptor that came with its last
 * byte is a shared-memory message's, when this side takes them; any other
 * is refused, and so is the frame.
 */
static void frame_marks(mpconn *c) {
  struct mpconn_rx *rx = &c->rx;
  uint64_t end = rx->frame_pos + rx->hlen + rx->plen;
  while (rx->nmarks && rx->marks[0].pos < end) {
    const struct mpconn__fdmark *m = &rx->marks[0];
    if (c->shm_threshold && rx->frame_fd < 0 && m->pos == end - 1 &&
        m->n == 1 && !m->truncated) {
      rx->frame_fd = m->fds[0];
      shift_mark(rx);
    } else {
      refuse_mark(rx);
      rx->frame_refused = true;
    }
  }
  rx->fds_refused = false; /* said by the frame's own refusal */
}

/* One read: with the descriptors that come along on a Unix socket. */
static ssize_t rx_read(mpconn *c, void *dst, size_t room, int64_t deadline) {
  struct mpconn_rx *rx = &c->rx;
  ssize_t n;
  if (c->ring) {
    n = mpconn__ringconn_read(c, dst, room, deadline);
    if (n == MPCONN_EBADRING)
      return fail(rx, (int)n);
  } else if (!c->runix) {
    n = mpconn__read(c->rfd, c->rsock, dst, room, deadline);
  } else {
    struct mpconn__fds_in in;
    n = mpconn__read_fds(c->rfd, dst, room, deadline, &in);
    if (n > 0 && (in.n || in.truncated)) {
      if (rx->nmarks == MPCONN_FDMARKS_MAX) {
        close_fds(in.fds, in.n);
        rx->fds_refused = true;
      } else {
        struct mpconn__fdmark *m = &rx->marks[rx->nmarks++];
        m->pos = rx->nread + (uint64_t)n - 1;
        m->n = in.n;
        m->truncated = in.truncated;
        m->full = in.full;
        memcpy(m->fds, in.fds, in.n * sizeof(int));
      }
    } else if (in.n) {
      close_fds(in.fds, in.n);
    }
  }
  if (n > 0)
    rx->nread += (uint64_t)n;
  return n;
}

/* The payload of the complete frame. */
static uint8_t *payload(const struct mpconn_rx *rx) {
  return rx->big ? rx->big : rx->buf + rx->start + rx->hlen;
}

/* A frame whose header and payload fit in the chunk buffer. */
static bool fits_chunk(const struct mpconn_rx *rx) {
  return rx->plen <= MPCONN_RX_CHUNK - rx->hlen;
}

/* Parse the header at buf[start] if enough bytes are there. */
static int parse_header(struct mpconn_rx *rx) {
  size_t have = rx->end - rx->start;
  if (have < 4)
    return 0; /* buf may still be NULL: no pointer into it yet */
  int rc =
      mpconn__header_decode(rx->buf + rx->start, have, &rx->hlen, &rx->plen);
  if (rc < 0)
    return fail(rx, rc);
  rx->have_header = rc > 0;
  rx->frame_pos = offset(rx);
  return rc;
}

/*
 * Move a large frame's payload out of the chunk buffer into its own
 * allocation, which later reads fill directly.
 */
static int start_big(struct mpconn_rx *rx) {
  if (rx->plen > SIZE_MAX)
    return MPCONN_ENOMEM;
  size_t have = rx->end - rx->start - rx->hlen;
  if (have > rx->plen) /* cannot happen: reads stop at the frame */
    have = (size_t)rx->plen;
  int rc = grow_big(rx, big_size(rx, have));
  if (rc < 0)
    return rc;
  rx->start += rx->hlen;
  memcpy(rx->big, rx->buf + rx->start, have);
  rx->start += have;
  rx->big_have = have;
  return 0;
}

/* Without I/O: 1 when the next frame (or its header) is complete. */
static int rx_step(mpconn *c, size_t limit, bool header_only) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->err)
    return rx->err;
  if (rx->pending)
    return rx->pending;
  if (!rx->have_header) {
    if (rx->nmarks) {
      drop_stale(rx);
      /* Descriptors come next: they are mpconn__rx_fds()'s. */
      if (rx->nmarks && rx->marks[0].pos == offset(rx))
        return place_lost(rx) ? lose_place(rx) : MPCONN_EFDPENDING;
    }
    if (rx->fds_refused) /* cleared by the receive that reports it */
      return MPCONN_EBADFDS;
    int rc = parse_header(rx);
    if (rc <= 0)
      return rc;
  }
  if (rx->plen > limit)
    return fail(rx, MPCONN_ETOOBIG);
  if (header_only)
    return 1;
  int rc = 1;
  if (rx->big) {
    rc = rx->big_have == rx->plen;
  } else if (fits_chunk(rx)) {
    rc = rx->end - rx->start >= rx->hlen + rx->plen;
  } else {
    rc = start_big(rx);
    if (rc < 0)
      return rc;
    rc = rx->big_have == rx->plen;
  }
  if (rc == 1 && rx->nmarks)
    frame_marks(c);
  return rc;
}

/* Where the next bytes go, with all the room there is: the big frame, or
 * the chunk buffer. */
static int rx_place_any(mpconn *c, uint8_t **dst, size_t *room) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->big) {
    if (rx->big_have == rx->big_cap) {
      int rc = grow_big(rx, big_size(rx, rx->big_have));
      if (rc < 0)
        return rc;
    }
    *dst = rx->big + rx->big_have;
    *room = rx->big_cap - rx->big_have;
    return 0;
  }
  if (!rx->buf) {
    rx->buf = malloc(MPCONN_RX_CHUNK);
    if (!rx->buf)
      return MPCONN_ENOMEM;
  }
  /* Keep the frame being assembled contiguous: move it to the front. */
  size_t need =
      rx->have_header ? rx->hlen + (size_t)rx->plen : MPCONN_HEADER_MAX;
  if (rx->start == rx->end) {
    rx->start = rx->end = 0;
  } else if (MPCONN_RX_CHUNK - rx->start < need) {
    memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
    rx->end -= rx->start;
    rx->start = 0;
  }
  *dst = rx->buf + rx->end;
  *room = MPCONN_RX_CHUNK - rx->end;
  return 0;
}

/* In exact mode: the bytes the frame being assembled still lacks (its
 * header first, then its payload). */
static size_t exact_room(const struct mpconn_rx *rx) {
  if (rx->big)
    return (size_t)(rx->plen - rx->big_have);
  size_t have = rx->end - rx->start;
  if (rx->have_header)
    return rx->hlen + (size_t)rx->plen - have;
  /* Four bytes, or twelve when they were the marker of a long header. */
  return (have < 4 ? 4 : MPCONN_HEADER_MAX) - have;
}

/* Where the next bytes go: the big frame, or the chunk buffer. */
static int rx_place(mpconn *c, uint8_t **dst, size_t *room) {
  int rc = rx_place_any(c, dst, room);
  if (rc == 0 && c->rx.exact && *room > exact_room(&c->rx))
    *room = exact_room(&c->rx);
  return rc;
}

/* @n bytes arrived where rx_place() said. */
static void rx_got(struct mpconn_rx *rx, size_t n) {
  if (rx->big)
    rx->big_have += n;
  else
    rx->end += n;
}

/* One read into the right place. */
static int rx_fill(mpconn *c, int64_t deadline) {
  struct mpconn_rx *rx = &c->rx;
  uint8_t *dst;
  size_t room;
  int rc = rx_place(c, &dst, &room);
  if (rc < 0)
    return rc;
  ssize_t n = rx_read(c, dst, room, deadline);
  if (n < 0)
    return (int)n;
  if (n == 0) {
    bool partial = rx->big || rx->end > rx->start;
    return fail(rx, partial ? MPCONN_ETRUNCATED : MPCONN_EOF);
  }
  rx_got(rx, (size_t)n);
  return 0;
}

/* A connection through shared rings: take what its ring holds, with no
 * system call.  The bytes taken (0: none), or a code. */
static ssize_t rx_pull(mpconn *c) {
  uint8_t *dst;
  size_t room;
  int rc = rx_place(c, &dst, &room);
  if (rc < 0)
    return rc;
  ssize_t n = mpconn__ringconn_peek(c, dst, room);
  if (n > 0) {
    c->rx.nread += (uint64_t)n;
    rx_got(&c->rx, (size_t)n);
  } else if (n < 0) {
    return fail(&c->rx, (int)n);
  }
  return n;
}

/*
 * Wait until the next frame is complete (or, in header mode, its header).
 * @limit: the largest payload accepted.  0 or a negative code.
 */
static int rx_wait(mpconn *c, size_t limit, enum rx_mode mode,
                   struct mpconn__timer *t) {
  struct mpconn_rx *rx = &c->rx;
  int rc = rx_step(c, limit, mode == RX_HEADER);
  while (rc == 0) {
    rc = rx_fill(c, mpconn__timer_deadline(t));
    if (rc < 0)
      break;
    rc = rx_step(c, limit, mode == RX_HEADER);
  }
  if (rc > 0)
    return 0;
  if (rc == MPCONN_EBADFDS && mode != RX_PEEK)
    rx->fds_refused = false;
  if (rc == MPCONN_ETIMEDOUT || rc == MPCONN_ENOMEM || rc == rx->err ||
      rc == MPCONN_EFDPENDING || rc == MPCONN_EBADFDS)
    return rc;
  /* A read error (ECONNRESET, EIO, ...) is reported once: by this call,
   * or, when only waiting, by the next receive. */
  rx->pending = mode == RX_PEEK ? rc : 0;
  return rc;
}

int mpconn__rx_next(mpconn *c, size_t limit, int timeout_ms,
                    struct mpconn__frame *f) {
  /* A frame already buffered: no timer, no loop. */
  if (rx_step(c, limit, false) <= 0) {
    struct mpconn__timer t = mpconn__timer(timeout_ms);
    int rc = rx_wait(c, limit, RX_FRAME, &t);
    if (rc < 0)
      return rc;
  }
  struct mpconn_rx *rx = &c->rx;
  if (rx->frame_refused) {
    mpconn__rx_consume(c);
    return MPCONN_EBADFDS;
  }
  f->len = (size_t)rx->plen;
  f->hlen = rx->hlen;
  f->own = rx->big;
  f->payload = payload(rx);
  f->fd = rx->frame_fd;
  return 0;
}

/* The complete frame is gone: so is what came with it. */
static void frame_done(struct mpconn_rx *rx) {
  rx->have_header = false;
  rx->frame_refused = false;
  if (rx->frame_fd >= 0)
    close(rx->frame_fd);
  rx->frame_fd = -1;
}

void mpconn__rx_consume(mpconn *c) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->big)
    drop_big(rx);
  else
    rx->start += rx->hlen + (size_t)rx->plen;
  frame_done(rx);
}

int mpconn__rx_take_fd(mpconn *c) {
  int fd = c->rx.frame_fd;
  c->rx.frame_fd = -1;
  return fd;
}

uint8_t *mpconn__rx_take(mpconn *c, uint8_t *dst) {
  struct mpconn_rx *rx = &c->rx;
  uint8_t *p = rx->big;
  if (p) {
    rx->big = NULL;
    rx->big_have = rx->big_cap = 0;
    frame_done(rx);
    return p;
  }
  size_t n = (size_t)rx->plen;
  if (!dst && !(dst = malloc(n ? n : 1)))
    return NULL;
  if (n)
    memcpy(dst, payload(rx), n);
  mpconn__rx_consume(c);
  return dst;
}

/*
 * After rx_wait() in header mode: read a large frame's payload straight
 * into dst (room for plen bytes), with no buffer in between.  1 when done,
 * 0 when the frame is not such a case (it fits the chunk buffer, or a part
 * already sits in its own allocation), or a negative code.  On a timeout
 * or a read error the bytes already in dst are kept, so the next receive
 * goes on where this one stopped.
 */
static int rx_direct(mpconn *c, uint8_t *dst, struct mpconn__timer *t) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->big || fits_chunk(rx))
    return 0;
  size_t plen = (size_t)rx->plen;
  rx->start += rx->hlen;
  /* The chunk buffer holds less than the frame: all of it is payload. */
  size_t have = rx->end - rx->start;
  memcpy(dst, rx->buf + rx->start, have);
  rx->start = rx->end;
  while (have < plen) {
    ssize_t n = rx_read(c, dst + have, plen - have, mpconn__timer_deadline(t));
    if (n > 0) {
      have += (size_t)n;
      continue;
    }
    if (n == 0)
      return fail(rx, MPCONN_ETRUNCATED);
    if (grow_big(rx, big_size(rx, have)) < 0)
      /* the partial frame cannot be kept: the stream is lost */
      return fail(rx, MPCONN_ENOMEM);
    memcpy(rx->big, dst, have);
    rx->big_have = have;
    return (int)n;
  }
  frame_done(rx);
  return 1;
}

int mpconn__rx_read_into(mpconn *c, uint8_t *buf, size_t size, size_t *len,
                         int timeout_ms) {
  struct mpconn__timer t = mpconn__timer(timeout_ms);
  int rc = rx_wait(c, c->max_size, RX_HEADER, &t);
  if (rc < 0)
    return rc;
  size_t n = (size_t)c->rx.plen;
  if (c->rx.plen > size) {
    *len = n;
    return MPCONN_ETOOSHORT;
  }
  uint64_t end = c->rx.frame_pos + c->rx.hlen + c->rx.plen;
  rc = rx_direct(c, buf, &t);
  if (rc == 1) {
    /* Read past the chunk buffer: descriptors that came inside it. */
    bool refused = false;
    while (c->rx.nmarks && c->rx.marks[0].pos < end) {
      refuse_mark(&c->rx);
      refused = true;
    }
    c->rx.fds_refused = false;
    if (refused)
      return MPCONN_EBADFDS;
  }
  if (rc == 0) {
    rc = rx_wait(c, c->max_size, RX_FRAME, &t);
    if (rc == 0 && c->rx.frame_refused) {
      mpconn__rx_consume(c);
      return MPCONN_EBADFDS;
    }
    if (rc == 0 && n)
      memcpy(buf, payload(&c->rx), n);
    if (rc == 0)
      mpconn__rx_consume(c);
  }
  if (rc < 0)
    return rc;
  *len = n;
  return 0;
}

/* Without I/O: 1 when the next byte carries descriptors, 0 when it has
 * not arrived, or a code (see mpconn__rx_fds()). */
static int fd_step(mpconn *c) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->err)
    return rx->err;
  if (rx->pending) {
    int rc = rx->pending;
    rx->pending = 0;
    return rc;
  }
  if (rx->have_header)
    return MPCONN_ENOFD; /* a frame has begun */
  drop_stale(rx);
  if (rx->fds_refused) {
    rx->fds_refused = false;
    return MPCONN_EBADFDS;
  }
  if (rx->start == rx->end)
    return 0;
  if (!rx->nmarks || rx->marks[0].pos != offset(rx))
    return MPCONN_ENOFD;
  return place_lost(rx) ? lose_place(rx) : 1;
}

int mpconn__rx_fds(mpconn *c, int *fds, unsigned *n, int timeout_ms) {
  struct mpconn_rx *rx = &c->rx;
  struct mpconn__timer t = mpconn__timer(timeout_ms);
  int rc;
  while ((rc = fd_step(c)) == 0) {
    rc = rx_fill(c, mpconn__timer_deadline(&t));
    if (rc < 0)
      return rc;
  }
  if (rc < 0)
    return rc;
  /* multiprocessing.reduction's byte: the count, mod 256. */
  const struct mpconn__fdmark *m = &rx->marks[0];
  bool counted = !m->truncated && rx->buf[rx->start] == (uint8_t)(m->n % 256);
  rx->start++;
  if (!counted) {
    refuse_mark(rx);
    rx->fds_refused = false;
    return MPCONN_EBADFDS;
  }
  memcpy(fds, m->fds, m->n * sizeof(int));
  *n = m->n;
  shift_mark(rx);
  return 0;
}

int mpconn__rx_poll(mpconn *c, int timeout_ms) {
  struct mpconn__timer t = mpconn__timer(timeout_ms);
  int rc = rx_wait(c, c->max_size, RX_PEEK, &t);
  if (rc == MPCONN_ETIMEDOUT)
    return 0;
  if (rc == 0 || rc == c->rx.err || rc == c->rx.pending ||
      rc == MPCONN_EFDPENDING || rc == MPCONN_EBADFDS)
    return 1;
  return rc;
}

int mpconn__rx_ready(mpconn *c) {
  int rc = rx_step(c, c->max_size, false);
  /* Through shared rings, looking at the ring costs no system call. */
  while (rc == 0 && c->ring) {
    ssize_t n = rx_pull(c);
    if (n <= 0)
      return (int)n;
    rc = rx_step(c, c->max_size, false);
  }
  return rc;
}

bool mpconn__rx_open(const mpconn *c) { return c->rx.err == 0; }

bool mpconn__rx_busy(const mpconn *c) {
  const struct mpconn_rx *rx = &c->rx;
  return rx->start != rx->end || rx->have_header || rx->big || rx->nmarks ||
         rx->frame_fd >= 0;
}

void mpconn__rx_set_exact(mpconn *c, bool exact) { c->rx.exact = exact; }

void mpconn__rx_init(struct mpconn_rx *rx) { rx->frame_fd = -1; }

void mpconn__rx_release(struct mpconn_rx *rx) {
  while (rx->nmarks)
    refuse_mark(rx);
  frame_done(rx);
  drop_big(rx);
  free(rx->buf);
  rx->buf = NULL;
  rx->start = rx->end = 0;
}
