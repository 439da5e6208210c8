/* SPDX-License-Identifier: MIT */
/*
 * The send side: the write buffer values are packed into, frames of raw
 * bytes, values packed in place into a connection's send buffer (by
 * mpconn_pack_begin(), mpconn_send() and mpconn_sendf(), all through
 * mpconn__pack_start()), and corking, which gathers small frames into one
 * write.  Uncorked and blocking, the send buffer holds at most the frame
 * being packed and is written as soon as it ends.
 *
 * With a send timeout (mpconn_set_send_timeout()) a send never leaves
 * half a frame behind: it first makes sure the whole frame will be taken
 * (the buffer has room under its cap, or is empty; waiting for room up to
 * the timeout), then writes what the descriptor takes now and keeps the
 * rest in the send buffer, for mpconn_flush() or the next send.  Large
 * bodies are then always copied: they must outlive the call.
 */
#include "mpconn-private.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* A send buffer grown past this is released once it has been written. */
#define TX_KEEP ((size_t)1024 * 1024)
/* Corked, the buffer is written when it holds this much. */
#define TX_FLUSH_AT ((size_t)64 * 1024)
/* Corked, a payload this large is not copied into the buffer. */
#define TX_COPY_MAX ((size_t)16 * 1024)
/* mpconn_send() writes a body this large from where it is. */
#define TX_BORROW_MIN ((size_t)16 * 1024)

/* ------------------------------------------------------------------------ */
/* The write buffer                                                         */
/* ------------------------------------------------------------------------ */

void mpconn__wbuf_init(struct mpconn__wbuf *b, uint8_t *local, size_t size) {
  *b = (struct mpconn__wbuf){
      .p = local, .cap = size, .local = local, .local_size = size};
}

bool mpconn__wbuf_grow(struct mpconn__wbuf *b, size_t len) {
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < len) {
    if (cap > SIZE_MAX / 2)
      return false;
    cap *= 2;
  }
  uint8_t *p;
  if (b->p && b->p == b->local) {
    p = malloc(cap);
    if (p && b->len)
      memcpy(p, b->local, b->len);
  } else {
    p = realloc(b->p, cap);
  }
  if (!p)
    return false;
  b->p = p;
  b->cap = cap;
  return true;
}

__attribute__((noinline)) int
mpconn__wbuf_append_slow(struct mpconn__wbuf *b, const void *p, size_t len) {
  if (b->oom || !mpconn__wbuf_grow(b, len)) {
    b->oom = true;
    return -1;
  }
  memcpy(b->p + b->len, p, len);
  b->len += len;
  return 0;
}

void mpconn__wbuf_free(struct mpconn__wbuf *b) {
  if (b->p != b->local)
    free(b->p);
  b->p = b->local;
  b->cap = b->local_size;
  b->len = 0;
  b->oom = false;
}

int mpconn__wbuf_write(void *data, const char *buf, size_t len) {
  return mpconn__wbuf_append(data, buf, len);
}

/* ------------------------------------------------------------------------ */
/* Frames                                                                   */
/* ------------------------------------------------------------------------ */

/* msgpack-c's write callback for a connection, called for every header and
 * body of a value being packed. */
static int tx_append(void *data, const char *buf, size_t len) {
  struct mpconn_tx *tx = data;
  if (len >= TX_BORROW_MIN && tx->borrow &&
      tx->nborrowed < MPCONN_TX_BORROW_MAX) {
    tx->borrowed[tx->nborrowed].at = tx->b.len;
    tx->borrowed[tx->nborrowed].p = buf;
    tx->borrowed[tx->nborrowed].len = len;
    tx->nborrowed++;
    return 0;
  }
  return mpconn__wbuf_append(&tx->b, buf, len);
}

void mpconn__tx_release(struct mpconn_tx *tx) {
  mpconn__wbuf_free(&tx->b);
  tx->frame = 0;
  tx->packing = false;
  tx->borrow = false;
  tx->nborrowed = 0;
}

