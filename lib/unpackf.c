/* SPDX-License-Identifier: MIT */
/*
 * Unpacking with format strings: check a value's shape and store its parts
 * through pointer arguments.  The format is checked whole first (format.c);
 * then the format and the value are walked together.  A NULL value means
 * "skip": the arguments of an absent optional key are still consumed, so
 * the ones after it line up.  A dry walk (w->dry) checks and stores
 * nothing: a set tries each of its items on each member that way before
 * it chooses which member goes to which item.
 *
 * "[T ...]" and "<T ...>" fill an iterator (mpconn_iter) instead of
 * walking T: mpconn_iter_next() walks T once per item later, from where T
 * is in the format, with the path of the container as the start of its
 * own.
 */
#include "mpconn-private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Store through an argument, unless the walk is dry. */
#define STORE(s, lvalue, value)                                                \
  do {                                                                         \
    if (!(s)->dry)                                                             \
      lvalue = (value);                                                        \
  } while (0)

/* Bits for which entries of a map the format matched; most maps fit. */
#define SEEN_INLINE 512

static const char *type_name(const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    return "nil";
  case MSGPACK_OBJECT_BOOLEAN:
    return "bool";
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return "int";
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return "float";
  case MSGPACK_OBJECT_STR:
    return "str";
  case MSGPACK_OBJECT_BIN:
    return "bin";
  case MSGPACK_OBJECT_ARRAY:
    return "array";
  case MSGPACK_OBJECT_MAP:
    return "map";
  case MSGPACK_OBJECT_EXT:
    return v->via.ext.type == MPCONN_EXT_SET ? "set" : "ext";
  default:
    return "unknown";
  }
}

static const char *expected_name(char c) {
  switch (c) {
  case 'n':
    return "nil";
  case 'b':
    return "bool";
  case 'i':
    return "int";
  case 'I':
    return "int64";
  case 'U':
    return "uint64";
  case 'f':
    return "float";
  case 's':
    return "str";
  case 'y':
    return "bin";
  case '[':
    return "array";
  case '{':
    return "map";
  default:
    return "set";
  }
}

static int mismatch(struct mpconn__walk *s, size_t at, char c,
                    const msgpack_object *v) {
  return mpconn__walk_fail(s, MPCONN_EUNPACK, at, "expected %s at %s, got %s",
                           expected_name(c), mpconn__walk_path(s),
                           type_name(v));
}

static int out_of_range(struct mpconn__walk *s, size_t at, char c,
                        const msgpack_object *v) {
  char num[24];
  if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v->via.u64);
  else
    snprintf(num, sizeof(num), "%lld", (long long)v->via.i64);
  return mpconn__walk_fail(s, MPCONN_EUNPACK, at,
                           "expected %s at %s, got %s (out of range)",
                           expected_name(c), mpconn__walk_path(s), num);
}

static int null_arg(struct mpconn__walk *s, size_t at) {
  return mpconn__walk_fail(s, MPCONN_EINVAL, at,
                           "a NULL pointer argument for %s",
                           mpconn__walk_path(s));
}

/* Fetch a pointer argument; NULL is a caller's mistake, never a skip. */
#define TARGET(type, var)                                                      \
  type var = va_arg(s->ap, type);                                              \
  if (!var)                                                                    \
  return null_arg(s, at)

static int unpack_item(struct mpconn__walk *s, const msgpack_object *v);

