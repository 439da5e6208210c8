/* SPDX-License-Identifier: MIT */
/*
 * System-call faults (lib/io.c), injected with the linker's --wrap: EINTR
 * on every other call, EAGAIN as from a non-blocking descriptor, short
 * reads and short writes.  Frames must arrive whole and exact.
 */
#include "test-util.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

static struct {
  bool eintr, eagain, short_io;
  unsigned reads, writes, polls;
} fault;

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_writev(int fd, const struct iovec *iov, int cnt);
ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
int __real_poll(struct pollfd *p, nfds_t n, int timeout);

static bool inject(unsigned count) {
  if (fault.eintr && count % 2 == 1) {
    errno = EINTR;
    return true;
  }
  if (fault.eagain && count % 3 == 1) {
    errno = EAGAIN;
    return true;
  }
  return false;
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
  if (inject(++fault.reads))
    return -1;
  return __real_read(fd, buf, fault.short_io && n > 1 ? 1 : n);
}

/* Copy iov, cut to at most 3 bytes in all. */
static int cut(const struct iovec *iov, int cnt, struct iovec *out) {
  size_t left = 3;
  int k = 0;
  for (int i = 0; i < cnt && left > 0; i++) {
    out[k] = iov[i];
    if (out[k].iov_len > left)
      out[k].iov_len = left;
    left -= out[k].iov_len;
    k++;
  }
  return k;
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int cnt) {
  if (inject(++fault.writes))
    return -1;
  if (!fault.short_io)
    return __real_writev(fd, iov, cnt);
  struct iovec small[8];
  return __real_writev(fd, small, cut(iov, cnt < 8 ? cnt : 8, small));
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags) {
  if (inject(++fault.writes))
    return -1;
  if (!fault.short_io)
    return __real_sendmsg(fd, m, flags);
  struct iovec small[8];
  struct msghdr copy = *m;
  copy.msg_iovlen = (size_t)cut(m->msg_iov, (int)m->msg_iovlen, small);
  copy.msg_iov = small;
  return __real_sendmsg(fd, &copy, flags);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags) {
  if (inject(++fault.writes))
    return -1;
  return __real_send(fd, buf, fault.short_io && n > 1 ? 1 : n, flags);
}

int __wrap_poll(struct pollfd *p, nfds_t n, int timeout) {
  if (fault.eintr && ++fault.polls % 2 == 1) {
    errno = EINTR;
    return -1;
  }
  return __real_poll(p, n, timeout);
}

static int reset(void **state) {
  (void)state;
  memset(&fault, 0, sizeof(fault));
  return 0;
}

static const size_t sizes[] = {0, 1, 5, 16384, 65532, 65533, 100000, 7};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

struct sender_args {
  mpconn *c;
  int rc;
};

static void *send_all(void *arg) {
  struct sender_args *s = arg;
  for (size_t i = 0; i < NSIZES && !s->rc; i++) {
    uint8_t *p = pattern_buf(i, sizes[i]);
    s->rc = mpconn_send_bytes(s->c, p, sizes[i]);
    free(p);
  }
  return NULL;
}

/* Send every size from a thread over a pipe or socketpair; check each. */
static void exchange(bool duplex, int timeout_ms) {
  mpconn *a, *b;
  assert_int_equal(mpconn_pipe(&a, &b, duplex), 0);
  struct sender_args s = {b, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, send_all, &s), 0);
  for (size_t i = 0; i < NSIZES; i++) {
    void *d;
    size_t len;
    assert_int_equal(
        mpconn_recv_bytes(a, &d, &len, MPCONN_UNLIMITED, timeout_ms), 0);
    assert_int_equal(len, sizes[i]);
    uint8_t *want = pattern_buf(i, len);
    if (len)
      assert_memory_equal(d, want, len);
    free(want);
    free(d);
  }
  pthread_join(t, NULL);
  assert_int_equal(s.rc, 0);
  mpconn_free(a);
  mpconn_free(b);
}

static void test_eintr_everywhere(void **state) {
  (void)state;
  fault.eintr = true;
  exchange(false, -1);
  exchange(true, -1);
  exchange(true, 10000);
  /* A pipe with a timeout polls before every read (a socket polls only
   * when it has nothing, which depends on timing). */
  exchange(false, 10000);
  assert_true(fault.reads > 8 && fault.writes > 8 && fault.polls > 0);
}

static void test_short_reads_and_writes(void **state) {
  (void)state;
  fault.short_io = true;
  exchange(false, -1);
  exchange(true, 10000);
  /* Every byte took its own read at most, and writes were cut short too:
   * many calls were needed. */
  assert_true(fault.reads > 100000);
  assert_true(fault.writes > 1000);
}

/* A non-blocking descriptor's EAGAIN waits for readiness and retries. */
static void test_eagain(void **state) {
  (void)state;
  fault.eagain = true;
  exchange(false, -1);
  exchange(true, 10000);
}

/* One read takes every frame the chunk holds. */
static void test_one_read_many_frames(void **state) {
  (void)state;
  int wfd;
  mpconn *c = raw_reader(&wfd);
  uint8_t buf[100 * 5];
  for (int i = 0; i < 100; i++)
    memcpy(buf + 5 * i, "\x00\x00\x00\x01", 4), buf[5 * i + 4] = (uint8_t)i;
  raw_write(wfd, buf, sizeof(buf));
  fault.reads = 0;
  for (int i = 0; i < 100; i++) {
    uint8_t v;
    size_t len;
    assert_int_equal(mpconn_recv_bytes_into(c, &v, 1, 0, &len, -1), 0);
    assert_int_equal(v, i);
  }
  assert_int_equal(fault.reads, 1);
  close(wfd);
  mpconn_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_eintr_everywhere, reset),
      cmocka_unit_test_setup(test_short_reads_and_writes, reset),
      cmocka_unit_test_setup(test_eagain, reset),
      cmocka_unit_test_setup(test_one_read_many_frames, reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
