/* SPDX-License-Identifier: MIT */
/*
 * mpconn-bench: what the workloads send, how each row is run in its own
 * processes, and what a row reports.  Not installed.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* ------------------------------------------------------------------------ */
/* Workloads (workload.c)                                                   */
/* ------------------------------------------------------------------------ */

enum bench_kind {
  BENCH_SMALL,     /* ["spam", i, "eggs"], one way */
  BENCH_ROUNDTRIP, /* the same value, sent back by the peer */
  BENCH_1MIB,      /* 1 MiB of bytes, one way */
  BENCH_64MIB,     /* 64 MiB of bytes, one way */
  BENCH_MIXED,     /* [i, bin] with bin sizes from 10 B to 100 KiB */
  BENCH_QUEUE,     /* ["spam", i, "eggs"], four producers, one consumer */
  BENCH_SHARED,    /* one shared counter, four processes adding under a lock */
  BENCH_SERVER,    /* one server, BENCH_CLIENTS clients making round trips */
  BENCH_FDPASS,    /* one open descriptor per message, one way */
  BENCH_NKINDS,
};

/* Payload of every message of the 1 MiB workload. */
#define BENCH_BIG_SIZE ((size_t)1024 * 1024)
/* Payload of every message of the 64 MiB workload. */
#define BENCH_HUGE_SIZE ((size_t)64 * 1024 * 1024)
/* Bounds of the mixed workload's bin sizes. */
#define BENCH_MIXED_MIN ((size_t)10)
#define BENCH_MIXED_MAX ((size_t)100 * 1024)
/* Producers of the queue workload. */
#define BENCH_PRODUCERS 4
/* The queue's wide row: 8 producers, 4 consumers. */
#define BENCH_WIDE_PRODUCERS 8
#define BENCH_WIDE_CONSUMERS 4
/* Processes of the shared workload. */
#define BENCH_COUNTERS 4
/* Client processes of the server workload. */
#define BENCH_CLIENTS 64
/* The batched hand-written rows write and read this much at a time. */
#define BENCH_CHUNK ((size_t)64 * 1024)

const char *bench_kind_name(enum bench_kind k);
/* BENCH_NKINDS for an unknown name. */
enum bench_kind bench_kind_from_name(const char *name);

/* The pattern every bin and bytes payload is cut from: BENCH_BIG_SIZE
 * bytes, filled on first use in the process that uses it. */
const uint8_t *bench_pattern(void);

/* The mixed workload's size stream: *state starts at BENCH_MIXED_SEED and
 * each call returns the next size.  python_bench.py computes the same. */
#define BENCH_MIXED_SEED UINT64_C(0x9e3779b97f4a7c15)
size_t bench_mixed_next(uint64_t *state);

void bench_pack_small(msgpack_packer *pk, uint64_t i);
/* Whether @v is ["spam", i, "eggs"]; @i receives its number. */
bool bench_small_number(const msgpack_object *v, uint64_t *i);
bool bench_check_small(const msgpack_object *v, uint64_t i);
/* @body: BENCH_MIXED_MAX bytes or more; only @size are packed. */
void bench_pack_mixed(msgpack_packer *pk, uint64_t i, const uint8_t *body,
                      size_t size);
bool bench_check_mixed(const msgpack_object *v, uint64_t i, size_t size);

/* The payload size of the bytes workloads (1mib, 64mib); 0 for others. */
size_t bench_bytes_size(enum bench_kind k);
/* A payload of workload @k (1mib or 64mib): the pattern repeated, made
 * once in the process that asks; bench_fail() when out of memory. */
const uint8_t *bench_bytes_payload(enum bench_kind k);
/* Fill @p with the first @len bytes of the repeated pattern. */
void bench_fill_bytes(uint8_t *p, size_t len);
/* Check a 1 MiB payload's length and two of its bytes; bench_fail() when
 * they are wrong. */
void bench_check_bytes(const uint8_t *p, size_t len);
/* The same for a payload of workload @k: its length, first and last byte. */
void bench_check_sized(enum bench_kind k, const uint8_t *p, size_t len);
/*
 * Check message @i of workload @k received as @len bytes at @p, decoding
 * it with msgpack-c into @up (1 MiB payloads are bytes, the others values;
 * @state is the mixed workload's size stream); bench_fail() when wrong.
 */
void bench_check_payload(enum bench_kind k, msgpack_unpacked *up,
                         const uint8_t *p, size_t len, uint64_t i,
                         uint64_t *state);

/* The payload bytes (msgpack value or raw bytes, without the length
 * headers) that @n messages of workload @k carry one way. */
uint64_t bench_payload_bytes(enum bench_kind k, uint64_t n);

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

struct bench_result {
  char row[48];
  char status[160];    /* "" when measured; "skipped: ..." or "error: ..." */
  uint64_t messages;   /* messages, round trips or items */
  double seconds;      /* first send to last receive */
  uint64_t bytes;      /* payload bytes carried one way */
  double rss_send_mib; /* peak RSS of the sender (largest of several) */
  double rss_recv_mib; /* of the receiver */
};

