/* SPDX-License-Identifier: MIT */
/* The subcommands of the mpconn tool and what they share. */
#ifndef MPCONN_TOOL_H
#define MPCONN_TOOL_H

#include <stddef.h>

/* Exit statuses. */
enum {
  TOOL_OK = 0,     /* success */
  TOOL_FAILED = 1, /* bad input or an I/O error */
  TOOL_USAGE = 2,  /* bad arguments */
};

/*
 * A subcommand: @argv[0] is its name, the rest its arguments.  It reports
 * its own errors on stderr and returns the exit status.
 */
int tool_decode(int argc, char **argv);
int tool_encode(int argc, char **argv);
int tool_connect(int argc, char **argv);
int tool_listen(int argc, char **argv);

/* Print @text to stdout: TOOL_OK, or TOOL_FAILED if it cannot be written. */
int tool_print(const char *text);

/* A tool_write_fn (json.h) writing to stdout: 0, or -1 with errno set. */
int tool_write_stdout(void *arg, const char *text, size_t len);

/*
 * Report a usage error on one line of stderr, naming @cmd (NULL for the
 * tool itself) and where its help is.  Return: TOOL_USAGE.
 */
int tool_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
