/* SPDX-License-Identifier: MIT */
/*
 * Values: one msgpack object per frame.  Sending packs straight into the
 * connection's send buffer (send.c); receiving checks and decodes the
 * frame in one pass (validate.c) into the message's zone, with str, bin
 * and ext bodies left in the frame.
 */
#include "mpconn-private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * A freed message whose buffers are this small is kept, one per thread,
 * for the next receive: it saves three allocations per message.  Its zone
 * is given SPARE_MAX bytes, so that any payload of up to SPARE_MAX / 24
 * bytes is decoded into it without being counted first (a tree takes at
 * most 24 bytes per payload byte).  Other messages get zones of exactly
 * the size their tree needs.
 */
#define SPARE_MAX ((size_t)8192)
#define TREE_BYTES_PER_BYTE 24

struct mpconn_msg {
  msgpack_object value;
  msgpack_zone zone; /* its first chunk holds zone_size bytes */
  size_t zone_size;
  uint8_t *frame; /* the payload, len bytes of frame_cap */
  size_t len, frame_cap;
};

/* initial-exec: a plain load instead of a __tls_get_addr call per use. */
#define SPARE_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static SPARE_TLS mpconn_msg *spare;
static SPARE_TLS bool spare_hooked;
static bool spare_key_ok;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void msg_destroy(mpconn_msg *m) {
  msgpack_zone_destroy(&m->zone);
  free(m->frame);
  free(m);
}

/* Thread exit: the spare goes too. */
static void spare_release(void *unused) {
  (void)unused;
  if (spare)
    msg_destroy(spare);
  spare = NULL;
}

static void spare_init(void) {
  spare_key_ok = pthread_key_create(&spare_key, spare_release) == 0;
}

/* A message whose zone's first chunk holds zone_bytes, empty. */
static mpconn_msg *msg_get(size_t zone_bytes) {
  mpconn_msg *m = spare;
  spare = NULL;
  if (m && m->zone_size >= zone_bytes)
    return m;
  if (m)
    msg_destroy(m);
  m = malloc(sizeof(*m));
  size_t size = zone_bytes > 64 ? zone_bytes : 64;
  if (!m || !msgpack_zone_init(&m->zone, size)) {
    free(m);
    return NULL;
  }
  m->zone_size = size;
  m->frame = NULL;
  m->frame_cap = 0;
  return m;
}

/* Give m a payload buffer of len bytes: frame if not NULL (taken), else
 * its own, reused when large enough. */
static bool msg_frame(mpconn_msg *m, uint8_t *frame, size_t len) {
  if (frame || m->frame_cap < len) {
    free(m->frame);
    m->frame_cap = 0;
    m->frame = frame ? frame : malloc(len ? len : 1);
    if (!m->frame)
      return false;
    m->frame_cap = len;
  }
  m->len = len;
  return true;
}

/*
 * A message whose zone holds the tree of @payload: the spare, when the
 * payload is small enough for its zone, or one with a zone of exactly the
 * size validation counts.  0, a validation code, or MPCONN_ENOMEM.
 */
static int msg_for(mpconn_msg **out, const uint8_t *payload, size_t len) {
  size_t need;
  if (spare && len <= spare->zone_size / TREE_BYTES_PER_BYTE) {
    need = spare->zone_size;
  } else {
    int rc = mpconn__validate_sized(payload, len, &need);
    if (rc < 0)
      return rc;
  }
  *out = msg_get(need);
  return *out ? 0 : MPCONN_ENOMEM;
}

/* Decode m->frame into m's empty zone, which holds the whole tree. */
static int msg_decode(mpconn_msg *m) {
  return mpconn__decode(m->frame, m->len, &m->zone, &m->value);
}

