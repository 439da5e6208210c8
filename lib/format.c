/* SPDX-License-Identifier: MIT */
/*
 * Format strings: the syntax pass, the walk that packing (packf.c) and
 * unpacking (unpackf.c) share, and their errors.
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

/* The character at @i of a format ending at @end (SIZE_MAX: at its NUL);
 * 0 past the end. */
static char peek(const char *fmt, size_t end, size_t i) {
  return i < end ? fmt[i] : 0;
}

/* Skip separators; the character at *pos afterwards, 0 at the end. */
static char skip_sep(const char *fmt, size_t end, size_t *pos) {
  while (is_sep(peek(fmt, end, *pos)))
    (*pos)++;
  return peek(fmt, end, *pos);
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
  put_str(&o, p && p->prefix ? p->prefix : "$");
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

static int vfail(mpconn_error *err, int code, size_t pos, const char *path,
                 const char *msg, va_list ap) {
  if (!err)
    return code;
  err->code = code;
  err->position = pos;
  snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
  int n = snprintf(err->text, sizeof(err->text), "format position %zu: ", pos);
  if (n >= 0 && (size_t)n < sizeof(err->text))
    vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, msg, ap);
  return code;
}

int mpconn__fmt_fail(mpconn_error *err, int code, size_t pos, const char *path,
                     const char *msg, ...) {
  va_list ap;
  va_start(ap, msg);
  vfail(err, code, pos, path, msg, ap);
  va_end(ap);
  return code;
}

