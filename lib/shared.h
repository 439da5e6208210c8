/* SPDX-License-Identifier: MIT */
/* Shared state: arrays (shared.c, shm.c) and the synchronization
 * primitives (sync.c, condition.c, barrier.c).  Internal. */
#ifndef MPCONN_SHARED_H
#define MPCONN_SHARED_H

#include "mpconn-private.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a waiter sleeps at most before it looks again for something
 * no wake-up tells it: a dead barrier participant, or a notification
 * left by a waiter killed just after its wake-up. */
#define MPCONN__RECHECK_MS 100

/* Whether @deadline (as mpconn__deadline()) has passed. */
static inline bool mpconn__expired(int64_t deadline) {
  return deadline != MPCONN_FOREVER && mpconn__remaining_ms(deadline) == 0;
}

/* The earlier of @deadline and MPCONN__RECHECK_MS from now. */
static inline int64_t mpconn__recheck_until(int64_t deadline) {
  int64_t soon = mpconn__deadline(MPCONN__RECHECK_MS);
  return soon < deadline ? soon : deadline;
}

/* A mapping of @len bytes shared with every child forked afterwards,
 * zero-filled: the address, or NULL with *@rc set to a negative code. */
void *mpconn__map_shared(size_t len, int *rc);

/* sync.c — the recursive robust lock used by RLock, arrays and Condition.
 * The handle is this process's; @m is in shared memory.  @map is the
 * mapping the lock owns (NULL for an array's lock, which its array owns). */
struct mpconn_rlock {
  pthread_mutex_t *m;
  void *map;
  size_t map_len;
};

/* Make @m, in shared memory, a process-shared robust recursive mutex:
 * 0 or -errno. */
int mpconn__rlock_init(pthread_mutex_t *m);
/* Whether the calling thread holds robust mutex @m.  Reads the futex word
 * the kernel's robust-futex protocol keeps (the holder's thread ID), where
 * the C library's mutex layout is known; elsewhere it says true, and
 * pthread_mutex_unlock() alone checks the holder. */
bool mpconn__rlock_held(const pthread_mutex_t *m);

/* shared.c — arrays */

/* A named array's lock object: what the array is, and its lock.  magic
 * is written last, so that a process opening the lock object of an array
 * being created never takes a lock not yet made. */
#define MPCONN__ARRAY_MAGIC 0x6163706du /* "mpca" */
#define MPCONN__ARRAY_VERSION 1u
struct mpconn__array_hdr {
  uint32_t magic;
  uint32_t version;
  uint64_t length;
  char typecode;
  uint8_t pad[7];
  pthread_mutex_t lock;
};

struct mpconn_array {
  void *data;
  size_t length, itemsize;
  char typecode;
  void *map; /* the data's mapping: the whole mapping when anonymous */
  size_t map_len;
  void *lock_map; /* a named array's lock object, or NULL */
  size_t lock_map_len;
  struct mpconn_rlock lock; /* lock.m is NULL when there is none */
  char *name;               /* NULL when anonymous */
};

/* Check @typecode, @length and @flags for an array; *@itemsize and
 * *@bytes receive the element and data sizes.  0, MPCONN_ETYPE,
 * MPCONN_EINVAL or -EOVERFLOW (more than @limit bytes). */
int mpconn__array_check(char typecode, size_t length, unsigned flags,
                        size_t limit, size_t *itemsize, size_t *bytes);
/* Fill @h for a named array and make its lock: 0 or -errno.  Publishes
 * magic last. */
int mpconn__array_hdr_init(struct mpconn__array_hdr *h, char typecode,
                           size_t length);

/* shm.c — named arrays: names of POSIX shared-memory objects */

/* The longest name: NAME_MAX bytes, as a file in /dev/shm. */
#define MPCONN__SHM_NAME_MAX 255
/* What mpconn_array_create() appends for the lock object. */
#define MPCONN__SHM_LOCK_SUFFIX ".mpconn"

/* Check @name and write "/NAME" (and, when @lock_path is not NULL,
 * "/NAME.mpconn") into buffers of MPCONN__SHM_NAME_MAX + 2 bytes.
 * 0, MPCONN_EINVAL (NULL), MPCONN_EBADNAME or -ENAMETOOLONG (also when
 * only the lock's name is too long). */
int mpconn__shm_path(const char *name, char *path, char *lock_path);
/* shm_open() close-on-exec, mode 0600 whatever the umask when it creates:
 * a descriptor or -errno. */
int mpconn__shm_open(const char *path, int oflag);
/* Map @len bytes of @fd shared, read and write: the address, or NULL
 * with *@rc set. */
void *mpconn__shm_map(int fd, size_t len, int *rc);

#endif
