/* SPDX-License-Identifier: MIT */
/* The frame validator (lib/validate.c) against hand-written msgpack. */
#include "test-util.h"

#include <malloc.h>

#include "mpconn-private.h"

/* The bytes go in an allocation of their exact size, so that a sanitizer
 * build catches any read past the end. */
static int validate_hex(const char *hex) {
  uint8_t buf[256];
  size_t n = unhex(hex, buf, sizeof(buf));
  uint8_t *exact = malloc(n ? n : 1);
  assert_non_null(exact);
  memcpy(exact, buf, n);
  int rc = mpconn__validate(exact, n);
  free(exact);
  return rc;
}

/* msgpack-c decodes all of p[0, n) as one object. */
static void assert_decodes(const uint8_t *p, size_t n) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&u, (const char *)p, n, &off),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, n);
  msgpack_unpacked_destroy(&u);
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/*
 * Decode the way the receive path can stay within the documented bound:
 * a zone sized by the validator, one allocation.  Checks that msgpack-c
 * used exactly the predicted bytes and that the heap grew by at most
 * 24 * n + 8 KiB.
 */
static void assert_decodes_bounded(const uint8_t *p, size_t n) {
  size_t need = SIZE_MAX;
  assert_int_equal(mpconn__validate_sized(p, n, &need), 0);
  assert_true(need <= 24 * (n - 1));
  size_t before = heap_in_use();
  msgpack_zone *z = msgpack_zone_new(need);
  assert_non_null(z);
  msgpack_object obj;
  size_t off = 0;
  assert_int_equal(msgpack_unpack((const char *)p, n, &off, z, &obj),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, n);
  assert_int_equal(z->chunk_list.free, 0);
  size_t grown = heap_in_use() - before;
  assert_true(grown <= 24 * n + 8192);
  msgpack_zone_free(z);
}

static void accept_hex(const char *hex) {
  uint8_t buf[256];
  size_t n = unhex(hex, buf, sizeof(buf));
  int rc = validate_hex(hex);
  if (rc != 0)
    fail_msg("rejected %s with %s", hex, mpconn_err_name(rc));
  assert_decodes(buf, n);
  assert_decodes_bounded(buf, n);
}

