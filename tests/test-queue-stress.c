/* SPDX-License-Identifier: MIT */
/*
 * Queues under load (lib/queue.c, and lib/queue-rings.c with
 * MPCONN_TEST_QUEUE_RINGS=1): producer and consumer processes moving
 * items of 1 byte to 1 MiB, while other processes are killed at random
 * instants or on purpose while they hold the queue's lock.
 *
 * Every item is the value [producer, seq, checksum, payload]; its length
 * is a function of (producer, seq).  Consumers check each item and count
 * it in shared memory; the parent then checks that nothing is lost,
 * duplicated or corrupted.  Run one scenario by passing its test name.
 */
#include "queue-util.h"

#include "queue-test.h"

#include <poll.h>
#include <sys/mman.h>

#define LONG_MS 120000

/* MPCONN_QUEUE_RINGS when MPCONN_TEST_QUEUE_RINGS=1 is in the environment. */
static unsigned queue_flags;
#define MAXP 128 /* producer identities */
#define MAXSEQ 100000
#define SAB_ID (MAXP - 1) /* items of processes killed on purpose */
#define BIG ((size_t)1 << 20)

/* ------------------------------------------------------------------------ */
/* Items                                                                    */
/* ------------------------------------------------------------------------ */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/* Mostly small items, some up to 64 KiB, a few up to 1 MiB, and one of
 * exactly 1 MiB per producer. */
static size_t item_len(uint32_t p, uint32_t seq) {
  if (seq == 500)
    return BIG;
  uint64_t r = mix(((uint64_t)p << 32) | seq);
  if (r % 500 == 0)
    return 65536 + (size_t)((r >> 20) % (BIG - 65536 + 1));
  if (r % 100 == 1)
    return 257 + (size_t)((r >> 20) % (65536 - 257));
  return 1 + (size_t)((r >> 20) % 256);
}

static void fill(uint8_t *buf, size_t len, uint32_t p, uint32_t seq) {
  uint64_t s = mix(((uint64_t)p << 32) ^ seq ^ 0x9e3779b97f4a7c15ULL) | 1;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    memcpy(buf + i, &s, 8);
  }
  for (; i < len; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    buf[i] = (uint8_t)s;
  }
}

