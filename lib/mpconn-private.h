/* SPDX-License-Identifier: MIT */
/* Internal declarations shared by the files of lib/.  Not installed. */
#ifndef MPCONN_PRIVATE_H
#define MPCONN_PRIVATE_H

#include "mpconn.h"

#include "futex.h"
#include "io.h"
#include "lock.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Size of the per-connection receive buffer: one read() takes this much. */
#define MPCONN_RX_CHUNK ((size_t)64 * 1024)
/* Largest frame header: -1 then an 8-byte length. */
#define MPCONN_HEADER_MAX 12

/*
 * Receive state.  Unread bytes are buf[start, end).  Once the header of the
 * next frame is parsed (have_header), hlen and plen describe it.  A frame
 * that fits in the chunk buffer is assembled there; a larger one is
 * assembled in its own allocation (big), which a receive hands to the
 * caller without copying.
 */
struct mpconn_rx {
  uint8_t *buf;
  size_t start, end;
  bool have_header;
  size_t hlen;
  uint64_t plen;
  uint8_t *big;
  size_t big_have;
  int err;     /* sticky error; 0 when none */
  int pending; /* a read error seen while waiting, for the next receive */
};

/*
 * Send state for a value packed in place: the payload starts at
 * MPCONN_HEADER_MAX so the header can be written just before it once the
 * length is known.
 */
/* Bodies that mpconn_send() writes from where they are (send.c). */
#define MPCONN_TX_BORROW_MAX 8

struct mpconn_tx {
  uint8_t *buf;
  size_t len, cap;
  size_t frame; /* where the value being packed starts */
  bool packing;
  bool oom;
  bool corked;
  bool borrow; /* large bodies are referenced, not copied (mpconn_send) */
  unsigned nborrowed;
  struct {
    size_t at; /* the body comes before buf[at] */
    const void *p;
    size_t len;
  } borrowed[MPCONN_TX_BORROW_MAX];
  msgpack_packer pk;
};

struct mpconn {
  int rfd, wfd;
  bool wsock; /* wfd is a socket: send with MSG_NOSIGNAL */
  bool closed;
  size_t max_size;
  struct mpconn_rx rx;
  struct mpconn_tx tx;
};

/* frame.c — the wire format and the receive state machine */
size_t mpconn__header_encode(uint8_t out[MPCONN_HEADER_MAX], uint64_t len);
/* What mpconn__rx_next() waits for. */
enum mpconn_rx_mode {
  MPCONN_RX_FRAME,  /* a whole frame, for a receive */
  MPCONN_RX_HEADER, /* its header only */
  MPCONN_RX_PEEK,   /* a whole frame, for poll/wait: a read error stays
                       pending so the next receive reports it */
};
int mpconn__rx_next(mpconn *c, size_t limit, enum mpconn_rx_mode mode,
                    int64_t deadline);
int mpconn__rx_ready(mpconn *c);
void mpconn__rx_reset(struct mpconn_rx *rx);
int mpconn__rx_direct(mpconn *c, uint8_t *dst, int64_t deadline);

/* validate.c — one pass over a frame that checks it and, when asked,
 * decodes it.  Checking: 0, or MPCONN_EBADVALUE, MPCONN_ETOODEEP,
 * MPCONN_EBADSET. */
int mpconn__validate(const uint8_t *p, size_t n);
/* As mpconn__validate(); *zone_bytes (may be NULL) receives exactly what
 * msgpack-c allocates from its zone to decode the frame, at most
 * 24 * (n - 1).  msgpack_zone_init(&z, *zone_bytes) then msgpack_unpack()
 * into z decodes in one allocation; msgpack_unpack_next()'s own zone grows
 * in doubling chunks and can take about twice that. */
int mpconn__validate_sized(const uint8_t *p, size_t n, size_t *zone_bytes);
/* A set's ext payload: exactly one array and nothing after it.  0,
 * MPCONN_EBADSET or MPCONN_ETOODEEP; *zone_bytes as above. */
