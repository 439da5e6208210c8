/* SPDX-License-Identifier: MIT */
/* Address strings (lib/address.c): every form, and every malformed one. */
#include "test-util.h"

#include "mpconn-private.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#define SUN_OFFSET offsetof(struct sockaddr_un, sun_path)

static const struct sockaddr_un *un_of(const struct mpconn__addr *a) {
  return (const struct sockaddr_un *)&a->ss;
}

static void check_format(const struct mpconn__addr *a, const char *want) {
  char buf[MPCONN_ADDRESS_MAX];
  assert_int_equal(mpconn__addr_format((const struct sockaddr *)&a->ss, a->len,
                                       buf, sizeof(buf)),
                   0);
  assert_string_equal(buf, want);
}

static void test_path(void **state) {
  (void)state;
  struct mpconn__addr a;
  const char *forms[] = {"/tmp/x.sock", "./sock", "a/b", "/a:1", "dir/@x"};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    for (int listening = 0; listening < 2; listening++) {
      assert_int_equal(mpconn__addr_parse(&a, forms[i], listening), 0);
      assert_int_equal(a.ss.ss_family, AF_UNIX);
      assert_false(a.autobind);
      assert_string_equal(un_of(&a)->sun_path, forms[i]);
      assert_int_equal(a.len, SUN_OFFSET + strlen(forms[i]) + 1);
      check_format(&a, forms[i]);
    }
  }
}

static void test_path_length(void **state) {
  (void)state;
  struct mpconn__addr a;
  char path[120];
  memset(path, 'p', sizeof(path));
  path[0] = '/';
  path[107] = '\0'; /* 107 bytes and the NUL fill sun_path exactly */
  assert_int_equal(mpconn__addr_parse(&a, path, true), 0);
  assert_int_equal(a.len, sizeof(struct sockaddr_un));
  check_format(&a, path);
  path[107] = 'p';
  path[108] = '\0';
  assert_int_equal(mpconn__addr_parse(&a, path, true), -ENAMETOOLONG);
  assert_int_equal(mpconn__addr_parse(&a, path, false), -ENAMETOOLONG);
}

static void test_abstract(void **state) {
  (void)state;
  struct mpconn__addr a;
  const char *forms[] = {"@name", "@a/b:1", "@@", "@[::1]:80"};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    size_t n = strlen(forms[i]) - 1;
    assert_int_equal(mpconn__addr_parse(&a, forms[i], false), 0);
    assert_int_equal(a.ss.ss_family, AF_UNIX);
    assert_false(a.autobind);
    /* A NUL, then the name, and no terminator in the length. */
    assert_int_equal(un_of(&a)->sun_path[0], 0);
    assert_memory_equal(un_of(&a)->sun_path + 1, forms[i] + 1, n);
    assert_int_equal(a.len, SUN_OFFSET + 1 + n);
    check_format(&a, forms[i]);
  }
  char name[120];
  memset(name, 'n', sizeof(name));
  name[0] = '@';
  name[108] = '\0'; /* 107 bytes of name */
  assert_int_equal(mpconn__addr_parse(&a, name, false), 0);
  check_format(&a, name);
  name[108] = 'n';
  name[109] = '\0';
  assert_int_equal(mpconn__addr_parse(&a, name, true), -ENAMETOOLONG);
}

static void test_autobind(void **state) {
  (void)state;
  struct mpconn__addr a;
  assert_int_equal(mpconn__addr_parse(&a, "@", true), 0);
  assert_true(a.autobind);
  assert_int_equal(a.ss.ss_family, AF_UNIX);
  assert_int_equal(a.len, SUN_OFFSET);
  /* A client needs a name. */
  assert_int_equal(mpconn__addr_parse(&a, "@", false), MPCONN_EBADADDR);
}

