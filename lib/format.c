/* SPDX-License-Identifier: MIT */
/*
 * Format strings: the syntax pass and error reporting shared with
 * unpackf.c, and packing.
 *
 * The syntax pass reads the format alone.  It rejects a bad format before
 * any argument is read or any byte is packed, and it counts every
 * container's items, because msgpack headers carry the count up front.
 */
#include "mpconn-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_sep(char c) {
  return c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' ||
         c == '\r' || c == '\f' || c == '\v';
}

char mpconn__fmt_next(const char *fmt, size_t *pos) {
  while (is_sep(fmt[*pos]))
    (*pos)++;
  return fmt[*pos];
}

/* ------------------------------------------------------------------------ */
/* Errors and paths                                                         */
/* ------------------------------------------------------------------------ */

struct out {
  char *p;
  size_t size, len; /* len counts what did not fit too */
};

static void put(struct out *o, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++, o->len++)
    if (o->len + 1 < o->size)
      o->p[o->len] = s[i];
}

static void put_str(struct out *o, const char *s) { put(o, s, strlen(s)); }

static bool is_ident(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

static void put_key(struct out *o, const msgpack_object *k) {
  char num[32];
  switch (k->type) {
  case MSGPACK_OBJECT_STR:
    if (is_ident(k->via.str.ptr, k->via.str.size)) {
      put(o, ".", 1);
      put(o, k->via.str.ptr, k->via.str.size);
      return;
    }
    put(o, "[\"", 2);
    for (uint32_t i = 0; i < k->via.str.size; i++) {
      unsigned char c = (unsigned char)k->via.str.ptr[i];
      if (c == '"' || c == '\\') {
        char esc[2] = {'\\', (char)c};
        put(o, esc, 2);
      } else if (c < 0x20 || c == 0x7f) {
        snprintf(num, sizeof(num), "\\x%02x", c);
        put_str(o, num);
      } else {
        put(o, (const char *)&c, 1);
      }
    }
    put(o, "\"]", 2);
    return;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    snprintf(num, sizeof(num), "[%llu]", (unsigned long long)k->via.u64);
    break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    snprintf(num, sizeof(num), "[%lld]", (long long)k->via.i64);
    break;
  case MSGPACK_OBJECT_NIL:
    snprintf(num, sizeof(num), "[nil]");
    break;
  case MSGPACK_OBJECT_BOOLEAN:
    snprintf(num, sizeof(num), "[%s]", k->via.boolean ? "true" : "false");
    break;
  default:
    snprintf(num, sizeof(num), "[?]");
    break;
  }
  put_str(o, num);
}

void mpconn__path_render(const struct mpconn__path *p, char *out, size_t size) {
  struct out o = {.p = out, .size = size};
  if (size == 0)
    return;
  put(&o, "$", 1);
  for (unsigned i = 0; p && i < p->depth; i++) {
    const struct mpconn__step *s = &p->step[i];
    char num[24];
    switch (s->kind) {
    case '[':
      snprintf(num, sizeof(num), "[%u]", (unsigned)s->index);
      put_str(&o, num);
      break;
    case '<':
      snprintf(num, sizeof(num), "<%u>", (unsigned)s->index);
      put_str(&o, num);
      break;
    case '{':
      put_key(&o, &s->key);
      break;
    default: /* a map key: the path of the map */
      break;
    }
  }
  /* A path cut short says so rather than naming another place. */
  if (o.len >= size && size > 4)
    memcpy(out + size - 4, "...", 3);
  out[o.len < size ? o.len : size - 1] = '\0';
}

int mpconn__fmt_fail(mpconn_error *err, int code, size_t pos, const char *path,
                     const char *msg, ...) {
  if (!err)
    return code;
  err->code = code;
  err->position = pos;
  snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
  int n = snprintf(err->text, sizeof(err->text), "format position %zu: ", pos);
  if (n < 0 || (size_t)n >= sizeof(err->text))
    return code;
  va_list ap;
  va_start(ap, msg);
  vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, msg, ap);
  va_end(ap);
  return code;
}

/* ------------------------------------------------------------------------ */
/* The syntax pass                                                          */
/* ------------------------------------------------------------------------ */

