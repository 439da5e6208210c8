/* SPDX-License-Identifier: MIT */
/*
 * Large messages through shared memory (lib/memfd.c): zero-copy sending
 * and receiving, the automatic mode, and hostile memfds refused before
 * anything is mapped.
 */
#include "test-util.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include "mpconn-private.h"

/* Mappings of memfds this process has. */
static int count_memfd_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof(line), f))
    n += strstr(line, "/memfd:") != NULL;
  fclose(f);
  return n;
}

/* Both ends of a pair take shared-memory messages of 4 KiB and more. */
static int shm_setup(void **state) {
  if (pair_setup(state) < 0)
    return -1;
  mpconn **p = *state;
  if (mpconn_set_shm(p[0], 4096) < 0 || mpconn_set_shm(p[1], 4096) < 0)
    return -1;
  return 0;
}

/* Fill, send, receive in place: the bytes are the mapping, freed with
 * the message. */
static void test_zero_copy_bytes(void **state) {
  mpconn **p = *state;
  int maps = count_memfd_maps();
  size_t len = 3 * 1024 * 1024;
  mpconn_shm *s;
  assert_int_equal(mpconn_shm_new(&s, len + 100), 0);
  assert_int_equal(mpconn_shm_size(s), len + 100);
  uint8_t *data = mpconn_shm_data(s);
  for (size_t i = 0; i < len; i++)
    data[i] = pattern(4, i);
  assert_int_equal(mpconn_shm_send(p[0], s, len), 0);
  assert_int_equal(count_memfd_maps(), maps); /* the sender's is gone */
  mpconn_msg *m;
  assert_int_equal(mpconn_recv_raw(p[1], &m, 5000), 0);
  assert_null(mpconn_msg_value(m));
  size_t n;
  const uint8_t *got = mpconn_msg_data(m, &n);
  assert_int_equal(n, len);
  uint8_t *want = pattern_buf(4, len);
  assert_memory_equal(got, want, len);
  free(want);
  assert_int_equal(count_memfd_maps(), maps + 1);
  /* Read-only: a write would fault; sealed: nobody can change it. */
  mpconn_msg_free(m);
  assert_int_equal(count_memfd_maps(), maps);
  /* Empty, and the largest that fits the buffer. */
  assert_int_equal(mpconn_shm_new(&s, 0), 0);
  assert_null(mpconn_shm_data(s));
  assert_int_equal(mpconn_shm_send(p[0], s, 0), 0);
  assert_int_equal(mpconn_recv_raw(p[1], &m, 5000), 0);
  mpconn_msg_data(m, &n);
  assert_int_equal(n, 0);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_shm_new(&s, 10), 0);
  assert_int_equal(mpconn_shm_send(p[0], s, 11), MPCONN_EINVAL);
}

/* A value packed into the buffer is decoded in place: its bodies point
 * into the shared memory. */
static void test_zero_copy_value(void **state) {
  mpconn **p = *state;
  mpconn_shm *s;
  assert_int_equal(mpconn_shm_new(&s, 1 << 20), 0);
  msgpack_packer *pk;
  assert_int_equal(mpconn_shm_packer(s, &pk), 0);
  uint8_t *blob = pattern_buf(9, 500000);
  assert_int_equal(mpconn_packf(pk, NULL, "{s:y#, s:i}", "blob", blob,
                                (size_t)500000, "n", 7),
                   0);
  size_t len;
  assert_int_equal(mpconn_shm_packed(s, &len), 0);
  assert_int_equal(mpconn_shm_send(p[0], s, len), 0);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(p[1], &m, 5000), 0);
  const char *b;
  size_t blen;
  int n;
  assert_int_equal(mpconn_unpackf(mpconn_msg_value(m), NULL, "{s:y#, s:i}",
                                  "blob", &b, &blen, "n", &n),
                   0);
  assert_int_equal(blen, 500000);
  assert_int_equal(n, 7);
  assert_memory_equal(b, blob, blen);
  size_t flen;
  const uint8_t *frame = mpconn_msg_data(m, &flen);
  assert_int_equal(flen, len);
  assert_true((const uint8_t *)b > frame && (const uint8_t *)b < frame + flen);
  mpconn_msg_free(m);
  /* A value that does not fit: the packer says so. */
  assert_int_equal(mpconn_shm_new(&s, 16), 0);
  assert_int_equal(mpconn_shm_packer(s, &pk), 0);
  assert_true(mpconn_packf(pk, NULL, "y#", blob, (size_t)100) < 0);
  assert_int_equal(mpconn_shm_packed(s, &len), MPCONN_ENOMEM);
  mpconn_shm_free(s);
  free(blob);
}