/* Items of an array or a set, by position.  @a is NULL when skipping. */
static int unpack_items(struct mpconn__walk *s, char kind, size_t at,
                        const struct mpconn__box *box,
                        const msgpack_object_array *a) {
  if (a && (box->rest ? a->size < box->n : a->size != box->n))
    return mpconn__walk_fail(
        s, MPCONN_EUNPACK, at, "expected %s of %s%u at %s, got %s of %u",
        expected_name(kind), box->rest ? "at least " : "", (unsigned)box->n,
        mpconn__walk_path(s), expected_name(kind), (unsigned)a->size);
  struct mpconn__step *step = mpconn__walk_push(s, kind);
  for (uint32_t i = 0; i < box->n; i++) {
    step->index = i;
    int rc = unpack_item(s, a ? &a->ptr[i] : NULL);
    if (rc < 0)
      return rc;
  }
  mpconn__walk_pop(s);
  if (box->rest)
    mpconn__walk_close(s); /* the '*' */
  mpconn__walk_close(s);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Iterators: "[T ...]" and "<T ...>"                                       */
/* ------------------------------------------------------------------------ */

/* An iterator with nothing to give (an absent optional key's). */
static void iter_empty(mpconn_iter *it) {
  *it = (mpconn_iter){.kind = '['};
  it->path[0] = '\0';
}

/* Fill @it, unless dry, and step over the container: T is walked by
 * mpconn_iter_next(), once per item. */
static void iter_fill(struct mpconn__walk *s, const struct mpconn__box *box,
                      mpconn_iter *it, const mpconn_iter *with) {
  if (!s->dry) {
    *it = *with;
    it->fmt = s->fmt;
    it->item_at = box->item_at;
    it->item_end = box->item_end;
    snprintf(it->path, sizeof(it->path), "%s", mpconn__walk_path(s));
  }
  mpconn__walk_skip_box(s, box);
}

static int each_array(struct mpconn__walk *s, size_t at,
                      const struct mpconn__box *box, const msgpack_object *v) {
  TARGET(mpconn_iter *, it);
  if (!v) {
    if (!s->dry)
      iter_empty(it);
    mpconn__walk_skip_box(s, box);
    return 0;
  }
  if (v->type != MSGPACK_OBJECT_ARRAY)
    return mismatch(s, at, '[', v);
  iter_fill(s, box, it,
            &(mpconn_iter){.kind = '[',
                           .items = v->via.array.ptr,
                           .count = v->via.array.size});
  return 0;
}

/* The members of a set start after its array's header. */
static size_t array_header_size(const uint8_t *p) {
  return *p == 0xdc ? 3 : *p == 0xdd ? 5 : 1;
}

static uint32_t array_header_count(const uint8_t *p) {
  if (*p == 0xdc)
    return (uint32_t)p[1] << 8 | p[2];
  if (*p == 0xdd)
    return (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 |
           p[4];
  return *p & 0x0fu;
}

/* A set's payload must be one array: 0, or the failure filled in. */
static int check_set(struct mpconn__walk *s, size_t at, const msgpack_object *v,
                     size_t *need) {
  int rc = mpconn__validate_set((const uint8_t *)v->via.ext.ptr,
                                v->via.ext.size, need);
  if (rc < 0)
    return mpconn__walk_fail(s, rc, at, "malformed set at %s (%s)",
                             mpconn__walk_path(s), mpconn_err_name(rc));
  return 0;
}

static int each_set(struct mpconn__walk *s, size_t at,
                    const struct mpconn__box *box, const msgpack_object *v) {
  TARGET(mpconn_iter *, it);
  if (!v) {
    if (!s->dry)
      iter_empty(it);
    mpconn__walk_skip_box(s, box);
    return 0;
  }
  if (v->type != MSGPACK_OBJECT_EXT || v->via.ext.type != MPCONN_EXT_SET)
    return mismatch(s, at, '<', v);
  int rc = check_set(s, at, v, NULL);
  if (rc < 0)
    return rc;
  const uint8_t *p = (const uint8_t *)v->via.ext.ptr;
  iter_fill(s, box, it,
            &(mpconn_iter){.kind = '<',
                           .set_data = v->via.ext.ptr,
                           .set_size = v->via.ext.size,
                           .set_off = array_header_size(p),
                           .count = array_header_count(p)});
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Sets: items matched to members regardless of order                      */
/* ------------------------------------------------------------------------ */

/*
 * A total order of values, so that which member goes to which item does
 * not depend on the order the sender put them in: by kind (nil, bool,
 * int, float, str, bin, array, map, ext), then by value.
 */
static int kind_rank(const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
    return 0;
  case MSGPACK_OBJECT_BOOLEAN:
    return 1;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return 2;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return 3;
  case MSGPACK_OBJECT_STR:
    return 4;
  case MSGPACK_OBJECT_BIN:
    return 5;
  case MSGPACK_OBJECT_ARRAY:
    return 6;
  case MSGPACK_OBJECT_MAP:
    return 7;
  default:
    return 8;
  }
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

static int cmp_bytes(const char *a, uint32_t na, const char *b, uint32_t nb) {
  uint32_t n = na < nb ? na : nb;
  int c = n ? memcmp(a, b, n) : 0;
  return c ? (c < 0 ? -1 : 1) : CMP(na, nb);
}

static int cmp_value(const msgpack_object *a, const msgpack_object *b) {
  int c = CMP(kind_rank(a), kind_rank(b));
  if (c)
    return c;
  switch (a->type) {
  case MSGPACK_OBJECT_NIL:
    return 0;
  case MSGPACK_OBJECT_BOOLEAN:
    return CMP(a->via.boolean, b->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    if (a->type != b->type)
      return a->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? -1 : 1;
    return a->type == MSGPACK_OBJECT_POSITIVE_INTEGER
               ? CMP(a->via.u64, b->via.u64)
               : CMP(a->via.i64, b->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: {
    if ((c = CMP(a->via.f64, b->via.f64)) != 0)
      return c;
    /* Equal or NaN: the bits, then float 32 before float 64. */
    uint64_t x, y;
    memcpy(&x, &a->via.f64, sizeof(x));
    memcpy(&y, &b->via.f64, sizeof(y));
    return (c = CMP(x, y)) ? c : CMP(a->type, b->type);
  }
  case MSGPACK_OBJECT_STR:
  case MSGPACK_OBJECT_BIN: /* str and bin share a layout in msgpack-c */
    return cmp_bytes(a->via.str.ptr, a->via.str.size, b->via.str.ptr,
                     b->via.str.size);
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; i < a->via.array.size && i < b->via.array.size; i++)
      if ((c = cmp_value(&a->via.array.ptr[i], &b->via.array.ptr[i])) != 0)
        return c;
    return CMP(a->via.array.size, b->via.array.size);
  case MSGPACK_OBJECT_MAP:
    for (uint32_t i = 0; i < a->via.map.size && i < b->via.map.size; i++) {
      const msgpack_object_kv *p = &a->via.map.ptr[i], *q = &b->via.map.ptr[i];
      if ((c = cmp_value(&p->key, &q->key)) != 0 ||
          (c = cmp_value(&p->val, &q->val)) != 0)
        return c;
    }
    return CMP(a->via.map.size, b->via.map.size);
  default:
    if ((c = CMP(a->via.ext.type, b->via.ext.type)) != 0)
      return c;
    return cmp_bytes(a->via.ext.ptr, a->via.ext.size, b->via.ext.ptr,
                     b->via.ext.size);
  }
}

static int cmp_member(const void *x, const void *y, void *members) {
  const msgpack_object *m = members;
  return cmp_value(&m[*(const uint32_t *)x], &m[*(const uint32_t *)y]);
}

/* Which member goes to which item: a maximum bipartite matching. */
struct matching {
  uint32_t n, m;         /* items, members */
  const uint8_t *fits;   /* fits[i * m + j]: member j matches item i */
  const uint32_t *order; /* members in the order of cmp_value() */
  int64_t *owner;        /* the item member j went to, or -1 */
  uint8_t *seen;
};

/*
 * Kuhn's augmenting path from item @i.  A free member is taken before one
 * is moved from another item, so that items get members in their order
 * where they can: "<s s>" takes {"b", "a"} as "a", "b".
 */
static bool augment(struct matching *mt, uint32_t i) {
  for (uint32_t k = 0; k < mt->m; k++) {
    uint32_t j = mt->order[k];
    if (mt->fits[(size_t)i * mt->m + j] && mt->owner[j] < 0 && !mt->seen[j]) {
      mt->seen[j] = 1;
      mt->owner[j] = i;
      return true;
    }
  }
  for (uint32_t k = 0; k < mt->m; k++) {
    uint32_t j = mt->order[k];
    if (!mt->fits[(size_t)i * mt->m + j] || mt->seen[j])
      continue;
    mt->seen[j] = 1;
    if (mt->owner[j] < 0 || augment(mt, (uint32_t)mt->owner[j])) {
      mt->owner[j] = i;
      return true;
    }
  }
  return false;
}

/* The working memory of one set's matching. */
struct set_work {
  uint32_t *order, *chosen;
  uint8_t *fits, *seen;
  int64_t *owner;
  size_t *item_at;
};

static void set_work_free(struct set_work *w) {
  free(w->order);
  free(w->chosen);
  free(w->fits);
  free(w->seen);
  free(w->owner);
  free(w->item_at);
}

static bool set_work_alloc(struct set_work *w, uint32_t n, uint32_t m) {
  *w = (struct set_work){0};
  if ((size_t)n > SIZE_MAX / m)
    return false;
  w->order = malloc(m * sizeof(*w->order));
  w->chosen = malloc(n * sizeof(*w->chosen));
  w->fits = malloc((size_t)n * m);
  w->seen = malloc(m);
  w->owner = malloc(m * sizeof(*w->owner));
  w->item_at = malloc(n * sizeof(*w->item_at));
  return w->order && w->chosen && w->fits && w->seen && w->owner && w->item_at;
}

/*
 * Try each item on each member, dry (the item's arguments are read again
 * for each member), and record which fit.  0, or a failure that is not a
 * mismatch (a NULL argument, no memory, a malformed set inside).
 */
static int try_items(struct mpconn__walk *s, const struct mpconn__box *box,
                     const msgpack_object_array *a, struct set_work *w,
                     struct mpconn__step *step) {
  uint32_t m = a->size;
  bool dry = s->dry;
  int rc = 0;
  s->dry = true;
  for (uint32_t i = 0; i < box->n && rc == 0; i++) {
    struct mpconn__mark here;
    mpconn__walk_mark(s, &here);
    w->item_at[i] = mpconn__walk_here(s);
    for (uint32_t j = 0; j < m; j++) {
      mpconn__walk_reset(s, &here);
      step->index = j;
      rc = unpack_item(s, &a->ptr[j]);
      w->fits[(size_t)i * m + j] = rc == 0;
      if (rc < 0 && rc != MPCONN_EUNPACK)
        break;
      rc = 0;
    }
    if (rc == 0) {
      /* On to the next item: skipping reads the arguments once more. */
      mpconn__walk_reset(s, &here);
      rc = unpack_item(s, NULL);
    }
    mpconn__walk_unmark(&here);
  }
  s->dry = dry;
  return rc;
}

/* Fixed items of a set, each matched to a member of its own. */
static int unpack_members(struct mpconn__walk *s, size_t at,
                          const struct mpconn__box *box,
                          const msgpack_object_array *a) {
  if (box->rest ? a->size < box->n : a->size != box->n)
    return mpconn__walk_fail(s, MPCONN_EUNPACK, at,
                             "expected set of %s%u at %s, got set of %u",
                             box->rest ? "at least " : "", (unsigned)box->n,
                             mpconn__walk_path(s), (unsigned)a->size);
  if (box->n == 0) {
    if (box->rest)
      mpconn__walk_close(s); /* the '*' */
    mpconn__walk_close(s);
    return 0;
  }
  uint32_t n = box->n, m = a->size;
  struct set_work w;
  if (!set_work_alloc(&w, n, m)) {
    set_work_free(&w);
    return mpconn__walk_fail(s, MPCONN_ENOMEM, at, "out of memory at %s",
                             mpconn__walk_path(s));
  }
  for (uint32_t j = 0; j < m; j++) {
    w.order[j] = j;
    w.owner[j] = -1;
  }
  qsort_r(w.order, m, sizeof(*w.order), cmp_member, a->ptr);

  struct mpconn__mark start;
  mpconn__walk_mark(s, &start);
  struct mpconn__step *step = mpconn__walk_push(s, '<');
  int rc = try_items(s, box, a, &w, step);
  struct matching mt = {n, m, w.fits, w.order, w.owner, w.seen};
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    memset(w.seen, 0, m);
    if (augment(&mt, i))
      continue;
    bool any = memchr(w.fits + (size_t)i * m, 1, m) != NULL;
    s->path.depth = start.depth;
    rc = mpconn__walk_fail(
        s, MPCONN_EUNPACK, w.item_at[i],
        any ? "every member of the set at %s that matches this item is "
              "needed by another item"
            : "no member of the set at %s matches this item",
        mpconn__walk_path(s));
  }
  if (rc == 0) {
    /* The real walk: each item with its member, storing. */
    for (uint32_t j = 0; j < m; j++)
      if (w.owner[j] >= 0)
        w.chosen[w.owner[j]] = j;
    mpconn__walk_reset(s, &start);
    step = mpconn__walk_push(s, '<');
    for (uint32_t i = 0; i < n && rc == 0; i++) {
      step->index = w.chosen[i];
      rc = unpack_item(s, &a->ptr[w.chosen[i]]);
    }
  }
  mpconn__walk_unmark(&start);
  set_work_free(&w);
  if (rc < 0)
    return rc;
  mpconn__walk_pop(s);
  if (box->rest)
    mpconn__walk_close(s); /* the '*' */
  mpconn__walk_close(s);
  return 0;
}

static int unpack_set(struct mpconn__walk *s, size_t at,
                      const struct mpconn__box *box, const msgpack_object *v) {
  if (box->each)
    return each_set(s, at, box, v);
  if (!v)
    return unpack_items(s, '<', at, box, NULL);
  if (v->type != MSGPACK_OBJECT_EXT || v->via.ext.type != MPCONN_EXT_SET)
    return mismatch(s, at, '<', v);
  /*
   * The members live in a zone of their own, sized exactly, and freed
   * before return; the syntax pass refused 'O' inside a set so nothing
   * stored through the arguments points into it.
   */
  size_t need = 0;
  int rc = check_set(s, at, v, &need);
  if (rc < 0)
    return rc;
  msgpack_zone zone;
  if (!msgpack_zone_init(&zone, need ? need : 1))
    return mpconn__walk_fail(s, MPCONN_ENOMEM, at, "out of memory at %s",
                             mpconn__walk_path(s));
  msgpack_object_array members;
  rc = mpconn_set_unpack(v, &zone, &members);
  if (rc == 0)
    rc = unpack_members(s, at, box, &members);
  else
    rc = mpconn__walk_fail(s, rc, at, "out of memory at %s",
                           mpconn__walk_path(s));
  msgpack_zone_destroy(&zone);
  return rc;
}

static const msgpack_object *find_key(const msgpack_object_map *m,
                                      const char *key, size_t len,
                                      uint32_t *index) {
  for (uint32_t i = 0; i < m->size; i++) {
    const msgpack_object *k = &m->ptr[i].key;
    /* msgpack-c gives an empty str a NULL pointer: never pass it on. */
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
        (len == 0 || memcmp(k->via.str.ptr, key, len) == 0)) {
      *index = i;
      return &m->ptr[i].val;
    }
  }
  return NULL;
}

/* Pairs of "s:v" or "s?:v", looked up by key; then '*' or strictness. */
static int unpack_map(struct mpconn__walk *s, size_t at,
                      const struct mpconn__box *box, const msgpack_object *v) {
  const msgpack_object_map *m = NULL;
  if (v) {
    if (v->type != MSGPACK_OBJECT_MAP)
      return mismatch(s, at, '{', v);
    m = &v->via.map;
  }
  /* Without '*', every entry must be matched by some key. */
  bool strict = m && !box->rest;
  uint64_t seen_inline[SEEN_INLINE / 64] = {0};
  uint64_t *seen = seen_inline;
  if (strict && m->size > SEEN_INLINE) {
    seen = calloc((m->size + 63) / 64, sizeof(*seen));
    if (!seen)
      return mpconn__fmt_fail(s->err, MPCONN_ENOMEM, at, NULL, "out of memory");
  }
  struct mpconn__step *step = mpconn__walk_push(s, '{');
  int rc = 0;
  for (uint32_t i = 0; i < box->n && !rc; i++) {
    size_t key_at;
    mpconn__walk_next(s, &key_at);
    bool optional = mpconn__walk_accept(s, '?');
    const char *key = va_arg(s->ap, const char *);
    if (!key) {
      mpconn__walk_pop(s);
      rc = null_arg(s, key_at);
      break;
    }
    size_t len = strlen(key);
    step->index = i;
    step->key = (msgpack_object){.type = MSGPACK_OBJECT_STR};
    step->key.via.str.ptr = key;
    step->key.via.str.size = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    const msgpack_object *val = NULL;
    uint32_t index;
    if (m && (val = find_key(m, key, len, &index)) && strict)
      seen[index / 64] |= (uint64_t)1 << (index % 64);
    if (m && !val && !optional) {
      rc = mpconn__walk_fail(s, MPCONN_EUNPACK, key_at, "missing key at %s",
                             mpconn__walk_path(s));
      break;
    }
    rc = unpack_item(s, val);
  }
  if (!rc && box->rest) {
    mpconn__walk_close(s); /* the '*' */
  } else if (!rc && strict) {
    size_t close_at = mpconn__walk_here(s);
    for (uint32_t i = 0; i < m->size; i++) {
      if (seen[i / 64] & ((uint64_t)1 << (i % 64)))
        continue;
      step->key = m->ptr[i].key;
      rc = mpconn__walk_fail(s, MPCONN_EUNPACK, close_at,
                             "unexpected key at %s", mpconn__walk_path(s));
      break;
    }
  }
  if (seen != seen_inline)
    free(seen);
  if (rc < 0)
    return rc;
  mpconn__walk_pop(s);
  mpconn__walk_close(s);
  return 0;
}

/* 'i', 'I' or 'U', once the target is fetched and @v is not NULL. */
static int int_range(struct mpconn__walk *s, size_t at, char c,
                     const msgpack_object *v) {
  bool pos = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
  if (!pos && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
    return mismatch(s, at, c, v);
  bool fits = c == 'i'   ? (pos ? v->via.u64 <= INT_MAX : v->via.i64 >= INT_MIN)
              : c == 'I' ? !pos || v->via.u64 <= INT64_MAX
                         : pos;
  return fits ? 0 : out_of_range(s, at, c, v);
}

static int unpack_int(struct mpconn__walk *s, size_t at, char c,
                      const msgpack_object *v) {
  int rc;
  if (c == 'i') {
    TARGET(int *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      STORE(s, *out, (int)v->via.i64);
  } else if (c == 'I') {
    TARGET(int64_t *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      STORE(s, *out, v->via.i64);
  } else {
    TARGET(uint64_t *, out);
    if (v && (rc = int_range(s, at, c, v)) == 0)
      STORE(s, *out, v->via.u64);
  }
  return v ? rc : 0;
}

/* 's', 's#' or 'y#'. */
static int unpack_string(struct mpconn__walk *s, size_t at, char c,
                         const msgpack_object *v) {
  msgpack_object_type want = c == 's' ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN;
  if (mpconn__walk_accept(s, '#')) {
    TARGET(const char **, ptr);
    TARGET(size_t *, len);
    if (!v)
      return 0;
    if (v->type != want)
      return mismatch(s, at, c, v);
    if (s->dry)
      return 0;
    /* str and bin share a layout in msgpack-c. */
    *len = c == 's' ? v->via.str.size : v->via.bin.size;
    *ptr = *len == 0 ? "" : c == 's' ? v->via.str.ptr : v->via.bin.ptr;
    return 0;
  }
  TARGET(char *, buf);
  size_t size = va_arg(s->ap, size_t);
  if (!v)
    return 0;
  if (v->type != want)
    return mismatch(s, at, c, v);
  size_t len = v->via.str.size;
  if (len && memchr(v->via.str.ptr, '\0', len))
    return mpconn__walk_fail(s, MPCONN_EUNPACK, at,
                             "str at %s holds a NUL byte; use s#",
                             mpconn__walk_path(s));
  if (len >= size)
    return mpconn__walk_fail(
        s, MPCONN_EUNPACK, at,
        "str at %s needs %zu bytes with its NUL, the buffer has %zu",
        mpconn__walk_path(s), len + 1, size);
  if (s->dry)
    return 0;
  if (len)
    memcpy(buf, v->via.str.ptr, len);
  buf[len] = '\0';
  return 0;
}

static int unpack_item(struct mpconn__walk *s, const msgpack_object *v) {
  size_t at;
  char c = mpconn__walk_next(s, &at);
  switch (c) {
  case 'n':
    if (v && v->type != MSGPACK_OBJECT_NIL)
      return mismatch(s, at, c, v);
    return 0;
  case 'b': {
    TARGET(bool *, out);
    if (!v)
      return 0;
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
      return mismatch(s, at, c, v);
    STORE(s, *out, v->via.boolean);
    return 0;
  }
  case 'i':
  case 'I':
  case 'U':
    return unpack_int(s, at, c, v);
  case 'f': {
    TARGET(double *, out);
    if (!v)
      return 0;
    /* msgpack-c widens a float 32 into f64 as it decodes. */
    if (v->type != MSGPACK_OBJECT_FLOAT32 && v->type != MSGPACK_OBJECT_FLOAT64)
      return mismatch(s, at, c, v);
    STORE(s, *out, v->via.f64);
    return 0;
  }
  case 's':
  case 'y':
    return unpack_string(s, at, c, v);
  case 'O': {
    TARGET(msgpack_object *, out);
    if (v)
      STORE(s, *out, *v);
    return 0;
  }
  case '[': {
    const struct mpconn__box *box = mpconn__walk_box(s);
    if (box->each)
      return each_array(s, at, box, v);
    if (v && v->type != MSGPACK_OBJECT_ARRAY)
      return mismatch(s, at, c, v);
    return unpack_items(s, '[', at, box, v ? &v->via.array : NULL);
  }
  case '{':
    return unpack_map(s, at, mpconn__walk_box(s), v);
  default: /* '<', the only one the syntax pass leaves */
    return unpack_set(s, at, mpconn__walk_box(s), v);
  }
}
#undef TARGET

int mpconn_vunpackf(const msgpack_object *v, mpconn_error *err, const char *fmt,
                    va_list ap) {
  if (!v || !fmt)
    return mpconn__fmt_fail(err, MPCONN_EINVAL, 0, NULL,
                            "no value or no format");
  struct mpconn__walk w;
  int rc = mpconn__walk_start(&w, fmt, true, err, ap);
  if (rc < 0)
    return rc;
  rc = unpack_item(&w, v);
  mpconn__walk_end(&w);
  return rc < 0 ? rc : mpconn__err_status(err, 0);
}

int mpconn_unpackf(const msgpack_object *v, mpconn_error *err, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vunpackf(v, err, fmt, ap);
  va_end(ap);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Taking the items of an iterator                                          */
/* ------------------------------------------------------------------------ */

size_t mpconn_iter_count(const mpconn_iter *it) { return it ? it->count : 0; }

/* The next member of a set iterator, decoded into @u; moves past it. */
static int iter_member(mpconn_iter *it, msgpack_unpacked *u) {
  size_t off = it->set_off;
  msgpack_unpack_return r =
      msgpack_unpack_next(u, it->set_data, it->set_size, &off);
  if (r != MSGPACK_UNPACK_SUCCESS)
    return r == MSGPACK_UNPACK_NOMEM_ERROR ? MPCONN_ENOMEM : MPCONN_EBADSET;
  it->set_off = off;
  return 0;
}

int mpconn_iter_vnext(mpconn_iter *it, mpconn_error *err, va_list ap) {
  if (!it || (it->next < it->count && !it->fmt))
    return mpconn__fmt_fail(err, MPCONN_EINVAL, 0, NULL,
                            "no iterator, or one mpconn_unpackf() did not "
                            "fill");
  if (it->next >= it->count)
    return mpconn__err_status(err, 0);
  struct mpconn__walk w;
  int rc = mpconn__walk_start_range(&w, it->fmt, it->item_at, it->item_end,
                                    true, err, ap);
  if (rc < 0)
    return rc;
  w.path.prefix = it->path;
  mpconn__walk_push(&w, it->kind)->index = it->next;
  bool moved = true;
  if (it->kind == '[') {
    rc = unpack_item(&w, &it->items[it->next]);
  } else {
    /* One member at a time: its str and bin bodies point into the set's
     * payload, and 'O', which would point into @u, is refused in sets. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    rc = iter_member(it, &u);
    if (rc == 0) {
      rc = unpack_item(&w, &u.data);
    } else {
      /* Not moved past: a later call tries the same member again. */
      moved = false;
      rc = mpconn__walk_fail(&w, rc, it->item_at, "%s at %s",
                             rc == MPCONN_ENOMEM ? "out of memory"
                                                 : "malformed set",
                             mpconn__walk_path(&w));
    }
    msgpack_unpacked_destroy(&u);
  }
  mpconn__walk_end(&w);
  if (moved)
    it->next++;
  if (rc < 0)
    return rc;
  mpconn__err_status(err, 0);
  return 1;
}

int mpconn_iter_next(mpconn_iter *it, mpconn_error *err, ...) {
  va_list ap;
  va_start(ap, err);
  int rc = mpconn_iter_vnext(it, err, ap);
  va_end(ap);
  return rc;
}
