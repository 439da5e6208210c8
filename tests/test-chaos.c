/* SPDX-License-Identifier: MIT */
/*
 * Allocation failures, one at a time, as jansson's test_chaos.c injects
 * them.  malloc(), calloc(), realloc() and strdup() are wrapped with the
 * linker's --wrap; msgpack-c is linked statically so that its zones and
 * buffers are wrapped too, and libcrypto's allocations go through the same
 * wrappers (CRYPTO_set_mem_functions()).
 *
 * Each scenario runs over and over: with the 1st allocation failing, then
 * the 2nd, ..., until a run in which nothing failed; then again with every
 * allocation failing from the nth on.  Only the calls under test, between
 * ARM() and DISARM(), and only in the thread that runs the scenario, see
 * failures.  Every failure must give MPCONN_ENOMEM or another documented
 * code, leave the connection usable (a pending message stays pending), and
 * leak nothing: no descriptor (counted here) and no memory (the sanitizer
 * and valgrind runs check).
 */
#include "net-util.h"

#include <dirent.h>
#include <pthread.h>

#include <openssl/crypto.h>

static _Thread_local struct {
  bool armed;
  bool from;              /* fail every allocation from the fail_at-th on */
  unsigned long fail_at;  /* 1-based */
  unsigned long count;    /* allocations seen while armed */
  unsigned long failures; /* allocations refused */
} chaos;

#define ARM() (chaos.armed = true)
#define DISARM() (chaos.armed = false)

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static bool fail_now(void) {
  if (!chaos.armed)
    return false;
  chaos.count++;
  if (chaos.count == chaos.fail_at ||
      (chaos.from && chaos.count > chaos.fail_at)) {
    chaos.failures++;
    return true;
  }
  return false;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }

void *__wrap_calloc(size_t k, size_t n) {
  return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
  if (fail_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_strdup(s);
}

static void *crypto_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return fail_now() ? NULL : __real_malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return fail_now() ? NULL : __real_realloc(p, n);
}

static void crypto_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  free(p);
}

/*
 * Run @body with the 1st, 2nd, ... allocation failing until it completes
 * with none failing, then the same with all of them failing from the nth
 * on.  @body arms around the calls under test and asserts on everything.
 */
static void chaos_loop(void (*body)(void)) {
  for (int from = 0; from <= 1; from++) {
    for (unsigned long n = 1;; n++) {
      int fds = count_fds();
      memset(&chaos, 0, sizeof(chaos));
      chaos.from = from;
      chaos.fail_at = n;
      body();
      assert_false(chaos.armed);
      assert_int_equal(count_fds(), fds);
      if (chaos.failures == 0) {
        print_message("%lu allocations, failing %s\n", n - 1,
                      from ? "from each on" : "one at a time");
        break;
      }
      assert_true(n < 100000);
    }
  }
}

static void expect_bytes(mpconn *c, const void *want, size_t len) {
  void *data;
  size_t got;
  assert_int_equal(mpconn_recv_bytes(c, &data, &got, MPCONN_UNLIMITED, 5000),
                   0);
  assert_int_equal(got, len);
  if (len)
    assert_memory_equal(data, want, len);
  free(data);
}

