/* SPDX-License-Identifier: MIT */
/*
 * The handshake of multiprocessing.connection, byte for byte as CPython's
 * deliver_challenge() and answer_challenge() (docs/listener.md):
 *
 *   challenger                            answerer
 *   "#CHALLENGE#" + M                 ->
 *                                     <-  response: MAC of M
 *   "#WELCOME#" or "#FAILURE#"        ->
 *
 * Python 3.12+ sends M = "{sha256}" + 40 random bytes and expects
 * "{digest}" + HMAC(key, M) back, the MAC covering the prefix too.  Python
 * 3.11 and older send M = 20 random bytes and expect the raw 16-byte
 * HMAC-MD5.  The length tells them apart: an M of 20 bytes and a response
 * of 16 bytes are the old form.  This side challenges in the new form
 * (old clients answer it with HMAC-MD5 over the whole M, which is
 * accepted) and answers both.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CHALLENGE "#CHALLENGE#"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define LIT_LEN(s) (sizeof(s) - 1)

/* Python's lengths of the old, MD5-only form. */
#define LEGACY_MESSAGE_LEN 20
#define LEGACY_RESPONSE_LEN 16
/* Longest digest name, "sha3_256", and the whole prefix "{sha3_256}". */
#define MAX_DIGEST_NAME 8
#define MAX_PREFIX (MAX_DIGEST_NAME + 2)
#define MAC_MAX 64

/* Python's _ALLOWED_DIGESTS and the names OpenSSL knows them by. */
static const struct digest {
  const char *python, *openssl;
} digests[] = {
    {"md5", "MD5"},           {"sha256", "SHA256"},     {"sha384", "SHA384"},
    {"sha3_256", "SHA3-256"}, {"sha3_384", "SHA3-384"},
};
#define NDIGESTS (sizeof(digests) / sizeof(digests[0]))

static const struct digest *find_digest(const char *name, size_t n) {
  for (size_t i = 0; i < NDIGESTS; i++)
    if (strlen(digests[i].python) == n &&
        memcmp(digests[i].python, name, n) == 0)
      return &digests[i];
  return NULL;
}

size_t mpconn__hmac(const char *name, size_t namelen, const void *key,
                    size_t keylen, const void *msg, size_t msglen,
                    uint8_t out[MAC_MAX]) {
  const struct digest *d = find_digest(name, namelen);
  if (!d)
    return 0;
  size_t outlen = 0;
  /* A NULL key means "keep the old key" to some OpenSSL calls. */
  if (!EVP_Q_mac(NULL, "HMAC", NULL, d->openssl, NULL, key ? key : "", keylen,
                 msg, msglen, out, MAC_MAX, &outlen))
    return 0;
  return outlen;
}

int64_t mpconn__handshake_deadline(const mpconn_net_options *o) {
  int ms = o ? o->handshake_timeout_ms : 0;
  return mpconn__deadline(ms == 0 ? MPCONN_DEFAULT_HANDSHAKE_TIMEOUT : ms);
}

/*
 * Python's _get_digest_name_and_payload(): which digest a challenge body
 * or a response asks for.  16 or 20 bytes is the old form (*name_len 0,
 * the payload is everything); otherwise a "{name}" prefix naming an
 * allowed digest.  false when neither.
 */
static bool split_digest(const uint8_t *m, size_t n, const char **name,
                         size_t *name_len, size_t *payload) {
  if (n == LEGACY_MESSAGE_LEN || n == LEGACY_RESPONSE_LEN) {
    *name = "md5";
    *name_len = 0;
    *payload = 0;
    return true;
  }
  if (n < 2 || m[0] != '{')
    return false;
  /* The closing brace is looked for within the longest prefix only. */
  size_t end = n < MAX_PREFIX ? n : MAX_PREFIX;
  const uint8_t *curly = memchr(m + 1, '}', end - 1);
  if (!curly || !find_digest((const char *)m + 1, (size_t)(curly - m - 1)))
    return false;
  *name = (const char *)m + 1;
  *name_len = (size_t)(curly - m - 1);
  *payload = (size_t)(curly - m) + 1;
  return true;
}

/* The next handshake message, if it has arrived whole: 0, MPCONN_ETIMEDOUT
 * while it has not, MPCONN_EAUTH for one that is too long or not a frame
 * at all, or what the transport reported. */
