/* SPDX-License-Identifier: MIT */
/* address.c, auth.c, client.c, listener.c — listeners, clients and the
 * handshake of multiprocessing.connection. */
#ifndef MPCONN_NET_H
#define MPCONN_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

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
#define MPCONN_AUTH_MAX_MESSAGE 256 /* every handshake read: recv_bytes(256) */
#define MPCONN_AUTH_NONCE 40        /* random bytes in a challenge */
/* Each returns 0; MPCONN_EAUTH for anything that is not a correct step of
 * the handshake (a wrong MAC, #FAILURE#, a malformed or oversized
 * message); or what the transport reported (MPCONN_EOF, MPCONN_ETIMEDOUT,
 * MPCONN_ETRUNCATED, -errno, ...).  The deadline is mpconn__deadline()'s. */
int mpconn__deliver_challenge(mpconn *c, const void *key, size_t keylen,
                              int64_t deadline);
int mpconn__answer_challenge(mpconn *c, const void *key, size_t keylen,
                             int64_t deadline);
/* HMAC of @msg under the digest Python names @name ("md5", "sha256",
 * "sha384", "sha3_256", "sha3_384"; @namelen bytes, not NUL-terminated)
 * into @out: the MAC's length, or 0 for a digest that is not allowed or
 * not available. */
size_t mpconn__hmac(const char *name, size_t namelen, const void *key,
                    size_t keylen, const void *msg, size_t msglen,
                    uint8_t out[64]);
/* The deadline of a handshake that starts now, from the options. */
int64_t mpconn__handshake_deadline(const mpconn_net_options *o);

/* socket.c — connecting, settling a connected socket, and the identity
 * of a Unix socket's peer */
/* Connect @fd (non-blocking) to @a by @deadline: 0 or a negative code. */
int mpconn__connect(int fd, const struct mpconn__addr *a, int64_t deadline);
/* 0 when the peer of Unix socket @fd runs as this process's effective
 * user, MPCONN_EAUTH when not, or -errno. */
int mpconn__check_peer_uid(int fd);
/* A connected socket made ready to become a connection: blocking, TCP
 * without Nagle's delay, and with @same_uid a Unix peer of this user.
 * 0, MPCONN_EAUTH (another user), or -errno. */
int mpconn__settle(int fd, int family, bool same_uid);

#endif