/* A format character for a message: 'x', or its byte value. */
static const char *show(char c, char buf[8]) {
  if (c > 0x20 && c < 0x7f)
    snprintf(buf, 8, "'%c'", c);
  else
    snprintf(buf, 8, "0x%02x", (unsigned char)c);
  return buf;
}

static int syntax(mpconn_error *err, size_t pos, const char *msg, char c) {
  char buf[8];
  return mpconn__fmt_fail(err, MPCONN_EFORMAT, pos, NULL, msg, show(c, buf));
}

struct open {
  char close;
  bool in_set; /* this container or one around it is a set */
  uint32_t items;
  size_t box;
  size_t pos;
};

static int add_box(struct mpconn__fmt *f) {
  if (f->nbox == f->cap) {
    size_t cap = 2 * f->cap;
    struct mpconn__box *b = malloc(cap * sizeof(*b));
    if (!b)
      return MPCONN_ENOMEM;
    memcpy(b, f->box, f->nbox * sizeof(*b));
    if (f->box != f->inline_box)
      free(f->box);
    f->box = b;
    f->cap = cap;
  }
  f->box[f->nbox] = (struct mpconn__box){0};
  return 0;
}

void mpconn__fmt_free(struct mpconn__fmt *f) {
  if (f->box != f->inline_box)
    free(f->box);
  f->box = f->inline_box;
}

int mpconn__fmt_parse(struct mpconn__fmt *f, const char *fmt, bool unpack,
                      mpconn_error *err) {
  struct open st[MPCONN_MAX_DEPTH];
  unsigned depth = 0;
  uint32_t top_items = 0;
  size_t i = 0;
  int rc;

  f->fmt = fmt;
  f->box = f->inline_box;
  f->nbox = 0;
  f->cap = sizeof(f->inline_box) / sizeof(f->inline_box[0]);

#define FAIL(pos, msg, c)                                                      \
  do {                                                                         \
    mpconn__fmt_free(f);                                                       \
    return syntax(err, (pos), (msg), (c));                                     \
  } while (0)

  for (;;) {
    char c = mpconn__fmt_next(fmt, &i);
    size_t at = i;
    if (!c)
      break;
    struct open *o = depth ? &st[depth - 1] : NULL;
    bool key = o && o->close == '}' && o->items % 2 == 0;

    switch (c) {
    case ']':
    case '}':
    case '>':
      if (!o)
        FAIL(at, "%s closes nothing", c);
      if (o->close != c)
        FAIL(at, "%s does not close the container open here", c);
      if (c == '}' && !key)
        FAIL(at, "%s ends a map after a key with no value", c);
      f->box[o->box].n = c == '}' ? o->items / 2 : o->items;
      depth--;
      i++;
      continue;
    case '*':
      if (!unpack)
        FAIL(at, "%s is only for unpacking", c);
      if (!o)
        FAIL(at, "%s must be inside a container", c);
      if (o->close == '}' && !key)
        FAIL(at, "%s stands where a map value belongs", c);
      i++;
      if (mpconn__fmt_next(fmt, &i) != o->close)
        FAIL(at, "%s must be the last item of its container", c);
      f->box[o->box].rest = true;
      continue;
    case '?':
      if (!unpack)
        FAIL(at, "%s is only for unpacking", c);
      FAIL(at, "%s must follow the 's' of a map key", c);
    case '#':
      FAIL(at, "%s must follow 's' or 'y'", c);
    default:
      break;
    }

    if (!o && top_items == 1)
      FAIL(at, "%s starts a second value; a format describes one", c);
    if (unpack && key && c != 's')
      FAIL(at, "%s cannot be a map key when unpacking; keys are 's'", c);

    i++;
    switch (c) {
    case 'n':
    case 'b':
    case 'i':
    case 'I':
    case 'U':
    case 'f':
      break;
    case 's':
      if (fmt[i] == '#') {
        if (unpack && key)
          FAIL(i, "%s: a map key is a plain 's' when unpacking", fmt[i]);
        i++;
      } else if (fmt[i] == '?') {
        if (!unpack)
          FAIL(i, "%s is only for unpacking", '?');
        if (!key)
          FAIL(i, "%s must follow the 's' of a map key", '?');
        i++;
      }
      break;
    case 'y':
      if (fmt[i] != '#')
        FAIL(at, "%s needs '#' and a length", c);
      i++;
      break;
    case 'O':
      if (unpack && o && o->in_set)
        FAIL(at,
             "%s inside a set: the object would outlive the set's "
             "members",
             c);
      break;
    case '[':
    case '{':
    case '<':
      if (depth == MPCONN_MAX_DEPTH)
        FAIL(at, "%s nests deeper than MPCONN_MAX_DEPTH", c);
      rc = add_box(f);
      if (rc < 0) {
        mpconn__fmt_free(f);
        return mpconn__fmt_fail(err, rc, at, NULL, "out of memory");
      }
      st[depth] = (struct open){
          .close = c == '['   ? ']'
                   : c == '{' ? '}'
                              : '>',
          .in_set = c == '<' || (o && o->in_set),
          .box = f->nbox++,
          .pos = at,
      };
      depth++;
      break;
    default:
      FAIL(at, "%s is not a format character", c);
    }
    if (o)
      o->items++;
    else
      top_items++;
  }

  if (depth) {
    char buf[8];
    mpconn__fmt_free(f);
    return mpconn__fmt_fail(
        err, MPCONN_EFORMAT, i, NULL, "%s at position %zu is not closed",
        show(fmt[st[depth - 1].pos], buf), st[depth - 1].pos);
  }
  if (!top_items) {
    mpconn__fmt_free(f);
    return mpconn__fmt_fail(err, MPCONN_EFORMAT, i, NULL,
                            "the format describes no value");
  }
  return 0;
#undef FAIL
}

