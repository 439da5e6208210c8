/* SPDX-License-Identifier: MIT */
/*
 * The bad-input catalogue of docs/hardening.md, one table row per class of
 * hostile input, each checked for its exact error code through the public
 * receive calls (and, for the handshake, the two steps listeners and clients
 * run).  The fuzz corpora hold the same inputs; this file pins the codes.
 */
#include "test-util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "mpconn-private.h"

/* ------------------------------------------------------------------------ */
/* Framing: the byte stream, then end of file                              */
/* ------------------------------------------------------------------------ */

struct frame_case {
  const char *what;
  const char *hex; /* the whole stream */
  size_t limit;    /* mpconn_set_max_size(); 0 for the default */
  int want;        /* what every receive returns */
};

#define HUGE_64 "ff ff ff ff 7f ff ff ff ff ff ff ff"

static const struct frame_case frame_cases[] = {
    {"nothing at all", "", 0, MPCONN_EOF},
    {"1 byte of a header", "00", 0, MPCONN_ETRUNCATED},
    {"3 bytes of a header", "00 00 00", 0, MPCONN_ETRUNCATED},
    {"-1 and 4 of its 8 length bytes", "ff ff ff ff 00 00 00 00", 0,
     MPCONN_ETRUNCATED},
    {"a payload cut short", "00 00 00 0a 61 62 63", 0, MPCONN_ETRUNCATED},
    {"a 64-bit payload cut short", "ff ff ff ff 00 00 00 00 00 00 00 03 61", 0,
     MPCONN_ETRUNCATED},
    {"length -2", "ff ff ff fe 61", 0, MPCONN_EBADFRAME},
    {"length INT32_MIN", "80 00 00 00", 0, MPCONN_EBADFRAME},
    {"-1 then 2^64 - 1", "ff ff ff ff ff ff ff ff ff ff ff ff", 0,
     MPCONN_ETOOBIG},
    {"-1 then 2^63 - 1", HUGE_64, 0, MPCONN_ETOOBIG},
    {"-1 then 4 GiB", "ff ff ff ff 00 00 00 01 00 00 00 00", 0, MPCONN_ETOOBIG},
    {"2 GiB - 1 in 4 bytes", "7f ff ff ff", 0, MPCONN_ETOOBIG},
    {"64 MiB + 1", "04 00 00 01", 0, MPCONN_ETOOBIG},
    {"one byte over the limit", "00 00 00 11", 16, MPCONN_ETOOBIG},
};

static void frame_case(const struct frame_case *fc) {
  int wfd;
  mpconn *c = raw_reader(&wfd);
  uint8_t bytes[64];
  size_t n = unhex(fc->hex, bytes, sizeof(bytes));
  if (n)
    raw_write(wfd, bytes, n);
  close(wfd);
  if (fc->limit)
    assert_int_equal(mpconn_set_max_size(c, fc->limit), 0);
  print_message("%s\n", fc->what);
  /* Reported at once, however long the timeout. */
  assert_int_equal(mpconn_poll(c, 5000), 1);
  void *data;
  size_t len;
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 5000),
                   fc->want);
  /* Sticky, for every kind of receive, even with the limit raised. */
  assert_int_equal(mpconn_set_max_size(c, MPCONN_UNLIMITED), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(c, &m, 5000), fc->want);
  uint8_t buf[4];
  assert_int_equal(mpconn_recv_bytes_into(c, buf, sizeof(buf), 0, &len, 0),
                   fc->want);
  mpconn *ready;
  assert_int_equal(mpconn_wait(&c, 1, 0, &ready), 1);
  mpconn_free(c);
}

static void test_frames(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++)
    frame_case(&frame_cases[i]);
}

/* The caller's own limits refuse before anything is allocated too. */
static void test_caller_limits(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  raw_write(wfd, "\x00\x00\x00\x05hello", 9);
  void *data;
  size_t len;
  /* Python's maxlength: refused, and sticky like any oversized frame. */
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, 4, 5000), MPCONN_ETOOBIG);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, 5, 5000), MPCONN_ETOOBIG);
  mpconn_free(c);
  close(wfd);

  /* A buffer too small: not an error of the stream; the frame stays. */
  c = raw_reader(&wfd);
  raw_write(wfd, "\x00\x00\x00\x05hello", 9);
  uint8_t buf[5];
  assert_int_equal(mpconn_recv_bytes_into(c, buf, 4, 0, &len, 5000),
                   MPCONN_ETOOSHORT);
  assert_int_equal(len, 5);
  assert_int_equal(mpconn_recv_bytes_into(c, buf, 5, 1, &len, 5000),
                   MPCONN_ETOOSHORT);
  assert_int_equal(mpconn_recv_bytes_into(c, buf, 5, 6, &len, 5000),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_recv_bytes_into(c, buf, 5, 0, &len, 5000), 0);
  assert_memory_equal(buf, "hello", 5);
  mpconn_free(c);
  close(wfd);
}

