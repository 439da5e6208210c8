/* SPDX-License-Identifier: MIT */
/* The subcommands of the mpconn tool and what they share. */
#ifndef MPCONN_TOOL_H
#define MPCONN_TOOL_H

#include <getopt.h>
#include <stdbool.h>
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

/*
 * The arguments of a subcommand, read with getopt_long(): options may come
 * before, between and after operands, and "--" ends them.  A long option
 * is written in full ("--max" is not "--max-size"), its value after '=' or
 * as the next argument.  Every problem is reported with
 * tool_usage_error().
 */
struct tool_args {
  const char *cmd; /* the subcommand, for messages */
  int argc;        /* its arguments; argv[0] is its name */
  char **argv;
  const struct option *opts; /* its long options, ending with {0}; a val
                                of 'h' is also -h, any other val must be
                                256 or more */
  bool rest;                 /* after "--": only operands are left */
};

/* tool_next_arg()'s results besides an option's val. */
enum {
  TOOL_ARG_END = -1,    /* no argument is left */
  TOOL_ARG_OPERAND = 1, /* an operand, in *value */
  TOOL_ARG_BAD = '?',   /* a usage error, reported: exit with TOOL_USAGE */
};

/* Start reading @argv, for @cmd, with @opts. */
void tool_args_init(struct tool_args *a, const char *cmd, int argc, char **argv,
                    const struct option *opts);

/*
 * tool_next_arg() - the next option or operand.
 * @value: receives an option's value (NULL when it takes none) or the
 *         operand.
 * Return: an option's val, TOOL_ARG_OPERAND, TOOL_ARG_END or TOOL_ARG_BAD.
 */
int tool_next_arg(struct tool_args *a, const char **value);

/*
 * tool_size_arg() - the value of a byte count option, @name ("--max-size"),
 * in decimal digits up to SIZE_MAX.
 * Return: true, or false after reporting a usage error.
 */
bool tool_size_arg(const struct tool_args *a, const char *name,
                   const char *value, size_t *out);

#endif