/* Automatic: above the threshold sends go through shared memory, below
 * it as frames, in the order sent; every receive call takes both. */
static void test_automatic(void **state) {
  mpconn **p = *state;
  int fds = count_fds();
  uint8_t *big = pattern_buf(2, 100000);
  assert_int_equal(mpconn_cork(p[0], true), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "small", 5), 0); /* held */
  assert_int_equal(mpconn_send_bytes(p[0], big, 100000), 0);
  msgpack_object v = {.type = MSGPACK_OBJECT_BIN,
                      .via.bin = {.size = 100000, .ptr = (const char *)big}};
  assert_int_equal(mpconn_send(p[0], &v), 0);
  assert_int_equal(mpconn_sendf(p[0], "[y#]", big, (size_t)100000), 0);
  assert_int_equal(mpconn_send_bytes(p[0], big, 4095), 0);
  assert_int_equal(mpconn_cork(p[0], false), 0);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000), 0);
  assert_int_equal(n, 5);
  free(d);
  /* Into a buffer one byte short, then one that fits. */
  uint8_t *into = malloc(100000);
  assert_int_equal(mpconn_recv_bytes_into(p[1], into, 99999, 0, &n, 5000),
                   MPCONN_ETOOSHORT);
  assert_int_equal(n, 100000);
  assert_int_equal(mpconn_recv_bytes_into(p[1], into, 100000, 0, &n, 5000), 0);
  assert_memory_equal(into, big, 100000);
  free(into);
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(p[1], &m, 5000), 0);
  assert_int_equal(mpconn_msg_value(m)->via.bin.size, 100000);
  assert_memory_equal(mpconn_msg_value(m)->via.bin.ptr, big, 100000);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_recv(p[1], &m, 5000), 0);
  assert_int_equal(mpconn_msg_value(m)->via.array.ptr[0].via.bin.size, 100000);
  mpconn_msg_free(m);
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000), 0);
  assert_int_equal(n, 4095);
  free(d);
  free(big);
  assert_int_equal(count_fds(), fds);
}

/* A receiver that did not switch it on refuses the message, closes the
 * memfd, and goes on. */
static void test_receiver_not_on(void **state) {
  mpconn **p = *state;
  assert_int_equal(mpconn_set_shm(p[1], 0), 0);
  int fds = count_fds();
  uint8_t *big = pattern_buf(2, 10000);
  assert_int_equal(mpconn_send_bytes(p[0], big, 10000), 0);
  assert_int_equal(mpconn_send_bytes(p[0], "next", 4), 0);
  void *d;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                   MPCONN_EBADFDS);
  assert_int_equal(count_fds(), fds);
  assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000), 0);
  assert_int_equal(n, 4);
  free(d);
  free(big);
  /* Only Unix sockets carry them. */
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  assert_int_equal(mpconn_set_shm(w, 10), MPCONN_EINVAL);
  assert_int_equal(mpconn_set_shm(w, 0), 0);
  assert_int_equal(mpconn_set_shm(NULL, 0), MPCONN_EINVAL);
  mpconn_free(r);
  mpconn_free(w);
}

/* Send the frame that stands for a shared-memory message, by hand:
 * @magic_ok, announcing @announced bytes, carrying @fd. */
