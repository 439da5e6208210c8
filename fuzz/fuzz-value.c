/* SPDX-License-Identifier: MIT */
/*
 * The one-pass validator and decoder (lib/validate.c) against msgpack-c's
 * decoder, and sets (lib/set.c).  The input is one frame's payload.
 *
 * Whenever the validator accepts:
 * - mpconn__decode() builds the very tree msgpack_unpack() builds: same
 *   types, values, sizes, and str/bin/ext bodies at the same offsets
 *   (empty str and bin bodies aside: msgpack-c gives an empty str NULL
 *   and an empty bin its length byte, we the end of its header), into a zone of
 * exactly the counted bytes;
 * - msgpack_unpack() decodes the whole input (offset == size) into a zone
 *   of exactly the bytes the validator counted, using all of them, without
 *   the zone growing; msgpack_unpack_next() decodes the same value;
 * - the count is within the documented bound, 24 * (size - 1);
 * - mpconn__msg_build(), which mpconn_recv() and mpconn_queue_get() use,
 *   succeeds, on a copied payload and on a lent one;
 * - every set, at any depth, decodes with mpconn_msg_set_members(), and
 *   with msgpack_unpack() into an exactly sized zone as above;
 * - nesting, counting each set's array, is at most MPCONN_MAX_DEPTH;
 * - the value packs (msgpack_pack_object()) to bytes the validator accepts
 *   and that pack to the same bytes again.
 * Whenever it refuses, it says MPCONN_EBADVALUE, MPCONN_ETOODEEP or
 * MPCONN_EBADSET, and mpconn__decode() and mpconn__msg_build() (both
 * ways) refuse with the same code.
 * msgpack-c never sees refused input: keeping it away is the validator's
 * job (a five-byte frame can make it allocate gigabytes).
 */
#include "fuzz.h"

#include "mpconn-private.h"

#include <string.h>

/*
 * Decode @n bytes that validated with a count of @need into a zone of
 * exactly @need bytes: the whole input is one value, the zone never grows
 * (its first chunk stays its only one) and ends up full.
 */
static void decode_exact(const uint8_t *p, size_t n, size_t need,
                         msgpack_zone *z, msgpack_object *out) {
  FUZZ_CHECK(msgpack_zone_init(z, need));
  const void *head = z->chunk_list.head;
  const char *start = z->chunk_list.ptr;
  size_t off = 0;
  FUZZ_CHECK(msgpack_unpack((const char *)p, n, &off, z, out) ==
             MSGPACK_UNPACK_SUCCESS);
  FUZZ_CHECK(off == n);
  FUZZ_CHECK(z->chunk_list.head == head);
  FUZZ_CHECK(z->chunk_list.ptr == start + need);
}

/*
 * @a, decoded by mpconn from a frame at @abase, is @b, decoded by
 * msgpack-c from the same bytes at @bbase: exactly, bodies at the same
 * offsets.
 */
static void same_tree(const msgpack_object *a, const char *abase,
                      const msgpack_object *b, const char *bbase) {
  FUZZ_CHECK(a->type == b->type);
  switch (a->type) {
  case MSGPACK_OBJECT_NIL:
    break;
  case MSGPACK_OBJECT_BOOLEAN:
    FUZZ_CHECK(a->via.boolean == b->via.boolean);
    break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    FUZZ_CHECK(a->via.u64 == b->via.u64);
    break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    FUZZ_CHECK(memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0);
    break;
  case MSGPACK_OBJECT_STR:
  case MSGPACK_OBJECT_BIN:
    FUZZ_CHECK(a->via.str.size == b->via.str.size);
    FUZZ_CHECK(a->via.str.ptr != NULL);
    if (a->via.str.size > 0)
      FUZZ_CHECK(a->via.str.ptr - abase == b->via.str.ptr - bbase);
    break;
  case MSGPACK_OBJECT_EXT:
    FUZZ_CHECK(a->via.ext.type == b->via.ext.type);
    FUZZ_CHECK(a->via.ext.size == b->via.ext.size);
    FUZZ_CHECK(a->via.ext.ptr - abase == b->via.ext.ptr - bbase);
    break;
  case MSGPACK_OBJECT_ARRAY:
    FUZZ_CHECK(a->via.array.size == b->via.array.size);
    for (uint32_t i = 0; i < a->via.array.size; i++)
      same_tree(&a->via.array.ptr[i], abase, &b->via.array.ptr[i], bbase);
    break;
  case MSGPACK_OBJECT_MAP:
    FUZZ_CHECK(a->via.map.size == b->via.map.size);
    for (uint32_t i = 0; i < a->via.map.size; i++) {
      same_tree(&a->via.map.ptr[i].key, abase, &b->via.map.ptr[i].key, bbase);
      same_tree(&a->via.map.ptr[i].val, abase, &b->via.map.ptr[i].val, bbase);
    }
    break;
  default:
    FUZZ_CHECK(!"a type msgpack-c does not decode");
  }
}

static msgpack_sbuffer pack(const msgpack_object *o) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  FUZZ_CHECK(msgpack_pack_object(&pk, *o) == 0);
  return sb;
}

