/* SPDX-License-Identifier: MIT */
/*
 * msgpack values to JSON text and back, through jansson's json_t.
 * Integers above INT64_MAX, which json_t cannot hold, travel around it in
 * the text: see bigint.h.
 */
#include "json.h"

#include "base64.h"
#include "bigint.h"
#include "lex.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS                                                             \
  (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |                      \
   JSON_REAL_PRECISION(17))
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* ------------------------------------------------------------------------ */
/* msgpack to JSON                                                          */
/* ------------------------------------------------------------------------ */

struct out {
  mpconn_msg *m;
  size_t ints; /* integers made so far, in document order */
  struct tool_bigs big;
  int rc; /* why the last NULL was returned; 0 means out of memory */
};

static json_t *out_value(struct out *o, const msgpack_object *v);

static json_t *out_int(struct out *o, json_int_t v) {
  o->ints++;
  return json_integer(v);
}

static json_t *out_big(struct out *o, uint64_t v) {
  if (tool_bigs_add(&o->big,
                    (struct tool_big){.ordinal = o->ints, .value = v}) < 0)
    return NULL;
  return out_int(o, 0);
}

/* {"<tag>": v}; steals v. */
static json_t *tagged(const char *tag, json_t *v) {
  json_t *obj = json_object();
  if (!obj || json_object_set_new_nocheck(obj, tag, v) < 0) {
    json_decref(obj);
    if (!obj)
      json_decref(v);
    return NULL;
  }
  return obj;
}

static json_t *b64_string(const char *p, size_t n) {
  char *text;
  size_t len;
  if (tool_base64_encode(p, n, &text, &len) < 0)
    return NULL;
  json_t *s = json_stringn_nocheck(text, len);
  free(text);
  return s;
}

static json_t *out_float(double d) {
  if (isfinite(d))
    return json_real(d);
  const char *name = isnan(d) ? "nan" : d > 0 ? "inf" : "-inf";
  return tagged("$float", json_string_nocheck(name));
}