static void check_inet4(const char *s, bool listening, const char *ip,
                        unsigned port, const char *formatted) {
  struct mpconn__addr a;
  assert_int_equal(mpconn__addr_parse(&a, s, listening), 0);
  const struct sockaddr_in *in = (const struct sockaddr_in *)&a.ss;
  assert_int_equal(in->sin_family, AF_INET);
  assert_int_equal(a.len, sizeof(*in));
  assert_int_equal(ntohs(in->sin_port), port);
  struct in_addr want;
  assert_int_equal(inet_pton(AF_INET, ip, &want), 1);
  assert_memory_equal(&in->sin_addr, &want, sizeof(want));
  check_format(&a, formatted);
}

static void test_inet4(void **state) {
  (void)state;
  check_inet4("127.0.0.1:6000", false, "127.0.0.1", 6000, "127.0.0.1:6000");
  check_inet4("127.0.0.1:1", false, "127.0.0.1", 1, "127.0.0.1:1");
  check_inet4("255.255.255.255:65535", false, "255.255.255.255", 65535,
              "255.255.255.255:65535");
  check_inet4("localhost:80", false, "127.0.0.1", 80, "127.0.0.1:80");
  check_inet4("0.0.0.0:0", true, "0.0.0.0", 0, "0.0.0.0:0");
  check_inet4("127.0.0.1:00080", false, "127.0.0.1", 80, "127.0.0.1:80");
}

static void check_inet6(const char *s, bool listening, const char *ip,
                        unsigned port, const char *formatted) {
  struct mpconn__addr a;
  assert_int_equal(mpconn__addr_parse(&a, s, listening), 0);
  const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.ss;
  assert_int_equal(in6->sin6_family, AF_INET6);
  assert_int_equal(a.len, sizeof(*in6));
  assert_int_equal(ntohs(in6->sin6_port), port);
  struct in6_addr want;
  assert_int_equal(inet_pton(AF_INET6, ip, &want), 1);
  assert_memory_equal(&in6->sin6_addr, &want, sizeof(want));
  check_format(&a, formatted);
}

static void test_inet6(void **state) {
  (void)state;
  check_inet6("[::1]:6000", false, "::1", 6000, "[::1]:6000");
  check_inet6("[::]:0", true, "::", 0, "[::]:0");
  check_inet6("[0:0:0:0:0:0:0:1]:7", false, "::1", 7, "[::1]:7");
  check_inet6("[::ffff:127.0.0.1]:5", false, "::ffff:127.0.0.1", 5,
              "[::ffff:127.0.0.1]:5");
}

static void test_port_zero_only_to_listen(void **state) {
  (void)state;
  struct mpconn__addr a;
  assert_int_equal(mpconn__addr_parse(&a, "127.0.0.1:0", false),
                   MPCONN_EBADADDR);
  assert_int_equal(mpconn__addr_parse(&a, "[::1]:0", false), MPCONN_EBADADDR);
  assert_int_equal(mpconn__addr_parse(&a, "[::1]:00000", true), 0);
}

static void test_malformed(void **state) {
  (void)state;
  static const char *bad[] = {
      "",
      "sock",
      "127.0.0.1",
      "127.0.0.1:",
      ":80",
      "127.0.0.1:65536",
      "127.0.0.1:99999",
      "127.0.0.1:123456",
      "127.0.0.1:-1",
      "127.0.0.1:+80",
      "127.0.0.1: 80",
      " 127.0.0.1:80",
      "127.0.0.1:80 ",
      "127.0.0.1:8a",
      "127.0.0.1:0x50",
      "256.0.0.1:80",
      "1.2.3:80",
      "1.2.3.4.5:80",
      "127.1:80",
      "0127.0.0.1:80",
      "example.com:80",
      "LOCALHOST:80",
      "localhost",
      "1.2.3.4:80:90",
      "::1:80",
      "[::1]",
      "[::1]:",
      "[::1]80",
      "[::1:80",
      "[]:80",
      "[127.0.0.1]:80",
      "[::1]:65536",
      "[::1]:-5",
      "[fe80::1%lo]:80",
      "[::1]:80]",
      "[[::1]]:80",
      "[::g]:80",
      "[1:2:3:4:5:6:7:8:9]:80",
  };
  struct mpconn__addr a;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    for (int listening = 0; listening < 2; listening++) {
      memset(&a, 0x5a, sizeof(a));
      int rc = mpconn__addr_parse(&a, bad[i], listening);
      if (rc != MPCONN_EBADADDR)
        fail_msg("\"%s\" (listening %d): %d", bad[i], listening, rc);
      /* Nothing half-parsed is left behind. */
      assert_int_equal(a.len, 0);
    }
  }
}

