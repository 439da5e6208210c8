/* SPDX-License-Identifier: MIT */
/*
 * JSON text to msgpack values, through jansson's json_t.  Everything that
 * knows about jansson is in this file.
 *
 * Integers above INT64_MAX, which msgpack has and json_t has not (it holds
 * int64 only, and jansson refuses to parse anything larger), travel around
 * jansson: hide_bigs() finds every integer token of a line in
 * (INT64_MAX, UINT64_MAX], remembers its value and its ordinal among the
 * line's integer tokens, and overwrites it in a copy by "0" and spaces,
 * which keeps every byte offset for error messages.  jansson parses the
 * copy.  The integer values of valid JSON are exactly its integer tokens,
 * and jansson keeps object members in the order of the text (duplicate
 * keys are refused), so a walk of the json_t tree in document order meets
 * the integers in token order: it counts them and takes the remembered
 * value at each remembered ordinal.  Nothing here parses JSON beyond
 * telling strings from numbers; jansson still checks every value.
 */
#include "json.h"

#include "base64.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

void tool_json_init(void) {
  /* jansson seeds its hash function on first use; do it before two
   * threads use it. */
  json_object_seed(0);
}

/* ------------------------------------------------------------------------ */
/* Integers above INT64_MAX                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The integer tokens of a JSON text in document order: the numbers outside
 * strings that have neither a fraction nor an exponent.  Exact for valid
 * JSON (every such token is one integer value); for other text the tokens
 * found are unspecified but always within the text.
 */
struct int_scan {
  const char *p, *end;
};

/* The next integer token: true and its bounds, or false at the end. */
static bool next_int(struct int_scan *s, const char **tok, size_t *len) {
  const char *p = s->p, *end = s->end;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      /* Skip the string; an escape hides the character after it. */
      for (p++; p < end && *p != '"'; p++)
        if (*p == '\\' && p + 1 < end)
          p++;
      if (p < end)
        p++;
      continue;
    }
    if (c != '-' && !(c >= '0' && c <= '9')) {
      p++;
      continue;
    }
    const char *start = p;
    bool integer = true;
    for (; p < end; p++) {
      c = *p;
      if (c == '.' || c == 'e' || c == 'E')
        integer = false;
      else if (c != '-' && c != '+' && !(c >= '0' && c <= '9'))
        break;
    }
    if (integer) {
      s->p = p;
      *tok = start;
      *len = (size_t)(p - start);
      return true;
    }
  }
  s->p = p;
  return false;
}

/*
 * Whether an integer token is valid JSON for a value above INT64_MAX that
 * still fits in uint64_t (digits only, no leading zero); if so, *v gets it.
 */
static bool big_uint(const char *tok, size_t len, uint64_t *v) {
  /* INT64_MAX has 19 digits and UINT64_MAX 20. */
  if (len < 19 || len > 20 || tok[0] == '0')
    return false;
  uint64_t x = 0;
  for (size_t i = 0; i < len; i++) {
    if (tok[i] < '0' || tok[i] > '9')
      return false;
    unsigned d = (unsigned)(tok[i] - '0');
    if (x > (UINT64_MAX - d) / 10)
      return false;
    x = x * 10 + d;
  }
  if (x <= (uint64_t)INT64_MAX)
    return false;
  *v = x;
  return true;
}

/* An integer above INT64_MAX: the ordinal-th integer token of the line. */
struct big {
  size_t ordinal;
  uint64_t value;
  size_t start, len; /* where the token is */
};

/* A growing list, in document order. */
struct bigs {
  struct big *v;
  size_t n, cap;
};

static int add_big(struct bigs *b, struct big x) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 8;
    struct big *v = realloc(b->v, cap * sizeof(*v));
    if (!v)
      return MPCONN_ENOMEM;
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = x;
  return 0;
}

/*
 * Find the big integers of a line: each with ordinal, value and token.
 * *copy receives a copy of the text with each of them replaced by "0" and
 * spaces, or NULL when there are none (parse the text itself).
 * Return: 0, or MPCONN_ENOMEM.
 */
static int hide_bigs(const char *text, size_t len, struct bigs *b,
                     char **copy) {
  struct int_scan scan = {text, text + len};
  const char *tok;
  size_t toklen, ordinal = 0;
  uint64_t u;
  *copy = NULL;
  for (; next_int(&scan, &tok, &toklen); ordinal++) {
    if (!big_uint(tok, toklen, &u))
      continue;
    size_t at = (size_t)(tok - text);
    if (!*copy) {
      if (!(*copy = malloc(len)))
        return MPCONN_ENOMEM;
      memcpy(*copy, text, len);
    }
    if (add_big(b, (struct big){ordinal, u, at, toklen}) < 0) {
      free(*copy);
      *copy = NULL;
      return MPCONN_ENOMEM;
    }
    memset(*copy + at, ' ', toklen);
    (*copy)[at] = '0';
  }
  return 0;
}

/* Whether jansson's error position @pos lies on a hidden token. */
static bool at_big(const struct bigs *b, int pos) {
  /* jansson's position is just past the token it complains about. */
  for (size_t i = 0; i < b->n; i++)
    if (pos > 0 && (size_t)pos > b->v[i].start &&
        (size_t)pos <= b->v[i].start + b->v[i].len)
      return true;
  return false;
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                 */
/* ------------------------------------------------------------------------ */

struct in {
  const struct bigs *big;
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
  struct bigs big = {0};
  char *copy;
  err->column = 0;
  err->text[0] = '\0';
  if (hide_bigs(line, len, &big, &copy) < 0) {
    free(big.v);
    return fail(&in, "out of memory");
  }
  json_error_t jerr;
  json_t *root = json_loadb(copy ? copy : line, len, LOAD_FLAGS, &jerr);
  if (!root && copy && at_big(&big, jerr.position)) {
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
  free(big.v);
  return rc;
}
