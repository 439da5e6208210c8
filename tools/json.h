/* SPDX-License-Identifier: MIT */
/*
 * The JSON mapping of msgpack values, described in docs/cli.md: a received
 * msgpack_object to one line of JSON text, and one line of JSON text to a
 * packed msgpack value.  jansson's json_t sits in between.
 */
#ifndef MPCONN_TOOL_JSON_H
#define MPCONN_TOOL_JSON_H

#include <mpconn.h>

/* Why a line of JSON was refused. */
struct tool_error {
  int column;     /* jansson's column of a syntax error; 0 for other errors */
  char text[256]; /* one line, NUL-terminated */
};

/**
 * tool_json_from_msgpack() - the JSON text of a received value.
 * @m: the message holding @v; sets inside @v are decoded through it.
 * @v: the value, mpconn_msg_value(@m) or a part of it.
 * @text: receives the text: one line without a newline, NUL-terminated.
 * @len: receives its length.
 *
 * Ownership: *text is new; release it with free().
 * Return: 0, MPCONN_ENOMEM, or an error of mpconn_msg_set_members().
 */
int tool_json_from_msgpack(mpconn_msg *m, const msgpack_object *v, char **text,
                           size_t *len);

/**
 * tool_json_to_msgpack() - pack the value one line of JSON describes.
 * @line: the text without its newline; need not be NUL-terminated.
 * @len: its length.
 * @pk: the packer; on success it received exactly one value.  After a
 *      failure it may hold part of one, which the caller drops.
 * @err: receives the reason on failure.
 *
 * Return: 0, or -1 with @err filled in.
 */
int tool_json_to_msgpack(const char *line, size_t len, msgpack_packer *pk,
                         struct tool_error *err);

#endif
