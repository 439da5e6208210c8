/* SPDX-License-Identifier: MIT */
/*
 * mpconn-bench: mpconn side by side with hand-written code, ZeroMQ and
 * Python's multiprocessing, each row a sender and a receiver in their own
 * processes.  docs/performance.md explains the rows and the targets.
 *
 *   mpconn-bench [--quick] [--json] [--only WORKLOAD[,...]] [--row ROW]
 *                [--rounds N]
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Messages per C row, full and --quick; the Python rows take fewer and
 * are reported per second like the others. */
static const uint64_t counts[BENCH_NKINDS][2] = {
    [BENCH_SMALL] = {1000000, 50000},   [BENCH_ROUNDTRIP] = {100000, 5000},
    [BENCH_1MIB] = {2000, 200},         [BENCH_64MIB] = {32, 4},
    [BENCH_MIXED] = {100000, 5000},     [BENCH_QUEUE] = {2000000, 20000},
    [BENCH_SHARED] = {4000000, 200000}, [BENCH_SERVER] = {200000, 6400},
    [BENCH_FDPASS] = {200000, 5000},
};
static const uint64_t python_counts[BENCH_NKINDS][2] = {
    [BENCH_SMALL] = {200000, 10000},  [BENCH_ROUNDTRIP] = {50000, 2500},
    [BENCH_1MIB] = {1000, 100},       [BENCH_64MIB] = {16, 2},
    [BENCH_MIXED] = {20000, 1000},    [BENCH_QUEUE] = {200000, 20000},
    [BENCH_SHARED] = {200000, 20000}, [BENCH_FDPASS] = {50000, 2000},
};

static bool progress;
static const char *only_row; /* --row: run just this row */
/* Rounds of every workload's rows, full and --quick. */
static const int default_rounds[2] = {3, 1};

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpconn-bench [--quick] [--json] [--only WORKLOAD[,...]]\n"
          "                    [--row ROW] [--rounds N]\n"
          "  --quick   fewer messages (a smoke test; ratios are noisier)\n"
          "  --json    print the results as one JSON document\n"
          "  --only    run only these workloads: small, roundtrip, 1mib,\n"
          "            64mib, mixed, queue, shared, server, fdpass\n"
          "            (default: all)\n"
          "  --row     run only the row of that name, e.g. 'mpconn batched'\n"
          "            (for profiling one row)\n"
          "  --rounds  run every row N times, one after the other, and keep\n"
          "            each row's fastest run (default 3; 1 with --quick)\n");
}

/* The row being run, or NULL when --row leaves it out. */
static struct bench_result *add(struct bench_table *t, const char *row) {
  static struct bench_result scratch;
  if (only_row && strcmp(only_row, row) != 0)
    return NULL;
  memset(&scratch, 0, sizeof(scratch));
  snprintf(scratch.row, sizeof(scratch.row), "%s", row);
  if (progress)
    fprintf(stderr, "mpconn-bench: %s: %s\n", bench_kind_name(t->kind), row);
  return &scratch;
}

/*
 * Keep one run of a row in @t.  Of several rounds, the fastest run is
 * kept: other processes on the machine only ever slow a run down.  Peak
 * RSS is the largest of any round, and an error in any round stays.
 */
static void keep(struct bench_table *t, const struct bench_result *r) {
  struct bench_result *old = NULL;
  for (size_t i = 0; i < t->nrows; i++)
    if (strcmp(t->rows[i].row, r->row) == 0)
      old = &t->rows[i];
  if (!old) {
    if (t->nrows == BENCH_MAX_ROWS) {
      fprintf(stderr, "mpconn-bench: too many rows\n");
      exit(1);
    }
    t->rows[t->nrows++] = *r;
    return;
  }
  if (!bench_measured(old))
    return;
  if (!bench_measured(r)) {
    double send = old->rss_send_mib, recv = old->rss_recv_mib;
    *old = *r;
    old->rss_send_mib = send;
    old->rss_recv_mib = recv;
    return;
  }
  double send =
      old->rss_send_mib > r->rss_send_mib ? old->rss_send_mib : r->rss_send_mib;
  double recv =
      old->rss_recv_mib > r->rss_recv_mib ? old->rss_recv_mib : r->rss_recv_mib;
  if (r->seconds / (double)r->messages < old->seconds / (double)old->messages)
    *old = *r;
  old->rss_send_mib = send;
  old->rss_recv_mib = recv;
}

/* Run one row: @call, with r the row's result, unless --row skips it.
 * The payload is counted afterwards, in this process, so that a profile
 * of a row's children does not include it. */
