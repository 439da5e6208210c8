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

/*
 * Every step of the walk is inlined into it: it is the receive path's
 * hottest loop.  Written as one function per kind of item, it takes 289
 * instructions to decode the benchmark's small message, against 263 for
 * the single 250-line function with gotos it replaced (callgrind), about
 * 5 % of the receiver's work on small messages; the send path gained more
 * in the same change.
 */
#define STEP static inline __attribute__((always_inline))

/* The signed integer of @width bytes, as msgpack-c types it. */
STEP void set_int(msgpack_object *o, uint64_t v, unsigned width) {
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

struct walk {
  const uint8_t *p, *end; /* what is left of the data being walked */
  /* Set payloads the walk is inside, and was inside at the start (0 for a
   * frame, 1 for a set payload): inside a set every malformation is
   * MPCONN_EBADSET, and only containers outside any nested set are
   * decoded in the same call, so only those add to zone_used. */
  unsigned sets, base_sets;
  unsigned top;   /* entries on the stack */
  unsigned depth; /* arrays, maps and sets open */
  uint64_t zone_used;
  /* The whole tree, sets' members included (they are decoded on demand,
   * into the same message), and what it may take. */
  uint64_t tree, limit;
  msgpack_zone *zone; /* NULL when only checking */
  /* One entry per open container plus one per open set. */
  struct level stack[2 * MPCONN_MAX_DEPTH];
};

STEP int bad(const struct walk *w) {
  return w->sets ? MPCONN_EBADSET : MPCONN_EBADVALUE;
}

STEP bool short_of(const struct walk *w, size_t k) {
  return (size_t)(w->end - w->p) < k;
}

/* The unsigned big-endian integer of @width bytes, taken from the data;
 * false when there are not that many. */
STEP bool take(struct walk *w, unsigned width, uint64_t *v) {
  if (short_of(w, width))
    return false;
  *v = mpconn__load_be(w->p, width);
  w->p += width;
  return true;
}

/* The slot the next item is decoded into, or NULL when it is not. */
STEP msgpack_object *next_slot(struct walk *w, msgpack_object *root) {
  if (!w->zone)
    return NULL;
  if (w->top == 0)
    return root;
  msgpack_object *o = w->stack[w->top - 1].next;
  if (o)
    w->stack[w->top - 1].next = o + 1;
  return o;
}

/*
 * A scalar whose header byte @b has been read: nil, bool, int or float,
 * filled into @o when it is not NULL.  0, or a validation code for a byte
 * that starts no scalar it knows (0xc1, and what the caller handles).
 */
STEP int scalar(struct walk *w, uint8_t b, msgpack_object *o) {
  uint64_t v;
  unsigned width;
  switch (b) {
  case 0xc0: /* nil */
    if (o)
      o->type = MSGPACK_OBJECT_NIL;
    return 0;
  case 0xc2: /* false */
  case 0xc3: /* true */
    if (o) {
      o->type = MSGPACK_OBJECT_BOOLEAN;
      o->via.boolean = b == 0xc3;
    }
    return 0;
  case 0xca: /* float 32 */
    if (!take(w, 4, &v))
      return bad(w);
    if (o) {
      uint32_t bits = (uint32_t)v;
      float f;
      memcpy(&f, &bits, sizeof(f));
      o->type = MSGPACK_OBJECT_FLOAT32;
      o->via.f64 = f;
    }
    return 0;
  case 0xcb: /* float 64 */
    if (!take(w, 8, &v))
      return bad(w);
    if (o) {
      memcpy(&o->via.f64, &v, 8);
      o->type = MSGPACK_OBJECT_FLOAT64;
    }
    return 0;
  case 0xcc: /* uint 8, 16, 32, 64 */
  case 0xcd:
  case 0xce:
  case 0xcf:
    if (!take(w, 1u << (b - 0xcc), &v))
      return bad(w);
    if (o) {
      o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
      o->via.u64 = v;
    }
    return 0;
  case 0xd0: /* int 8, 16, 32, 64 */
  case 0xd1:
  case 0xd2:
  case 0xd3:
    width = 1u << (b - 0xd0);
    if (!take(w, width, &v))
      return bad(w);
    if (o)
      set_int(o, v, width);
    return 0;
  default: /* 0xc1, never used */
    return bad(w);
  }
}

/* A str or bin body of @len bytes: it stays in the data. */
STEP int body(struct walk *w, msgpack_object *o, uint64_t len) {
  if (len > (uint64_t)(w->end - w->p))
    return bad(w);
  if (o) {
    o->via.str.size = (uint32_t)len;
    o->via.str.ptr = (const char *)w->p;
  }
  w->p += len;
  return 0;
}

/*
 * An ext of @len bytes, w->p at its type byte (which the caller made sure
 * is there).  A set's payload becomes a level of the walk: 1 then; 0 for
 * any other ext, or a code.
 */
STEP int ext(struct walk *w, msgpack_object *o, uint64_t len) {
  const uint8_t *p = w->p;
  if (len > (uint64_t)(w->end - p - 1))
    return bad(w);
  if (o) {
    o->type = MSGPACK_OBJECT_EXT;
    o->via.ext.type = (int8_t)*p;
    o->via.ext.size = (uint32_t)len;
    o->via.ext.ptr = (const char *)p + 1;
  }
  if ((int8_t)*p != MPCONN_EXT_SET) {
    w->p = p + 1 + len;
    return 0;
  }
  p++;
  if (len == 0 || !is_array_header(*p))
    return MPCONN_EBADSET;
  /* The set's array will be a level; refusing here keeps the stack in
   * bounds. */
  if (w->depth >= MPCONN_MAX_DEPTH)
    return MPCONN_ETOODEEP;
  w->stack[w->top++] = (struct level){.left = 1, .outer_end = w->end};
  w->p = p;
  w->end = p + len;
  w->sets++;
  return 1;
}

/* An array (@map false) of @count items or a map of @count pairs: 1 when
 * it opened a level, 0 when it is empty, or a code. */
STEP int container(struct walk *w, msgpack_object *o, uint64_t count,
                   bool map) {
  /* Every element, every key and every value takes at least one byte. */
  uint64_t items = map ? 2 * count : count;
  if (items > (uint64_t)(w->end - w->p))
    return bad(w);
  if (w->depth + 1 > MPCONN_MAX_DEPTH)
    return MPCONN_ETOODEEP;
  size_t bytes = (size_t)count * (map ? MAP_PAIR_BYTES : ARRAY_ITEM_BYTES);
  if (w->sets == w->base_sets)
    w->zone_used += bytes;
  w->tree += bytes;
  if (w->tree > w->limit)
    return MPCONN_EDECODELIMIT;
  msgpack_object *items_at = NULL;
  if (o) {
    o->type = map ? MSGPACK_OBJECT_MAP : MSGPACK_OBJECT_ARRAY;
    /* msgpack_object_array and _map share a layout: size, then ptr. */
    o->via.array.size = (uint32_t)count;
    items_at = msgpack_zone_malloc(w->zone, bytes);
    if (!items_at)
      return MPCONN_ENOMEM;
    o->via.array.ptr = items_at;
  }
  if (items == 0)
    return 0;
  w->depth++;
  /* Its items follow in the zone; for a map, keys and values
   * alternate. */
  w->stack[w->top++] = (struct level){.left = items, .next = items_at};
  return 1;
}

/* After an item: close the levels it completes.  1 when the whole value
 * is done, 0 when more items follow, or a code. */
STEP int item_done(struct walk *w) {
  while (w->top > 0) {
    struct level *l = &w->stack[w->top - 1];
    if (--l->left > 0)
      return 0;
    w->top--;
    if (l->outer_end) {
      /* The set's array must fill its payload exactly. */
      if (w->p != w->end)
        return MPCONN_EBADSET;
      w->end = l->outer_end;
      w->sets--;
    } else {
      w->depth--;
    }
  }
  return w->p == w->end ? 1 : bad(w);
}

/* The item whose header byte @b has been read: 0 when it is complete, 1
 * when it opened a level, or a code. */
STEP int item(struct walk *w, uint8_t b, msgpack_object *o) {
  uint64_t len;
  if (b <= 0x7f) {
    if (o) {
      o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
      o->via.u64 = b;
    }
    return 0;
  }
  if (b >= 0xe0) {
    if (o) {
      o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
      o->via.i64 = (int8_t)b;
    }
    return 0;
  }
  if (b >= 0xa0 && b <= 0xbf) {
    if (o)
      o->type = MSGPACK_OBJECT_STR;
    return body(w, o, b & 0x1f);
  }
  if (b >= 0x80 && b <= 0x9f)
    return container(w, o, b & 0x0f, b <= 0x8f);
  switch (b) {
  case 0xc4: /* bin 8, 16, 32 */
  case 0xc5:
  case 0xc6:
    if (!take(w, 1u << (b - 0xc4), &len))
      return bad(w);
    if (o)
      o->type = MSGPACK_OBJECT_BIN;
    return body(w, o, len);
  case 0xd9: /* str 8, 16, 32 */
  case 0xda:
  case 0xdb:
    if (!take(w, 1u << (b - 0xd9), &len))
      return bad(w);
    if (o)
      o->type = MSGPACK_OBJECT_STR;
    return body(w, o, len);
  case 0xc7: /* ext 8, 16, 32: then the type byte */
  case 0xc8:
  case 0xc9:
    if (short_of(w, (1u << (b - 0xc7)) + 1))
      return bad(w);
    len = mpconn__load_be(w->p, 1u << (b - 0xc7));
    w->p += 1u << (b - 0xc7);
    return ext(w, o, len);
  case 0xd4: /* fixext 1, 2, 4, 8, 16 */
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    if (short_of(w, 1))
      return bad(w);
    return ext(w, o, 1u << (b - 0xd4));
  case 0xdc: /* array 16, 32 */
  case 0xdd:
    if (!take(w, b == 0xdc ? 2 : 4, &len))
      return bad(w);
    return container(w, o, len, false);
  case 0xde: /* map 16, 32 */
  case 0xdf:
    if (!take(w, b == 0xde ? 2 : 4, &len))
      return bad(w);
    return container(w, o, len, true);
  default:
    return scalar(w, b, o);
  }
}

/*
 * The walk shared by frames and set payloads; @sets as in struct walk.
 * With @zone, the value is built into *@root, its containers allocated
 * from @zone.  Inlined twice, so checking alone pays nothing for it.
 */
STEP int walk(const uint8_t *p, const uint8_t *end, unsigned sets,
              uint64_t limit, size_t *zone_bytes, msgpack_zone *zone,
              msgpack_object *root) {
  struct walk w;
  w.p = p;
  w.end = end;
  w.sets = w.base_sets = sets;
  w.top = w.depth = 0;
  w.zone_used = 0;
  w.tree = 0;
  w.limit = limit;
  w.zone = zone;
  for (;;) {
    msgpack_object *o = next_slot(&w, root);
    if (short_of(&w, 1))
      return bad(&w);
    int rc = item(&w, *w.p++, o);
    if (rc > 0) /* a level opened: its items follow */
      continue;
    if (rc == 0 && (rc = item_done(&w)) == 0)
      continue;
    if (rc < 0)
      return rc;
    if (zone_bytes)
      *zone_bytes = (size_t)w.zone_used;
    return 0;
  }
}

int mpconn__validate_limited(const uint8_t *p, size_t n, size_t limit,
                             size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0)
    return MPCONN_EBADVALUE;
  return walk(p, p + n, 0, limit, zone_bytes, NULL, NULL);
}