/* A pipe pair whose pipe holds a large frame without a reader. */
static void big_pipe(mpconn **r, mpconn **w) {
  assert_int_equal(mpconn_pipe(r, w, false), 0);
  assert_true(fcntl(mpconn_fileno(*w), F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void body_pipe(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpconn *a = NULL, *b = NULL;
    ARM();
    int rc = mpconn_pipe(&a, &b, duplex);
    DISARM();
    if (rc == MPCONN_ENOMEM) {
      assert_null(a);
      assert_null(b);
      continue;
    }
    assert_int_equal(rc, 0);
    mpconn *from = duplex ? a : b;
    assert_int_equal(mpconn_send_bytes(from, "x", 1), 0);
    expect_bytes(duplex ? b : a, "x", 1);
    mpconn_free(a);
    mpconn_free(b);
  }

  /* Wrapped descriptors are closed when the call fails. */
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  char spec[32];
  snprintf(spec, sizeof(spec), "%d,-1", fds[0]);
  mpconn *c = NULL;
  ARM();
  int rc = mpconn_from_string(&c, spec);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM);
  assert_true((rc == 0) == (c != NULL));
  mpconn_free(c);
  close(fds[1]);
}

static void test_pipe(void **state) {
  (void)state;
  chaos_loop(body_pipe);
}

/* ------------------------------------------------------------------------ */
/* Bytes                                                                    */
/* ------------------------------------------------------------------------ */

static const size_t byte_sizes[] = {0, 10, 70000, 3};
#define NBYTE_SIZES (sizeof(byte_sizes) / sizeof(byte_sizes[0]))

static void body_bytes(void) {
  mpconn *r, *w;
  big_pipe(&r, &w);
  for (size_t i = 0; i < NBYTE_SIZES; i++) {
    uint8_t *p = pattern_buf(i, byte_sizes[i]);
    assert_int_equal(mpconn_send_bytes(w, p, byte_sizes[i]), 0);
    free(p);
  }
  for (size_t i = 0; i < NBYTE_SIZES; i++) {
    void *data = NULL;
    size_t len = 0;
    ARM();
    int rc = mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, 5000);
    DISARM();
    if (rc == MPCONN_ENOMEM) /* the message is still pending */
      rc = mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, 5000);
    assert_int_equal(rc, 0);
    assert_int_equal(len, byte_sizes[i]);
    uint8_t *want = pattern_buf(i, len);
    if (len)
      assert_memory_equal(data, want, len);
    free(want);
    free(data);
  }
  mpconn_free(r);
  mpconn_free(w);

  /* recv_bytes_into allocates only the receive buffer; poll too. */
  big_pipe(&r, &w);
  assert_int_equal(mpconn_send_bytes(w, "abc", 3), 0);
  assert_int_equal(mpconn_send_bytes(w, "defg", 4), 0);
  ARM();
  int rc = mpconn_poll(r, 0);
  DISARM();
  assert_true(rc == 1 || rc == MPCONN_ENOMEM);
  char buf[8];
  size_t len;
  ARM();
  rc = mpconn_recv_bytes_into(r, buf, sizeof(buf), 1, &len, 5000);
  DISARM();
  if (rc == MPCONN_ENOMEM)
    rc = mpconn_recv_bytes_into(r, buf, sizeof(buf), 1, &len, 5000);
  assert_int_equal(rc, 0);
  assert_int_equal(len, 3);
  assert_memory_equal(buf + 1, "abc", 3);
  expect_bytes(r, "defg", 4);

  /* wait() allocates its poll set. */
  mpconn *set[2] = {r, r}, *ready[2];
  ARM();
  rc = mpconn_wait(set, 2, 0, ready);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM);
  mpconn_free(r);
  mpconn_free(w);
}

static void test_bytes(void **state) {
  (void)state;
  chaos_loop(body_bytes);
}

/*
 * A frame larger than the receive chunk is read by recv_bytes_into()
 * straight into the caller's buffer.  When a timeout cuts it, the part
 * received is saved for the next receive, which needs an allocation of the
 * frame's size.  If that fails, the part is lost and so is the stream:
 * MPCONN_ENOMEM from then on, like the sticky framing errors.  Any other
 * failure leaves the frame pending.
 */
#define PARTIAL 100000

static void body_into_partial(void) {
  static uint8_t frame[4 + PARTIAL], buf[PARTIAL];
  memcpy(frame, "\x00\x01\x86\xa0", 4);
  for (size_t i = 0; i < PARTIAL; i++)
    frame[4 + i] = pattern(9, i);
  int wfd;
  mpconn *r = raw_reader(&wfd);
  raw_write(wfd, frame, 4 + PARTIAL / 2);
  size_t len;
  ARM();
  int rc = mpconn_recv_bytes_into(r, buf, sizeof(buf), 0, &len, 50);
  DISARM();
  assert_true(rc == MPCONN_ETIMEDOUT || rc == MPCONN_ENOMEM);
  raw_write(wfd, frame + 4 + PARTIAL / 2, PARTIAL / 2);
  int again = mpconn_recv_bytes_into(r, buf, sizeof(buf), 0, &len, 5000);
  if (again == MPCONN_ENOMEM) {
    assert_int_equal(rc, MPCONN_ENOMEM);
    void *data;
    assert_int_equal(mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, 5000),
                     MPCONN_ENOMEM);
  } else {
    assert_int_equal(again, 0);
    assert_int_equal(len, PARTIAL);
    assert_memory_equal(buf, frame + 4, PARTIAL);
  }
  mpconn_free(r);
  close(wfd);
}