/* Write all of @iov (modified), waiting for room: to the descriptor, or
 * into the outbound ring of a ring pair. */
static int out_all(mpconn *c, struct iovec *iov, int n) {
  if (c->ring) {
    size_t written;
    return mpconn__ringconn_write(c, iov, n, MPCONN_FOREVER, &written);
  }
  return mpconn__writev_all(c->wfd, c->wsock, iov, n);
}

/* Write what fits now of @iov: the bytes written, or a code. */
static ssize_t out_some(mpconn *c, struct iovec *iov, int n) {
  if (c->ring) {
    size_t written;
    int rc = mpconn__ringconn_write(c, iov, n, 0, &written);
    return rc < 0 ? rc : (ssize_t)written;
  }
  return mpconn__write_some(c->wfd, c->wsock, iov, n);
}

/* Wait until some of the send buffer can go: 1, or MPCONN_ETIMEDOUT... */
static int wait_writable(mpconn *c, int64_t deadline) {
  if (c->ring) {
    int rc = mpconn__ringconn_wait_room(c, deadline);
    return rc < 0 ? rc : 1;
  }
  return mpconn__wait_fd(c->wfd, POLLOUT, deadline);
}

/* Drop the first @n bytes of the send buffer, which have been written. */
static void tx_drop(struct mpconn_tx *tx, size_t n) {
  memmove(tx->b.p, tx->b.p + n, tx->b.len - n);
  tx->b.len -= n;
  if (tx->frame >= n)
    tx->frame -= n;
}

/* A broken stream: nothing can be resent. */
static int tx_broken(struct mpconn_tx *tx, int rc) {
  tx->b.len = 0;
  tx->nborrowed = 0;
  if (tx->b.cap > TX_KEEP)
    mpconn__tx_release(tx);
  return rc;
}

/* Without waiting: write the first @n bytes of the send buffer, or what of
 * them the descriptor takes now. */
static int tx_write_some(mpconn *c, size_t n) {
  struct mpconn_tx *tx = &c->tx;
  if (n == 0)
    return 0;
  struct iovec iov = {.iov_base = tx->b.p, .iov_len = n};
  ssize_t w = out_some(c, &iov, 1);
  if (w < 0)
    return tx_broken(tx, (int)w);
  tx_drop(tx, (size_t)w);
  return 0;
}

/* How much of the send buffer is whole frames waiting to be written. */
static size_t tx_pending(const struct mpconn_tx *tx) {
  return tx->packing ? tx->frame : tx->b.len;
}

/*
 * With a send timeout, before a frame of @need bytes is taken: 0 when the
 * @before bytes already waiting leave room for it under the cap (or are
 * none); else MPCONN_EAGAIN (timeout 0), or, having written what was
 * waiting as the descriptor let it, MPCONN_ETIMEDOUT.  Only those bytes
 * are written, none of the new frame.
 */
static int tx_admit(mpconn *c, size_t before, size_t need) {
  struct mpconn_tx *tx = &c->tx;
  int64_t deadline = 0;
  bool started = false;
  for (;;) {
    if (before == 0 || (need <= c->send_cap && before <= c->send_cap - need))
      return 0;
    size_t left = tx->b.len;
    int rc = tx_write_some(c, before);
    if (rc < 0)
      return rc;
    before -= left - tx->b.len;
    if (left != tx->b.len)
      continue; /* some went: look again */
    if (c->send_timeout == 0)
      return MPCONN_EAGAIN;
    if (!started) {
      deadline = mpconn__deadline(c->send_timeout);
      started = true;
    }
    rc = wait_writable(c, deadline);
    if (rc < 0)
      return rc;
  }
}

/* With a send timeout: write what the descriptor takes now of the buffer
 * and of iov[0..n), and keep the rest of iov in the buffer, which has room
 * for it (tx_reserve_extra()). */
