/* SPDX-License-Identifier: MIT */
/*
 * The C side of the listener and client interop tests, driven by
 * test_listener.py.
 *
 *   net-peer KEY STEP...
 *
 * KEY is the authkey, or "-" for none.  The steps run in order; the first
 * that does not go exactly as expected prints why on stderr and exits with
 * status 1.
 *
 *   listen:ADDR          mpconn_listener_new(); then prints "listening on
 *                        BOUND-ADDRESS" on standard output
 *   accept               mpconn_listener_accept() gives the connection
 *   accept-fail:NAME     mpconn_listener_accept() fails with MPCONN_NAME
 *   connect:ADDR         mpconn_client() gives the connection
 *   connect-fail:NAME:ADDR  mpconn_client() fails with MPCONN_NAME
 *   send:N               send the next C message of N bytes
 *   recv:N               receive the next Python message, N bytes
 *   expect:NAME          mpconn_recv_bytes() fails with MPCONN_NAME
 *   close                free the connection
 *
 * Message contents are in interop-pattern.h; counting starts again with
 * each connection.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop-pattern.h"
#include "mpconn.h"
#include "peer-util.h"

static mpconn_listener *listener;
static mpconn *conn;
static mpconn_net_options opts;
static size_t nsent, nreceived;

static void need_conn(void) {
  if (!conn)
    die("no connection");
}

static void new_conn(mpconn *c) {
  mpconn_free(conn);
  conn = c;
  nsent = nreceived = 0;
}

static void do_listen(const char *addr) {
  check_ok(mpconn_listener_new(&listener, addr, &opts), "mpconn_listener_new");
  char bound[MPCONN_ADDRESS_MAX];
  check_ok(mpconn_listener_address(listener, bound, sizeof(bound)),
           "mpconn_listener_address");
  printf("listening on %s\n", bound);
  fflush(stdout);
}

static void do_accept(const char *fail) {
  if (!listener)
    die("no listener");
  mpconn *c;
  int rc = mpconn_listener_accept(listener, &c, TIMEOUT_MS);
  if (fail) {
    check_code(rc, fail, "mpconn_listener_accept");
    if (c)
      die("a connection came with the failure");
    return;
  }
  check_ok(rc, "mpconn_listener_accept");
  new_conn(c);
}

static void do_connect(const char *addr, const char *fail, size_t fail_len) {
  mpconn *c;
  int rc = mpconn_client(&c, addr, &opts);
  if (fail) {
    check_code_n(rc, fail, fail_len, "mpconn_client");
    if (c)
      die("a connection came with the failure");
    return;
  }
  check_ok(rc, "mpconn_client");
  new_conn(c);
}

static void do_send(size_t n) {
  need_conn();
  uint8_t *p = malloc(n ? n : 1);
  if (!p)
    die("out of memory");
  pattern_fill(p, n, nsent, C_TAG);
  check_ok(mpconn_send_bytes(conn, p, n), "mpconn_send_bytes");
  free(p);
  nsent++;
}

static void do_recv(size_t n) {
  need_conn();
  void *data;
  size_t len;
  check_ok(mpconn_recv_bytes(conn, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS),
           "mpconn_recv_bytes");
  if (!pattern_check(data, len, n, nreceived, PY_TAG))
    die("wrong message");
  free(data);
  nreceived++;
}

static void do_expect(const char *name) {
  need_conn();
  void *data = NULL;
  size_t len;
  int rc = mpconn_recv_bytes(conn, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS);
  if (rc == 0)
    free(data);
  check_code(rc, name, "mpconn_recv_bytes");
}

static const char *arg_of(const char *step, const char *verb) {
  size_t n = strlen(verb);
  return strncmp(step, verb, n) == 0 && step[n] == ':' ? step + n + 1 : NULL;
}

static void run_step(const char *step) {
  const char *a;
  snprintf(peer_step, sizeof(peer_step), "'%s'", step);
  if ((a = arg_of(step, "listen")))
    do_listen(a);
  else if (strcmp(step, "accept") == 0)
    do_accept(NULL);
  else if ((a = arg_of(step, "accept-fail")))
    do_accept(a);
  else if ((a = arg_of(step, "connect")))
    do_connect(a, NULL, 0);
  else if ((a = arg_of(step, "connect-fail"))) {
    const char *colon = strchr(a, ':');
    if (!colon)
      die("expected connect-fail:NAME:ADDR");
    do_connect(colon + 1, a, (size_t)(colon - a));
  } else if ((a = arg_of(step, "send")))
    do_send(parse_size(a));
  else if ((a = arg_of(step, "recv")))
    do_recv(parse_size(a));
  else if ((a = arg_of(step, "expect")))
    do_expect(a);
  else if (strcmp(step, "close") == 0)
    new_conn(NULL);
  else
    die("unknown step");
}

int main(int argc, char **argv) {
  peer_name = "net-peer";
  if (argc < 2) {
    fprintf(stderr, "usage: net-peer KEY|- STEP...\n");
    return 2;
  }
  if (strcmp(argv[1], "-") != 0) {
    opts.authkey = argv[1];
    opts.authkey_len = strlen(argv[1]);
  }
  opts.handshake_timeout_ms = TIMEOUT_MS;
  for (int i = 2; i < argc; i++)
    run_step(argv[i]);
  mpconn_free(conn);
  mpconn_listener_free(listener);
  return 0;
}