static uint64_t checksum(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  for (; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* ------------------------------------------------------------------------ */
/* What the consumers saw, shared by every process                          */
/* ------------------------------------------------------------------------ */

struct board {
  uint32_t bad;   /* items that failed a check */
  uint64_t items; /* items got */
  uint64_t bytes; /* payload bytes got */
  uint8_t seen[MAXP][MAXSEQ];
};

static struct board *board_new(void) {
  void *p = mmap(NULL, sizeof(struct board), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  return p;
}

static void board_free(struct board *b) { munmap(b, sizeof(*b)); }

/* ------------------------------------------------------------------------ */
/* Children                                                                 */
/* ------------------------------------------------------------------------ */

struct producer {
  mpconn_queue *q;
  uint32_t id, count;
  int report_fd; /* receives each seq whose put returned 0, or -1 */
};

static int put_item(mpconn_queue *q, uint8_t *buf, uint32_t id, uint32_t seq) {
  size_t len = item_len(id, seq);
  fill(buf, len, id, seq);
  return mpconn_queue_putf(q, LONG_MS, "[i, i, U, y#]", (int)id, (int)seq,
                           checksum(buf, len), buf, len);
}

static int run_producer(void *arg) {
  struct producer *p = arg;
  uint8_t *buf = malloc(BIG);
  if (!buf)
    return 2;
  for (uint32_t seq = 0; seq < p->count; seq++) {
    int rc = put_item(p->q, buf, p->id, seq);
    if (rc < 0) {
      fprintf(stderr, "producer %d (pid %d), item %u: %s\n", (int)p->id,
              (int)getpid(), seq, mpconn_err_name(rc));
      return 1;
    }
    /* Four bytes to a pipe: written whole or not at all. */
    if (p->report_fd >= 0 && write(p->report_fd, &seq, 4) != 4)
      return 3;
  }
  free(buf);
  return 0;
}

struct consumer {
  mpconn_queue *q;
  struct board *b;
};

static int run_consumer(void *arg) {
  struct consumer *c = arg;
  for (;;) {
    mpconn_msg *m;
    int rc = mpconn_queue_get(c->q, &m, LONG_MS);
    if (rc == MPCONN_EOF)
      return 0;
    if (rc < 0) {
      fprintf(stderr, "consumer (pid %d): %s\n", (int)getpid(),
              mpconn_err_name(rc));
      return 1;
    }
    int id, seq;
    uint64_t sum;
    const char *data;
    size_t len;
    rc = mpconn_unpackf(mpconn_msg_value(m), NULL, "[i, i, U, y#]", &id, &seq,
                        &sum, &data, &len);
    if (rc < 0 || id < 0 || id >= MAXP || seq < 0 || seq >= MAXSEQ ||
        len != item_len((uint32_t)id, (uint32_t)seq) ||
        checksum((const uint8_t *)data, len) != sum) {
      __atomic_add_fetch(&c->b->bad, 1, __ATOMIC_SEQ_CST);
    } else {
      __atomic_add_fetch(&c->b->seen[id][seq], 1, __ATOMIC_SEQ_CST);
      __atomic_add_fetch(&c->b->bytes, len, __ATOMIC_SEQ_CST);
    }
    __atomic_add_fetch(&c->b->items, 1, __ATOMIC_SEQ_CST);
    mpconn_msg_free(m);
  }
}

/* A process that dies at @point, holding the lock. */
struct saboteur {
  mpconn_queue *q;
  enum mpconn__queue_point point;
  uint32_t seq; /* of its item, for a putter */
};

static bool is_put_point(enum mpconn__queue_point p) {
  return p == MPCONN__Q_PUT_COPY || p == MPCONN__Q_PUT_COMMIT ||
         p == MPCONN__Q_PUT_UNLOCK;
}

/* Exit statuses when the hook was not reached. */
enum { SAB_PUT_OK = 4, SAB_PUT_FAILED = 5, SAB_GET_MISSED = 6 };

static int run_saboteur(void *arg) {
  struct saboteur *s = arg;
  mpconn__queue_signal_at(s->q, s->point, SIGKILL);
  if (is_put_point(s->point)) {
    uint8_t *buf = malloc(BIG);
    if (!buf)
      return 2;
    return put_item(s->q, buf, SAB_ID, s->seq) == 0 ? SAB_PUT_OK
                                                    : SAB_PUT_FAILED;
  }
  /* A getter reaches its copy only when there is an item; it gives up
   * soon so that it never outlives the producers by much.  Were the hook
   * missed with an item got, that item would be missing at the end. */
  mpconn_msg *m = NULL;
  mpconn_queue_get(s->q, &m, 2000);
  mpconn_msg_free(m);
  return SAB_GET_MISSED;
}

/* ------------------------------------------------------------------------ */
/* Helpers for the parent                                                   */
/* ------------------------------------------------------------------------ */

static unsigned seed_random(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned seed = (unsigned)(ts.tv_nsec ^ getpid());
  print_message("random seed %u\n", seed);
  srand(seed);
  return seed;
}

static bool still_running(pid_t *pids, size_t n) {
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    if (pids[i] <= 0)
      continue;
    int status;
    pid_t r = waitpid(pids[i], &status, WNOHANG);
    assert_true(r >= 0);
    if (r == 0) {
      any = true;
      continue;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("producer %d: status %d", (int)pids[i], status);
    pids[i] = 0;
  }
  return any;
}

static void reap_all(pid_t *pids, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (pids[i] > 0) {
      reap_ok(pids[i]);
      pids[i] = 0;
    }
}

static void summary(const char *what, const struct board *b, mpconn_queue *q) {
  print_message("%s: %llu items, %llu MiB of payload; lock recovered from "
                "a dead owner %u times\n",
                what, (unsigned long long)b->items,
                (unsigned long long)(b->bytes >> 20),
                mpconn__queue_owner_deaths(q));
}

/* ------------------------------------------------------------------------ */
/* 4 producers, 4 consumers, processes killed holding the lock              */
/* ------------------------------------------------------------------------ */

#define NP 4
#define NC 4

static void test_stress(void **state) {
  (void)state;
  seed_random();
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new_ex(&q, 1000, 8 << 20, queue_flags), 0);
  struct board *b = board_new();

  struct consumer c = {q, b};
  pid_t cons[NC], prod[NP];
  for (int i = 0; i < NC; i++)
    cons[i] = spawn(run_consumer, &c);
  struct producer p[NP];
  for (uint32_t i = 0; i < NP; i++) {
    p[i] = (struct producer){q, i, MAXSEQ, -1};
    prod[i] = spawn(run_producer, &p[i]);
  }

  /* Meanwhile, processes die holding the lock at each point where that
   * can happen; the others must neither stall nor lose an item. */
  static const enum mpconn__queue_point points[] = {
      MPCONN__Q_GET_COPY,   MPCONN__Q_PUT_COPY, MPCONN__Q_GET_COMMIT,
      MPCONN__Q_PUT_COMMIT, MPCONN__Q_LOCKED,   MPCONN__Q_PUT_UNLOCK};
  enum { NPOINTS = sizeof(points) / sizeof(points[0]), MAXSAB = 90 };
  int outcome[MAXSAB]; /* SIGKILL, or the exit status */
  unsigned killed = 0, sab = 0;
  while (sab < MAXSAB && still_running(prod, NP)) {
    struct saboteur s = {q, points[sab % NPOINTS], sab};
    int status = reap_within(spawn(run_saboteur, &s), 120000);
    if (WIFSIGNALED(status)) {
      assert_int_equal(WTERMSIG(status), SIGKILL);
      outcome[sab] = 0;
      killed++;
    } else {
      assert_true(WIFEXITED(status));
      outcome[sab] = WEXITSTATUS(status);
      assert_true(outcome[sab] == SAB_PUT_OK || outcome[sab] == SAB_GET_MISSED);
    }
    sab++;
    sleep_ms(rand() % 20);
  }
  reap_all(prod, NP);
  assert_int_equal(mpconn_queue_close(q), 0);
  reap_all(cons, NC);

  assert_int_equal(b->bad, 0);
  for (int i = 0; i < NP; i++)
    for (int s = 0; s < MAXSEQ; s++)
      if (b->seen[i][s] != 1)
        fail_msg("producer %d item %d got %d times", i, s, b->seen[i][s]);
  /* A putter killed before its item was current left nothing; one killed
   * after left exactly its item. */
  for (unsigned i = 0; i < sab; i++) {
    enum mpconn__queue_point pt = points[i % NPOINTS];
    if (!is_put_point(pt))
      continue;
    int want = outcome[i] == SAB_PUT_OK || pt == MPCONN__Q_PUT_UNLOCK;
    if (b->seen[SAB_ID][i] != want)
      fail_msg("saboteur %u (point %d, outcome %d): item got %d times", i,
               (int)pt, outcome[i], b->seen[SAB_ID][i]);
  }
  assert_true(mpconn_queue_empty(q));
  print_message("%u processes killed holding the lock, %u not\n", killed,
                sab - killed);
  summary("stress", b, q);
  board_free(b);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* A producer killed at random instants                                     */
/* ------------------------------------------------------------------------ */

#define STEADY 3        /* producers left alone */
#define STEADY_N 100000 /* items each */
#define KILLS 100       /* incarnations of the victim that are killed */
#define LAST_N 20000    /* items of the last incarnation, left alone */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the seqs reported on @fd until @until_ms (or end of file when
 * @until_ms is negative); they must come in order.  Return: false at end
 * of file. */
static bool read_reports(int fd, uint32_t *next, int64_t until_ms) {
  for (;;) {
    int wait = -1;
    if (until_ms >= 0) {
      int64_t left = until_ms - now_ms();
      if (left <= 0)
        return true;
      wait = (int)left;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, wait);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n >= 0);
    if (n == 0)
      return true;
    uint32_t seqs[1024];
    ssize_t got = read(fd, seqs, sizeof(seqs));
    if (got < 0 && errno == EINTR)
      continue;
    assert_true(got >= 0);
    if (got == 0)
      return false;
    assert_int_equal(got % 4, 0);
    for (ssize_t i = 0; i < got / 4; i++)
      assert_int_equal(seqs[i], (*next)++);
  }
}

static void test_kill_producers(void **state) {
  (void)state;
  seed_random();
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, 8 << 20, queue_flags), 0);
  struct board *b = board_new();
  struct consumer c = {q, b};
  pid_t cons[NC], prod[STEADY];
  for (int i = 0; i < NC; i++)
    cons[i] = spawn(run_consumer, &c);
  struct producer p[STEADY];
  for (uint32_t i = 0; i < STEADY; i++) {
    p[i] = (struct producer){q, i, STEADY_N, -1};
    prod[i] = spawn(run_producer, &p[i]);
  }

  /* Incarnation k of the victim is producer STEADY + k: each has its own
   * seqs, so the parent knows which reports belong to which. */
  uint32_t reported[KILLS + 1];
  for (uint32_t k = 0; k <= KILLS; k++) {
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    struct producer v = {q, STEADY + k, k < KILLS ? MAXSEQ : LAST_N, fds[1]};
    pid_t pid = spawn(run_producer, &v);
    close(fds[1]);
    uint32_t next = 0;
    if (k < KILLS) {
      read_reports(fds[0], &next, now_ms() + 1 + rand() % 30);
      kill(pid, SIGKILL);
    }
    while (read_reports(fds[0], &next, -1))
      ;
    close(fds[0]);
    int status = reap_within(pid, 120000);
    if (k < KILLS)
      assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
      assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    reported[k] = next;
  }
  reap_all(prod, STEADY);
  assert_int_equal(mpconn_queue_close(q), 0);
  reap_all(cons, NC);

  assert_int_equal(b->bad, 0);
  for (int i = 0; i < STEADY; i++)
    for (int s = 0; s < STEADY_N; s++)
      if (b->seen[i][s] != 1)
        fail_msg("producer %d item %d got %d times", i, s, b->seen[i][s]);
  /* Every reported item exactly once; the one after it (put, perhaps, but
   * not reported) at most once; nothing later. */
  unsigned unreported = 0;
  for (uint32_t k = 0; k <= KILLS; k++) {
    const uint8_t *seen = b->seen[STEADY + k];
    for (uint32_t s = 0; s < MAXSEQ; s++) {
      int want = s < reported[k] ? 1 : 0;
      if (s == reported[k] && seen[s] == 1) {
        unreported++;
        continue;
      }
      if (seen[s] != want)
        fail_msg("incarnation %u (%u reported) item %u got %d times", k,
                 reported[k], s, seen[s]);
    }
  }
  assert_int_equal(reported[KILLS], LAST_N);
  assert_true(mpconn_queue_empty(q));
  print_message("%d kills; %u items put by a killed producer without being "
                "reported, delivered once\n",
                KILLS, unreported);
  summary("kill producers", b, q);
  board_free(b);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Consumers killed at random instants                                      */