static int tx_write_nowait(mpconn *c, struct iovec *extra, int n) {
  struct mpconn_tx *tx = &c->tx;
  struct iovec iov[3];
  int k = 0;
  size_t held = tx->b.len;
  if (held)
    iov[k++] = (struct iovec){.iov_base = tx->b.p, .iov_len = held};
  for (int i = 0; i < n; i++)
    if (extra[i].iov_len)
      iov[k++] = extra[i];
  if (k == 0)
    return 0;
  struct iovec copy[3];
  memcpy(copy, iov, sizeof(iov));
  ssize_t w = out_some(c, copy, k);
  if (w < 0)
    return tx_broken(tx, (int)w);
  size_t done = (size_t)w;
  size_t from_buf = done < held ? done : held;
  tx_drop(tx, from_buf);
  done -= from_buf;
  for (int i = held ? 1 : 0; i < k; i++) {
    size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;
    done -= skip;
    /* Room was made before anything was written: this cannot fail. */
    mpconn__wbuf_append(&tx->b, (uint8_t *)iov[i].iov_base + skip,
                        iov[i].iov_len - skip);
  }
  return 0;
}

/* Write the buffer, with the borrowed bodies in their places, and, after
 * it, iov[0..n).  The buffer is emptied even on failure: the stream is
 * broken then and nothing can be resent. */
static int tx_write(mpconn *c, struct iovec *extra, int n) {
  struct mpconn_tx *tx = &c->tx;
  if (c->send_timeout >= 0)
    return tx_write_nowait(c, extra, n);
  struct iovec iov[2 * MPCONN_TX_BORROW_MAX + 3];
  int k = 0;
  size_t from = 0;
  for (unsigned i = 0; i < tx->nborrowed; i++) {
    size_t at = tx->borrowed[i].at;
    if (at > from)
      iov[k++] =
          (struct iovec){.iov_base = tx->b.p + from, .iov_len = at - from};
    iov[k++] = (struct iovec){.iov_base = (void *)tx->borrowed[i].p,
                              .iov_len = tx->borrowed[i].len};
    from = at;
  }
  if (tx->b.len > from)
    iov[k++] =
        (struct iovec){.iov_base = tx->b.p + from, .iov_len = tx->b.len - from};
  for (int i = 0; i < n; i++)
    if (extra[i].iov_len)
      iov[k++] = extra[i];
  int rc = k ? out_all(c, iov, k) : 0;
  tx->b.len = 0;
  tx->nborrowed = 0;
  if (tx->b.cap > TX_KEEP)
    mpconn__tx_release(tx);
  return rc;
}

/* Whether a payload of @len bytes goes through shared memory. */
static bool by_shm(const mpconn *c, size_t len) {
  return c->shm_threshold && len >= c->shm_threshold && c->wunix && !c->ring;
}

int mpconn__tx_send_fd_frame(mpconn *c, const void *frame, size_t len, int fd) {
  int rc = mpconn_flush(c);
  if (rc < 0)
    return rc;
  struct iovec iov = {.iov_base = (void *)frame, .iov_len = len};
  return mpconn__send_fds(c->wfd, &iov, 1, &fd, 1, c->send_timeout < 0);
}

int mpconn__tx_send(mpconn *c, const void *data, size_t len) {
  struct mpconn_tx *tx = &c->tx;
  if (by_shm(c, len)) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return mpconn__memfd_send(c, &iov, 1, len);
  }
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, len);
  if (c->send_timeout >= 0) {
    int rc = tx_admit(c, tx->b.len, hlen + len);
    if (rc < 0)
      return rc;
    /* Room for all of it, should the descriptor take none. */
    if (!mpconn__wbuf_reserve(&tx->b, hlen + len))
      return MPCONN_ENOMEM;
  }
  if (tx->corked && len <= TX_COPY_MAX &&
      mpconn__wbuf_reserve(&tx->b, hlen + len)) {
    memcpy(tx->b.p + tx->b.len, hdr, hlen);
    if (len)
      memcpy(tx->b.p + tx->b.len + hlen, data, len);
    tx->b.len += hlen + len;
    return tx->b.len >= TX_FLUSH_AT ? tx_write(c, NULL, 0) : 0;
  }
  struct iovec iov[2] = {
      {.iov_base = hdr, .iov_len = hlen},
      {.iov_base = (void *)data, .iov_len = len},
  };
  return tx_write(c, iov, 2);
}