/*
 * With no limit at all (MPCONN_UNLIMITED, the caller's choice), a length
 * no allocation can hold allocates nothing up front: memory grows with
 * the bytes that arrive, so the receive waits for them (an allocation of
 * the announced length would fail: MPCONN_ENOMEM), and the frame stays
 * pending, never sticky.
 */
static void test_unlimited_huge(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  uint8_t bytes[12];
  raw_write(wfd, bytes, unhex(HUGE_64, bytes, sizeof(bytes)));
  assert_int_equal(mpconn_set_max_size(c, MPCONN_UNLIMITED), 0);
  void *data;
  size_t len;
  for (int i = 0; i < 2; i++)
    assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 100),
                     MPCONN_ETIMEDOUT);
  /* Lowering the limit again makes it an oversized frame. */
  assert_int_equal(mpconn_set_max_size(c, 1024), 0);
  assert_int_equal(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, 5000),
                   MPCONN_ETOOBIG);
  mpconn_free(c);
  close(wfd);
}

/* ------------------------------------------------------------------------ */
/* Memory a peer can make us hold                                           */
/* ------------------------------------------------------------------------ */

#define ANNOUNCERS 50
#define ANNOUNCED ((uint64_t)60 << 20) /* what each announces */
#define LEGIT ((size_t)60 << 20)       /* what the good peer sends */

/* The address space this process uses, in bytes. */
static uint64_t vm_size(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1)
      pages = 0;
    fclose(f);
  }
  return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Exit statuses of the receiving child, for the parent's message. */
enum { AS_OK, AS_SETUP, AS_HELD, AS_ANNOUNCER, AS_LEGIT_RC, AS_LEGIT_BYTES };

static int receiver_under_limit(int legit_fd) {
  /* Half a GiB more than now: room for one 60 MiB message, not for the
   * 50 x 60 MiB the others announce. */
  uint64_t base = vm_size();
  struct rlimit rl = {.rlim_cur = base + ((uint64_t)512 << 20),
                      .rlim_max = base + ((uint64_t)512 << 20)};
  if (base == 0 || setrlimit(RLIMIT_AS, &rl) < 0)
    return AS_SETUP;
  mpconn *conns[ANNOUNCERS];
  int writers[ANNOUNCERS];
  uint8_t hdr[MPCONN_HEADER_MAX];
  size_t hlen = mpconn__header_encode(hdr, ANNOUNCED);
  static uint8_t kib[1024];
  for (int i = 0; i < ANNOUNCERS; i++) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 ||
        mpconn_from_fd(&conns[i], fds[0]) < 0 ||
        write(fds[1], hdr, hlen) != (ssize_t)hlen ||
        write(fds[1], kib, sizeof(kib)) != (ssize_t)sizeof(kib))
      return AS_SETUP;
    writers[i] = fds[1];
    /* Reads the header and the KiB: the frame is started, not complete. */
    if (mpconn_poll(conns[i], 0) != 0)
      return AS_ANNOUNCER;
  }
  /* Each holds its chunk buffer and what it sent, grown geometrically:
   * well under 256 KiB a connection, nowhere near 60 MiB. */
  if (vm_size() - base > (uint64_t)ANNOUNCERS * (256 << 10))
    return AS_HELD;
  mpconn *legit;
  if (mpconn_from_fd(&legit, legit_fd) < 0)
    return AS_SETUP;
  void *data;
  size_t len;
  if (mpconn_recv_bytes(legit, &data, &len, MPCONN_UNLIMITED, 60000) != 0)
    return AS_LEGIT_RC;
  const uint8_t *p = data;
  if (len != LEGIT || p[0] != pattern(7, 0) ||
      p[LEGIT / 2] != pattern(7, LEGIT / 2) ||
      p[LEGIT - 1] != pattern(7, LEGIT - 1))
    return AS_LEGIT_BYTES;
  free(data);
  mpconn_free(legit);
  for (int i = 0; i < ANNOUNCERS; i++) {
    mpconn_free(conns[i]);
    close(writers[i]);
  }
  return AS_OK;
}