/* ------------------------------------------------------------------------ */
/* Packing                                                                  */
/* ------------------------------------------------------------------------ */

struct packf {
  const char *fmt;
  size_t pos;
  const struct mpconn__fmt *f;
  size_t next_box;
  va_list ap;
  mpconn_error *err;
  struct mpconn__path path;
};

static int pack_item(struct packf *s, msgpack_packer *pk, msgpack_object *key);

static int pack_fail(struct packf *s, int code, size_t at, const char *what) {
  char where[sizeof(s->err->path)];
  if (!s->err)
    return code;
  mpconn__path_render(&s->path, where, sizeof(where));
  return mpconn__fmt_fail(s->err, code, at, where, "%s at %s", what, where);
}

static int bad_arg(struct packf *s, size_t at, const char *what) {
  return pack_fail(s, MPCONN_EINVAL, at, what);
}

static int no_memory(struct packf *s, size_t at) {
  return pack_fail(s, MPCONN_ENOMEM, at, "the packer failed (out of memory)");
}

/* The items of a container up to its closing character. */
static int pack_items(struct packf *s, msgpack_packer *pk, char kind,
                      uint32_t n) {
  struct mpconn__step *step = &s->path.step[s->path.depth++];
  for (uint32_t i = 0; i < n; i++) {
    int rc;
    step->index = i;
    if (kind == '{') {
      step->kind = 'k';
      step->key.type = MSGPACK_OBJECT_EXT; /* prints as [?] */
      rc = pack_item(s, pk, &step->key);
      if (rc < 0)
        return rc;
      step->kind = '{';
    } else {
      step->kind = kind;
    }
    rc = pack_item(s, pk, NULL);
    if (rc < 0)
      return rc;
  }
  s->path.depth--;
  mpconn__fmt_next(s->fmt, &s->pos);
  s->pos++; /* the closing character */
  return 0;
}

/* The members of a set, for mpconn_pack_set_with(). */
struct set_members {
  struct packf *s;
  uint32_t n;
  int rc; /* of the members themselves */
};

static int pack_members(msgpack_packer *pk, void *arg) {
  struct set_members *m = arg;
  return m->rc = pack_items(m->s, pk, '<', m->n);
}

