/* SPDX-License-Identifier: MIT */
/* A program of a project that has mpconn as a subproject: one value
 * through a pair, taken apart with a format. */
#include <mpconn.h>
#include <stdio.h>

int main(void) {
  mpconn *a, *b;
  if (mpconn_pipe(&a, &b, true) < 0)
    return 1;
  int rc =
      mpconn_sendf(a, "{s:s, s:[i, i, i]}", "from", "subproject", "n", 1, 2, 3);
  mpconn_msg *m = NULL;
  if (rc == 0)
    rc = mpconn_recv(b, &m, 5000);
  char from[16] = "";
  mpconn_iter n;
  int sum = 0, x;
  mpconn_error err;
  if (rc == 0)
    rc = mpconn_unpackf(mpconn_msg_value(m), &err, "{s:s, s:[i ...]}", "from",
                        from, sizeof(from), "n", &n);
  while (rc == 0 && (rc = mpconn_iter_next(&n, &err, &x)) == 1) {
    sum += x;
    rc = 0;
  }
  mpconn_msg_free(m);
  mpconn_free(a);
  mpconn_free(b);
  if (rc < 0) {
    printf("consumer: %s\n", mpconn_strerror(rc));
    return 1;
  }
  printf("consumer: %s, sum %d\n", from, sum);
  return 0;
}
