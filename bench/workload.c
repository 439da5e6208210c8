/* SPDX-License-Identifier: MIT */
/* What each workload sends, and how a receiver checks it. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[BENCH_NKINDS] = {
    [BENCH_SMALL] = "small",   [BENCH_ROUNDTRIP] = "roundtrip",
    [BENCH_1MIB] = "1mib",     [BENCH_64MIB] = "64mib",
    [BENCH_MIXED] = "mixed",   [BENCH_QUEUE] = "queue",
    [BENCH_SHARED] = "shared", [BENCH_SERVER] = "server",
    [BENCH_FDPASS] = "fdpass",
};

const char *bench_kind_name(enum bench_kind k) {
  return k < BENCH_NKINDS ? kind_names[k] : "?";
}

enum bench_kind bench_kind_from_name(const char *name) {
  for (int k = 0; k < BENCH_NKINDS; k++)
    if (strcmp(name, kind_names[k]) == 0)
      return (enum bench_kind)k;
  return BENCH_NKINDS;
}

const uint8_t *bench_pattern(void) {
  /* Filled lazily so that a forked row's RSS counts it only when that row
   * uses it. */
  static uint8_t *p;
  if (!p) {
    p = malloc(BENCH_BIG_SIZE);
    if (!p) {
      fprintf(stderr, "mpconn-bench: out of memory\n");
      exit(1);
    }
    for (size_t i = 0; i < BENCH_BIG_SIZE; i++)
      p[i] = (uint8_t)(i * 131 + (i >> 8));
  }
  return p;
}

size_t bench_bytes_size(enum bench_kind k) {
  return k == BENCH_1MIB    ? BENCH_BIG_SIZE
         : k == BENCH_64MIB ? BENCH_HUGE_SIZE
                            : 0;
}

void bench_fill_bytes(uint8_t *p, size_t len) {
  const uint8_t *pattern = bench_pattern();
  for (size_t o = 0; o < len; o += BENCH_BIG_SIZE)
    memcpy(p + o, pattern, len - o < BENCH_BIG_SIZE ? len - o : BENCH_BIG_SIZE);
}

const uint8_t *bench_bytes_payload(enum bench_kind k) {
  if (k != BENCH_64MIB)
    return bench_pattern();
  /* Made lazily, as the pattern, so that only the rows that send it count
   * it in their RSS. */
  static uint8_t *p;
  if (!p) {
    if (!(p = malloc(BENCH_HUGE_SIZE)))
      bench_fail("out of memory");
    bench_fill_bytes(p, BENCH_HUGE_SIZE);
  }
  return p;
}

/* splitmix64, then a size spread evenly over the octaves 10-20, 20-40, ...
 * up to 100 KiB: mostly small frames with a heavy tail, deterministic. */
size_t bench_mixed_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  z ^= z >> 31;
  size_t lo = BENCH_MIXED_MIN << (z % 14);
  size_t hi = 2 * lo < BENCH_MIXED_MAX + 1 ? 2 * lo : BENCH_MIXED_MAX + 1;
  return lo + (size_t)((z >> 32) % (hi - lo));
}

static bool str_is(const msgpack_object *o, const char *s, size_t n) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
         memcmp(o->via.str.ptr, s, n) == 0;
}

void bench_pack_small(msgpack_packer *pk, uint64_t i) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_str_with_body(pk, "spam", 4);
  msgpack_pack_uint64(pk, i);
  msgpack_pack_str_with_body(pk, "eggs", 4);
}

bool bench_small_number(const msgpack_object *v, uint64_t *i) {
  if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 3)
    return false;
  const msgpack_object *a = v->via.array.ptr;
  if (!str_is(&a[0], "spam", 4) || !str_is(&a[2], "eggs", 4) ||
      a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return false;
  *i = a[1].via.u64;
  return true;
}

bool bench_check_small(const msgpack_object *v, uint64_t i) {
  uint64_t got;
  return bench_small_number(v, &got) && got == i;
}

