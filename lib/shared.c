/* SPDX-License-Identifier: MIT */
/*
 * Arrays and values in shared memory, typed as Python's array module and
 * multiprocessing.sharedctypes type them.
 *
 * An anonymous array is one shared anonymous mapping: the lock, then the
 * data.  Data of up to 16 bytes (any value) starts at byte 48, in the
 * lock's 64-byte cache line: a process that takes the lock to update the
 * value then finds both in one line, instead of fetching two from the
 * core that held them last.  Larger data starts at byte 64, a line of its
 * own, so that reading it does not contend with taking the lock.  A named
 * array's data is a POSIX shared-memory object of its own, starting at
 * byte 0 (shm.c), so that Python can cast its buffer.
 *
 * The element accessors are single atomic loads and stores: another
 * process may write an element at any time, and a plain access racing
 * with that would be undefined behaviour in C and could tear.
 */
#include "shared.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Where the data starts in an anonymous array's mapping, after the lock:
 * in the lock's cache line when it fits there. */
#define SMALL_OFFSET 48
#define LARGE_OFFSET 64
_Static_assert(sizeof(pthread_mutex_t) <= SMALL_OFFSET,
               "the lock and a small value share a cache line");

static size_t data_offset(size_t bytes) {
  return bytes <= LARGE_OFFSET - SMALL_OFFSET ? SMALL_OFFSET : LARGE_OFFSET;
}

void *mpconn__map_shared(size_t len, int *rc) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    *rc = errno == ENOMEM ? MPCONN_ENOMEM : -errno;
    return NULL;
  }
  return p;
}

int mpconn_typecode_size(char typecode) {
  switch (typecode) {
  case 'c':
  case 'b':
  case 'B':
    return 1;
  case 'h':
  case 'H':
    return 2;
  case 'i':
  case 'I':
  case 'f':
    return 4;
  case 'l':
  case 'L':
  case 'q':
  case 'Q':
  case 'd':
    return 8;
  default:
    return MPCONN_ETYPE;
  }
}

int mpconn__array_check(char typecode, size_t length, unsigned flags,
                        size_t limit, size_t *itemsize, size_t *bytes) {
  int size = mpconn_typecode_size(typecode);
  if (size < 0)
    return size;
  if (length == 0 || (flags & ~MPCONN_ARRAY_NOLOCK) != 0)
    return MPCONN_EINVAL;
  if (length > limit / (size_t)size)
    return -EOVERFLOW;
  *itemsize = (size_t)size;
  *bytes = length * (size_t)size;
  return 0;
}

int mpconn__array_hdr_init(struct mpconn__array_hdr *h, char typecode,
                           size_t length) {
  h->version = MPCONN__ARRAY_VERSION;
  h->length = length;
  h->typecode = typecode;
  int rc = mpconn__rlock_init(&h->lock);
  if (rc < 0)
    return rc;
  __atomic_store_n(&h->magic, MPCONN__ARRAY_MAGIC, __ATOMIC_RELEASE);
  return 0;
}

int mpconn_array_new(mpconn_array **a, char typecode, size_t length,
                     unsigned flags) {
  if (!a)
    return MPCONN_EINVAL;
  *a = NULL;
  size_t itemsize, bytes;
  /* The mapping's length, rounded up to whole pages by mmap(), must not
   * wrap around: leave a generous margin below SIZE_MAX. */
  int rc =
      mpconn__array_check(typecode, length, flags,
                          (SIZE_MAX >> 1) - LARGE_OFFSET, &itemsize, &bytes);
  if (rc < 0)
    return rc;
  mpconn_array *h = calloc(1, sizeof(*h));
  if (!h)
    return MPCONN_ENOMEM;
  size_t offset = data_offset(bytes);
  h->map_len = offset + bytes;
  h->map = mpconn__map_shared(h->map_len, &rc);
  if (!h->map) {
    free(h);
    return rc;
  }
  pthread_mutex_t *lock = h->map;
  if (!(flags & MPCONN_ARRAY_NOLOCK)) {
    rc = mpconn__rlock_init(lock);
    if (rc < 0) {
      munmap(h->map, h->map_len);
      free(h);
      return rc;
    }
    h->lock.m = lock;
  }
  h->data = (uint8_t *)h->map + offset;
  h->length = length;
  h->itemsize = itemsize;
  h->typecode = typecode;
  *a = h;
  return 0;
}

