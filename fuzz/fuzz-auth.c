/* SPDX-License-Identifier: MIT */
/*
 * The handshake of listeners and clients (lib/auth.c), in both roles,
 * against a peer that sends anything.
 *
 * Input: byte 0 chooses the role (bit 0: 0 challenges, as a listener does
 * first, with mpconn__deliver_challenge(); 1 answers, as a client does
 * first, with mpconn__answer_challenge()), the key (bits 1-2), and whether
 * RAND_bytes() fails (bit 7).  The rest is every byte the peer sends,
 * framing included; it is in the socket before the handshake starts and
 * the peer then shuts its side down, so nothing ever waits.
 *
 * RAND_bytes() is replaced (-Wl,--wrap=RAND_bytes) by a fixed nonce, so an
 * input can hold the right answer to this side's challenge.
 *
 * A reference written from CPython's multiprocessing/connection.py, with
 * its own framing and libcrypto's HMAC(), predicts the exact result, and
 * what this side must have sent: the challenge, the response, #WELCOME# or
 * #FAILURE#.
 */
#include "fuzz.h"

#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define LIT(s) (sizeof(s) - 1)
#define NONCE 40
/* What the peer may send, so that it fits in the socket buffer at once. */
#define PEER_MAX 65536

static bool rand_fails;

int __wrap_RAND_bytes(unsigned char *buf, int num);

int __wrap_RAND_bytes(unsigned char *buf, int num) {
  if (rand_fails)
    return 0;
  for (int i = 0; i < num; i++)
    buf[i] = (unsigned char)(i * 7 + 1);
  return 1;
}

static const uint8_t long_key[100] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const struct {
  const void *p;
  size_t len;
} keys[] = {
    {"", 0},
    {"secret key", 10},
    {long_key, sizeof(long_key)},
    {"\0\xff", 2},
};

/* ------------------------------------------------------------------------ */
/* The reference                                                            */
/* ------------------------------------------------------------------------ */

/* A byte stream read as recv_bytes(256) reads it. */
struct stream {
  const uint8_t *p;
  size_t n, pos;
};

/* The next message: 0 and its bounds, or the code a handshake step
 * returns (EOF, a truncated frame, or EAUTH for a frame that is malformed
 * or longer than 256 bytes). */
static int next_message(struct stream *s, const uint8_t **msg, size_t *len) {
  size_t left = s->n - s->pos;
  const uint8_t *p = s->p + s->pos;
  if (left == 0)
    return MPCONN_EOF;
  if (left < 4)
    return MPCONN_ETRUNCATED;
  uint64_t size =
      (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
  size_t hlen = 4;
  if (size == 0xffffffff) {
    if (left < 12)
      return MPCONN_ETRUNCATED;
    size = 0;
    for (int i = 4; i < 12; i++)
      size = size << 8 | p[i];
    hlen = 12;
  } else if (size & 0x80000000) {
    return MPCONN_EAUTH;
  }
  if (size > MPCONN_AUTH_MAX_MESSAGE)
    return MPCONN_EAUTH;
  if (left - hlen < size)
    return MPCONN_ETRUNCATED;
  *msg = p + hlen;
  *len = (size_t)size;
  s->pos += hlen + (size_t)size;
  return 0;
}

static const EVP_MD *digest_named(const uint8_t *name, size_t n) {
  static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
  } known[] = {{"md5", EVP_md5},
               {"sha256", EVP_sha256},
               {"sha384", EVP_sha384},
               {"sha3_256", EVP_sha3_256},
               {"sha3_384", EVP_sha3_384}};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strlen(known[i].name) == n && memcmp(known[i].name, name, n) == 0)
      return known[i].md();
  return NULL;
}

/* _get_digest_name_and_payload(): NULL name (and *md md5) for the legacy
 * lengths 16 and 20, false when unsupported. */
static bool digest_and_payload(const uint8_t *m, size_t n, const EVP_MD **md,
                               const uint8_t **name, size_t *name_len,
                               size_t *payload) {
  if (n == 16 || n == 20) {
    *md = EVP_md5();
    *name = NULL;
    *name_len = 0;
    *payload = 0;
    return true;
  }
  if (n < 1 || m[0] != '{')
    return false;
  /* message.find(b'}', 1, _MAX_DIGEST_LEN + 2), _MAX_DIGEST_LEN = 8 */
  for (size_t i = 1; i < n && i < 10; i++) {
    if (m[i] != '}')
      continue;
    *md = digest_named(m + 1, i - 1);
    *name = m + 1;
    *name_len = i - 1;
    *payload = i + 1;
    return *md != NULL;
  }
  return false;
}

static size_t mac(const EVP_MD *md, size_t key, const uint8_t *msg, size_t len,
                  uint8_t out[EVP_MAX_MD_SIZE]) {
  unsigned outlen = 0;
  FUZZ_CHECK(HMAC(md, keys[key].p, (int)keys[key].len, msg, len, out,
                  &outlen) != NULL);
  return outlen;
}

/* _verify_challenge() */
static bool verifies(size_t key, const uint8_t *msg, size_t len,
                     const uint8_t *resp, size_t n) {
  const EVP_MD *md;
  const uint8_t *name;
  size_t name_len, off;
  if (!digest_and_payload(resp, n, &md, &name, &name_len, &off))
    return false;
  uint8_t want[EVP_MAX_MD_SIZE];
  size_t wlen = mac(md, key, msg, len, want);
  return wlen == n - off && memcmp(want, resp + off, wlen) == 0;
}