int mpconn_send_bytes(mpconn *c, const void *data, size_t len) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  if (!data && len)
    return MPCONN_EINVAL;
  return mpconn__tx_send(c, data, len);
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

int mpconn__pack_start(mpconn *c, msgpack_packer **pk, bool borrow) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  if (!pk)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  tx->b.oom = false;
  tx->borrow = false;
  tx->nborrowed = 0;
  tx->frame = tx->b.len;
  static const char room[4];
  if (tx_append(tx, room, sizeof(room)) < 0)
    return MPCONN_ENOMEM;
  tx->packing = true;
  /* With a send timeout the frame may outlive the call. */
  tx->borrow = borrow && c->send_timeout < 0;
  msgpack_packer_init(&tx->pk, tx, tx_append);
  *pk = &tx->pk;
  return 0;
}

int mpconn_pack_begin(mpconn *c, msgpack_packer **pk) {
  return mpconn__pack_start(c, pk, false);
}

void mpconn_pack_abort(mpconn *c) {
  if (!c || !c->tx.packing)
    return;
  c->tx.packing = false;
  c->tx.borrow = false;
  c->tx.nborrowed = 0; /* only the frame being packed borrows */
  c->tx.b.len = c->tx.frame;
}

/* The value just packed goes through shared memory: its bytes (and
 * borrowed bodies, in their places) into a memfd, then out of the send
 * buffer. */
static int shm_packed(mpconn *c, size_t plen) {
  struct mpconn_tx *tx = &c->tx;
  struct iovec iov[2 * MPCONN_TX_BORROW_MAX + 1];
  int k = 0;
  size_t from = tx->frame + 4;
  for (unsigned i = 0; i < tx->nborrowed; i++) {
    size_t at = tx->borrowed[i].at;
    if (at > from)
      iov[k++] =
          (struct iovec){.iov_base = tx->b.p + from, .iov_len = at - from};
    iov[k++] = (struct iovec){.iov_base = (void *)tx->borrowed[i].p,
                              .iov_len = tx->borrowed[i].len};
    from = at;
  }
  if (tx->b.len > from)
    iov[k++] =
        (struct iovec){.iov_base = tx->b.p + from, .iov_len = tx->b.len - from};
  size_t total = plen;
  for (unsigned i = 0; i < tx->nborrowed; i++)
    total += tx->borrowed[i].len;
  /* The value leaves the send buffer (iov still points at its bytes,
   * which stay where they are until the buffer is written to again);
   * frames held before it go first, then the memfd's frame. */
  tx->b.len = tx->frame;
  tx->packing = false;
  tx->borrow = false;
  tx->nborrowed = 0;
  return mpconn__memfd_send(c, iov, k, total);
}

