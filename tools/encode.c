/* SPDX-License-Identifier: MIT */
/* mpconn encode: JSON lines on stdin to framed msgpack messages on stdout. */
#include "lines.h"
#include "tool.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "Usage: mpconn encode [--max-line BYTES] [--max-size BYTES]\n"
    "\n"
    "Read one JSON value per line from standard input and write each as one\n"
    "msgpack value in a frame of Python's multiprocessing.connection to\n"
    "standard output.  Blank lines are skipped.\n"
    "\n"
    "Options:\n"
    "      --max-line BYTES  refuse a line longer than BYTES, newline not\n"
    "                        counted (default 8388608, 8 MiB)\n"
    "      --max-size BYTES  refuse a line whose frame would be longer than\n"
    "                        BYTES (default 67108864, 64 MiB: what 'mpconn\n"
    "                        decode' reads by default)\n"
    "  -h, --help            show this help and exit\n"
    "\n"
    "Exit status: 0 at the end of the input, 1 at a bad line or an I/O error\n"
    "(one line on stderr names the line, counted from 1), 2 for bad\n"
    "arguments.\n";

static int bad_line(size_t lineno, const struct tool_error *err) {
  char text[320];
  tool_line_message(text, sizeof(text), lineno, err);
  fprintf(stderr, "mpconn: encode: %s\n", text);
  return TOOL_FAILED;
}

/* One frame per line, packed whole before anything of it is written. */
static int run(mpconn *c, struct tool_input *in, size_t max_size) {
  for (;;) {
    const char *line;
    size_t len;
    struct tool_error err;
    int rc = tool_input_next(in, &line, &len, &err);
    if (rc < 0)
      return bad_line(in->lineno, &err);
    if (rc == 1) {
      rc = tool_send_line(c, line, len, max_size, &err);
      if (rc == TOOL_LINE_BAD)
        return bad_line(in->lineno, &err);
      if (rc == MPCONN_ENOMEM || rc == MPCONN_EINVAL) {
        fprintf(stderr, "mpconn: encode: line %zu: %s\n", in->lineno,
                mpconn_strerror(rc));
        return TOOL_FAILED;
      }
      if (rc < 0) {
        fprintf(stderr, "mpconn: encode: standard output: %s\n",
                mpconn_strerror(rc));
        return TOOL_FAILED;
      }
      continue;
    }
    if (in->eof)
      return TOOL_OK;
    rc = tool_input_read(in);
    if (rc == -EAGAIN || rc == -EWOULDBLOCK) {
      struct pollfd p = {.fd = in->fd, .events = POLLIN};
      (void)poll(&p, 1, -1);
    } else if (rc < 0 && rc != -EINTR) {
      fprintf(stderr, "mpconn: encode: standard input: %s\n",
              mpconn_strerror(rc));
      return TOOL_FAILED;
    }
  }
}

enum { OPT_MAX_LINE = 256, OPT_MAX_SIZE };

static const struct option options[] = {
    {"max-line", required_argument, NULL, OPT_MAX_LINE},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"help", no_argument, NULL, 'h'},
    {0},
};

int tool_encode(int argc, char **argv) {
  size_t max_line = TOOL_DEFAULT_MAX_LINE, max_size = MPCONN_DEFAULT_MAX_SIZE;
  struct tool_args a;
  tool_args_init(&a, "encode", argc, argv, options);
  const char *value;
  for (int opt; (opt = tool_next_arg(&a, &value)) != TOOL_ARG_END;) {
    switch (opt) {
    case 'h':
      return tool_print(help);
    case OPT_MAX_LINE:
      if (!tool_size_arg(&a, "--max-line", value, &max_line))
        return TOOL_USAGE;
      break;
    case OPT_MAX_SIZE:
      if (!tool_size_arg(&a, "--max-size", value, &max_size))
        return TOOL_USAGE;
      break;
    case TOOL_ARG_OPERAND:
      return tool_usage_error("encode", "unexpected argument '%s'", value);
    default:
      return TOOL_USAGE;
    }
  }

  mpconn *c;
  int rc = mpconn_from_fd(&c, STDOUT_FILENO);
  if (rc < 0) {
    fprintf(stderr, "mpconn: encode: standard output: %s\n",
            mpconn_strerror(rc));
    return TOOL_FAILED;
  }
  struct tool_input in;
  tool_input_init(&in, STDIN_FILENO, max_line);
  int status = run(c, &in, max_size);
  tool_input_free(&in);
  mpconn_free(c);
  return status;
}
