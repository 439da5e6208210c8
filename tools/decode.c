/* SPDX-License-Identifier: MIT */
/* mpconn decode: framed msgpack messages on stdin to JSON lines on stdout. */
#include "json.h"
#include "tool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "Usage: mpconn decode [--max-size BYTES]\n"
    "\n"
    "Read frames of Python's multiprocessing.connection, each holding one\n"
    "msgpack value, from standard input and write each value as one line of\n"
    "JSON to standard output.\n"
    "\n"
    "Options:\n"
    "      --max-size BYTES  refuse frames longer than BYTES, from their\n"
    "                        header alone (default 67108864, 64 MiB)\n"
    "  -h, --help            show this help and exit\n"
    "\n"
    "Exit status: 0 at the end of the input, 1 at a bad frame or an I/O\n"
    "error (one line on stderr names the message and its byte offset, both\n"
    "counted from 0), 2 for bad arguments.\n";

static int write_failed(void) {
  fprintf(stderr, "mpconn: decode: standard output: %s\n",
          mpconn_strerror(errno ? -errno : MPCONN_EINVAL));
  return TOOL_FAILED;
}

/* Frames are read whole; a failing one stops the run. */
static int run(mpconn *c) {
  size_t index = 0;
  uint64_t offset = 0;
  for (;;) {
    mpconn_msg *m;
    int rc = mpconn_recv(c, &m, -1);
    if (rc == MPCONN_EOF)
      break;
    size_t frame = 0;
    errno = 0;
    if (rc == 0) {
      frame = mpconn_msg_frame_size(m);
      rc = tool_json_write(m, mpconn_msg_value(m), tool_write_stdout, NULL);
      mpconn_msg_free(m);
    }
    if (rc == TOOL_JSON_WRITE_FAILED)
      return write_failed();
    if (rc < 0) {
      if (fflush(stdout) != 0)
        return write_failed();
      fprintf(stderr, "mpconn: decode: message %zu at byte %" PRIu64 ": %s\n",
              index, offset, mpconn_strerror(rc));
      return TOOL_FAILED;
    }
    if (putchar('\n') == EOF)
      return write_failed();
    offset += frame;
    index++;
    /* Batch the output while input is waiting, but never sit on a line
     * while waiting for more input. */
    if (mpconn_poll(c, 0) != 1 && fflush(stdout) != 0)
      return write_failed();
  }
  errno = 0;
  if (fflush(stdout) != 0)
    return write_failed();
  return TOOL_OK;
}

enum { OPT_MAX_SIZE = 256 };

static const struct option options[] = {
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"help", no_argument, NULL, 'h'},
    {0},
};

int tool_decode(int argc, char **argv) {
  size_t max_size = MPCONN_DEFAULT_MAX_SIZE;
  struct tool_args a;
  tool_args_init(&a, "decode", argc, argv, options);
  const char *value;
  for (int opt; (opt = tool_next_arg(&a, &value)) != TOOL_ARG_END;) {
    switch (opt) {
    case 'h':
      return tool_print(help);
    case OPT_MAX_SIZE:
      if (!tool_size_arg(&a, "--max-size", value, &max_size))
        return TOOL_USAGE;
      break;
    case TOOL_ARG_OPERAND:
      return tool_usage_error("decode", "unexpected argument '%s'", value);
    default:
      return TOOL_USAGE;
    }
  }

  mpconn *c;
  int rc = mpconn_from_fd(&c, STDIN_FILENO);
  if (rc == 0 && (rc = mpconn_set_max_size(c, max_size)) < 0)
    mpconn_free(c);
  if (rc < 0) {
    fprintf(stderr, "mpconn: decode: standard input: %s\n",
            mpconn_strerror(rc));
    return TOOL_FAILED;
  }
  int status = run(c);
  mpconn_free(c);
  return status;
}