int mpconn_value_new(mpconn_array **v, char typecode, unsigned flags) {
  return mpconn_array_new(v, typecode, 1, flags);
}

void mpconn_array_free(mpconn_array *a) {
  if (!a)
    return;
  /* The lock is not destroyed: other processes may still use it. */
  if (a->map)
    munmap(a->map, a->map_len);
  if (a->lock_map)
    munmap(a->lock_map, a->lock_map_len);
  free(a->name);
  free(a);
}

size_t mpconn_array_length(const mpconn_array *a) { return a ? a->length : 0; }

char mpconn_array_typecode(const mpconn_array *a) {
  return a ? a->typecode : '\0';
}

size_t mpconn_array_itemsize(const mpconn_array *a) {
  return a ? a->itemsize : 0;
}

void *mpconn_array_data(const mpconn_array *a) { return a ? a->data : NULL; }

const char *mpconn_array_name(const mpconn_array *a) {
  return a ? a->name : NULL;
}

mpconn_rlock *mpconn_array_get_lock(const mpconn_array *a) {
  return a && a->lock.m ? (mpconn_rlock *)&a->lock : NULL;
}

/* ------------------------------------------------------------------------ */
/* Element accessors                                                        */
/* ------------------------------------------------------------------------ */

/* An element as whichever of these its type code says. */
union elem {
  int64_t i;
  uint64_t u;
  double d;
};

enum kind { SIGNED, UNSIGNED, FLOAT };

static enum kind kind_of(char typecode) {
  switch (typecode) {
  case 'b':
  case 'h':
  case 'i':
  case 'l':
  case 'q':
    return SIGNED;
  case 'f':
  case 'd':
    return FLOAT;
  default: /* 'c' is a byte, 0 to 255, as Python's c_char gives it */
    return UNSIGNED;
  }
}

static int check_index(const mpconn_array *a, size_t i) {
  return a && i < a->length ? 0 : MPCONN_EINVAL;
}

#define LOAD(type, p) __atomic_load_n((const type *)(p), __ATOMIC_RELAXED)
#define STORE(type, p, v)                                                      \
  __atomic_store_n((type *)(p), (type)(v), __ATOMIC_RELAXED)

/* Read element @i as its kind says. */
static union elem load(const mpconn_array *a, size_t i) {
  const uint8_t *p = (const uint8_t *)a->data + i * a->itemsize;
  union elem e;
  switch (a->typecode) {
  case 'b':
    e.i = LOAD(int8_t, p);
    break;
  case 'h':
    e.i = LOAD(int16_t, p);
    break;
  case 'i':
    e.i = LOAD(int32_t, p);
    break;
  case 'l':
  case 'q':
    e.i = LOAD(int64_t, p);
    break;
  case 'c':
  case 'B':
    e.u = LOAD(uint8_t, p);
    break;
  case 'H':
    e.u = LOAD(uint16_t, p);
    break;
  case 'I':
    e.u = LOAD(uint32_t, p);
    break;
  case 'L':
  case 'Q':
    e.u = LOAD(uint64_t, p);
    break;
  case 'f': {
    uint32_t bits = LOAD(uint32_t, p);
    float f;
    memcpy(&f, &bits, sizeof(f));
    e.d = f;
    break;
  }
  default: { /* 'd' */
    uint64_t bits = LOAD(uint64_t, p);
    memcpy(&e.d, &bits, sizeof(e.d));
    break;
  }
  }
  return e;
}

/* The range of an integer type code. */
static void int_range(char typecode, int64_t *lo, uint64_t *hi) {
  switch (typecode) {
  case 'b':
    *lo = INT8_MIN;
    *hi = INT8_MAX;
    break;
  case 'h':
    *lo = INT16_MIN;
    *hi = INT16_MAX;
    break;
  case 'i':
    *lo = INT32_MIN;
    *hi = INT32_MAX;
    break;
  case 'l':
  case 'q':
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    break;
  case 'c':
  case 'B':
    *lo = 0;
    *hi = UINT8_MAX;
    break;
  case 'H':
    *lo = 0;
    *hi = UINT16_MAX;
    break;
  case 'I':
    *lo = 0;
    *hi = UINT32_MAX;
    break;
  default:
    *lo = 0;
    *hi = UINT64_MAX;
    break; /* 'L', 'Q' */
  }
}

