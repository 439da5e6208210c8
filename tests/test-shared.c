/* SPDX-License-Identifier: MIT */
/*
 * Arrays and values (lib/shared.c, lib/shm.c): type codes, accessors,
 * anonymous arrays shared with forked children, named arrays and their
 * layout, bad input, and the array's lock under load and when its holder
 * is killed.
 */
#include "shared-util.h"

#include <sys/stat.h>

/* Python's array.array(c).itemsize on x86-64 Linux, and 'c' (c_char). */
static const struct {
  char code;
  int size;
} codes[] = {{'c', 1}, {'b', 1}, {'B', 1}, {'h', 2}, {'H', 2},
             {'i', 4}, {'I', 4}, {'l', 8}, {'L', 8}, {'q', 8},
             {'Q', 8}, {'f', 4}, {'d', 8}};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* A name no other test run uses. */
static const char *test_name(const char *what) {
  static char buf[128];
  snprintf(buf, sizeof(buf), "mpconn-test-%d-%s", (int)getpid(), what);
  return buf;
}

/* Whether /dev/shm/@name exists. */
static bool shm_exists(const char *name) {
  char path[320];
  snprintf(path, sizeof(path), "/dev/shm/%s", name);
  return access(path, F_OK) == 0;
}

/* Make a raw object of @size bytes, as Python's SharedMemory does. */
static void raw_object(const char *name, size_t size) {
  char path[320];
  snprintf(path, sizeof(path), "/%s", name);
  int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)size), 0);
  close(fd);
}

static void raw_unlink(const char *name) {
  char path[320];
  snprintf(path, sizeof(path), "/%s", name);
  shm_unlink(path);
}

/* ------------------------------------------------------------------------ */
/* Type codes and accessors                                                 */
/* ------------------------------------------------------------------------ */

static void test_typecodes(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++)
    assert_int_equal(mpconn_typecode_size(codes[i].code), codes[i].size);
  const char bad[] = {'u', 'x', 'e', 'D', 'n', 'N', 'P', '?', 0, ' '};
  for (size_t i = 0; i < sizeof(bad); i++)
    assert_int_equal(mpconn_typecode_size(bad[i]), MPCONN_ETYPE);
}

static void test_array_basics(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    mpconn_array *a = NULL;
    assert_int_equal(mpconn_array_new(&a, codes[i].code, 100, 0), 0);
    assert_int_equal(mpconn_array_length(a), 100);
    assert_int_equal(mpconn_array_itemsize(a), codes[i].size);
    assert_int_equal(mpconn_array_typecode(a), codes[i].code);
    assert_null(mpconn_array_name(a));
    assert_non_null(mpconn_array_get_lock(a));
    uint8_t *p = mpconn_array_data(a);
    assert_int_equal((uintptr_t)p % 64, 0);
    for (size_t j = 0; j < 100 * (size_t)codes[i].size; j++)
      assert_int_equal(p[j], 0);
    mpconn_array_free(a);

    assert_int_equal(mpconn_value_new(&a, codes[i].code, MPCONN_ARRAY_NOLOCK),
                     0);
    assert_int_equal(mpconn_array_length(a), 1);
    assert_int_equal((uintptr_t)mpconn_array_data(a) % 16, 0);
    assert_null(mpconn_array_get_lock(a));
    mpconn_array_free(a);
  }
  mpconn_array_free(NULL);
  assert_int_equal(mpconn_array_length(NULL), 0);
  assert_int_equal(mpconn_array_itemsize(NULL), 0);
  assert_int_equal(mpconn_array_typecode(NULL), 0);
  assert_null(mpconn_array_data(NULL));
  assert_null(mpconn_array_name(NULL));
  assert_null(mpconn_array_get_lock(NULL));
}

