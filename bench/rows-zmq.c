/* SPDX-License-Identifier: MIT */
/*
 * The ZeroMQ row: a PAIR socket over ipc:// (a socket file in a private
 * temporary directory), one zmq_send() per message, values packed and
 * unpacked with msgpack-c as in the hand-written rows.  Built only when
 * libzmq is found.
 */
#include "bench.h"

#include <zmq.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zmq_arg {
  enum bench_kind kind;
  uint64_t n;
  char endpoint[128];
};

struct zsock {
  void *ctx, *s;
};

static void zcheck(int rc, const char *what) {
  if (rc < 0)
    bench_fail("%s: %s", what, zmq_strerror(zmq_errno()));
}

static struct zsock zopen(void) {
  struct zsock z = {.ctx = zmq_ctx_new()};
  if (!z.ctx || !(z.s = zmq_socket(z.ctx, ZMQ_PAIR)))
    bench_fail("zmq_socket: %s", zmq_strerror(zmq_errno()));
  return z;
}

/* zmq_ctx_term() waits until every message sent has gone (ZMQ_LINGER is
 * infinite by default). */
static void zclose(struct zsock *z) {
  zmq_close(z->s);
  zmq_ctx_term(z->ctx);
}

static void zsend(struct zsock *z, const void *p, size_t len) {
  while (zmq_send(z->s, p, len, 0) < 0)
    if (zmq_errno() != EINTR)
      zcheck(-1, "zmq_send");
}

static void zrecv(struct zsock *z, zmq_msg_t *m) {
  while (zmq_msg_recv(m, z->s, 0) < 0)
    if (zmq_errno() != EINTR)
      zcheck(-1, "zmq_msg_recv");
}

static void check(const struct zmq_arg *a, msgpack_unpacked *up, zmq_msg_t *m,
                  uint64_t i, uint64_t *state) {
  bench_check_payload(a->kind, up, zmq_msg_data(m), zmq_msg_size(m), i, state);
}

static void sender(void *arg, int index) {
  (void)index;
  struct zmq_arg *a = arg;
  struct zsock z = zopen();
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  zmq_msg_t reply;
  zmq_msg_init(&reply);
  const uint8_t *pattern = bench_pattern();
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  /* Only now: the receiver has bound before it was ready.  Connecting
   * earlier could find no socket file and wait out the reconnect
   * interval. */
  zcheck(zmq_connect(z.s, a->endpoint), "zmq_connect");
  for (uint64_t i = 0; i < a->n; i++) {
    if (a->kind == BENCH_1MIB) {
      zsend(&z, pattern, BENCH_BIG_SIZE);
      continue;
    }
    msgpack_sbuffer_clear(&sb);
    if (a->kind == BENCH_MIXED)
      bench_pack_mixed(&pk, i, pattern, bench_mixed_next(&state));
    else
      bench_pack_small(&pk, i);
    zsend(&z, sb.data, sb.size);
    if (a->kind == BENCH_ROUNDTRIP) {
      zrecv(&z, &reply);
      check(a, &up, &reply, i, NULL);
    }
  }
  if (a->kind == BENCH_ROUNDTRIP)
    bench_mark_end();
  else
    zrecv(&z, &reply); /* the receiver's acknowledgement, see below */
  zmq_msg_close(&reply);
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
  zclose(&z);
}

static void receiver(void *arg, int index) {
  (void)index;
  struct zmq_arg *a = arg;
  struct zsock z = zopen();
  zcheck(zmq_bind(z.s, a->endpoint), "zmq_bind");
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  zmq_msg_t m;
  zmq_msg_init(&m);
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    zrecv(&z, &m);
    if (a->kind != BENCH_ROUNDTRIP) {
      check(a, &up, &m, i, &state);
      continue;
    }
    size_t off = 0;
    if (msgpack_unpack_next(&up, zmq_msg_data(&m), zmq_msg_size(&m), &off) !=
        MSGPACK_UNPACK_SUCCESS)
      bench_fail("request %llu does not unpack", (unsigned long long)i);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_object(&pk, up.data);
    zsend(&z, sb.data, sb.size);
  }
  if (a->kind != BENCH_ROUNDTRIP) {
    bench_mark_end();
    /* A PAIR socket whose peer disconnects drops the messages it has not
     * delivered yet, so the sender may only close once told that all
     * have arrived. */
    zsend(&z, "", 0);
  }
  zmq_msg_close(&m);
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
  /* Its last message (a reply or the acknowledgement) must get there. */
  zclose(&z);
}

void bench_row_zmq(struct bench_result *r, enum bench_kind k, uint64_t n) {
  char dir[] = "/tmp/mpconn-bench-XXXXXX";
  if (!mkdtemp(dir)) {
    bench_error(r, "mkdtemp: %s", strerror(errno));
    return;
  }
  struct zmq_arg a = {.kind = k, .n = n};
  snprintf(a.endpoint, sizeof(a.endpoint), "ipc://%s/pair", dir);
  struct bench_roles roles = {
      .senders = 1, .sender = sender, .receiver = receiver};
  r->messages = n;
  bench_run(r, &roles, &a);
  char path[128];
  snprintf(path, sizeof(path), "%s/pair", dir);
  unlink(path);
  rmdir(dir);
}
