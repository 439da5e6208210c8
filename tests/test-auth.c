/* SPDX-License-Identifier: MIT */
/*
 * The handshake (lib/auth.c), byte for byte.  One end of a socketpair is
 * the connection under test; the test reads and writes raw frames on the
 * other.  Expected MACs are computed here with OpenSSL's one-shot HMAC(),
 * independently of the library's EVP_MAC path.
 */
#include "test-util.h"

#include "mpconn-private.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define KEY "the key"
#define KEYLEN (sizeof(KEY) - 1)
#define TIMEOUT_MS 5000

static const uint8_t nonce40[40] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
    0x7b, 0x7d, 0x23, 0x00, 0xff, 0x80, 0x7f, 0x41, 0x42, 0x43,
    0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0};

struct pair {
  mpconn *c; /* the end under test */
  int raw;   /* the test's end */
};

static int setup(void **state) {
  struct pair *p = calloc(1, sizeof(*p));
  int fds[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  assert_int_equal(mpconn_from_fds(&p->c, fds[0], fds[0]), 0);
  p->raw = fds[1];
  *state = p;
  return 0;
}

static int teardown(void **state) {
  struct pair *p = *state;
  mpconn_free(p->c);
  if (p->raw >= 0)
    close(p->raw);
  free(p);
  return 0;
}

static int64_t soon(void) { return mpconn__deadline(TIMEOUT_MS); }

static void write_frame(int fd, const void *data, size_t len) {
  uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8), (uint8_t)len};
  raw_write(fd, hdr, 4);
  if (len)
    raw_write(fd, data, len);
}

static void write_str(int fd, const char *s) { write_frame(fd, s, strlen(s)); }

static void read_exact(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, TIMEOUT_MS), 1);
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* One frame as the library wrote it: the 4-byte header, then *len bytes. */
static uint8_t *read_frame(int fd, size_t *len) {
  uint8_t hdr[4];
  read_exact(fd, hdr, 4);
  size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
             hdr[3];
  assert_true(n < 4096);
  uint8_t *p = malloc(n + 1);
  read_exact(fd, p, n);
  *len = n;
  return p;
}

static void expect_frame(int fd, const void *want, size_t len) {
  size_t n;
  uint8_t *got = read_frame(fd, &n);
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
  free(got);
}

/* Nothing more was written to the test's end. */
static void expect_silence(int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&pfd, 1, 0), 0);
}

static size_t mac(const EVP_MD *md, const void *key, size_t keylen,
                  const void *msg, size_t n, uint8_t out[EVP_MAX_MD_SIZE]) {
  unsigned int len = 0;
  assert_non_null(HMAC(md, key, (int)keylen, msg, n, out, &len));
  return len;
}

/* "#CHALLENGE#" + body, as one buffer. */
static size_t challenge(uint8_t *out, const char *prefix, const void *rest,
                        size_t n) {
  size_t k = strlen("#CHALLENGE#") + strlen(prefix);
  memcpy(out, "#CHALLENGE#", 11);
  memcpy(out + 11, prefix, strlen(prefix));
  memcpy(out + k, rest, n);
  return k + n;
}

/* ----- answering (the client's first step) ----------------------------- */

/* Each allowed digest: the answer is "{name}" + HMAC(key, "{name}" + the
 * 40 bytes): the MAC covers the prefix too. */
static void test_answer_every_digest(void **state) {
  struct pair *p = *state;
  const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } d[] = {{"sha256", EVP_sha256},
           {"md5", EVP_md5},
           {"sha384", EVP_sha384},
           {"sha3_256", EVP_sha3_256},
           {"sha3_384", EVP_sha3_384}};
  for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "{%s}", d[i].name);
    uint8_t msg[128];
    size_t n = challenge(msg, prefix, nonce40, sizeof(nonce40));
    write_frame(p->raw, msg, n);
    write_str(p->raw, "#WELCOME#");
    assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()), 0);

    uint8_t want[128], m[EVP_MAX_MD_SIZE];
    size_t maclen = mac(d[i].md(), KEY, KEYLEN, msg + 11, n - 11, m);
    memcpy(want, prefix, strlen(prefix));
    memcpy(want + strlen(prefix), m, maclen);
    /* The exact bytes on the wire, length header included. */
    size_t len = strlen(prefix) + maclen;
    uint8_t hdr[4] = {0, 0, 0, (uint8_t)len};
    uint8_t got_hdr[4];
    read_exact(p->raw, got_hdr, 4);
    assert_memory_equal(got_hdr, hdr, 4);
    uint8_t got[128];
    read_exact(p->raw, got, len);
    assert_memory_equal(got, want, len);
    expect_silence(p->raw);
  }
}