static void test_into_partial(void **state) {
  (void)state;
  chaos_loop(body_into_partial);
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

/* Frames of every kind of value; the last two are large. */
static const char *const value_hex[] = {
    "c0",
    "c3",
    "cf ff ff ff ff ff ff ff ff",
    "d3 80 00 00 00 00 00 00 00",
    "cb 3f b9 99 99 99 99 99 9a",
    "ca 3d cc cc cd",
    "a3 61 62 63",
    "c4 02 01 02",
    "d4 05 01",
    "c7 03 53 92 01 02",
    /* [nil, {"k": [1, <"s">]}, ext, set of sets] */
    ("94 c0 81 a1 6b 92 01 c7 03 53 91 a1 73 c7 01 05 ff c7 07 53 92 d4 53 "
     "90 d4 53 90"),
    /* 24 levels */
    "91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 c0",
};
#define NVALUES (sizeof(value_hex) / sizeof(value_hex[0]))
#define LARGE_STR 70000
#define LARGE_ARRAY 2000

static size_t large_value(uint8_t *out, size_t i) {
  if (i == 0) { /* a str over the receive chunk: its own allocation */
    out[0] = 0xdb;
    out[1] = 0;
    out[2] = (uint8_t)(LARGE_STR >> 16);
    out[3] = (uint8_t)(LARGE_STR >> 8);
    out[4] = (uint8_t)LARGE_STR;
    memset(out + 5, 'x', LARGE_STR);
    return 5 + LARGE_STR;
  }
  /* an array of many sets: a zone of 48 KiB, and a set each to decode */
  out[0] = 0xdc;
  out[1] = (uint8_t)(LARGE_ARRAY >> 8);
  out[2] = (uint8_t)LARGE_ARRAY;
  for (size_t k = 0; k < LARGE_ARRAY; k++)
    memcpy(out + 3 + 4 * k, "\xd5\x53\x91\x07", 4);
  return 3 + 4 * LARGE_ARRAY;
}

/* Decode every set in @v through @m, with allocations failing. */
static void members_of(mpconn_msg *m, const msgpack_object *v) {
  if (v->type == MSGPACK_OBJECT_ARRAY) {
    for (uint32_t i = 0; i < v->via.array.size; i++)
      members_of(m, &v->via.array.ptr[i]);
  } else if (v->type == MSGPACK_OBJECT_MAP) {
    for (uint32_t i = 0; i < v->via.map.size; i++)
      members_of(m, &v->via.map.ptr[i].val);
  } else if (v->type == MSGPACK_OBJECT_EXT &&
             v->via.ext.type == MPCONN_EXT_SET) {
    msgpack_object_array members;
    ARM();
    int rc = mpconn_msg_set_members(m, v, &members);
    DISARM();
    if (rc == MPCONN_ENOMEM)
      rc = mpconn_msg_set_members(m, v, &members);
    assert_int_equal(rc, 0);
    for (uint32_t i = 0; i < members.size; i++)
      members_of(m, &members.ptr[i]);
  }
}

static void body_values(void) {
  static uint8_t large[5 + LARGE_STR];
  mpconn *r, *w;
  big_pipe(&r, &w);
  for (size_t i = 0; i < NVALUES + 2; i++) {
    uint8_t small[256];
    size_t len = i < NVALUES ? unhex(value_hex[i], small, sizeof(small))
                             : large_value(large, i - NVALUES);
    const uint8_t *payload = i < NVALUES ? small : large;
    assert_int_equal(mpconn_send_bytes(w, payload, len), 0);

    mpconn_msg *m = NULL;
    ARM();
    int rc = mpconn_recv(r, &m, 5000);
    DISARM();
    if (rc == MPCONN_ENOMEM) {
      /* The message stays pending: a later receive gets it. */
      assert_null(m);
      rc = mpconn_recv(r, &m, 5000);
    }
    assert_int_equal(rc, 0);
    size_t got;
    const void *data = mpconn_msg_data(m, &got);
    assert_int_equal(got, len);
    assert_memory_equal(data, payload, len);
    members_of(m, mpconn_msg_value(m));

    /* Sending it back: all of it, or nothing. */
    ARM();
    rc = mpconn_send(w, mpconn_msg_value(m));
    DISARM();
    assert_true(rc == 0 || rc == MPCONN_ENOMEM);
    if (rc == 0) {
      mpconn_msg *again;
      assert_int_equal(mpconn_recv(r, &again, 5000), 0);
      mpconn_msg_free(again);
    }
    assert_int_equal(mpconn_poll(r, 0), 0);
    mpconn_msg_free(m);
  }
  mpconn_free(r);
  mpconn_free(w);
}

static void test_values(void **state) {
  (void)state;
  chaos_loop(body_values);
}

/* ------------------------------------------------------------------------ */
/* Queues                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Every value through a queue, with allocations failing in the put and in
 * the get: MPCONN_ENOMEM leaves the queue as it was (the item not put, or
 * not taken), anything else is the whole item.
 */
static void body_queue(void) {
  static uint8_t large[5 + LARGE_STR];
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new(&q, 0), 0);
  for (size_t i = 0; i < NVALUES + 2; i++) {
    uint8_t small[256];
    size_t len = i < NVALUES ? unhex(value_hex[i], small, sizeof(small))
                             : large_value(large, i - NVALUES);
    const uint8_t *payload = i < NVALUES ? small : large;
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 4096));
    msgpack_object v;
    size_t off = 0;
    assert_int_equal(msgpack_unpack((const char *)payload, len, &off, &z, &v),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, v), 0);

    ARM();
    int rc = mpconn_queue_put(q, &v, 0);
    DISARM();
    assert_true(rc == 0 || rc == MPCONN_ENOMEM);
    assert_int_equal(mpconn_queue_qsize(q), rc == 0);
    if (rc == MPCONN_ENOMEM)
      assert_int_equal(mpconn_queue_put(q, &v, 0), 0);

    mpconn_msg *m = NULL;
    ARM();
    rc = mpconn_queue_get(q, &m, 0);
    DISARM();
    if (rc == MPCONN_ENOMEM) {
      assert_null(m);
      assert_int_equal(mpconn_queue_qsize(q), 1); /* still there */
      rc = mpconn_queue_get(q, &m, 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(mpconn_queue_qsize(q), 0);
    size_t got;
    const void *data = mpconn_msg_data(m, &got);
    assert_int_equal(got, want.size);
    assert_memory_equal(data, want.data, want.size);
    members_of(m, mpconn_msg_value(m));
    mpconn_msg_free(m);
    msgpack_sbuffer_destroy(&want);
    msgpack_zone_destroy(&z);
  }
  mpconn_queue_free(q);
}

