/* SPDX-License-Identifier: MIT */
/* Sets (lib/set.c): ext MPCONN_EXT_SET holding one array of the members. */
#include "test-util.h"

#include "mpconn-private.h"

static void assert_packed(struct pack_fixture *f, const char *hex) {
  uint8_t want[256];
  size_t n = unhex(hex, want, sizeof(want));
  assert_int_equal(f->sb.size, n);
  assert_memory_equal(f->sb.data, want, n);
}

static msgpack_object str(const char *s) {
  msgpack_object o = {.type = MSGPACK_OBJECT_STR};
  o.via.str.ptr = s;
  o.via.str.size = (uint32_t)strlen(s);
  return o;
}

static msgpack_object pos_int(uint64_t v) {
  msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
  o.via.u64 = v;
  return o;
}

static msgpack_object neg_int(int64_t v) {
  msgpack_object o = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER};
  o.via.i64 = v;
  return o;
}

/* An ext object whose payload is parsed into store[32]. */
static msgpack_object ext(int8_t type, const char *hex, uint8_t *store) {
  msgpack_object o = {.type = MSGPACK_OBJECT_EXT};
  o.via.ext.type = type;
  o.via.ext.ptr = (const char *)store;
  o.via.ext.size = (uint32_t)unhex(hex, store, 32);
  return o;
}

static void test_pack_strings(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object m[] = {str("aa"), str("mm"), str("pp"), str("ss")};
  assert_int_equal(mpconn_pack_set(&f->pk, m, 4), 0);
  /* ext 8 of 13 bytes, type 0x53, then [ "aa", "mm", "pp", "ss" ] */
  assert_packed(f, "c7 0d 53 94 a2 61 61 a2 6d 6d a2 70 70 a2 73 73");
}

static void test_pack_ints(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object m[] = {pos_int(1), pos_int(200), neg_int(-1),
                              pos_int(70000)};
  assert_int_equal(mpconn_pack_set(&f->pk, m, 4), 0);
  assert_packed(f, "c7 0a 53 94 01 cc c8 ff ce 00 01 11 70");
}

/* Payloads of 1, 2, 4, 8 and 16 bytes take the fixext forms. */
static void test_pack_fixext(void **state) {
  struct pack_fixture *f = *state;
  assert_int_equal(mpconn_pack_set(&f->pk, NULL, 0), 0);
  const msgpack_object one[] = {pos_int(1)};
  assert_int_equal(mpconn_pack_set(&f->pk, one, 1), 0);
  const msgpack_object three[] = {pos_int(1), pos_int(2), pos_int(3)};
  assert_int_equal(mpconn_pack_set(&f->pk, three, 3), 0);
  assert_packed(f, "d4 53 90 d5 53 91 01 d6 53 93 01 02 03");
}

static void test_pack_nested(void **state) {
  struct pack_fixture *f = *state;
  uint8_t store[32];
  const msgpack_object m[] = {ext(MPCONN_EXT_SET, "90", store), pos_int(1)};
  assert_int_equal(mpconn_pack_set(&f->pk, m, 2), 0);
  assert_packed(f, "c7 05 53 92 d4 53 90 01");
}

/* Past 65535 bytes of members the header is ext 32. */
static void test_pack_large(void **state) {
  struct pack_fixture *f = *state;
  enum { N = 70000 };
  msgpack_object *m = calloc(N, sizeof(*m));
  assert_non_null(m);
  for (size_t i = 0; i < N; i++)
    m[i] = pos_int(0);
  assert_int_equal(mpconn_pack_set(&f->pk, m, N), 0);
  free(m);
  /* payload: dd 00 01 11 70 and 70000 zero bytes = 70005 = 0x11175 */
  const uint8_t head[] = {0xc9, 0x00, 0x01, 0x11, 0x75, 0x53,
                          0xdd, 0x00, 0x01, 0x11, 0x70};
  assert_int_equal(f->sb.size, sizeof(head) + N);
  assert_memory_equal(f->sb.data, head, sizeof(head));
  assert_int_equal(mpconn__validate((const uint8_t *)f->sb.data, f->sb.size),
                   0);
}

