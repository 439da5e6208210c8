/* SPDX-License-Identifier: MIT */
/*
 * Lexical helpers for the JSON side of the tool: the few facts about JSON
 * text that jansson does not expose.  Nothing here parses JSON; jansson
 * does that.
 */
#ifndef MPCONN_TOOL_LEX_H
#define MPCONN_TOOL_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Whether s[0..n) is well-formed UTF-8 as jansson and Python's strict codec
 * accept it: shortest forms only, no surrogates, nothing above U+10FFFF.
 * NUL bytes are allowed.
 */
bool tool_utf8_valid(const char *s, size_t n);

/*
 * Walks the integer tokens of a JSON text in document order: the numbers
 * outside strings that have neither a fraction nor an exponent.  Exact for
 * valid JSON (every such token is one integer value); for other text the
 * tokens found are unspecified but always within the text.
 */
struct tool_int_scan {
  const char *p, *end;
};

void tool_int_scan_init(struct tool_int_scan *s, const char *text, size_t len);

/* The next integer token: true and its bounds, or false at the end. */
bool tool_int_scan_next(struct tool_int_scan *s, const char **tok, size_t *len);

/*
 * Whether an integer token is valid JSON for a value above INT64_MAX that
 * still fits in uint64_t (digits only, no leading zero); if so, *v gets it.
 */
bool tool_big_uint(const char *tok, size_t len, uint64_t *v);

#endif