/* The 3.12 answer to "{sha256}" is 8 + 32 bytes: frame length 40. */
static void test_answer_sha256_exact(void **state) {
  struct pair *p = *state;
  uint8_t msg[128];
  size_t n = challenge(msg, "{sha256}", nonce40, sizeof(nonce40));
  assert_int_equal(n, 59);
  write_frame(p->raw, msg, n);
  write_str(p->raw, "#WELCOME#");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()), 0);
  uint8_t want[40];
  memcpy(want, "{sha256}", 8);
  unsigned int len = 0;
  HMAC(EVP_sha256(), KEY, KEYLEN, msg + 11, 48, want + 8, &len);
  assert_int_equal(len, 32);
  expect_frame(p->raw, want, 40);
}

/* Python <= 3.11: 20 bytes, answered with the raw 16-byte HMAC-MD5. */
static void test_answer_legacy(void **state) {
  struct pair *p = *state;
  uint8_t msg[64];
  size_t n = challenge(msg, "", nonce40, 20);
  write_frame(p->raw, msg, n);
  write_str(p->raw, "#WELCOME#");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()), 0);
  uint8_t want[EVP_MAX_MD_SIZE];
  assert_int_equal(mac(EVP_md5(), KEY, KEYLEN, nonce40, 20, want), 16);
  expect_frame(p->raw, want, 16);
}

/* An empty key is a key. */
static void test_answer_empty_key(void **state) {
  struct pair *p = *state;
  uint8_t msg[64];
  size_t n = challenge(msg, "", nonce40, 20);
  write_frame(p->raw, msg, n);
  write_str(p->raw, "#WELCOME#");
  assert_int_equal(mpconn__answer_challenge(p->c, "", 0, soon()), 0);
  uint8_t want[EVP_MAX_MD_SIZE];
  assert_int_equal(mac(EVP_md5(), "", 0, nonce40, 20, want), 16);
  expect_frame(p->raw, want, 16);
}

/* The longest challenge accepted is 256 bytes in all. */
static void test_answer_256_bytes(void **state) {
  struct pair *p = *state;
  uint8_t msg[256], rest[256];
  memset(rest, 0xab, sizeof(rest));
  size_t n = challenge(msg, "{sha256}", rest, 256 - 19);
  assert_int_equal(n, 256);
  write_frame(p->raw, msg, n);
  write_str(p->raw, "#WELCOME#");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()), 0);
  uint8_t want[8 + EVP_MAX_MD_SIZE];
  memcpy(want, "{sha256}", 8);
  assert_int_equal(mac(EVP_sha256(), KEY, KEYLEN, msg + 11, n - 11, want + 8),
                   32);
  expect_frame(p->raw, want, 40);
}

static void test_answer_rejected(void **state) {
  struct pair *p = *state;
  uint8_t msg[64];
  size_t n = challenge(msg, "", nonce40, 20);
  write_frame(p->raw, msg, n);
  write_str(p->raw, "#FAILURE#");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  size_t len;
  free(read_frame(p->raw, &len)); /* the answer went out */
  assert_int_equal(len, 16);
}

/* Only exactly "#WELCOME#" welcomes. */
static void test_answer_welcome_exact(void **state) {
  struct pair *p = *state;
  const char *verdicts[] = {"#WELCOME#x", "#WELCOME", "", "#welcome#"};
  for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
    uint8_t msg[64];
    size_t n = challenge(msg, "", nonce40, 20);
    write_frame(p->raw, msg, n);
    write_str(p->raw, verdicts[i]);
    assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                     MPCONN_EAUTH);
    size_t len;
    free(read_frame(p->raw, &len));
  }
}

