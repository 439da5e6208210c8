/* SPDX-License-Identifier: MIT */
/*
 * A simplex pipe used the wrong way round.  The C version of:
 *
 *     r, w = Pipe(duplex=False)
 *     try:
 *         w.recv_bytes()
 *     except OSError as e:
 *         print("recv on the write end:", e)    # connection is write-only
 *     try:
 *         r.send_bytes(b"hello")
 *     except OSError as e:
 *         print("send on the read end:", e)     # connection is read-only
 *
 * then the right way, then after closing the write end.  A call in the
 * wrong direction fails at once and changes nothing: the pipe still works.
 *
 * Prints (the last line is wrapped here):
 *     r: readable=1 writable=0
 *     w: readable=0 writable=1
 *     recv on the write end: MPCONN_EWRITEONLY (connection is write-only)
 *     send on the read end: MPCONN_EREADONLY (connection is read-only)
 *     the right way round: hello
 *     send on a closed end: MPCONN_ECLOSED (handle is closed)
 *     recv after the writer closed: MPCONN_EOF (end of file: the peer
 *         closed the connection)
 */
#include <stdio.h>
#include <stdlib.h>

#include "mpconn.h"

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* Print a failure that was meant to happen; exit if another code came. */
static void expect(int rc, int want, const char *what) {
  if (rc != want) {
    fprintf(stderr, "%s: expected %s, got %d (%s)\n", what,
            mpconn_err_name(want), rc, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
  printf("%s: %s (%s)\n", what, mpconn_err_name(rc), mpconn_strerror(rc));
}

int main(void) {
  mpconn *r, *w;
  check(mpconn_pipe(&r, &w, false), "pipe");
  printf("r: readable=%d writable=%d\n", mpconn_readable(r),
         mpconn_writable(r));
  printf("w: readable=%d writable=%d\n", mpconn_readable(w),
         mpconn_writable(w));

  void *data;
  size_t len;
  expect(mpconn_recv_bytes(w, &data, &len, MPCONN_UNLIMITED, 0),
         MPCONN_EWRITEONLY, "recv on the write end");
  expect(mpconn_send_bytes(r, "hello", 5), MPCONN_EREADONLY,
         "send on the read end");

  check(mpconn_send_bytes(w, "hello", 5), "send");
  check(mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, -1), "recv");
  printf("the right way round: %.*s\n", (int)len, (const char *)data);
  free(data);

  check(mpconn_close(w), "close");
  expect(mpconn_send_bytes(w, "hello", 5), MPCONN_ECLOSED,
         "send on a closed end");
  expect(mpconn_recv_bytes(r, &data, &len, MPCONN_UNLIMITED, -1), MPCONN_EOF,
         "recv after the writer closed");

  mpconn_free(w);
  mpconn_free(r);
  return EXIT_SUCCESS;
}