/* ------------------------------------------------------------------------ */

#define CP 3        /* producers */
#define CP_N 100000 /* items each */
#define CKILLS 100  /* consumers killed */

static void test_kill_consumers(void **state) {
  (void)state;
  seed_random();
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new_ex(&q, 0, 8 << 20, queue_flags), 0);
  struct board *b = board_new();
  struct consumer c = {q, b};
  pid_t cons[NC], prod[CP];
  for (int i = 0; i < NC; i++)
    cons[i] = spawn(run_consumer, &c);
  struct producer p[CP];
  for (uint32_t i = 0; i < CP; i++) {
    p[i] = (struct producer){q, i, CP_N, -1};
    prod[i] = spawn(run_producer, &p[i]);
  }
  int kills = 0;
  while (kills < CKILLS && still_running(prod, CP)) {
    struct timespec pause = {0, (rand() % 5000) * 1000L};
    nanosleep(&pause, NULL);
    int i = rand() % NC;
    kill(cons[i], SIGKILL);
    reap_killed(cons[i]);
    cons[i] = spawn(run_consumer, &c);
    kills++;
  }
  reap_all(prod, CP);
  assert_int_equal(mpconn_queue_close(q), 0);
  reap_all(cons, NC);

  /* A consumer killed after taking an item and before counting it loses
   * that one item; nothing is ever got twice or corrupted. */
  assert_int_equal(b->bad, 0);
  int lost = 0;
  for (int i = 0; i < CP; i++)
    for (int s = 0; s < CP_N; s++) {
      if (b->seen[i][s] > 1)
        fail_msg("producer %d item %d got %d times", i, s, b->seen[i][s]);
      lost += b->seen[i][s] == 0;
    }
  assert_true(lost <= kills);
  assert_true(mpconn_queue_empty(q));
  print_message("%d consumers killed, %d items lost with them\n", kills, lost);
  summary("kill consumers", b, q);
  board_free(b);
  mpconn_queue_free(q);
}