static void send_descriptor(mpconn *c, int fd, uint64_t announced,
                            bool magic_ok) {
  uint8_t frame[20] = {0,   0,   0,   16,  0x00, 'M',
                       'P', 'S', 'H', 'M', 0x00, magic_ok ? 0x01 : 0x02};
  for (int i = 0; i < 8; i++)
    frame[12 + i] = (uint8_t)(announced >> (56 - 8 * i));
  struct iovec iov = {.iov_base = frame, .iov_len = sizeof(frame)};
  assert_int_equal(mpconn__send_fds(mpconn_fileno(c), &iov, 1, &fd, 1, true),
                   0);
}

/* A memfd of @size bytes with @seals. */
static int make_memfd(size_t size, int seals) {
  int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)size), 0);
  if (seals)
    assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
  return fd;
}

#define ALL (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/*
 * Hostile memfds: unsealed, writable, shrinkable, growable, smaller or
 * larger than announced, not a memfd at all, a wrong magic, over the
 * receive limit.  Each is refused with its code before anything is mapped
 * (no memfd mapping appears), closed (no descriptor is left), and the
 * next message is received as usual.
 */
static void test_hostile_memfds(void **state) {
  mpconn **p = *state;
  int maps = count_memfd_maps();
  int fds = count_fds();
  char path[] = "/tmp/mpconn-memfd-XXXXXX";
  int file = mkstemp(path);
  assert_true(file >= 0);
  unlink(path);
  assert_int_equal(ftruncate(file, 8192), 0);
  int pfd[2];
  assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
  struct {
    const char *what;
    int fd;
    uint64_t announced;
    bool magic_ok;
    int want;
  } cases[] = {
      {"unsealed", make_memfd(8192, 0), 8192, true, MPCONN_EBADSHM},
      {"writable", make_memfd(8192, F_SEAL_SHRINK | F_SEAL_GROW), 8192, true,
       MPCONN_EBADSHM},
      {"shrinkable", make_memfd(8192, F_SEAL_GROW | F_SEAL_WRITE), 8192, true,
       MPCONN_EBADSHM},
      {"growable", make_memfd(8192, F_SEAL_SHRINK | F_SEAL_WRITE), 8192, true,
       MPCONN_EBADSHM},
      {"smaller than announced", make_memfd(8000, ALL), 8192, true,
       MPCONN_EBADSHM},
      {"larger than announced", make_memfd(9000, ALL), 8192, true,
       MPCONN_EBADSHM},
      {"a plain file", file, 8192, true, MPCONN_EBADSHM},
      {"a pipe", pfd[0], 8192, true, MPCONN_EBADSHM},
      {"a wrong magic", make_memfd(8192, ALL), 8192, false, MPCONN_EBADSHM},
      {"over the receive limit", make_memfd(70000, ALL), 70000, true,
       MPCONN_ETOOBIG},
  };
  assert_int_equal(mpconn_set_max_size(p[1], 65536), 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    send_descriptor(p[0], cases[i].fd, cases[i].announced, cases[i].magic_ok);
    assert_int_equal(mpconn_send_bytes(p[0], "next", 4), 0);
    /* Each receive call refuses it the same way. */
    mpconn_msg *m = NULL;
    void *d;
    size_t n;
    int rc = i % 3 == 0 ? mpconn_recv(p[1], &m, 5000)
             : i % 3 == 1
                 ? mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000)
                 : mpconn_recv_raw(p[1], &m, 5000);
    if (rc != cases[i].want)
      fail_msg("%s: got %s, want %s", cases[i].what, mpconn_err_name(rc),
               mpconn_err_name(cases[i].want));
    assert_null(m);
    assert_int_equal(count_memfd_maps(), maps);
    assert_int_equal(mpconn_recv_bytes(p[1], &d, &n, MPCONN_UNLIMITED, 5000),
                     0);
    assert_int_equal(n, 4);
    free(d);
  }
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    close(cases[i].fd);
  close(pfd[1]);
  assert_int_equal(count_fds(), fds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_zero_copy_bytes, shm_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_zero_copy_value, shm_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_automatic, shm_setup, pair_teardown),
      cmocka_unit_test_setup_teardown(test_receiver_not_on, shm_setup,
                                      pair_teardown),
      cmocka_unit_test_setup_teardown(test_hostile_memfds, shm_setup,
                                      pair_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
