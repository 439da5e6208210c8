/* SPDX-License-Identifier: MIT */
/*
 * Packing with format strings: the format is checked whole first
 * (format.c), then walked with the arguments, each item packed as it
 * comes; containers take their counts from the syntax pass.
 */
#include "mpconn-private.h"

#include <string.h>

static int pack_item(struct mpconn__walk *s, msgpack_packer *pk,
                     msgpack_object *key);

static int pack_fail(struct mpconn__walk *s, int code, size_t at,
                     const char *what) {
  if (!s->err)
    return code;
  return mpconn__walk_fail(s, code, at, "%s at %s", what, mpconn__walk_path(s));
}

static int bad_arg(struct mpconn__walk *s, size_t at, const char *what) {
  return pack_fail(s, MPCONN_EINVAL, at, what);
}

static int no_memory(struct mpconn__walk *s, size_t at) {
  return pack_fail(s, MPCONN_ENOMEM, at, "the packer failed (out of memory)");
}

/* The items of a container up to its closing character. */
static int pack_items(struct mpconn__walk *s, msgpack_packer *pk, char kind,
                      uint32_t n) {
  struct mpconn__step *step = mpconn__walk_push(s, kind);
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
  mpconn__walk_pop(s);
  mpconn__walk_close(s);
  return 0;
}

/* The members of a set, for mpconn_pack_set_with(). */
struct set_members {
  struct mpconn__walk *s;
  uint32_t n;
  int rc; /* of the members themselves */
};

static int pack_members(msgpack_packer *pk, void *arg) {
  struct set_members *m = arg;
  return m->rc = pack_items(m->s, pk, '<', m->n);
}

static int pack_set(struct mpconn__walk *s, msgpack_packer *pk, size_t at,
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
static int pack_item(struct mpconn__walk *s, msgpack_packer *pk,
                     msgpack_object *key) {
  size_t at;
  char c = mpconn__walk_next(s, &at);
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
    if (mpconn__walk_accept(s, '#')) {
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
    uint32_t n = mpconn__walk_box(s)->n;
    w = c == '[' ? msgpack_pack_array(pk, n) : msgpack_pack_map(pk, n);
    if (w)
      return no_memory(s, at);
    return pack_items(s, pk, c, n);
  }
  default: /* '<', the only one the syntax pass leaves */
    return pack_set(s, pk, at, mpconn__walk_box(s)->n);
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
  struct mpconn__walk w;
  int rc = mpconn__walk_start(&w, fmt, false, err, ap);
  if (rc < 0)
    return rc;
  rc = pack_item(&w, pk, NULL);
  mpconn__walk_end(&w);
  return rc < 0 ? rc : mpconn__err_status(err, 0);
}

int mpconn_packf(msgpack_packer *pk, mpconn_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mpconn_vpackf(pk, err, fmt, ap);
  va_end(ap);
  return rc;
}