/*
 * Fifty peers each announce a 60 MiB frame and send 1 KiB of it; under a
 * limit on address space a legitimate 60 MiB message still gets through,
 * because an announced length allocates nothing: memory follows the bytes
 * that arrive.  (Before, each announcement took its 60 MiB at once and the
 * legitimate message failed with "out of memory".)
 */
static void test_announced_not_sent(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  skip(); /* ASan reserves terabytes of address space: no RLIMIT_AS */
#endif
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "vgpreload"))
    skip(); /* valgrind keeps its own address space under the limit */
  int fds[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[1]);
    _exit(receiver_under_limit(fds[0]));
  }
  close(fds[0]);
  mpconn *tx;
  assert_int_equal(mpconn_from_fd(&tx, fds[1]), 0);
  uint8_t *msg = pattern_buf(7, LEGIT);
  int rc = mpconn_send_bytes(tx, msg, LEGIT);
  free(msg);
  mpconn_free(tx);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != AS_OK)
    fail_msg("receiving child: %s %d (statuses: 1 setup, 2 held too much, "
             "3 an announcer, 4 the legitimate receive failed, 5 wrong "
             "bytes)",
             WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  assert_int_equal(rc, 0);
}

struct big_send {
  mpconn *c;
  uint8_t *payload;
  size_t len;
  int rc;
};

static void *big_sender(void *arg) {
  struct big_send *b = arg;
  b->rc = mpconn_send_bytes(b->c, b->payload, b->len);
  if (b->rc == 0)
    b->rc = mpconn_send_bytes(b->c, "\x93\x01\x02\x03", 4);
  return NULL;
}

/*
 * A 20 MiB frame of one-byte items (an array of 20 Mi zeros) would decode
 * to 480 MiB of tree; the default decode limit refuses it while checking,
 * before anything is allocated for the tree, and the next message is
 * received as usual.
 */
static void test_decode_limit_default(void **state) {
  (void)state;
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, true), 0);
  struct big_send s = {.c = a, .len = 5 + ((size_t)20 << 20)};
  s.payload = calloc(1, s.len);
  assert_non_null(s.payload);
  s.payload[0] = 0xdd; /* array 32 of 20 Mi items */
  s.payload[1] = 0x01; /* 0x01400000 */
  s.payload[2] = 0x40;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, big_sender, &s), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(b, &m, 30000), MPCONN_EDECODELIMIT);
  assert_null(m);
  assert_int_equal(mpconn_recv(b, &m, 30000), 0);
  assert_int_equal(mpconn_msg_value(m)->via.array.size, 3);
  mpconn_msg_free(m);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(s.rc, 0);
  free(s.payload);
  mpconn_free(a);
  mpconn_free(b);
}

/* ------------------------------------------------------------------------ */
/* Values: a well-framed payload that is not one well-formed value         */
/* ------------------------------------------------------------------------ */

struct value_case {
  const char *what;
  const char *hex; /* the payload; NULL: built by the test */
  int want;
};

static const struct value_case value_cases[] = {
    {"an empty payload", "", MPCONN_EBADVALUE},
    {"array 32 announcing 4278190080 items", "dd ff 00 00 00",
     MPCONN_EBADVALUE},
    {"map 32 announcing 2^32 - 1 pairs", "df ff ff ff ff", MPCONN_EBADVALUE},
    {"str 32 of 2^32 - 1 bytes", "db ff ff ff ff 61", MPCONN_EBADVALUE},
    {"bin 32 of 2^32 - 1 bytes", "c6 ff ff ff ff 61", MPCONN_EBADVALUE},
    {"ext 32 of 2^32 - 1 bytes", "c9 ff ff ff ff 05 61", MPCONN_EBADVALUE},
    {"array 16 announcing 3 items, holding 1", "dc 00 03 01", MPCONN_EBADVALUE},
    {"a truncated str", "d9 05 61", MPCONN_EBADVALUE},
    {"a truncated uint 64", "cf 00 00", MPCONN_EBADVALUE},
    {"the never-used byte c1", "c1", MPCONN_EBADVALUE},
    {"trailing bytes after a value", "01 02", MPCONN_EBADVALUE},
    {"31 nested array 32 headers of 268435455 items", NULL, MPCONN_EBADVALUE},
    {"33 nested arrays", NULL, MPCONN_ETOODEEP},
    {"33 nested maps", NULL, MPCONN_ETOODEEP},
    {"33 nested sets (each set's array is a level)", NULL, MPCONN_ETOODEEP},
    {"a set whose payload is nil", "d4 53 c0", MPCONN_EBADSET},
    {"a set with an empty payload", "c7 00 53", MPCONN_EBADSET},
    {"a set whose payload is a map", "c7 01 53 80", MPCONN_EBADSET},
    {"a set with two arrays", "c7 02 53 90 90", MPCONN_EBADSET},
    {"a set with bytes after its array", "c7 03 53 91 01 02", MPCONN_EBADSET},
    {"a set whose array is cut short", "c7 02 53 92 01", MPCONN_EBADSET},
    {"a bad set inside a set", "c7 04 53 91 d4 53 c0", MPCONN_EBADSET},
    {"a malformed value inside a set", "c7 02 53 91 c1", MPCONN_EBADSET},
    {"a set announcing more than the frame", "c7 09 53 91 01",
     MPCONN_EBADVALUE},
};

