/* SPDX-License-Identifier: MIT */
/*
 * Address strings, both ways:
 *   "/path", "./sock"  AF_UNIX path (the string contains a '/')
 *   "@name"            Linux abstract AF_UNIX name; "@" alone lets the
 *                      kernel pick a free name (listeners only)
 *   "A.B.C.D:PORT"     AF_INET; "localhost" stands for 127.0.0.1, as it
 *                      does for Python's AF_INET listeners and clients
 *   "[V6]:PORT"        AF_INET6
 * Host names are never looked up: a library call must not block on DNS.
 */
#include "mpconn-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)
#define SUN_OFFSET offsetof(struct sockaddr_un, sun_path)

/* Decimal digits only, at most five, up to 65535; 0 only to listen. */
static int parse_port(const char *s, bool listening, uint16_t *port) {
  size_t n = strlen(s);
  if (n == 0 || n > 5)
    return MPCONN_EBADADDR;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return MPCONN_EBADADDR;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535 || (v == 0 && !listening))
    return MPCONN_EBADADDR;
  *port = (uint16_t)v;
  return 0;
}

/* Copy [s, s + n) into buf as a C string, if it fits. */
static bool copy_host(char *buf, size_t size, const char *s, size_t n) {
  if (n == 0 || n >= size)
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return true;
}

static int parse_unix(struct mpconn__addr *a, const char *s, bool abstract,
                      bool listening) {
  struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
  size_t n = strlen(s);
  un->sun_family = AF_UNIX;
  if (!abstract) {
    if (n >= SUN_PATH_SIZE)
      return -ENAMETOOLONG;
    memcpy(un->sun_path, s, n + 1);
    a->len = (socklen_t)(SUN_OFFSET + n + 1);
    return 0;
  }
  if (n == 0) {
    if (!listening)
      return MPCONN_EBADADDR;
    /* bind() with only the family autobinds to a free abstract name. */
    a->autobind = true;
    a->len = (socklen_t)SUN_OFFSET;
    return 0;
  }
  if (n >= SUN_PATH_SIZE)
    return -ENAMETOOLONG;
  /* The name's length is part of it: no terminating NUL is counted. */
  un->sun_path[0] = '\0';
  memcpy(un->sun_path + 1, s, n);
  a->len = (socklen_t)(SUN_OFFSET + 1 + n);
  return 0;
}

static int parse_inet6(struct mpconn__addr *a, const char *s, bool listening) {
  const char *close = strchr(s, ']');
  char host[INET6_ADDRSTRLEN];
  if (!close || close[1] != ':' ||
      !copy_host(host, sizeof(host), s + 1, (size_t)(close - s - 1)))
    return MPCONN_EBADADDR;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
  uint16_t port;
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1 ||
      parse_port(close + 2, listening, &port) < 0)
    return MPCONN_EBADADDR;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  a->len = sizeof(*in6);
  return 0;
}

static int parse_inet4(struct mpconn__addr *a, const char *s, bool listening) {
  const char *colon = strrchr(s, ':');
  char host[INET_ADDRSTRLEN];
  if (!colon || !copy_host(host, sizeof(host), s, (size_t)(colon - s)))
    return MPCONN_EBADADDR;
  struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
  uint16_t port;
  if (strcmp(host, "localhost") == 0)
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  else if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
    return MPCONN_EBADADDR;
  if (parse_port(colon + 1, listening, &port) < 0)
    return MPCONN_EBADADDR;
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  a->len = sizeof(*in);
  return 0;
}

int mpconn__addr_parse(struct mpconn__addr *a, const char *s, bool listening) {
  if (!a || !s)
    return MPCONN_EINVAL;
  memset(a, 0, sizeof(*a));
  int rc;
  if (s[0] == '@')
    rc = parse_unix(a, s + 1, true, listening);
  else if (strchr(s, '/'))
    rc = parse_unix(a, s, false, listening);
  else if (s[0] == '[')
    rc = parse_inet6(a, s, listening);
  else
    rc = parse_inet4(a, s, listening);
  if (rc < 0)
    memset(a, 0, sizeof(*a));
  return rc;
}

/* The result of snprintf() into a buffer of @size bytes. */
static int put(size_t size, int n) {
  return n < 0 || (size_t)n >= size ? MPCONN_EINVAL : 0;
}

static int format_unix(const struct sockaddr_un *un, socklen_t len, char *buf,
                       size_t size) {
  if (len <= SUN_OFFSET)
    return MPCONN_EINVAL; /* unnamed */
  size_t n = len - SUN_OFFSET;
  if (n > SUN_PATH_SIZE)
    n = SUN_PATH_SIZE;
  if (un->sun_path[0] != '\0') {
    n = strnlen(un->sun_path, n);
    return put(size, snprintf(buf, size, "%.*s", (int)n, un->sun_path));
  }
  /* An abstract name with a NUL inside has no string form. */
  if (memchr(un->sun_path + 1, '\0', n - 1))
    return MPCONN_EINVAL;
  return put(size,
             snprintf(buf, size, "@%.*s", (int)(n - 1), un->sun_path + 1));
}

int mpconn__addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                        size_t size) {
  if (!sa || !buf || size == 0)
    return MPCONN_EINVAL;
  char host[INET6_ADDRSTRLEN];
  switch (sa->sa_family) {
  case AF_UNIX:
    return format_unix((const struct sockaddr_un *)sa, len, buf, size);
  case AF_INET: {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
      return MPCONN_EINVAL;
    return put(size, snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port)));
  }
  case AF_INET6: {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
      return MPCONN_EINVAL;
    return put(size,
               snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port)));
  }
  default:
    return MPCONN_EINVAL;
  }
}
