/* SPDX-License-Identifier: MIT */
/* Connecting to a listener, like Python's Client(). */
#include "mpconn-private.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int mpconn_client(mpconn **c, const char *address,
                  const mpconn_net_options *o) {
  if (c)
    *c = NULL;
  /* A length without a key is a key that went missing: never run open. */
  if (!c || !address || (o && !o->authkey && o->authkey_len))
    return MPCONN_EINVAL;
  struct mpconn__addr a;
  int rc = mpconn__addr_parse(&a, address, false);
  if (rc < 0)
    return rc;
  int family = a.ss.ss_family;
  bool same_uid = o && o->same_uid_only;
  if (same_uid && family != AF_UNIX)
    return MPCONN_EINVAL;
  /* One deadline for connecting and the handshake together. */
  int64_t deadline = mpconn__handshake_deadline(o);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  rc = mpconn__connect(fd, &a, deadline);
  if (rc == 0)
    rc = mpconn__settle(fd, family, same_uid, false);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  mpconn *n;
  rc = mpconn_from_fds(&n, fd, fd);
  if (rc < 0)
    return rc;
  if (o && o->authkey) {
    /* Python's Client(): prove the key first, then make the listener
     * prove it. */
    rc = mpconn__handshake_run(n, o->authkey, o->authkey_len, MPCONN__HS_CLIENT,
                               deadline);
    if (rc < 0) {
      mpconn_free(n);
      return rc;
    }
  }
  *c = n;
  return 0;
}
