/* SPDX-License-Identifier: MIT */
/* Integers above INT64_MAX, carried around jansson (see bigint.h). */
#include "bigint.h"

#include "lex.h"

#include <inttypes.h>
#include <mpconn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tool_bigs_add(struct tool_bigs *b, struct tool_big x) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 8;
    struct tool_big *v = realloc(b->v, cap * sizeof(*v));
    if (!v)
      return MPCONN_ENOMEM;
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = x;
  return 0;
}

void tool_bigs_free(struct tool_bigs *b) {
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

int tool_bigs_hide(const char *text, size_t len, struct tool_bigs *b,
                   char **copy) {
  struct tool_int_scan scan;
  tool_int_scan_init(&scan, text, len);
  const char *tok;
  size_t toklen, ordinal = 0;
  uint64_t u;
  *copy = NULL;
  for (; tool_int_scan_next(&scan, &tok, &toklen); ordinal++) {
    if (!tool_big_uint(tok, toklen, &u))
      continue;
    size_t at = (size_t)(tok - text);
    if (!*copy) {
      if (!(*copy = malloc(len)))
        return MPCONN_ENOMEM;
      memcpy(*copy, text, len);
    }
    if (tool_bigs_add(b, (struct tool_big){ordinal, u, at, toklen}) < 0) {
      free(*copy);
      *copy = NULL;
      return MPCONN_ENOMEM;
    }
    memset(*copy + at, ' ', toklen);
    (*copy)[at] = '0';
  }
  return 0;
}

bool tool_bigs_at(const struct tool_bigs *b, int pos) {
  /* jansson's position is just past the token it complains about. */
  for (size_t i = 0; i < b->n; i++)
    if (pos > 0 && (size_t)pos > b->v[i].start &&
        (size_t)pos <= b->v[i].start + b->v[i].len)
      return true;
  return false;
}

int tool_bigs_splice(const struct tool_bigs *b, char **text, size_t *len) {
  const char *s = *text;
  size_t n = *len;
  /* Each placeholder is one character; UINT64_MAX has 20 digits. */
  char *out = malloc(n + 19 * b->n + 1);
  if (!out)
    return MPCONN_ENOMEM;
  struct tool_int_scan scan;
  tool_int_scan_init(&scan, s, n);
  const char *tok;
  size_t toklen, ordinal = 0, i = 0, from = 0, used = 0;
  for (; i < b->n && tool_int_scan_next(&scan, &tok, &toklen); ordinal++) {
    if (ordinal != b->v[i].ordinal)
      continue;
    size_t at = (size_t)(tok - s);
    memcpy(out + used, s + from, at - from);
    used += at - from;
    used += (size_t)sprintf(out + used, "%" PRIu64, b->v[i].value);
    from = at + toklen;
    i++;
  }
  if (i != b->n) {
    free(out);
    return MPCONN_EINVAL;
  }
  memcpy(out + used, s + from, n - from);
  used += n - from;
  out[used] = '\0';
  free(*text);
  *text = out;
  *len = used;
  return 0;
}
