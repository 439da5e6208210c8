/* SPDX-License-Identifier: MIT */
/*
 * Values: one msgpack object per frame.  Sending packs straight into the
 * connection's send buffer behind room for the header; receiving validates
 * the frame in one pass before msgpack-c decodes it into the message's
 * zone, with str/bin/ext bodies left in the frame.
 */
#include "mpconn-private.h"

#include <stdlib.h>
#include <string.h>

/* A send buffer grown past this is released after the frame is sent. */
#define TX_KEEP ((size_t)1024 * 1024)
/* Largest first chunk of a message's zone. */
#define ZONE_CHUNK_MAX ((size_t)8192)

struct mpconn_msg {
  msgpack_object value;
  msgpack_zone zone;
  uint8_t *frame;
  size_t len;
};

static int tx_append(void *data, const char *buf, size_t len) {
  struct mpconn_tx *tx = data;
  if (tx->oom)
    return -1;
  if (len == 0) /* an empty str or bin: buf may be NULL */
    return 0;
  if (len > tx->cap - tx->len) {
    size_t cap = tx->cap ? tx->cap : 256;
    while (cap - tx->len < len) {
      if (cap > SIZE_MAX / 2) {
        tx->oom = true;
        return -1;
      }
      cap *= 2;
    }
    uint8_t *p = realloc(tx->buf, cap);
    if (!p) {
      tx->oom = true;
      return -1;
    }
    tx->buf = p;
    tx->cap = cap;
  }
  memcpy(tx->buf + tx->len, buf, len);
  tx->len += len;
  return 0;
}

int mpconn_pack_begin(mpconn *c, msgpack_packer **pk) {
  int rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  if (!pk)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  tx->len = 0;
  tx->oom = false;
  static const char room[MPCONN_HEADER_MAX];
  if (tx_append(tx, room, sizeof(room)) < 0)
    return MPCONN_ENOMEM;
  tx->packing = true;
  msgpack_packer_init(&tx->pk, tx, tx_append);
  *pk = &tx->pk;
  return 0;
}

void mpconn_pack_abort(mpconn *c) {
  if (!c)
    return;
  c->tx.packing = false;
  c->tx.len = 0;
  if (c->tx.cap > TX_KEEP)
    mpconn__tx_release(&c->tx);
}

int mpconn_pack_end(mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  struct mpconn_tx *tx = &c->tx;
  if (c->closed || !tx->packing) {
    mpconn_pack_abort(c);
    return c->closed ? MPCONN_ECLOSED : MPCONN_EINVAL;
  }
  if (tx->oom) {
    mpconn_pack_abort(c);
    return MPCONN_ENOMEM;
  }
  size_t plen = tx->len - MPCONN_HEADER_MAX;
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, plen);
  uint8_t *start = tx->buf + MPCONN_HEADER_MAX - hlen;
  memcpy(start, hdr, hlen);
  struct iovec iov = {.iov_base = start, .iov_len = hlen + plen};
  int rc = mpconn__writev_all(c->wfd, c->wsock, &iov, 1);
  mpconn_pack_abort(c);
  return rc;
}

int mpconn_send(mpconn *c, const msgpack_object *v) {
  if (!v)
    return MPCONN_EINVAL;
  msgpack_packer *pk;
  int rc = mpconn_pack_begin(c, &pk);
  if (rc < 0)
    return rc;
  msgpack_pack_object(pk, *v);
  return mpconn_pack_end(c);
}

/*
 * Decode a validated frame; takes ownership of frame.  zone_bytes is what
 * validation counted msgpack-c will ask for: one chunk of exactly that size
 * holds the whole tree.
 */
static int msg_new(mpconn_msg **out, uint8_t *frame, size_t len,
                   size_t zone_bytes) {
  mpconn_msg *m = malloc(sizeof(*m));
  if (!m || !msgpack_zone_init(&m->zone, zone_bytes ? zone_bytes : 64)) {
    free(m);
    free(frame);
    return MPCONN_ENOMEM;
  }
  m->frame = frame;
  m->len = len;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack((const char *)frame, len, &off,
                                           &m->zone, &m->value);
  if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
    /* Validation accepted it, so only memory can be short here. */
    mpconn_msg_free(m);
    return r == MSGPACK_UNPACK_NOMEM_ERROR ? MPCONN_ENOMEM : MPCONN_EBADVALUE;
  }
  /* Set members decoded later get ordinary chunks. */
  m->zone.chunk_size = ZONE_CHUNK_MAX;
  *out = m;
  return 0;
}

int mpconn_recv(mpconn *c, mpconn_msg **msg, int timeout_ms) {
  if (!msg)
    return MPCONN_EINVAL;
  *msg = NULL;
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  rc = mpconn__rx_next(c, c->max_size, MPCONN_RX_FRAME,
                       mpconn__deadline(timeout_ms));
  if (rc < 0)
    return rc;
  size_t len = (size_t)c->rx.plen;
  const uint8_t *payload = mpconn__rx_payload(c);
  size_t zone_bytes;
  rc = mpconn__validate_sized(payload, len, &zone_bytes);
  if (rc < 0) {
    mpconn__rx_consume(c);
    return rc;
  }
  uint8_t *frame = mpconn__rx_take(c);
  if (!frame) {
    frame = malloc(len);
    if (!frame)
      return MPCONN_ENOMEM;
    memcpy(frame, payload, len);
    mpconn__rx_consume(c);
  }
  return msg_new(msg, frame, len, zone_bytes);
}

const msgpack_object *mpconn_msg_value(const mpconn_msg *m) {
  return m ? &m->value : NULL;
}

const void *mpconn_msg_data(const mpconn_msg *m, size_t *len) {
  if (!m)
    return NULL;
  if (len)
    *len = m->len;
  return m->frame;
}

int mpconn_msg_set_members(mpconn_msg *m, const msgpack_object *set,
                           msgpack_object_array *members) {
  if (!m)
    return MPCONN_EINVAL;
  return mpconn_set_unpack(set, &m->zone, members);
}

void mpconn_msg_free(mpconn_msg *m) {
  if (!m)
    return;
  msgpack_zone_destroy(&m->zone);
  free(m->frame);
  free(m);
}
