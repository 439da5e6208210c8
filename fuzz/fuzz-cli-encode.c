/* SPDX-License-Identifier: MIT */
/*
 * The per-line work of `mpconn encode` (tools/encode.c): one line of JSON
 * to a packed value with tool_pack_line() (tools/lines.c, around
 * tool_json_to_msgpack() of tools/json-in.c), as tool_send_line() calls
 * it.  The input is split into lines at '\n' as tool_input_next() splits
 * standard input, and blank lines are skipped, as tool_send_line() skips
 * them.
 *
 * For every line:
 * - a refused line gets a reason of one line (NUL-terminated, no newline);
 * - an accepted line packs exactly one value, which the receive side's
 *   validator accepts: whatever `encode` writes, `decode` and every mpconn
 *   receiver read;
 * - with a limit of exactly its size it packs the same bytes; with one
 *   byte less it is refused as "frame longer than N bytes (--max-size)"
 *   (encode's --max-size);
 * - decoding it (tool_json_from_msgpack(), tools/json-out.c) and encoding
 *   the text again gives the same bytes, and decoding those the same
 *   text.
 */
#include "fuzz.h"

#include "json.h"
#include "lines.h"
#include "mpconn-private.h"

#include <string.h>

static int encode_max(const char *line, size_t len, size_t max,
                      msgpack_sbuffer *sb, struct tool_error *err) {
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  return tool_pack_line(line, len, &pk, max, err);
}

static int encode(const char *line, size_t len, msgpack_sbuffer *sb,
                  struct tool_error *err) {
  return encode_max(line, len, MPCONN_UNLIMITED, sb, err);
}

/* The same line packed with limits at and just below its size. */
static void limits(const char *line, size_t len, const msgpack_sbuffer *sb) {
  msgpack_sbuffer at;
  struct tool_error err;
  FUZZ_CHECK(encode_max(line, len, sb->size, &at, &err) == 0);
  FUZZ_CHECK(at.size == sb->size && memcmp(at.data, sb->data, sb->size) == 0);
  msgpack_sbuffer_destroy(&at);
  msgpack_sbuffer below;
  FUZZ_CHECK(encode_max(line, len, sb->size - 1, &below, &err) == -1);
  FUZZ_CHECK(below.size < sb->size && err.column == 0);
  char want[64];
  snprintf(want, sizeof(want), "frame longer than %zu bytes (--max-size)",
           sb->size - 1);
  FUZZ_CHECK(strcmp(err.text, want) == 0);
  msgpack_sbuffer_destroy(&below);
}

static char *decode(const msgpack_sbuffer *sb, size_t *len) {
  mpconn_msg *m;
  int rc = fuzz_msg((const uint8_t *)sb->data, sb->size, false, &m);
  FUZZ_CHECK_RC(rc == 0, rc);
  char *text = NULL;
  rc = tool_json_from_msgpack(m, mpconn_msg_value(m), &text, len);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(text && strlen(text) == *len && !memchr(text, '\n', *len));
  mpconn_msg_free(m);
  return text;
}

static void one_line(const char *line, size_t len) {
  if (tool_line_blank(line, len))
    return;
  msgpack_sbuffer sb;
  struct tool_error err;
  memset(&err, 0x55, sizeof(err));
  if (encode(line, len, &sb, &err) < 0) {
    FUZZ_CHECK(memchr(err.text, '\0', sizeof(err.text)) != NULL);
    FUZZ_CHECK(err.text[0] != '\0' && !strchr(err.text, '\n'));
    FUZZ_CHECK(err.column >= 0);
    msgpack_sbuffer_destroy(&sb);
    return;
  }
  int rc = mpconn__validate((const uint8_t *)sb.data, sb.size);
  FUZZ_CHECK_RC(rc == 0, rc);
  limits(line, len, &sb);
  size_t tlen;
  char *text = decode(&sb, &tlen);
  msgpack_sbuffer again;
  FUZZ_CHECK(encode(text, tlen, &again, &err) == 0);
  FUZZ_CHECK(again.size == sb.size &&
             memcmp(again.data, sb.data, sb.size) == 0);
  size_t tlen2;
  char *text2 = decode(&again, &tlen2);
  FUZZ_CHECK(tlen2 == tlen && memcmp(text, text2, tlen) == 0);
  free(text2);
  msgpack_sbuffer_destroy(&again);
  free(text);
  msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    one_line(p, len);
    p += len + (nl != NULL);
  }
  return 0;
}
