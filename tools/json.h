/* SPDX-License-Identifier: MIT */
/*
 * The JSON mapping of msgpack values, described in docs/cli.md, in both
 * directions:
 *
 * - json-out.c writes a received msgpack_object as one line of JSON text
 *   while it walks the value, with no JSON library and no copy of the value
 *   in between;
 * - json-in.c reads one line of JSON text into a msgpack packer, through
 *   jansson.  Everything about jansson, including how integers above
 *   INT64_MAX get past it, stays inside that file.
 */
#ifndef MPCONN_TOOL_JSON_H
#define MPCONN_TOOL_JSON_H

#include <mpconn.h>

/* ------------------------------------------------------------------------ */
/* msgpack to JSON (json-out.c)                                             */
/* ------------------------------------------------------------------------ */

/* Where JSON text goes: 0, or -1 with errno set. */
typedef int (*tool_write_fn)(void *arg, const char *text, size_t len);

/* tool_json_write()'s result when @write failed. */
#define TOOL_JSON_WRITE_FAILED 1

/**
 * tool_json_write() - write the JSON text of a received value.
 * @m: the message holding @v; sets inside @v are decoded through it.
 * @v: the value, mpconn_msg_value(@m) or a part of it.
 * @write: called with the text in pieces of up to a few KiB, in order:
 *         one line, without a newline.
 * @arg: passed to @write.
 *
 * Everything the conversion allocates (the members of every set, a table
 * to tell whether a map's keys are distinct) is allocated before the first
 * piece is written, so a conversion that fails writes nothing.  Besides
 * the set members, which stay in @m, it takes at most 6 bytes for each key
 * of the largest map, and a fixed 8 KiB of buffer.
 *
 * Return: 0; a negative code when nothing was written: MPCONN_ENOMEM, or an
 * error of mpconn_msg_set_members(); TOOL_JSON_WRITE_FAILED when @write
 * failed (then part of the line may have been written; errno is @write's).
 */
int tool_json_write(mpconn_msg *m, const msgpack_object *v, tool_write_fn write,
                    void *arg);

/**
 * tool_json_from_msgpack() - the JSON text of a received value, in memory.
 * @m: as for tool_json_write().
 * @v: as for tool_json_write().
 * @text: receives the text: one line without a newline, NUL-terminated.
 * @len: receives its length.
 *
 * Ownership: *text is new; release it with free().
 * Return: 0, MPCONN_ENOMEM, or an error of mpconn_msg_set_members().
 */
int tool_json_from_msgpack(mpconn_msg *m, const msgpack_object *v, char **text,
                           size_t *len);

/* ------------------------------------------------------------------------ */
/* JSON to msgpack (json-in.c)                                              */
/* ------------------------------------------------------------------------ */

/* Why a line of JSON was refused. */
struct tool_error {
  int column;     /* the column of a syntax error; 0 for other errors */
  char text[256]; /* one line, NUL-terminated */
};

/**
 * tool_json_to_msgpack() - pack the value one line of JSON describes.
 * @line: the text without its newline; need not be NUL-terminated.
 * @len: its length.
 * @pk: the packer; on success it received exactly one value.  After a
 *      failure it may hold part of one, which the caller drops.  When a
 *      write to it fails, the line is refused as "out of memory".
 * @err: receives the reason on failure.
 *
 * Return: 0, or -1 with @err filled in.
 */
int tool_json_to_msgpack(const char *line, size_t len, msgpack_packer *pk,
                         struct tool_error *err);

/**
 * tool_json_init() - prepare the JSON reader before threads use it.
 *
 * Call once, before two threads may call tool_json_to_msgpack().
 */
void tool_json_init(void);

#endif