/* _create_response() for challenge body @m: 0 when unsupported. */
static size_t response(size_t key, const uint8_t *m, size_t n,
                       uint8_t out[16 + EVP_MAX_MD_SIZE]) {
  const EVP_MD *md;
  const uint8_t *name;
  size_t name_len, off;
  if (!digest_and_payload(m, n, &md, &name, &name_len, &off))
    return 0;
  if (!name)
    return mac(md, key, m, n, out);
  out[0] = '{';
  memcpy(out + 1, name, name_len);
  out[name_len + 1] = '}';
  return name_len + 2 + mac(md, key, m, n, out + name_len + 2);
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */
/* ------------------------------------------------------------------------ */

static bool is(const uint8_t *m, size_t n, const char *lit, size_t len) {
  return n == len && memcmp(m, lit, len) == 0;
}

/* Everything this side sent, as a stream of frames. */
static struct stream sent(int fd, uint8_t *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t k = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
    if (k <= 0)
      break;
    n += (size_t)k;
  }
  return (struct stream){buf, n, 0};
}

static void challenger(mpconn *c, size_t key, struct stream *peer, int fd) {
  int64_t deadline = mpconn__deadline(5000);
  int rc = mpconn__deliver_challenge(c, keys[key].p, keys[key].len, deadline);
  static uint8_t out[4096];
  struct stream ours = sent(fd, out, sizeof(out));
  const uint8_t *m;
  size_t n;
  if (rand_fails) {
    FUZZ_CHECK_RC(rc == -EIO, rc);
    FUZZ_CHECK(ours.n == 0);
    return;
  }
  /* The challenge: "{sha256}" and the nonce, after "#CHALLENGE#". */
  FUZZ_CHECK(next_message(&ours, &m, &n) == 0);
  uint8_t want[LIT(CHALLENGE) + 8 + NONCE];
  memcpy(want, CHALLENGE "{sha256}", LIT(CHALLENGE) + 8);
  __wrap_RAND_bytes(want + LIT(CHALLENGE) + 8, NONCE);
  FUZZ_CHECK(n == sizeof(want) && memcmp(m, want, n) == 0);

  const uint8_t *resp;
  size_t len;
  int expect = next_message(peer, &resp, &len);
  if (expect == 0) {
    bool ok = verifies(key, want + LIT(CHALLENGE),
                       sizeof(want) - LIT(CHALLENGE), resp, len);
    expect = ok ? 0 : MPCONN_EAUTH;
    /* The verdict goes to the peer either way. */
    FUZZ_CHECK(next_message(&ours, &m, &n) == 0);
    FUZZ_CHECK(ok ? is(m, n, WELCOME, LIT(WELCOME))
                  : is(m, n, FAILURE, LIT(FAILURE)));
  }
  FUZZ_CHECK_RC(rc == expect, rc);
  FUZZ_CHECK(next_message(&ours, &m, &n) == MPCONN_EOF);
}

static void answerer(mpconn *c, size_t key, struct stream *peer, int fd) {
  int64_t deadline = mpconn__deadline(5000);
  int rc = mpconn__answer_challenge(c, keys[key].p, keys[key].len, deadline);
  static uint8_t out[4096];
  struct stream ours = sent(fd, out, sizeof(out));
  const uint8_t *m, *chal;
  size_t n, len;
  int expect = next_message(peer, &chal, &len);
  if (expect == 0) {
    uint8_t resp[16 + EVP_MAX_MD_SIZE];
    size_t rlen = 0;
    if (len >= LIT(CHALLENGE) + 20 &&
        memcmp(chal, CHALLENGE, LIT(CHALLENGE)) == 0)
      rlen = response(key, chal + LIT(CHALLENGE), len - LIT(CHALLENGE), resp);
    if (rlen == 0) {
      expect = MPCONN_EAUTH;
    } else {
      FUZZ_CHECK(next_message(&ours, &m, &n) == 0);
      FUZZ_CHECK(n == rlen && memcmp(m, resp, n) == 0);
      expect = next_message(peer, &m, &n);
      if (expect == 0)
        expect = is(m, n, WELCOME, LIT(WELCOME)) ? 0 : MPCONN_EAUTH;
    }
  }
  FUZZ_CHECK_RC(rc == expect, rc);
  FUZZ_CHECK(next_message(&ours, &m, &n) == MPCONN_EOF);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  bool answer = data[0] & 1;
  size_t key = (data[0] >> 1) & 3;
  rand_fails = data[0] & 0x80;
  struct stream peer = {data + 1, size - 1, 0};
  if (peer.n > PEER_MAX)
    peer.n = PEER_MAX;

  int sv[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  for (size_t done = 0; done < peer.n;) {
    ssize_t k =
        send(sv[1], peer.p + done, peer.n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EAGAIN) {
      peer.n = done; /* the socket is full: the peer says no more */
      break;
    }
    FUZZ_CHECK(k > 0);
    done += (size_t)k;
  }
  FUZZ_CHECK(shutdown(sv[1], SHUT_WR) == 0);
  mpconn *c;
  FUZZ_CHECK(mpconn_from_fds(&c, sv[0], sv[0]) == 0);
  if (answer)
    answerer(c, key, &peer, sv[1]);
  else
    challenger(c, key, &peer, sv[1]);
  mpconn_free(c);
  close(sv[1]);
  return 0;
}