int mpconn__err_status(mpconn_error *err, int code) {
  if (!err)
    return code;
  err->code = code;
  err->position = 0;
  err->path[0] = '\0';
  if (code == 0)
    err->text[0] = '\0';
  else
    snprintf(err->text, sizeof(err->text), "%s", mpconn_strerror(code));
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

/* A container the syntax pass is inside. */
struct open {
  char close;
  bool in_set; /* this container or one around it is a set */
  uint32_t items;
  size_t box;
  size_t pos;
};

struct parse {
  struct mpconn__fmt *f;
  const char *fmt;
  size_t i;   /* the next character */
  size_t end; /* SIZE_MAX: the format ends at its NUL */
  bool unpack;
  mpconn_error *err;
  struct open st[MPCONN_MAX_DEPTH];
  unsigned depth;
  uint32_t top_items;
};

static struct open *innermost(struct parse *p) {
  return p->depth ? &p->st[p->depth - 1] : NULL;
}

/* Whether the next item of @o is a map key. */
static bool at_key(const struct open *o) {
  return o && o->close == '}' && o->items % 2 == 0;
}

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

/* ']', '}' or '>' at @at. */
static int parse_close(struct parse *p, char c, size_t at) {
  struct open *o = innermost(p);
  if (!o)
    return syntax(p->err, at, "%s closes nothing", c);
  if (o->close != c)
    return syntax(p->err, at, "%s does not close the container open here", c);
  if (c == '}' && !at_key(o))
    return syntax(p->err, at, "%s ends a map after a key with no value", c);
  struct mpconn__box *box = &p->f->box[o->box];
  box->n = c == '}' ? o->items / 2 : o->items;
  box->end = at + 1;
  box->inner = (uint32_t)(p->f->nbox - o->box - 1);
  p->depth--;
  p->i++;
  return 0;
}

/* "..." at @at: the one item before it is every item of its array or
 * set. */
static int parse_each(struct parse *p, size_t at) {
  struct open *o = innermost(p);
  if (peek(p->fmt, p->end, at + 1) != '.' ||
      peek(p->fmt, p->end, at + 2) != '.')
    return syntax(p->err, at, "%s is not a format character", '.');
  if (!p->unpack)
    return mpconn__fmt_fail(p->err, MPCONN_EFORMAT, at, NULL,
                            "'...' is only for unpacking");
  if (!o || o->close == '}' || o->items != 1 || p->f->box[o->box].each)
    return mpconn__fmt_fail(p->err, MPCONN_EFORMAT, at, NULL,
                            "'...' must follow the only item of an array "
                            "or set");
  p->i = at + 3;
  /* At the end of the format, the container is reported as not closed. */
  char next = skip_sep(p->fmt, p->end, &p->i);
  if (next != 0 && next != o->close)
    return mpconn__fmt_fail(p->err, MPCONN_EFORMAT, at, NULL,
                            "'...' must end its container");
  p->f->box[o->box].each = true;
  p->f->box[o->box].item_end = at;
  return 0;
}

/* '*', '?' or '#' where an item would start. */
static int parse_marker(struct parse *p, char c, size_t at) {
  struct open *o = innermost(p);
  if (c == '#')
    return syntax(p->err, at, "%s must follow 's' or 'y'", c);
  if (!p->unpack)
    return syntax(p->err, at, "%s is only for unpacking", c);
  if (c == '?')
    return syntax(p->err, at, "%s must follow the 's' of a map key", c);
  if (!o)
    return syntax(p->err, at, "%s must be inside a container", c);
  if (o->close == '}' && !at_key(o))
    return syntax(p->err, at, "%s stands where a map value belongs", c);
  p->i++;
  if (skip_sep(p->fmt, p->end, &p->i) != o->close)
    return syntax(p->err, at, "%s must be the last item of its container", c);
  p->f->box[o->box].rest = true;
  return 0;
}

/* What may follow 's' (at p->i now): '#', or '?' after a map key. */
static int parse_string(struct parse *p, bool key) {
  char m = peek(p->fmt, p->end, p->i);
  if (m == '#') {
    if (p->unpack && key)
      return syntax(p->err, p->i,
                    "%s: a map key is a plain 's' when "
                    "unpacking",
                    m);
    p->i++;
  } else if (m == '?') {
    if (!p->unpack)
      return syntax(p->err, p->i, "%s is only for unpacking", m);
    if (!key)
      return syntax(p->err, p->i, "%s must follow the 's' of a map key", m);
    p->i++;
  }
  return 0;
}

/* '[', '{' or '<' at @at. */
static int parse_open(struct parse *p, char c, size_t at) {
  struct open *o = innermost(p);
  if (p->depth == MPCONN_MAX_DEPTH)
    return syntax(p->err, at, "%s nests deeper than MPCONN_MAX_DEPTH", c);
  if (add_box(p->f) < 0)
    return mpconn__fmt_fail(p->err, MPCONN_ENOMEM, at, NULL, "out of memory");
  p->st[p->depth++] = (struct open){
      .close = c == '['   ? ']'
               : c == '{' ? '}'
                          : '>',
      .in_set = c == '<' || (o && o->in_set),
      .box = p->f->nbox++,
      .pos = at,
  };
  return 0;
}

/* An item starting with @c at @at. */
static int parse_item(struct parse *p, char c, size_t at) {
  struct open *o = innermost(p);
  bool key = at_key(o);
  if (!o && p->top_items == 1)
    return syntax(p->err, at,
                  "%s starts a second value; a format describes "
                  "one",
                  c);
  if (p->unpack && key && c != 's')
    return syntax(p->err, at,
                  "%s cannot be a map key when unpacking; keys are 's'", c);
  p->i++;
  int rc = 0;
  switch (c) {
  case 'n':
  case 'b':
  case 'i':
  case 'I':
  case 'U':
  case 'f':
    break;
  case 's':
    rc = parse_string(p, key);
    break;
  case 'y':
    if (peek(p->fmt, p->end, p->i) != '#')
      return syntax(p->err, at, "%s needs '#' and a length", c);
    p->i++;
    break;
  case 'O':
    if (p->unpack && o && o->in_set)
      return syntax(p->err, at,
                    "%s inside a set: the object would outlive the set's "
                    "members",
                    c);
    break;
  case '[':
  case '{':
  case '<':
    rc = parse_open(p, c, at);
    break;
  default:
    return syntax(p->err, at, "%s is not a format character", c);
  }
  if (rc < 0)
    return rc;
  if (o && o->items++ == 0)
    p->f->box[o->box].item_at = at;
  else if (!o)
    p->top_items++;
  return 0;
}

/* After the last character: everything closed, and one value. */
static int parse_end(struct parse *p) {
  if (p->depth) {
    char buf[8];
    const struct open *o = innermost(p);
    return mpconn__fmt_fail(p->err, MPCONN_EFORMAT, p->i, NULL,
                            "%s at position %zu is not closed",
                            show(peek(p->fmt, p->end, o->pos), buf), o->pos);
  }
  if (!p->top_items)
    return mpconn__fmt_fail(p->err, MPCONN_EFORMAT, p->i, NULL,
                            "the format describes no value");
  return 0;
}

int mpconn__fmt_parse_range(struct mpconn__fmt *f, const char *fmt,
                            size_t start, size_t end, bool unpack,
                            mpconn_error *err) {
  f->fmt = fmt;
  f->box = f->inline_box;
  f->nbox = 0;
  f->cap = sizeof(f->inline_box) / sizeof(f->inline_box[0]);
  struct parse p = {
      .f = f, .fmt = fmt, .i = start, .end = end, .unpack = unpack, .err = err};
  int rc = 0;
  char c;
  while (rc == 0 && (c = skip_sep(fmt, end, &p.i)) != 0) {
    size_t at = p.i;
    switch (c) {
    case ']':
    case '}':
    case '>':
      rc = parse_close(&p, c, at);
      break;
    case '*':
    case '?':
    case '#':
      rc = parse_marker(&p, c, at);
      break;
    case '.':
      rc = parse_each(&p, at);
      break;
    default:
      rc = parse_item(&p, c, at);
      break;
    }
  }
  if (rc == 0)
    rc = parse_end(&p);
  if (rc < 0)
    mpconn__fmt_free(f);
  return rc;
}

int mpconn__fmt_parse(struct mpconn__fmt *f, const char *fmt, bool unpack,
                      mpconn_error *err) {
  return mpconn__fmt_parse_range(f, fmt, 0, SIZE_MAX, unpack, err);
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                 */
/* ------------------------------------------------------------------------ */

int mpconn__walk_start_range(struct mpconn__walk *w, const char *fmt,
                             size_t start, size_t end, bool unpack,
                             mpconn_error *err, va_list ap) {
  int rc = mpconn__fmt_parse_range(&w->f, fmt, start, end, unpack, err);
  if (rc < 0)
    return rc;
  w->fmt = fmt;
  w->pos = start;
  w->end = end;
  w->next_box = 0;
  w->err = err;
  w->dry = false;
  w->path.prefix = NULL;
  w->path.depth = 0;
  w->where[0] = '\0';
  va_copy(w->ap, ap);
  return 0;
}

int mpconn__walk_start(struct mpconn__walk *w, const char *fmt, bool unpack,
                       mpconn_error *err, va_list ap) {
  return mpconn__walk_start_range(w, fmt, 0, SIZE_MAX, unpack, err, ap);
}

void mpconn__walk_end(struct mpconn__walk *w) {
  va_end(w->ap);
  mpconn__fmt_free(&w->f);
}

char mpconn__walk_next(struct mpconn__walk *w, size_t *at) {
  char c = skip_sep(w->fmt, w->end, &w->pos);
  *at = w->pos;
  if (c)
    w->pos++;
  return c;
}

size_t mpconn__walk_here(struct mpconn__walk *w) {
  skip_sep(w->fmt, w->end, &w->pos);
  return w->pos;
}

bool mpconn__walk_accept(struct mpconn__walk *w, char c) {
  if (peek(w->fmt, w->end, w->pos) != c)
    return false;
  w->pos++;
  return true;
}

const struct mpconn__box *mpconn__walk_box(struct mpconn__walk *w) {
  return &w->f.box[w->next_box++];
}

void mpconn__walk_close(struct mpconn__walk *w) {
  skip_sep(w->fmt, w->end, &w->pos);
  w->pos++;
}

void mpconn__walk_skip_box(struct mpconn__walk *w,
                           const struct mpconn__box *box) {
  w->pos = box->end;
  w->next_box += box->inner;
}

void mpconn__walk_mark(struct mpconn__walk *w, struct mpconn__mark *m) {
  m->pos = w->pos;
  m->next_box = w->next_box;
  m->depth = w->path.depth;
  va_copy(m->ap, w->ap);
}

void mpconn__walk_reset(struct mpconn__walk *w, struct mpconn__mark *m) {
  w->pos = m->pos;
  w->next_box = m->next_box;
  w->path.depth = m->depth;
  va_end(w->ap);
  va_copy(w->ap, m->ap);
}

void mpconn__walk_unmark(struct mpconn__mark *m) { va_end(m->ap); }

struct mpconn__step *mpconn__walk_push(struct mpconn__walk *w, char kind) {
  struct mpconn__step *step = &w->path.step[w->path.depth++];
  step->kind = kind;
  step->index = 0;
  return step;
}

void mpconn__walk_pop(struct mpconn__walk *w) { w->path.depth--; }

const char *mpconn__walk_path(struct mpconn__walk *w) {
  mpconn__path_render(&w->path, w->where, sizeof(w->where));
  return w->where;
}

int mpconn__walk_fail(struct mpconn__walk *w, int code, size_t at,
                      const char *msg, ...) {
  va_list ap;
  va_start(ap, msg);
  vfail(w->err, code, at, w->where, msg, ap);
  va_end(ap);
  return code;
}