static json_t *out_array(struct out *o, const msgpack_object *items,
                         uint32_t n) {
  json_t *a = json_array();
  if (!a)
    return NULL;
  for (uint32_t i = 0; i < n; i++) {
    if (json_array_append_new(a, out_value(o, &items[i])) < 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

/* msgpack-c leaves the pointer of an empty str NULL; jansson wants one. */
static const char *str_ptr(const msgpack_object_str *s) {
  return s->size ? s->ptr : "";
}

/* A key a JSON object can hold: jansson cannot read a NUL in one. */
static bool plain_key(const msgpack_object *k) {
  return k->type == MSGPACK_OBJECT_STR &&
         tool_utf8_valid(k->via.str.ptr, k->via.str.size) &&
         !memchr(str_ptr(&k->via.str), '\0', k->via.str.size);
}

/* A JSON object, or NULL with o->rc == 1 when the map is not one. */
static json_t *out_object(struct out *o, const msgpack_object_map *map) {
  for (uint32_t i = 0; i < map->size; i++)
    if (!plain_key(&map->ptr[i].key))
      goto not_object;
  if (map->size == 1 && map->ptr[0].key.via.str.size > 0 &&
      map->ptr[0].key.via.str.ptr[0] == '$')
    goto not_object;
  json_t *obj = json_object();
  if (!obj)
    return NULL;
  /* Keys first: duplicates show before any value, and any integer, is
   * made.  Setting a value later keeps the key where it is. */
  for (uint32_t i = 0; i < map->size; i++) {
    const msgpack_object_str *k = &map->ptr[i].key.via.str;
    if (json_object_setn_new_nocheck(obj, str_ptr(k), k->size, json_null()) < 0)
      goto fail;
  }
  if (json_object_size(obj) != map->size) {
    json_decref(obj);
    goto not_object;
  }
  for (uint32_t i = 0; i < map->size; i++) {
    const msgpack_object_str *k = &map->ptr[i].key.via.str;
    json_t *v = out_value(o, &map->ptr[i].val);
    if (json_object_setn_new_nocheck(obj, str_ptr(k), k->size, v) < 0)
      goto fail;
  }
  return obj;
fail:
  json_decref(obj);
  return NULL;
not_object:
  o->rc = 1;
  return NULL;
}

static json_t *out_map(struct out *o, const msgpack_object_map *map) {
  json_t *obj = out_object(o, map);
  if (obj || o->rc != 1)
    return obj;
  o->rc = 0;
  json_t *pairs = json_array();
  if (!pairs)
    return NULL;
  for (uint32_t i = 0; i < map->size; i++) {
    json_t *pair = json_array();
    if (json_array_append_new(pair, out_value(o, &map->ptr[i].key)) < 0 ||
        json_array_append_new(pair, out_value(o, &map->ptr[i].val)) < 0 ||
        json_array_append_new(pairs, pair) < 0) {
      json_decref(pair);
      json_decref(pairs);
      return NULL;
    }
  }
  return tagged("$map", pairs);
}

static json_t *out_ext(struct out *o, const msgpack_object *v) {
  const msgpack_object_ext *e = &v->via.ext;
  if (e->type == MPCONN_EXT_SET) {
    msgpack_object_array members;
    int rc = mpconn_msg_set_members(o->m, v, &members);
    if (rc < 0) {
      o->rc = rc;
      return NULL;
    }
    return tagged("$set", out_array(o, members.ptr, members.size));
  }
  json_t *pair = json_array();
  if (json_array_append_new(pair, out_int(o, e->type)) < 0 ||
      json_array_append_new(pair, b64_string(e->ptr, e->size)) < 0) {
    json_decref(pair);
    return NULL;
  }
  return tagged("$ext", pair);
}

static json_t *out_value(struct out *o, const msgpack_object *v) {
  switch (v->type) {
  case MSGPACK_OBJECT_NIL:
    return json_null();
  case MSGPACK_OBJECT_BOOLEAN:
    return json_boolean(v->via.boolean);
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    if (v->via.u64 > (uint64_t)INT64_MAX)
      return out_big(o, v->via.u64);
    return out_int(o, (json_int_t)v->via.u64);
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return out_int(o, v->via.i64);
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return out_float(v->via.f64);
  case MSGPACK_OBJECT_STR:
    if (tool_utf8_valid(v->via.str.ptr, v->via.str.size))
      return json_stringn_nocheck(str_ptr(&v->via.str), v->via.str.size);
    return tagged("$str", b64_string(v->via.str.ptr, v->via.str.size));
  case MSGPACK_OBJECT_BIN:
    return tagged("$bytes", b64_string(v->via.bin.ptr, v->via.bin.size));
  case MSGPACK_OBJECT_ARRAY:
    return out_array(o, v->via.array.ptr, v->via.array.size);
  case MSGPACK_OBJECT_MAP:
    return out_map(o, &v->via.map);
  case MSGPACK_OBJECT_EXT:
    return out_ext(o, v);
  }
  o->rc = MPCONN_EBADVALUE;
  return NULL;
}

int tool_json_from_msgpack(mpconn_msg *m, const msgpack_object *v, char **text,
                           size_t *len) {
  struct out o = {.m = m};
  json_t *root = out_value(&o, v);
  int rc = 0;
  char *s = NULL;
  size_t n = 0;
  if (!root) {
    rc = o.rc < 0 ? o.rc : MPCONN_ENOMEM;
  } else {
    s = json_dumps(root, DUMP_FLAGS);
    json_decref(root);
    if (!s)
      rc = MPCONN_ENOMEM;
    else
      n = strlen(s); /* NUL inside strings is printed as \u0000 */
  }
  if (!rc && o.big.n)
    rc = tool_bigs_splice(&o.big, &s, &n);
  tool_bigs_free(&o.big);
  if (rc < 0) {
    free(s);
    return rc;
  }
  *text = s;
  *len = n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON to msgpack                                                          */
/* ------------------------------------------------------------------------ */

struct in {
  const struct tool_bigs *big;
  size_t next; /* the next entry of big to meet */
  size_t ints; /* integers met so far, in document order */
  msgpack_packer *pk;
  struct tool_error *err;
};

__attribute__((format(printf, 2, 3))) static int fail(struct in *in,
                                                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in->err->text, sizeof(in->err->text), fmt, ap);
  va_end(ap);
  in->err->column = 0;
  return -1;
}

/* msgpack-c packers fail only when their buffer cannot grow. */
#define PACK(in, call)                                                         \
  do {                                                                         \
    if ((call) != 0)                                                           \
      return fail(in, "out of memory");                                        \
  } while (0)

static int in_value(struct in *in, json_t *j, unsigned depth);

/* Meet the next integer: true and *u when it is one above INT64_MAX. */
static bool in_big(struct in *in, uint64_t *u) {
  size_t ordinal = in->ints++;
  if (in->next < in->big->n && in->big->v[in->next].ordinal == ordinal) {
    *u = in->big->v[in->next++].value;
    return true;
  }
  return false;
}

/* A container at @depth enclosing containers is level depth + 1. */
static int in_level(struct in *in, unsigned depth) {
  if (depth >= MPCONN_MAX_DEPTH)
    return fail(in,
                "nested too deeply: more than %d levels of arrays, maps "
                "and sets",
                MPCONN_MAX_DEPTH);
  return 0;
}

static int in_base64(struct in *in, const char *form, json_t *s,
                     unsigned char **data, size_t *len) {
  int rc = tool_base64_decode(json_string_value(s), json_string_length(s), data,
                              len);
  if (rc == MPCONN_ENOMEM)
    return fail(in, "out of memory");
  if (rc < 0)
    return fail(in, "%s: invalid base64", form);
  if (*len > UINT32_MAX) {
    free(*data);
    return fail(in, "%s: too long for msgpack", form);
  }
  return 0;
}

static int in_float(struct in *in, json_t *v) {
  static const struct {
    const char *name;
    double value;
  } names[] = {{"nan", NAN}, {"inf", INFINITY}, {"-inf", -INFINITY}};
  if (json_is_string(v)) {
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
      if (json_string_length(v) == strlen(names[i].name) &&
          strcmp(json_string_value(v), names[i].name) == 0) {
        PACK(in, msgpack_pack_double(in->pk, names[i].value));
        return 0;
      }
    }
  }
  return fail(in, "$float: expected \"nan\", \"inf\" or \"-inf\"");
}

/* $str and $bytes. */
static int in_raw(struct in *in, const char *form, json_t *v, bool str) {
  if (!json_is_string(v))
    return fail(in, "%s: expected a base64 string", form);
  unsigned char *data;
  size_t len;
  if (in_base64(in, form, v, &data, &len) < 0)
    return -1;
  int rc = str ? msgpack_pack_str(in->pk, len) : msgpack_pack_bin(in->pk, len);
  if (!rc)
    rc = str ? msgpack_pack_str_body(in->pk, data, len)
             : msgpack_pack_bin_body(in->pk, data, len);
  free(data);
  PACK(in, rc);
  return 0;
}

/* The members of a $set, for mpconn_pack_set_with(). */
struct set_members {
  struct in *in;
  json_t *v;
  unsigned depth;
  int rc; /* of the members themselves */
};

static int pack_members(msgpack_packer *pk, void *arg) {
  struct set_members *m = arg;
  msgpack_packer *outer = m->in->pk;
  m->in->pk = pk;
  for (size_t i = 0; !m->rc && i < json_array_size(m->v); i++)
    m->rc = in_value(m->in, json_array_get(m->v, i), m->depth + 1);
  m->in->pk = outer;
  return m->rc;
}

static int in_set(struct in *in, json_t *v, unsigned depth) {
  if (!json_is_array(v))
    return fail(in, "$set: expected an array");
  if (in_level(in, depth) < 0)
    return -1;
  struct set_members m = {in, v, depth, 0};
  int rc = mpconn_pack_set_with(in->pk, json_array_size(v), pack_members, &m);
  if (rc == 0 || m.rc < 0) /* the members' failures are reported already */
    return rc;
  if (rc == MPCONN_ETOOBIG)
    return fail(in, "$set: too long for msgpack");
  return fail(in, "out of memory");
}

static int in_map(struct in *in, json_t *v, unsigned depth) {
  if (!json_is_array(v))
    return fail(in, "$map: expected an array of [key, value] pairs");
  for (size_t i = 0; i < json_array_size(v); i++) {
    json_t *pair = json_array_get(v, i);
    if (!json_is_array(pair) || json_array_size(pair) != 2)
      return fail(in, "$map: expected an array of [key, value] pairs");
  }
  if (in_level(in, depth) < 0)
    return -1;
  PACK(in, msgpack_pack_map(in->pk, json_array_size(v)));
  for (size_t i = 0; i < json_array_size(v); i++) {
    json_t *pair = json_array_get(v, i);
    if (in_value(in, json_array_get(pair, 0), depth + 1) < 0 ||
        in_value(in, json_array_get(pair, 1), depth + 1) < 0)
      return -1;
  }
  return 0;
}

static int in_ext(struct in *in, json_t *v) {
  json_t *type = json_array_get(v, 0), *data = json_array_get(v, 1);
  if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(type) ||
      !json_is_string(data))
    return fail(in, "$ext: expected [type, base64 string]");
  uint64_t u;
  json_int_t t = json_integer_value(type);
  if (in_big(in, &u) || t < INT8_MIN || t > INT8_MAX)
    return fail(in, "$ext: type must be an integer from -128 to 127");
  if (t == MPCONN_EXT_SET)
    return fail(in, "$ext: type %d is a set: use $set", MPCONN_EXT_SET);
  unsigned char *bytes;
  size_t len;
  if (in_base64(in, "$ext", data, &bytes, &len) < 0)
    return -1;
  int rc = msgpack_pack_ext(in->pk, len, (int8_t)t);
  if (!rc)
    rc = msgpack_pack_ext_body(in->pk, bytes, len);
  free(bytes);
  PACK(in, rc);
  return 0;
}

static bool key_is(const char *key, size_t len, const char *form) {
  return len == strlen(form) && memcmp(key, form, len) == 0;
}

static int in_form(struct in *in, const char *key, size_t len, json_t *v,
                   unsigned depth) {
  if (key_is(key, len, "$float"))
    return in_float(in, v);
  if (key_is(key, len, "$str"))
    return in_raw(in, "$str", v, true);
  if (key_is(key, len, "$bytes"))
    return in_raw(in, "$bytes", v, false);
  if (key_is(key, len, "$set"))
    return in_set(in, v, depth);
  if (key_is(key, len, "$map"))
    return in_map(in, v, depth);
  if (key_is(key, len, "$ext"))
    return in_ext(in, v);
  /* The key may hold anything; print it as JSON to keep one line. */
  json_t *k = json_stringn_nocheck(key, len);
  char *quoted = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
  json_decref(k);
  if (!quoted)
    return fail(in, "out of memory");
  fail(in, "unknown form %s", quoted);
  free(quoted);
  return -1;
}

static int in_object(struct in *in, json_t *j, unsigned depth) {
  const char *key;
  size_t len;
  json_t *v;
  if (json_object_size(j) == 1) {
    json_object_keylen_foreach(j, key, len, v) {
      if (len > 0 && key[0] == '$')
        return in_form(in, key, len, v, depth);
    }
  }
  if (in_level(in, depth) < 0)
    return -1;
  PACK(in, msgpack_pack_map(in->pk, json_object_size(j)));
  json_object_keylen_foreach(j, key, len, v) {
    PACK(in, msgpack_pack_str(in->pk, len));
    PACK(in, msgpack_pack_str_body(in->pk, key, len));
    if (in_value(in, v, depth + 1) < 0)
      return -1;
  }
  return 0;
}

static int in_value(struct in *in, json_t *j, unsigned depth) {
  uint64_t u;
  switch (json_typeof(j)) {
  case JSON_NULL:
    PACK(in, msgpack_pack_nil(in->pk));
    return 0;
  case JSON_TRUE:
    PACK(in, msgpack_pack_true(in->pk));
    return 0;
  case JSON_FALSE:
    PACK(in, msgpack_pack_false(in->pk));
    return 0;
  case JSON_INTEGER:
    if (in_big(in, &u))
      PACK(in, msgpack_pack_uint64(in->pk, u));
    else
      PACK(in, msgpack_pack_int64(in->pk, json_integer_value(j)));
    return 0;
  case JSON_REAL:
    PACK(in, msgpack_pack_double(in->pk, json_real_value(j)));
    return 0;
  case JSON_STRING:
    if (json_string_length(j) > UINT32_MAX)
      return fail(in, "string too long for msgpack");
    PACK(in, msgpack_pack_str(in->pk, json_string_length(j)));
    PACK(in, msgpack_pack_str_body(in->pk, json_string_value(j),
                                   json_string_length(j)));
    return 0;
  case JSON_ARRAY:
    if (in_level(in, depth) < 0)
      return -1;
    PACK(in, msgpack_pack_array(in->pk, json_array_size(j)));
    for (size_t i = 0; i < json_array_size(j); i++)
      if (in_value(in, json_array_get(j, i), depth + 1) < 0)
        return -1;
    return 0;
  case JSON_OBJECT:
    return in_object(in, j, depth);
  }
  return fail(in, "unexpected JSON value");
}

int tool_json_to_msgpack(const char *line, size_t len, msgpack_packer *pk,
                         struct tool_error *err) {
  struct in in = {.pk = pk, .err = err};
  struct tool_bigs big = {0};
  char *copy;
  err->column = 0;
  err->text[0] = '\0';
  if (tool_bigs_hide(line, len, &big, &copy) < 0) {
    tool_bigs_free(&big);
    return fail(&in, "out of memory");
  }
  json_error_t jerr;
  json_t *root = json_loadb(copy ? copy : line, len, LOAD_FLAGS, &jerr);
  if (!root && copy && tool_bigs_at(&big, jerr.position)) {
    /* An integer where none may stand: let jansson speak about the text as
     * written, which fails too (it holds a too big integer). */
    json_decref(json_loadb(line, len, LOAD_FLAGS, &jerr));
  }
  int rc;
  if (root) {
    in.big = &big;
    rc = in_value(&in, root, 0);
    json_decref(root);
  } else {
    err->column = jerr.column > 0 ? jerr.column : 0;
    snprintf(err->text, sizeof(err->text), "%s", jerr.text);
    rc = -1;
  }
  free(copy);
  tool_bigs_free(&big);
  return rc;
}