/* Challenges that are not answered at all: nothing is sent back. */
static void test_answer_bad_challenges(void **state) {
  struct pair *p = *state;
  uint8_t msg[300];
  const struct {
    const char *prefix;
    size_t rest;
  } bad[] = {
      {"", 19},            /* too short */
      {"", 0},             /* just "#CHALLENGE#" */
      {"", 21},            /* neither 20 bytes nor a prefix */
      {"{sha1}", 40},      /* not an allowed digest */
      {"{SHA256}", 40},    /* names are exact */
      {"{}", 40},          /* empty name */
      {"{sha256", 40},     /* no closing brace */
      {"{sha3_2566}", 40}, /* the brace comes too late */
      {"{sha256 }", 40},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t n = challenge(msg, bad[i].prefix, nonce40, bad[i].rest);
    write_frame(p->raw, msg, n);
    int rc = mpconn__answer_challenge(p->c, KEY, KEYLEN, soon());
    if (rc != MPCONN_EAUTH)
      fail_msg("challenge %zu: %d", i, rc);
    expect_silence(p->raw);
  }
  /* Not a challenge; a challenge in another case. */
  write_str(p->raw, "#CHALLENGX#01234567890123456789");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  write_str(p->raw, "#challenge#01234567890123456789");
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  write_frame(p->raw, "", 0);
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  expect_silence(p->raw);
}

/* A message over 256 bytes is refused from its header alone. */
static void test_answer_oversize(void **state) {
  struct pair *p = *state;
  uint8_t hdr[4] = {0, 0, 1, 1}; /* 257 */
  raw_write(p->raw, hdr, 4);
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  expect_silence(p->raw);
}

/* A header that is not a frame at all (-2) is not a handshake either. */
static void test_answer_garbage(void **state) {
  struct pair *p = *state;
  raw_write(p->raw, "\xff\xff\xff\xfe garbage", 12);
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EAUTH);
  expect_silence(p->raw);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_answer_timeout(void **state) {
  struct pair *p = *state;
  int64_t t0 = now_ms();
  assert_int_equal(
      mpconn__answer_challenge(p->c, KEY, KEYLEN, mpconn__deadline(150)),
      MPCONN_ETIMEDOUT);
  int64_t took = now_ms() - t0;
  assert_true(took >= 140 && took < 3000);
  /* Half a header, then silence: the same. */
  raw_write(p->raw, "\0\0", 2);
  assert_int_equal(
      mpconn__answer_challenge(p->c, KEY, KEYLEN, mpconn__deadline(100)),
      MPCONN_ETIMEDOUT);
}

static void test_answer_eof(void **state) {
  struct pair *p = *state;
  close(p->raw);
  p->raw = -1;
  assert_int_equal(mpconn__answer_challenge(p->c, KEY, KEYLEN, soon()),
                   MPCONN_EOF);
}

/* ----- challenging (the listener's first step) ------------------------- */

struct deliver {
  mpconn *c;
  const char *key;
  size_t keylen;
  int timeout_ms;
  int rc;
};

static void *deliver_thread(void *arg) {
  struct deliver *d = arg;
  d->rc = mpconn__deliver_challenge(d->c, d->key, d->keylen,
                                    mpconn__deadline(d->timeout_ms));
  return NULL;
}

static void start(pthread_t *t, struct deliver *d, mpconn *c) {
  d->c = c;
  if (!d->key) {
    d->key = KEY;
    d->keylen = KEYLEN;
  }
  if (!d->timeout_ms)
    d->timeout_ms = TIMEOUT_MS;
  d->rc = 1;
  assert_int_equal(pthread_create(t, NULL, deliver_thread, d), 0);
}

/* Read the challenge: exactly "#CHALLENGE#{sha256}" and 40 bytes.  Returns
 * the body the MAC covers (48 bytes, "{sha256}" included). */
