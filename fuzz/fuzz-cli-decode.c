/* SPDX-License-Identifier: MIT */
/*
 * The per-message work of `mpconn decode` (tools/decode.c): a received
 * value to one line of JSON with tool_json_from_msgpack() (tools/json.c),
 * called as decode.c calls it after mpconn_recv().  The input is one
 * frame's payload; payloads the validator refuses are skipped, as
 * mpconn_recv() never hands them out.
 *
 * For every value (docs/cli.md, "Round trips and byte identity"):
 * - the conversion succeeds and gives one line: no newline, the length
 *   returned is the length of the text;
 * - `encode` takes the line back (tool_json_to_msgpack()) to msgpack that
 *   the validator accepts, and decoding that gives the same line;
 * - for canonical msgpack (every value in its shortest form, no float 32,
 *   NaN only as 7ff8000000000000, sets canonical inside too) `encode` gives
 *   back the input byte for byte.
 */
#include "fuzz.h"

#include "json.h"
#include "mpconn-private.h"

#include <math.h>
#include <string.h>

static msgpack_sbuffer pack(const msgpack_object *o) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  FUZZ_CHECK(msgpack_pack_object(&pk, *o) == 0);
  return sb;
}

static bool same(const msgpack_sbuffer *sb, const void *p, size_t n) {
  return sb->size == n && (n == 0 || memcmp(sb->data, p, n) == 0);
}

/* Whether @o holds nothing that decode/encode changes on purpose, given
 * that its own bytes are msgpack-c's shortest form. */
static bool canonical(mpconn_msg *m, const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_FLOAT32:
    return false;
  case MSGPACK_OBJECT_FLOAT64: {
    uint64_t bits;
    memcpy(&bits, &o->via.f64, sizeof(bits));
    return !isnan(o->via.f64) || bits == 0x7ff8000000000000u;
  }
  case MSGPACK_OBJECT_ARRAY:
    for (uint32_t i = 0; i < o->via.array.size; i++)
      if (!canonical(m, &o->via.array.ptr[i]))
        return false;
    return true;
  case MSGPACK_OBJECT_MAP:
    for (uint32_t i = 0; i < o->via.map.size; i++)
      if (!canonical(m, &o->via.map.ptr[i].key) ||
          !canonical(m, &o->via.map.ptr[i].val))
        return false;
    return true;
  case MSGPACK_OBJECT_EXT: {
    if (o->via.ext.type != MPCONN_EXT_SET)
      return true;
    msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY};
    FUZZ_CHECK(mpconn_msg_set_members(m, o, &arr.via.array) == 0);
    msgpack_sbuffer sb = pack(&arr);
    bool ok = same(&sb, o->via.ext.ptr, o->via.ext.size) && canonical(m, &arr);
    msgpack_sbuffer_destroy(&sb);
    return ok;
  }
  default:
    return true;
  }
}

/* encode's conversion of one line into @sb (initialized here). */
static int encode(const char *text, size_t len, msgpack_sbuffer *sb) {
  msgpack_sbuffer_init(sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  struct tool_error err;
  int rc = tool_json_to_msgpack(text, len, &pk, &err);
  if (rc < 0)
    fprintf(stderr, "encode refused %.*s: %s\n", (int)len, text, err.text);
  return rc;
}

/* decode's conversion of a payload that validates; the line, new. */
static char *decode(const void *p, size_t n, size_t *len) {
  mpconn_msg *m;
  int rc = fuzz_msg(p, n, false, &m);
  FUZZ_CHECK_RC(rc == 0, rc);
  char *text = NULL;
  rc = tool_json_from_msgpack(m, mpconn_msg_value(m), &text, len);
  FUZZ_CHECK_RC(rc == 0, rc);
  FUZZ_CHECK(text && strlen(text) == *len);
  FUZZ_CHECK(memchr(text, '\n', *len) == NULL);
  mpconn_msg_free(m);
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (mpconn__validate(data, size) < 0)
    return 0;
  size_t len;
  char *text = decode(data, size, &len);

  msgpack_sbuffer sb;
  FUZZ_CHECK(encode(text, len, &sb) == 0);
  FUZZ_CHECK(mpconn__validate((const uint8_t *)sb.data, sb.size) == 0);
  size_t len2;
  char *text2 = decode(sb.data, sb.size, &len2);
  FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);

  /* Byte identity for canonical input. */
  mpconn_msg *m;
  FUZZ_CHECK(fuzz_msg(data, size, false, &m) == 0);
  msgpack_sbuffer repacked = pack(mpconn_msg_value(m));
  if (same(&repacked, data, size) && canonical(m, mpconn_msg_value(m)))
    FUZZ_CHECK(same(&sb, data, size));

  msgpack_sbuffer_destroy(&repacked);
  mpconn_msg_free(m);
  free(text2);
  msgpack_sbuffer_destroy(&sb);
  free(text);
  return 0;
}
