/* SPDX-License-Identifier: MIT */
/*
 * Large messages through shared memory, between two mpconn ends over a
 * Unix socket that both asked for them (mpconn_set_shm()).
 *
 * The payload lives in a memfd, sealed against writing, shrinking and
 * growing; what travels on the socket is a small frame whose payload is
 * SHM_MAGIC and the payload's length, carrying the memfd (SCM_RIGHTS).
 * frame.c keeps the descriptor with the frame it came with.  Before
 * mapping it, the receiver checks that it is a memfd (it has seals), that
 * the seals are all there — a memfd its sender could still shrink would
 * make a read of the mapping fault (SIGBUS) later — and that its size is
 * the announced one and within the receive limit.  Then it maps it
 * read-only, and the message's bytes are the mapping.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The payload of the frame that stands for a shared-memory message. */
static const uint8_t SHM_MAGIC[8] = {0x00, 'M', 'P', 'S', 'H', 'M', 0x00, 0x01};
#define SHM_DESC_LEN 16 /* the magic, then the length, 8 bytes big-endian */

/* What a memfd must be sealed with before it travels. */
#define SHM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int mpconn_set_shm(mpconn *c, size_t threshold) {
  if (!c)
    return MPCONN_EINVAL;
  if (c->closed)
    return MPCONN_ECLOSED;
  if (threshold && ((!c->runix && !c->wunix) || c->ring))
    return MPCONN_EINVAL;
  c->shm_threshold = threshold;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Receiving                                                                */
/* ------------------------------------------------------------------------ */

/* Check the frame @f that came with a descriptor: its length in *@len, or
 * MPCONN_EBADSHM, MPCONN_ETOOBIG. */
static int check(const mpconn *c, const struct mpconn__frame *f, size_t *len) {
  if (f->len != SHM_DESC_LEN || memcmp(f->payload, SHM_MAGIC, 8) != 0)
    return MPCONN_EBADSHM;
  uint64_t n = mpconn__load_be(f->payload + 8, 8);
  /* Seals say it is a memfd (any other file has none: EINVAL) and that
   * nobody can change its size or bytes any more. */
  int seals = fcntl(f->fd, F_GET_SEALS);
  struct stat st;
  if (seals < 0 || (seals & SHM_SEALS) != SHM_SEALS || fstat(f->fd, &st) < 0 ||
      !S_ISREG(st.st_mode) || (uint64_t)st.st_size != n)
    return MPCONN_EBADSHM;
  if (n > c->max_size || n > SIZE_MAX)
    return MPCONN_ETOOBIG;
  *len = (size_t)n;
  return 0;
}

int mpconn__memfd_map(mpconn *c, const struct mpconn__frame *f, uint8_t **map,
                      size_t *len) {
  if (f->fd < 0)
    return 0;
  int rc = check(c, f, len);
  if (rc < 0) {
    mpconn__rx_consume(c);
    return rc;
  }
  /* An empty payload has no mapping; any pointer that is not NULL does. */
  static uint8_t nothing;
  if (*len == 0) {
    *map = &nothing;
    return 1;
  }
  void *p = mmap(NULL, *len, PROT_READ, MAP_SHARED, f->fd, 0);
  if (p == MAP_FAILED)
    return errno == ENOMEM ? MPCONN_ENOMEM : -errno;
  *map = p;
  return 1;
}

void mpconn__memfd_unmap(uint8_t *map, size_t len) {
  if (len)
    munmap(map, len);
}

