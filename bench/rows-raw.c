/* SPDX-License-Identifier: MIT */
/*
 * The hand-written baselines, over a socketpair with the same framing
 * (4-byte big-endian length) and msgpack-c for the values.
 *
 * raw: what one writes first.  The sender packs each value into a
 * msgpack_sbuffer behind room for the header and writes header and payload
 * with one write(); the receiver reads the header, then the payload, with
 * read() loops, and unpacks with msgpack_unpack_next().
 *
 * raw batched: the best one can do by hand.  The sender packs frames
 * back to back into one buffer and writes it when it holds 64 KiB (a 1 MiB
 * bytes payload goes by writev() from where it is, after the buffer);
 * the receiver reads 64 KiB at a time and unpacks every complete
 * frame in place, reusing one msgpack_unpacked.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct raw_arg {
  enum bench_kind kind;
  bool batched;
  uint64_t n;
  int fds[2]; /* [0] the receiver's end, [1] the sender's */
};

static void put_be32(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static size_t get_be32(const uint8_t *p) {
  return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* A growing buffer that is also a msgpack-c write target. */
struct buf {
  uint8_t *p;
  size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t n) {
  if (n <= b->cap - b->len)
    return;
  size_t cap = b->cap ? b->cap : 2 * BENCH_CHUNK;
  while (cap - b->len < n)
    cap *= 2;
  if (!(b->p = realloc(b->p, cap)))
    bench_fail("out of memory");
  b->cap = cap;
}

static int buf_write(void *data, const char *src, size_t n) {
  struct buf *b = data;
  buf_reserve(b, n);
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

/* Pack message i of the workload (not the bytes ones). */
static void pack(const struct raw_arg *a, msgpack_packer *pk, uint64_t i,
                 uint64_t *state) {
  if (a->kind == BENCH_MIXED)
    bench_pack_mixed(pk, i, bench_pattern(), bench_mixed_next(state));
  else
    bench_pack_small(pk, i);
}

/* ------------------------------------------------------------------------ */
/* raw                                                                      */
/* ------------------------------------------------------------------------ */

static void plain_sender(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  int fd = a->fds[1];
  close(a->fds[0]);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  size_t size = bench_bytes_size(a->kind);
  if (size) {
    /* The payload is made once; each message is one write of it. */
    msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
    msgpack_sbuffer_write(&sb, (const char *)bench_bytes_payload(a->kind),
                          size);
    put_be32((uint8_t *)sb.data, size);
  }
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    if (!size) {
      msgpack_sbuffer_clear(&sb);
      msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
      pack(a, &pk, i, &state);
      put_be32((uint8_t *)sb.data, sb.size - 4);
    }
    bench_write_all(fd, sb.data, sb.size);
  }
  msgpack_sbuffer_destroy(&sb);
  close(fd);
}

/* One frame into @b: the header, then the payload, each with read(). */
static void read_frame(int fd, struct buf *b) {
  uint8_t hdr[4];
  bench_read_all(fd, hdr, 4);
  b->len = 0;
  buf_reserve(b, get_be32(hdr));
  b->len = get_be32(hdr);
  bench_read_all(fd, b->p, b->len);
}

static void plain_receiver(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  int fd = a->fds[0];
  close(a->fds[1]);
  struct buf b = {0};
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    read_frame(fd, &b);
    bench_check_payload(a->kind, &up, b.p, b.len, i, &state);
  }
  bench_mark_end();
  msgpack_unpacked_destroy(&up);
  free(b.p);
  close(fd);
}

/* A round trip: ask with one write, read the answer as plain_receiver. */
static void rt_client(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  int fd = a->fds[1];
  close(a->fds[0]);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  struct buf b = {0};
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
    bench_pack_small(&pk, i);
    put_be32((uint8_t *)sb.data, sb.size - 4);
    bench_write_all(fd, sb.data, sb.size);
    read_frame(fd, &b);
    bench_check_payload(a->kind, &up, b.p, b.len, i, NULL);
  }
  bench_mark_end();
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
  free(b.p);
  close(fd);
}

static void rt_server(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  int fd = a->fds[0];
  close(a->fds[1]);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  struct buf b = {0};
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    read_frame(fd, &b);
    size_t off = 0;
    if (msgpack_unpack_next(&up, (const char *)b.p, b.len, &off) !=
        MSGPACK_UNPACK_SUCCESS)
      bench_fail("request %llu does not unpack", (unsigned long long)i);
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
    msgpack_pack_object(&pk, up.data);
    put_be32((uint8_t *)sb.data, sb.size - 4);
    bench_write_all(fd, sb.data, sb.size);
  }
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
  free(b.p);
  close(fd);
}