#define ROW(t, name, call)                                                     \
  do {                                                                         \
    struct bench_result *r = add(t, name);                                     \
    if (r) {                                                                   \
      call;                                                                    \
      r->bytes = bench_payload_bytes(t->kind, r->messages);                    \
      keep(t, r);                                                              \
    }                                                                          \
  } while (0)

static void zmq_row(struct bench_result *r, enum bench_kind k, uint64_t n) {
#ifdef BENCH_HAVE_ZMQ
  bench_row_zmq(r, k, n);
#else
  (void)k;
  (void)n;
  bench_skip(r, "libzmq not found at build time");
#endif
}

static void run_table(struct bench_table *t, bool quick) {
  enum bench_kind k = t->kind;
  uint64_t n = counts[k][quick], npy = python_counts[k][quick];
  t->n = n;
  switch (k) {
  case BENCH_SMALL:
    ROW(t, "mpconn", bench_row_mpconn(r, k, BENCH_MPCONN, n));
    ROW(t, "mpconn sendf", bench_row_mpconn(r, k, BENCH_MPCONN_SENDF, n));
    ROW(t, "mpconn over a pipe", bench_row_mpconn(r, k, BENCH_MPCONN_PIPE, n));
    ROW(t, "mpconn batched", bench_row_mpconn(r, k, BENCH_MPCONN_BATCHED, n));
    ROW(t, "mpconn batched, 60 s timeout",
        bench_row_mpconn(r, k, BENCH_MPCONN_TIMED, n));
    ROW(t, "mpconn ring", bench_row_mpconn(r, k, BENCH_MPCONN_RING, n));
    break;
  case BENCH_ROUNDTRIP:
    ROW(t, "mpconn", bench_row_mpconn(r, k, BENCH_MPCONN, n));
    ROW(t, "mpconn ring", bench_row_mpconn(r, k, BENCH_MPCONN_RING, n));
    break;
  case BENCH_1MIB:
    ROW(t, "mpconn", bench_row_mpconn(r, k, BENCH_MPCONN, n));
    ROW(t, "mpconn batched", bench_row_mpconn(r, k, BENCH_MPCONN_BATCHED, n));
    ROW(t, "mpconn recv_bytes_into",
        bench_row_mpconn(r, k, BENCH_MPCONN_INTO, n));
    ROW(t, "mpconn values", bench_row_mpconn(r, k, BENCH_MPCONN_VALUES, n));
    ROW(t, "mpconn shm", bench_row_shm(r, k, BENCH_SHM, n));
    ROW(t, "mpconn shm, every page read",
        bench_row_shm(r, k, BENCH_SHM_PAGES, n));
    break;
  case BENCH_64MIB:
    ROW(t, "mpconn", bench_row_mpconn(r, k, BENCH_MPCONN, n));
    ROW(t, "mpconn recv_bytes_into",
        bench_row_mpconn(r, k, BENCH_MPCONN_INTO, n));
    ROW(t, "mpconn shm", bench_row_shm(r, k, BENCH_SHM, n));
    ROW(t, "mpconn shm, every page read",
        bench_row_shm(r, k, BENCH_SHM_PAGES, n));
    ROW(t, "raw", bench_row_raw(r, k, false, n));
    ROW(t, "python pipe send_bytes", bench_row_python(r, k, "bytes", npy));
    ROW(t, "python shared_memory", bench_row_python(r, k, "shm", npy));
    return;
  case BENCH_MIXED:
    ROW(t, "mpconn", bench_row_mpconn(r, k, BENCH_MPCONN, n));
    ROW(t, "mpconn batched", bench_row_mpconn(r, k, BENCH_MPCONN_BATCHED, n));
    ROW(t, "mpconn ring", bench_row_mpconn(r, k, BENCH_MPCONN_RING, n));
    break;
  case BENCH_QUEUE:
    ROW(t, "mpconn queue", bench_row_mpconn(r, k, BENCH_MPCONN_QUEUE, n));
    ROW(t, "mpconn queue, 8 → 4",
        bench_row_mpconn(r, k, BENCH_MPCONN_QUEUE_WIDE, n));
    ROW(t, "mpconn ring", bench_row_mpconn(r, k, BENCH_MPCONN_QUEUE_RING, n));
    ROW(t, "mpconn ring, 8 → 4",
        bench_row_mpconn(r, k, BENCH_MPCONN_QUEUE_RING_WIDE, n));
    ROW(t, "python queue", bench_row_python(r, k, "queue", npy));
    return;
  case BENCH_SERVER:
    ROW(t, "mpconn", bench_row_server(r, BENCH_SERVER_MPCONN, n));
    ROW(t, "hand-written epoll", bench_row_server(r, BENCH_SERVER_EPOLL, n));
    return;
  case BENCH_SHARED:
    ROW(t, "mpconn value lock", bench_row_shared(r, BENCH_SHARED_MPCONN, n));
    ROW(t, "pthread robust mutex", bench_row_shared(r, BENCH_SHARED_MUTEX, n));
    ROW(t, "python Value get_lock", bench_row_python(r, k, "value", npy));
    return;
  case BENCH_FDPASS:
    ROW(t, "mpconn", bench_row_fd(r, BENCH_FD_MPCONN, n));
    ROW(t, "hand-written", bench_row_fd(r, BENCH_FD_HAND, n));
    ROW(t, "python send_handle", bench_row_python(r, k, "handle", npy));
    return;
  case BENCH_NKINDS:
    return;
  }
  ROW(t, "raw", bench_row_raw(r, k, false, n));
  if (k != BENCH_ROUNDTRIP)
    ROW(t, "raw batched", bench_row_raw(r, k, true, n));
  ROW(t, "zeromq", zmq_row(r, k, n));
  ROW(t, "python pipe pickle", bench_row_python(r, k, "pickle", npy));
  ROW(t, "python pipe msgpack", bench_row_python(r, k, "msgpack", npy));
  if (k == BENCH_1MIB) {
    ROW(t, "python pipe send_bytes", bench_row_python(r, k, "bytes", npy));
    ROW(t, "python shared_memory", bench_row_python(r, k, "shm", npy));
  }
}