int mpconn__validate_set(const uint8_t *p, size_t n, size_t *zone_bytes);
/* Check and decode p[0, n) into *@out as msgpack_unpack() would (str,
 * bin and ext bodies point into p; an empty str too, never NULL), the
 * containers allocated from @zone.  The codes of mpconn__validate(), or
 * MPCONN_ENOMEM when @zone cannot grow; on failure *@out is undefined
 * and @zone may have been used. */
int mpconn__decode(const uint8_t *p, size_t n, msgpack_zone *zone,
                   msgpack_object *out);
/* The same for a set's ext payload, with the codes of
 * mpconn__validate_set(): *@out is the members' array. */
int mpconn__decode_set(const uint8_t *p, size_t n, msgpack_zone *zone,
                       msgpack_object *out);

/* value.c — a message from a whole frame's payload (malloc'd, never NULL):
 * validated, then decoded.  Takes @frame, also when it fails.  0,
 * MPCONN_EBADVALUE, MPCONN_ETOODEEP, MPCONN_EBADSET or MPCONN_ENOMEM. */
int mpconn__msg_from_frame(mpconn_msg **msg, uint8_t *frame, size_t len);
/* A message to fill in place: its payload buffer, *@buf, takes @len bytes
 * (the thread's spare message and buffer when they are large enough).
 * NULL when memory is short.  Then mpconn__msg_fit() and
 * mpconn__msg_decode(), or mpconn_msg_free(). */
mpconn_msg *mpconn__msg_alloc(size_t len, uint8_t **buf);
/* Make sure @m's zone holds the tree of the payload written into it
 * (counting it when it is not small): 0, a validation code, or
 * MPCONN_ENOMEM.  After 0, decoding needs no more memory. */
int mpconn__msg_fit(mpconn_msg *m);
/* Decode the payload written into a fitted @m: 0 with *@msg = @m, or a
 * validation code with @m freed. */
int mpconn__msg_decode(mpconn_msg *m, mpconn_msg **msg);

/* format.c — format strings, shared by packing and unpacking */
struct mpconn__box {
  uint32_t n; /* items of an array or set, pairs of a map; '*' not counted */
  bool rest;  /* the container ends with '*' */
};
struct mpconn__fmt {
  const char *fmt;
  struct mpconn__box *box; /* every container, in the order they open */
  size_t nbox, cap;
  struct mpconn__box inline_box[16];
};
/* Check a whole format before any argument is read.  0, MPCONN_EFORMAT or
 * MPCONN_ENOMEM; release with mpconn__fmt_free() after success. */
int mpconn__fmt_parse(struct mpconn__fmt *f, const char *fmt, bool unpack,
                      mpconn_error *err);
void mpconn__fmt_free(struct mpconn__fmt *f);
/* Skip separators; the character at *pos afterwards, 0 at the end. */
char mpconn__fmt_next(const char *fmt, size_t *pos);

/* Where in a value the walk is: one step per open container. */
struct mpconn__step {
  char kind; /* '[' array or '<' set member, '{' map value, 'k' map key */
  uint32_t index;
  msgpack_object key; /* for '{'; a key of another type prints as [?] */
};
struct mpconn__path {
  unsigned depth;
  struct mpconn__step step[MPCONN_MAX_DEPTH];
};
void mpconn__path_render(const struct mpconn__path *p, char *out,
                         size_t size);
/* Fill @err (may be NULL): code, position, @path (a rendered path, or
 * NULL for none) and the text "format position POS: " and the message.
 * Returns @code. */
int mpconn__fmt_fail(mpconn_error *err, int code, size_t pos,
                     const char *path, const char *msg, ...)
    __attribute__((format(printf, 5, 6)));

/* send.c */
int mpconn__tx_send(mpconn *c, const void *data, size_t len);
int mpconn__tx_flush_at_close(mpconn *c);
void mpconn__tx_release(struct mpconn_tx *tx);

/* Whether c can receive now: 0 or the error a receive returns. */
static inline int mpconn__check_recv(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  return c->rfd < 0 ? MPCONN_EWRITEONLY : 0;
}

