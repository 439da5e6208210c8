/* SPDX-License-Identifier: MIT */
/*
 * The mpconn rows: a connection pair from mpconn_pipe(..., true) (a
 * socketpair; one row uses a pipe), used the way an application would,
 * and the queue.
 */
#include "bench.h"

#include <mpconn.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct mp_arg {
  enum bench_kind kind;
  enum bench_mpconn_variant variant;
  uint64_t n;
  mpconn *rx, *tx; /* the receiving and the sending end */
  mpconn_queue *q;
  int producers, consumers; /* the queue's */
};

static void check(int rc, const char *what) {
  if (rc < 0)
    bench_fail("%s: %s", what, mpconn_err_name(rc));
}

static void send_value(struct mp_arg *a, uint64_t i, const uint8_t *body,
                       size_t size) {
  if (a->variant == BENCH_MPCONN_SENDF) {
    check(mpconn_sendf(a->tx, "[s, U, s]", "spam", i, "eggs"), "sendf");
    return;
  }
  if (bench_bytes_size(a->kind)) {
    /* A value held as a msgpack_object: its body is not copied. */
    msgpack_object v = {
        .type = MSGPACK_OBJECT_BIN,
        .via.bin = {.size = (uint32_t)size, .ptr = (const char *)body}};
    check(mpconn_send(a->tx, &v), "send");
    return;
  }
  msgpack_packer *pk;
  check(mpconn_pack_begin(a->tx, &pk), "pack_begin");
  if (a->kind == BENCH_MIXED)
    bench_pack_mixed(pk, i, body, size);
  else
    bench_pack_small(pk, i);
  check(mpconn_pack_end(a->tx), "pack_end");
}

static void sender(void *arg, int index) {
  (void)index;
  struct mp_arg *a = arg;
  mpconn_free(a->rx);
  size_t size = bench_bytes_size(a->kind);
  const uint8_t *pattern = size ? bench_bytes_payload(a->kind)
                           : a->kind == BENCH_MIXED ? bench_pattern()
                                                    : NULL;
  uint64_t state = BENCH_MIXED_SEED;
  bench_go();
  bool corked =
      a->variant == BENCH_MPCONN_BATCHED || a->variant == BENCH_MPCONN_TIMED;
  if (corked)
    check(mpconn_cork(a->tx, true), "cork");
  for (uint64_t i = 0; i < a->n; i++) {
    if (size && a->variant != BENCH_MPCONN_VALUES)
      check(mpconn_send_bytes(a->tx, pattern, size), "send_bytes");
    else if (size)
      send_value(a, i, pattern, size);
    else
      send_value(a, i, pattern,
                 a->kind == BENCH_MIXED ? bench_mixed_next(&state) : 0);
  }
  if (corked)
    check(mpconn_flush(a->tx), "flush");
  mpconn_free(a->tx);
}

static void receiver(void *arg, int index) {
  (void)index;
  struct mp_arg *a = arg;
  mpconn_free(a->tx);
  size_t size = bench_bytes_size(a->kind);
  uint8_t *into = NULL;
  if (a->variant == BENCH_MPCONN_INTO && !(into = malloc(size)))
    bench_fail("out of memory");
  uint64_t state = BENCH_MIXED_SEED;
  /* A finite timeout must cost nothing while messages are buffered. */
  int timeout = a->variant == BENCH_MPCONN_TIMED ? 60000 : -1;
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    if (size && a->variant == BENCH_MPCONN_INTO) {
      size_t len;
      check(mpconn_recv_bytes_into(a->rx, into, size, 0, &len, -1),
            "recv_bytes_into");
      bench_check_sized(a->kind, into, len);
      continue;
    }
    if (size && a->variant != BENCH_MPCONN_VALUES) {
      void *data;
      size_t len;
      check(mpconn_recv_bytes(a->rx, &data, &len, MPCONN_UNLIMITED, -1),
            "recv_bytes");
      bench_check_sized(a->kind, data, len);
      free(data);
      continue;
    }
    mpconn_msg *m;
    check(mpconn_recv(a->rx, &m, timeout), "recv");
    const msgpack_object *v = mpconn_msg_value(m);
    bool ok;
    if (a->kind == BENCH_MIXED) {
      ok = bench_check_mixed(v, i, bench_mixed_next(&state));
    } else if (size) {
      ok = v->type == MSGPACK_OBJECT_BIN;
      if (ok)
        bench_check_sized(a->kind, (const uint8_t *)v->via.bin.ptr,
                          v->via.bin.size);
    } else {
      ok = bench_check_small(v, i);
    }
    mpconn_msg_free(m);
    if (!ok)
      bench_fail("message %llu is wrong", (unsigned long long)i);
  }
  bench_mark_end();
  free(into);
  mpconn_free(a->rx);
}

/* Round trips: the sender side asks, the receiver side echoes. */
static void rt_client(void *arg, int index) {
  (void)index;
  struct mp_arg *a = arg;
  mpconn_free(a->rx);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    send_value(a, i, NULL, 0);
    mpconn_msg *m;
    check(mpconn_recv(a->tx, &m, -1), "recv");
    bool ok = bench_check_small(mpconn_msg_value(m), i);
    mpconn_msg_free(m);
    if (!ok)
      bench_fail("reply %llu is wrong", (unsigned long long)i);
  }
  bench_mark_end();
  mpconn_free(a->tx);
}

