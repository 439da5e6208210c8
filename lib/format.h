/* SPDX-License-Identifier: MIT */
/* format.c and unpackf.c — format strings: the syntax pass, the walker
 * that packing and unpacking share, and error paths. */
#ifndef MPCONN_FORMAT_H
#define MPCONN_FORMAT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpconn.h"

struct mpconn__box {
  uint32_t n; /* items of an array or set, pairs of a map; '*' not counted */
  bool rest;  /* the container ends with '*' */
};
struct mpconn__fmt {
  const char *fmt;
  struct mpconn__box *box; /* every container, in the order they open */
  size_t nbox, cap;
  struct mpconn__box inline_box[16];
};
/* Check a whole format before any argument is read.  0, MPCONN_EFORMAT or
 * MPCONN_ENOMEM; release with mpconn__fmt_free() after success. */
int mpconn__fmt_parse(struct mpconn__fmt *f, const char *fmt, bool unpack,
                      mpconn_error *err);
void mpconn__fmt_free(struct mpconn__fmt *f);
/* Skip separators; the character at *pos afterwards, 0 at the end. */
char mpconn__fmt_next(const char *fmt, size_t *pos);

/* Where in a value the walk is: one step per open container. */
struct mpconn__step {
  char kind; /* '[' array or '<' set member, '{' map value, 'k' map key */
  uint32_t index;
  msgpack_object key; /* for '{'; a key of another type prints as [?] */
};
struct mpconn__path {
  unsigned depth;
  struct mpconn__step step[MPCONN_MAX_DEPTH];
};
void mpconn__path_render(const struct mpconn__path *p, char *out,
                         size_t size);
/* Fill @err (may be NULL): code, position, @path (a rendered path, or
 * NULL for none) and the text "format position POS: " and the message.
 * Returns @code. */
int mpconn__fmt_fail(mpconn_error *err, int code, size_t pos,
                     const char *path, const char *msg, ...)
    __attribute__((format(printf, 5, 6)));

#endif