/* The payloads too long to write out. */
static size_t build(size_t i, uint8_t *out) {
  size_t n = 0;
  switch (i) {
  case 11:
    for (int k = 0; k < 31; k++, n += 5)
      memcpy(out + n, "\xdd\x0f\xff\xff\xff", 5);
    return n;
  case 12:
    memset(out, 0x91, 33);
    out[33] = 0xc0;
    return 34;
  case 13:
    for (int k = 0; k < 33; k++, n += 3)
      memcpy(out + n, "\x81\xa1k", 3);
    out[n++] = 0xc0;
    return n;
  default: { /* 33 sets, each an ext 8 holding an array of one */

    /* innermost first: set(nil) is c7 02 53 91 c0 */
    uint8_t tmp[256];
    size_t len = 1;
    tmp[0] = 0xc0;
    for (int k = 0; k < 33; k++) {
      uint8_t next[256];
      next[0] = 0xc7;
      next[1] = (uint8_t)(len + 1);
      next[2] = 0x53;
      next[3] = 0x91;
      memcpy(next + 4, tmp, len);
      len += 4;
      memcpy(tmp, next, len);
    }
    memcpy(out, tmp, len);
    return len;
  }
  }
}

static void test_values(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
    const struct value_case *vc = &value_cases[i];
    uint8_t payload[256];
    size_t n =
        vc->hex ? unhex(vc->hex, payload, sizeof(payload)) : build(i, payload);
    print_message("%s\n", vc->what);
    /* The bad frame, then a good one: nil. */
    uint8_t hdr[4] = {0, 0, (uint8_t)(n >> 8), (uint8_t)n};
    raw_write(wfd, hdr, 4);
    if (n)
      raw_write(wfd, payload, n);
    raw_write(wfd, "\x00\x00\x00\x01\xc0", 5);
    mpconn_msg *m = NULL;
    assert_int_equal(mpconn_recv(c, &m, 5000), vc->want);
    assert_null(m);
    /* Consumed, not sticky: the next frame arrives. */
    assert_int_equal(mpconn_recv(c, &m, 5000), 0);
    assert_int_equal(mpconn_msg_value(m)->type, MSGPACK_OBJECT_NIL);
    mpconn_msg_free(m);
    /* And the validator agrees on its own. */
    assert_int_equal(mpconn__validate(payload, n), vc->want);
  }
  mpconn_free(c);
  close(wfd);
}

/* The deepest values accepted: 32 levels of arrays, maps and sets. */
static void test_depth_32_accepted(void **state) {
  (void)state;
  uint8_t v[128];
  memset(v, 0x91, 32);
  v[32] = 0xc0;
  assert_int_equal(mpconn__validate(v, 33), 0);
  size_t n = build(13, v); /* 33 maps */
  assert_int_equal(mpconn__validate(v + 3, n - 3), 0);
  uint8_t s[256];
  n = build(14, s); /* 33 sets */
  /* Strip the outermost set: 32 sets, 32 levels. */
  assert_int_equal(mpconn__validate(s + 4, n - 4), 0);
}

/* ------------------------------------------------------------------------ */
/* The handshake: what the peer sends, then end of file                    */
/* ------------------------------------------------------------------------ */