static void read_challenge(int fd, uint8_t body[48]) {
  size_t n;
  uint8_t *m = read_frame(fd, &n);
  assert_int_equal(n, 59);
  assert_memory_equal(m, "#CHALLENGE#{sha256}", 19);
  memcpy(body, m + 11, 48);
  free(m);
}

/* Run one exchange: send @resp (built from the challenge body by @make)
 * and check the verdict and the return code. */
typedef size_t (*make_fn)(const uint8_t body[48], uint8_t *out);

static void exchange(struct pair *p, make_fn make, const char *verdict,
                     int want_rc) {
  pthread_t t;
  struct deliver d = {0};
  start(&t, &d, p->c);
  uint8_t body[48], resp[512];
  read_challenge(p->raw, body);
  size_t n = make(body, resp);
  write_frame(p->raw, resp, n);
  expect_frame(p->raw, verdict, strlen(verdict));
  pthread_join(t, NULL);
  assert_int_equal(d.rc, want_rc);
}

static size_t prefixed(const char *name, const EVP_MD *md, const char *key,
                       size_t keylen, const uint8_t *msg, size_t n,
                       uint8_t *out) {
  size_t k = (size_t)sprintf((char *)out, "{%s}", name);
  return k + mac(md, key, keylen, msg, n, out + k);
}

static size_t good_sha256(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha256", EVP_sha256(), KEY, KEYLEN, body, 48, out);
}
static size_t good_md5_prefixed(const uint8_t body[48], uint8_t *out) {
  return prefixed("md5", EVP_md5(), KEY, KEYLEN, body, 48, out);
}
static size_t good_sha384(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha384", EVP_sha384(), KEY, KEYLEN, body, 48, out);
}
static size_t good_sha3_256(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha3_256", EVP_sha3_256(), KEY, KEYLEN, body, 48, out);
}
static size_t good_sha3_384(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha3_384", EVP_sha3_384(), KEY, KEYLEN, body, 48, out);
}
/* What a Python 3.11 client sends: raw HMAC-MD5 over the whole body. */
static size_t good_legacy(const uint8_t body[48], uint8_t *out) {
  return mac(EVP_md5(), KEY, KEYLEN, body, 48, out);
}
static size_t wrong_key(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha256", EVP_sha256(), "other", 5, body, 48, out);
}
static size_t wrong_key_legacy(const uint8_t body[48], uint8_t *out) {
  return mac(EVP_md5(), "other", 5, body, 48, out);
}
/* A MAC of the random bytes alone, without the "{sha256}" prefix. */
static size_t without_prefix(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha256", EVP_sha256(), KEY, KEYLEN, body + 8, 40, out);
}
static size_t truncated_mac(const uint8_t body[48], uint8_t *out) {
  return good_sha256(body, out) - 1;
}
static size_t longer_mac(const uint8_t body[48], uint8_t *out) {
  size_t n = good_sha256(body, out);
  out[n] = 0;
  return n + 1;
}
/* 20 bytes: taken as the old form, whose MD5 has 16. */
static size_t twenty_bytes(const uint8_t body[48], uint8_t *out) {
  size_t n = good_legacy(body, out);
  memset(out + n, 0, 4);
  return 20;
}
static size_t sha256_named_md5(const uint8_t body[48], uint8_t *out) {
  size_t n = good_sha256(body, out);
  memcpy(out, "{md5}", 5);
  memmove(out + 5, out + 8, n - 8);
  return n - 3;
}
static size_t unknown_digest(const uint8_t body[48], uint8_t *out) {
  return prefixed("sha1", EVP_sha1(), KEY, KEYLEN, body, 48, out);
}
static size_t empty(const uint8_t body[48], uint8_t *out) {
  (void)body;
  (void)out;
  return 0;
}

static void test_deliver_accepts(void **state) {
  struct pair *p = *state;
  exchange(p, good_sha256, "#WELCOME#", 0);
  exchange(p, good_md5_prefixed, "#WELCOME#", 0);
  exchange(p, good_sha384, "#WELCOME#", 0);
  exchange(p, good_sha3_256, "#WELCOME#", 0);
  exchange(p, good_sha3_384, "#WELCOME#", 0);
  exchange(p, good_legacy, "#WELCOME#", 0);
}

