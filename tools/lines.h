/* SPDX-License-Identifier: MIT */
/*
 * Lines of JSON on standard input, sent as frames: what `mpconn encode`
 * and the sending side of `mpconn connect` and `mpconn listen` share.
 */
#ifndef MPCONN_TOOL_LINES_H
#define MPCONN_TOOL_LINES_H

#include "json.h"

#include <stdbool.h>
#include <stddef.h>

/* The longest line read by default: 8 MiB (docs/cli.md says why). */
#define TOOL_DEFAULT_MAX_LINE ((size_t)8 * 1024 * 1024)

/*
 * An input split into lines.  It outlives a conversation: what one client
 * of `mpconn listen` left unread is the next client's.  Set it up with
 * tool_input_init(); release it with tool_input_free().
 */
struct tool_input {
  int fd;          /* where the bytes come from */
  size_t max_line; /* the longest line taken, without its newline */
  char *buf;       /* bytes read and not yet taken: buf[start..len) */
  size_t start;    /* where the next line begins */
  size_t len;      /* bytes in buf */
  size_t cap;      /* size of buf */
  size_t scanned;  /* buf[start..scanned) holds no newline */
  size_t lineno;   /* lines taken so far, counted from 1 */
  bool eof;        /* read() returned 0: the input has ended */
};

void tool_input_init(struct tool_input *in, int fd, size_t max_line);
void tool_input_free(struct tool_input *in);

/*
 * tool_input_read() - one read() of the input, when no whole line is
 * buffered.  The buffer never holds more than max_line bytes and one read
 * (64 KiB) beyond the line it is in.
 * Return: 0 (in->eof set at the end), -EAGAIN when a non-blocking input
 * has nothing, -EINTR, or another -errno; MPCONN_ENOMEM.
 */
int tool_input_read(struct tool_input *in);

/*
 * tool_input_next() - take the next whole line, without its newline.  Once
 * the input has ended, the rest is the last line and needs no newline.
 * Return: 1 and the line, numbered in->lineno; 0 when no whole line is
 * buffered (or nothing is left after the end); -1 when the next line,
 * numbered in->lineno, is longer than max_line: @err says so, and nothing
 * more can be taken.
 */
int tool_input_next(struct tool_input *in, const char **line, size_t *len,
                    struct tool_error *err);

/* Whether a line holds only spaces, tabs and carriage returns: it is
 * skipped, and still counted. */
bool tool_line_blank(const char *s, size_t n);

/**
 * tool_pack_line() - pack the value of one line of JSON, up to a size.
 * @line: the line, without its newline.
 * @len: its length.
 * @pk: the packer.
 * @max_size: the most bytes to pack; MPCONN_UNLIMITED for any.
 * @err: receives the reason on failure.
 *
 * As tool_json_to_msgpack(), and packing stops as soon as the value
 * passes @max_size bytes: then @err says "frame longer than @max_size
 * bytes (--max-size)".
 * Return: 0, or -1 with @err filled in.
 */
int tool_pack_line(const char *line, size_t len, msgpack_packer *pk,
                   size_t max_size, struct tool_error *err);

/* tool_send_line()'s results besides the connection's negative codes. */
enum {
  TOOL_LINE_SENT = 0,
  TOOL_LINE_BLANK = 1, /* tool_line_blank(): nothing sent */
  TOOL_LINE_BAD = 2,   /* refused: the reason is in the tool_error */
};

/**
 * tool_send_line() - send one line of JSON as one frame.
 * @c: the connection.
 * @line: the line, without its newline.
 * @len: its length.
 * @max_size: the longest payload to send; MPCONN_UNLIMITED for any.
 * @err: receives the reason for TOOL_LINE_BAD.
 *
 * The value is packed whole (tool_pack_line()) before any of it is sent.
 *
 * Return: TOOL_LINE_SENT; TOOL_LINE_BLANK (nothing sent); TOOL_LINE_BAD
 * for a line that is not JSON, does not map to msgpack or packs into more
 * than @max_size bytes (nothing sent); or the negative code of
 * mpconn_pack_begin() or mpconn_pack_end() (MPCONN_ENOMEM: nothing sent).
 */
int tool_send_line(mpconn *c, const char *line, size_t len, size_t max_size,
                   struct tool_error *err);

/*
 * tool_line_message() - "line N: reason", or "line N, column C: reason"
 * for a syntax error, into @out (truncated to @size).
 */
void tool_line_message(char *out, size_t size, size_t lineno,
                       const struct tool_error *err);

#endif
