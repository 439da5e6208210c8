/* SPDX-License-Identifier: MIT */
/*
 * The receive state machine (lib/frame.c) and the calls built on it:
 * mpconn_recv_bytes(), mpconn_recv_bytes_into(), mpconn_recv(),
 * mpconn_poll(), mpconn_wait() and mpconn_set_max_size(), fed an arbitrary
 * byte stream in arbitrary chunks.
 *
 * mpconn__read() is replaced (-Wl,--wrap=mpconn__read) by a script that
 * hands out the stream in chunks of the sizes the input asks for, and that
 * can make any read time out or fail with ECONNRESET instead.  A model of
 * the framing, written from the protocol and not from frame.c, predicts the
 * result of every call: the exact payload, or the exact error code.
 *
 * Input:
 *   byte 0      the initial receive limit (an index into limits[])
 *   byte 1      high nibble + 1: length of the read script;
 *               low nibble + 1: length of the call script
 *   read script one byte per read, used in turn: 0 times out, 1 fails with
 *               ECONNRESET, 2..239 hands out 1..238 bytes, 240..255 hands
 *               out 8 KiB..128 KiB
 *   call script one byte per call, used in turn (see step())
 *   the rest    the byte stream
 */
#include "fuzz.h"

#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The largest is not the default 64 MiB: the paths are the same, and a
 * header announcing tens of MiB would cost each run a large allocation. */
static const size_t limits[] = {
    0, 1, 7, 64, 255, 4096, 65524, 65536, 200000, 1 << 20,
};
#define NLIMITS (sizeof(limits) / sizeof(limits[0]))

/* The stream and the read script of one input. */
static struct {
  const uint8_t *stream;
  size_t n, fed; /* fed: bytes handed out so far */
  const uint8_t *script;
  size_t nscript, next;
  unsigned long reads, timeouts, resets;
} io;

ssize_t __wrap_mpconn__read(int fd, bool sock, void *buf, size_t len,
                            int64_t deadline);

