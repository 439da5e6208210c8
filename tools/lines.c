/* SPDX-License-Identifier: MIT */
/* Lines of JSON on standard input, sent as frames (see lines.h). */
#include "lines.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The input is read this much at a time at least, when there is room. */
#define READ_CHUNK ((size_t)64 * 1024)

void tool_input_init(struct tool_input *in, int fd, size_t max_line) {
  *in = (struct tool_input){.fd = fd, .max_line = max_line};
}

void tool_input_free(struct tool_input *in) {
  free(in->buf);
  tool_input_init(in, in->fd, in->max_line);
}

int tool_input_read(struct tool_input *in) {
  if (in->start > 0) {
    memmove(in->buf, in->buf + in->start, in->len - in->start);
    in->len -= in->start;
    in->scanned -= in->start;
    in->start = 0;
  }
  if (in->cap - in->len < READ_CHUNK) {
    /* Called with no newline buffered and at most max_line bytes: room
     * for the longest line, its newline and one chunk is enough. */
    size_t limit = in->max_line < SIZE_MAX - 1 - READ_CHUNK
                       ? in->max_line + 1 + READ_CHUNK
                       : SIZE_MAX;
    size_t cap = in->cap ? in->cap : READ_CHUNK;
    while (cap - in->len < READ_CHUNK && cap < limit)
      cap = cap <= limit / 2 ? 2 * cap : limit;
    if (cap > in->cap) {
      char *p = realloc(in->buf, cap);
      if (!p)
        return MPCONN_ENOMEM;
      in->buf = p;
      in->cap = cap;
    }
  }
  ssize_t n = read(in->fd, in->buf + in->len, in->cap - in->len);
  if (n < 0)
    return -errno;
  if (n == 0)
    in->eof = true;
  in->len += (size_t)n;
  return 0;
}

static int too_long(struct tool_input *in, struct tool_error *err) {
  in->lineno++;
  err->column = 0;
  snprintf(err->text, sizeof(err->text), "longer than %zu bytes (--max-line)",
           in->max_line);
  return -1;
}

int tool_input_next(struct tool_input *in, const char **line, size_t *len,
                    struct tool_error *err) {
  if (in->start == in->len)
    return 0;
  const char *p = in->buf + in->start;
  const char *nl = memchr(in->buf + in->scanned, '\n', in->len - in->scanned);
  size_t n;
  if (nl) {
    n = (size_t)(nl - p);
  } else if (in->eof) {
    n = in->len - in->start;
  } else {
    in->scanned = in->len;
    /* No need to wait for the rest of a line already too long. */
    return in->len - in->start > in->max_line ? too_long(in, err) : 0;
  }
  if (n > in->max_line)
    return too_long(in, err);
  in->start += n + (nl != NULL);
  in->scanned = in->start;
  in->lineno++;
  *line = p;
  *len = n;
  return 1;
}

bool tool_line_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

/* A packer that passes bytes on until @max have passed. */
struct limited {
  msgpack_packer pk;
  msgpack_packer *inner;
  size_t used, max;
  bool over;
};

static int limited_write(void *data, const char *buf, size_t len) {
  struct limited *l = data;
  if (len > l->max - l->used) {
    l->over = true;
    return -1;
  }
  l->used += len;
  return l->inner->callback(l->inner->data, buf, len);
}

int tool_pack_line(const char *line, size_t len, msgpack_packer *pk,
                   size_t max_size, struct tool_error *err) {
  struct limited l = {.inner = pk, .max = max_size};
  msgpack_packer_init(&l.pk, &l, limited_write);
  if (tool_json_to_msgpack(line, len, &l.pk, err) == 0)
    return 0;
  if (l.over) {
    err->column = 0;
    snprintf(err->text, sizeof(err->text),
             "frame longer than %zu bytes (--max-size)", max_size);
  }
  return -1;
}

int tool_send_line(mpconn *c, const char *line, size_t len, size_t max_size,
                   struct tool_error *err) {
  if (tool_line_blank(line, len))
    return TOOL_LINE_BLANK;
  msgpack_packer *pk;
  int rc = mpconn_pack_begin(c, &pk);
  if (rc < 0)
    return rc;
  if (tool_pack_line(line, len, pk, max_size, err) < 0) {
    mpconn_pack_abort(c);
    return TOOL_LINE_BAD;
  }
  return mpconn_pack_end(c);
}

void tool_line_message(char *out, size_t size, size_t lineno,
                       const struct tool_error *err) {
  if (err->column > 0)
    snprintf(out, size, "line %zu, column %d: %s", lineno, err->column,
             err->text);
  else
    snprintf(out, size, "line %zu: %s", lineno, err->text);
}
