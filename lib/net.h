/* SPDX-License-Identifier: MIT */
/* address.c, auth.c, client.c, listener.c — listeners, clients and the
 * handshake of multiprocessing.connection. */
#ifndef MPCONN_NET_H
#define MPCONN_NET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "mpconn.h"

/* address.c — address strings (see "Listeners and clients" in mpconn.h) */
struct mpconn__addr {
  struct sockaddr_storage ss;
  socklen_t len;
  bool autobind; /* "@" alone: the kernel picks a free abstract name */
};
/* Parse @s.  Only when @listening are "@" alone and port 0 allowed.
 * 0, MPCONN_EBADADDR, -ENAMETOOLONG or MPCONN_EINVAL (NULL). */
int mpconn__addr_parse(struct mpconn__addr *a, const char *s, bool listening);
/* The string form of a socket address: 0, or MPCONN_EINVAL when @buf is
 * too small or the address has no string form. */
int mpconn__addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                        size_t size);

/* auth.c — the challenge and response of multiprocessing.connection */
#define MPCONN_AUTH_MAX_MESSAGE 256 /* every handshake read: recv_bytes(256)   \
                                     */
#define MPCONN_AUTH_NONCE 40        /* random bytes in a challenge */
/* Each returns 0; MPCONN_EAUTH for anything that is not a correct step of
 * the handshake (a wrong MAC, #FAILURE#, a malformed or oversized
 * message); or what the transport reported (MPCONN_EOF, MPCONN_ETIMEDOUT,
 * MPCONN_ETRUNCATED, -errno, ...).  The deadline is mpconn__deadline()'s. */
int mpconn__deliver_challenge(mpconn *c, const void *key, size_t keylen,
                              int64_t deadline);
int mpconn__answer_challenge(mpconn *c, const void *key, size_t keylen,
                             int64_t deadline);

/* Who runs which parts of the handshake, in which order. */
enum mpconn__hs_role {
  MPCONN__HS_LISTENER,     /* challenge, then answer (Listener.accept()) */
  MPCONN__HS_CLIENT,       /* answer, then challenge (Client()) */
  MPCONN__HS_DELIVER_ONLY, /* deliver_challenge() */
  MPCONN__HS_ANSWER_ONLY,  /* answer_challenge() */
};
enum mpconn__hs_part {
  MPCONN__HS_DONE,
  MPCONN__HS_CHALLENGE,
  MPCONN__HS_ANSWER
};

/* A handshake under way, resumed as its messages arrive, so that one
 * thread can run many at once (listener.c).  The key is borrowed. */
struct mpconn__handshake {
  const void *key;
  size_t keylen;
  enum mpconn__hs_part steps[2];
  unsigned part;
  bool waiting; /* the part's first half is done */
  uint8_t challenge[11 + 8 + MPCONN_AUTH_NONCE]; /* "#CHALLENGE#{sha256}"... */
};
void mpconn__handshake_start(struct mpconn__handshake *h, const void *key,
                             size_t keylen, enum mpconn__hs_role role);
/* Go as far as the bytes that have arrived allow, never waiting: 0 when
 * the handshake is complete, 1 when it waits for the peer (its connection
 * becomes readable), or the codes above. */
int mpconn__handshake_step(struct mpconn__handshake *h, mpconn *c);
/* The whole handshake, waiting for each message until @deadline. */
int mpconn__handshake_run(mpconn *c, const void *key, size_t keylen,
                          enum mpconn__hs_role role, int64_t deadline);
/* HMAC of @msg under the digest Python names @name ("md5", "sha256",
 * "sha384", "sha3_256", "sha3_384"; @namelen bytes, not NUL-terminated)
 * into @out: the MAC's length, or 0 for a digest that is not allowed or
 * not available. */
size_t mpconn__hmac(const char *name, size_t namelen, const void *key,
                    size_t keylen, const void *msg, size_t msglen,
                    uint8_t out[64]);
/* The deadline of a handshake that starts now, from the options. */
int64_t mpconn__handshake_deadline(const mpconn_net_options *o);

/* listener.c and accept.c — a listener: binding, and accepting with every
 * pending handshake in progress at once. */
struct mpconn__pending;
struct mpconn_listener {
  int fd;
  int family;
  bool closed;
  /* A Unix path listener's socket file, removed on close by the process
   * that created it, unless another file has taken its place since. */
  char *path;
  pid_t owner;
  dev_t dev;
  ino_t ino;
  /* The options, with a copy of the key. */
  uint8_t *key;
  size_t keylen;
  bool has_key;
  bool same_uid;
  int handshake_timeout_ms;
  size_t max_pending;
  /* accept.c: one caller at a time. */
  pthread_mutex_t lock;
  int ep;         /* epoll: the socket, pending clients, the timer */
  int timer;      /* a timerfd armed at the earliest handshake deadline */
  int reserve;    /* a spare descriptor, for running out of them */
  pid_t ep_owner; /* the process ep, timer and reserve belong to */
  struct mpconn__pending **pend; /* oldest first */
  size_t npend, cap;
  uint64_t dropped; /* pending clients dropped for newer ones */
  uint64_t shed;    /* clients dropped for want of descriptors */
};
/* Make the listener's epoll instance, timer and spare descriptor, or this
 * process's own after fork(): 0 or -errno. */
int mpconn__accept_init(mpconn_listener *l);
/* Close them, and every pending client. */
void mpconn__accept_release(mpconn_listener *l);

/* socket.c — connecting, settling a connected socket, and the identity
 * of a Unix socket's peer */
/* Connect @fd (non-blocking) to @a by @deadline: 0 or a negative code. */
int mpconn__connect(int fd, const struct mpconn__addr *a, int64_t deadline);
/* 0 when the peer of Unix socket @fd runs as this process's effective
 * user, MPCONN_EAUTH when not, or -errno. */
int mpconn__check_peer_uid(int fd);
/* A connected socket made ready to become a connection: blocking (unless
 * @nonblocking: left as it is), TCP without Nagle's delay, and with
 * @same_uid a Unix peer of this user.  0, MPCONN_EAUTH (another user), or
 * -errno. */
int mpconn__settle(int fd, int family, bool same_uid, bool nonblocking);

#endif
