/* SPDX-License-Identifier: MIT */
/*
 * Named arrays: POSIX shared-memory objects that other processes, C or
 * Python, open by name.
 *
 * The data object, /dev/shm/NAME, holds the elements and nothing else,
 * from byte 0: Python's SharedMemory(name="NAME").buf is the array.  The
 * lock cannot share it without moving the data or making the object
 * longer than the array, which Python's buffer would then show, so it
 * lives in a second object, /dev/shm/NAME.mpconn, with the type code and
 * the length.  The lock object is made, whole, before the data object:
 * whoever finds the data finds the lock ready.
 *
 * No descriptor is kept: each is closed once its object is mapped.
 */
#include "shared.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mpconn__shm_path(const char *name, char *path, char *lock_path) {
  if (!name)
    return MPCONN_EINVAL;
  if (name[0] == '/')
    name++;
  size_t n = strlen(name);
  if (n == 0 || strchr(name, '/') || strcmp(name, ".") == 0 ||
      strcmp(name, "..") == 0)
    return MPCONN_EBADNAME;
  size_t suffix = lock_path ? strlen(MPCONN__SHM_LOCK_SUFFIX) : 0;
  if (n + suffix > MPCONN__SHM_NAME_MAX)
    return -ENAMETOOLONG;
  path[0] = '/';
  memcpy(path + 1, name, n + 1);
  if (lock_path) {
    memcpy(lock_path, path, n + 1);
    memcpy(lock_path + n + 1, MPCONN__SHM_LOCK_SUFFIX, suffix + 1);
  }
  return 0;
}

int mpconn__shm_open(const char *path, int oflag) {
  int fd = shm_open(path, oflag | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  /* The umask may have taken bits from 0600; never adds any. */
  if ((oflag & O_CREAT) && fchmod(fd, 0600) < 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}

void *mpconn__shm_map(int fd, size_t len, int *rc) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *rc = errno == ENOMEM ? MPCONN_ENOMEM : -errno;
    return NULL;
  }
  return p;
}

/* The size of an object, or a negative code. */
static int64_t object_size(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  return (int64_t)st.st_size;
}

/* The largest array: the size of an object is an off_t. */
static const size_t size_limit =
    (size_t)INT64_MAX < SIZE_MAX / 2 ? (size_t)INT64_MAX : SIZE_MAX / 2;

static size_t lock_object_size(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (sizeof(struct mpconn__array_hdr) + page - 1) / page * page;
}

/* A new array handle named @path (with its '/'), without mappings. */
static mpconn_array *handle(const char *path, char typecode, size_t length,
                            size_t itemsize) {
  mpconn_array *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->name = strdup(path + 1);
  if (!h->name) {
    free(h);
    return NULL;
  }
  h->typecode = typecode;
  h->length = length;
  h->itemsize = itemsize;
  return h;
}

/* Create and fill the lock object at @path, and map it into @h. */
static int create_lock(mpconn_array *h, const char *path) {
  int fd = mpconn__shm_open(path, O_RDWR | O_CREAT | O_EXCL);
  if (fd < 0)
    return fd;
  size_t len = lock_object_size();
  int rc = 0;
  if (ftruncate(fd, (off_t)len) < 0)
    rc = -errno;
  void *map = rc == 0 ? mpconn__shm_map(fd, len, &rc) : NULL;
  close(fd);
  if (map) {
    rc = mpconn__array_hdr_init(map, h->typecode, h->length);
    if (rc < 0)
      munmap(map, len);
  }
  if (rc < 0) {
    shm_unlink(path);
    return rc;
  }
  h->lock_map = map;
  h->lock_map_len = len;
  h->lock.m = &((struct mpconn__array_hdr *)map)->lock;
  return 0;
}

int mpconn_array_create(mpconn_array **a, const char *name, char typecode,
                        size_t length, unsigned flags) {
  if (!a)
    return MPCONN_EINVAL;
  *a = NULL;
  bool locked = !(flags & MPCONN_ARRAY_NOLOCK);
  char path[MPCONN__SHM_NAME_MAX + 2], lock_path[MPCONN__SHM_NAME_MAX + 2];
  int rc = mpconn__shm_path(name, path, locked ? lock_path : NULL);
  if (rc < 0)
    return rc;
  size_t itemsize, bytes;
  rc = mpconn__array_check(typecode, length, flags, size_limit, &itemsize,
                           &bytes);
  if (rc < 0)
    return rc;
  mpconn_array *h = handle(path, typecode, length, itemsize);
  if (!h)
    return MPCONN_ENOMEM;
  if (locked && (rc = create_lock(h, lock_path)) < 0) {
    mpconn_array_free(h);
    return rc;
  }

  int fd = mpconn__shm_open(path, O_RDWR | O_CREAT | O_EXCL);
  if (fd < 0) {
    rc = fd;
  } else {
    if (ftruncate(fd, (off_t)bytes) < 0)
      rc = -errno;
    else if ((h->map = mpconn__shm_map(fd, bytes, &rc)) != NULL)
      h->map_len = bytes;
    close(fd);
    if (rc < 0)
      shm_unlink(path);
  }
  if (rc < 0) {
    if (locked)
      shm_unlink(lock_path);
    mpconn_array_free(h);
    return rc;
  }
  h->data = h->map;
  *a = h;
  return 0;
}