static void assert_same_members(const msgpack_object_array *got,
                                const msgpack_object *want, size_t n) {
  assert_int_equal(got->size, n);
  for (size_t i = 0; i < n; i++)
    assert_true(msgpack_object_equal(got->ptr[i], want[i]));
}

/* pack -> validate -> decode the frame -> decode the members. */
static void test_round_trip(void **state) {
  struct pack_fixture *f = *state;
  uint8_t store[2][32];
  const msgpack_object m[] = {
      str("aa"), pos_int(UINT64_MAX), neg_int(INT64_MIN),
      ext(MPCONN_EXT_SET, "92 a1 78 c3", store[0]), ext(7, "01 02", store[1])};
  msgpack_pack_array(&f->pk, 2);
  assert_int_equal(mpconn_pack_set(&f->pk, m, 5), 0);
  assert_int_equal(mpconn_pack_set(&f->pk, NULL, 0), 0);
  assert_int_equal(mpconn__validate((const uint8_t *)f->sb.data, f->sb.size),
                   0);

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&u, f->sb.data, f->sb.size, &off),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(off, f->sb.size);
  assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
  const msgpack_object *set = &u.data.via.array.ptr[0];

  msgpack_object_array got;
  assert_int_equal(mpconn_set_unpack(set, &f->zone, &got), 0);
  assert_same_members(&got, m, 5);
  /* Bodies point into the payload rather than being copied. */
  assert_ptr_equal(got.ptr[0].via.str.ptr, set->via.ext.ptr + 2);

  /* The nested set's members come out the same way. */
  msgpack_object_array inner;
  assert_int_equal(mpconn_set_unpack(&got.ptr[3], &f->zone, &inner), 0);
  const msgpack_object want_inner[] = {
      str("x"), {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true}};
  assert_same_members(&inner, want_inner, 2);

  assert_int_equal(mpconn_set_unpack(&u.data.via.array.ptr[1], &f->zone, &got),
                   0);
  assert_int_equal(got.size, 0);
  msgpack_unpacked_destroy(&u);
}

static void test_unpack_not_a_set(void **state) {
  struct pack_fixture *f = *state;
  uint8_t store[32];
  msgpack_object_array got = {.size = 99};
  msgpack_object o = pos_int(1);
  assert_int_equal(mpconn_set_unpack(&o, &f->zone, &got), MPCONN_EINVAL);
  o = ext(MPCONN_EXT_SET + 1, "90", store);
  assert_int_equal(mpconn_set_unpack(&o, &f->zone, &got), MPCONN_EINVAL);
  o = ext(MPCONN_EXT_SET, "90", store);
  assert_int_equal(mpconn_set_unpack(NULL, &f->zone, &got), MPCONN_EINVAL);
  assert_int_equal(mpconn_set_unpack(&o, NULL, &got), MPCONN_EINVAL);
  assert_int_equal(mpconn_set_unpack(&o, &f->zone, NULL), MPCONN_EINVAL);
  assert_int_equal(got.size, 99);
}

static void test_unpack_bad_payload(void **state) {
  struct pack_fixture *f = *state;
  static const char *const bad[] = {
      "",            /* empty */
      "c0",          /* not an array */
      "81 01 02",    /* a map */
      "90 00",       /* trailing bytes */
      "92 01",       /* count beyond the payload */
      "91 c1",       /* malformed member */
      "91 d4 53 01", /* a member that is a bad set */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint8_t store[32];
    msgpack_object o = ext(MPCONN_EXT_SET, bad[i], store);
    msgpack_object_array got = {.size = 99};
    int rc = mpconn_set_unpack(&o, &f->zone, &got);
    if (rc != MPCONN_EBADSET)
      fail_msg("payload %s: %s", bad[i], mpconn_err_name(rc));
    assert_int_equal(got.size, 99);
  }
}