static void rt_server(void *arg, int index) {
  (void)index;
  struct mp_arg *a = arg;
  mpconn_free(a->tx);
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    mpconn_msg *m;
    check(mpconn_recv(a->rx, &m, -1), "recv");
    int rc = mpconn_send(a->rx, mpconn_msg_value(m));
    mpconn_msg_free(m);
    check(rc, "send");
  }
  mpconn_free(a->rx);
}

/* The queue: producer @index puts every a->producers-th number. */
static void producer(void *arg, int index) {
  struct mp_arg *a = arg;
  msgpack_object items[3] = {
      {.type = MSGPACK_OBJECT_STR, .via.str = {.size = 4, .ptr = "spam"}},
      {.type = MSGPACK_OBJECT_POSITIVE_INTEGER},
      {.type = MSGPACK_OBJECT_STR, .via.str = {.size = 4, .ptr = "eggs"}},
  };
  msgpack_object v = {.type = MSGPACK_OBJECT_ARRAY,
                      .via.array = {.size = 3, .ptr = items}};
  bench_go();
  for (uint64_t i = (uint64_t)index; i < a->n; i += (uint64_t)a->producers) {
    items[1].via.u64 = i;
    check(mpconn_queue_put(a->q, &v, -1), "queue_put");
  }
  mpconn_queue_free(a->q);
}

/*
 * Get @count items and check them: with one consumer each producer's
 * items come in exactly the order it put them; with several, each
 * consumer still sees each producer's items in increasing order.
 */
static void consume(struct mp_arg *a, uint64_t count) {
  uint64_t next[BENCH_WIDE_PRODUCERS];
  uint64_t np = (uint64_t)a->producers;
  for (uint64_t p = 0; p < np; p++)
    next[p] = p;
  for (uint64_t k = 0; k < count; k++) {
    mpconn_msg *m;
    check(mpconn_queue_get(a->q, &m, -1), "queue_get");
    uint64_t i;
    bool ok = bench_small_number(mpconn_msg_value(m), &i);
    mpconn_msg_free(m);
    bool in_order = a->consumers == 1 ? next[i % np] == i : i >= next[i % np];
    if (!ok || i >= a->n || !in_order)
      bench_fail("item %llu is wrong or out of order", (unsigned long long)k);
    next[i % np] = i + np;
  }
}

/* The first consumer; it starts the others, and the row ends once every
 * one has taken its share. */
static void consumer(void *arg, int index) {
  (void)index;
  struct mp_arg *a = arg;
  bench_go();
  uint64_t share = a->n / (uint64_t)a->consumers;
  pid_t others[BENCH_WIDE_CONSUMERS];
  for (int c = 1; c < a->consumers; c++) {
    others[c] = fork();
    if (others[c] < 0)
      bench_fail("fork: %s", strerror(errno));
    if (others[c] == 0) {
      consume(a, share);
      _exit(0);
    }
  }
  consume(a, share);
  for (int c = 1; c < a->consumers; c++) {
    int status;
    while (waitpid(others[c], &status, 0) < 0)
      if (errno != EINTR)
        bench_fail("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      bench_fail("consumer %d failed (status %#x)", c, status);
  }
  bench_mark_end();
  mpconn_queue_free(a->q);
}

void bench_row_mpconn(struct bench_result *r, enum bench_kind k,
                      enum bench_mpconn_variant v, uint64_t n) {
  struct mp_arg a = {.kind = k, .variant = v, .n = n};
  struct bench_roles roles = {
      .senders = 1, .sender = sender, .receiver = receiver};
  int rc;
  if (k == BENCH_QUEUE) {
    bool wide =
        v == BENCH_MPCONN_QUEUE_WIDE || v == BENCH_MPCONN_QUEUE_RING_WIDE;
    bool ring =
        v == BENCH_MPCONN_QUEUE_RING || v == BENCH_MPCONN_QUEUE_RING_WIDE;
    a.producers = wide ? BENCH_WIDE_PRODUCERS : BENCH_PRODUCERS;
    a.consumers = wide ? BENCH_WIDE_CONSUMERS : 1;
    /* Every consumer takes the same share. */
    n -= n % (uint64_t)a.consumers;
    a.n = n;
    rc = mpconn_queue_new_ex(&a.q, 0, 0, ring ? MPCONN_QUEUE_RINGS : 0);
    roles = (struct bench_roles){
        .senders = a.producers, .sender = producer, .receiver = consumer};
  } else {
    rc = v == BENCH_MPCONN_RING
             ? mpconn_pipe_ex(&a.rx, &a.tx, MPCONN_PIPE_RING, 0)
             : mpconn_pipe(&a.rx, &a.tx, v != BENCH_MPCONN_PIPE);
    if (k == BENCH_ROUNDTRIP)
      roles = (struct bench_roles){
          .senders = 1, .sender = rt_client, .receiver = rt_server};
  }
  if (rc < 0) {
    bench_error(r, "%s", mpconn_strerror(rc));
    return;
  }
  r->messages = n;
  bench_run(r, &roles, &a);
  mpconn_free(a.rx);
  mpconn_free(a.tx);
  mpconn_queue_free(a.q);
}
