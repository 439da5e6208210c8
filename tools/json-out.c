/* SPDX-License-Identifier: MIT */
/*
 * msgpack values to JSON text, written while walking the value.
 *
 * The text is exactly what jansson 2.14's json_dumps() printed for the
 * json_t this tool used to build (JSON_COMPACT, JSON_PRESERVE_ORDER,
 * JSON_REAL_PRECISION(17)), so the mapping of docs/cli.md is unchanged:
 * integers with printf's %lld (and %llu above INT64_MAX), floats with
 * "%.17g" plus ".0" when that has neither a '.' nor an 'e', exponents
 * without '+' or leading zeros, strings with only '"', '\\' and the
 * control characters escaped (\b \f \n \r \t, others as \u00XX in capital
 * hex), everything else as it is.
 *
 * Two passes: the first decodes every set and sizes the table that checks
 * map keys, so that the second, which writes, cannot fail for want of
 * memory half-way through a line.
 */
#include "json.h"

#include "base64.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Maps with more keys than this are checked for duplicates with a hash
 * table; smaller ones pair by pair. */
#define SMALL_MAP 16

struct out {
  mpconn_msg *m;
  tool_write_fn write;
  void *arg;
  bool failed; /* write failed: nothing more is written */
  /* The members of every set, in the order the walk meets them. */
  msgpack_object_array *sets;
  size_t nsets, next_set, sets_cap;
  /* The key table: room for the largest map with more than SMALL_MAP
   * candidate keys; slots hold a key's index + 1, 0 when free. */
  uint32_t *slots;
  size_t max_keys;
  uint64_t seed[2];
  size_t used;
  char buf[8192];
};

/* ---- Output ------------------------------------------------------------- */

static void flush(struct out *o) {
  if (o->used && !o->failed && o->write(o->arg, o->buf, o->used) < 0)
    o->failed = true;
  o->used = 0;
}

static void put(struct out *o, const char *s, size_t n) {
  while (n > 0) {
    if (o->used == sizeof(o->buf))
      flush(o);
    size_t k = sizeof(o->buf) - o->used;
    if (k > n)
      k = n;
    memcpy(o->buf + o->used, s, k);
    o->used += k;
    s += k;
    n -= k;
  }
}

/* A string literal (only: "" lit "" refuses anything else). */
#define PUTS(o, lit) put(o, "" lit "", sizeof(lit) - 1)

static void put_char(struct out *o, char c) {
  if (o->used == sizeof(o->buf))
    flush(o);
  o->buf[o->used++] = c;
}

/* ---- Scalars ------------------------------------------------------------ */

static void put_uint(struct out *o, uint64_t u) {
  char s[24];
  put(o, s, (size_t)snprintf(s, sizeof(s), "%" PRIu64, u));
}

static void put_int(struct out *o, int64_t i) {
  char s[24];
  put(o, s, (size_t)snprintf(s, sizeof(s), "%" PRId64, i));
}

/* A finite double as jansson prints it with a precision of 17. */
static void put_double(struct out *o, double d) {
  char s[40];
  int n = snprintf(s, sizeof(s) - 2, "%.17g", d);
  char *e = strchr(s, 'e');
  if (!e && !strchr(s, '.')) {
    memcpy(s + n, ".0", 3);
    n += 2;
  } else if (e) {
    /* "1e+17" -> "1e17", "1e-05" -> "1e-5". */
    char *from = e + 1, *to = e + 1;
    if (*from == '-')
      from++, to++;
    else if (*from == '+')
      from++;
    while (*from == '0' && from[1])
      from++;
    memmove(to, from, strlen(from) + 1);
    n = (int)strlen(s);
  }
  put(o, s, (size_t)n);
}

/* Whether s[0..n) is well-formed UTF-8 as jansson and Python's strict codec
 * accept it: shortest forms only, no surrogates, nothing above U+10FFFF.
 * NUL bytes are allowed. */