/* ------------------------------------------------------------------------ */
/* Wake-ups: sleepers on both sides, all the time                           */
/* ------------------------------------------------------------------------ */

#define WP 2          /* producers */
#define WC 2          /* consumers */
#define WN 30000      /* items each producer puts */
#define WAKE_MS 10000 /* an item or room must come within this */

/* Small items, with pauses at random, through a queue of one item: every
 * put must wake a sleeping consumer and every get a sleeping producer, so
 * one lost wake-up stops them all (until WAKE_MS, and the test fails). */
static int wake_producer(void *arg) {
  struct producer *p = arg;
  srand((unsigned)getpid());
  for (uint32_t seq = 0; seq < WN; seq++) {
    uint32_t rec[2] = {p->id, seq};
    int rc = mpconn_queue_put_bytes(p->q, rec, sizeof(rec), WAKE_MS);
    if (rc < 0) {
      fprintf(stderr,
              "producer %u (pid %d), item %u: %s: no room for %d ms while "
              "consumers ran (a lost wake-up)\n",
              p->id, (int)getpid(), seq, mpconn_err_name(rc), WAKE_MS);
      return 1;
    }
    if (rand() % 64 == 0) {
      struct timespec pause = {0, (rand() % 50) * 1000L};
      nanosleep(&pause, NULL);
    }
  }
  return 0;
}

