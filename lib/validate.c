/* SPDX-License-Identifier: MIT */
/*
 * One pass over a frame before msgpack-c decodes it.
 *
 * msgpack-c's decoder trusts the counts in container headers: it allocates
 * count * sizeof(msgpack_object) before it has seen a single element, so a
 * five-byte frame can ask for gigabytes, and it gives up on nesting deeper
 * than its fixed stack as if memory had run out.  Here every count is
 * checked against the bytes that are actually left, which bounds what the
 * decoder will allocate by the frame's own length, and nesting is limited
 * to MPCONN_MAX_DEPTH, which is exactly as deep as msgpack-c can decode.
 *
 * The walk is iterative: the stack below holds one entry per open
 * container plus one per open set, so its size is fixed by the depth limit.
 */
#include "mpconn-private.h"

/* msgpack-c allocates this much per array element and per map pair. */
#define ARRAY_ITEM_BYTES sizeof(msgpack_object)
#define MAP_PAIR_BYTES sizeof(msgpack_object_kv)

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
};

static inline uint64_t load_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

static inline bool is_array_header(uint8_t b) {
  return (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd;
}

/*
 * The walk shared by frames and set payloads.  @sets is the number of
 * set payloads the data is already inside (0 for a frame, 1 for a set
 * payload): inside a set every malformation is MPCONN_EBADSET.  Only
 * containers outside any nested set are decoded by msgpack-c in the same
 * call, so only those add to *zone_bytes.
 */
static int walk(const uint8_t *p, const uint8_t *end, unsigned sets,
                size_t *zone_bytes) {
  struct level stack[2 * MPCONN_MAX_DEPTH];
  const unsigned base_sets = sets;
  unsigned top = 0;   /* entries on the stack */
  unsigned depth = 0; /* arrays, maps and sets open */
  uint64_t zone = 0;

#define BAD (sets ? MPCONN_EBADSET : MPCONN_EBADVALUE)
#define NEED(k)                                                                \
  do {                                                                         \
    if ((size_t)(end - p) < (size_t)(k))                                       \
      return BAD;                                                              \
  } while (0)

  for (;;) {
    uint64_t len, count;
    unsigned width;

    NEED(1);
    uint8_t b = *p++;
    if (b <= 0x7f || b >= 0xe0)
      goto item_done;
    if (b >= 0xa0 && b <= 0xbf) {
      len = b & 0x1f;
      goto skip;
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
    case 0xc2: /* false */
    case 0xc3: /* true */
      goto item_done;
    case 0xc1: /* never used */
      return BAD;
    case 0xc4: /* bin 8, 16, 32 */
    case 0xc5:
    case 0xc6:
      width = 1u << (b - 0xc4);
      goto sized;
    case 0xd9: /* str 8, 16, 32 */
    case 0xda:
    case 0xdb:
      width = 1u << (b - 0xd9);
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
    case 0xce: /* uint 32 */
    case 0xd2: /* int 32 */
      len = 4;
      goto skip;
    case 0xcb: /* float 64 */
    case 0xcf: /* uint 64 */
    case 0xd3: /* int 64 */
      len = 8;
      goto skip;
    case 0xcc: /* uint 8 */
    case 0xd0: /* int 8 */
      len = 1;
      goto skip;
    case 0xcd: /* uint 16 */
    case 0xd1: /* int 16 */
      len = 2;
      goto skip;
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
  skip:
    if (len > (uint64_t)(end - p))
      return BAD;
    p += len;
    goto item_done;

  ext:
    /* p is at the type byte, which NEED(1) or NEED(width + 1) covered. */
    if (len > (uint64_t)(end - p - 1))
      return BAD;
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
      zone += count * ARRAY_ITEM_BYTES;
    goto open;

  map:
    /* Every key and every value takes at least one byte. */
    if (2 * count > (uint64_t)(end - p))
      return BAD;
    if (++depth > MPCONN_MAX_DEPTH)
      return MPCONN_ETOODEEP;
    if (sets == base_sets)
      zone += count * MAP_PAIR_BYTES;
    count *= 2;

  open:
    if (count == 0) {
      depth--;
      goto item_done;
    }
    stack[top].left = count;
    stack[top].outer_end = NULL;
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
        *zone_bytes = (size_t)zone;
      return 0;
    }
  }
#undef NEED
#undef BAD
}

int mpconn__validate_sized(const uint8_t *p, size_t n, size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0)
    return MPCONN_EBADVALUE;
  return walk(p, p + n, 0, zone_bytes);
}

int mpconn__validate(const uint8_t *p, size_t n) {
  return mpconn__validate_sized(p, n, NULL);
}

int mpconn__validate_set(const uint8_t *p, size_t n, size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0 || !is_array_header(p[0]))
    return MPCONN_EBADSET;
  return walk(p, p + n, 1, zone_bytes);
}