static void test_unpack_too_deep(void **state) {
  struct pack_fixture *f = *state;
  uint8_t payload[MPCONN_MAX_DEPTH + 2];
  memset(payload, 0x91, sizeof(payload));
  payload[sizeof(payload) - 1] = 0x01;
  msgpack_object o = {.type = MSGPACK_OBJECT_EXT};
  o.via.ext.type = MPCONN_EXT_SET;
  o.via.ext.ptr = (const char *)payload;
  o.via.ext.size = sizeof(payload); /* 33 levels */
  msgpack_object_array got;
  assert_int_equal(mpconn_set_unpack(&o, &f->zone, &got), MPCONN_ETOODEEP);
  o.via.ext.ptr++;
  o.via.ext.size--; /* 32 */
  assert_int_equal(mpconn_set_unpack(&o, &f->zone, &got), 0);
  assert_int_equal(got.size, 1);
}

static int failing_write(void *data, const char *buf, size_t len) {
  (void)data;
  (void)buf;
  (void)len;
  return -1;
}

static void test_pack_errors(void **state) {
  struct pack_fixture *f = *state;
  const msgpack_object one[] = {pos_int(1)};
  assert_int_equal(mpconn_pack_set(NULL, one, 1), MPCONN_EINVAL);
  assert_int_equal(mpconn_pack_set(&f->pk, NULL, 1), MPCONN_EINVAL);
  assert_int_equal(f->sb.size, 0);
  msgpack_packer broken;
  msgpack_packer_init(&broken, NULL, failing_write);
  assert_int_equal(mpconn_pack_set(&broken, one, 1), MPCONN_EINVAL);
}

/* Members from a callback: the same bytes as from objects. */
static int pack_three(msgpack_packer *pk, void *arg) {
  int *calls = arg;
  (*calls)++;
  msgpack_pack_int(pk, 1);
  msgpack_pack_str(pk, 2);
  msgpack_pack_str_body(pk, "aa", 2);
  msgpack_pack_nil(pk);
  return 0;
}

static int pack_fails(msgpack_packer *pk, void *arg) {
  (void)pk;
  (void)arg;
  return MPCONN_EUNPACK;
}

/* Members larger than the buffer on the stack: moved to the heap whole. */
static int pack_long(msgpack_packer *pk, void *arg) {
  (void)arg;
  for (int i = 0; i < 300; i++)
    msgpack_pack_uint16(pk, (uint16_t)(1000 + i));
  return 0;
}

static void test_pack_with(void **state) {
  struct pack_fixture *f = *state;
  int calls = 0;
  assert_int_equal(mpconn_pack_set_with(&f->pk, 3, pack_three, &calls), 0);
  assert_int_equal(calls, 1);
  assert_packed(f, "c7 06 53 93 01 a2 61 61 c0");

  assert_int_equal(mpconn_pack_set_with(&f->pk, 1, pack_fails, NULL),
                   MPCONN_EUNPACK);
  assert_int_equal(mpconn_pack_set_with(NULL, 1, pack_three, &calls),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_pack_set_with(&f->pk, 1, NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(
      mpconn_pack_set_with(&f->pk, (size_t)UINT32_MAX + 1, pack_three, &calls),
      MPCONN_EINVAL);
  assert_int_equal(calls, 1);
  assert_int_equal(f->sb.size, 9); /* nothing more was packed */
  msgpack_packer broken;
  msgpack_packer_init(&broken, NULL, failing_write);
  assert_int_equal(mpconn_pack_set_with(&broken, 3, pack_three, &calls),
                   MPCONN_EINVAL);

  f->sb.size = 0;
  assert_int_equal(mpconn_pack_set_with(&f->pk, 300, pack_long, NULL), 0);
  /* ext 16 of 3 + 300 * 3 bytes, type 0x53, array 16 of 300 */
  assert_int_equal(f->sb.size, 4 + 3 + 900);
  const uint8_t *b = (const uint8_t *)f->sb.data;
  assert_memory_equal(b, "\xc8\x03\x87\x53\xdc\x01\x2c", 7);
  for (int i = 0; i < 300; i++) {
    assert_int_equal(b[7 + 3 * i], 0xcd);
    assert_int_equal(b[8 + 3 * i] << 8 | b[9 + 3 * i], 1000 + i);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pack_strings, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_ints, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_fixext, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_nested, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_large, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_round_trip, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_unpack_not_a_set, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_unpack_bad_payload, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_unpack_too_deep, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_errors, pack_setup,
                                      pack_teardown),
      cmocka_unit_test_setup_teardown(test_pack_with, pack_setup,
                                      pack_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
