/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory rows of the bytes workloads (1mib, 64mib): a
 * connection pair from mpconn_pipe(..., true), both ends switched on with
 * mpconn_set_shm().
 *
 * The sender takes a new buffer for each message with mpconn_shm_new(),
 * fills it with the payload (memcpy() of the 1 MiB pattern, as many times
 * as the payload holds: the buffer's pages are faulted in and written
 * here, inside the clock) and hands it over with mpconn_shm_send(), which
 * seals it and sends its descriptor; no byte goes through the socket.
 *
 * The receiver takes each message with mpconn_recv_raw(), which maps the
 * sealed memfd read-only, checks it with bench_check_sized() (its length,
 * first and last byte: the check of every row of the bytes workloads) and
 * frees it, which unmaps it.  Only the pages those two bytes lie on are
 * read; BENCH_SHM_PAGES also reads one byte of every 4 KiB page, each
 * compared with the pattern, so that the cost of faulting the whole
 * mapping in is counted too.
 */
#include "bench.h"

#include <mpconn.h>

#include <string.h>

#define PAGE ((size_t)4096)

struct shm_arg {
  enum bench_kind kind;
  enum bench_shm_variant variant;
  uint64_t n;
  mpconn *rx, *tx; /* the receiving and the sending end */
};

static void check(int rc, const char *what) {
  if (rc < 0)
    bench_fail("%s: %s", what, mpconn_err_name(rc));
}

static void sender(void *arg, int index) {
  (void)index;
  struct shm_arg *a = arg;
  mpconn_free(a->rx);
  size_t size = bench_bytes_size(a->kind);
  bench_pattern(); /* made before the clock starts */
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    mpconn_shm *s;
    check(mpconn_shm_new(&s, size), "shm_new");
    bench_fill_bytes(mpconn_shm_data(s), size);
    check(mpconn_shm_send(a->tx, s, size), "shm_send");
  }
  mpconn_free(a->tx);
}

static void receiver(void *arg, int index) {
  (void)index;
  struct shm_arg *a = arg;
  mpconn_free(a->tx);
  const uint8_t *pattern = bench_pattern();
  bench_go();
  for (uint64_t i = 0; i < a->n; i++) {
    mpconn_msg *m;
    check(mpconn_recv_raw(a->rx, &m, -1), "recv_raw");
    size_t len;
    const uint8_t *p = mpconn_msg_data(m, &len);
    bench_check_sized(a->kind, p, len);
    if (a->variant == BENCH_SHM_PAGES)
      for (size_t o = 0; o < len; o += PAGE)
        if (p[o] != pattern[o % BENCH_BIG_SIZE])
          bench_fail("message %llu is wrong at byte %zu", (unsigned long long)i,
                     o);
    mpconn_msg_free(m);
  }
  bench_mark_end();
  mpconn_free(a->rx);
}

void bench_row_shm(struct bench_result *r, enum bench_kind k,
                   enum bench_shm_variant v, uint64_t n) {
  struct shm_arg a = {.kind = k, .variant = v, .n = n};
  int rc = mpconn_pipe(&a.rx, &a.tx, true);
  /* The threshold only matters to mpconn_send() and the like, which these
   * rows do not use; any size switches shared memory on. */
  if (rc == 0)
    rc = mpconn_set_shm(a.rx, bench_bytes_size(k));
  if (rc == 0)
    rc = mpconn_set_shm(a.tx, bench_bytes_size(k));
  if (rc < 0) {
    bench_error(r, "%s", mpconn_strerror(rc));
  } else {
    struct bench_roles roles = {
        .senders = 1, .sender = sender, .receiver = receiver};
    r->messages = n;
    bench_run(r, &roles, &a);
  }
  mpconn_free(a.rx);
  mpconn_free(a.tx);
}