/* ------------------------------------------------------------------------ */
/* raw batched                                                              */
/* ------------------------------------------------------------------------ */

/* Write every byte of iov[0..n); iov is modified. */
static void writev_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w <= 0)
      bench_fail("writev failed");
    size_t done = (size_t)w;
    while (n > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
}

static void batch_sender(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  int fd = a->fds[1];
  close(a->fds[0]);
  struct buf b = {0};
  buf_reserve(&b, 2 * BENCH_CHUNK);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &b, buf_write);
  uint64_t state = BENCH_MIXED_SEED;
  size_t size = bench_bytes_size(a->kind);
  const uint8_t *payload = size ? bench_bytes_payload(a->kind) : NULL;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    if (size) {
      uint8_t hdr[4];
      put_be32(hdr, size);
      struct iovec iov[3] = {
          {.iov_base = b.p, .iov_len = b.len},
          {.iov_base = hdr, .iov_len = 4},
          {.iov_base = (void *)payload, .iov_len = size},
      };
      writev_all(fd, b.len ? iov : iov + 1, b.len ? 3 : 2);
      b.len = 0;
      continue;
    }
    size_t frame = b.len;
    buf_write(&b, "\0\0\0\0", 4);
    pack(a, &pk, i, &state);
    put_be32(b.p + frame, b.len - frame - 4);
    if (b.len >= BENCH_CHUNK) {
      bench_write_all(fd, b.p, b.len);
      b.len = 0;
    }
  }
  bench_write_all(fd, b.p, b.len);
  free(b.p);
  close(fd);
}

/*
 * Complete frames straight from 64 KiB reads.  A frame larger than the
 * chunk is finished in its own buffer, read into directly.
 */
struct chunks {
  int fd;
  uint8_t *buf;
  size_t start, end;
  struct buf big;
};

static const uint8_t *next_frame(struct chunks *c, size_t *len) {
  for (;;) {
    size_t have = c->end - c->start;
    if (have >= 4) {
      size_t n = get_be32(c->buf + c->start);
      if (have - 4 >= n) {
        const uint8_t *p = c->buf + c->start + 4;
        c->start += 4 + n;
        *len = n;
        return p;
      }
      if (4 + n > BENCH_CHUNK) {
        c->big.len = 0;
        buf_reserve(&c->big, n);
        memcpy(c->big.p, c->buf + c->start + 4, have - 4);
        bench_read_all(c->fd, c->big.p + have - 4, n - (have - 4));
        c->start = c->end = 0;
        *len = n;
        return c->big.p;
      }
    }
    /* Keep the partial frame, at the front. */
    if (have == 0) {
      c->start = c->end = 0;
    } else if (c->start > 0) {
      memmove(c->buf, c->buf + c->start, have);
      c->start = 0;
      c->end = have;
    }
    ssize_t r = read(c->fd, c->buf + c->end, BENCH_CHUNK - c->end);
    if (r <= 0)
      bench_fail("read: %s", r < 0 ? "failed" : "end of file");
    c->end += (size_t)r;
  }
}

static void batch_receiver(void *arg, int index) {
  (void)index;
  struct raw_arg *a = arg;
  struct chunks c = {.fd = a->fds[0], .buf = malloc(BENCH_CHUNK)};
  close(a->fds[1]);
  if (!c.buf)
    bench_fail("out of memory");
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    size_t len;
    const uint8_t *p = next_frame(&c, &len);
    bench_check_payload(a->kind, &up, p, len, i, &state);
  }
  bench_mark_end();
  msgpack_unpacked_destroy(&up);
  free(c.buf);
  free(c.big.p);
  close(c.fd);
}

void bench_row_raw(struct bench_result *r, enum bench_kind k, bool batched,
                   uint64_t n) {
  struct raw_arg a = {.kind = k, .batched = batched, .n = n};
  int rc = bench_socketpair(a.fds);
  if (rc < 0) {
    bench_error(r, "socketpair: %s", strerror(-rc));
    return;
  }
  struct bench_roles roles = {.senders = 1};
  if (k == BENCH_ROUNDTRIP) {
    roles.sender = rt_client;
    roles.receiver = rt_server;
  } else if (batched) {
    roles.sender = batch_sender;
    roles.receiver = batch_receiver;
  } else {
    roles.sender = plain_sender;
    roles.receiver = plain_receiver;
  }
  r->messages = n;
  bench_run(r, &roles, &a);
  close(a.fds[0]);
  close(a.fds[1]);
}