static void test_accessors(void **state) {
  (void)state;
  mpconn_array *a;
  int64_t i;
  uint64_t u;
  double d;

  assert_int_equal(mpconn_array_new(&a, 'b', 2, 0), 0);
  assert_int_equal(mpconn_array_set_int(a, 0, 127), 0);
  assert_int_equal(mpconn_array_set_int(a, 1, -128), 0);
  assert_int_equal(mpconn_array_set_int(a, 0, 128), -ERANGE);
  assert_int_equal(mpconn_array_set_int(a, 0, -129), -ERANGE);
  assert_int_equal(mpconn_array_set_uint(a, 0, 200), -ERANGE);
  assert_int_equal(mpconn_array_get_int(a, 0, &i), 0);
  assert_int_equal(i, 127);
  assert_int_equal(mpconn_array_get_int(a, 1, &i), 0);
  assert_int_equal(i, -128);
  assert_int_equal(((int8_t *)mpconn_array_data(a))[1], -128);
  assert_int_equal(mpconn_array_get_uint(a, 1, &u), -ERANGE);
  assert_int_equal(mpconn_array_get_double(a, 1, &d), 0);
  assert_true(d == -128.0);
  assert_int_equal(mpconn_array_set_double(a, 0, 1.0), MPCONN_ETYPE);
  assert_int_equal(mpconn_array_get_int(a, 2, &i), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_set_int(a, 2, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_get_int(a, 0, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_get_int(NULL, 0, &i), MPCONN_EINVAL);
  mpconn_array_free(a);

  assert_int_equal(mpconn_array_new(&a, 'Q', 1, 0), 0);
  assert_int_equal(mpconn_value_set_uint(a, UINT64_MAX), 0);
  assert_int_equal(mpconn_value_get_uint(a, &u), 0);
  assert_true(u == UINT64_MAX);
  assert_int_equal(mpconn_value_get_int(a, &i), -ERANGE);
  assert_int_equal(mpconn_value_set_int(a, -1), -ERANGE);
  mpconn_array_free(a);

  assert_int_equal(mpconn_array_new(&a, 'c', 1, 0), 0);
  assert_int_equal(mpconn_value_set_int(a, 255), 0);
  assert_int_equal(mpconn_value_set_int(a, 256), -ERANGE);
  assert_int_equal(mpconn_value_get_int(a, &i), 0);
  assert_int_equal(i, 255);
  mpconn_array_free(a);

  const char *ints = "hHiIlLq";
  for (const char *c = ints; *c; c++) {
    assert_int_equal(mpconn_value_new(&a, *c, 0), 0);
    int64_t lo = *c == 'h' ? INT16_MIN : *c == 'i' ? INT32_MIN : INT64_MIN;
    if (*c == 'H' || *c == 'I' || *c == 'L')
      lo = 0;
    assert_int_equal(mpconn_value_set_int(a, lo), 0);
    assert_int_equal(mpconn_value_get_int(a, &i), 0);
    assert_true(i == lo);
    if (lo > INT64_MIN)
      assert_int_equal(mpconn_value_set_int(a, lo - 1), -ERANGE);
    mpconn_array_free(a);
  }

  assert_int_equal(mpconn_value_new(&a, 'f', 0), 0);
  assert_int_equal(mpconn_value_set_double(a, 1.5), 0);
  assert_int_equal(mpconn_value_get_double(a, &d), 0);
  assert_true(d == 1.5);
  assert_true(*(float *)mpconn_array_data(a) == 1.5f);
  assert_int_equal(mpconn_value_get_int(a, &i), MPCONN_ETYPE);
  assert_int_equal(mpconn_value_get_uint(a, &u), MPCONN_ETYPE);
  assert_int_equal(mpconn_value_set_int(a, 3), 0); /* converted */
  assert_int_equal(mpconn_value_get_double(a, &d), 0);
  assert_true(d == 3.0);
  assert_int_equal(mpconn_value_set_double(a, 1e39), 0); /* as Python: inf */
  assert_int_equal(mpconn_value_get_double(a, &d), 0);
  assert_true(d > 1e38 && d == d * 2);
  mpconn_array_free(a);

  assert_int_equal(mpconn_value_new(&a, 'd', 0), 0);
  assert_int_equal(mpconn_value_set_double(a, -2.25), 0);
  assert_true(*(double *)mpconn_array_data(a) == -2.25);
  assert_int_equal(mpconn_value_set_uint(a, 7), 0);
  assert_int_equal(mpconn_value_get_double(a, &d), 0);
  assert_true(d == 7.0);
  mpconn_array_free(a);
}

/* ------------------------------------------------------------------------ */
/* Anonymous arrays and forked children                                     */
/* ------------------------------------------------------------------------ */

static int child_squares(void *arg) {
  int32_t *p = mpconn_array_data(arg);
  for (int i = 0; i < 10; i++)
    p[i] = i * i;
  mpconn_array_free(arg);
  return 0;
}

static void test_child_writes(void **state) {
  (void)state;
  mpconn_array *a;
  assert_int_equal(mpconn_array_new(&a, 'i', 10, 0), 0);
  reap_ok(spawn(child_squares, a));
  for (int i = 0; i < 10; i++)
    assert_int_equal(((int32_t *)mpconn_array_data(a))[i], i * i);
  mpconn_array_free(a);
}

#define INCREMENTS 100000
#define COUNTERS 4

/* The counters start together, so that they contend for the lock. */
static uint32_t *start_gate;

static int child_increment_locked(void *arg) {
  mpconn_array *v = arg;
  mpconn_rlock *l = mpconn_array_get_lock(v);
  if (!child_wait_word(start_gate, 1))
    return child_fail(11, "never started");
  int64_t *p = mpconn_array_data(v);
  for (int i = 0; i < INCREMENTS; i++) {
    CHILD_EXPECT(mpconn_rlock_acquire(l, LONG_MS), 0, "acquire");
    (*p)++;
    CHILD_EXPECT(mpconn_rlock_release(l), 0, "release");
  }
  return 0;
}

static int child_increment_unlocked(void *arg) {
  volatile int64_t *p = mpconn_array_data(arg);
  if (!child_wait_word(start_gate, 1))
    return child_fail(11, "never started");
  for (int i = 0; i < INCREMENTS; i++)
    *p = *p + 1;
  return 0;
}

/* 4 processes x 100 000 increments of one value under its lock. */
static void test_counter_locked(void **state) {
  (void)state;
  mpconn_array *v;
  assert_int_equal(mpconn_value_new(&v, 'q', 0), 0);
  start_gate = shared_page(4096);
  pid_t pids[COUNTERS];
  for (int i = 0; i < COUNTERS; i++)
    pids[i] = spawn(child_increment_locked, v);
  __atomic_store_n(start_gate, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < COUNTERS; i++)
    reap_ok(pids[i]);
  munmap(start_gate, 4096);
  int64_t n;
  assert_int_equal(mpconn_value_get_int(v, &n), 0);
  assert_int_equal(n, (int64_t)COUNTERS * INCREMENTS);
  mpconn_array_free(v);
}

/* The same without the lock runs; updates may be lost, and nothing is
 * asserted about how many. */
static void test_counter_unlocked(void **state) {
  (void)state;
  mpconn_array *v;
  assert_int_equal(mpconn_value_new(&v, 'q', MPCONN_ARRAY_NOLOCK), 0);
  start_gate = shared_page(4096);
  pid_t pids[COUNTERS];
  for (int i = 0; i < COUNTERS; i++)
    pids[i] = spawn(child_increment_unlocked, v);
  __atomic_store_n(start_gate, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < COUNTERS; i++)
    reap_ok(pids[i]);
  munmap(start_gate, 4096);
  int64_t n;
  assert_int_equal(mpconn_value_get_int(v, &n), 0);
  assert_true(n >= INCREMENTS && n <= (int64_t)COUNTERS * INCREMENTS);
  mpconn_array_free(v);
}

/* ------------------------------------------------------------------------ */
/* The array's lock                                                         */
/* ------------------------------------------------------------------------ */

struct holder {
  mpconn_array *a;
  uint32_t *flags; /* [0]: the holder has the lock; [1]: go */
  int depth;
};

static int child_try_lock(void *arg) {
  struct holder *h = arg;
  CHILD_EXPECT(mpconn_rlock_acquire(mpconn_array_get_lock(h->a), 0),
               MPCONN_ETIMEDOUT, "try while held");
  return 0;
}

static int child_take_lock(void *arg) {
  struct holder *h = arg;
  mpconn_rlock *l = mpconn_array_get_lock(h->a);
  CHILD_EXPECT(mpconn_rlock_acquire(l, 0), 0, "try while free");
  CHILD_EXPECT(mpconn_rlock_release(l), 0, "release");
  return 0;
}

/* An RLock, as Python's lock=True: its holder may take it again. */
static void test_lock_recursive(void **state) {
  (void)state;
  mpconn_array *a;
  assert_int_equal(mpconn_array_new(&a, 'i', 4, 0), 0);
  mpconn_rlock *l = mpconn_array_get_lock(a);
  struct holder h = {.a = a};
  assert_int_equal(mpconn_rlock_acquire(l, 0), 0);
  assert_int_equal(mpconn_rlock_acquire(l, -1), 0);
  reap_ok(spawn(child_try_lock, &h));
  assert_int_equal(mpconn_rlock_release(l), 0);
  reap_ok(spawn(child_try_lock, &h));
  assert_int_equal(mpconn_rlock_release(l), 0);
  assert_int_equal(mpconn_rlock_release(l), MPCONN_ENOTOWNER);
  reap_ok(spawn(child_take_lock, &h));
  /* Not a lock of its own: mpconn_rlock_free() leaves it alone. */
  mpconn_rlock_free(l);
  assert_int_equal(mpconn_rlock_acquire(l, 0), 0);
  assert_int_equal(mpconn_rlock_release(l), 0);
  mpconn_array_free(a);
  assert_int_equal(mpconn_rlock_acquire(NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_rlock_release(NULL), MPCONN_EINVAL);
}

static int child_hold_lock(void *arg) {
  struct holder *h = arg;
  mpconn_rlock *l = mpconn_array_get_lock(h->a);
  for (int i = 0; i < h->depth; i++)
    CHILD_EXPECT(mpconn_rlock_acquire(l, 0), 0, "acquire");
  int32_t *p = mpconn_array_data(h->a);
  p[0] = 1; /* half an update: p[1] is never written */
  __atomic_store_n(&h->flags[0], 1, __ATOMIC_SEQ_CST);
  for (;;)
    pause(); /* until killed */
}

static int child_wait_lock(void *arg) {
  struct holder *h = arg;
  mpconn_rlock *l = mpconn_array_get_lock(h->a);
  CHILD_EXPECT(mpconn_rlock_acquire(l, LONG_MS), MPCONN_EOWNERDEAD,
               "waiter's acquire");
  int32_t *p = mpconn_array_data(h->a);
  p[1] = p[0]; /* the repair */
  CHILD_EXPECT(mpconn_rlock_release(l), 0, "release");
  return 0;
}

/* A process killed holding the array's lock (three levels deep): the
 * process waiting for it gets it with MPCONN_EOWNERDEAD, once; the array
 * stays usable. */
static void test_lock_holder_killed(void **state) {
  (void)state;
  mpconn_array *a;
  assert_int_equal(mpconn_array_new(&a, 'i', 2, 0), 0);
  uint32_t *flags = shared_page(4096);
  struct holder h = {.a = a, .flags = flags, .depth = 3};
  pid_t holder = spawn(child_hold_lock, &h);
  wait_word(&flags[0], 1, LONG_MS, "holder has the lock");
  pid_t waiter = spawn(child_wait_lock, &h);
  wait_futex_sleep(waiter, LONG_MS);
  kill(holder, SIGKILL);
  reap_killed(holder);
  reap_ok(waiter);
  mpconn_rlock *l = mpconn_array_get_lock(a);
  assert_int_equal(mpconn_rlock_acquire(l, 0), 0);
  int32_t *p = mpconn_array_data(a);
  assert_int_equal(p[1], 1);
  assert_int_equal(mpconn_rlock_release(l), 0);

  /* No waiter: the next locker, here the parent, sees the death. */
  flags[0] = 0;
  h.depth = 1;
  holder = spawn(child_hold_lock, &h);
  wait_word(&flags[0], 1, LONG_MS, "holder has the lock");
  kill(holder, SIGKILL);
  reap_killed(holder);
  assert_int_equal(mpconn_rlock_acquire(l, LONG_MS), MPCONN_EOWNERDEAD);
  assert_int_equal(mpconn_rlock_release(l), 0);
  assert_int_equal(mpconn_rlock_acquire(l, 0), 0);
  assert_int_equal(mpconn_rlock_release(l), 0);
  munmap(flags, 4096);
  mpconn_array_free(a);
}

/* A timed acquire returns by its deadline while another process holds
 * the lock. */
static void test_lock_timeout(void **state) {
  (void)state;
  mpconn_array *a;
  assert_int_equal(mpconn_array_new(&a, 'i', 1, 0), 0);
  uint32_t *flags = shared_page(4096);
  struct holder h = {.a = a, .flags = flags, .depth = 1};
  pid_t holder = spawn(child_hold_lock, &h);
  wait_word(&flags[0], 1, LONG_MS, "holder has the lock");
  mpconn_rlock *l = mpconn_array_get_lock(a);
  int64_t t0 = now_ms();
  assert_int_equal(mpconn_rlock_acquire(l, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_rlock_acquire(l, 50), MPCONN_ETIMEDOUT);
  int64_t took = now_ms() - t0;
  assert_true(took >= 49 && took < 2000);
  assert_int_equal(mpconn_rlock_release(l), MPCONN_ENOTOWNER);
  kill(holder, SIGKILL);
  reap_killed(holder);
  assert_int_equal(mpconn_rlock_acquire(l, 0), MPCONN_EOWNERDEAD);
  assert_int_equal(mpconn_rlock_release(l), 0);
  munmap(flags, 4096);
  mpconn_array_free(a);
}

/* ------------------------------------------------------------------------ */
/* Bad input                                                                */
/* ------------------------------------------------------------------------ */

/* Anonymous shared mappings, as /proc/self/maps names them. */
#define ANON_SHARED "/dev/zero (deleted)"

static void test_new_bad_input(void **state) {
  (void)state;
  int fds = count_fds(), maps = count_maps(ANON_SHARED);
  mpconn_array *a = (mpconn_array *)&a;
  assert_int_equal(mpconn_array_new(&a, 'x', 10, 0), MPCONN_ETYPE);
  assert_null(a);
  a = (mpconn_array *)&a;
  assert_int_equal(mpconn_array_new(&a, 'i', 0, 0), MPCONN_EINVAL);
  assert_null(a);
  assert_int_equal(mpconn_array_new(&a, 'i', 1, 0x10), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_new(&a, 'd', SIZE_MAX / 8 + 1, 0), -EOVERFLOW);
  assert_int_equal(mpconn_array_new(&a, 'b', SIZE_MAX, 0), -EOVERFLOW);
  assert_int_equal(mpconn_array_new(&a, 'h', SIZE_MAX / 2, 0), -EOVERFLOW);
  assert_null(a);
  assert_int_equal(mpconn_array_new(NULL, 'i', 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_value_new(&a, 'z', 0), MPCONN_ETYPE);
  /* Within size_t, beyond memory: refused by the kernel (ENOMEM; under
   * valgrind, EINVAL). */
  int rc = mpconn_array_new(&a, 'Q', (SIZE_MAX >> 5), 0);
  assert_true(rc == MPCONN_ENOMEM || rc == MPCONN_EINVAL);
  assert_null(a);
  assert_int_equal(count_fds(), fds);
  assert_int_equal(count_maps(ANON_SHARED), maps);
}

/* Every failing call leaves no descriptor, no mapping and no object. */
struct leak_check {
  int fds;
  int maps;
};

static struct leak_check leak_start(void) {
  struct leak_check c = {count_fds(), count_maps("/dev/shm/")};
  return c;
}

static void leak_end(struct leak_check c, const char *name) {
  assert_int_equal(count_fds(), c.fds);
  assert_int_equal(count_maps("/dev/shm/"), c.maps);
  if (name)
    assert_int_equal(count_maps(name), 0);
}

static void test_named_bad_input(void **state) {
  (void)state;
  char name[128];
  snprintf(name, sizeof(name), "%s", test_name("bad"));
  struct leak_check c = leak_start();
  mpconn_array *a = (mpconn_array *)&a;

  /* Names. */
  const char *bad[] = {"", "/", "a/b", "/a/b", ".", "..", "/.", "/..", "a/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(mpconn_array_create(&a, bad[i], 'i', 1, 0),
                     MPCONN_EBADNAME);
    assert_null(a);
    assert_int_equal(mpconn_array_open(&a, bad[i], 'i', 1, 0), MPCONN_EBADNAME);
    assert_int_equal(mpconn_shm_unlink(bad[i]), MPCONN_EBADNAME);
  }
  assert_int_equal(mpconn_array_create(&a, NULL, 'i', 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_open(&a, NULL, 'i', 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_shm_unlink(NULL), MPCONN_EINVAL);
  char longname[300];
  memset(longname, 'n', 256);
  longname[256] = '\0';
  assert_int_equal(mpconn_array_create(&a, longname, 'i', 1, 0), -ENAMETOOLONG);
  assert_int_equal(mpconn_array_open(&a, longname, 'i', 1, 0), -ENAMETOOLONG);
  assert_int_equal(mpconn_shm_unlink(longname), -ENAMETOOLONG);
  /* 250 bytes: a name, but no room for NAME.mpconn. */
  longname[250] = '\0';
  assert_int_equal(mpconn_array_create(&a, longname, 'i', 1, 0), -ENAMETOOLONG);
  assert_false(shm_exists(longname));
  /* Without a lock it fits; open and unlink then look for no lock. */
  assert_int_equal(
      mpconn_array_create(&a, longname, 'i', 1, MPCONN_ARRAY_NOLOCK), 0);
  mpconn_array *b = NULL;
  assert_int_equal(mpconn_array_open(&b, longname, 'i', 1, 0), 0);
  assert_null(mpconn_array_get_lock(b));
  mpconn_array_free(b);
  mpconn_array_free(a);
  assert_int_equal(mpconn_shm_unlink(longname), 0);
  assert_false(shm_exists(longname));
  a = NULL;

  /* Type codes and lengths. */
  assert_int_equal(mpconn_array_create(&a, name, 'x', 1, 0), MPCONN_ETYPE);
  assert_int_equal(mpconn_array_create(&a, name, 'i', 0, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_create(&a, name, 'i', 1, 2), MPCONN_EINVAL);
  assert_int_equal(mpconn_array_create(&a, name, 'q', SIZE_MAX / 4, 0),
                   -EOVERFLOW);
  assert_int_equal(mpconn_array_create(NULL, name, 'i', 1, 0), MPCONN_EINVAL);
  assert_false(shm_exists(name));

  /* Names that do not exist. */
  assert_int_equal(mpconn_array_open(&a, name, 'i', 1, 0), -ENOENT);
  assert_int_equal(mpconn_array_open(&a, name, 'i', 1, MPCONN_ARRAY_NOLOCK),
                   -ENOENT);
  assert_int_equal(mpconn_shm_unlink(name), -ENOENT);
  assert_null(a);

  /* An object too small for the length asked for. */
  raw_object(name, 10);
  assert_int_equal(mpconn_array_open(&a, name, 'i', 3, 0), MPCONN_ESHMSIZE);
  assert_int_equal(mpconn_array_open(&a, name, 'b', 11, 0), MPCONN_ESHMSIZE);
  assert_int_equal(mpconn_array_open(&a, name, 'x', 1, 0), MPCONN_ETYPE);
  assert_int_equal(mpconn_array_open(&a, name, 'q', SIZE_MAX / 4, 0),
                   -EOVERFLOW);
  assert_null(a);
  /* It exists: create refuses it, and leaves no lock object behind. */
  assert_int_equal(mpconn_array_create(&a, name, 'i', 1, 0), -EEXIST);
  char lock_name[160];
  snprintf(lock_name, sizeof(lock_name), "%s.mpconn", name);
  assert_false(shm_exists(lock_name));
  raw_unlink(name);

  /* A lock object left behind blocks create too. */
  raw_object(lock_name, 10);
  assert_int_equal(mpconn_array_create(&a, name, 'i', 1, 0), -EEXIST);
  assert_false(shm_exists(name));
  /* ... and is not taken for a lock by open. */
  raw_object(name, 4);
  assert_int_equal(mpconn_array_open(&a, name, 'i', 1, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_shm_unlink(name), 0);
  assert_false(shm_exists(name));
  assert_false(shm_exists(lock_name));

  /* The creator's type code and length are checked. */
  assert_int_equal(mpconn_array_create(&a, name, 'i', 4, 0), 0);
  b = (mpconn_array *)&b;
  assert_int_equal(mpconn_array_open(&b, name, 'I', 4, 0), MPCONN_ETYPE);
  assert_null(b);
  assert_int_equal(mpconn_array_open(&b, name, 'i', 5, 0), MPCONN_ESHMSIZE);
  assert_int_equal(mpconn_array_open(&b, name, 'I', 4, MPCONN_ARRAY_NOLOCK), 0);
  mpconn_array_free(b);
  assert_int_equal(mpconn_array_open(&b, name, 'i', 3, 0), 0);
  mpconn_array_free(b);
  assert_int_equal(mpconn_array_create(&b, name, 'i', 4, 0), -EEXIST);
  mpconn_array_free(a);
  assert_int_equal(mpconn_shm_unlink(name), 0);
  assert_int_equal(mpconn_shm_unlink(name), -ENOENT);
  leak_end(c, name);
}

/* ------------------------------------------------------------------------ */
/* Named arrays                                                             */
/* ------------------------------------------------------------------------ */

static int child_open_and_square(void *arg) {
  mpconn_array *a;
  CHILD_EXPECT(mpconn_array_open(&a, arg, 'l', 10, 0), 0, "open");
  CHILD_EXPECT(mpconn_rlock_acquire(mpconn_array_get_lock(a), LONG_MS), 0,
               "acquire");
  for (size_t i = 0; i < 10; i++)
    CHILD_EXPECT(mpconn_array_set_int(a, i, (int64_t)(i * i) - 50), 0, "set");
  CHILD_EXPECT(mpconn_rlock_release(mpconn_array_get_lock(a)), 0, "release");
  mpconn_array_free(a);
  return 0;
}

/* Created in one process, opened by name in another (after exec it would
 * be the same), with the lock shared. */
static void test_named_round_trip(void **state) {
  (void)state;
  const char *name = test_name("rt");
  struct leak_check c = leak_start();
  mpconn_array *a;
  assert_int_equal(mpconn_array_create(&a, name, 'l', 10, 0), 0);
  assert_string_equal(mpconn_array_name(a), name);
  assert_int_equal(mpconn_array_length(a), 10);
  int64_t v;
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(mpconn_array_get_int(a, i, &v), 0);
    assert_int_equal(v, 0);
  }
  reap_ok(spawn(child_open_and_square, (void *)name));
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(mpconn_array_get_int(a, i, &v), 0);
    assert_int_equal(v, (int64_t)(i * i) - 50);
  }

  /* A leading '/' names the same object. */
  char slashed[160];
  snprintf(slashed, sizeof(slashed), "/%s", name);
  mpconn_array *b;
  assert_int_equal(mpconn_array_open(&b, slashed, 'l', 10, 0), 0);
  assert_string_equal(mpconn_array_name(b), name);
  assert_int_equal(mpconn_array_set_int(b, 9, 12345), 0);
  assert_int_equal(mpconn_array_get_int(a, 9, &v), 0);
  assert_int_equal(v, 12345);
  /* One lock: held through one handle, the same thread takes it again
   * through the other (an RLock); another process cannot. */
  assert_int_equal(mpconn_rlock_acquire(mpconn_array_get_lock(a), 0), 0);
  assert_int_equal(mpconn_rlock_acquire(mpconn_array_get_lock(b), 0), 0);
  struct holder h = {.a = b};
  reap_ok(spawn(child_try_lock, &h));
  assert_int_equal(mpconn_rlock_release(mpconn_array_get_lock(b)), 0);
  assert_int_equal(mpconn_rlock_release(mpconn_array_get_lock(a)), 0);
  reap_ok(spawn(child_take_lock, &h));
  mpconn_array_free(b);

  /* Unlinked, the name is gone; the mapping stays. */
  assert_int_equal(mpconn_shm_unlink(slashed), 0);
  assert_false(shm_exists(name));
  assert_int_equal(mpconn_array_open(&b, name, 'l', 10, 0), -ENOENT);
  assert_int_equal(mpconn_array_set_int(a, 0, 7), 0);
  assert_int_equal(mpconn_array_get_int(a, 0, &v), 0);
  assert_int_equal(v, 7);
  mpconn_array_free(a);
  leak_end(c, name);
}

/* The data starts at byte 0 of /dev/shm/NAME, which is exactly the
 * array's size; both objects have mode 0600 whatever the umask. */
static void test_named_layout(void **state) {
  (void)state;
  const char *name = test_name("layout");
  mode_t old = umask(0);
  mpconn_array *a;
  assert_int_equal(mpconn_array_create(&a, name, 'H', 7, 0), 0);
  umask(old);
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(mpconn_array_set_uint(a, i, 0xa0b0 + i), 0);
  char path[320];
  snprintf(path, sizeof(path), "/dev/shm/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  assert_int_equal(st.st_size, 14);
  assert_int_equal(st.st_mode & 0777, 0600);
  uint16_t buf[7];
  assert_int_equal(read(fd, buf, sizeof(buf)), 14);
  close(fd);
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(buf[i], 0xa0b0 + i);
  snprintf(path, sizeof(path), "/dev/shm/%s.mpconn", name);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  mpconn_array_free(a);
  assert_int_equal(mpconn_shm_unlink(name), 0);

  /* Without a lock: one object only. */
  assert_int_equal(mpconn_array_create(&a, name, 'd', 3, MPCONN_ARRAY_NOLOCK),
                   0);
  assert_null(mpconn_array_get_lock(a));
  assert_false(access(path, F_OK) == 0);
  mpconn_array_free(a);
  assert_int_equal(mpconn_shm_unlink(name), 0);
  assert_false(shm_exists(name));
}

/* An object made as Python's SharedMemory makes it: C reads and writes
 * it, without a lock. */
static void test_open_foreign_object(void **state) {
  (void)state;
  const char *name = test_name("foreign");
  raw_object(name, 40);
  struct leak_check c = leak_start();
  mpconn_array *a;
  assert_int_equal(mpconn_array_open(&a, name, 'i', 10, 0), 0);
  assert_null(mpconn_array_get_lock(a));
  assert_int_equal(mpconn_array_set_int(a, 9, -9), 0);
  mpconn_array_free(a);
  assert_int_equal(mpconn_array_open(&a, name, 'd', 5, 0), 0);
  mpconn_array_free(a);
  assert_int_equal(mpconn_array_open(&a, name, 'b', 40, 0), 0);
  int64_t v;
  assert_int_equal(mpconn_array_get_int(a, 36, &v), 0);
  assert_int_equal(v, -9);
  mpconn_array_free(a);
  leak_end(c, name);
  /* Only the data object: unlink says it removed something. */
  assert_int_equal(mpconn_shm_unlink(name), 0);
  assert_false(shm_exists(name));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typecodes),
      cmocka_unit_test(test_array_basics),
      cmocka_unit_test(test_accessors),
      cmocka_unit_test(test_child_writes),
      cmocka_unit_test(test_counter_locked),
      cmocka_unit_test(test_counter_unlocked),
      cmocka_unit_test(test_lock_recursive),
      cmocka_unit_test(test_lock_holder_killed),
      cmocka_unit_test(test_lock_timeout),
      cmocka_unit_test(test_new_bad_input),
      cmocka_unit_test(test_named_bad_input),
      cmocka_unit_test(test_named_round_trip),
      cmocka_unit_test(test_named_layout),
      cmocka_unit_test(test_open_foreign_object),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
