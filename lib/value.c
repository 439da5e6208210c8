/* SPDX-License-Identifier: MIT */
/*
 * Values: one msgpack object per frame.  Sending packs straight into the
 * connection's send buffer (send.c); receiving validates
 * the frame in one pass before msgpack-c decodes it into the message's
 * zone, with str/bin/ext bodies left in the frame.
 */
#include "mpconn-private.h"

#include <stdlib.h>
#include <string.h>

/* Largest first chunk of a message's zone. */
#define ZONE_CHUNK_MAX ((size_t)8192)

struct mpconn_msg {
  msgpack_object value;
  msgpack_zone zone;
  uint8_t *frame;
  size_t len;
};

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

int mpconn__msg_from_frame(mpconn_msg **msg, uint8_t *frame, size_t len) {
  size_t zone_bytes;
  int rc = mpconn__validate_sized(frame, len, &zone_bytes);
  if (rc < 0) {
    free(frame);
    return rc;
  }
  return msg_new(msg, frame, len, zone_bytes);
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
  uint8_t *frame = mpconn__rx_take(c);
  if (!frame) {
    frame = malloc(len ? len : 1);
    if (!frame)
      return MPCONN_ENOMEM;
    memcpy(frame, payload, len);
    mpconn__rx_consume(c);
  }
  return mpconn__msg_from_frame(msg, frame, len);
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