int mpconn_send(mpconn *c, const msgpack_object *v) {
  if (!v)
    return MPCONN_EINVAL;
  msgpack_packer *pk;
  int rc = mpconn_pack_begin(c, &pk);
  if (rc < 0)
    return rc;
  /* @v lives until this call returns: its large bodies need no copy. */
  c->tx.borrow = true;
  msgpack_pack_object(pk, *v);
  return mpconn_pack_end(c);
}

/*
 * Make m's zone hold the tree of its payload: as it is when the payload is
 * small enough, else exactly what validation counts.  0, a validation
 * code, or MPCONN_ENOMEM.
 */
int mpconn__msg_fit(mpconn_msg *m) {
  if (m->len <= m->zone_size / TREE_BYTES_PER_BYTE)
    return 0;
  size_t need;
  int rc = mpconn__validate_sized(m->frame, m->len, &need);
  if (rc < 0 || need <= m->zone_size)
    return rc;
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, need))
    return MPCONN_ENOMEM;
  msgpack_zone_swap(&m->zone, &zone);
  msgpack_zone_destroy(&zone);
  m->zone_size = need;
  return 0;
}

mpconn_msg *mpconn__msg_alloc(size_t len, uint8_t **buf) {
  mpconn_msg *m = msg_get(0);
  if (m && !msg_frame(m, NULL, len)) {
    mpconn_msg_free(m);
    m = NULL;
  }
  if (m)
    *buf = m->frame;
  return m;
}

int mpconn__msg_decode(mpconn_msg *m, mpconn_msg **msg) {
  int rc = msg_decode(m);
  if (rc < 0) {
    mpconn_msg_free(m);
    return rc;
  }
  *msg = m;
  return 0;
}

int mpconn__msg_from_frame(mpconn_msg **msg, uint8_t *frame, size_t len) {
  mpconn_msg *m = msg_get(0);
  if (!m) {
    free(frame);
    return MPCONN_ENOMEM;
  }
  msg_frame(m, frame, len); /* takes frame: cannot fail */
  int rc = mpconn__msg_fit(m);
  if (rc < 0) {
    mpconn_msg_free(m);
    return rc;
  }
  return mpconn__msg_decode(m, msg);
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
  mpconn_msg *m;
  rc = msg_for(&m, payload, len);
  if (rc < 0) {
    if (rc != MPCONN_ENOMEM)
      mpconn__rx_consume(c); /* a bad value, not a bad stream */
    return rc;
  }
  /* A large frame already has its own allocation: take it, no copy. */
  uint8_t *big = mpconn__rx_take(c);
  if (!msg_frame(m, big, len)) {
    mpconn_msg_free(m);
    return MPCONN_ENOMEM;
  }
  if (!big) {
    memcpy(m->frame, payload, len);
    mpconn__rx_consume(c);
  }
  /* A bad value found here has been consumed, like one found above. */
  rc = msg_decode(m);
  if (rc < 0) {
    mpconn_msg_free(m);
    return rc;
  }
  *msg = m;
  return 0;
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
  if (spare || m->zone_size > SPARE_MAX || m->frame_cap > SPARE_MAX) {
    msg_destroy(m);
    return;
  }
  if (!spare_hooked) {
    /* Once per thread: free the spare when the thread exits. */
    pthread_once(&spare_once, spare_init);
    spare_hooked =
        spare_key_ok && pthread_setspecific(spare_key, &spare_key) == 0;
    if (!spare_hooked) {
      msg_destroy(m);
      return;
    }
  }
  if (m->zone_size < SPARE_MAX) {
    /* Once per spare: a zone that small payloads are decoded into
     * without counting. */
    msgpack_zone_destroy(&m->zone);
    if (!msgpack_zone_init(&m->zone, SPARE_MAX)) {
      free(m->frame);
      free(m);
      return;
    }
    m->zone_size = SPARE_MAX;
  } else {
    /* Back to one empty chunk of zone_size bytes (set members may have
     * added chunks). */
    msgpack_zone_clear(&m->zone);
  }
  spare = m;
}