static int wake_consumer(void *arg) {
  struct consumer *c = arg;
  srand((unsigned)getpid());
  for (;;) {
    void *data;
    size_t len;
    int rc = mpconn_queue_get_bytes(c->q, &data, &len, WAKE_MS);
    if (rc == MPCONN_EOF)
      return 0;
    if (rc < 0) {
      fprintf(stderr,
              "consumer (pid %d): %s: no item for %d ms while producers "
              "ran (a lost wake-up)\n",
              (int)getpid(), mpconn_err_name(rc), WAKE_MS);
      return 1;
    }
    uint32_t rec[2];
    if (len != sizeof(rec)) {
      __atomic_add_fetch(&c->b->bad, 1, __ATOMIC_SEQ_CST);
    } else {
      memcpy(rec, data, sizeof(rec));
      if (rec[0] >= WP || rec[1] >= WN)
        __atomic_add_fetch(&c->b->bad, 1, __ATOMIC_SEQ_CST);
      else
        __atomic_add_fetch(&c->b->seen[rec[0]][rec[1]], 1, __ATOMIC_SEQ_CST);
    }
    free(data);
    if (rand() % 64 == 0) {
      struct timespec pause = {0, (rand() % 50) * 1000L};
      nanosleep(&pause, NULL);
    }
  }
}

static void test_wakeups(void **state) {
  (void)state;
  mpconn_queue *q;
  assert_int_equal(mpconn_queue_new_ex(&q, 1, 1 << 20, queue_flags), 0);
  struct board *b = board_new();
  struct consumer c = {q, b};
  pid_t cons[WC], prod[WP];
  for (int i = 0; i < WC; i++)
    cons[i] = spawn(wake_consumer, &c);
  struct producer p[WP];
  for (uint32_t i = 0; i < WP; i++) {
    p[i] = (struct producer){q, i, WN, -1};
    prod[i] = spawn(wake_producer, &p[i]);
  }
  reap_all(prod, WP);
  assert_int_equal(mpconn_queue_close(q), 0);
  reap_all(cons, WC);
  assert_int_equal(b->bad, 0);
  for (int i = 0; i < WP; i++)
    for (int s = 0; s < WN; s++)
      if (b->seen[i][s] != 1)
        fail_msg("producer %d item %d got %d times", i, s, b->seen[i][s]);
  assert_true(mpconn_queue_empty(q));
  board_free(b);
  mpconn_queue_free(q);
}

int main(int argc, char **argv) {
  const char *r = getenv("MPCONN_TEST_QUEUE_RINGS");
  if (r && strcmp(r, "1") == 0)
    queue_flags = MPCONN_QUEUE_RINGS;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stress),
      cmocka_unit_test(test_kill_producers),
      cmocka_unit_test(test_kill_consumers),
      cmocka_unit_test(test_wakeups),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