static void test_null(void **state) {
  (void)state;
  struct mpconn__addr a;
  assert_int_equal(mpconn__addr_parse(NULL, "/x", true), MPCONN_EINVAL);
  assert_int_equal(mpconn__addr_parse(&a, NULL, true), MPCONN_EINVAL);
}

static void test_format_limits(void **state) {
  (void)state;
  struct mpconn__addr a;
  char buf[64];
  assert_int_equal(mpconn__addr_parse(&a, "127.0.0.1:80", false), 0);
  const struct sockaddr *sa = (const struct sockaddr *)&a.ss;
  /* "127.0.0.1:80" is 12 bytes: 13 with the NUL. */
  assert_int_equal(mpconn__addr_format(sa, a.len, buf, 13), 0);
  assert_string_equal(buf, "127.0.0.1:80");
  assert_int_equal(mpconn__addr_format(sa, a.len, buf, 12), MPCONN_EINVAL);
  assert_int_equal(mpconn__addr_format(sa, a.len, buf, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn__addr_format(sa, a.len, NULL, 10), MPCONN_EINVAL);
  assert_int_equal(mpconn__addr_format(NULL, a.len, buf, 10), MPCONN_EINVAL);

  /* An unnamed Unix socket, and an abstract name holding a NUL. */
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  assert_int_equal(
      mpconn__addr_format((struct sockaddr *)&un, SUN_OFFSET, buf, sizeof(buf)),
      MPCONN_EINVAL);
  memcpy(un.sun_path, "\0a\0b", 4);
  assert_int_equal(mpconn__addr_format((struct sockaddr *)&un, SUN_OFFSET + 4,
                                       buf, sizeof(buf)),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn__addr_format((struct sockaddr *)&un, SUN_OFFSET + 2,
                                       buf, sizeof(buf)),
                   0);
  assert_string_equal(buf, "@a");

  struct sockaddr other = {.sa_family = AF_APPLETALK};
  assert_int_equal(mpconn__addr_format(&other, sizeof(other), buf, sizeof(buf)),
                   MPCONN_EINVAL);
}

/* The longest strings of every form fit in MPCONN_ADDRESS_MAX. */
static void test_address_max(void **state) {
  (void)state;
  char path[120], name[120];
  memset(path, 'p', sizeof(path));
  path[0] = '/';
  path[107] = '\0';
  memset(name, 'n', sizeof(name));
  name[0] = '@';
  name[108] = '\0';
  const char *longest[] = {
      path, name, "255.255.255.255:65535",
      "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"};
  for (size_t i = 0; i < sizeof(longest) / sizeof(longest[0]); i++) {
    struct mpconn__addr a;
    assert_int_equal(mpconn__addr_parse(&a, longest[i], false), 0);
    assert_true(strlen(longest[i]) < MPCONN_ADDRESS_MAX);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path),
      cmocka_unit_test(test_path_length),
      cmocka_unit_test(test_abstract),
      cmocka_unit_test(test_autobind),
      cmocka_unit_test(test_inet4),
      cmocka_unit_test(test_inet6),
      cmocka_unit_test(test_port_zero_only_to_listen),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_null),
      cmocka_unit_test(test_format_limits),
      cmocka_unit_test(test_address_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
