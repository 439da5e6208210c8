/* SPDX-License-Identifier: MIT */
/*
 * Integers above INT64_MAX, which msgpack has and jansson's json_t has not
 * (it holds int64 only, and jansson refuses to parse or print anything
 * larger).  They travel around jansson, in the JSON text:
 *
 * - JSON to msgpack: tool_bigs_hide() finds every integer token of a line
 *   in (INT64_MAX, UINT64_MAX], remembers its value and its ordinal among
 *   the line's integer tokens, and overwrites it in a copy by "0" and
 *   spaces, which keeps every byte offset for error messages.  jansson
 *   parses the copy.  The integer values of valid JSON are exactly its
 *   integer tokens, and jansson keeps object members in the order of the
 *   text (duplicate keys are refused), so a walk of the json_t tree in
 *   document order meets the integers in token order: it counts them and
 *   takes the remembered value at each remembered ordinal.
 * - msgpack to JSON: such an integer becomes json_integer(0) while
 *   tool_bigs_add() remembers its value and ordinal; after json_dumps(),
 *   tool_bigs_splice() scans the output, which jansson guarantees to be
 *   valid JSON, and replaces those placeholder tokens by the digits.
 *
 * Nothing here parses JSON beyond telling strings from numbers; jansson
 * still checks and prints every value.
 */
#ifndef MPCONN_TOOL_BIGINT_H
#define MPCONN_TOOL_BIGINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An integer above INT64_MAX: the ordinal-th integer token of a text. */
struct tool_big {
  size_t ordinal;
  uint64_t value;
  size_t start, len; /* where the token is, for tool_bigs_hide() */
};

/* A growing list, in document order; zero-initialize, then add. */
struct tool_bigs {
  struct tool_big *v;
  size_t n, cap;
};

/* Append one.  Return: 0, or MPCONN_ENOMEM. */
int tool_bigs_add(struct tool_bigs *b, struct tool_big x);

/* Release the list's memory. */
void tool_bigs_free(struct tool_bigs *b);

/*
 * tool_bigs_hide() - find the big integers of a line of JSON.
 * @text: the line; need not be NUL-terminated.
 * @len: its length.
 * @b: receives them, each with ordinal, value and token.
 * @copy: receives a copy of @text with each of them replaced by "0" and
 *        spaces, or NULL when there are none (parse @text itself).
 *
 * Ownership: *copy is new (free()).
 * Return: 0, or MPCONN_ENOMEM.
 */
int tool_bigs_hide(const char *text, size_t len, struct tool_bigs *b,
                   char **copy);

/* Whether jansson's error position @pos lies on a hidden token. */
bool tool_bigs_at(const struct tool_bigs *b, int pos);

/*
 * tool_bigs_splice() - put the digits of @b into JSON text jansson printed.
 * @text: the text, new (malloc()); replaced by a new one on success.
 * @len: its length; updated.
 *
 * Return: 0, MPCONN_ENOMEM, or MPCONN_EINVAL when the text holds fewer
 * integer tokens than @b says (never for jansson's output).
 */
int tool_bigs_splice(const struct tool_bigs *b, char **text, size_t *len);

#endif
