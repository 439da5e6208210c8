/* SPDX-License-Identifier: MIT */
/* tools/lex.c: UTF-8 validity and the integer tokens of JSON text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lex.h"

#define VALID(s) tool_utf8_valid(s, sizeof(s) - 1)

static void utf8(void **state) {
  (void)state;
  assert_true(VALID(""));
  assert_true(VALID("plain ascii \x7f"));
  assert_true(VALID("a\0b"));
  assert_true(VALID("\xc2\x80"));         /* U+0080 */
  assert_true(VALID("\xdf\xbf"));         /* U+07FF */
  assert_true(VALID("\xe0\xa0\x80"));     /* U+0800 */
  assert_true(VALID("\xed\x9f\xbf"));     /* U+D7FF */
  assert_true(VALID("\xee\x80\x80"));     /* U+E000 */
  assert_true(VALID("\xef\xbf\xbf"));     /* U+FFFF */
  assert_true(VALID("\xf0\x90\x80\x80")); /* U+10000 */
  assert_true(VALID("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
  assert_true(VALID("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"));

  assert_false(VALID("\x80")); /* lone continuation */
  assert_false(VALID("\xbf"));
  assert_false(VALID("\xc0\x80"));         /* overlong NUL */
  assert_false(VALID("\xc1\xbf"));         /* overlong */
  assert_false(VALID("\xe0\x9f\xbf"));     /* overlong U+07FF */
  assert_false(VALID("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
  assert_false(VALID("\xed\xa0\x80"));     /* U+D800 */
  assert_false(VALID("\xed\xbf\xbf"));     /* U+DFFF */
  assert_false(VALID("\xf4\x90\x80\x80")); /* U+110000 */
  assert_false(VALID("\xf5\x80\x80\x80"));
  assert_false(VALID("\xff"));
  assert_false(VALID("\xc3")); /* cut short */
  assert_false(VALID("\xe6\x97"));
  assert_false(VALID("\xf0\x9f\x98"));
  assert_false(VALID("\xc3\x28")); /* bad continuation */
  assert_false(VALID("ok\xe6\x97\x41"));
}

/* The integer tokens of text, joined by '|'. */
static void tokens(const char *text, const char *want) {
  struct tool_int_scan s;
  tool_int_scan_init(&s, text, strlen(text));
  char got[256] = "";
  const char *tok;
  size_t len;
  while (tool_int_scan_next(&s, &tok, &len)) {
    if (got[0])
      strcat(got, "|");
    strncat(got, tok, len);
  }
  assert_string_equal(got, want);
}

static void int_tokens(void **state) {
  (void)state;
  tokens("", "");
  tokens("0", "0");
  tokens("-12", "-12");
  tokens("[1,-2, 3 ,4]", "1|-2|3|4");
  tokens("[1.0,2e5,3E-1,-4.5e+6,7]", "7");
  tokens("{\"1\":2,\"a3\":[4]}", "2|4");
  tokens("[\"\\\"5\",6]", "6");
  tokens("[\"\\\\\",7,\"8\\\\\\\"9\"]", "7");
  tokens("[true,false,null,10]", "10");
  tokens("{\"k\":18446744073709551615}", "18446744073709551615");
  /* An unterminated string hides the rest; text stays in bounds. */
  tokens("[1,\"2", "1");
  tokens("[1,\"\\", "1");
}

static void big_uint(void **state) {
  (void)state;
  uint64_t v = 0;
#define BIG(s) tool_big_uint(s, strlen(s), &v)
  assert_false(BIG("0"));
  assert_false(BIG("9223372036854775807"));
  assert_true(BIG("9223372036854775808"));
  assert_true(v == (uint64_t)INT64_MAX + 1);
  assert_true(BIG("18446744073709551615"));
  assert_true(v == UINT64_MAX);
  assert_true(BIG("10000000000000000000"));
  assert_true(v == 10000000000000000000u);
  assert_false(BIG("18446744073709551616"));
  assert_false(BIG("99999999999999999999"));
  assert_false(BIG("100000000000000000000"));
  assert_false(BIG("09223372036854775808"));
  assert_false(BIG("-9223372036854775809"));
  assert_false(BIG("-18446744073709551615"));
#undef BIG
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8),
      cmocka_unit_test(int_tokens),
      cmocka_unit_test(big_uint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