struct auth_case {
  const char *what;
  bool answer;       /* run answer_challenge (else deliver_challenge) */
  const char *frame; /* one message the peer sends, or NULL */
  size_t len;        /* its length (it may hold NUL bytes) */
  const char *raw;   /* or raw hex bytes, not framed */
  int want;
};

#define S(s) s, sizeof(s) - 1

static const struct auth_case auth_cases[] = {
    {"challenger: the peer says nothing", false, NULL, 0, "", MPCONN_EOF},
    {"challenger: half a header", false, NULL, 0, "00 00", MPCONN_ETRUNCATED},
    {"challenger: a response of 257 bytes", false, NULL, 0, "00 00 01 01 61",
     MPCONN_EAUTH},
    {"challenger: a negative length", false, NULL, 0, "ff ff ff fe",
     MPCONN_EAUTH},
    {"challenger: -1 and a huge length", false, NULL, 0,
     "ff ff ff ff ff ff ff ff ff ff ff ff", MPCONN_EAUTH},
    {"challenger: a wrong MAC", false,
     S("{sha256}0123456789abcdef0123456789abcdef"), NULL, MPCONN_EAUTH},
    {"challenger: an unknown digest", false, S("{sha1}0123456789abcdef0123"),
     NULL, MPCONN_EAUTH},
    {"challenger: #FAILURE#", false, S("#FAILURE#"), NULL, MPCONN_EAUTH},
    {"answerer: the peer says nothing", true, NULL, 0, "", MPCONN_EOF},
    {"answerer: a challenge cut short", true, NULL, 0, "00 00 00 20 23",
     MPCONN_ETRUNCATED},
    {"answerer: no #CHALLENGE#", true, S("#WELCOME#"), NULL, MPCONN_EAUTH},
    {"answerer: a challenge of 19 bytes", true,
     S("#CHALLENGE#0123456789abcdefghi"), NULL, MPCONN_EAUTH},
    {"answerer: an unknown digest", true,
     S("#CHALLENGE#{sha512}0123456789abcdef0123456789abcdef"), NULL,
     MPCONN_EAUTH},
    {"answerer: a challenge of 257 bytes", true, NULL, 0, "00 00 01 01 23",
     MPCONN_EAUTH},
    {"answerer: a negative length", true, NULL, 0, "80 00 00 00", MPCONN_EAUTH},
    {"answerer: -1 and a huge length", true, NULL, 0,
     "ff ff ff ff 00 00 00 01 00 00 00 00", MPCONN_EAUTH},
    {"answerer: a legacy challenge, then end of file", true,
     S("#CHALLENGE#0123456789abcdefghij"), NULL, MPCONN_EOF},
};

static void test_handshake(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
    const struct auth_case *ac = &auth_cases[i];
    print_message("%s\n", ac->what);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    if (ac->frame) {
      uint8_t hdr[4] = {0, 0, (uint8_t)(ac->len >> 8), (uint8_t)ac->len};
      raw_write(sv[1], hdr, 4);
      raw_write(sv[1], ac->frame, ac->len);
    } else {
      uint8_t bytes[64];
      size_t n = unhex(ac->raw, bytes, sizeof(bytes));
      if (n)
        raw_write(sv[1], bytes, n);
    }
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    mpconn *c;
    assert_int_equal(mpconn_from_fds(&c, sv[0], sv[0]), 0);
    int64_t deadline = mpconn__deadline(5000);
    int rc = ac->answer ? mpconn__answer_challenge(c, "key", 3, deadline)
                        : mpconn__deliver_challenge(c, "key", 3, deadline);
    assert_int_equal(rc, ac->want);
    mpconn_free(c);
    close(sv[1]);
  }
}

/* A peer that stays silent: the handshake's deadline. */
static void test_handshake_silent(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  mpconn *c;
  assert_int_equal(mpconn_from_fds(&c, sv[0], sv[0]), 0);
  assert_int_equal(mpconn__answer_challenge(c, "key", 3, mpconn__deadline(50)),
                   MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn__deliver_challenge(c, "key", 3, mpconn__deadline(50)),
                   MPCONN_ETIMEDOUT);
  mpconn_free(c);
  close(sv[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frames),
      cmocka_unit_test(test_caller_limits),
      cmocka_unit_test(test_unlimited_huge),
      cmocka_unit_test(test_announced_not_sent),
      cmocka_unit_test(test_decode_limit_default),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_depth_32_accepted),
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_handshake_silent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