static void test_queue(void **state) {
  (void)state;
  chaos_loop(body_queue);
}

/* ------------------------------------------------------------------------ */
/* Format strings                                                           */
/* ------------------------------------------------------------------------ */

/* 20 containers: more than the format parser keeps inline. */
#define FMT20 "[[[[[[[[[[[[[[[[[[[[i]]]]]]]]]]]]]]]]]]]]"

static void body_format(void) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  mpconn_error err;
  ARM();
  int rc = mpconn_packf(&pk, &err, "{s:<i, s, y#>, s:" FMT20 "}", "set", 1,
                        "two", "\x03", (size_t)1, "deep", 5);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM);
  if (rc < 0)
    assert_int_equal(err.code, rc);
  msgpack_sbuffer_destroy(&sb);

  /* A value to take apart: the set, the deep array, and a map of 600
   * entries, more than unpackf tracks without allocating. */
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  assert_int_equal(mpconn_packf(&pk, NULL, "s", "set"), 0);
  assert_int_equal(mpconn_packf(&pk, NULL, "<i, i>", 1, 2), 0);
  assert_int_equal(mpconn_packf(&pk, NULL, "s", "deep"), 0);
  assert_int_equal(mpconn_packf(&pk, NULL, FMT20, 7), 0);
  assert_int_equal(mpconn_packf(&pk, NULL, "s", "big"), 0);
  msgpack_pack_map(&pk, 600);
  for (int i = 0; i < 600; i++) {
    msgpack_pack_int(&pk, i);
    msgpack_pack_nil(&pk);
  }
  msgpack_zone z;
  msgpack_zone_init(&z, 1024);
  msgpack_object v;
  size_t off = 0;
  assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &z, &v),
                   MSGPACK_UNPACK_SUCCESS);
  int a = 0, b = 0, deep = 0;
  ARM();
  rc = mpconn_unpackf(&v, &err, "{s:<i, i>, s:" FMT20 ", s:{*}}", "set", &a, &b,
                      "deep", &deep, "big");
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM);
  if (rc < 0)
    assert_int_equal(err.code, rc);
  else
    assert_true(a == 1 && b == 2 && deep == 7);
  /* Strict: every one of the 600 keys is unexpected. */
  ARM();
  rc = mpconn_unpackf(&v.via.map.ptr[2].val, &err, "{}");
  DISARM();
  assert_true(rc == MPCONN_EUNPACK || rc == MPCONN_ENOMEM);
  assert_int_equal(err.code, rc);

  msgpack_object_array members;
  ARM();
  rc = mpconn_set_unpack(&v.via.map.ptr[0].val, &z, &members);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM);

  msgpack_sbuffer sb2;
  msgpack_sbuffer_init(&sb2);
  msgpack_packer pk2;
  msgpack_packer_init(&pk2, &sb2, msgpack_sbuffer_write);
  ARM();
  rc = mpconn_pack_set(&pk2, &v, 1);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM || rc == MPCONN_EINVAL);
  msgpack_sbuffer_destroy(&sb2);
  msgpack_zone_destroy(&z);
  msgpack_sbuffer_destroy(&sb);
}

