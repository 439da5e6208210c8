/* SPDX-License-Identifier: MIT */
#include "lex.h"

bool tool_utf8_valid(const char *s, size_t n) {
  if (n == 0)
    return true; /* s may be NULL: msgpack-c's empty str */
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *end = p + n;
  while (p < end) {
    unsigned char c = *p++;
    if (c < 0x80)
      continue;
    unsigned more;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      more = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      /* A continuation byte, an overlong lead (c0, c1) or f5..ff. */
      return false;
    }
    if ((size_t)(end - p) < more)
      return false;
    for (unsigned i = 0; i < more; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    p += more;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
  }
  return true;
}

void tool_int_scan_init(struct tool_int_scan *s, const char *text, size_t len) {
  s->p = text;
  s->end = text + len;
}

bool tool_int_scan_next(struct tool_int_scan *s, const char **tok,
                        size_t *len) {
  const char *p = s->p, *end = s->end;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      /* Skip the string; an escape hides the character after it. */
      for (p++; p < end && *p != '"'; p++)
        if (*p == '\\' && p + 1 < end)
          p++;
      if (p < end)
        p++;
      continue;
    }
    if (c != '-' && !(c >= '0' && c <= '9')) {
      p++;
      continue;
    }
    const char *start = p;
    bool integer = true;
    for (; p < end; p++) {
      c = *p;
      if (c == '.' || c == 'e' || c == 'E')
        integer = false;
      else if (c != '-' && c != '+' && !(c >= '0' && c <= '9'))
        break;
    }
    if (integer) {
      s->p = p;
      *tok = start;
      *len = (size_t)(p - start);
      return true;
    }
  }
  s->p = p;
  return false;
}

bool tool_big_uint(const char *tok, size_t len, uint64_t *v) {
  /* INT64_MAX has 19 digits and UINT64_MAX 20. */
  if (len < 19 || len > 20 || tok[0] == '0')
    return false;
  uint64_t x = 0;
  for (size_t i = 0; i < len; i++) {
    if (tok[i] < '0' || tok[i] > '9')
      return false;
    unsigned d = (unsigned)(tok[i] - '0');
    if (x > (UINT64_MAX - d) / 10)
      return false;
    x = x * 10 + d;
  }
  if (x <= (uint64_t)INT64_MAX)
    return false;
  *v = x;
  return true;
}