static void test_deliver_refuses(void **state) {
  struct pair *p = *state;
  exchange(p, wrong_key, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, wrong_key_legacy, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, without_prefix, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, truncated_mac, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, longer_mac, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, twenty_bytes, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, sha256_named_md5, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, unknown_digest, "#FAILURE#", MPCONN_EAUTH);
  exchange(p, empty, "#FAILURE#", MPCONN_EAUTH);
}

/* Every challenge is new. */
static void test_deliver_random(void **state) {
  struct pair *p = *state;
  uint8_t first[48], second[48];
  for (int i = 0; i < 2; i++) {
    pthread_t t;
    struct deliver d = {0};
    start(&t, &d, p->c);
    read_challenge(p->raw, i ? second : first);
    write_str(p->raw, "");
    size_t len;
    free(read_frame(p->raw, &len));
    pthread_join(t, NULL);
    assert_int_equal(d.rc, MPCONN_EAUTH);
  }
  assert_memory_not_equal(first + 8, second + 8, 40);
}

/* An answer over 256 bytes: refused unread, and no verdict is sent (as
 * Python's recv_bytes(256) raises before it). */
static void test_deliver_oversize(void **state) {
  struct pair *p = *state;
  pthread_t t;
  struct deliver d = {0};
  start(&t, &d, p->c);
  uint8_t body[48];
  read_challenge(p->raw, body);
  uint8_t big[257];
  memset(big, 'x', sizeof(big));
  write_frame(p->raw, big, sizeof(big));
  pthread_join(t, NULL);
  assert_int_equal(d.rc, MPCONN_EAUTH);
  expect_silence(p->raw);
}

static void test_deliver_timeout(void **state) {
  struct pair *p = *state;
  pthread_t t;
  struct deliver d = {.timeout_ms = 150};
  int64_t t0 = now_ms();
  start(&t, &d, p->c);
  uint8_t body[48];
  read_challenge(p->raw, body);
  pthread_join(t, NULL);
  int64_t took = now_ms() - t0;
  assert_int_equal(d.rc, MPCONN_ETIMEDOUT);
  assert_true(took >= 140 && took < 3000);
  expect_silence(p->raw);
}

static void test_deliver_eof(void **state) {
  struct pair *p = *state;
  pthread_t t;
  struct deliver d = {0};
  start(&t, &d, p->c);
  uint8_t body[48];
  read_challenge(p->raw, body);
  raw_write(p->raw, "\0\0", 2);
  shutdown(p->raw, SHUT_WR);
  pthread_join(t, NULL);
  assert_int_equal(d.rc, MPCONN_ETRUNCATED);
}

/* ----- the digests ----------------------------------------------------- */

static void test_hmac(void **state) {
  (void)state;
  const struct {
    const char *name;
    const EVP_MD *(*md)(void);
    size_t len;
  } d[] = {{"md5", EVP_md5, 16},
           {"sha256", EVP_sha256, 32},
           {"sha384", EVP_sha384, 48},
           {"sha3_256", EVP_sha3_256, 32},
           {"sha3_384", EVP_sha3_384, 48}};
  for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
    uint8_t got[64], want[EVP_MAX_MD_SIZE];
    size_t n = mpconn__hmac(d[i].name, strlen(d[i].name), KEY, KEYLEN, nonce40,
                            40, got);
    assert_int_equal(n, d[i].len);
    assert_int_equal(mac(d[i].md(), KEY, KEYLEN, nonce40, 40, want), n);
    assert_memory_equal(got, want, n);
  }
  uint8_t out[64];
  const char *not_allowed[] = {"sha1",     "sha512", "SHA256",
                               "sha3-256", "",       "md5 "};
  for (size_t i = 0; i < sizeof(not_allowed) / sizeof(not_allowed[0]); i++)
    assert_int_equal(mpconn__hmac(not_allowed[i], strlen(not_allowed[i]), KEY,
                                  KEYLEN, nonce40, 40, out),
                     0);
  /* The name's length is what counts, not a NUL. */
  assert_int_equal(mpconn__hmac("md5xyz", 3, KEY, KEYLEN, nonce40, 40, out),
                   16);
}