ssize_t __wrap_mpconn__read(int fd, bool sock, void *buf, size_t len,
                            int64_t deadline) {
  (void)sock;
  (void)fd;
  (void)deadline;
  /* A read of 0 bytes would return 0, which means end of file. */
  FUZZ_CHECK(len > 0);
  io.reads++;
  uint8_t s = io.script[io.next++ % io.nscript];
  if (s == 0) {
    io.timeouts++;
    return MPCONN_ETIMEDOUT;
  }
  if (s == 1) {
    io.resets++;
    return MPCONN_ECONNRESET;
  }
  size_t k = s >= 0xf0 ? (size_t)(s - 0xef) * 8192 : (size_t)s - 1;
  size_t left = io.n - io.fed;
  if (k > left)
    k = left;
  if (k > len)
    k = len;
  memcpy(buf, io.stream + io.fed, k);
  io.fed += k;
  return (ssize_t)k;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct outcome {
  int rc; /* 0: a frame of hlen + plen bytes is next */
  size_t hlen;
  uint64_t plen;
};

struct model {
  size_t pos; /* where the next frame starts in the stream */
  int sticky; /* the error every receive returns from now on */
};

static bool is_sticky(int rc) {
  return rc == MPCONN_EOF || rc == MPCONN_ETRUNCATED || rc == MPCONN_ETOOBIG ||
         rc == MPCONN_EBADFRAME;
}

/*
 * What a receive accepting payloads up to @limit meets next: a 4-byte
 * big-endian signed length, or -1 and an 8-byte length; other negative
 * lengths are malformed; the length is checked against the limit as soon
 * as the header is there; end of input at a frame boundary is EOF, inside
 * a frame truncation.  @header_only: stop after the limit check.  (A
 * model of its own, apart from frame.c's header decoding, which it checks.)
 */
static struct outcome predict(const struct model *m, size_t limit,
                              bool header_only) {
  struct outcome o = {0};
  const uint8_t *p = io.stream + m->pos;
  size_t left = io.n - m->pos;
  if (m->sticky) {
    o.rc = m->sticky;
    return o;
  }
  if (left == 0) {
    o.rc = MPCONN_EOF;
    return o;
  }
  if (left < 4) {
    o.rc = MPCONN_ETRUNCATED;
    return o;
  }
  int32_t v = (int32_t)(uint32_t)mpconn__load_be(p, 4);
  if (v < -1) {
    o.rc = MPCONN_EBADFRAME;
    return o;
  }
  if (v == -1) {
    if (left < 12) {
      o.rc = MPCONN_ETRUNCATED;
      return o;
    }
    o.hlen = 12;
    o.plen = mpconn__load_be(p + 4, 8);
  } else {
    o.hlen = 4;
    o.plen = (uint64_t)v;
  }
  if (o.plen > limit)
    o.rc = MPCONN_ETOOBIG;
  else if (!header_only && left - o.hlen < o.plen)
    o.rc = MPCONN_ETRUNCATED;
  return o;
}

/* ------------------------------------------------------------------------ */
/* The calls                                                                */
/* ------------------------------------------------------------------------ */

struct run {
  mpconn *c;
  size_t max_size;
  struct model m;
  /* poll or wait reported the connection ready: until a receive consumes
   * something, receives return at once, without reading. */
  bool ready;
  /* poll or wait met a read error; the next receive returns it. */
  bool reset_pending;
};

struct counts {
  unsigned long reads, timeouts, resets;
};

static struct counts snapshot(void) {
  return (struct counts){io.reads, io.timeouts, io.resets};
}

/*
 * Checks shared by every receive.  True when the call returned what the
 * model predicted (and then a sticky code is recorded), false when it
 * returned a fault the read script injected instead.
 */
static bool check_receive(struct run *r, int rc, int want,
                          struct counts before) {
  if (r->ready)
    FUZZ_CHECK(io.reads == before.reads);
  if (r->reset_pending) {
    FUZZ_CHECK_RC(rc == MPCONN_ECONNRESET, rc);
    r->reset_pending = false;
    r->ready = false;
    return false;
  }
  if (rc == MPCONN_ETIMEDOUT) {
    FUZZ_CHECK(!r->m.sticky && io.timeouts > before.timeouts);
    return false;
  }
  if (rc == MPCONN_ECONNRESET) {
    FUZZ_CHECK(!r->m.sticky && io.resets > before.resets);
    return false;
  }
  FUZZ_CHECK_RC(rc == want, rc);
  if (is_sticky(rc))
    r->m.sticky = rc;
  return true;
}

/* The frame the model predicted was received: move past it. */
static void consumed(struct run *r, struct outcome o) {
  r->m.pos += o.hlen + (size_t)o.plen;
  r->ready = false;
}

static const uint8_t *payload_of(const struct run *r, struct outcome o) {
  return io.stream + r->m.pos + o.hlen;
}

static void do_recv_bytes(struct run *r, size_t maxlength, int timeout) {
  size_t limit = maxlength < r->max_size ? maxlength : r->max_size;
  struct outcome want = predict(&r->m, limit, false);
  struct counts before = snapshot();
  void *data = NULL;
  size_t len = 0;
  int rc = mpconn_recv_bytes(r->c, &data, &len, maxlength, timeout);
  if (check_receive(r, rc, want.rc, before) && rc == 0) {
    FUZZ_CHECK(data != NULL && len == want.plen);
    FUZZ_CHECK(len == 0 || memcmp(data, payload_of(r, want), len) == 0);
    consumed(r, want);
  }
  if (rc == 0)
    free(data);
}

/* The bytes a receive buffer is filled with before the call. */
#define FILL 0xa5
#define BIG_BUFFER 70000
static uint8_t fill[BIG_BUFFER];

static bool untouched(const uint8_t *buf, size_t from, size_t to) {
  return from >= to || memcmp(buf + from, fill, to - from) == 0;
}

/*
 * After a failed mpconn_recv_bytes_into(): a frame larger than the receive
 * chunk is read straight into the buffer, so a timeout, a read error or
 * end of file may leave part of its payload there.  Nothing else is
 * written: no byte outside the payload's place, and in it only payload
 * bytes.
 */
static void check_partial(const struct run *r, struct outcome want,
                          const uint8_t *buf, size_t size, size_t offset) {
  if (!want.hlen || want.plen > size - offset) {
    FUZZ_CHECK(untouched(buf, 0, size));
    return;
  }
  size_t end = offset + (size_t)want.plen;
  FUZZ_CHECK(untouched(buf, 0, offset) && untouched(buf, end, size));
  /* The part of the payload the stream holds; FILL elsewhere. */
  size_t avail = io.n - r->m.pos - want.hlen;
  const uint8_t *payload = payload_of(r, want);
  for (size_t i = offset; i < end; i++)
    if (buf[i] != FILL)
      FUZZ_CHECK(i - offset < avail && buf[i] == payload[i - offset]);
}

static void do_recv_into(struct run *r, size_t size, size_t offset,
                         int timeout) {
  uint8_t *buf = malloc(size ? size : 1);
  FUZZ_CHECK(buf && size <= BIG_BUFFER);
  if (fill[0] != FILL)
    memset(fill, FILL, sizeof(fill));
  memset(buf, FILL, size);
  struct counts before = snapshot();
  size_t len = 0;
  if (offset > size) {
    int rc = mpconn_recv_bytes_into(r->c, buf, size, offset, &len, timeout);
    FUZZ_CHECK_RC(rc == MPCONN_EINVAL, rc);
    FUZZ_CHECK(io.reads == before.reads);
    free(buf);
    return;
  }
  struct outcome want = predict(&r->m, r->max_size, true);
  if (want.rc == 0 && want.plen > size - offset)
    want.rc = MPCONN_ETOOSHORT;
  else if (want.rc == 0)
    want = predict(&r->m, r->max_size, false);
  int rc = mpconn_recv_bytes_into(r->c, buf, size, offset, &len, timeout);
  if (check_receive(r, rc, want.rc, before)) {
    if (rc == MPCONN_ETOOSHORT)
      FUZZ_CHECK(len == want.plen);
    if (rc == 0) {
      FUZZ_CHECK(len == want.plen);
      FUZZ_CHECK(len == 0 ||
                 memcmp(buf + offset, payload_of(r, want), len) == 0);
      consumed(r, want);
    }
  }
  /* Nothing but the payload, at [offset, offset + len), is written. */
  if (rc == 0)
    FUZZ_CHECK(untouched(buf, 0, offset) && untouched(buf, offset + len, size));
  else
    check_partial(r, want, buf, size, offset);
  free(buf);
}

static void do_recv_value(struct run *r, int timeout) {
  struct outcome want = predict(&r->m, r->max_size, false);
  int expect = want.rc;
  if (want.rc == 0)
    expect = mpconn__validate(payload_of(r, want), (size_t)want.plen);
  struct counts before = snapshot();
  mpconn_msg *msg = NULL;
  int rc = mpconn_recv(r->c, &msg, timeout);
  FUZZ_CHECK((rc == 0) == (msg != NULL));
  if (check_receive(r, rc, expect, before) && want.rc == 0) {
    /* A frame that is not a value is consumed too. */
    if (rc == 0) {
      size_t len;
      const void *data = mpconn_msg_data(msg, &len);
      FUZZ_CHECK(len == want.plen &&
                 memcmp(data, payload_of(r, want), len) == 0);
      FUZZ_CHECK(mpconn_msg_value(msg) != NULL);
    }
    consumed(r, want);
  }
  mpconn_msg_free(msg);
}

/* After poll or wait said ready: an error the model predicts for the next
 * frame has been met and is kept, even if the limit is raised later. */
static void became_ready(struct run *r, struct counts before) {
  r->ready = true;
  if (io.resets > before.resets) {
    r->reset_pending = true;
    return;
  }
  if (r->reset_pending)
    return;
  struct outcome o = predict(&r->m, r->max_size, false);
  if (is_sticky(o.rc))
    r->m.sticky = o.rc;
}

static void do_poll(struct run *r, int timeout) {
  struct counts before = snapshot();
  int rc = mpconn_poll(r->c, timeout);
  FUZZ_CHECK_RC(rc == 0 || rc == 1, rc);
  if (r->ready || r->m.sticky)
    FUZZ_CHECK(rc == 1 && io.reads == before.reads);
  if (rc == 0) {
    FUZZ_CHECK(io.timeouts > before.timeouts);
    return;
  }
  became_ready(r, before);
}

static void do_wait(struct run *r) {
  struct counts before = snapshot();
  mpconn *ready[1] = {NULL};
  int rc = mpconn_wait(&r->c, 1, 0, ready);
  FUZZ_CHECK_RC(rc == 0 || rc == 1, rc);
  if (r->ready || r->m.sticky)
    FUZZ_CHECK(rc == 1 && io.reads == before.reads);
  if (rc == 0) {
    FUZZ_CHECK(io.timeouts > before.timeouts);
    return;
  }
  FUZZ_CHECK(ready[0] == r->c);
  became_ready(r, before);
}

/* One call, chosen by the low 3 bits of @op; the other bits are its
 * arguments. */
static void step(struct run *r, uint8_t op) {
  unsigned arg = op >> 3;
  int timeout = arg & 1 ? 0 : -1;
  switch (op & 7) {
  case 0:
    do_recv_bytes(r, MPCONN_UNLIMITED, timeout);
    break;
  case 1:
    do_recv_bytes(r, (size_t)arg * 37, timeout);
    break;
  case 2:
    do_recv_into(r, (size_t)(arg & 7) * 20, arg >> 3, timeout);
    break;
  case 3:
    do_recv_into(r, BIG_BUFFER, arg, timeout);
    break;
  case 4:
    do_recv_value(r, timeout);
    break;
  case 5:
    do_poll(r, timeout);
    break;
  case 6:
    do_wait(r);
    break;
  default:
    r->max_size = limits[arg % NLIMITS];
    FUZZ_CHECK(mpconn_set_max_size(r->c, r->max_size) == 0);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  size_t nscript = (size_t)(data[1] >> 4) + 1;
  size_t nops = (size_t)(data[1] & 15) + 1;
  if (size < 2 + nscript + nops)
    return 0;
  const uint8_t *ops = data + 2 + nscript;
  memset(&io, 0, sizeof(io));
  io.script = data + 2;
  io.nscript = nscript;
  io.stream = ops + nops;
  io.n = size - 2 - nscript - nops;

  int fds[2];
  FUZZ_CHECK(pipe2(fds, O_CLOEXEC) == 0);
  /* One byte the wrapped reads never take keeps the descriptor readable
   * for the poll() inside mpconn_wait(). */
  FUZZ_CHECK(write(fds[1], "", 1) == 1);
  struct run r = {.max_size = limits[data[0] % NLIMITS]};
  FUZZ_CHECK(mpconn_from_fds(&r.c, fds[0], -1) == 0);
  FUZZ_CHECK(mpconn_set_max_size(r.c, r.max_size) == 0);

  /* Calls go on while they make progress: bytes handed out, a frame
   * consumed, an error met.  Every script is tried with every call before
   * giving up; once sticky, every kind of call is tried again. */
  size_t idle = 0, after_sticky = 0;
  for (size_t k = 0; idle <= 2 * nops * nscript + 8; k++) {
    size_t fed = io.fed, pos = r.m.pos;
    int sticky = r.m.sticky;
    step(&r, ops[k % nops]);
    idle =
        io.fed != fed || r.m.pos != pos || r.m.sticky != sticky ? 0 : idle + 1;
    if (r.m.sticky && ++after_sticky > nops + 8)
      break;
  }
  mpconn_free(r.c);
  close(fds[1]);
  return 0;
}