void bench_pack_mixed(msgpack_packer *pk, uint64_t i, const uint8_t *body,
                      size_t size) {
  msgpack_pack_array(pk, 2);
  msgpack_pack_uint64(pk, i);
  msgpack_pack_bin_with_body(pk, body, size);
}

bool bench_check_mixed(const msgpack_object *v, uint64_t i, size_t size) {
  if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != 2)
    return false;
  const msgpack_object *a = v->via.array.ptr;
  return a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == i &&
         a[1].type == MSGPACK_OBJECT_BIN && a[1].via.bin.size == size &&
         (size == 0 ||
          (uint8_t)a[1].via.bin.ptr[size - 1] == bench_pattern()[size - 1]);
}

/* msgpack-c's write callback for counting only. */
static int count_bytes(void *data, const char *buf, size_t len) {
  (void)buf;
  *(uint64_t *)data += len;
  return 0;
}

uint64_t bench_payload_bytes(enum bench_kind k, uint64_t n) {
  uint64_t total = 0;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &total, count_bytes);
  uint64_t state = BENCH_MIXED_SEED;
  static const uint8_t none[1];
  for (uint64_t i = 0; i < n; i++) {
    switch (k) {
    case BENCH_SMALL:
    case BENCH_ROUNDTRIP:
    case BENCH_QUEUE:
      bench_pack_small(&pk, i);
      break;
    case BENCH_SERVER:
      /* Each client numbers its own round trips from 0. */
      bench_pack_small(&pk, i / BENCH_CLIENTS);
      break;
    case BENCH_1MIB:
    case BENCH_64MIB:
      total += bench_bytes_size(k);
      break;
    case BENCH_MIXED:
      /* Only the sizes matter: the body is never read. */
      bench_pack_mixed(&pk, i, none, bench_mixed_next(&state));
      break;
    case BENCH_SHARED: /* additions carry no payload */
    case BENCH_FDPASS: /* nor do descriptors */
    case BENCH_NKINDS:
      break;
    }
  }
  return total;
}

bool bench_measured(const struct bench_result *r) {
  return r->status[0] == '\0' && r->seconds > 0;
}

static void set_status(struct bench_result *r, const char *prefix,
                       const char *fmt, va_list ap) {
  size_t n = (size_t)snprintf(r->status, sizeof(r->status), "%s", prefix);
  if (n < sizeof(r->status))
    vsnprintf(r->status + n, sizeof(r->status) - n, fmt, ap);
}

void bench_skip(struct bench_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_status(r, "skipped: ", fmt, ap);
  va_end(ap);
}

void bench_error(struct bench_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_status(r, "error: ", fmt, ap);
  va_end(ap);
}

void bench_check_bytes(const uint8_t *p, size_t len) {
  if (len != BENCH_BIG_SIZE || p[0] != bench_pattern()[0] ||
      p[len - 1] != bench_pattern()[len - 1])
    bench_fail("wrong bytes received");
}

void bench_check_sized(enum bench_kind k, const uint8_t *p, size_t len) {
  size_t size = bench_bytes_size(k);
  const uint8_t *pattern = bench_pattern();
  if (len != size || p[0] != pattern[0] ||
      p[len - 1] != pattern[(len - 1) % BENCH_BIG_SIZE])
    bench_fail("wrong bytes received");
}

void bench_check_payload(enum bench_kind k, msgpack_unpacked *up,
                         const uint8_t *p, size_t len, uint64_t i,
                         uint64_t *state) {
  if (k == BENCH_1MIB || k == BENCH_64MIB) {
    bench_check_sized(k, p, len);
    return;
  }
  size_t off = 0;
  if (msgpack_unpack_next(up, (const char *)p, len, &off) !=
          MSGPACK_UNPACK_SUCCESS ||
      off != len)
    bench_fail("message %llu does not unpack", (unsigned long long)i);
  bool ok = k == BENCH_MIXED
                ? bench_check_mixed(&up->data, i, bench_mixed_next(state))
                : bench_check_small(&up->data, i);
  if (!ok)
    bench_fail("message %llu is wrong", (unsigned long long)i);
}
