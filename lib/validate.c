/* SPDX-License-Identifier: MIT */
/*
 * Frames are checked and decoded in one pass.
 *
 * msgpack-c's decoder trusts the counts in container headers: it allocates
 * count * sizeof(msgpack_object) before it has seen a single element, so a
 * five-byte frame can ask for gigabytes, and it gives up on nesting deeper
 * than its fixed stack as if memory had run out.  Here every count is
 * checked against the bytes that are actually left, which bounds the tree
 * by the frame's own length (at most 24 bytes per frame byte), and nesting
 * is limited to MPCONN_MAX_DEPTH, which is exactly as deep as msgpack-c
 * can decode.
 *
 * The same walk, given a zone, builds the msgpack_object tree as it goes,
 * exactly as msgpack_unpack() would (the fuzz target fuzz/fuzz-value.c
 * compares the two on every input), except that an empty str points into
 * the frame rather than being NULL.  Checking first and then running
 * msgpack-c's decoder reads every frame twice; on small messages that
 * second pass was more than half of the receiver's work.
 *
 * The walk is iterative: the stack below holds one entry per open
 * container plus one per open set, so its size is fixed by the depth limit.
 */
#include "mpconn-private.h"

#include <string.h>

/* msgpack-c allocates this much per array element and per map pair. */
#define ARRAY_ITEM_BYTES sizeof(msgpack_object)
#define MAP_PAIR_BYTES sizeof(msgpack_object_kv)

/* A map's pairs are filled in as 2 * count objects: key, value, ... */
_Static_assert(sizeof(msgpack_object_kv) == 2 * sizeof(msgpack_object) &&
                   offsetof(msgpack_object_kv, val) == sizeof(msgpack_object),
               "msgpack_object_kv is two msgpack_objects");

struct level {
  /* Items still expected; a map expects two per pair. */
  uint64_t left;
  /*
   * Non-NULL for the entry that stands for a set's ext payload: the end
   * of the enclosing data, restored when the payload is finished.  Such an
   * entry expects exactly one item, the set's array, and does not count as
   * a level of nesting; the array does.
   */
  const uint8_t *outer_end;
  /* When decoding: where the container's next item goes (NULL inside a
   * set's payload, which stays opaque as msgpack-c leaves it). */
  msgpack_object *next;
};

static inline uint64_t load_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

/* The signed integer of @width bytes at @p, as msgpack-c types it. */
static inline void set_int(msgpack_object *o, uint64_t v, unsigned width) {
  unsigned shift = 64 - 8 * width;
  int64_t i = (int64_t)(v << shift) >> shift;
  if (i >= 0) {
    o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o->via.u64 = (uint64_t)i;
  } else {
    o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    o->via.i64 = i;
  }
}

