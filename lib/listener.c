/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets, like Python's multiprocessing.connection.Listener:
 * binding (Unix socket files private to this user, stale files replaced,
 * live ones left alone), accepting, and the handshake of each client.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

/*
 * After bind() failed with EADDRINUSE on a path: remove the file if it is a
 * socket nobody listens on any more (a connect is refused), so that bind()
 * can be tried again.  A live listener's socket, or anything that is not a
 * socket, is left alone: MPCONN_EADDRINUSE.
 */
static int remove_stale(const struct mpconn__addr *a, const char *path) {
  struct stat st, again;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return MPCONN_EADDRINUSE;
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (probe < 0)
    return -errno;
  int rc = connect(probe, (const struct sockaddr *)&a->ss, a->len);
  int err = errno;
  close(probe);
  /* Connected, busy (EAGAIN), or not ours to judge (EACCES...): in use. */
  if (rc == 0 || err != ECONNREFUSED)
    return MPCONN_EADDRINUSE;
  if (lstat(path, &again) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    return MPCONN_EADDRINUSE; /* replaced meanwhile: look no further */
  if (unlink(path) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

/*
 * Bind to a Unix path, creating the socket file with mode 0600.  Linux
 * gives the new file the mode of the socket's own inode less the umask,
 * so fchmod() before bind() makes it private from the first instant
 * without touching the process-wide umask.
 */
static int bind_path(mpconn_listener *l, const struct mpconn__addr *a) {
  if (fchmod(l->fd, S_IRUSR | S_IWUSR) < 0)
    return -errno;
  for (int attempt = 0;; attempt++) {
    if (bind(l->fd, (const struct sockaddr *)&a->ss, a->len) == 0)
      break;
    if (errno != EADDRINUSE)
      return -errno;
    if (attempt > 0)
      return MPCONN_EADDRINUSE;
    int rc = remove_stale(a, l->path);
    if (rc < 0)
      return rc;
  }
  struct stat st;
  if (lstat(l->path, &st) < 0) {
    int rc = -errno;
    unlink(l->path);
    return rc;
  }
  l->owner = getpid();
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  return 0;
}

/* Remove the socket file if it is still the one this process created. */
static int unlink_own(mpconn_listener *l) {
  struct stat st;
  if (!l->path || l->owner != getpid() || lstat(l->path, &st) < 0 ||
      st.st_dev != l->dev || st.st_ino != l->ino)
    return 0;
  return unlink(l->path) < 0 && errno != ENOENT ? -errno : 0;
}

static int copy_options(mpconn_listener *l, const mpconn_net_options *o) {
  if (!o)
    return 0;
  l->same_uid = o->same_uid_only;
  l->handshake_timeout_ms = o->handshake_timeout_ms;
  if (o->max_pending > 0)
    l->max_pending = (size_t)o->max_pending;
  if (!o->authkey)
    return 0;
  l->key = malloc(o->authkey_len ? o->authkey_len : 1);
  if (!l->key)
    return MPCONN_ENOMEM;
  if (o->authkey_len)
    memcpy(l->key, o->authkey, o->authkey_len);
  l->keylen = o->authkey_len;
  l->has_key = true;
  return 0;
}

static int open_socket(mpconn_listener *l, const struct mpconn__addr *a,
                       int backlog) {
  const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
  if (l->family == AF_UNIX && !a->autobind && un->sun_path[0] != '\0') {
    l->path = strdup(un->sun_path);
    if (!l->path)
      return MPCONN_ENOMEM;
  }
  /* Non-blocking, so that accept() after poll() never blocks when another
   * thread took the client first. */
  l->fd = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (l->fd < 0)
    return -errno;
  int rc = 0;
  if (l->path) {
    rc = bind_path(l, a);
  } else {
    int one = 1;
    if (l->family != AF_UNIX &&
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
      return -errno;
    if (bind(l->fd, (const struct sockaddr *)&a->ss, a->len) < 0)
      rc = -errno;
  }
  if (rc < 0)
    return rc;
  if (listen(l->fd, backlog ? backlog : SOMAXCONN) < 0) {
    rc = -errno;
    unlink_own(l);
  }
  return rc;
}

int mpconn_listener_new(mpconn_listener **l, const char *address,
                        const mpconn_net_options *o) {
  if (l)
    *l = NULL;
  /* A length without a key is a key that went missing: never run open. */
  if (!l || !address ||
      (o && (o->backlog < 0 || (!o->authkey && o->authkey_len))))
    return MPCONN_EINVAL;
  struct mpconn__addr a;
  int rc = mpconn__addr_parse(&a, address, true);
  if (rc < 0)
    return rc;
  int family = a.ss.ss_family;
  if (o && o->same_uid_only && family != AF_UNIX)
    return MPCONN_EINVAL;
  mpconn_listener *n = calloc(1, sizeof(*n));
  if (!n)
    return MPCONN_ENOMEM;
  n->fd = n->ep = n->timer = n->reserve = -1;
  n->max_pending = MPCONN_DEFAULT_MAX_PENDING;
  n->family = family;
  pthread_mutex_init(&n->lock, NULL);
  rc = copy_options(n, o);
  if (rc == 0)
    rc = open_socket(n, &a, o ? o->backlog : 0);
  if (rc == 0)
    rc = mpconn__accept_init(n);
  if (rc < 0) {
    mpconn_listener_free(n);
    return rc;
  }
  *l = n;
  return 0;
}

int mpconn_listener_address(const mpconn_listener *l, char *buf, size_t size) {
  if (!l || !buf)
    return MPCONN_EINVAL;
  if (l->closed)
    return MPCONN_ECLOSED;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
    return -errno;
  return mpconn__addr_format((const struct sockaddr *)&ss, len, buf, size);
}

int mpconn_listener_fileno(const mpconn_listener *l) {
  if (!l)
    return MPCONN_EINVAL;
  return l->closed ? MPCONN_ECLOSED : l->ep;
}

int mpconn_listener_close(mpconn_listener *l) {
  if (!l)
    return 0;
  pthread_mutex_lock(&l->lock);
  bool was = l->closed;
  l->closed = true;
  mpconn__accept_release(l);
  pthread_mutex_unlock(&l->lock);
  if (was)
    return 0;
  /* The file goes first: there is no moment when it exists but refuses
   * connections, which would make it look stale to a new listener. */
  int rc = unlink_own(l);
  if (l->fd >= 0 && close(l->fd) < 0 && errno != EINTR && rc == 0)
    rc = -errno;
  l->fd = -1;
  return rc;
}

void mpconn_listener_free(mpconn_listener *l) {
  if (!l)
    return;
  mpconn_listener_close(l);
  if (l->key)
    OPENSSL_cleanse(l->key, l->keylen);
  free(l->key);
  free(l->path);
  pthread_mutex_destroy(&l->lock);
  free(l);
}
