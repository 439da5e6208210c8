/* SPDX-License-Identifier: MIT */
/*
 * frame.c — the wire format of multiprocessing.connection, and a
 * connection's receive state, which no other file touches: they ask for
 * the next whole frame, then take it, copy it or consume it.
 */
#ifndef MPCONN_FRAME_H
#define MPCONN_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

typedef struct mpconn mpconn;

/* Size of the per-connection receive buffer: one read() takes this much. */
#define MPCONN_RX_CHUNK ((size_t)64 * 1024)
/* Largest frame header: -1 then an 8-byte length. */
#define MPCONN_HEADER_MAX 12

/* The unsigned big-endian integer of @n bytes at @p. */
static inline uint64_t mpconn__load_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* Write the header of a @len-byte payload: its length, 4 or 12. */
size_t mpconn__header_encode(uint8_t out[MPCONN_HEADER_MAX], uint64_t len);
/*
 * Read a header from the @have bytes at @p (which may be NULL when @have
 * is 0): 1 with *@hlen and *@plen set, 0 when more bytes are needed, or
 * MPCONN_EBADFRAME for a negative length other than -1.
 */
int mpconn__header_decode(const uint8_t *p, size_t have, size_t *hlen,
                          uint64_t *plen);

/*
 * A connection's receive state; only frame.c looks inside.  Unread bytes
 * are buf[start, end).  Once the header of the next frame is parsed
 * (have_header), hlen and plen describe it.  A frame that fits in the
 * chunk buffer is assembled there; a larger one in its own allocation
 * (big), which grows with the bytes that arrive, up to the announced
 * length, and which a receive hands over without copying.
 */
/* Descriptors that came with a read, and the stream offset of the byte
 * they came with (the last byte of that read). */
struct mpconn__fdmark {
  uint64_t pos;
  unsigned n;
  bool truncated;
  bool full; /* the read ended because its room did, maybe inside the
                bytes the descriptors came with */
  int fds[MPCONN_FDS_PER_READ];
};

/* Marks kept at most; more are closed and reported (a peer sending
 * descriptors with bytes the receiver has not reached). */
#define MPCONN_FDMARKS_MAX 8

struct mpconn_rx {
  uint8_t *buf;
  size_t start, end;
  uint64_t nread;     /* bytes read from the descriptor so far */
  uint64_t frame_pos; /* the stream offset of the next frame's header */
  bool have_header;
  size_t hlen;
  uint64_t plen;
  uint8_t *big;
  size_t big_have, big_cap;
  int err;     /* sticky error; 0 when none */
  int pending; /* a read error seen while waiting, for the next receive */
  /* Descriptors received and not yet handed out (Unix sockets only). */
  struct mpconn__fdmark marks[MPCONN_FDMARKS_MAX];
  unsigned nmarks;
  bool fds_refused;   /* descriptors came where none belong: report it */
  bool frame_refused; /* ... with the complete frame: it is refused too */
  int frame_fd;       /* the descriptor the complete frame came with, -1 */
  /* Read no byte past the frame being assembled: set during a handshake,
   * so that what the peer sends after it stays in the descriptor and the
   * connection can be handed to another process. */
  bool exact;
};

/* A whole frame, as mpconn__rx_next() found it.  Borrowed until it is
 * taken or consumed. */
struct mpconn__frame {
  const uint8_t *payload;
  size_t len;  /* of the payload */
  size_t hlen; /* of the header it came with */
  /* The payload's own allocation, which mpconn__rx_take() hands over
   * without copying; NULL when the payload sits in the chunk buffer. */
  uint8_t *own;
  /* The descriptor that came with the frame (a shared-memory message), or
   * -1; mpconn__rx_take_fd() takes it. */
  int fd;
};

/*
 * Wait up to @timeout_ms for the next whole frame whose payload is at most
 * @limit bytes, and describe it in *@f.  A frame already buffered is
 * returned without reading the clock.  0 or a negative code: MPCONN_EOF,
 * MPCONN_ETRUNCATED, MPCONN_ETOOBIG, MPCONN_EBADFRAME (these four are
 * sticky), MPCONN_ETIMEDOUT (what arrived is kept), MPCONN_ENOMEM, or a
 * read error, reported once.
 */
int mpconn__rx_next(mpconn *c, size_t limit, int timeout_ms,
                    struct mpconn__frame *f);
/* Hand the frame over and consume it: its own allocation, or else a copy
 * in @dst (room for f->len bytes) or, when @dst is NULL, in a new
 * allocation.  NULL only when that allocation fails; the frame stays. */
uint8_t *mpconn__rx_take(mpconn *c, uint8_t *dst);
/* Drop the frame (and close a descriptor that came with it). */
void mpconn__rx_consume(mpconn *c);
/* Take the descriptor the frame came with: -1 when none. */
int mpconn__rx_take_fd(mpconn *c);
/*
 * Wait up to @timeout_ms for descriptors sent as multiprocessing.reduction
 * sends them (one byte, their count, carrying them) and take them: 0 with
 * @fds[0, *@n) (room for MPCONN_FDS_PER_READ) close-on-exec and the
 * caller's; MPCONN_ENOFD (a frame comes next: nothing is consumed);
 * MPCONN_EBADFDS (a byte that does not count them, or more than the
 * kernel could pass: the byte is consumed and the descriptors closed); or
 * as mpconn__rx_next().
 */
int mpconn__rx_fds(mpconn *c, int *fds, unsigned *n, int timeout_ms);
/*
 * Receive the next frame's payload into @buf of @size bytes: large frames
 * are read straight into it.  0 with *@len set; MPCONN_ETOOSHORT with
 * *@len the payload length (the frame stays); or as mpconn__rx_next().
 */
int mpconn__rx_read_into(mpconn *c, uint8_t *buf, size_t size, size_t *len,
                         int timeout_ms);
/*
 * Wait up to @timeout_ms until a receive would not block: 1 when a whole
 * frame is buffered or a receive would fail at once (a read error met
 * here is kept for the next receive), 0 on timeout, or a negative code.
 */
int mpconn__rx_poll(mpconn *c, int timeout_ms);
/* The same without any system call: only what is buffered counts. */
int mpconn__rx_ready(mpconn *c);
/* Whether receives may still return messages: no end of file or sticky
 * error met yet. */
bool mpconn__rx_open(const mpconn *c);
/* Whether anything has been read and not handed out yet. */
bool mpconn__rx_busy(const mpconn *c);
/* A new connection's receive state (zeroed before). */
void mpconn__rx_init(struct mpconn_rx *rx);
/* Read no byte past the frame being assembled (@exact) or read ahead in
 * chunks, as usual: the handshake reads its messages exactly. */
void mpconn__rx_set_exact(mpconn *c, bool exact);
/* Release the receive state's memory and close descriptors received and
 * not handed out (the connection is closing). */
void mpconn__rx_release(struct mpconn_rx *rx);

#endif
