/* SPDX-License-Identifier: MIT */
/*
 * send.c — the send side: a growable write buffer, which connections and
 * the queue pack values into, and a connection's send state: frames of
 * raw bytes, values packed in place, corking.
 */
#ifndef MPCONN_SEND_H
#define MPCONN_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

typedef struct mpconn mpconn;

/*
 * A growable write buffer.  It may start in storage of the caller's (on
 * the stack) and moves to the heap when it outgrows it.  A failed growth
 * sets oom, and every later append fails, so a packer writing into it
 * needs checking once, at the end.
 */
struct mpconn__wbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
  uint8_t *local; /* the caller's storage, or NULL */
  size_t local_size;
};

/* Start @b empty, in @local (@size bytes; NULL and 0 for none). */
void mpconn__wbuf_init(struct mpconn__wbuf *b, uint8_t *local, size_t size);
/* Make room for @len more bytes: false when memory is short. */
bool mpconn__wbuf_grow(struct mpconn__wbuf *b, size_t len);
/* mpconn__wbuf_append() when the bytes do not fit: grow, then append. */
int mpconn__wbuf_append_slow(struct mpconn__wbuf *b, const void *p, size_t len);
/* Release the heap memory; @b is empty and in its own storage again. */
void mpconn__wbuf_free(struct mpconn__wbuf *b);
/* msgpack-c's write callback for a packer writing into a wbuf (@data). */
int mpconn__wbuf_write(void *data, const char *buf, size_t len);

static inline bool mpconn__wbuf_reserve(struct mpconn__wbuf *b, size_t len) {
  return len <= b->cap - b->len || mpconn__wbuf_grow(b, len);
}

/* Append @len bytes (@p may be NULL when @len is 0): 0, or -1 when memory
 * is short (oom is set). */
static inline int mpconn__wbuf_append(struct mpconn__wbuf *b, const void *p,
                                      size_t len) {
  if (__builtin_expect(len > b->cap - b->len, 0))
    return mpconn__wbuf_append_slow(b, p, len);
  if (len) /* an empty str or bin: p may be NULL */
    memcpy(b->p + b->len, p, len);
  b->len += len;
  return 0;
}

/*
 * A write buffer that starts on the stack, and a packer writing into it:
 * how values are packed where their length must be known before they are
 * written (queue items, set members).
 */
struct mpconn__packbuf {
  struct mpconn__wbuf b;
  msgpack_packer pk;
  uint8_t local[256];
};

/* Start @pb empty; its packer.  Release with mpconn__wbuf_free(&pb->b). */
static inline msgpack_packer *mpconn__packbuf_init(struct mpconn__packbuf *pb) {
  mpconn__wbuf_init(&pb->b, pb->local, sizeof(pb->local));
  msgpack_packer_init(&pb->pk, &pb->b, mpconn__wbuf_write);
  return &pb->pk;
}

/* Bodies that mpconn_send() writes from where they are. */
#define MPCONN_TX_BORROW_MAX 8

/*
 * A connection's send state.  The buffer holds whole frames only, except
 * while a value is being packed: that frame starts at @frame with four
 * bytes left for its header, filled in when the value ends.
 */
struct mpconn_tx {
  struct mpconn__wbuf b;
  size_t frame; /* where the value being packed starts */
  bool packing;
  bool corked;
  bool borrow; /* large bodies are referenced, not copied (mpconn_send) */
  unsigned nborrowed;
  struct {
    size_t at; /* the body comes before b.p[at] */
    const void *p;
    size_t len;
  } borrowed[MPCONN_TX_BORROW_MAX];
  msgpack_packer pk;
};

/*
 * Start packing a value into @c's send buffer; every way of sending a
 * value goes through here.  @borrow: the value outlives the call that ends
 * it, so its large bodies are written from where they are.  0, or the
 * code mpconn_pack_begin() documents.
 */
int mpconn__pack_start(mpconn *c, msgpack_packer **pk, bool borrow);
/* Send one frame of @len bytes of @data. */
int mpconn__tx_send(mpconn *c, const void *data, size_t len);
/* Send the @len bytes of a small frame at @frame carrying descriptor @fd,
 * after everything sent before: 0 or a code of mpconn_send_bytes(). */
int mpconn__tx_send_fd_frame(mpconn *c, const void *frame, size_t len, int fd);
/* Bytes of whole frames waiting in the send buffer. */
size_t mpconn__tx_queued(const mpconn *c);
/* At close: drop a value under way, write corked frames. */
int mpconn__tx_flush_at_close(mpconn *c);
/* Release the send state's memory. */
void mpconn__tx_release(struct mpconn_tx *tx);

#endif
