/* SPDX-License-Identifier: MIT */
/*
 * Received values: one msgpack object per frame.  A message is made from
 * a frame's payload by mpconn__msg_build(), whether the frame comes from
 * a connection (mpconn_recv() below) or a queue: the frame is checked and
 * decoded in one pass (validate.c) into the message's zone, with str, bin
 * and ext bodies left in the payload.
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
  size_t hlen;    /* of the header it came with */
  size_t map_len; /* frame is a shared-memory mapping of this size, or 0 */
  bool raw;       /* bytes only: no value (mpconn_recv_raw()) */
};

/* initial-exec: a plain load instead of a __tls_get_addr call per use. */
#define SPARE_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static SPARE_TLS mpconn_msg *spare;
/* 0: no spare kept yet; 1: kept, freed when the thread exits; -1: the
 * process is exiting, keep none. */
static SPARE_TLS signed char spare_state;
static bool spare_key_ok;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

/* Let go of m's payload buffer: freed, or unmapped. */
static void msg_drop_frame(mpconn_msg *m) {
  if (m->map_len)
    mpconn__memfd_unmap(m->frame, m->map_len);
  else
    free(m->frame);
  m->frame = NULL;
  m->frame_cap = m->map_len = 0;
}

static void msg_destroy(mpconn_msg *m) {
  msgpack_zone_destroy(&m->zone);
  msg_drop_frame(m);
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

/*
 * Process exit: thread-exit destructors do not run for the thread that
 * calls exit() (the main thread, when main() returns), so its spare is
 * freed here, among the library's destructors, and none is kept after.
 * Threads still running at exit keep theirs.
 */
__attribute__((destructor)) static void spare_at_exit(void) {
  spare_release(NULL);
  spare_state = -1;
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
  m->frame_cap = m->map_len = 0;
  return m;
}

/* Give m a payload buffer of at least len bytes, reusing its own. */
static bool msg_room(mpconn_msg *m, size_t len) {
  if (m->frame_cap >= len)
    return true;
  free(m->frame);
  m->frame_cap = 0;
  m->frame = malloc(len ? len : 1);
  if (!m->frame)
    return false;
  m->frame_cap = len;
  return true;
}

/*
 * Make m's zone hold the tree of the @len-byte payload at @p, a tree of at
 * most @limit bytes: as it is when the payload is small enough, else
 * exactly what validation counts.  0, a validation code,
 * MPCONN_EDECODELIMIT, or MPCONN_ENOMEM.
 */
static inline __attribute__((always_inline)) int
msg_fit(mpconn_msg *m, const uint8_t *p, size_t len, size_t limit) {
  /* A tree takes at most TREE_BYTES_PER_BYTE per payload byte. */
  if (len <= m->zone_size / TREE_BYTES_PER_BYTE &&
      len <= limit / TREE_BYTES_PER_BYTE)
    return 0;
  size_t need;
  int rc = mpconn__validate_limited(p, len, limit, &need);
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

/* mpconn__msg_build(), inlined into mpconn_recv() so that its source's
 * calls are direct there: on small messages they were a tenth of the
 * receiver's instructions. */
static inline __attribute__((always_inline)) int
msg_build(mpconn_msg **msg, struct mpconn__src *s,
          void (*copy)(struct mpconn__src *, uint8_t *),
          void (*commit)(struct mpconn__src *)) {
  *msg = NULL;
  mpconn_msg *m = msg_get(0);
  if (!m)
    return MPCONN_ENOMEM;
  const uint8_t *p = s->lent;
  if (!p) {
    if (!msg_room(m, s->len)) {
      mpconn_msg_free(m);
      return MPCONN_ENOMEM;
    }
    copy(s, m->frame);
    p = m->frame;
  }
  int rc = s->raw ? 0 : msg_fit(m, p, s->len, s->max_tree);
  if (rc == MPCONN_ENOMEM) {
    mpconn_msg_free(m); /* a lent payload is not the message's yet */
    return rc;
  }
  commit(s);
  if (s->lent) {
    msg_drop_frame(m);
    m->frame = s->lent;
    m->frame_cap = s->len;
    m->map_len = s->lent_map;
  }
  m->len = s->len;
  m->hlen = s->hlen;
  m->raw = s->raw;
  m->value = (msgpack_object){.type = MSGPACK_OBJECT_NIL};
  /* A bad value found by msg_fit() or here has been consumed. */
  if (rc == 0 && !s->raw)
    rc = mpconn__decode(m->frame, m->len, &m->zone, &m->value);
  if (rc < 0) {
    mpconn_msg_free(m);
    return rc;
  }
  *msg = m;
  return 0;
}

int mpconn__msg_build(mpconn_msg **msg, struct mpconn__src *s) {
  return msg_build(msg, s, s->copy, s->commit);
}

/* A connection's whole frame, as a source of a message. */
struct rx_src {
  struct mpconn__src s;
  mpconn *c;
  const uint8_t *payload;
};

static void rx_copy(struct mpconn__src *s, uint8_t *dst) {
  const struct rx_src *r = (const struct rx_src *)s;
  if (s->len)
    memcpy(dst, r->payload, s->len);
}

static void rx_commit(struct mpconn__src *s) {
  struct rx_src *r = (struct rx_src *)s;
  if (s->lent && !s->lent_map)
    mpconn__rx_take(r->c, NULL); /* hands over s->lent: no copy */
  else
    mpconn__rx_consume(r->c); /* a mapping stays mapped without its fd */
}

/* mpconn_recv() and mpconn_recv_raw(). */
static int recv_msg(mpconn *c, mpconn_msg **msg, int timeout_ms, bool raw) {
  if (!msg)
    return MPCONN_EINVAL;
  *msg = NULL;
  int rc = mpconn__check_recv(c);
  if (rc < 0)
    return rc;
  struct mpconn__frame f;
  rc = mpconn__rx_next(c, c->max_size, timeout_ms, &f);
  if (rc < 0)
    return rc;
  struct rx_src r = {
      .s = {.len = f.len,
            .hlen = f.hlen,
            .max_tree = c->max_decoded,
            .raw = raw,
            .lent = f.own,
            .copy = rx_copy,
            .commit = rx_commit},
      .c = c,
      .payload = f.payload,
  };
  if (__builtin_expect(f.fd >= 0, 0)) {
    /* A shared-memory message: its bytes are the mapping. */
    uint8_t *map;
    size_t len;
    rc = mpconn__memfd_map(c, &f, &map, &len);
    if (rc < 0)
      return rc;
    r.s.len = len;
    /* An empty payload has no mapping: nothing to lend, nothing to copy. */
    r.s.lent = len ? map : NULL;
    r.s.lent_map = len;
    rc = msg_build(msg, &r.s, rx_copy, rx_commit);
    if (rc == MPCONN_ENOMEM) /* not the message's: the frame stays */
      mpconn__memfd_unmap(map, len);
    return rc;
  }
  return msg_build(msg, &r.s, rx_copy, rx_commit);
}

int mpconn_recv(mpconn *c, mpconn_msg **msg, int timeout_ms) {
  return recv_msg(c, msg, timeout_ms, false);
}

int mpconn_recv_raw(mpconn *c, mpconn_msg **msg, int timeout_ms) {
  return recv_msg(c, msg, timeout_ms, true);
}

const msgpack_object *mpconn_msg_value(const mpconn_msg *m) {
  return m && !m->raw ? &m->value : NULL;
}

const void *mpconn_msg_data(const mpconn_msg *m, size_t *len) {
  if (!m)
    return NULL;
  if (len)
    *len = m->len;
  return m->frame;
}

size_t mpconn_msg_frame_size(const mpconn_msg *m) {
  return m ? m->hlen + m->len : 0;
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
  if (m->map_len) /* a spare keeps a buffer of its own, never a mapping */
    msg_drop_frame(m);
  if (spare || m->zone_size > SPARE_MAX || m->frame_cap > SPARE_MAX) {
    msg_destroy(m);
    return;
  }
  if (spare_state != 1) {
    /* Once per thread: free the spare when the thread exits. */
    if (spare_state == 0) {
      pthread_once(&spare_once, spare_init);
      if (spare_key_ok && pthread_setspecific(spare_key, &spare_key) == 0)
        spare_state = 1;
    }
    if (spare_state != 1) {
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