static int pack_set(struct packf *s, msgpack_packer *pk, size_t at,
                    uint32_t n) {
  struct set_members m = {s, n, 0};
  int rc = mpconn_pack_set_with(pk, n, pack_members, &m);
  if (rc == 0 || m.rc < 0) /* the members' failures are reported already */
    return rc;
  if (rc == MPCONN_ETOOBIG)
    return bad_arg(s, at, "a set larger than 4 GiB");
  return no_memory(s, at); /* the members' buffer or @pk could not grow */
}

/*
 * Pack the item at s->pos.  When @key is not NULL the item is a map key,
 * and scalars are recorded there for error paths.
 */
static int pack_item(struct packf *s, msgpack_packer *pk, msgpack_object *key) {
  char c = mpconn__fmt_next(s->fmt, &s->pos);
  size_t at = s->pos++;
  msgpack_object k = {.type = MSGPACK_OBJECT_EXT};
  int w;

  switch (c) {
  case 'n':
    w = msgpack_pack_nil(pk);
    k.type = MSGPACK_OBJECT_NIL;
    break;
  case 'b': {
    bool v = va_arg(s->ap, int) != 0;
    w = v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    k.type = MSGPACK_OBJECT_BOOLEAN;
    k.via.boolean = v;
    break;
  }
  case 'i':
  case 'I': {
    int64_t v = c == 'i' ? va_arg(s->ap, int) : va_arg(s->ap, int64_t);
    w = msgpack_pack_int64(pk, v);
    k.type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER
                   : MSGPACK_OBJECT_POSITIVE_INTEGER;
    k.via.i64 = v;
    break;
  }
  case 'U': {
    uint64_t v = va_arg(s->ap, uint64_t);
    w = msgpack_pack_uint64(pk, v);
    k.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    k.via.u64 = v;
    break;
  }
  case 'f':
    w = msgpack_pack_double(pk, va_arg(s->ap, double));
    break;
  case 's':
  case 'y': {
    const char *p = va_arg(s->ap, const char *);
    size_t len;
    if (s->fmt[s->pos] == '#') {
      s->pos++;
      len = va_arg(s->ap, size_t);
      if (!p && len)
        return bad_arg(s, at, "a NULL pointer with a length");
    } else {
      if (!p)
        return bad_arg(s, at, "a NULL string");
      len = strlen(p);
    }
    if (len > UINT32_MAX)
      return bad_arg(s, at, "a string longer than 4 GiB");
    if (c == 's') {
      w = msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, p, len);
      k.type = MSGPACK_OBJECT_STR;
      k.via.str.ptr = p;
      k.via.str.size = (uint32_t)len;
    } else {
      w = msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, p, len);
    }
    break;
  }
  case 'O': {
    const msgpack_object *o = va_arg(s->ap, const msgpack_object *);
    if (!o)
      return bad_arg(s, at, "a NULL object");
    w = msgpack_pack_object(pk, *o);
    k = *o;
    break;
  }
  case '[':
  case '{': {
    uint32_t n = s->f->box[s->next_box++].n;
    w = c == '[' ? msgpack_pack_array(pk, n) : msgpack_pack_map(pk, n);
    if (w)
      return no_memory(s, at);
    return pack_items(s, pk, c, n);
  }
  default: /* '<', the only one the syntax pass leaves */
    return pack_set(s, pk, at, s->f->box[s->next_box++].n);
  }
  if (w)
    return no_memory(s, at);
  if (key)
    *key = k;
  return 0;
}

int mpconn_vpackf(msgpack_packer *pk, mpconn_error *err, const char *fmt,
                  va_list ap) {
  if (!pk || !fmt)
    return mpconn__fmt_fail(err, MPCONN_EINVAL, 0, NULL,
                            "no packer or no format");
  struct mpconn__fmt f;
  int rc = mpconn__fmt_parse(&f, fmt, false, err);
  if (rc < 0)
    return rc;
  struct packf s = {.fmt = fmt, .f = &f, .err = err};
  va_copy(s.ap, ap);
  rc = pack_item(&s, pk, NULL);
  va_end(s.ap);
  mpconn__fmt_free(&f);
  return rc;
}

int mpconn_packf(msgpack_packer *pk, mpconn_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vpackf(pk, err, fmt, ap);
  va_end(ap);
  return rc;
}