/* "Linux 6.1.0-28-amd64 x86_64, 2 CPUs, AMD EPYC 7B13" */
static void describe_machine(char *buf, size_t size) {
  struct utsname u;
  if (uname(&u) < 0)
    memset(&u, 0, sizeof(u));
  char model[128] = "unknown CPU";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof(line), f)) {
      char *colon = strchr(line, ':');
      if (strncmp(line, "model name", 10) == 0 && colon) {
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(model, sizeof(model), "%s", colon);
        break;
      }
    }
    fclose(f);
  }
  snprintf(buf, size, "%s %s %s, %ld CPUs, %s", u.sysname, u.release, u.machine,
           sysconf(_SC_NPROCESSORS_ONLN), model);
}

static bool select_workloads(const char *list, bool chosen[BENCH_NKINDS]) {
  char copy[256];
  snprintf(copy, sizeof(copy), "%s", list);
  char *save = NULL;
  for (char *w = strtok_r(copy, ",", &save); w;
       w = strtok_r(NULL, ",", &save)) {
    enum bench_kind k = bench_kind_from_name(w);
    if (k == BENCH_NKINDS) {
      fprintf(stderr, "mpconn-bench: unknown workload '%s'\n", w);
      return false;
    }
    chosen[k] = true;
  }
  return true;
}

int main(int argc, char **argv) {
  static struct bench_report rep;
  bool quick = false, json = false, chosen[BENCH_NKINDS] = {false};
  bool any = false;
  int rounds = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      if (!select_workloads(argv[++i], chosen))
        return 2;
      any = true;
    } else if (strcmp(argv[i], "--row") == 0 && i + 1 < argc) {
      only_row = argv[++i];
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
      if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "mpconn-bench: --rounds takes 1 to 100\n");
        return 2;
      }
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  progress = isatty(STDERR_FILENO);
  if (rounds == 0)
    rounds = default_rounds[quick];
  rep.rounds = rounds;

  time_t now = time(NULL);
  strftime(rep.date, sizeof(rep.date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
  describe_machine(rep.machine, sizeof(rep.machine));
  size_t o = 0;
  for (int i = 0; i < argc && o < sizeof(rep.command); i++)
    o += (size_t)snprintf(rep.command + o, sizeof(rep.command) - o, "%s%s",
                          i ? " " : "", argv[i]);
  if (!json)
    bench_report_markdown_header(&rep);

  int status = 0;
  for (int k = 0; k < BENCH_NKINDS; k++) {
    if (any && !chosen[k])
      continue;
    struct bench_table *t = &rep.tables[rep.ntables++];
    t->kind = (enum bench_kind)k;
    for (int round = 0; round < rounds; round++)
      run_table(t, quick);
    for (size_t i = 0; i < t->nrows; i++)
      if (strncmp(t->rows[i].status, "error", 5) == 0)
        status = 1;
    if (!json)
      bench_report_markdown_table(t);
  }
  if (json)
    bench_report_json(&rep);
  else
    bench_report_markdown_targets(&rep);
  return status;
}