static bool utf8_valid(const char *s, size_t n) {
  if (n == 0)
    return true; /* s may be NULL: msgpack-c's empty str */
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    unsigned char c = *p++;
    if (c < 0x80)
      continue;
    unsigned more;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      more = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false; /* a continuation byte, c0, c1 or f5..ff */
    }
    if ((size_t)(end - p) < more)
      return false;
    for (unsigned i = 0; i < more; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    p += more;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
  }
  return true;
}

/* A JSON string of valid UTF-8: bytes from 0x80 up are never escaped, so
 * the text can be scanned byte by byte. */
static void put_string(struct out *o, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (n == 0) {
    PUTS(o, "\"\""); /* s may be NULL */
    return;
  }
  put_char(o, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(o, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', (char)c};
    size_t len = 2;
    switch (c) {
    case '"':
    case '\\':
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      len = 6;
    }
    put(o, esc, len);
  }
  put(o, s + run, n - run);
  put_char(o, '"');
}

static void put_base64(struct out *o, const char *p, size_t n) {
  char text[TOOL_BASE64_CHUNK / 3 * 4 + 1];
  put_char(o, '"');
  for (size_t done = 0; done < n;) {
    size_t k = n - done < TOOL_BASE64_CHUNK ? n - done : TOOL_BASE64_CHUNK;
    put(o, text, tool_base64_encode_chunk(p + done, k, text));
    done += k;
  }
  put_char(o, '"');
}

/* {"$str":"..."}, {"$bytes":"..."} */
static void put_raw(struct out *o, const char *form, const char *p, size_t n) {
  PUTS(o, "{\"");
  put(o, form, strlen(form));
  PUTS(o, "\":");
  put_base64(o, p, n);
  put_char(o, '}');
}

/* ---- Maps --------------------------------------------------------------- */

/* A key a JSON object can hold: jansson could not read a NUL in one. */
static bool plain_key(const msgpack_object *k) {
  return k->type == MSGPACK_OBJECT_STR &&
         utf8_valid(k->via.str.ptr, k->via.str.size) &&
         (k->via.str.size == 0 || !memchr(k->via.str.ptr, 0, k->via.str.size));
}

/* Whether a map may be written as an object, its keys' distinctness
 * aside: every key plain, and not one key alone that starts with '$'
 * (which would read as one of the forms). */
static bool object_candidate(const msgpack_object_map *map) {
  for (uint32_t i = 0; i < map->size; i++)
    if (!plain_key(&map->ptr[i].key))
      return false;
  return !(map->size == 1 && map->ptr[0].key.via.str.size > 0 &&
           map->ptr[0].key.via.str.ptr[0] == '$');
}

static bool same_key(const msgpack_object_str *a, const msgpack_object_str *b) {
  return a->size == b->size &&
         (a->size == 0 || memcmp(a->ptr, b->ptr, a->size) == 0);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                  \
    v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                     \
    v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                     \
    v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                  \
  } while (0)

/* SipHash-1-3 with a key drawn for each message: a peer cannot choose keys
 * that collide, so checking n keys takes time linear in their bytes. */
static uint64_t siphash13(const uint64_t seed[2], const char *p, size_t n) {
  uint64_t v0 = 0x736f6d6570736575u ^ seed[0];
  uint64_t v1 = 0x646f72616e646f6du ^ seed[1];
  uint64_t v2 = 0x6c7967656e657261u ^ seed[0];
  uint64_t v3 = 0x7465646279746573u ^ seed[1];
  uint64_t last = (uint64_t)n << 56;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    v3 ^= w;
    SIPROUND;
    v0 ^= w;
  }
  for (size_t i = 0; i < n; i++)
    last |= (uint64_t)(unsigned char)p[i] << (8 * i);
  v3 ^= last;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

static size_t table_size(size_t keys) { return keys + keys / 2; }

/* Whether the keys of a candidate map are distinct, as jansson's object
 * compares them: byte for byte. */
static bool distinct_keys(struct out *o, const msgpack_object_map *map) {
  const msgpack_object_kv *kv = map->ptr;
  if (map->size <= SMALL_MAP) {
    for (uint32_t i = 0; i < map->size; i++)
      for (uint32_t j = 0; j < i; j++)
        if (same_key(&kv[i].key.via.str, &kv[j].key.via.str))
          return false;
    return true;
  }
  /* Open addressing at a load of 2/3 at most; slot = hash * size / 2^32. */
  size_t size = table_size(map->size);
  memset(o->slots, 0, size * sizeof(*o->slots));
  for (uint32_t i = 0; i < map->size; i++) {
    const msgpack_object_str *k = &kv[i].key.via.str;
    uint64_t h = siphash13(o->seed, k->ptr, k->size) >> 32;
    size_t at = (size_t)((h * size) >> 32);
    while (o->slots[at]) {
      if (same_key(k, &kv[o->slots[at] - 1].key.via.str))
        return false;
      if (++at == size)
        at = 0;
    }
    o->slots[at] = i + 1;
  }
  return true;
}

/* ---- The walk ----------------------------------------------------------- */

static void put_value(struct out *o, const msgpack_object *v);

static void put_items(struct out *o, const msgpack_object *items, uint32_t n) {
  put_char(o, '[');
  for (uint32_t i = 0; i < n && !o->failed; i++) {
    if (i)
      put_char(o, ',');
    put_value(o, &items[i]);
  }
  put_char(o, ']');
}

static void put_map(struct out *o, const msgpack_object_map *map) {
  const msgpack_object_kv *kv = map->ptr;
  if (object_candidate(map) && distinct_keys(o, map)) {
    put_char(o, '{');
    for (uint32_t i = 0; i < map->size && !o->failed; i++) {
      if (i)
        put_char(o, ',');
      put_string(o, kv[i].key.via.str.ptr, kv[i].key.via.str.size);
      put_char(o, ':');
      put_value(o, &kv[i].val);
    }
    put_char(o, '}');
    return;
  }
  PUTS(o, "{\"$map\":[");
  for (uint32_t i = 0; i < map->size && !o->failed; i++) {
    if (i)
      put_char(o, ',');
    put_char(o, '[');
    put_value(o, &kv[i].key);
    put_char(o, ',');
    put_value(o, &kv[i].val);
    put_char(o, ']');
  }
  PUTS(o, "]}");
}

static void put_ext(struct out *o, const msgpack_object_ext *e) {
  if (e->type == MPCONN_EXT_SET) {
    const msgpack_object_array *members = &o->sets[o->next_set++];
    PUTS(o, "{\"$set\":");
    put_items(o, members->ptr, members->size);
    put_char(o, '}');
    return;
  }
  PUTS(o, "{\"$ext\":[");
  put_int(o, e->type);
  put_char(o, ',');
  put_base64(o, e->ptr, e->size);
  PUTS(o, "]}");
}

static void put_value(struct out *o, const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    PUTS(o, "null");
    return;
  case MSGPACK_OBJECT_BOOLEAN:
    if (v->via.boolean)
      PUTS(o, "true");
    else
      PUTS(o, "false");
    return;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    put_uint(o, v->via.u64);
    return;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    put_int(o, v->via.i64);
    return;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    if (isfinite(v->via.f64))
      put_double(o, v->via.f64);
    else if (isnan(v->via.f64))
      PUTS(o, "{\"$float\":\"nan\"}");
    else if (v->via.f64 > 0)
      PUTS(o, "{\"$float\":\"inf\"}");
    else
      PUTS(o, "{\"$float\":\"-inf\"}");
    return;
  case MSGPACK_OBJECT_STR:
    if (utf8_valid(v->via.str.ptr, v->via.str.size))
      put_string(o, v->via.str.ptr, v->via.str.size);
    else
      put_raw(o, "$str", v->via.str.ptr, v->via.str.size);
    return;
  case MSGPACK_OBJECT_BIN:
    put_raw(o, "$bytes", v->via.bin.ptr, v->via.bin.size);
    return;
  case MSGPACK_OBJECT_ARRAY:
    put_items(o, v->via.array.ptr, v->via.array.size);
    return;
  case MSGPACK_OBJECT_MAP:
    put_map(o, &v->via.map);
    return;
  case MSGPACK_OBJECT_EXT:
    put_ext(o, &v->via.ext);
    return;
  }
}

