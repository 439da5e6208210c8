/* SPDX-License-Identifier: MIT */
/*
 * The send side: frames of raw bytes, values packed in place into the send
 * buffer, and corking, which gathers small frames into one write.
 *
 * The send buffer holds whole frames only, except while a value is being
 * packed: that frame starts at tx.frame with four bytes left for its
 * header, filled in when the value ends.  Uncorked, the buffer holds at
 * most that one frame and is written as soon as it ends.
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

static bool tx_grow(struct mpconn_tx *tx, size_t len) {
  size_t cap = tx->cap ? tx->cap : 256;
  while (cap - tx->len < len) {
    if (cap > SIZE_MAX / 2)
      return false;
    cap *= 2;
  }
  uint8_t *p = realloc(tx->buf, cap);
  if (!p)
    return false;
  tx->buf = p;
  tx->cap = cap;
  return true;
}

static inline bool tx_reserve(struct mpconn_tx *tx, size_t len) {
  return len <= tx->cap - tx->len || tx_grow(tx, len);
}

/* msgpack-c's write callback, called for every header and body. */
static int tx_append(void *data, const char *buf, size_t len) {
  struct mpconn_tx *tx = data;
  if (len >= TX_BORROW_MIN && tx->borrow &&
      tx->nborrowed < MPCONN_TX_BORROW_MAX) {
    tx->borrowed[tx->nborrowed].at = tx->len;
    tx->borrowed[tx->nborrowed].p = buf;
    tx->borrowed[tx->nborrowed].len = len;
    tx->nborrowed++;
    return 0;
  }
  if (len <= tx->cap - tx->len) {
    if (len) /* an empty str or bin: buf may be NULL */
      memcpy(tx->buf + tx->len, buf, len);
    tx->len += len;
    return 0;
  }
  if (tx->oom)
    return -1;
  if (!tx_grow(tx, len)) {
    tx->oom = true;
    return -1;
  }
  memcpy(tx->buf + tx->len, buf, len);
  tx->len += len;
  return 0;
}

void mpconn__tx_release(struct mpconn_tx *tx) {
  free(tx->buf);
  tx->buf = NULL;
  tx->len = tx->cap = tx->frame = 0;
  tx->packing = false;
  tx->oom = false;
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
      iov[k++] = (struct iovec){.iov_base = tx->buf + from,
                                .iov_len = at - from};
    iov[k++] = (struct iovec){.iov_base = (void *)tx->borrowed[i].p,
                              .iov_len = tx->borrowed[i].len};
    from = at;
  }
  if (tx->len > from)
    iov[k++] = (struct iovec){.iov_base = tx->buf + from,
                              .iov_len = tx->len - from};
  for (int i = 0; i < n; i++)
    if (extra[i].iov_len)
      iov[k++] = extra[i];
  int rc = k ? mpconn__writev_all(c->wfd, c->wsock, iov, k) : 0;
  tx->len = 0;
  tx->nborrowed = 0;
  if (tx->cap > TX_KEEP)
    mpconn__tx_release(tx);
  return rc;
}

int mpconn__tx_send(mpconn *c, const void *data, size_t len) {
  struct mpconn_tx *tx = &c->tx;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, len);
  if (tx->corked && len <= TX_COPY_MAX && tx_reserve(tx, hlen + len)) {
    memcpy(tx->buf + tx->len, hdr, hlen);
    if (len)
      memcpy(tx->buf + tx->len + hlen, data, len);
    tx->len += hlen + len;
    return tx->len >= TX_FLUSH_AT ? tx_write(c, NULL, 0) : 0;
  }
  struct iovec iov[2] = {
      {.iov_base = hdr, .iov_len = hlen},
      {.iov_base = (void *)data, .iov_len = len},
  };
  return tx_write(c, iov, 2);
}

int mpconn_pack_begin(mpconn *c, msgpack_packer **pk) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  if (!pk)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  tx->oom = false;
  tx->borrow = false;
  tx->nborrowed = 0;
  tx->frame = tx->len;
  static const char room[4];
  if (tx_append(tx, room, sizeof(room)) < 0)
    return MPCONN_ENOMEM;
  tx->packing = true;
  msgpack_packer_init(&tx->pk, tx, tx_append);
  *pk = &tx->pk;
  return 0;
}

void mpconn_pack_abort(mpconn *c) {
  if (!c || !c->tx.packing)
    return;
  c->tx.packing = false;
  c->tx.borrow = false;
  c->tx.nborrowed = 0; /* only the frame being packed borrows */
  c->tx.len = c->tx.frame;
}

int mpconn_pack_end(mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (!tx->packing)
    return MPCONN_EINVAL;
  if (tx->oom) {
    mpconn_pack_abort(c);
    return MPCONN_ENOMEM;
  }
  size_t borrowed = 0;
  for (unsigned i = 0; i < tx->nborrowed; i++)
    borrowed += tx->borrowed[i].len;
  size_t plen = tx->len - tx->frame - 4;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, plen + borrowed);
  if (hlen > 4) {
    /* Over 2 GiB: the long header needs 8 more bytes before the payload. */
    if (!tx_reserve(tx, hlen - 4)) {
      mpconn_pack_abort(c);
      return MPCONN_ENOMEM;
    }
    uint8_t *payload = tx->buf + tx->frame + 4;
    memmove(payload + hlen - 4, payload, plen);
    tx->len += hlen - 4;
    for (unsigned i = 0; i < tx->nborrowed; i++)
      tx->borrowed[i].at += hlen - 4;
  }
  memcpy(tx->buf + tx->frame, hdr, hlen);
  tx->packing = false;
  tx->borrow = false;
  /* Borrowed bodies are the caller's only for this call: written now. */
  if (tx->corked && tx->len < TX_FLUSH_AT && !tx->nborrowed)
    return 0;
  return tx_write(c, NULL, 0);
}

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
  if (c->wfd < 0 || c->tx.len == 0)
    return 0;
  return tx_write(c, NULL, 0);
}
