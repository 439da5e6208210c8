/* SPDX-License-Identifier: MIT */
/* A program built against the installed library: a value through a pair,
 * and the version the header says. */
#include <mpconn.h>
#include <stdio.h>

int main(void) {
  mpconn *a, *b;
  if (mpconn_pipe(&a, &b, true) < 0)
    return 1;
  int rc = mpconn_sendf(b, "[s, <i, i>]", "installed", 2, 1);
  mpconn_msg *m = NULL;
  if (rc == 0)
    rc = mpconn_recv(a, &m, 5000);
  char what[16] = "";
  int low = 0, high = 0;
  mpconn_error err;
  if (rc == 0)
    rc = mpconn_unpackf(mpconn_msg_value(m), &err, "[s, <i, i>]", what,
                        sizeof(what), &low, &high);
  mpconn_msg_free(m);
  mpconn_free(a);
  mpconn_free(b);
  if (rc < 0) {
    printf("consumer: %s\n", mpconn_strerror(rc));
    return 1;
  }
  printf("consumer: %s %d.%d.%d, set %d %d\n", what, MPCONN_VERSION_MAJOR,
         MPCONN_VERSION_MINOR, MPCONN_VERSION_PATCH, low, high);
  return 0;
}