int mpconn_pack_end(mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (!tx->packing)
    return MPCONN_EINVAL;
  if (tx->b.oom) {
    mpconn_pack_abort(c);
    return MPCONN_ENOMEM;
  }
  size_t borrowed = 0;
  for (unsigned i = 0; i < tx->nborrowed; i++)
    borrowed += tx->borrowed[i].len;
  size_t plen = tx->b.len - tx->frame - 4;
  if (by_shm(c, plen + borrowed))
    return shm_packed(c, plen);
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, plen + borrowed);
  if (hlen > 4) {
    /* Over 2 GiB: the long header needs 8 more bytes before the payload. */
    if (!mpconn__wbuf_reserve(&tx->b, hlen - 4)) {
      mpconn_pack_abort(c);
      return MPCONN_ENOMEM;
    }
    uint8_t *payload = tx->b.p + tx->frame + 4;
    memmove(payload + hlen - 4, payload, plen);
    tx->b.len += hlen - 4;
    for (unsigned i = 0; i < tx->nborrowed; i++)
      tx->borrowed[i].at += hlen - 4;
  }
  memcpy(tx->b.p + tx->frame, hdr, hlen);
  if (c->send_timeout >= 0) {
    int rc = tx_admit(c, tx->frame, tx->b.len - tx->frame);
    if (rc < 0) {
      mpconn_pack_abort(c);
      return rc;
    }
  }
  tx->packing = false;
  tx->borrow = false;
  /* Borrowed bodies are the caller's only for this call: written now. */
  if (tx->corked && tx->b.len < TX_FLUSH_AT && !tx->nborrowed)
    return 0;
  return tx_write(c, NULL, 0);
}

int mpconn_send(mpconn *c, const msgpack_object *v) {
  if (!v)
    return MPCONN_EINVAL;
  msgpack_packer *pk;
  /* @v lives until this call returns: its large bodies need no copy. */
  int rc = mpconn__pack_start(c, &pk, true);
  if (rc < 0)
    return rc;
  msgpack_pack_object(pk, *v);
  return mpconn_pack_end(c);
}

int mpconn_sendf(mpconn *c, const char *fmt, ...) {
  msgpack_packer *pk;
  int rc = mpconn__pack_start(c, &pk, false);
  if (rc < 0)
    return rc;
  va_list ap;
  va_start(ap, fmt);
  rc = mpconn_vpackf(pk, NULL, fmt, ap);
  va_end(ap);
  if (rc < 0) {
    mpconn_pack_abort(c);
    return rc;
  }
  return mpconn_pack_end(c);
}

int mpconn_vsendf(mpconn *c, mpconn_error *err, const char *fmt, va_list ap) {
  msgpack_packer *pk;
  int rc = mpconn__pack_start(c, &pk, false);
  if (rc < 0)
    return mpconn__err_status(err, rc);
  /* mpconn_vpackf() fills @err itself, a failure with its path. */
  rc = mpconn_vpackf(pk, err, fmt, ap);
  if (rc < 0) {
    mpconn_pack_abort(c);
    return rc;
  }
  return mpconn__err_status(err, mpconn_pack_end(c));
}

int mpconn_sendf_ex(mpconn *c, mpconn_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vsendf(c, err, fmt, ap);
  va_end(ap);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Corking                                                                  */
/* ------------------------------------------------------------------------ */

int mpconn_cork(mpconn *c, bool on) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  c->tx.corked = on;
  return on ? 0 : tx_write(c, NULL, 0);
}

/* With a send timeout: write what the send buffer holds, waiting up to the
 * timeout; MPCONN_EAGAIN (timeout 0) or MPCONN_ETIMEDOUT if some is left. */
static int tx_drain(mpconn *c) {
  int64_t deadline = mpconn__deadline(c->send_timeout);
  for (;;) {
    int rc = tx_write_some(c, c->tx.b.len);
    if (rc < 0 || c->tx.b.len == 0)
      return rc;
    if (c->send_timeout == 0)
      return MPCONN_EAGAIN;
    rc = wait_writable(c, deadline);
    if (rc < 0)
      return rc;
  }
}

int mpconn_flush(mpconn *c) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  return c->send_timeout < 0 ? tx_write(c, NULL, 0) : tx_drain(c);
}

size_t mpconn__tx_queued(const mpconn *c) { return tx_pending(&c->tx); }

int mpconn__tx_flush_at_close(mpconn *c) {
  mpconn_pack_abort(c);
  if (c->wfd < 0 || c->tx.b.len == 0)
    return 0;
  if (c->send_timeout < 0)
    return tx_write(c, NULL, 0);
  int rc = tx_drain(c);
  c->tx.b.len = 0; /* what is left is dropped with the descriptor */
  return rc;
}
