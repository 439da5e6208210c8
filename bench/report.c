/* SPDX-License-Identifier: MIT */
/*
 * Printing a run: a Markdown table per workload, the targets the library
 * is judged by, or the same data as one JSON document.  Every ratio is
 * between rows of the same run.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Rates and ratios                                                         */
/* ------------------------------------------------------------------------ */

static double rate(const struct bench_result *r) {
  return (double)r->messages / r->seconds;
}

static double us_per(const struct bench_result *r) {
  return r->seconds * 1e6 / (double)r->messages;
}

static double gb_per_s(const struct bench_result *r) {
  return (double)r->bytes / r->seconds / 1e9;
}

static const struct bench_result *find(const struct bench_table *t,
                                       const char *row) {
  for (size_t i = 0; i < t->nrows; i++)
    if (strcmp(t->rows[i].row, row) == 0 && bench_measured(&t->rows[i]))
      return &t->rows[i];
  return NULL;
}

/* The fastest measured Python row. */
static const struct bench_result *best_python(const struct bench_table *t) {
  const struct bench_result *best = NULL;
  for (size_t i = 0; i < t->nrows; i++) {
    const struct bench_result *r = &t->rows[i];
    if (strncmp(r->row, "python", 6) == 0 && bench_measured(r) &&
        (!best || rate(r) > rate(best)))
      best = r;
  }
  return best;
}

/* Throughput of @r over @base; for one round trip at a time, latency of
 * @r over @base.  NAN when either is missing. */
