/* SPDX-License-Identifier: MIT */
/* mpconn: the command-line tool.  Dispatches to one subcommand. */
#include "tool.h"

#include <mpconn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"decode", tool_decode, "framed msgpack messages on stdin to JSON lines"},
    {"encode", tool_encode, "JSON lines on stdin to framed msgpack messages"},
    {"connect", tool_connect, "connect to a listener; exchange JSON lines"},
    {"listen", tool_listen, "listen for clients; exchange JSON lines"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int tool_print(const char *text) {
  if (fputs(text, stdout) < 0 || fflush(stdout) != 0 || ferror(stdout))
    return TOOL_FAILED;
  return TOOL_OK;
}

int tool_write_stdout(void *arg, const char *text, size_t len) {
  (void)arg;
  return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

int tool_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(cmd ? "mpconn: " : "mpconn", stderr);
  if (cmd)
    fputs(cmd, stderr);
  fputs(": ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (try 'mpconn%s%s --help')\n", cmd ? " " : "",
          cmd ? cmd : "");
  return TOOL_USAGE;
}

static int help(void) {
  if (fputs("Usage: mpconn COMMAND [OPTION]...\n"
            "       mpconn --help | --version\n"
            "\n"
            "Convert between JSON and the msgpack frames of Python's\n"
            "multiprocessing.connection, in files and pipes or over sockets.\n"
            "\n"
            "Commands:\n",
            stdout) < 0)
    return TOOL_FAILED;
  for (size_t i = 0; i < NCOMMANDS; i++)
    printf("  %-8s %s\n", commands[i].name, commands[i].summary);
  return tool_print("\n"
                    "Options:\n"
                    "  -h, --help     show this help and exit\n"
                    "  -V, --version  show the version and exit\n"
                    "\n"
                    "Run 'mpconn COMMAND --help' for the options of a "
                    "command.\n");
}

int main(int argc, char **argv) {
  /* A reader that went away is an error to report, not a silent death. */
  signal(SIGPIPE, SIG_IGN);

  if (argc < 2)
    return tool_usage_error(NULL, "missing command");
  const char *arg = argv[1];
  if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
    return help();
  if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
    printf("mpconn %d.%d.%d\n", MPCONN_VERSION_MAJOR, MPCONN_VERSION_MINOR,
           MPCONN_VERSION_PATCH);
    return tool_print("");
  }
  if (arg[0] == '-')
    return tool_usage_error(NULL, "unknown option '%s'", arg);
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(arg, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  return tool_usage_error(NULL, "unknown command '%s'", arg);
}
