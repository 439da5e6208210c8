/* SPDX-License-Identifier: MIT */
/* format.c and unpackf.c — format strings: the syntax pass, the walker
 * that packing and unpacking share, and error paths. */
#ifndef MPCONN_FORMAT_H
#define MPCONN_FORMAT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "mpconn.h"

/* What the syntax pass counts of each container. */
struct mpconn__box {
  uint32_t n; /* items of an array or set, pairs of a map; '*' not counted */
  bool rest;  /* the container ends with '*' */
  bool each;  /* "[T ...]" or "<T ...>": T is every item (unpacking) */
  uint32_t inner; /* containers opened inside this one */
  size_t end;     /* the format position after its closing character */
  size_t item_at, item_end; /* with @each: T is fmt[item_at, item_end) */
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
/* The same for the part fmt[start, end) of a format (end SIZE_MAX: up to
 * the NUL); positions stay those of the whole string. */
int mpconn__fmt_parse_range(struct mpconn__fmt *f, const char *fmt,
                            size_t start, size_t end, bool unpack,
                            mpconn_error *err);
void mpconn__fmt_free(struct mpconn__fmt *f);

/* Where in a value the walk is: one step per open container. */
struct mpconn__step {
  char kind; /* '[' array or '<' set member, '{' map value, 'k' map key */
  uint32_t index;
  msgpack_object key; /* for '{'; a key of another type prints as [?] */
};
struct mpconn__path {
  const char *prefix; /* where the walk starts: NULL for "$" */
  unsigned depth;
  struct mpconn__step step[MPCONN_MAX_DEPTH];
};
/* The prefix ("$"), then "[1]" per array item, "<1>" per set member,
 * ".key" or "["key"]" per map value; cut short with "..." to fit @size. */
void mpconn__path_render(const struct mpconn__path *p, char *out, size_t size);
/* Fill @err (may be NULL): code, position, @path (a rendered path, or
 * NULL for none) and the text "format position POS: " and the message.
 * Returns @code. */
int mpconn__fmt_fail(mpconn_error *err, int code, size_t pos, const char *path,
                     const char *msg, ...)
    __attribute__((format(printf, 5, 6)));
/* How a call that takes an mpconn_error ends when no format was at fault:
 * @code 0 clears @err (code 0, position 0, empty path and text); a
 * negative @code fills it with that code and mpconn_strerror(@code).
 * @err may be NULL.  Returns @code. */
int mpconn__err_status(mpconn_error *err, int code);

/*
 * A walk over a checked format and its arguments, in step with the value
 * being packed (packf.c) or taken apart (unpackf.c): where in the format,
 * which container's counts come next, the arguments, and where in the
 * value, for errors.
 */
struct mpconn__walk {
  const char *fmt;
  size_t pos; /* the next character of fmt */
  size_t end; /* where the format ends: SIZE_MAX for its NUL */
  struct mpconn__fmt f;
  size_t next_box;
  va_list ap;
  mpconn_error *err;
  bool dry; /* unpacking: check only, store nothing (sets try members) */
  struct mpconn__path path;
  char where[sizeof(((mpconn_error *)0)->path)]; /* the path, rendered */
};

/* Check @fmt and start a walk over it with the arguments @ap: 0, or as
 * mpconn__fmt_parse().  After 0, end it with mpconn__walk_end(). */
int mpconn__walk_start(struct mpconn__walk *w, const char *fmt, bool unpack,
                       mpconn_error *err, va_list ap);
/* The same over fmt[start, end), as mpconn__fmt_parse_range(). */
int mpconn__walk_start_range(struct mpconn__walk *w, const char *fmt,
                             size_t start, size_t end, bool unpack,
                             mpconn_error *err, va_list ap);
void mpconn__walk_end(struct mpconn__walk *w);

/* A point of a walk to come back to: the format position, the next
 * container's counts, the arguments and the path's depth.  Taking a mark
 * copies the arguments; release it with mpconn__walk_unmark(). */
struct mpconn__mark {
  size_t pos, next_box;
  unsigned depth;
  va_list ap;
};
void mpconn__walk_mark(struct mpconn__walk *w, struct mpconn__mark *m);
void mpconn__walk_reset(struct mpconn__walk *w, struct mpconn__mark *m);
void mpconn__walk_unmark(struct mpconn__mark *m);
/* Step over a container whose box is @box (already taken) and everything
 * in it, reading no argument: its inner boxes are skipped too. */
void mpconn__walk_skip_box(struct mpconn__walk *w,
                           const struct mpconn__box *box);
/* The next format character, separators skipped; *@at receives its
 * position, and the walk moves past it.  0 at the end. */
char mpconn__walk_next(struct mpconn__walk *w, size_t *at);
/* Skip separators: the position of the next format character. */
size_t mpconn__walk_here(struct mpconn__walk *w);
/* Whether the character at the walk's position is @c; if so, step past. */
bool mpconn__walk_accept(struct mpconn__walk *w, char c);
/* The counts of the next container to open. */
const struct mpconn__box *mpconn__walk_box(struct mpconn__walk *w);
/* Step past a container's closing character (or its '*'). */
void mpconn__walk_close(struct mpconn__walk *w);
/* Open a level of the path, of @kind; returns its step. */
struct mpconn__step *mpconn__walk_push(struct mpconn__walk *w, char kind);
void mpconn__walk_pop(struct mpconn__walk *w);
/* The current path, rendered into w->where, for an error message. */
const char *mpconn__walk_path(struct mpconn__walk *w);
/* Fail at format position @at with the path last rendered by
 * mpconn__walk_path(): fills the caller's error, returns @code. */
int mpconn__walk_fail(struct mpconn__walk *w, int code, size_t at,
                      const char *msg, ...)
    __attribute__((format(printf, 4, 5)));

#endif