static double ratio(const struct bench_table *t, const struct bench_result *r,
                    const struct bench_result *base) {
  if (!base || !bench_measured(r))
    return NAN;
  return t->kind == BENCH_ROUNDTRIP ? us_per(r) / us_per(base)
                                    : rate(r) / rate(base);
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                  */
/* ------------------------------------------------------------------------ */

/* RSS_WITHIN: each process's peak RSS at most bound MiB over the base
 * row's; RECV_RSS_WITHIN: the receiver's only. */
enum op { AT_LEAST, AT_MOST, RSS_WITHIN, RECV_RSS_WITHIN };

struct target {
  const char *text;
  enum bench_kind kind;
  const char *row;
  const char *base; /* a row, or "python" for the fastest Python row */
  enum op op;
  double bound;
};

static const struct target targets[] = {
    {"small: mpconn batched ≥ 1.0× raw batched", BENCH_SMALL, "mpconn batched",
     "raw batched", AT_LEAST, 1.0},
    {"small: mpconn batched ≥ 2× zeromq", BENCH_SMALL, "mpconn batched",
     "zeromq", AT_LEAST, 2.0},
    {"small: mpconn batched ≥ 50× Python (fastest Python row)", BENCH_SMALL,
     "mpconn batched", "python", AT_LEAST, 50.0},
    {"small: mpconn (default) ≥ 2× raw", BENCH_SMALL, "mpconn", "raw", AT_LEAST,
     2.0},
    {"small: a 60 s receive timeout ≥ 0.9× none (batched)", BENCH_SMALL,
     "mpconn batched, 60 s timeout", "mpconn batched", AT_LEAST, 0.9},
    {"small: mpconn ring ≥ 10× raw (each message sent uncorked)", BENCH_SMALL,
     "mpconn ring", "raw", AT_LEAST, 10.0},
    {"small: mpconn ring ≥ 0.5× mpconn batched", BENCH_SMALL, "mpconn ring",
     "mpconn batched", AT_LEAST, 0.5},
    {"roundtrip: mpconn latency ≤ 1.1× raw", BENCH_ROUNDTRIP, "mpconn", "raw",
     AT_MOST, 1.1},
    {"roundtrip: mpconn ring latency ≤ 1.0× raw (no spinning)", BENCH_ROUNDTRIP,
     "mpconn ring", "raw", AT_MOST, 1.0},
    {"1mib: mpconn ≥ 0.9× raw throughput", BENCH_1MIB, "mpconn", "raw",
     AT_LEAST, 0.9},
    {"mixed: mpconn ring ≥ 1.5× raw", BENCH_MIXED, "mpconn ring", "raw",
     AT_LEAST, 1.5},
    {"1mib: mpconn peak RSS within 4 MiB of raw (each process)", BENCH_1MIB,
     "mpconn", "raw", RSS_WITHIN, 4.0},
    {"queue: mpconn queue ≥ 20× Python multiprocessing.Queue", BENCH_QUEUE,
     "mpconn queue", "python queue", AT_LEAST, 20.0},
    {"queue: mpconn ring ≥ 50× Python multiprocessing.Queue", BENCH_QUEUE,
     "mpconn ring", "python queue", AT_LEAST, 50.0},
    {"queue: mpconn ring, 8 producers → 4 consumers ≥ 1.0× 4 → 1", BENCH_QUEUE,
     "mpconn ring, 8 → 4", "mpconn ring", AT_LEAST, 1.0},
    {"queue: mpconn queue, 8 producers → 4 consumers ≥ 1.0× 4 → 1", BENCH_QUEUE,
     "mpconn queue, 8 → 4", "mpconn queue", AT_LEAST, 1.0},
    {"shared: mpconn value lock ≥ 0.9× hand-written robust mutex", BENCH_SHARED,
     "mpconn value lock", "pthread robust mutex", AT_LEAST, 0.9},
    {"shared: mpconn value lock ≥ 50× Python Value('i').get_lock()",
     BENCH_SHARED, "mpconn value lock", "python Value get_lock", AT_LEAST,
     50.0},
    {"server: mpconn ≥ 0.9× hand-written epoll (round trips/s)", BENCH_SERVER,
     "mpconn", "hand-written epoll", AT_LEAST, 0.9},
    {"1mib: mpconn shm ≥ 2× raw throughput", BENCH_1MIB, "mpconn shm", "raw",
     AT_LEAST, 2.0},
    {"64mib: mpconn shm ≥ 4× raw throughput", BENCH_64MIB, "mpconn shm", "raw",
     AT_LEAST, 4.0},
    {"64mib: mpconn shm receiver's peak RSS within 64 MiB of raw's",
     BENCH_64MIB, "mpconn shm", "raw", RECV_RSS_WITHIN, 64.0},
    {"fdpass: mpconn ≥ 0.9× hand-written (descriptors/s)", BENCH_FDPASS,
     "mpconn", "hand-written", AT_LEAST, 0.9},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* The measured value of target @g, or NAN when its rows did not run. */
static double evaluate(const struct bench_report *rep, const struct target *g) {
  const struct bench_table *t = NULL;
  for (size_t i = 0; i < rep->ntables; i++)
    if (rep->tables[i].kind == g->kind)
      t = &rep->tables[i];
  if (!t)
    return NAN;
  const struct bench_result *r = find(t, g->row);
  const struct bench_result *base =
      strcmp(g->base, "python") == 0 ? best_python(t) : find(t, g->base);
  if (!r || !base)
    return NAN;
  if (g->op == RSS_WITHIN)
    return fmax(r->rss_send_mib - base->rss_send_mib,
                r->rss_recv_mib - base->rss_recv_mib);
  if (g->op == RECV_RSS_WITHIN)
    return r->rss_recv_mib - base->rss_recv_mib;
  return ratio(t, r, base);
}

static bool met(const struct target *g, double v) {
  return g->op == AT_LEAST ? v >= g->bound : v <= g->bound;
}

/* ------------------------------------------------------------------------ */
/* Markdown                                                                 */
/* ------------------------------------------------------------------------ */

static const char *describe(enum bench_kind k) {
  switch (k) {
  case BENCH_SMALL:
    return "`[\"spam\", i, \"eggs\"]` one way";
  case BENCH_ROUNDTRIP:
    return "`[\"spam\", i, \"eggs\"]` sent and echoed back, one request in "
           "flight; batching does not apply, and \"× raw\" is the ratio of "
           "latencies (lower is better)";
  case BENCH_1MIB:
    return "1 MiB of bytes one way (mpconn rows: mpconn_send_bytes and "
           "mpconn_recv_bytes, or as named; shm rows: a new buffer per "
           "message from mpconn_shm_new, filled, sent with mpconn_shm_send "
           "and received in place with mpconn_recv_raw)";
  case BENCH_64MIB:
    return "64 MiB of bytes one way, rows as in 1mib; the receiver checks "
           "each message's length, first and last byte (the shm rows map "
           "the message and so read only those pages, unless named)";
  case BENCH_MIXED:
    return "`[i, bin]` one way, bin sizes from 10 B to 100 KiB (a fixed "
           "stream, as many in each octave)";
  case BENCH_QUEUE:
    return "`[\"spam\", i, \"eggs\"]` through a queue, 4 producer processes "
           "and 1 consumer (the 8 → 4 rows: 8 producers, 4 consumers; the "
           "ring rows: a queue made with MPCONN_QUEUE_RINGS, one ring per "
           "producer)";
  case BENCH_SHARED:
    return "one shared counter, 4 processes each adding 1 while holding its "
           "lock; a message is one addition";
  case BENCH_FDPASS:
    return "one open descriptor per message, one way; the receiver closes "
           "each one it gets; msg/s is descriptors per second, and "
           "\"× hand-written\" the ratio to a hand-written sendmsg/recvmsg "
           "SCM_RIGHTS loop (one byte and one descriptor per message)";
  case BENCH_SERVER:
    return "one server process, 64 client processes each sending "
           "`[\"spam\", i, \"eggs\"]` and waiting for it to come back; "
           "round trips/s over all clients, µs is wall time per round trip "
           "(not one client's latency), and \"× hand-written\" is the ratio "
           "of round trips/s to the hand-written epoll server's";
  case BENCH_NKINDS:
    break;
  }
  return "";
}

/* 1234567 as "1 234 567". */
static const char *group(uint64_t v, char *buf, size_t size) {
  char digits[32];
  int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
  size_t o = 0;
  for (int i = 0; i < n && o + 2 < size; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      buf[o++] = ' ';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
  return buf;
}

static void print_ratio(double v) {
  if (isnan(v))
    printf(" — |");
  else
    printf(" %.2f |", v);
}

void bench_report_markdown_header(const struct bench_report *rep) {
  printf("# mpconn-bench\n\n");
  printf("- date: %s\n", rep->date);
  printf("- machine: %s\n", rep->machine);
  printf("- command: `%s`\n", rep->command);
  printf("- each row: the fastest of %d run%s\n\n", rep->rounds,
         rep->rounds == 1 ? "" : "s, rows taking turns");
  fflush(stdout);
}

/* The row a workload's ratios are taken to: "raw", except where no raw
 * row exists. */
static const char *base_row(enum bench_kind k) {
  return k == BENCH_SERVER   ? "hand-written epoll"
         : k == BENCH_FDPASS ? "hand-written"
                             : "raw";
}

/* Whether a workload has a raw batched row to compare with too. */
static bool has_batched(enum bench_kind k) {
  return k != BENCH_SERVER && k != BENCH_FDPASS;
}

void bench_report_markdown_table(const struct bench_table *t) {
  bool server = t->kind == BENCH_SERVER;
  bool rt = t->kind == BENCH_ROUNDTRIP || server;
  bool two = has_batched(t->kind);
  const char *base = base_row(t->kind);
  printf("## %s\n\n%s.\n\n", bench_kind_name(t->kind), describe(t->kind));
  printf("| row | %s | %s | %s | GB/s | peak RSS (MiB) %s | × %s |%s\n",
         rt ? "round trips" : "messages", rt ? "round trips/s" : "msg/s",
         rt ? "µs/round trip" : "µs/msg",
         server ? "clients / server" : "send / recv", base,
         two ? " × raw batched |" : "");
  printf("|---|---:|---:|---:|---:|---:|---:|%s\n", two ? "---:|" : "");
  const struct bench_result *raw = find(t, base);
  const struct bench_result *batched = find(t, "raw batched");
  for (size_t i = 0; i < t->nrows; i++) {
    const struct bench_result *r = &t->rows[i];
    if (!bench_measured(r)) {
      printf("| %s | %s | | | | |%s\n", r->row, r->status, two ? " | |" : " |");
      continue;
    }
    char a[32], b[32];
    double us = us_per(r);
    printf("| %s | %s | %s | %.*f |", r->row, group(r->messages, a, sizeof(a)),
           group((uint64_t)llround(rate(r)), b, sizeof(b)),
           us < 1     ? 3
           : us < 100 ? 2
                      : 0,
           us);
    if (rt || r->bytes == 0)
      printf(" — |");
    else
      printf(" %.3f |", gb_per_s(r));
    printf(" %.1f / %.1f |", r->rss_send_mib, r->rss_recv_mib);
    print_ratio(ratio(t, r, raw));
    if (two)
      print_ratio(ratio(t, r, batched));
    printf("\n");
  }
  printf("\n");
  fflush(stdout);
}

void bench_report_markdown_targets(const struct bench_report *rep) {
  printf("## Targets\n\n| target | measured | met |\n|---|---:|---|\n");
  for (size_t i = 0; i < NTARGETS; i++) {
    const struct target *g = &targets[i];
    double v = evaluate(rep, g);
    if (isnan(v))
      printf("| %s | — | not measured |\n", g->text);
    else if (g->op == RSS_WITHIN || g->op == RECV_RSS_WITHIN)
      printf("| %s | %+.1f MiB | %s |\n", g->text, v, met(g, v) ? "yes" : "no");
    else
      printf("| %s | %.2f× | %s |\n", g->text, v, met(g, v) ? "yes" : "no");
  }
  printf("\n");
  fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void json_number(double v) {
  if (isnan(v) || isinf(v))
    printf("null");
  else
    printf("%.6g", v);
}

static void json_row(const struct bench_table *t, const struct bench_result *r,
                     const struct bench_result *raw,
                     const struct bench_result *batched) {
  printf("{\"row\": ");
  json_string(r->row);
  printf(", \"status\": ");
  json_string(bench_measured(r) ? "measured" : r->status);
  if (bench_measured(r)) {
    bool rt = t->kind == BENCH_ROUNDTRIP || t->kind == BENCH_SERVER;
    printf(", \"messages\": %llu, \"seconds\": ",
           (unsigned long long)r->messages);
    json_number(r->seconds);
    printf(", \"msg_per_s\": ");
    json_number(rate(r));
    printf(", \"us_per_msg\": ");
    json_number(us_per(r));
    printf(", \"gb_per_s\": ");
    json_number(rt ? NAN : gb_per_s(r));
    printf(", \"rss_send_mib\": ");
    json_number(r->rss_send_mib);
    printf(", \"rss_recv_mib\": ");
    json_number(r->rss_recv_mib);
    if (t->kind == BENCH_SERVER) {
      printf(", \"x_hand_written_epoll\": ");
      json_number(ratio(t, r, find(t, "hand-written epoll")));
    } else if (t->kind == BENCH_FDPASS) {
      printf(", \"x_hand_written\": ");
      json_number(ratio(t, r, find(t, "hand-written")));
    } else {
      printf(", \"x_raw\": ");
      json_number(ratio(t, r, raw));
      printf(", \"x_raw_batched\": ");
      json_number(ratio(t, r, batched));
    }
  }
  printf("}");
}

void bench_report_json(const struct bench_report *rep) {
  printf("{\"date\": ");
  json_string(rep->date);
  printf(",\n \"machine\": ");
  json_string(rep->machine);
  printf(",\n \"command\": ");
  json_string(rep->command);
  printf(",\n \"rounds\": %d", rep->rounds);
  printf(",\n \"workloads\": [");
  for (size_t i = 0; i < rep->ntables; i++) {
    const struct bench_table *t = &rep->tables[i];
    const struct bench_result *raw = find(t, "raw");
    const struct bench_result *batched = find(t, "raw batched");
    printf("%s\n  {\"workload\": \"%s\", \"description\": ", i ? "," : "",
           bench_kind_name(t->kind));
    json_string(describe(t->kind));
    printf(", \"latency_ratios\": %s, \"rows\": [",
           t->kind == BENCH_ROUNDTRIP ? "true" : "false");
    for (size_t j = 0; j < t->nrows; j++) {
      printf("%s\n   ", j ? "," : "");
      json_row(t, &t->rows[j], raw, batched);
    }
    printf("]}");
  }
  printf("],\n \"targets\": [");
  for (size_t i = 0; i < NTARGETS; i++) {
    const struct target *g = &targets[i];
    double v = evaluate(rep, g);
    printf("%s\n  {\"target\": ", i ? "," : "");
    json_string(g->text);
    printf(", \"measured\": ");
    json_number(v);
    printf(", \"met\": %s}", isnan(v) ? "null" : met(g, v) ? "true" : "false");
  }
  printf("]}\n");
  fflush(stdout);
}
