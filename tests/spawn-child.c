/* SPDX-License-Identifier: MIT */
/*
 * The child program of test-spawn.c, started by mpconn_spawn().
 *
 *   spawn-child report [ENV_NAME]  send {"fds", "env", "env_count",
 *                                  "sigmask_empty", "sigpipe_default"}
 *                                  on the inherited connection, wait for
 *                                  end of file, exit 0
 *   spawn-child echo               send back every frame until end of file
 *   spawn-child write N            send the ints 0 .. N-1, exit 0
 *   spawn-child exit N             exit with status N at once
 *   spawn-child raise SIG          kill itself with signal SIG
 *   spawn-child sleep              wait for a signal forever
 *
 * ENV_NAME defaults to MPCONN_FD.  Failures go to standard error, with
 * exit status 100 and up.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpconn.h"

extern char **environ;

_Noreturn static void die(int status, const char *what, int rc) {
  fprintf(stderr, "spawn-child: %s: %s\n", what,
          rc ? mpconn_strerror(rc) : "failed");
  exit(status);
}

static mpconn *inherited(const char *name) {
  const char *spec = getenv(name);
  if (!spec)
    die(100, name, MPCONN_EINVAL);
  mpconn *c;
  int rc = mpconn_from_string(&c, spec);
  if (rc < 0)
    die(101, "mpconn_from_string", rc);
  return c;
}

/* The open descriptors, "0,1,2,3", without the directory's own. */
static void list_fds(char *out, size_t size) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    die(102, "opendir /proc/self/fd", 0);
  int fds[256], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256)
    if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
      fds[n++] = atoi(e->d_name);
  closedir(d);
  /* Sorted, so the report does not depend on readdir()'s order. */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < n && len < size; i++)
    len +=
        (size_t)snprintf(out + len, size - len, "%s%d", i ? "," : "", fds[i]);
}

static int report(const char *name) {
  char fds[512];
  list_fds(fds, sizeof(fds)); /* before anything else opens one */
  mpconn *c = inherited(name);
  int count = 0;
  size_t len = strlen(name);
  for (char **e = environ; *e; e++)
    count += strncmp(*e, name, len) == 0 && (*e)[len] == '=';
  sigset_t mask;
  sigprocmask(SIG_SETMASK, NULL, &mask);
  bool empty = true;
  for (int s = 1; s < 32; s++)
    empty = empty && !sigismember(&mask, s);
  struct sigaction sa;
  sigaction(SIGPIPE, NULL, &sa);
  int rc = mpconn_sendf(c, "{s:s, s:s, s:i, s:b, s:b}", "fds", fds, "env",
                        getenv(name), "env_count", count, "sigmask_empty",
                        empty, "sigpipe_default", sa.sa_handler == SIG_DFL);
  if (rc < 0)
    die(103, "sendf", rc);
  void *data;
  size_t n;
  rc = mpconn_recv_bytes(c, &data, &n, MPCONN_UNLIMITED, 60000);
  if (rc != MPCONN_EOF)
    die(104, "waiting for end of file", rc);
  mpconn_free(c);
  return 0;
}

static int echo(void) {
  mpconn *c = inherited("MPCONN_FD");
  for (;;) {
    void *data;
    size_t n;
    int rc = mpconn_recv_bytes(c, &data, &n, MPCONN_UNLIMITED, 60000);
    if (rc == MPCONN_EOF)
      break;
    if (rc < 0)
      die(105, "recv", rc);
    rc = mpconn_send_bytes(c, data, n);
    free(data);
    if (rc < 0)
      die(106, "send", rc);
  }
  mpconn_free(c);
  return 0;
}

static int write_ints(int n) {
  mpconn *c = inherited("MPCONN_FD");
  for (int i = 0; i < n; i++) {
    int rc = mpconn_sendf(c, "i", i);
    if (rc < 0)
      die(107, "sendf", rc);
  }
  mpconn_free(c);
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "report") == 0)
    return report(argc > 2 ? argv[2] : "MPCONN_FD");
  if (strcmp(cmd, "echo") == 0)
    return echo();
  if (strcmp(cmd, "write") == 0 && argc == 3)
    return write_ints(atoi(argv[2]));
  if (strcmp(cmd, "exit") == 0 && argc == 3)
    return atoi(argv[2]);
  if (strcmp(cmd, "raise") == 0 && argc == 3) {
    signal(atoi(argv[2]), SIG_DFL);
    raise(atoi(argv[2]));
    return 108;
  }
  if (strcmp(cmd, "sleep") == 0) {
    for (;;)
      pause();
  }
  fprintf(stderr, "usage: spawn-child report|echo|write N|exit N|raise "
                  "SIG|sleep\n");
  return 109;
}