/* Write an integer, already range-checked, to element @i. */
static void store_int(mpconn_array *a, size_t i, uint64_t bits) {
  uint8_t *p = (uint8_t *)a->data + i * a->itemsize;
  switch (a->itemsize) {
  case 1:
    STORE(uint8_t, p, bits);
    break;
  case 2:
    STORE(uint16_t, p, bits);
    break;
  case 4:
    STORE(uint32_t, p, bits);
    break;
  default:
    STORE(uint64_t, p, bits);
    break;
  }
}

static void store_float(mpconn_array *a, size_t i, double v) {
  uint8_t *p = (uint8_t *)a->data + i * a->itemsize;
  if (a->typecode == 'f') {
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    STORE(uint32_t, p, bits);
  } else {
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    STORE(uint64_t, p, bits);
  }
}

int mpconn_array_get_int(const mpconn_array *a, size_t i, int64_t *out) {
  int rc = check_index(a, i);
  if (rc < 0 || !out)
    return MPCONN_EINVAL;
  union elem e = load(a, i);
  switch (kind_of(a->typecode)) {
  case FLOAT:
    return MPCONN_ETYPE;
  case UNSIGNED:
    if (e.u > INT64_MAX)
      return -ERANGE;
    *out = (int64_t)e.u;
    return 0;
  default:
    *out = e.i;
    return 0;
  }
}

int mpconn_array_get_uint(const mpconn_array *a, size_t i, uint64_t *out) {
  int rc = check_index(a, i);
  if (rc < 0 || !out)
    return MPCONN_EINVAL;
  union elem e = load(a, i);
  switch (kind_of(a->typecode)) {
  case FLOAT:
    return MPCONN_ETYPE;
  case SIGNED:
    if (e.i < 0)
      return -ERANGE;
    *out = (uint64_t)e.i;
    return 0;
  default:
    *out = e.u;
    return 0;
  }
}

int mpconn_array_get_double(const mpconn_array *a, size_t i, double *out) {
  int rc = check_index(a, i);
  if (rc < 0 || !out)
    return MPCONN_EINVAL;
  union elem e = load(a, i);
  switch (kind_of(a->typecode)) {
  case SIGNED:
    *out = (double)e.i;
    break;
  case UNSIGNED:
    *out = (double)e.u;
    break;
  default:
    *out = e.d;
    break;
  }
  return 0;
}

int mpconn_array_set_int(mpconn_array *a, size_t i, int64_t v) {
  int rc = check_index(a, i);
  if (rc < 0)
    return rc;
  if (kind_of(a->typecode) == FLOAT) {
    store_float(a, i, (double)v);
    return 0;
  }
  int64_t lo;
  uint64_t hi;
  int_range(a->typecode, &lo, &hi);
  if (v < lo || (v > 0 && (uint64_t)v > hi))
    return -ERANGE;
  store_int(a, i, (uint64_t)v);
  return 0;
}

int mpconn_array_set_uint(mpconn_array *a, size_t i, uint64_t v) {
  int rc = check_index(a, i);
  if (rc < 0)
    return rc;
  if (kind_of(a->typecode) == FLOAT) {
    store_float(a, i, (double)v);
    return 0;
  }
  int64_t lo;
  uint64_t hi;
  int_range(a->typecode, &lo, &hi);
  if (v > hi)
    return -ERANGE;
  store_int(a, i, v);
  return 0;
}

int mpconn_array_set_double(mpconn_array *a, size_t i, double v) {
  int rc = check_index(a, i);
  if (rc < 0)
    return rc;
  if (kind_of(a->typecode) != FLOAT)
    return MPCONN_ETYPE;
  /* A double beyond a float's range becomes an infinity, as Python's
   * array('f') and c_float store it. */
  store_float(a, i, v);
  return 0;
}