static void test_accepts_scalars(void **state) {
  (void)state;
  static const char *const ok[] = {
      "c0", "c2", "c3",
      /* fixints and every int width at its extremes */
      "00", "7f", "e0", "ff", "cc ff", "cd ff ff", "ce ff ff ff ff",
      "cf ff ff ff ff ff ff ff ff", "d0 80", "d1 80 00", "d2 80 00 00 00",
      "d3 80 00 00 00 00 00 00 00", "d3 7f ff ff ff ff ff ff ff",
      /* float 32 and 64 */
      "ca 3f 80 00 00", "cb 3f f0 00 00 00 00 00 00",
      /* str of every width, empty and not */
      "a0", "a3 61 62 63",
      ("bf 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
       "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61"),
      "d9 00", "d9 03 61 62 63", "da 00 03 61 62 63", "db 00 00 00 03 61 62 63",
      /* bin */
      "c4 00", "c4 02 01 02", "c5 00 02 01 02", "c6 00 00 00 02 01 02",
      /* ext and fixext, including a negative type (timestamp) */
      "c7 00 05", "c7 02 05 01 02", "c8 00 02 05 01 02",
      "c9 00 00 00 02 05 01 02", "d4 05 01", "d5 05 01 02", "d6 ff 00 00 00 00",
      "d7 05 01 02 03 04 05 06 07 08",
      "d8 05 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    accept_hex(ok[i]);
}

static void test_accepts_containers(void **state) {
  (void)state;
  static const char *const ok[] = {
      "90", "dc 00 00", "dd 00 00 00 00", "91 01",
      "9f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e", "dc 00 02 01 02",
      "dd 00 00 00 02 01 02", "80", "de 00 00", "df 00 00 00 00", "81 01 02",
      "de 00 01 a1 6b c0", "df 00 00 00 02 01 02 03 04",
      /* a map key may be any value, a container included */
      "81 92 01 02 c3", "92 81 01 90 80",
      /* sets: empty, of ints, of strings, nested, in an array, in a map */
      "d4 53 90", "d5 53 91 01", "c7 03 53 92 01 02",
      "c7 0d 53 94 a2 61 61 a2 6d 6d a2 70 70 a2 73 73", "c7 04 53 91 d4 53 90",
      "c8 00 01 53 90", "c9 00 00 00 01 53 90", "d6 53 dc 00 01 c0",
      "d8 53 dd 00 00 00 0b c0 c0 00 00 00 00 00 00 00 00 00",
      "92 d4 53 90 d4 53 90", "81 d4 53 90 d5 53 91 01"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    accept_hex(ok[i]);
}

/* Ext payloads other than sets are opaque: anything goes inside. */
static void test_other_ext_opaque(void **state) {
  (void)state;
  assert_int_equal(validate_hex("d4 52 c1"), 0);
  assert_int_equal(validate_hex("d5 54 dd ff"), 0);
  assert_int_equal(validate_hex("d4 d3 81"), 0); /* type -45 = 0xd3 */
}

/* A longer str/bin needs its 16- and 32-bit length forms filled for real. */
static void test_accepts_long_bodies(void **state) {
  (void)state;
  size_t n = 3 + 70000;
  uint8_t *p = calloc(1, n + 5);
  assert_non_null(p);
  p[0] = 0xda;
  p[1] = 0x01;
  p[2] = 0x2c; /* 300 */
  assert_int_equal(mpconn__validate(p, 3 + 300), 0);
  assert_int_equal(mpconn__validate(p, 3 + 299), MPCONN_EBADVALUE);
  assert_int_equal(mpconn__validate(p, 3 + 301), MPCONN_EBADVALUE);
  p[0] = 0xc6;
  p[1] = 0x00;
  p[2] = 0x01;
  p[3] = 0x11;
  p[4] = 0x70; /* 70000 */
  assert_int_equal(mpconn__validate(p, 5 + 70000), 0);
  assert_int_equal(mpconn__validate(p, 5 + 69999), MPCONN_EBADVALUE);
  free(p);
}

/* What msgpack-c will allocate, per container, outside nested sets. */
static void test_zone_bytes(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t need = 12345;
  size_t n = unhex("c0", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_sized(buf, n, &need), 0);
  assert_int_equal(need, 0);
  n = unhex("92 81 01 02 90", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_sized(buf, n, &need), 0);
  assert_int_equal(need,
                   2 * sizeof(msgpack_object) + sizeof(msgpack_object_kv));
  /* A set's members are decoded later, from its ext payload. */
  n = unhex("91 d5 53 91 01", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_sized(buf, n, &need), 0);
  assert_int_equal(need, sizeof(msgpack_object));
  /* The payload on its own decodes its array, not the sets nested in it. */
  n = unhex("92 01 d5 53 91 01", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_set(buf, n, &need), 0);
  assert_int_equal(need, 2 * sizeof(msgpack_object));
}

/* A value with every kind in it, for the truncation test. */
static const char complex_hex[] =
    "de 00 04"       /* map of 4 */
    "a4 73 70 61 6d" /* "spam" */
    "dc 00 05 c0 c3 cd 01 00 d3 80 00 00 00 00 00 00 00"
    " cb 3f f0 00 00 00 00 00 00"            /* [nil, true, 256, -2^63, 1.0] */
    "c4 03 01 02 03"                         /* bin */
    "df 00 00 00 01 d9 01 61 c7 02 05 01 02" /* {"a": ext 5} */
    "a3 73 65 74"                            /* "set" */
    "c7 0c 53 93 a1 78 d4 53 90 d6 53 91 92 01 02" /* {"x", set(), {[1,2]}} */
    "01 dd 00 00 00 02 ca 3f 80 00 00 90";         /* 1: [1.0f, []] */

static void test_every_prefix_truncated(void **state) {
  (void)state;
  uint8_t buf[256];
  size_t n = unhex(complex_hex, buf, sizeof(buf));
  assert_int_equal(mpconn__validate(buf, n), 0);
  assert_decodes(buf, n);
  for (size_t cut = 0; cut < n; cut++) {
    int rc = mpconn__validate(buf, cut);
    if (rc != MPCONN_EBADVALUE)
      fail_msg("prefix of %zu bytes: %s", cut, mpconn_err_name(rc));
  }
}

static void test_trailing_bytes(void **state) {
  (void)state;
  assert_int_equal(validate_hex("c0 c0"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("91 01 01"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("80 00"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("d4 53 90 00"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("a1 61 62"), MPCONN_EBADVALUE);
}

static void test_empty_frame(void **state) {
  (void)state;
  uint8_t b = 0;
  assert_int_equal(mpconn__validate(&b, 0), MPCONN_EBADVALUE);
  assert_int_equal(mpconn__validate(NULL, 0), MPCONN_EBADVALUE);
  assert_int_equal(mpconn__validate(NULL, 1), MPCONN_EINVAL);
}

static void test_huge_counts(void **state) {
  (void)state;
  assert_int_equal(validate_hex("dd ff 00 00 00"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("df ff 00 00 00"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("dc ff ff"), MPCONN_EBADVALUE);
  uint8_t buf[31 * 5];
  for (size_t i = 0; i < 31; i++)
    unhex("dd 0f ff ff ff", buf + 5 * i, 5);
  assert_int_equal(mpconn__validate(buf, sizeof(buf)), MPCONN_EBADVALUE);
}

/* Counts are checked against the bytes left, so one byte short fails. */
static void test_counts_need_bytes(void **state) {
  (void)state;
  assert_int_equal(validate_hex("93 01 02"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("dc 00 03 01 02"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("dd 00 00 00 03 01 02"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("82 01 02 03"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("de 00 02 01 02 03"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("df 00 00 00 02 01 02 03"), MPCONN_EBADVALUE);
  /* Enough bytes for the count, but the elements run out. */
  assert_int_equal(validate_hex("92 a1 61"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("81 01"), MPCONN_EBADVALUE);
  /*
   * The count is judged from the header alone, before any element: each
   * of these would otherwise fail later as too deep.  A map of 32 pairs
   * with 34 bytes after its header: key 1, then 32 nested arrays.
   */
  uint8_t buf[64];
  size_t n = unhex("df 00 00 00 20 01", buf, sizeof(buf));
  memset(buf + n, 0x91, 32);
  n += 32;
  buf[n++] = 0x01;
  assert_int_equal(mpconn__validate(buf, n), MPCONN_EBADVALUE);
  buf[4] = 0x11; /* 17 pairs: 34 bytes are enough to look at them */
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);
  /* An array of 40 with 33 bytes: 32 nested arrays and 1. */
  n = unhex("dd 00 00 00 28", buf, sizeof(buf));
  memset(buf + n, 0x91, 32);
  n += 32;
  buf[n++] = 0x01;
  assert_int_equal(mpconn__validate(buf, n), MPCONN_EBADVALUE);
  buf[4] = 0x21; /* 33 */
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);
}

static void test_oversize_lengths(void **state) {
  (void)state;
  static const char *const bad[] = {
      "a4 61 61 61", "d9 04 61 61 61", "da 00 04 61 61 61",
      "db 00 00 00 04 61 61 61", "db ff ff ff ff", "c4 03 00 00",
      "c5 00 03 00 00", "c6 00 00 00 03 00 00", "c6 ff ff ff ff 00",
      "c7 02 05 00", "c8 00 02 05 00", "c9 00 00 00 02 05 00",
      "c9 ff ff ff ff 05", "d4 05", "d5 05 00", "d6 05 00 00 00",
      "d7 05 00 00 00 00 00 00 00",
      "d8 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
      /* the type byte is not part of an ext's length */
      "92 c7 02 05 00", "92 d5 05 00",
      /* headers cut inside their length or value */
      "d9", "da 00", "db 00 00 00", "c7", "c7 01", "c8 00 01", "cc", "cd 00",
      "ce 00 00 00", "cf 00 00 00 00 00 00 00", "d0", "d3 00", "ca 00 00",
      "cb 00", "dc 00", "dd 00 00 00", "de 00", "df 00 00"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = validate_hex(bad[i]);
    if (rc != MPCONN_EBADVALUE)
      fail_msg("%s: %s", bad[i], mpconn_err_name(rc));
  }
}

static void test_never_used_byte(void **state) {
  (void)state;
  assert_int_equal(validate_hex("c1"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("92 01 c1"), MPCONN_EBADVALUE);
  assert_int_equal(validate_hex("81 c1 01"), MPCONN_EBADVALUE);
}

/* `levels` arrays (or maps) nested, innermost holding 1 or nothing. */
static size_t nested(uint8_t *buf, size_t levels, bool map, bool empty) {
  size_t n = 0;
  for (size_t i = 0; i < levels; i++) {
    if (i + 1 == levels && empty) {
      buf[n++] = map ? 0x80 : 0x90;
      return n;
    }
    buf[n++] = map ? 0x81 : 0x91;
    if (map)
      buf[n++] = 0x01;
  }
  buf[n++] = 0x02;
  return n;
}

static void test_depth_limit_arrays_maps(void **state) {
  (void)state;
  uint8_t buf[128];
  for (int map = 0; map <= 1; map++) {
    for (int empty = 0; empty <= 1; empty++) {
      size_t n = nested(buf, MPCONN_MAX_DEPTH, map, empty);
      assert_int_equal(mpconn__validate(buf, n), 0);
      assert_decodes(buf, n);
      assert_decodes_bounded(buf, n);

      n = nested(buf, MPCONN_MAX_DEPTH + 1, map, empty);
      assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);
      /* The limit is msgpack-c's own: one level more and it gives up. */
      msgpack_unpacked u;
      msgpack_unpacked_init(&u);
      size_t off = 0;
      assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, n, &off),
                       MSGPACK_UNPACK_NOMEM_ERROR);
      msgpack_unpacked_destroy(&u);
    }
  }
  /* Arrays and maps count alike. */
  size_t n = 0;
  for (int i = 0; i < MPCONN_MAX_DEPTH; i++) {
    if (i % 2) {
      buf[n++] = 0x91;
    } else {
      buf[n++] = 0x81;
      buf[n++] = 0xc0;
    }
  }
  buf[n++] = 0x90;
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);
  assert_int_equal(mpconn__validate(buf, n - 1), MPCONN_EBADVALUE);
}

/* `levels` sets nested: set(x) = ext 83 holding [x]; innermost is [1]. */
static size_t nested_sets(uint8_t *buf, size_t levels) {
  /* Built from the inside out at the end of a scratch buffer. */
  uint8_t tmp[512];
  size_t start = sizeof(tmp);
  tmp[--start] = 0x01;
  for (size_t i = 0; i < levels; i++) {
    size_t body = sizeof(tmp) - start + 1; /* the 0x91 header too */
    tmp[--start] = 0x91;
    tmp[--start] = 0x53;
    tmp[--start] = (uint8_t)body;
    tmp[--start] = 0xc7;
    assert_true(body <= 0xff);
  }
  memcpy(buf, tmp + start, sizeof(tmp) - start);
  return sizeof(tmp) - start;
}

static void test_depth_limit_sets(void **state) {
  (void)state;
  uint8_t buf[512];
  size_t n = nested_sets(buf, MPCONN_MAX_DEPTH);
  assert_int_equal(mpconn__validate(buf, n), 0);
  assert_decodes(buf, n);
  n = nested_sets(buf, MPCONN_MAX_DEPTH + 1);
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);

  /* A set is one level: 31 arrays around a set of [1] is 32. */
  memset(buf, 0x91, 31);
  n = 31 + unhex("d5 53 91 01", buf + 31, 4);
  assert_int_equal(mpconn__validate(buf, n), 0);
  memset(buf, 0x91, 32);
  n = 32 + unhex("d5 53 91 01", buf + 32, 4);
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);

  /*
   * Too deep inside a set is still too deep, not a bad set.  The set's own
   * array is its level.
   */
  buf[0] = 0xc7;
  buf[1] = (uint8_t)(nested(buf + 3, MPCONN_MAX_DEPTH + 1, false, false));
  buf[2] = 0x53;
  n = 3 + buf[1];
  assert_int_equal(mpconn__validate(buf, n), MPCONN_ETOODEEP);
  buf[1] = (uint8_t)(nested(buf + 3, MPCONN_MAX_DEPTH, false, false));
  n = 3 + buf[1];
  assert_int_equal(mpconn__validate(buf, n), 0);
}

static void test_bad_sets(void **state) {
  (void)state;
  static const char *const bad[] = {
      "d5 53 81 01",             /* payload a map */
      "d6 53 81 01 02 c0",       /* payload a map, with room for it */
      "d4 53 01",                /* payload a scalar */
      "d4 53 c0",                /* payload nil */
      "c7 02 53 a1 61",          /* payload a str */
      "d5 53 90 01",             /* array with trailing bytes */
      "d6 53 91 01 c0 c0",       /* array with trailing bytes */
      "c7 00 53",                /* empty payload */
      "d5 53 91 c1",             /* malformed inside */
      "d4 53 91",                /* array count beyond the payload */
      "d5 53 92 01",             /* the same */
      "d5 53 dc 00",             /* array header cut by the payload */
      "d6 53 91 a5 61 61",       /* str beyond the payload */
      "c7 04 53 91 d5 53 80",    /* a bad set inside a good one */
      "c7 05 53 91 d5 53 90 01", /* an inner set with trailing bytes */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = validate_hex(bad[i]);
    if (rc != MPCONN_EBADSET)
      fail_msg("%s: %s", bad[i], mpconn_err_name(rc));
  }
  /* A bad set anywhere in a frame makes the frame fail the same way. */
  assert_int_equal(validate_hex("92 01 d4 53 01"), MPCONN_EBADSET);
  /* The ext header itself beyond the frame is the frame's fault. */
  assert_int_equal(validate_hex("c7 05 53 90"), MPCONN_EBADVALUE);
}

static void test_set_payload(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t need;
  size_t n = unhex("94 a2 61 61 a2 6d 6d a2 70 70 a2 73 73", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_set(buf, n, &need), 0);
  assert_int_equal(need, 4 * sizeof(msgpack_object));
  assert_int_equal(mpconn__validate_set(buf, n - 1, NULL), MPCONN_EBADSET);
  assert_int_equal(mpconn__validate_set(buf, 0, NULL), MPCONN_EBADSET);
  n = unhex("90 00", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_set(buf, n, NULL), MPCONN_EBADSET);
  n = unhex("c0", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_set(buf, n, NULL), MPCONN_EBADSET);
  n = unhex("81 01 02", buf, sizeof(buf));
  assert_int_equal(mpconn__validate_set(buf, n, NULL), MPCONN_EBADSET);
  n = nested(buf, MPCONN_MAX_DEPTH + 1, false, false);
  assert_int_equal(mpconn__validate_set(buf, n, NULL), MPCONN_ETOODEEP);
}

/* ---- Decoding in the same pass (mpconn__decode) ------------------------ */

/* Decode @hex into a zone of exactly the size validation counts. */
struct decoded {
  uint8_t buf[256];
  size_t n;
  msgpack_zone zone;
  msgpack_object obj;
};

static void decode_hex(struct decoded *d, const char *hex) {
  d->n = unhex(hex, d->buf, sizeof(d->buf));
  size_t need;
  assert_int_equal(mpconn__validate_sized(d->buf, d->n, &need), 0);
  assert_true(msgpack_zone_init(&d->zone, need));
  char *start = d->zone.chunk_list.ptr;
  assert_int_equal(mpconn__decode(d->buf, d->n, &d->zone, &d->obj), 0);
  /* Exactly the counted bytes, in the one chunk. */
  assert_ptr_equal(d->zone.chunk_list.ptr, start + need);
}

static void test_decode_scalars(void **state) {
  (void)state;
  struct decoded d;
  decode_hex(&d, "9f c0 c2 c3 7f e0 cc ff cf ff ff ff ff ff ff ff ff"
                 " d0 7f d0 80 d3 80 00 00 00 00 00 00 00"
                 " ca 3f c0 00 00 cb 40 09 21 fb 54 44 2d 18 d1 00 01"
                 " d2 ff ff ff fe cd 01 00");
  const msgpack_object *a = d.obj.via.array.ptr;
  assert_int_equal(d.obj.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(d.obj.via.array.size, 15);
  assert_int_equal(a[0].type, MSGPACK_OBJECT_NIL);
  assert_int_equal(a[1].type, MSGPACK_OBJECT_BOOLEAN);
  assert_false(a[1].via.boolean);
  assert_true(a[2].via.boolean);
  assert_int_equal(a[3].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(a[3].via.u64, 127);
  assert_int_equal(a[4].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_int_equal(a[4].via.i64, -32);
  assert_int_equal(a[5].via.u64, 255);
  assert_int_equal(a[6].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(a[6].via.u64, UINT64_MAX);
  /* A signed encoding of a value >= 0 is a positive integer, as msgpack-c
   * has it. */
  assert_int_equal(a[7].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(a[7].via.u64, 127);
  assert_int_equal(a[8].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_int_equal(a[8].via.i64, -128);
  assert_int_equal(a[9].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_true(a[9].via.i64 == INT64_MIN);
  assert_int_equal(a[10].type, MSGPACK_OBJECT_FLOAT32);
  assert_true(a[10].via.f64 == 1.5);
  assert_int_equal(a[11].type, MSGPACK_OBJECT_FLOAT64);
  assert_true(a[11].via.f64 == 3.141592653589793);
  assert_int_equal(a[12].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(a[12].via.u64, 1);
  assert_int_equal(a[13].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_int_equal(a[13].via.i64, -2);
  assert_int_equal(a[14].via.u64, 256);
  msgpack_zone_destroy(&d.zone);
}

static void test_decode_bodies_in_place(void **state) {
  (void)state;
  struct decoded d;
  decode_hex(&d, "96 a0 a3 61 62 63 d9 01 7a c4 00 c4 02 00 ff"
                 " d6 05 01 02 03 04");
  const msgpack_object *a = d.obj.via.array.ptr;
  const char *base = (const char *)d.buf;
  /* An empty str points at the end of its header, never NULL. */
  assert_int_equal(a[0].type, MSGPACK_OBJECT_STR);
  assert_int_equal(a[0].via.str.size, 0);
  assert_ptr_equal(a[0].via.str.ptr, base + 2);
  assert_int_equal(a[1].via.str.size, 3);
  assert_ptr_equal(a[1].via.str.ptr, base + 3);
  assert_ptr_equal(a[2].via.str.ptr, base + 8);
  assert_int_equal(a[3].type, MSGPACK_OBJECT_BIN);
  assert_int_equal(a[3].via.bin.size, 0);
  assert_ptr_equal(a[3].via.bin.ptr, base + 11);
  assert_int_equal(a[4].via.bin.size, 2);
  assert_ptr_equal(a[4].via.bin.ptr, base + 13);
  assert_int_equal(a[5].type, MSGPACK_OBJECT_EXT);
  assert_int_equal(a[5].via.ext.type, 5);
  assert_int_equal(a[5].via.ext.size, 4);
  assert_ptr_equal(a[5].via.ext.ptr, base + 17);
  msgpack_zone_destroy(&d.zone);
}

static void test_decode_containers(void **state) {
  (void)state;
  struct decoded d;
  /* {"a": [1, {}], 2: []} and a set {1, 2} after it, in an array. */
  decode_hex(&d, "92 82 a1 61 92 01 80 02 90 c7 03 53 92 01 02");
  const msgpack_object *top = d.obj.via.array.ptr;
  const msgpack_object_map *m = &top[0].via.map;
  assert_int_equal(top[0].type, MSGPACK_OBJECT_MAP);
  assert_int_equal(m->size, 2);
  assert_int_equal(m->ptr[0].key.type, MSGPACK_OBJECT_STR);
  assert_memory_equal(m->ptr[0].key.via.str.ptr, "a", 1);
  assert_int_equal(m->ptr[0].val.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(m->ptr[0].val.via.array.size, 2);
  assert_int_equal(m->ptr[0].val.via.array.ptr[0].via.u64, 1);
  assert_int_equal(m->ptr[0].val.via.array.ptr[1].type, MSGPACK_OBJECT_MAP);
  assert_int_equal(m->ptr[0].val.via.array.ptr[1].via.map.size, 0);
  assert_int_equal(m->ptr[1].key.via.u64, 2);
  assert_int_equal(m->ptr[1].val.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(m->ptr[1].val.via.array.size, 0);
  /* A set stays an ext whose payload is its array, as msgpack-c leaves
   * it: its members are decoded on demand. */
  assert_int_equal(top[1].type, MSGPACK_OBJECT_EXT);
  assert_int_equal(top[1].via.ext.type, MPCONN_EXT_SET);
  assert_int_equal(top[1].via.ext.size, 3);
  assert_ptr_equal(top[1].via.ext.ptr, (const char *)d.buf + 12);
  msgpack_zone_destroy(&d.zone);
}

/* Decoding refuses exactly what validation refuses, with the same code. */
static void test_decode_refuses_as_validation(void **state) {
  (void)state;
  static const char *const bad[] = {
      "c1",       "92 01",       "91 c0 c0",       "dd ff ff ff ff", "a5 61",
      "d4 53 01", "c7 05 53 90", "92 01 d4 53 01", "ca 00 00 00",    "cf 00",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint8_t buf[64];
    size_t n = unhex(bad[i], buf, sizeof(buf));
    msgpack_zone z;
    assert_true(msgpack_zone_init(&z, 64));
    msgpack_object o;
    int want = mpconn__validate(buf, n);
    assert_true(want < 0);
    int rc = mpconn__decode(buf, n, &z, &o);
    if (rc != want)
      fail_msg("%s: %s, not %s", bad[i], mpconn_err_name(rc),
               mpconn_err_name(want));
    msgpack_zone_destroy(&z);
  }
  uint8_t buf[2 * MPCONN_MAX_DEPTH + 2];
  size_t n = nested(buf, MPCONN_MAX_DEPTH + 1, false, false);
  msgpack_zone z;
  msgpack_object o;
  assert_true(msgpack_zone_init(&z, 64));
  assert_int_equal(mpconn__decode(buf, n, &z, &o), MPCONN_ETOODEEP);
  assert_int_equal(mpconn__decode(buf, 0, &z, &o), MPCONN_EBADVALUE);
  assert_int_equal(mpconn__decode(NULL, 1, &z, &o), MPCONN_EINVAL);
  assert_int_equal(mpconn__decode(buf, n, NULL, &o), MPCONN_EINVAL);
  msgpack_zone_destroy(&z);
}

/* xorshift64*: the same inputs on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dU;
}
static uint32_t rng_below(uint32_t n) { return (uint32_t)(rng() % n); }

static void gen_value(msgpack_packer *pk, int depth, int target);

/* Set members; the first carries the nesting on towards `target`. */
static void gen_set(msgpack_packer *pk, int depth, int target) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer inner;
  msgpack_packer_init(&inner, &sb, msgpack_sbuffer_write);
  uint32_t n = rng_below(3) + (depth < target);
  msgpack_pack_array(&inner, n);
  for (uint32_t i = 0; i < n; i++)
    gen_value(&inner, depth + 1, i == 0 ? target : 0);
  msgpack_pack_ext(pk, sb.size, MPCONN_EXT_SET);
  msgpack_pack_ext_body(pk, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
}

/*
 * A random well-formed value.  Containers nest to `target` levels through
 * their first item (so some values are too deep); elsewhere they stop at
 * depth 6, which keeps values small.
 */
static void gen_value(msgpack_packer *pk, int depth, int target) {
  static const char bytes[300] = {0};
  bool deeper = depth < target;
  uint32_t kind = deeper ? 9 + rng_below(4) : rng_below(depth > 6 ? 9 : 13);
  switch (kind) {
  case 0:
    msgpack_pack_nil(pk);
    break;
  case 1:
    (rng() & 1) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    break;
  case 2:
    msgpack_pack_int64(pk, (int64_t)(rng() >> rng_below(64)));
    break;
  case 3:
    msgpack_pack_uint64(pk, rng() >> rng_below(64));
    break;
  case 4:
    (rng() & 1) ? msgpack_pack_float(pk, 1.5f) : msgpack_pack_double(pk, 2.5);
    break;
  case 5: {
    size_t len = rng_below(8) ? rng_below(40) : rng_below(300);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, bytes, len);
    break;
  }
  case 6: {
    size_t len = rng_below(40);
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, bytes, len);
    break;
  }
  case 7: {
    size_t len = rng_below(20);
    msgpack_pack_ext(pk, len, (int8_t)rng_below(80));
    msgpack_pack_ext_body(pk, bytes, len);
    break;
  }
  case 8:
    msgpack_pack_int(pk, (int)rng_below(200) - 100);
    break;
  case 9:
  case 10: {
    uint32_t n = rng_below(depth > 6 ? 2 : 6) + deeper;
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
      gen_value(pk, depth + 1, i == 0 ? target : 0);
    break;
  }
  case 11: {
    uint32_t n = rng_below(depth > 6 ? 2 : 4) + deeper;
    msgpack_pack_map(pk, n);
    for (uint32_t i = 0; i < 2 * n; i++)
      gen_value(pk, depth + 1, i == 1 ? target : 0);
    break;
  }
  default:
    gen_set(pk, depth, target);
    break;
  }
}

static void mutate(uint8_t *p, size_t *n, size_t cap) {
  static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xc1, 0xd4,
                                        0xdc, 0xdd, 0xde, 0xdf, 0xff, 0x53};
  uint32_t rounds = 1 + rng_below(3);
  for (uint32_t r = 0; r<rounds && * n> 0; r++) {
    size_t at = rng_below((uint32_t)*n);
    switch (rng_below(6)) {
    case 0:
      p[at] ^= (uint8_t)(1u << rng_below(8));
      break;
    case 1:
      p[at] = interesting[rng_below(sizeof(interesting))];
      break;
    case 2:
      *n = at;
      break;
    case 3:
      if (*n < cap) {
        memmove(p + at + 1, p + at, *n - at);
        p[at] = (uint8_t)rng();
        (*n)++;
      }
      break;
    case 4:
      memmove(p + at, p + at + 1, *n - at - 1);
      (*n)--;
      break;
    default:
      p[at] = (uint8_t)rng();
      break;
    }
  }
}

/*
 * Random and mutated inputs: whatever the validator accepts, msgpack-c
 * decodes completely, within the memory bound.
 */
static void test_property(void **state) {
  (void)state;
  enum { CAP = 64 * 1024, ROUNDS = 200000 };
  uint8_t *buf = malloc(CAP);
  assert_non_null(buf);
  size_t accepted = 0, counts[4] = {0};
  for (int round = 0; round < ROUNDS; round++) {
    size_t n;
    if (round % 4 == 0) {
      n = rng_below(48);
      for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)rng();
    } else {
      msgpack_sbuffer sb;
      msgpack_sbuffer_init(&sb);
      msgpack_packer pk;
      msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
      gen_value(&pk, 0, rng_below(8) ? 0 : 26 + (int)rng_below(12));
      n = sb.size < CAP ? sb.size : CAP;
      memcpy(buf, sb.data, n);
      msgpack_sbuffer_destroy(&sb);
      if (round % 4 != 1)
        mutate(buf, &n, CAP);
    }
    uint8_t *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, buf, n);
    int rc = mpconn__validate(exact, n);
    free(exact);
    switch (rc) {
    case 0:
      accepted++;
      assert_decodes(buf, n);
      assert_decodes_bounded(buf, n);
      break;
    case MPCONN_EBADVALUE:
      counts[1]++;
      break;
    case MPCONN_ETOODEEP:
      counts[2]++;
      break;
    case MPCONN_EBADSET:
      counts[3]++;
      break;
    default:
      fail_msg("round %d: unexpected %s", round, mpconn_err_name(rc));
    }
  }
  free(buf);
  /* Every outcome really happened, so the inputs explored all paths. */
  assert_true(accepted > ROUNDS / 4);
  assert_true(counts[1] > 1000);
  assert_true(counts[2] > 100);
  assert_true(counts[3] > 100);
}

/* One MiB of one-byte elements: the worst ratio of decoded to raw size. */
static void test_large_array_memory(void **state) {
  (void)state;
  const size_t n = 1024 * 1024;
  const size_t count = n - 5;
  uint8_t *p = malloc(n);
  assert_non_null(p);
  p[0] = 0xdd;
  p[1] = (uint8_t)(count >> 24);
  p[2] = (uint8_t)(count >> 16);
  p[3] = (uint8_t)(count >> 8);
  p[4] = (uint8_t)count;
  memset(p + 5, 0x01, count);
  size_t need;
  assert_int_equal(mpconn__validate_sized(p, n, &need), 0);
  assert_int_equal(need, count * sizeof(msgpack_object));
  assert_decodes_bounded(p, n);
  assert_decodes(p, n);
  assert_int_equal(mpconn__validate(p, n - 1), MPCONN_EBADVALUE);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts_scalars),
      cmocka_unit_test(test_accepts_containers),
      cmocka_unit_test(test_other_ext_opaque),
      cmocka_unit_test(test_accepts_long_bodies),
      cmocka_unit_test(test_zone_bytes),
      cmocka_unit_test(test_every_prefix_truncated),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_empty_frame),
      cmocka_unit_test(test_huge_counts),
      cmocka_unit_test(test_counts_need_bytes),
      cmocka_unit_test(test_oversize_lengths),
      cmocka_unit_test(test_never_used_byte),
      cmocka_unit_test(test_depth_limit_arrays_maps),
      cmocka_unit_test(test_depth_limit_sets),
      cmocka_unit_test(test_bad_sets),
      cmocka_unit_test(test_set_payload),
      cmocka_unit_test(test_decode_scalars),
      cmocka_unit_test(test_decode_bodies_in_place),
      cmocka_unit_test(test_decode_containers),
      cmocka_unit_test(test_decode_refuses_as_validation),
      cmocka_unit_test(test_property),
      cmocka_unit_test(test_large_array_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
