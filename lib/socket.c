/* SPDX-License-Identifier: MIT */
/*
 * Sockets on their way to becoming connections: connecting one, settling
 * a connected one (the client's and the listener's alike), and the
 * identity of the process at the other end of a Unix socket.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A Unix listener whose backlog is full refuses a non-blocking connect
 * with EAGAIN instead of queueing it: try again this often. */
#define BACKLOG_RETRY_MS 10

int mpconn__connect(int fd, const struct mpconn__addr *a, int64_t deadline) {
  const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
  for (;;) {
    if (connect(fd, sa, a->len) == 0)
      return 0;
    if (errno == EINPROGRESS || errno == EINTR)
      break; /* the connection goes on; wait for its outcome */
    if (errno != EAGAIN || sa->sa_family != AF_UNIX)
      return -errno;
    int left = mpconn__remaining_ms(deadline);
    if (left == 0)
      return MPCONN_ETIMEDOUT;
    if (left < 0 || left > BACKLOG_RETRY_MS)
      left = BACKLOG_RETRY_MS;
    poll(NULL, 0, left);
  }
  int rc = mpconn__wait_fd(fd, POLLOUT, deadline);
  if (rc < 0)
    return rc;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  return -err;
}

static int get_cred(int fd, struct ucred *u) {
  socklen_t len = sizeof(*u);
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, u, &len) < 0 ? -errno : 0;
}

int mpconn__check_peer_uid(int fd) {
  struct ucred u;
  int rc = get_cred(fd, &u);
  if (rc < 0)
    return rc;
  return u.uid == geteuid() ? 0 : MPCONN_EAUTH;
}

int mpconn__settle(int fd, int family, bool same_uid, bool nonblocking) {
  /* Blocking from now on, as Python's connections are. */
  int fl = nonblocking ? 0 : fcntl(fd, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
    return -errno;
  /* TCP without Nagle's delay, since every frame goes out in one write
   * anyway. */
  if (family != AF_UNIX) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return same_uid ? mpconn__check_peer_uid(fd) : 0;
}

int mpconn_peer_cred(const mpconn *c, pid_t *pid, uid_t *uid, gid_t *gid) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  int fd = c->rfd >= 0 ? c->rfd : c->wfd;
  int domain;
  socklen_t len = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
    return -errno;
  /* Other sockets answer SO_PEERCRED too, with made-up ids. */
  if (domain != AF_UNIX)
    return MPCONN_EINVAL;
  struct ucred u;
  int rc = get_cred(fd, &u);
  if (rc < 0)
    return rc;
  if (pid)
    *pid = u.pid;
  if (uid)
    *uid = u.uid;
  if (gid)
    *gid = u.gid;
  return 0;
}

int mpconn_peer_address(const mpconn *c, char *buf, size_t size) {
  if (!c || !buf || size == 0)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int fd = c->rfd >= 0 ? c->rfd : c->wfd;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
    return errno == ENOTSOCK ? MPCONN_EINVAL : -errno;
  /* A Unix client without a name, as Python's last_accepted gives it. */
  if (ss.ss_family == AF_UNIX &&
      len <= offsetof(struct sockaddr_un, sun_path)) {
    buf[0] = '\0';
    return 0;
  }
  return mpconn__addr_format((const struct sockaddr *)&ss, len, buf, size);
}