static void test_handshake_deadline(void **state) {
  (void)state;
  int64_t now = mpconn__deadline(0);
  mpconn_net_options o = {0};
  int64_t d = mpconn__handshake_deadline(&o);
  assert_true(d >= now + MPCONN_DEFAULT_HANDSHAKE_TIMEOUT &&
              d < now + MPCONN_DEFAULT_HANDSHAKE_TIMEOUT + 1000);
  d = mpconn__handshake_deadline(NULL);
  assert_true(d >= now + MPCONN_DEFAULT_HANDSHAKE_TIMEOUT);
  o.handshake_timeout_ms = 10;
  d = mpconn__handshake_deadline(&o);
  assert_true(d >= now + 10 && d < now + 1000);
  o.handshake_timeout_ms = -1;
  assert_true(mpconn__handshake_deadline(&o) == MPCONN_FOREVER);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ------------------------------------------------------------------------ */
/* The handshake as its own calls                                           */
/* ------------------------------------------------------------------------ */

/*
 * Over a socketpair whose other end a forked child inherited: the child
 * answers (with @child_key), the parent challenges; then the other way.
 * The child exits with 0, or 10 + the code's distance from MPCONN_EAUTH.
 */
static void handshake_with_child(const char *child_key, int want_parent,
                                 int want_child) {
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mpconn_free(a);
    int rc = mpconn_answer_challenge(b, child_key, strlen(child_key), 10000);
    if (rc == 0)
      rc = mpconn_deliver_challenge(b, child_key, strlen(child_key), 10000);
    _exit(rc == 0 ? 0 : rc == MPCONN_EAUTH ? 1 : 2);
  }
  mpconn_free(b);
  int rc = mpconn_deliver_challenge(a, KEY, KEYLEN, 10000);
  if (rc == 0)
    rc = mpconn_answer_challenge(a, KEY, KEYLEN, 10000);
  assert_int_equal(rc, want_parent);
  mpconn_free(a);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), want_child);
}

static void test_public_calls(void **state) {
  (void)state;
  handshake_with_child(KEY, 0, 0);
  /* The child's answer is wrong: the parent refuses and says #FAILURE#. */
  handshake_with_child("not the key", MPCONN_EAUTH, 1);
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  assert_int_equal(mpconn_deliver_challenge(NULL, KEY, KEYLEN, 0),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_answer_challenge(a, NULL, 3, 0), MPCONN_EINVAL);
  /* Nobody answers: the deadline. */
  assert_int_equal(mpconn_deliver_challenge(a, KEY, KEYLEN, 50),
                   MPCONN_ETIMEDOUT);
  /* A pipe end cannot run it: it needs both directions. */
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_deliver_challenge(r, KEY, KEYLEN, 0),
                   MPCONN_EREADONLY);
  assert_int_equal(mpconn_answer_challenge(w, KEY, KEYLEN, 0),
                   MPCONN_EWRITEONLY);
  mpconn_free(a);
  mpconn_free(b);
  mpconn_free(r);
  mpconn_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_public_calls),
      T(test_answer_every_digest),
      T(test_answer_sha256_exact),
      T(test_answer_legacy),
      T(test_answer_empty_key),
      T(test_answer_256_bytes),
      T(test_answer_rejected),
      T(test_answer_welcome_exact),
      T(test_answer_bad_challenges),
      T(test_answer_oversize),
      T(test_answer_garbage),
      T(test_answer_timeout),
      T(test_answer_eof),
      T(test_deliver_accepts),
      T(test_deliver_refuses),
      T(test_deliver_random),
      T(test_deliver_oversize),
      T(test_deliver_timeout),
      T(test_deliver_eof),
      cmocka_unit_test(test_hmac),
      cmocka_unit_test(test_handshake_deadline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
