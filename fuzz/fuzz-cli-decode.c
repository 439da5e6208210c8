/* SPDX-License-Identifier: MIT */
/*
 * The per-message work of `mpconn decode` (tools/decode.c): a received
 * value to one line of JSON with tool_json_write() (tools/json-out.c), here
 * through tool_json_from_msgpack(), which collects what it writes.  The
 * input is one frame's payload; payloads the validator refuses are
 * skipped, as mpconn_recv() never hands them out.
 *
 * For every value (docs/cli.md, "Round trips and byte identity"):
 * - the conversion succeeds and gives one line: no newline, the length
 *   returned is the length of the text;
 * - the text is exactly what jansson's json_dumps() prints for the json_t
 *   the tool built before it wrote while walking (the reference below;
 *   values holding an integer above INT64_MAX, which json_t cannot hold,
 *   are left to the tests of tests/cli);
 * - `encode` takes the line back (tool_json_to_msgpack()) to msgpack that
 *   the validator accepts, and decoding that gives the same line;
 * - for canonical msgpack (every value in its shortest form, no float 32,
 *   NaN only as 7ff8000000000000, sets canonical inside too) `encode` gives
 *   back the input byte for byte.
 */
#include "fuzz.h"

#include "json.h"
#include "mpconn-private.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <string.h>

/* ---- The reference: the value as a json_t ----------------------------- */

struct ref {
  mpconn_msg *m;
  bool big; /* an integer above INT64_MAX was met */
};

static json_t *ref_value(struct ref *r, const msgpack_object *v);

/* {"<tag>": v}; steals v. */
static json_t *ref_tagged(const char *tag, json_t *v) {
  json_t *obj = json_object();
  FUZZ_CHECK(obj && v && json_object_set_new_nocheck(obj, tag, v) == 0);
  return obj;
}

static json_t *ref_b64(const char *p, size_t n) {
  char *text = malloc(n / 3 * 4 + 5);
  FUZZ_CHECK(text);
  int len =
      EVP_EncodeBlock((unsigned char *)text, (const unsigned char *)p, (int)n);
  json_t *s = json_stringn_nocheck(text, (size_t)len);
  free(text);
  return s;
}

static json_t *ref_array(struct ref *r, const msgpack_object *items,
                         uint32_t n) {
  json_t *a = json_array();
  for (uint32_t i = 0; i < n; i++)
    FUZZ_CHECK(json_array_append_new(a, ref_value(r, &items[i])) == 0);
  return a;
}

static bool ref_utf8(const msgpack_object_str *s) {
  json_t *j = json_stringn(s->size ? s->ptr : "", s->size);
  json_decref(j);
  return j != NULL;
}

static json_t *ref_map(struct ref *r, const msgpack_object_map *map) {
  bool object =
      !(map->size == 1 && map->ptr[0].key.type == MSGPACK_OBJECT_STR &&
        map->ptr[0].key.via.str.size > 0 &&
        map->ptr[0].key.via.str.ptr[0] == '$');
  json_t *obj = json_object();
  for (uint32_t i = 0; object && i < map->size; i++) {
    const msgpack_object *k = &map->ptr[i].key;
    if (k->type != MSGPACK_OBJECT_STR) {
      object = false;
      break;
    }
    const char *p = k->via.str.size ? k->via.str.ptr : "";
    object =
        ref_utf8(&k->via.str) && !memchr(p, '\0', k->via.str.size) &&
        !json_object_getn(obj, p, k->via.str.size) &&
        json_object_setn_new_nocheck(obj, p, k->via.str.size, json_null()) == 0;
  }
  if (object) {
    for (uint32_t i = 0; i < map->size; i++) {
      const msgpack_object_str *k = &map->ptr[i].key.via.str;
      FUZZ_CHECK(
          json_object_setn_new_nocheck(obj, k->size ? k->ptr : "", k->size,
                                       ref_value(r, &map->ptr[i].val)) == 0);
    }
    return obj;
  }
  json_decref(obj);
  json_t *pairs = json_array();
  for (uint32_t i = 0; i < map->size; i++) {
    json_t *pair = json_array();
    json_array_append_new(pair, ref_value(r, &map->ptr[i].key));
    json_array_append_new(pair, ref_value(r, &map->ptr[i].val));
    json_array_append_new(pairs, pair);
  }
  return ref_tagged("$map", pairs);
}

