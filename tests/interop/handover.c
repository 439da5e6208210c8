/* SPDX-License-Identifier: MIT */
/*
 * A C parent hands one end of mpconn_pipe() to an exec'd Python child.
 *
 *   handover PYTHON ECHO_CHILD_PY duplex|pipe
 *
 * The parent creates the pair and starts ECHO_CHILD_PY with
 * mpconn_spawn(), handing it one end, which the child finds as descriptor
 * 3 through MPCONN_FD.  The Python child first reports its open
 * descriptors: 3 must be among them, and nothing else above 2 (the
 * parent's end, or anything the parent inherited itself).  Then
 *   duplex  the parent sends a message of each size and checks the echo;
 *   pipe    the child (given the write end) sends a message of each size,
 *           the parent checks each, then MPCONN_EOF.
 * The child must exit with status 0.  Exit status: 0 pass, 1 fail, 77
 * PYTHON is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop-pattern.h"
#include "mpconn.h"

#define TIMEOUT_MS 30000
/* The child's end, in the child. */
#define CHILD_FD 3

static const size_t sizes[] = {0, 1, 16384, 16385, 1048576};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* A descriptor without close-on-exec, as a parent may have inherited
 * one: mpconn_spawn() must not let it into the child either. */
static int leaky_fd = -1;

static bool ok(int rc, const char *call) {
  if (rc != 0)
    fprintf(stderr, "handover: %s returned %d %s (%s)\n", call, rc,
            rc < 0 ? mpconn_err_name(rc) : "?", mpconn_strerror(rc));
  return rc == 0;
}

/*
 * The first message: "fds " and the child's open descriptors.  CHILD_FD
 * must be listed, and no other descriptor above 2.
 */
static bool check_report(mpconn *c) {
  void *data;
  size_t len;
  if (!ok(mpconn_recv_bytes(c, &data, &len, 4096, TIMEOUT_MS),
          "mpconn_recv_bytes (descriptor report)"))
    return false;
  char *text = malloc(len + 1);
  if (!text)
    return false;
  memcpy(text, data, len);
  text[len] = '\0';
  free(data);
  fprintf(stderr, "handover: child reports %s (its end: %d)\n", text, CHILD_FD);
  bool parsed = strncmp(text, "fds ", 4) == 0, leak = false, saw_child = false;
  for (char *p = text + 4, *end; parsed && *p; p = *end ? end + 1 : end) {
    long fd = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',')) {
      parsed = false;
    } else if (fd == CHILD_FD) {
      saw_child = true;
    } else if (fd > 2) {
      fprintf(stderr, "handover: descriptor %ld leaked into the child\n", fd);
      leak = true;
    }
  }
  if (!parsed)
    fprintf(stderr, "handover: malformed report\n");
  else if (!saw_child)
    fprintf(stderr, "handover: the child's own end %d is not open in it\n",
            CHILD_FD);
  free(text);
  return parsed && saw_child && !leak;
}

static bool recv_check(mpconn *c, size_t n, size_t k, unsigned tag) {
  void *data;
  size_t len;
  if (!ok(mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS),
          "mpconn_recv_bytes"))
    return false;
  bool good = pattern_check(data, len, n, k, tag);
  free(data);
  return good;
}

/* Send a message of each size; the child echoes each. */
static bool exchange_duplex(mpconn *c) {
  for (size_t k = 0; k < NSIZES; k++) {
    uint8_t *p = malloc(sizes[k] ? sizes[k] : 1);
    if (!p)
      return false;
    pattern_fill(p, sizes[k], k, C_TAG);
    int rc = mpconn_send_bytes(c, p, sizes[k]);
    free(p);
    if (!ok(rc, "mpconn_send_bytes") || !recv_check(c, sizes[k], k, C_TAG))
      return false;
  }
  return true;
}

/* The child sends a message of each size, then closes. */
static bool exchange_pipe(mpconn *c) {
  for (size_t k = 0; k < NSIZES; k++)
    if (!recv_check(c, sizes[k], k, PY_TAG))
      return false;
  void *data;
  size_t len;
  int rc = mpconn_recv_bytes(c, &data, &len, MPCONN_UNLIMITED, TIMEOUT_MS);
  if (rc == 0)
    free(data);
  if (rc != MPCONN_EOF) {
    fprintf(stderr, "handover: after the last message: %d %s, not EOF\n", rc,
            rc < 0 ? mpconn_err_name(rc) : "a message");
    return false;
  }
  return true;
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[3], "duplex") && strcmp(argv[3], "pipe"))) {
    fprintf(stderr, "usage: %s PYTHON ECHO_CHILD_PY duplex|pipe\n", argv[0]);
    return 1;
  }
  const char *python = argv[1];
  bool duplex = strcmp(argv[3], "duplex") == 0;
  if (access(python, X_OK) != 0) {
    printf("skipped: %s is not available: %s\n", python, strerror(errno));
    return 77;
  }
  leaky_fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */

  /* The parent keeps a; the child gets b (for a pipe, the write end). */
  mpconn *a, *b;
  if (!ok(mpconn_pipe(&a, &b, duplex), "mpconn_pipe"))
    return 1;

  char size_args[NSIZES][24];
  char *child_argv[4 + NSIZES] = {(char *)python, argv[2],
                                  duplex ? "duplex" : "send"};
  for (size_t k = 0; k < NSIZES; k++) {
    snprintf(size_args[k], sizeof(size_args[k]), "%zu", sizes[k]);
    child_argv[3 + k] = size_args[k];
  }
  /* b is handed over (and closed here), as MPCONN_FD. */
  mpconn_spawn_options o = {.conn = b};
  mpconn_process *child;
  if (!ok(mpconn_spawn(&child, NULL, child_argv, &o), "mpconn_spawn")) {
    mpconn_free(a);
    return 1;
  }

  bool good =
      check_report(a) && (duplex ? exchange_duplex(a) : exchange_pipe(a));
  /* Closing tells a duplex child to stop.  After a failure the child may
   * be waiting for something that never comes, so it is killed. */
  mpconn_free(a);
  if (!good)
    mpconn_process_kill(child, SIGKILL);

  int exitcode;
  int rc = mpconn_process_wait(child, &exitcode, TIMEOUT_MS);
  if (rc < 0) {
    fprintf(stderr, "handover: waiting for the child: %s\n",
            mpconn_strerror(rc));
    good = false;
  } else if (exitcode < 0) {
    fprintf(stderr, "handover: the child was killed by signal %d\n", -exitcode);
    good = false;
  } else if (exitcode != 0) {
    fprintf(stderr, "handover: the child exited with status %d\n", exitcode);
    good = false;
  }
  mpconn_process_free(child);
  close(leaky_fd);
  puts(good ? "ok" : "FAILED");
  return good ? 0 : 1;
}
