/* SPDX-License-Identifier: MIT */
/*
 * The wire format of multiprocessing.connection (Unix): a 4-byte big-endian
 * signed length, or -1 followed by an 8-byte big-endian length, then the
 * payload.  This file encodes headers and runs the receive state machine.
 */
#include "mpconn-private.h"

#include <stdlib.h>
#include <string.h>

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

static uint64_t be_load(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

void mpconn__rx_reset(struct mpconn_rx *rx) {
  free(rx->big);
  rx->big = NULL;
  rx->big_have = 0;
  rx->have_header = false;
}

static int fail(struct mpconn_rx *rx, int err) {
  mpconn__rx_reset(rx);
  rx->err = err;
  return err;
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
  const uint8_t *p = rx->buf + rx->start;
  int32_t n = (int32_t)(uint32_t)be_load(p, 4);
  if (n >= 0) {
    rx->hlen = 4;
    rx->plen = (uint64_t)n;
  } else if (n == -1) {
    if (have < 12)
      return 0;
    rx->hlen = 12;
    rx->plen = be_load(p + 4, 8);
  } else {
    return fail(rx, MPCONN_EBADFRAME);
  }
  rx->have_header = true;
  return 1;
}

/*
 * Move a large frame's payload out of the chunk buffer into its own
 * allocation, which later reads fill directly.
 */
static int start_big(struct mpconn_rx *rx) {
  if (rx->plen > SIZE_MAX)
    return MPCONN_ENOMEM;
  rx->big = malloc((size_t)rx->plen);
  if (!rx->big)
    return MPCONN_ENOMEM;
  rx->start += rx->hlen;
  size_t have = rx->end - rx->start;
  if (have > rx->plen) /* cannot happen: reads stop at the frame */
    have = (size_t)rx->plen;
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
    int rc = parse_header(rx);
    if (rc <= 0)
      return rc;
  }
  if (rx->plen > limit)
    return fail(rx, MPCONN_ETOOBIG);
  if (header_only)
    return 1;
  if (rx->big)
    return rx->big_have == rx->plen;
  if (fits_chunk(rx))
    return rx->end - rx->start >= rx->hlen + rx->plen;
  int rc = start_big(rx);
  if (rc < 0)
    return rc;
  return rx->big_have == rx->plen;
}

/* One read into the right place: the big frame, or the chunk buffer. */
static int rx_fill(mpconn *c, int64_t deadline) {
  struct mpconn_rx *rx = &c->rx;
  uint8_t *dst;
  size_t room;
  if (rx->big) {
    dst = rx->big + rx->big_have;
    room = (size_t)rx->plen - rx->big_have;
  } else {
    if (!rx->buf) {
      rx->buf = malloc(MPCONN_RX_CHUNK);
      if (!rx->buf)
        return MPCONN_ENOMEM;
    }
    /* Keep the frame being assembled contiguous: move it to the front. */
    size_t need = rx->have_header ? rx->hlen + (size_t)rx->plen
                                  : MPCONN_HEADER_MAX;
    if (rx->start == rx->end) {
      rx->start = rx->end = 0;
    } else if (MPCONN_RX_CHUNK - rx->start < need) {
      memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
      rx->end -= rx->start;
      rx->start = 0;
    }
    dst = rx->buf + rx->end;
    room = MPCONN_RX_CHUNK - rx->end;
  }
  ssize_t n = mpconn__read(c->rfd, dst, room, deadline);
  if (n < 0)
    return (int)n;
  if (n == 0) {
    bool partial = rx->big || rx->end > rx->start;
    return fail(rx, partial ? MPCONN_ETRUNCATED : MPCONN_EOF);
  }
  if (rx->big)
    rx->big_have += (size_t)n;
  else
    rx->end += (size_t)n;
  return 0;
}

/*
 * Wait until the next frame is complete (or, with header_only, its
 * header).  limit: the largest payload accepted.  0 or a negative code.
 */
int mpconn__rx_next(mpconn *c, size_t limit, enum mpconn_rx_mode mode,
                    int64_t deadline) {
  struct mpconn_rx *rx = &c->rx;
  int rc;
  while ((rc = rx_step(c, limit, mode == MPCONN_RX_HEADER)) == 0) {
    rc = rx_fill(c, deadline);
    if (rc < 0)
      break;
  }
  if (rc > 0)
    return 0;
  if (rc == MPCONN_ETIMEDOUT || rc == MPCONN_ENOMEM || rc == rx->err)
    return rc;
  /* A read error (ECONNRESET, EIO, ...) is reported once: by this call,
   * or, when only waiting, by the next receive. */
  rx->pending = mode == MPCONN_RX_PEEK ? rc : 0;
  return rc;
}

/*
 * After mpconn__rx_next() in header mode: read a large frame's payload
 * straight into dst (room for plen bytes), with no buffer in between.  1
 * when done, 0 when the frame is not such a case (it fits the chunk
 * buffer, or a part already sits in its own allocation), or a negative
 * code.  On a timeout or a read error the bytes already in dst are kept,
 * so the next receive goes on where this one stopped.
 */
int mpconn__rx_direct(mpconn *c, uint8_t *dst, int64_t deadline) {
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
    ssize_t n = mpconn__read(c->rfd, dst + have, plen - have, deadline);
    if (n > 0) {
      have += (size_t)n;
      continue;
    }
    if (n == 0)
      return fail(rx, MPCONN_ETRUNCATED);
    rx->big = malloc(plen);
    if (!rx->big) /* the partial frame cannot be kept: the stream is lost */
      return fail(rx, MPCONN_ENOMEM);
    memcpy(rx->big, dst, have);
    rx->big_have = have;
    return (int)n;
  }
  rx->have_header = false;
  return 1;
}

/* Without I/O: 1 when a whole frame is buffered, 0 if not, or the error a
 * receive would return at once. */
int mpconn__rx_ready(mpconn *c) { return rx_step(c, c->max_size, false); }