/* ---- The first pass ----------------------------------------------------- */

/* Meet the value's sets and maps in the order put_value() meets them. */
static int prepare(struct out *o, const msgpack_object *v) {
  int rc = 0;
  switch (v->type) {
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; !rc && i < v->via.array.size; i++)
      rc = prepare(o, &v->via.array.ptr[i]);
    return rc;
  case MSGPACK_OBJECT_MAP: {
    const msgpack_object_map *map = &v->via.map;
    if (map->size > SMALL_MAP && map->size > o->max_keys &&
        object_candidate(map))
      o->max_keys = map->size;
    for (uint32_t i = 0; !rc && i < map->size; i++) {
      rc = prepare(o, &map->ptr[i].key);
      if (!rc)
        rc = prepare(o, &map->ptr[i].val);
    }
    return rc;
  }
  case MSGPACK_OBJECT_EXT: {
    if (v->via.ext.type != MPCONN_EXT_SET)
      return 0;
    if (o->nsets == o->sets_cap) {
      size_t cap = o->sets_cap ? 2 * o->sets_cap : 8;
      msgpack_object_array *p = realloc(o->sets, cap * sizeof(*p));
      if (!p)
        return MPCONN_ENOMEM;
      o->sets = p;
      o->sets_cap = cap;
    }
    msgpack_object_array members;
    rc = mpconn_msg_set_members(o->m, v, &members);
    if (rc < 0)
      return rc;
    o->sets[o->nsets++] = members;
    for (uint32_t i = 0; !rc && i < members.size; i++)
      rc = prepare(o, &members.ptr[i]);
    return rc;
  }
  default:
    return 0;
  }
}