static inline bool is_array_header(uint8_t b) {
  return (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd;
}

/*
 * The walk shared by frames and set payloads.  @sets is the number of
 * set payloads the data is already inside (0 for a frame, 1 for a set
 * payload): inside a set every malformation is MPCONN_EBADSET.  Only
 * containers outside any nested set are decoded in the same call, so only
 * those add to *zone_bytes.
 *
 * With @zone, the value is built into *@root, its containers allocated
 * from @zone.  Inlined twice, so checking alone pays nothing for it.
 */
static inline __attribute__((always_inline)) int
walk(const uint8_t *p, const uint8_t *end, unsigned sets, size_t *zone_bytes,
     msgpack_zone *zone, msgpack_object *root) {
  struct level stack[2 * MPCONN_MAX_DEPTH];
  const unsigned base_sets = sets;
  unsigned top = 0;   /* entries on the stack */
  unsigned depth = 0; /* arrays, maps and sets open */
  uint64_t zone_used = 0;

#define BAD (sets ? MPCONN_EBADSET : MPCONN_EBADVALUE)
#define NEED(k)                                                                \
  do {                                                                         \
    if ((size_t)(end - p) < (size_t)(k))                                       \
      return BAD;                                                              \
  } while (0)
/* Fill in the item being decoded, if it is. */
#define SET(...)                                                               \
  do {                                                                         \
    if (zone && o) {                                                           \
      __VA_ARGS__;                                                             \
    }                                                                          \
  } while (0)

  for (;;) {
    uint64_t len, count;
    unsigned width;
    msgpack_object *o = NULL;
    if (zone) {
      if (top == 0) {
        o = root;
      } else if ((o = stack[top - 1].next) != NULL) {
        stack[top - 1].next = o + 1;
      }
    }

    NEED(1);
    uint8_t b = *p++;
    if (b <= 0x7f) {
      SET(o->type = MSGPACK_OBJECT_POSITIVE_INTEGER; o->via.u64 = b);
      goto item_done;
    }
    if (b >= 0xe0) {
      SET(o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER; o->via.i64 = (int8_t)b);
      goto item_done;
    }
    if (b >= 0xa0 && b <= 0xbf) {
      len = b & 0x1f;
      SET(o->type = MSGPACK_OBJECT_STR);
      goto body;
    }
    if (b >= 0x90 && b <= 0x9f) {
      count = b & 0x0f;
      goto array;
    }
    if (b <= 0x8f) {
      count = b & 0x0f;
      goto map;
    }
    switch (b) {
    case 0xc0: /* nil */
      SET(o->type = MSGPACK_OBJECT_NIL);
      goto item_done;
    case 0xc2: /* false */
    case 0xc3: /* true */
      SET(o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = b == 0xc3);
      goto item_done;
    case 0xc1: /* never used */
      return BAD;
    case 0xc4: /* bin 8, 16, 32 */
    case 0xc5:
    case 0xc6:
      width = 1u << (b - 0xc4);
      SET(o->type = MSGPACK_OBJECT_BIN);
      goto sized;
    case 0xd9: /* str 8, 16, 32 */
    case 0xda:
    case 0xdb:
      width = 1u << (b - 0xd9);
      SET(o->type = MSGPACK_OBJECT_STR);
      goto sized;
    case 0xc7: /* ext 8, 16, 32 */
    case 0xc8:
    case 0xc9:
      width = 1u << (b - 0xc7);
      NEED(width + 1);
      len = load_be(p, width);
      p += width;
      goto ext;
    case 0xca: /* float 32 */
      NEED(4);
      SET(uint32_t bits = (uint32_t)load_be(p, 4); float f;
          memcpy(&f, &bits, sizeof(f)); o->type = MSGPACK_OBJECT_FLOAT32;
          o->via.f64 = f);
      p += 4;
      goto item_done;
    case 0xcb: /* float 64 */
      NEED(8);
      SET(uint64_t bits = load_be(p, 8); memcpy(&o->via.f64, &bits, 8);
          o->type = MSGPACK_OBJECT_FLOAT64);
      p += 8;
      goto item_done;
    case 0xcc: /* uint 8, 16, 32, 64 */
    case 0xcd:
    case 0xce:
    case 0xcf:
      width = 1u << (b - 0xcc);
      NEED(width);
      SET(o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
          o->via.u64 = load_be(p, width));
      p += width;
      goto item_done;
    case 0xd0: /* int 8, 16, 32, 64 */
    case 0xd1:
    case 0xd2:
    case 0xd3:
      width = 1u << (b - 0xd0);
      NEED(width);
      SET(set_int(o, load_be(p, width), width));
      p += width;
      goto item_done;
    case 0xd4: /* fixext 1, 2, 4, 8, 16 */
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      NEED(1);
      len = 1u << (b - 0xd4);
      goto ext;
    case 0xdc:
      NEED(2);
      count = load_be(p, 2);
      p += 2;
      goto array;
    case 0xdd:
      NEED(4);
      count = load_be(p, 4);
      p += 4;
      goto array;
    case 0xde:
      NEED(2);
      count = load_be(p, 2);
      p += 2;
      goto map;
    default: /* 0xdf */
      NEED(4);
      count = load_be(p, 4);
      p += 4;
      goto map;
    }

  sized:
    NEED(width);
    len = load_be(p, width);
    p += width;
  body:
    /* str and bin: the body stays in the frame. */
    if (len > (uint64_t)(end - p))
      return BAD;
    SET(o->via.str.size = (uint32_t)len; o->via.str.ptr = (const char *)p);
    p += len;
    goto item_done;

  ext:
    /* p is at the type byte, which NEED(1) or NEED(width + 1) covered. */
    if (len > (uint64_t)(end - p - 1))
      return BAD;
    SET(o->type = MSGPACK_OBJECT_EXT; o->via.ext.type = (int8_t)*p;
        o->via.ext.size = (uint32_t)len; o->via.ext.ptr = (const char *)p + 1);
    if ((int8_t)*p != MPCONN_EXT_SET) {
      p += 1 + len;
      goto item_done;
    }
    p++;
    if (len == 0 || !is_array_header(*p))
      return MPCONN_EBADSET;
    /* The set's array will be a level; refusing here keeps the stack in
     * bounds. */
    if (depth >= MPCONN_MAX_DEPTH)
      return MPCONN_ETOODEEP;
    stack[top].left = 1;
    stack[top].outer_end = end;
    stack[top].next = NULL;
    top++;
    end = p + len;
    sets++;
    continue;

  array:
    /* Every element takes at least one byte. */
    if (count > (uint64_t)(end - p))
      return BAD;
    if (++depth > MPCONN_MAX_DEPTH)
      return MPCONN_ETOODEEP;
    if (sets == base_sets)
      zone_used += count * ARRAY_ITEM_BYTES;
    SET(o->type = MSGPACK_OBJECT_ARRAY; o->via.array.size = (uint32_t)count;
        o->via.array.ptr = msgpack_zone_malloc(zone, count * ARRAY_ITEM_BYTES);
        if (!o->via.array.ptr) return MPCONN_ENOMEM);
    goto open;

  map:
    /* Every key and every value takes at least one byte. */
    if (2 * count > (uint64_t)(end - p))
      return BAD;
    if (++depth > MPCONN_MAX_DEPTH)
      return MPCONN_ETOODEEP;
    if (sets == base_sets)
      zone_used += count * MAP_PAIR_BYTES;
    SET(o->type = MSGPACK_OBJECT_MAP; o->via.map.size = (uint32_t)count;
        o->via.map.ptr = msgpack_zone_malloc(zone, count * MAP_PAIR_BYTES);
        if (!o->via.map.ptr) return MPCONN_ENOMEM);
    count *= 2;

  open:
    if (count == 0) {
      depth--;
      goto item_done;
    }
    stack[top].left = count;
    stack[top].outer_end = NULL;
    /* o is the array's or map's own object: its items follow in the
     * zone (for a map, keys and values alternate). */
    stack[top].next = zone && o ? (msgpack_object *)o->via.array.ptr : NULL;
    top++;
    continue;

  item_done:
    while (top > 0) {
      struct level *l = &stack[top - 1];
      if (--l->left > 0)
        break;
      top--;
      if (l->outer_end) {
        /* The set's array must fill its payload exactly. */
        if (p != end)
          return MPCONN_EBADSET;
        end = l->outer_end;
        sets--;
      } else {
        depth--;
      }
    }
    if (top == 0) {
      if (p != end)
        return BAD;
      if (zone_bytes)
        *zone_bytes = (size_t)zone_used;
      return 0;
    }
  }
#undef SET
#undef NEED
#undef BAD
}

int mpconn__validate_sized(const uint8_t *p, size_t n, size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0)
    return MPCONN_EBADVALUE;
  return walk(p, p + n, 0, zone_bytes, NULL, NULL);
}

int mpconn__validate(const uint8_t *p, size_t n) {
  return mpconn__validate_sized(p, n, NULL);
}

int mpconn__validate_set(const uint8_t *p, size_t n, size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0 || !is_array_header(p[0]))
    return MPCONN_EBADSET;
  return walk(p, p + n, 1, zone_bytes, NULL, NULL);
}

int mpconn__decode(const uint8_t *p, size_t n, msgpack_zone *zone,
                   msgpack_object *out) {
  if ((!p && n) || !zone || !out)
    return MPCONN_EINVAL;
  if (n == 0)
    return MPCONN_EBADVALUE;
  return walk(p, p + n, 0, NULL, zone, out);
}

int mpconn__decode_set(const uint8_t *p, size_t n, msgpack_zone *zone,
                       msgpack_object *out) {
  if ((!p && n) || !zone || !out)
    return MPCONN_EINVAL;
  if (n == 0 || !is_array_header(p[0]))
    return MPCONN_EBADSET;
  return walk(p, p + n, 1, NULL, zone, out);
}