static int recv_now(mpconn *c, uint8_t **p, size_t *n) {
  int rc = mpconn_recv_bytes(c, (void **)p, n, MPCONN_AUTH_MAX_MESSAGE, 0);
  if (rc == MPCONN_ETOOBIG || rc == MPCONN_EBADFRAME)
    return MPCONN_EAUTH;
  return rc;
}

/* Python's _verify_challenge(): whether @resp is a MAC of @msg. */
static bool verify(const void *key, size_t keylen, const uint8_t *msg,
                   size_t msglen, const uint8_t *resp, size_t n) {
  const char *name;
  size_t name_len, off;
  if (!split_digest(resp, n, &name, &name_len, &off))
    return false;
  if (name_len == 0)
    name_len = strlen(name); /* the old form: md5, no prefix */
  uint8_t mac[MAC_MAX];
  size_t maclen = mpconn__hmac(name, name_len, key, keylen, msg, msglen, mac);
  return maclen != 0 && maclen == n - off &&
         CRYPTO_memcmp(mac, resp + off, maclen) == 0;
}

/* Python's _create_response() for challenge body @m: the bytes to send. */
static size_t make_response(const void *key, size_t keylen, const uint8_t *m,
                            size_t n, uint8_t out[MAX_PREFIX + MAC_MAX]) {
  const char *name;
  size_t name_len, off;
  if (!split_digest(m, n, &name, &name_len, &off))
    return 0;
  if (name_len == 0) {
    size_t maclen = mpconn__hmac("md5", 3, key, keylen, m, n, out);
    if (maclen)
      return maclen;
    /* No MD5 here (FIPS mode): Python answers in the new form instead. */
    name = "sha256";
    name_len = 6;
  }
  out[0] = '{';
  memcpy(out + 1, name, name_len);
  out[name_len + 1] = '}';
  size_t maclen =
      mpconn__hmac(name, name_len, key, keylen, m, n, out + name_len + 2);
  return maclen ? name_len + 2 + maclen : 0;
}

/* ------------------------------------------------------------------------ */
/* The handshake as steps                                                   */
/* ------------------------------------------------------------------------ */

/* Send the challenge: "#CHALLENGE#{sha256}" and fresh random bytes. */
static int send_challenge(struct mpconn__handshake *h, mpconn *c) {
  static const char prefix[] = CHALLENGE "{sha256}";
  memcpy(h->challenge, prefix, LIT_LEN(prefix));
  if (RAND_bytes(h->challenge + LIT_LEN(prefix), MPCONN_AUTH_NONCE) != 1)
    return -EIO;
  return mpconn_send_bytes(c, h->challenge, sizeof(h->challenge));
}

/* Check the response to our challenge, and say what we think of it. */
static int check_response(struct mpconn__handshake *h, mpconn *c,
                          const uint8_t *resp, size_t n) {
  /* The MAC covers the message after "#CHALLENGE#", "{sha256}" included. */
  bool ok = verify(h->key, h->keylen, h->challenge + LIT_LEN(CHALLENGE),
                   sizeof(h->challenge) - LIT_LEN(CHALLENGE), resp, n);
  if (!ok) {
    /* Tell the peer, as Python does; the failure is ours to report. */
    (void)mpconn_send_bytes(c, FAILURE, LIT_LEN(FAILURE));
    return MPCONN_EAUTH;
  }
  return mpconn_send_bytes(c, WELCOME, LIT_LEN(WELCOME));
}

/* Answer the peer's challenge @m. */
static int answer(struct mpconn__handshake *h, mpconn *c, const uint8_t *m,
                  size_t n) {
  uint8_t resp[MAX_PREFIX + MAC_MAX];
  size_t len = 0;
  if (n >= LIT_LEN(CHALLENGE) + LEGACY_MESSAGE_LEN &&
      memcmp(m, CHALLENGE, LIT_LEN(CHALLENGE)) == 0)
    len = make_response(h->key, h->keylen, m + LIT_LEN(CHALLENGE),
                        n - LIT_LEN(CHALLENGE), resp);
  if (len == 0)
    return MPCONN_EAUTH;
  return mpconn_send_bytes(c, resp, len);
}