/* Map the lock object at @path, if there is one, into @h: 0 also when
 * there is none, or a negative code. */
static int open_lock(mpconn_array *h, const char *path) {
  int fd = mpconn__shm_open(path, O_RDWR);
  if (fd == -ENOENT)
    return 0;
  if (fd < 0)
    return fd;
  int64_t size = object_size(fd);
  size_t len = lock_object_size();
  int rc = size < 0 ? (int)size : 0;
  if (rc == 0 && (uint64_t)size < sizeof(struct mpconn__array_hdr))
    rc = MPCONN_EINVAL;
  void *map = rc == 0 ? mpconn__shm_map(fd, len, &rc) : NULL;
  close(fd);
  if (!map)
    return rc;
  h->lock_map = map;
  h->lock_map_len = len;
  const struct mpconn__array_hdr *hdr = map;
  if (__atomic_load_n(&hdr->magic, __ATOMIC_ACQUIRE) != MPCONN__ARRAY_MAGIC ||
      hdr->version != MPCONN__ARRAY_VERSION)
    return MPCONN_EINVAL;
  if (hdr->typecode != h->typecode)
    return MPCONN_ETYPE;
  if (hdr->length < h->length)
    return MPCONN_ESHMSIZE;
  h->lock.m = &((struct mpconn__array_hdr *)map)->lock;
  return 0;
}

int mpconn_array_open(mpconn_array **a, const char *name, char typecode,
                      size_t length, unsigned flags) {
  if (!a)
    return MPCONN_EINVAL;
  *a = NULL;
  bool locked = !(flags & MPCONN_ARRAY_NOLOCK);
  char path[MPCONN__SHM_NAME_MAX + 2], lock_path[MPCONN__SHM_NAME_MAX + 2];
  /* A name too long for a lock object cannot have one. */
  int rc = mpconn__shm_path(name, path, locked ? lock_path : NULL);
  if (rc == -ENAMETOOLONG && locked) {
    locked = false;
    rc = mpconn__shm_path(name, path, NULL);
  }
  if (rc < 0)
    return rc;
  size_t itemsize, bytes;
  rc = mpconn__array_check(typecode, length, flags, size_limit, &itemsize,
                           &bytes);
  if (rc < 0)
    return rc;

  int fd = mpconn__shm_open(path, O_RDWR);
  if (fd < 0)
    return fd;
  int64_t size = object_size(fd);
  rc = size < 0 ? (int)size : (uint64_t)size < bytes ? MPCONN_ESHMSIZE : 0;
  mpconn_array *h = rc == 0 ? handle(path, typecode, length, itemsize) : NULL;
  if (rc == 0 && !h)
    rc = MPCONN_ENOMEM;
  if (rc == 0 && (h->map = mpconn__shm_map(fd, bytes, &rc)) != NULL)
    h->map_len = bytes;
  close(fd);
  if (rc == 0 && locked)
    rc = open_lock(h, lock_path);
  if (rc < 0) {
    mpconn_array_free(h);
    return rc;
  }
  h->data = h->map;
  *a = h;
  return 0;
}

int mpconn_shm_unlink(const char *name) {
  char path[MPCONN__SHM_NAME_MAX + 2], lock_path[MPCONN__SHM_NAME_MAX + 2];
  bool locked = true;
  int rc = mpconn__shm_path(name, path, lock_path);
  if (rc == -ENAMETOOLONG) {
    locked = false;
    rc = mpconn__shm_path(name, path, NULL);
  }
  if (rc < 0)
    return rc;
  int data = shm_unlink(path) < 0 ? -errno : 0;
  int lock = !locked ? -ENOENT : shm_unlink(lock_path) < 0 ? -errno : 0;
  if (data < 0 && data != -ENOENT)
    return data;
  if (lock < 0 && lock != -ENOENT)
    return lock;
  return data == 0 || lock == 0 ? 0 : -ENOENT;
}