int mpconn__memfd_read(mpconn *c, const struct mpconn__frame *f, uint8_t *dst,
                       size_t room, uint8_t **out, size_t *len) {
  if (f->fd < 0)
    return 0;
  int rc = check(c, f, len);
  if (rc < 0) {
    mpconn__rx_consume(c);
    return rc;
  }
  if (dst && *len > room)
    return MPCONN_ETOOSHORT;
  uint8_t *p = dst ? dst : malloc(*len ? *len : 1);
  if (!p)
    return MPCONN_ENOMEM;
  for (size_t have = 0; have < *len;) {
    ssize_t n = pread(f->fd, p + have, *len - have, (off_t)have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? -errno : MPCONN_EBADSHM;
      if (!dst)
        free(p);
      mpconn__rx_consume(c);
      return rc;
    }
    have += (size_t)n;
  }
  mpconn__rx_consume(c);
  *out = p;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */
/* ------------------------------------------------------------------------ */

struct mpconn_shm {
  int fd;
  uint8_t *p;
  size_t size;
  struct mpconn__wbuf b; /* the packer's view of p, never grown */
  msgpack_packer pk;
};

static int memfd(size_t size) {
  int fd = memfd_create("mpconn", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return -errno;
  if (ftruncate(fd, (off_t)size) < 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}

/* Seal @fd, whose size is @len, and send it as a message. */
static int seal_and_send(mpconn *c, int fd, size_t len) {
  if (fcntl(fd, F_ADD_SEALS, SHM_SEALS | F_SEAL_SEAL) < 0)
    return -errno;
  uint8_t desc[MPCONN_HEADER_MAX + SHM_DESC_LEN];
  size_t hlen = mpconn__header_encode(desc, SHM_DESC_LEN);
  memcpy(desc + hlen, SHM_MAGIC, 8);
  for (int i = 0; i < 8; i++)
    desc[hlen + 8 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  return mpconn__tx_send_fd_frame(c, desc, hlen + SHM_DESC_LEN, fd);
}

int mpconn__memfd_send(mpconn *c, struct iovec *iov, int iovcnt, size_t len) {
  int fd = memfd(len);
  if (fd < 0)
    return fd;
  int rc = 0;
  for (off_t at = 0; rc == 0 && iovcnt > 0;) {
    ssize_t n = pwritev(fd, iov, iovcnt, at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n < 0 ? -errno : -EIO;
      break;
    }
    at += n;
    size_t done = (size_t)n;
    while (iovcnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  if (rc == 0)
    rc = seal_and_send(c, fd, len);
  close(fd);
  return rc;
}

int mpconn_shm_new(mpconn_shm **s, size_t size) {
  if (!s)
    return MPCONN_EINVAL;
  *s = NULL;
  mpconn_shm *n = calloc(1, sizeof(*n));
  if (!n)
    return MPCONN_ENOMEM;
  n->fd = memfd(size);
  if (n->fd < 0) {
    int rc = n->fd;
    free(n);
    return rc;
  }
  if (size) {
    n->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, n->fd, 0);
    if (n->p == MAP_FAILED) {
      int rc = errno == ENOMEM ? MPCONN_ENOMEM : -errno;
      close(n->fd);
      free(n);
      return rc;
    }
  }
  n->size = size;
  *s = n;
  return 0;
}

void *mpconn_shm_data(mpconn_shm *s) { return s ? s->p : NULL; }

size_t mpconn_shm_size(const mpconn_shm *s) { return s ? s->size : 0; }

/* The packer's write callback: into the mapping, never past its end. */
static int shm_write(void *data, const char *buf, size_t len) {
  struct mpconn__wbuf *b = data;
  if (b->oom || len > b->cap - b->len) {
    b->oom = true;
    return -1;
  }
  if (len)
    memcpy(b->p + b->len, buf, len);
  b->len += len;
  return 0;
}

int mpconn_shm_packer(mpconn_shm *s, msgpack_packer **pk) {
  if (!s || !pk)
    return MPCONN_EINVAL;
  s->b = (struct mpconn__wbuf){.p = s->p, .cap = s->size};
  msgpack_packer_init(&s->pk, &s->b, shm_write);
  *pk = &s->pk;
  return 0;
}

int mpconn_shm_packed(const mpconn_shm *s, size_t *len) {
  if (!s || !len)
    return MPCONN_EINVAL;
  if (s->b.oom)
    return MPCONN_ENOMEM;
  *len = s->b.len;
  return 0;
}

void mpconn_shm_free(mpconn_shm *s) {
  if (!s)
    return;
  if (s->size)
    munmap(s->p, s->size);
  if (s->fd >= 0)
    close(s->fd);
  free(s);
}

int mpconn_shm_send(mpconn *c, mpconn_shm *s, size_t len) {
  int rc = mpconn__check_send(c);
  if (rc == 0 && (!s || len > s->size))
    rc = MPCONN_EINVAL;
  if (rc == 0 && (!c->wunix || !c->shm_threshold))
    rc = MPCONN_EINVAL;
  if (rc == 0) {
    /* A writable mapping would keep the write seal off. */
    if (s->size)
      munmap(s->p, s->size);
    s->size = 0;
    if (ftruncate(s->fd, (off_t)len) < 0)
      rc = -errno;
    if (rc == 0)
      rc = seal_and_send(c, s->fd, len);
  }
  mpconn_shm_free(s);
  return rc;
}