static void draw_seed(uint64_t seed[2]) {
  if (getrandom(seed, 2 * sizeof(*seed), GRND_NONBLOCK) ==
      (ssize_t)(2 * sizeof(*seed)))
    return;
  /* Without randomness, keys stay correct; only the cost of colliding
   * keys depends on the peer. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec;
  seed[1] = (uint64_t)(uintptr_t)seed ^ 0xda942042e4dd58b5u;
}

int tool_json_write(mpconn_msg *m, const msgpack_object *v, tool_write_fn write,
                    void *arg) {
  struct out *o = malloc(sizeof(*o));
  if (!o)
    return MPCONN_ENOMEM;
  o->m = m;
  o->write = write;
  o->arg = arg;
  o->failed = false;
  o->sets = NULL;
  o->nsets = o->next_set = o->sets_cap = 0;
  o->slots = NULL;
  o->max_keys = 0;
  o->used = 0;
  int rc = prepare(o, v);
  if (!rc && o->max_keys) {
    o->slots = malloc(table_size(o->max_keys) * sizeof(*o->slots));
    if (!o->slots)
      rc = MPCONN_ENOMEM;
    draw_seed(o->seed);
  }
  if (!rc) {
    put_value(o, v);
    flush(o);
    rc = o->failed ? TOOL_JSON_WRITE_FAILED : 0;
  }
  free(o->slots);
  free(o->sets);
  free(o);
  return rc;
}

/* ---- To memory ---------------------------------------------------------- */

struct text {
  char *p;
  size_t len, cap;
};

static int to_text(void *arg, const char *s, size_t n) {
  struct text *t = arg;
  if (t->cap - t->len <= n) {
    size_t cap = t->cap ? t->cap : 64;
    while (cap - t->len <= n)
      cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p)
      return -1;
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = '\0';
  return 0;
}

int tool_json_from_msgpack(mpconn_msg *m, const msgpack_object *v, char **text,
                           size_t *len) {
  struct text t = {0};
  int rc = tool_json_write(m, v, to_text, &t);
  if (rc == 0 && !t.p && to_text(&t, "", 0) < 0)
    rc = TOOL_JSON_WRITE_FAILED;
  if (rc != 0) {
    free(t.p);
    return rc == TOOL_JSON_WRITE_FAILED ? MPCONN_ENOMEM : rc;
  }
  *text = t.p;
  *len = t.len;
  return 0;
}
