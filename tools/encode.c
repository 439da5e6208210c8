/* SPDX-License-Identifier: MIT */
/* mpconn encode: JSON lines on stdin to framed msgpack messages on stdout. */
#include "json.h"
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "Usage: mpconn encode\n"
    "\n"
    "Read one JSON value per line from standard input and write each as one\n"
    "msgpack value in a frame of Python's multiprocessing.connection to\n"
    "standard output.  Blank lines are skipped.\n"
    "\n"
    "Options:\n"
    "  -h, --help  show this help and exit\n"
    "\n"
    "Exit status: 0 at the end of the input, 1 at a bad line or an I/O error\n"
    "(one line on stderr names the line, counted from 1), 2 for bad\n"
    "arguments.\n";

static bool blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

/* One frame per line, packed whole before anything of it is written. */
static int run(mpconn *c) {
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t n;
  int status = TOOL_OK;
  while (status == TOOL_OK &&
         (errno = 0, n = getline(&line, &cap, stdin)) >= 0) {
    lineno++;
    size_t len = (size_t)n;
    if (len > 0 && line[len - 1] == '\n')
      len--;
    if (blank(line, len))
      continue;
    msgpack_packer *pk;
    struct tool_error err;
    int rc = mpconn_pack_begin(c, &pk);
    if (rc < 0) {
      fprintf(stderr, "mpconn: encode: line %zu: %s\n", lineno,
              mpconn_strerror(rc));
      status = TOOL_FAILED;
    } else if (tool_json_to_msgpack(line, len, pk, &err) < 0) {
      mpconn_pack_abort(c);
      if (err.column > 0)
        fprintf(stderr, "mpconn: encode: line %zu, column %d: %s\n", lineno,
                err.column, err.text);
      else
        fprintf(stderr, "mpconn: encode: line %zu: %s\n", lineno, err.text);
      status = TOOL_FAILED;
    } else if ((rc = mpconn_pack_end(c)) == MPCONN_ENOMEM) {
      fprintf(stderr, "mpconn: encode: line %zu: %s\n", lineno,
              mpconn_strerror(rc));
      status = TOOL_FAILED;
    } else if (rc < 0) {
      fprintf(stderr, "mpconn: encode: standard output: %s\n",
              mpconn_strerror(rc));
      status = TOOL_FAILED;
    }
  }
  if (status == TOOL_OK && ferror(stdin)) {
    fprintf(stderr, "mpconn: encode: standard input: %s\n",
            mpconn_strerror(errno ? -errno : MPCONN_EINVAL));
    status = TOOL_FAILED;
  }
  free(line);
  return status;
}

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {0},
};

int tool_encode(int argc, char **argv) {
  struct tool_args a;
  tool_args_init(&a, "encode", argc, argv, options);
  const char *value;
  for (int opt; (opt = tool_next_arg(&a, &value)) != TOOL_ARG_END;) {
    switch (opt) {
    case 'h':
      return tool_print(help);
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
  int status = run(c);
  mpconn_free(c);
  return status;
}