static bool same_bytes(const msgpack_sbuffer *a, const msgpack_sbuffer *b) {
  return a->size == b->size &&
         (a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

/* Walk @o at nesting @depth (containers around it), decoding every set;
 * the deepest nesting met. */
static unsigned walk(mpconn_msg *m, const msgpack_object *o, unsigned depth) {
  unsigned deepest = depth;
  switch (o->type) {
  case MSGPACK_OBJECT_ARRAY:
    deepest = depth + 1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      unsigned d = walk(m, &o->via.array.ptr[i], depth + 1);
      deepest = d > deepest ? d : deepest;
    }
    break;
  case MSGPACK_OBJECT_MAP:
    deepest = depth + 1;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      unsigned d = walk(m, &o->via.map.ptr[i].key, depth + 1);
      deepest = d > deepest ? d : deepest;
      d = walk(m, &o->via.map.ptr[i].val, depth + 1);
      deepest = d > deepest ? d : deepest;
    }
    break;
  case MSGPACK_OBJECT_EXT: {
    if (o->via.ext.type != MPCONN_EXT_SET)
      break;
    msgpack_object_array members;
    int rc = mpconn_msg_set_members(m, o, &members);
    FUZZ_CHECK_RC(rc == 0, rc);
    const uint8_t *p = (const uint8_t *)o->via.ext.ptr;
    size_t need = SIZE_MAX;
    rc = mpconn__validate_set(p, o->via.ext.size, &need);
    FUZZ_CHECK_RC(rc == 0, rc);
    msgpack_zone z;
    msgpack_object arr;
    decode_exact(p, o->via.ext.size, need, &z, &arr);
    FUZZ_CHECK(arr.type == MSGPACK_OBJECT_ARRAY);
    msgpack_object ours = {.type = MSGPACK_OBJECT_ARRAY, .via.array = members};
    same_tree(&ours, o->via.ext.ptr, &arr, o->via.ext.ptr);
    msgpack_zone_destroy(&z);
    /* The set's array is a level; the set itself is not. */
    deepest = depth + 1;
    for (uint32_t i = 0; i < members.size; i++) {
      unsigned d = walk(m, &members.ptr[i], depth + 1);
      deepest = d > deepest ? d : deepest;
    }
    break;
  }
  default:
    break;
  }
  return deepest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t need = SIZE_MAX;
  int rc = mpconn__validate_sized(data, size, &need);
  FUZZ_CHECK_RC(rc == 0 || rc == MPCONN_EBADVALUE || rc == MPCONN_ETOODEEP ||
                    rc == MPCONN_EBADSET,
                rc);
  FUZZ_CHECK(mpconn__validate(data, size) == rc);
  msgpack_zone dz;
  msgpack_object decoded;
  FUZZ_CHECK(msgpack_zone_init(&dz, rc == 0 ? need : 64));
  const void *dz_head = dz.chunk_list.head;
  const char *dz_start = dz.chunk_list.ptr;
  int drc = mpconn__decode(data, size, &dz, &decoded);
  FUZZ_CHECK_RC(drc == rc, drc);

  mpconn_msg *lent = NULL;
  int mrc = fuzz_msg(data, size, true, &lent);
  FUZZ_CHECK_RC(mrc == rc, mrc);
  mpconn_msg_free(lent);
  mpconn_msg *m = NULL;
  mrc = fuzz_msg(data, size, false, &m);
  FUZZ_CHECK_RC(mrc == rc, mrc);
  if (rc < 0) {
    msgpack_zone_destroy(&dz);
    return 0;
  }

  FUZZ_CHECK(need <= 24 * (size - 1));
  msgpack_zone z;
  msgpack_object obj;
  decode_exact(data, size, need, &z, &obj);
  /* One exact allocation, as for msgpack-c; the very same tree. */
  FUZZ_CHECK(dz.chunk_list.head == dz_head);
  FUZZ_CHECK(dz.chunk_list.ptr == dz_start + need);
  same_tree(&decoded, (const char *)data, &obj, (const char *)data);
  size_t mlen;
  const char *mdata = mpconn_msg_data(m, &mlen);
  FUZZ_CHECK(mlen == size);
  same_tree(mpconn_msg_value(m), mdata, &obj, (const char *)data);
  msgpack_zone_destroy(&dz);

  msgpack_sbuffer first = pack(&obj);
  msgpack_sbuffer from_msg = pack(mpconn_msg_value(m));
  FUZZ_CHECK(same_bytes(&first, &from_msg));

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  FUZZ_CHECK(msgpack_unpack_next(&u, (const char *)data, size, &off) ==
                 MSGPACK_UNPACK_SUCCESS &&
             off == size);
  msgpack_sbuffer from_next = pack(&u.data);
  FUZZ_CHECK(same_bytes(&first, &from_next));
  msgpack_unpacked_destroy(&u);

  FUZZ_CHECK(walk(m, mpconn_msg_value(m), 0) <= MPCONN_MAX_DEPTH);

  /* Packed again, the value is still valid and packs to the same bytes. */
  size_t need2;
  rc = mpconn__validate_sized((const uint8_t *)first.data, first.size, &need2);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(need2 == need);
  msgpack_zone z2;
  msgpack_object obj2;
  decode_exact((const uint8_t *)first.data, first.size, need2, &z2, &obj2);
  msgpack_sbuffer second = pack(&obj2);
  FUZZ_CHECK(same_bytes(&first, &second));

  msgpack_sbuffer_destroy(&second);
  msgpack_zone_destroy(&z2);
  msgpack_sbuffer_destroy(&from_next);
  msgpack_sbuffer_destroy(&from_msg);
  msgpack_sbuffer_destroy(&first);
  msgpack_zone_destroy(&z);
  mpconn_msg_free(m);
  return 0;
}
