/* SPDX-License-Identifier: MIT */
/*
 * rss-run: run a command and write its peak resident set size.
 * Usage: rss-run FILE COMMAND [ARG]...
 *
 * The command inherits the standard streams.  Once it has ended, FILE
 * receives its peak RSS in KiB (wait4()'s ru_maxrss), and rss-run exits
 * with the command's status (128 + N for a signal N).
 *
 * Why not measure from Python: a child's ru_maxrss starts from the RSS of
 * the process it was forked (or vforked) from, carried over exec, so a
 * child of a Python test holding megabytes of test data would report the
 * test's memory.  This program is small, so its children start small.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fputs("usage: rss-run FILE COMMAND [ARG]...\n", stderr);
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("rss-run: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("rss-run: exec");
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("rss-run: wait4");
    return 2;
  }
  FILE *f = fopen(argv[1], "w");
  if (!f || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
    perror(argv[1]);
    return 2;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