bool bench_measured(const struct bench_result *r);
void bench_skip(struct bench_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bench_error(struct bench_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Running a row in its own processes (harness.c)                           */
/* ------------------------------------------------------------------------ */

/*
 * A role runs in a forked child.  It sets up what it needs (wrapping its
 * descriptor, binding a socket), calls bench_go() once, does its part,
 * and returns; the harness then _exit()s.  The clock starts when the
 * earliest sender returns from bench_go() and stops at bench_mark_end(),
 * which the side that takes the last message calls.
 */
typedef void (*bench_role)(void *arg, int index);

struct bench_roles {
  int senders; /* sender processes, with index 0 .. senders-1 */
  bench_role sender;
  bench_role receiver; /* one process, index 0 */
};

/* Fork the roles, wait for them, fill r->seconds and the RSS fields.
 * 0, or -1 with r->status set to the error a child reported. */
int bench_run(struct bench_result *r, const struct bench_roles *roles,
              void *arg);

/* In a role: wait until every process of the row is ready. */
void bench_go(void);
/* In a role: the last message has been taken. */
void bench_mark_end(void);
/* In a role: report @fmt to the parent and exit. */
_Noreturn void bench_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Plain I/O for the hand-written rows and the helpers; a failure fails the
 * role. */
void bench_write_all(int fd, const void *buf, size_t len);
void bench_read_all(int fd, void *buf, size_t len);
/* A socketpair, both ends close-on-exec. */
int bench_socketpair(int fds[2]);

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */
/* ------------------------------------------------------------------------ */

enum bench_mpconn_variant {
  BENCH_MPCONN,            /* each send written at once */
  BENCH_MPCONN_SENDF,      /* mpconn_sendf() */
  BENCH_MPCONN_PIPE,       /* as BENCH_MPCONN over a pipe, not a socketpair */
  BENCH_MPCONN_BATCHED,    /* mpconn_cork() at the start, mpconn_flush() at
                              the end */
  BENCH_MPCONN_TIMED,      /* as BENCH_MPCONN_BATCHED, received with a 60 s
                              timeout instead of none */
  BENCH_MPCONN_RING,       /* as BENCH_MPCONN over a ring pair
                              (mpconn_pipe_ex(..., MPCONN_PIPE_RING)) */
  BENCH_MPCONN_INTO,       /* 1 MiB: mpconn_recv_bytes_into() */
  BENCH_MPCONN_VALUES,     /* 1 MiB: bin values */
  BENCH_MPCONN_QUEUE,      /* mpconn_queue_put()/mpconn_queue_get() */
  BENCH_MPCONN_QUEUE_WIDE, /* the same, BENCH_WIDE_PRODUCERS producers and
                              BENCH_WIDE_CONSUMERS consumers */
  BENCH_MPCONN_QUEUE_RING, /* BENCH_MPCONN_QUEUE on a queue made with
                              MPCONN_QUEUE_RINGS */
  BENCH_MPCONN_QUEUE_RING_WIDE, /* and BENCH_MPCONN_QUEUE_WIDE on one */
};
void bench_row_mpconn(struct bench_result *r, enum bench_kind k,
                      enum bench_mpconn_variant v, uint64_t n);

void bench_row_raw(struct bench_result *r, enum bench_kind k, bool batched,
                   uint64_t n);

/* Present only when libzmq was found at build time (BENCH_HAVE_ZMQ). */
void bench_row_zmq(struct bench_result *r, enum bench_kind k, uint64_t n);

/* The shared workload (rows-shared.c): n additions in all. */
enum bench_shared_variant {
  BENCH_SHARED_MPCONN, /* an mpconn value and its lock */
  BENCH_SHARED_MUTEX,  /* a hand-written robust pthread mutex */
};
void bench_row_shared(struct bench_result *r, enum bench_shared_variant v,
                      uint64_t n);

/* The server workload (rows-server.c): n round trips in all. */
enum bench_server_variant {
  BENCH_SERVER_MPCONN, /* the loop of examples/epoll-server.c */
  BENCH_SERVER_EPOLL,  /* the same framing by hand, with epoll */
};
void bench_row_server(struct bench_result *r, enum bench_server_variant v,
                      uint64_t n);

/* The shared-memory rows of 1mib and 64mib (rows-shm.c). */
enum bench_shm_variant {
  BENCH_SHM,       /* mpconn_shm_send(), mpconn_recv_raw(), two bytes read */
  BENCH_SHM_PAGES, /* the same, one byte of every page read */
};
void bench_row_shm(struct bench_result *r, enum bench_kind k,
                   enum bench_shm_variant v, uint64_t n);

/* The fdpass workload (rows-fd.c): n descriptors passed one way. */
enum bench_fd_variant {
  BENCH_FD_MPCONN, /* mpconn_send_fd() and mpconn_recv_fd() */
  BENCH_FD_HAND,   /* sendmsg() and recvmsg() with SCM_RIGHTS by hand */
};
void bench_row_fd(struct bench_result *r, enum bench_fd_variant v, uint64_t n);

/* @variant: "pickle", "msgpack", "bytes", "shm", "queue", "value" or
 * "handle", as python_bench.py takes it. */
void bench_row_python(struct bench_result *r, enum bench_kind k,
                      const char *variant, uint64_t n);

/* ------------------------------------------------------------------------ */
/* Reports (report.c)                                                       */
/* ------------------------------------------------------------------------ */

#define BENCH_MAX_ROWS 16

/* One workload's rows, measured in one run. */
struct bench_table {
  enum bench_kind kind;
  uint64_t n; /* the count of the C rows */
  size_t nrows;
  struct bench_result rows[BENCH_MAX_ROWS];
};

struct bench_report {
  char date[32];
  char machine[256]; /* uname -srm, CPUs, CPU model */
  char command[512];
  int rounds; /* each row's fastest of this many runs */
  size_t ntables;
  struct bench_table tables[BENCH_NKINDS];
};

void bench_report_markdown_header(const struct bench_report *rep);
void bench_report_markdown_table(const struct bench_table *t);
void bench_report_markdown_targets(const struct bench_report *rep);
void bench_report_json(const struct bench_report *rep);

#endif