static void test_format(void **state) {
  (void)state;
  chaos_loop(body_format);
}

/* ------------------------------------------------------------------------ */
/* Corking                                                                  */
/* ------------------------------------------------------------------------ */

#define CORKED 40

static void body_cork(void) {
  mpconn *r, *w;
  big_pipe(&r, &w);
  assert_int_equal(mpconn_cork(w, true), 0);
  bool sent[3 * CORKED];
  int k = 0;
  ARM();
  for (int i = 0; i < CORKED; i++) {
    char text[32];
    int n = snprintf(text, sizeof(text), "frame %d", i);
    /* Corked bytes that cannot be buffered are written at once. */
    sent[k++] = mpconn_send_bytes(w, text, (size_t)n) == 0;
    assert_true(sent[k - 1]);
    msgpack_packer *pk;
    int rc = mpconn_pack_begin(w, &pk);
    if (rc == 0) {
      msgpack_pack_int(pk, i);
      rc = mpconn_pack_end(w);
    }
    assert_true(rc == 0 || rc == MPCONN_ENOMEM);
    sent[k++] = rc == 0;
    rc = mpconn_sendf(w, "[i, s]", i, "sendf");
    assert_true(rc == 0 || rc == MPCONN_ENOMEM);
    sent[k++] = rc == 0;
  }
  int rc = mpconn_flush(w);
  DISARM();
  assert_int_equal(rc, 0);
  /* Exactly the frames whose send succeeded, in order. */
  k = 0;
  for (int i = 0; i < CORKED; i++) {
    char text[32];
    int n = snprintf(text, sizeof(text), "frame %d", i);
    if (sent[k++])
      expect_bytes(r, text, (size_t)n);
    mpconn_msg *m;
    int v;
    if (sent[k++]) {
      assert_int_equal(mpconn_recv(r, &m, 5000), 0);
      assert_int_equal(mpconn_unpackf(mpconn_msg_value(m), NULL, "i", &v), 0);
      assert_int_equal(v, i);
      mpconn_msg_free(m);
    }
    if (sent[k++]) {
      char s[8];
      assert_int_equal(mpconn_recv(r, &m, 5000), 0);
      assert_int_equal(
          mpconn_unpackf(mpconn_msg_value(m), NULL, "[i, s]", &v, s, sizeof(s)),
          0);
      assert_int_equal(v, i);
      mpconn_msg_free(m);
    }
  }
  assert_int_equal(mpconn_poll(r, 0), 0);
  mpconn_free(r);
  mpconn_free(w);
}

static void test_cork(void **state) {
  (void)state;
  chaos_loop(body_cork);
}

/* ------------------------------------------------------------------------ */
/* Listeners and clients                                                    */
/* ------------------------------------------------------------------------ */

static const mpconn_net_options key_opts = {
    .authkey = "chaos key", .authkey_len = 9, .handshake_timeout_ms = 5000};
/* Where listeners listen, and where clients connect (the port chosen). */
static char listen_at[MPCONN_ADDRESS_MAX], address[MPCONN_ADDRESS_MAX];

/* The other side, in a thread that never sees a failure. */
struct peer {
  mpconn_listener *l; /* accept on this, or connect to address */
  int rc;
  pthread_t thread;
};

/* Echo one message on a connection that was set up. */
static void echo_one(mpconn *c) {
  void *data;
  size_t len;
  if (mpconn_recv_bytes(c, &data, &len, 64, NET_TIMEOUT_MS) == 0) {
    mpconn_send_bytes(c, data, len);
    free(data);
  }
}