/* Whether c can send now: 0 or the error a send returns. */
static inline int mpconn__check_send(const mpconn *c) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (c->wfd < 0)
    return MPCONN_EREADONLY;
  /* A value being packed owns the send side until it ends. */
  return c->tx.packing ? MPCONN_EINVAL : 0;
}

/* address.c — address strings (see "Listeners and clients" in mpconn.h) */
struct mpconn__addr {
  struct sockaddr_storage ss;
  socklen_t len;
  bool autobind; /* "@" alone: the kernel picks a free abstract name */
};
/* Parse @s.  Only when @listening are "@" alone and port 0 allowed.
 * 0, MPCONN_EBADADDR, -ENAMETOOLONG or MPCONN_EINVAL (NULL). */
int mpconn__addr_parse(struct mpconn__addr *a, const char *s, bool listening);
/* The string form of a socket address: 0, or MPCONN_EINVAL when @buf is
 * too small or the address has no string form. */
int mpconn__addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                        size_t size);

/* auth.c — the challenge and response of multiprocessing.connection */
#define MPCONN_AUTH_MAX_MESSAGE 256 /* every handshake read: recv_bytes(256) */
#define MPCONN_AUTH_NONCE 40        /* random bytes in a challenge */
/* Each returns 0; MPCONN_EAUTH for anything that is not a correct step of
 * the handshake (a wrong MAC, #FAILURE#, a malformed or oversized
 * message); or what the transport reported (MPCONN_EOF, MPCONN_ETIMEDOUT,
 * MPCONN_ETRUNCATED, -errno, ...).  The deadline is mpconn__deadline()'s. */
int mpconn__deliver_challenge(mpconn *c, const void *key, size_t keylen,
                              int64_t deadline);
int mpconn__answer_challenge(mpconn *c, const void *key, size_t keylen,
                             int64_t deadline);
/* HMAC of @msg under the digest Python names @name ("md5", "sha256",
 * "sha384", "sha3_256", "sha3_384"; @namelen bytes, not NUL-terminated)
 * into @out: the MAC's length, or 0 for a digest that is not allowed or
 * not available. */
size_t mpconn__hmac(const char *name, size_t namelen, const void *key,
                    size_t keylen, const void *msg, size_t msglen,
                    uint8_t out[64]);
/* The deadline of a handshake that starts now, from the options. */
int64_t mpconn__handshake_deadline(const mpconn_net_options *o);

/* client.c — connecting, and the identity of a Unix socket's peer */
/* Connect @fd (non-blocking) to @a by @deadline: 0 or a negative code. */
int mpconn__connect(int fd, const struct mpconn__addr *a, int64_t deadline);
/* 0 when the peer of Unix socket @fd runs as this process's effective
 * user, MPCONN_EAUTH when not, or -errno. */
int mpconn__check_peer_uid(int fd);

/* frame.c, inline for the receive hot path.  After mpconn__rx_next()
 * returned 0 in frame mode: */

/* The payload of the complete frame; borrowed until consumed. */
static inline const uint8_t *mpconn__rx_payload(const mpconn *c) {
  const struct mpconn_rx *rx = &c->rx;
  return rx->big ? rx->big : rx->buf + rx->start + rx->hlen;
}

/* Take the complete frame's payload if it has its own allocation (NULL if
 * it is in the chunk buffer). */
static inline uint8_t *mpconn__rx_take(mpconn *c) {
  uint8_t *p = c->rx.big;
  if (p) {
    c->rx.big = NULL;
    c->rx.big_have = 0;
    c->rx.have_header = false;
  }
  return p;
}

/* Drop the complete frame. */
static inline void mpconn__rx_consume(mpconn *c) {
  struct mpconn_rx *rx = &c->rx;
  if (rx->big)
    mpconn__rx_reset(rx);
  else
    rx->start += rx->hlen + (size_t)rx->plen;
  rx->have_header = false;
}

#endif