void mpconn__handshake_start(struct mpconn__handshake *h, const void *key,
                             size_t keylen, enum mpconn__hs_role role) {
  h->key = key;
  h->keylen = keylen;
  switch (role) {
  case MPCONN__HS_LISTENER: /* Listener.accept(): challenge, then answer */
    h->steps[0] = MPCONN__HS_CHALLENGE;
    h->steps[1] = MPCONN__HS_ANSWER;
    break;
  case MPCONN__HS_CLIENT: /* Client(): answer, then challenge */
    h->steps[0] = MPCONN__HS_ANSWER;
    h->steps[1] = MPCONN__HS_CHALLENGE;
    break;
  case MPCONN__HS_DELIVER_ONLY:
    h->steps[0] = MPCONN__HS_CHALLENGE;
    h->steps[1] = MPCONN__HS_DONE;
    break;
  case MPCONN__HS_ANSWER_ONLY:
    h->steps[0] = MPCONN__HS_ANSWER;
    h->steps[1] = MPCONN__HS_DONE;
    break;
  }
  h->part = 0;
  h->waiting = false;
}

/*
 * Each part is "send, then take one message" (challenging: send the
 * challenge, take the response; answering: take the challenge, send the
 * response, take the verdict), so a part waits for at most two messages,
 * and h->waiting says which half it is in.
 */
static int handshake_step(struct mpconn__handshake *h, mpconn *c) {
  while (h->part < 2 && h->steps[h->part] != MPCONN__HS_DONE) {
    bool challenging = h->steps[h->part] == MPCONN__HS_CHALLENGE;
    int rc;
    if (challenging && !h->waiting) {
      rc = send_challenge(h, c);
      if (rc < 0)
        return rc;
      h->waiting = true;
    }
    uint8_t *m;
    size_t n;
    rc = recv_now(c, &m, &n);
    if (rc == MPCONN_ETIMEDOUT)
      return 1;
    if (rc < 0)
      return rc;
    if (challenging) {
      rc = check_response(h, c, m, n);
      h->waiting = false;
      h->part++;
    } else if (!h->waiting) {
      rc = answer(h, c, m, n);
      h->waiting = true;
    } else {
      rc = n == LIT_LEN(WELCOME) && memcmp(m, WELCOME, n) == 0 ? 0
                                                               : MPCONN_EAUTH;
      h->waiting = false;
      h->part++;
    }
    free(m);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Each handshake message is read exactly, never a byte after it, as
 * CPython's are: a message the peer sends right after its last one then
 * stays in the descriptor, so that the connection can be handed to another
 * process (mpconn_send_conn()) at once. */
int mpconn__handshake_step(struct mpconn__handshake *h, mpconn *c) {
  mpconn__rx_set_exact(c, true);
  int rc = handshake_step(h, c);
  mpconn__rx_set_exact(c, rc == 1);
  return rc;
}

int mpconn__handshake_run(mpconn *c, const void *key, size_t keylen,
                          enum mpconn__hs_role role, int64_t deadline) {
  struct mpconn__handshake h;
  mpconn__handshake_start(&h, key, keylen, role);
  int fd = mpconn_fileno(c);
  int rc;
  while ((rc = mpconn__handshake_step(&h, c)) == 1) {
    rc = mpconn__wait_fd(fd, POLLIN, deadline);
    if (rc < 0)
      return rc;
  }
  return rc;
}

int mpconn__deliver_challenge(mpconn *c, const void *key, size_t keylen,
                              int64_t deadline) {
  return mpconn__handshake_run(c, key, keylen, MPCONN__HS_DELIVER_ONLY,
                               deadline);
}

int mpconn__answer_challenge(mpconn *c, const void *key, size_t keylen,
                             int64_t deadline) {
  return mpconn__handshake_run(c, key, keylen, MPCONN__HS_ANSWER_ONLY,
                               deadline);
}

static int handshake_call(mpconn *c, const void *key, size_t keylen,
                          enum mpconn__hs_role role, int timeout_ms) {
  if (!c || (!key && keylen))
    return MPCONN_EINVAL;
  int rc = mpconn__check_recv(c);
  if (rc == 0)
    rc = mpconn__check_send(c);
  if (rc < 0)
    return rc;
  return mpconn__handshake_run(c, key, keylen, role,
                               mpconn__deadline(timeout_ms));
}

int mpconn_deliver_challenge(mpconn *c, const void *key, size_t keylen,
                             int timeout_ms) {
  return handshake_call(c, key, keylen, MPCONN__HS_DELIVER_ONLY, timeout_ms);
}

int mpconn_answer_challenge(mpconn *c, const void *key, size_t keylen,
                            int timeout_ms) {
  return handshake_call(c, key, keylen, MPCONN__HS_ANSWER_ONLY, timeout_ms);
}
