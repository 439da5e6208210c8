/* SPDX-License-Identifier: MIT */
/*
 * The send side: the write buffer values are packed into, frames of raw
 * bytes, values packed in place into a connection's send buffer (by
 * mpconn_pack_begin(), mpconn_send() and mpconn_sendf(), all through
 * mpconn__pack_start()), and corking, which gathers small frames into one
 * write.  Uncorked, the send buffer holds at most the frame being packed
 * and is written as soon as it ends.
 */
#include "mpconn-private.h"

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
mpconn__wbuf_append_slow(struct mpconn__wbuf *b, const void *p,
                             size_t len) {
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

/* Write the buffer, with the borrowed bodies in their places, and, after
 * it, iov[0..n).  The buffer is emptied even on failure: the stream is
 * broken then and nothing can be resent. */
static int tx_write(mpconn *c, struct iovec *extra, int n) {
  struct mpconn_tx *tx = &c->tx;
  struct iovec iov[2 * MPCONN_TX_BORROW_MAX + 3];
  int k = 0;
  size_t from = 0;
  for (unsigned i = 0; i < tx->nborrowed; i++) {
    size_t at = tx->borrowed[i].at;
    if (at > from)
      iov[k++] = (struct iovec){.iov_base = tx->b.p + from,
                                .iov_len = at - from};
    iov[k++] = (struct iovec){.iov_base = (void *)tx->borrowed[i].p,
                              .iov_len = tx->borrowed[i].len};
    from = at;
  }
  if (tx->b.len > from)
    iov[k++] = (struct iovec){.iov_base = tx->b.p + from,
                              .iov_len = tx->b.len - from};
  for (int i = 0; i < n; i++)
    if (extra[i].iov_len)
      iov[k++] = extra[i];
  int rc = k ? mpconn__writev_all(c->wfd, c->wsock, iov, k) : 0;
  tx->b.len = 0;
  tx->nborrowed = 0;
  if (tx->b.cap > TX_KEEP)
    mpconn__tx_release(tx);
  return rc;
}

int mpconn__tx_send(mpconn *c, const void *data, size_t len) {
  struct mpconn_tx *tx = &c->tx;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, len);
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
  tx->borrow = borrow;
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

int mpconn_flush(mpconn *c) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  return tx_write(c, NULL, 0);
}

int mpconn__tx_flush_at_close(mpconn *c) {
  mpconn_pack_abort(c);
  if (c->wfd < 0 || c->tx.b.len == 0)
    return 0;
  return tx_write(c, NULL, 0);
}