static json_t *ref_value(struct ref *r, const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    return json_null();
  case MSGPACK_OBJECT_BOOLEAN:
    return json_boolean(v->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    r->big |= v->via.u64 > (uint64_t)INT64_MAX;
    return json_integer((json_int_t)v->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return json_integer(v->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    if (isfinite(v->via.f64))
      return json_real(v->via.f64);
    return ref_tagged("$float", json_string(isnan(v->via.f64) ? "nan"
                                            : v->via.f64 > 0  ? "inf"
                                                              : "-inf"));
  case MSGPACK_OBJECT_STR:
    if (ref_utf8(&v->via.str))
      return json_stringn(v->via.str.size ? v->via.str.ptr : "",
                          v->via.str.size);
    return ref_tagged("$str", ref_b64(v->via.str.ptr, v->via.str.size));
  case MSGPACK_OBJECT_BIN:
    return ref_tagged("$bytes", ref_b64(v->via.bin.ptr, v->via.bin.size));
  case MSGPACK_OBJECT_ARRAY:
    return ref_array(r, v->via.array.ptr, v->via.array.size);
  case MSGPACK_OBJECT_MAP:
    return ref_map(r, &v->via.map);
  case MSGPACK_OBJECT_EXT:
    break;
  }
  const msgpack_object_ext *e = &v->via.ext;
  if (e->type == MPCONN_EXT_SET) {
    msgpack_object_array members;
    FUZZ_CHECK(mpconn_msg_set_members(r->m, v, &members) == 0);
    return ref_tagged("$set", ref_array(r, members.ptr, members.size));
  }
  json_t *pair = json_array();
  json_array_append_new(pair, json_integer(e->type));
  json_array_append_new(pair, ref_b64(e->ptr, e->size));
  return ref_tagged("$ext", pair);
}

/* The reference text, new; NULL for a value json_t cannot hold. */
static char *reference(const void *p, size_t n) {
  mpconn_msg *m;
  FUZZ_CHECK(fuzz_msg(p, n, false, &m) == 0);
  struct ref r = {.m = m};
  json_t *j = ref_value(&r, mpconn_msg_value(m));
  char *text =
      r.big ? NULL
            : json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
  FUZZ_CHECK(r.big || text);
  json_decref(j);
  mpconn_msg_free(m);
  return text;
}

/* ---- Round trips ------------------------------------------------------- */

static msgpack_sbuffer pack(const msgpack_object *o) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  FUZZ_CHECK(msgpack_pack_object(&pk, *o) == 0);
  return sb;
}

static bool same(const msgpack_sbuffer *sb, const void *p, size_t n) {
  return sb->size == n && (n == 0 || memcmp(sb->data, p, n) == 0);
}

/* Whether @o holds nothing that decode/encode changes on purpose, given
 * that its own bytes are msgpack-c's shortest form. */
static bool canonical(mpconn_msg *m, const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_FLOAT32:
    return false;
  case MSGPACK_OBJECT_FLOAT64: {
    uint64_t bits;
    memcpy(&bits, &o->via.f64, sizeof(bits));
    return !isnan(o->via.f64) || bits == 0x7ff8000000000000u;
  }
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; i < o->via.array.size; i++)
      if (!canonical(m, &o->via.array.ptr[i]))
        return false;
    return true;
  case MSGPACK_OBJECT_MAP:
    for (uint32_t i = 0; i < o->via.map.size; i++)
      if (!canonical(m, &o->via.map.ptr[i].key) ||
          !canonical(m, &o->via.map.ptr[i].val))
        return false;
    return true;
  case MSGPACK_OBJECT_EXT: {
    if (o->via.ext.type != MPCONN_EXT_SET)
      return true;
    msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY};
    FUZZ_CHECK(mpconn_msg_set_members(m, o, &arr.via.array) == 0);
    msgpack_sbuffer sb = pack(&arr);
    bool ok = same(&sb, o->via.ext.ptr, o->via.ext.size) && canonical(m, &arr);
    msgpack_sbuffer_destroy(&sb);
    return ok;
  }
  default:
    return true;
  }
}

/* encode's conversion of one line into @sb (initialized here). */
static int encode(const char *text, size_t len, msgpack_sbuffer *sb) {
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  struct tool_error err;
  int rc = tool_json_to_msgpack(text, len, &pk, &err);
  if (rc < 0)
    fprintf(stderr, "encode refused %.*s: %s\n", (int)len, text, err.text);
  return rc;
}

/* decode's conversion of a payload that validates; the line, new. */
static char *decode(const void *p, size_t n, size_t *len) {
  mpconn_msg *m;
  int rc = fuzz_msg(p, n, false, &m);
  FUZZ_CHECK_RC(rc == 0, rc);
  char *text = NULL;
  rc = tool_json_from_msgpack(m, mpconn_msg_value(m), &text, len);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(text && strlen(text) == *len);
  FUZZ_CHECK(memchr(text, '\n', *len) == NULL);
  mpconn_msg_free(m);
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (mpconn__validate(data, size) < 0)
    return 0;
  size_t len;
  char *text = decode(data, size, &len);
  char *ref = reference(data, size);
  FUZZ_CHECK(!ref || strcmp(ref, text) == 0);
  free(ref);

  msgpack_sbuffer sb;
  FUZZ_CHECK(encode(text, len, &sb) == 0);
  FUZZ_CHECK(mpconn__validate((const uint8_t *)sb.data, sb.size) == 0);
  size_t len2;
  char *text2 = decode(sb.data, sb.size, &len2);
  FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);

  /* Byte identity for canonical input. */
  mpconn_msg *m;
  FUZZ_CHECK(fuzz_msg(data, size, false, &m) == 0);
  msgpack_sbuffer repacked = pack(mpconn_msg_value(m));
  if (same(&repacked, data, size) && canonical(m, mpconn_msg_value(m)))
    FUZZ_CHECK(same(&sb, data, size));

  msgpack_sbuffer_destroy(&repacked);
  mpconn_msg_free(m);
  free(text2);
  msgpack_sbuffer_destroy(&sb);
  free(text);
  return 0;
}