int mpconn__validate_sized(const uint8_t *p, size_t n, size_t *zone_bytes) {
  return mpconn__validate_limited(p, n, SIZE_MAX, zone_bytes);
}

int mpconn__validate(const uint8_t *p, size_t n) {
  return mpconn__validate_sized(p, n, NULL);
}

int mpconn__validate_set(const uint8_t *p, size_t n, size_t *zone_bytes) {
  if (!p && n)
    return MPCONN_EINVAL;
  if (n == 0 || !is_array_header(p[0]))
    return MPCONN_EBADSET;
  return walk(p, p + n, 1, UINT64_MAX, zone_bytes, NULL, NULL);
}

int mpconn__decode(const uint8_t *p, size_t n, msgpack_zone *zone,
                   msgpack_object *out) {
  if ((!p && n) || !zone || !out)
    return MPCONN_EINVAL;
  if (n == 0)
    return MPCONN_EBADVALUE;
  return walk(p, p + n, 0, UINT64_MAX, NULL, zone, out);
}

int mpconn__decode_set(const uint8_t *p, size_t n, msgpack_zone *zone,
                       msgpack_object *out) {
  if ((!p && n) || !zone || !out)
    return MPCONN_EINVAL;
  if (n == 0 || !is_array_header(p[0]))
    return MPCONN_EBADSET;
  return walk(p, p + n, 1, UINT64_MAX, NULL, zone, out);
}