static void *peer_run(void *arg) {
  struct peer *p = arg;
  mpconn *c = NULL;
  if (p->l)
    p->rc = mpconn_listener_accept(p->l, &c, NET_TIMEOUT_MS);
  else
    p->rc = mpconn_client(&c, address, &key_opts);
  if (p->rc == 0)
    echo_one(c);
  mpconn_free(c);
  return NULL;
}

static void ping(mpconn *c) {
  net_send_str(c, "ping");
  net_expect_str(c, "ping");
}

/* This side listens and accepts; the client never fails. */
static void body_listener(void) {
  mpconn_listener *l = NULL;
  ARM();
  int rc = mpconn_listener_new(&l, listen_at, &key_opts);
  DISARM();
  if (rc == MPCONN_ENOMEM) {
    assert_null(l);
    return;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(mpconn_listener_address(l, address, sizeof(address)), 0);
  struct peer p = {.l = NULL};
  assert_int_equal(pthread_create(&p.thread, NULL, peer_run, &p), 0);
  mpconn *c = NULL;
  ARM();
  rc = mpconn_listener_accept(l, &c, NET_TIMEOUT_MS);
  DISARM();
  assert_true(rc == 0 || rc == MPCONN_ENOMEM || rc == MPCONN_EAUTH);
  assert_true((rc == 0) == (c != NULL));
  if (rc == 0)
    ping(c);
  mpconn_free(c);
  assert_int_equal(pthread_join(p.thread, NULL), 0);
  /* Accepted means the client got through too. */
  if (rc == 0)
    assert_int_equal(p.rc, 0);
  mpconn_listener_free(l);
}

/* This side connects; the listener never fails. */
static void body_client(void) {
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, listen_at, &key_opts), 0);
  assert_int_equal(mpconn_listener_address(l, address, sizeof(address)), 0);
  struct peer p = {.l = l};
  assert_int_equal(pthread_create(&p.thread, NULL, peer_run, &p), 0);
  mpconn *c = NULL;
  ARM();
  int rc = mpconn_client(&c, address, &key_opts);
  DISARM();
  /* -EIO: the nonce could not be drawn. */
  assert_true(rc == 0 || rc == MPCONN_ENOMEM || rc == MPCONN_EAUTH ||
              rc == -EIO);
  assert_true((rc == 0) == (c != NULL));
  if (rc == 0)
    ping(c);
  mpconn_free(c);
  assert_int_equal(pthread_join(p.thread, NULL), 0);
  /* The listener's last step waits for this side's verdict. */
  assert_true(rc == 0 ? p.rc == 0 : p.rc == MPCONN_EAUTH);
  mpconn_listener_free(l);
}

static void test_listener_abstract(void **state) {
  (void)state;
  net_abstract(listen_at, sizeof(listen_at), "chaos");
  chaos_loop(body_listener);
  chaos_loop(body_client);
}

static void test_listener_path(void **state) {
  (void)state;
  char dir[64];
  net_tmpdir(dir, sizeof(dir));
  snprintf(listen_at, sizeof(listen_at), "%s/sock", dir);
  chaos_loop(body_listener);
  chaos_loop(body_client);
  net_rmdir(dir);
}

static void test_listener_tcp(void **state) {
  (void)state;
  snprintf(listen_at, sizeof(listen_at), "127.0.0.1:0");
  chaos_loop(body_listener);
  chaos_loop(body_client);
}

/* libcrypto sets itself up lazily, once per process: let that happen
 * before any failure, as a long-running program would have. */
static void warm_up(void) {
  mpconn_listener *l;
  assert_int_equal(mpconn_listener_new(&l, "@", &key_opts), 0);
  assert_int_equal(mpconn_listener_address(l, address, sizeof(address)), 0);
  struct peer p = {.l = NULL};
  assert_int_equal(pthread_create(&p.thread, NULL, peer_run, &p), 0);
  mpconn *c;
  assert_int_equal(mpconn_listener_accept(l, &c, NET_TIMEOUT_MS), 0);
  ping(c);
  mpconn_free(c);
  assert_int_equal(pthread_join(p.thread, NULL), 0);
  assert_int_equal(p.rc, 0);
  mpconn_listener_free(l);
}

int main(void) {
  if (!CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free)) {
    fprintf(stderr, "CRYPTO_set_mem_functions() refused\n");
    return 1;
  }
  warm_up();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pipe),
      cmocka_unit_test(test_bytes),
      cmocka_unit_test(test_into_partial),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_queue),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_cork),
      cmocka_unit_test(test_listener_abstract),
      cmocka_unit_test(test_listener_path),
      cmocka_unit_test(test_listener_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
