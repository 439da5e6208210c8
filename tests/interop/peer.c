/* SPDX-License-Identifier: MIT */
/*
 * The C side of the interop tests, driven by a Python script.
 *
 *   MPCONN_FD=SPEC peer STEP...
 *
 * SPEC names the descriptors the script left open ("FD" or "RFD,WFD", see
 * mpconn_from_string()).  The steps run in order; the first that does not
 * go exactly as expected prints why on stderr and exits with status 1.
 *
 *   send:N         send the next C message of N bytes
 *   recv:N         mpconn_recv_bytes() gives the next Python message, N bytes
 *   recv-into:N    the same through mpconn_recv_bytes_into(): first into a
 *                  buffer one byte short (MPCONN_ETOOSHORT, nothing
 *                  consumed), then into an exact fit at an offset
 *   expect:NAME    mpconn_recv_bytes() fails with MPCONN_NAME
 *   expect-send:NAME  mpconn_send_bytes() fails with MPCONN_NAME
 *   close          mpconn_close() succeeds
 *   wait-stdin     read standard input until end of file
 *
 * Message contents are in interop-pattern.h; the k-th message received must
 * be pattern k of its size with PY_TAG, the k-th sent is pattern k with
 * C_TAG.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop-pattern.h"
#include "mpconn.h"
#include "peer-util.h"

/* No step should wait this long; a receive that does reports it. */
#define TIMEOUT_MS 30000
/* Where mpconn_recv_bytes_into() puts the payload, and the guard after it. */
#define INTO_OFFSET 7
#define INTO_TAIL 9
#define GUARD 0xa5

static mpconn *conn;
static size_t nsent, nreceived;

static void do_send(size_t n) {
  uint8_t *p = xmalloc(n);
  pattern_fill(p, n, nsent, C_TAG);
  check_ok(mpconn_send_bytes(conn, p, n), "mpconn_send_bytes");
  free(p);
  nsent++;
}

static void do_recv(size_t n) {
  void *data;
  size_t len;
  check_ok(mpconn_recv_bytes(conn, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS),
           "mpconn_recv_bytes");
  if (!pattern_check(data, len, n, nreceived, PY_TAG))
    die("wrong message");
  free(data);
  nreceived++;
}

static void check_guard(const uint8_t *p, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (p[i] != GUARD)
      die("byte %zu of the buffer was overwritten", i);
}

static void do_recv_into(size_t n) {
  size_t size = INTO_OFFSET + n + INTO_TAIL;
  uint8_t *buf = xmalloc(size);
  memset(buf, GUARD, size);
  size_t len = 0;
  if (n > 0) {
    int rc = mpconn_recv_bytes_into(conn, buf, INTO_OFFSET + n - 1, INTO_OFFSET,
                                    &len, TIMEOUT_MS);
    check_code(rc, "ETOOSHORT", "mpconn_recv_bytes_into (one byte short)");
    if (len != n)
      die("MPCONN_ETOOSHORT reported %zu bytes needed, expected %zu", len, n);
    check_guard(buf, 0, size);
  }
  check_ok(mpconn_recv_bytes_into(conn, buf, INTO_OFFSET + n, INTO_OFFSET, &len,
                                  TIMEOUT_MS),
           "mpconn_recv_bytes_into");
  if (!pattern_check(buf + INTO_OFFSET, len, n, nreceived, PY_TAG))
    die("wrong message");
  check_guard(buf, 0, INTO_OFFSET);
  check_guard(buf, INTO_OFFSET + n, size);
  free(buf);
  nreceived++;
}

static void do_expect(const char *name) {
  void *data = NULL;
  size_t len = 0;
  int rc = mpconn_recv_bytes(conn, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS);
  if (rc == 0) {
    free(data);
    die("received a message of %zu bytes, expected MPCONN_%s", len, name);
  }
  check_code(rc, name, "mpconn_recv_bytes");
}

static void do_wait_stdin(void) {
  char b[64];
  ssize_t n;
  while ((n = read(0, b, sizeof(b))) != 0)
    if (n < 0 && errno != EINTR)
      die("reading standard input: %s", strerror(errno));
}

/* The argument of step "verb:arg", or NULL when the step is another verb. */
static const char *arg_of(const char *step, const char *verb) {
  size_t n = strlen(verb);
  return strncmp(step, verb, n) == 0 && step[n] == ':' ? step + n + 1 : NULL;
}

static void run_step(const char *step) {
  const char *arg;
  snprintf(peer_step, sizeof(peer_step), "'%s'", step);
  if ((arg = arg_of(step, "send")))
    do_send(parse_size(arg));
  else if ((arg = arg_of(step, "recv")))
    do_recv(parse_size(arg));
  else if ((arg = arg_of(step, "recv-into")))
    do_recv_into(parse_size(arg));
  else if ((arg = arg_of(step, "expect")))
    do_expect(arg);
  else if ((arg = arg_of(step, "expect-send")))
    check_code(mpconn_send_bytes(conn, "x", 1), arg, "mpconn_send_bytes");
  else if ((arg = arg_of(step, "deliver")))
    check_ok(mpconn_deliver_challenge(conn, arg, strlen(arg), TIMEOUT_MS),
             "mpconn_deliver_challenge");
  else if ((arg = arg_of(step, "answer")))
    check_ok(mpconn_answer_challenge(conn, arg, strlen(arg), TIMEOUT_MS),
             "mpconn_answer_challenge");
  else if ((arg = arg_of(step, "deliver-refuses")))
    check_code(mpconn_deliver_challenge(conn, arg, strlen(arg), TIMEOUT_MS),
               "EAUTH", "mpconn_deliver_challenge");
  else if ((arg = arg_of(step, "answer-refused")))
    check_code(mpconn_answer_challenge(conn, arg, strlen(arg), TIMEOUT_MS),
               "EAUTH", "mpconn_answer_challenge");
  else if (strcmp(step, "close") == 0)
    check_ok(mpconn_close(conn), "mpconn_close");
  else if (strcmp(step, "wait-stdin") == 0)
    do_wait_stdin();
  else
    die("unknown step");
}

int main(int argc, char **argv) {
  peer_name = "peer";
  if (argc < 2) {
    fprintf(stderr, "usage: MPCONN_FD=SPEC %s STEP...\n", argv[0]);
    return 2;
  }
  const char *spec = getenv("MPCONN_FD");
  if (!spec)
    die("MPCONN_FD is not set");
  check_ok(mpconn_from_string(&conn, spec), "mpconn_from_string");
  for (int i = 1; i < argc; i++)
    run_step(argv[i]);
  mpconn_free(conn);
  return 0;
}
