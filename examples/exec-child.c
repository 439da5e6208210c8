/* SPDX-License-Identifier: MIT */
/*
 * Handing one end of a connection to an exec'd child.
 *
 * Every descriptor mpconn creates is close-on-exec, so a child that calls
 * exec() keeps none of them unless it asks.  The steps:
 *
 *   parent, before fork:  create the pair; name the child's end with
 *                         mpconn_fd_string(); build the child's environment
 *                         with MPCONN_FD=<that string>;
 *   child, after fork:    mpconn_set_inheritable(its end, true), then exec;
 *   parent, after fork:   free the child's end, talk on its own end;
 *   exec'd child:         mpconn_from_string(getenv("MPCONN_FD")).
 *
 * Between fork() and exec() the child only calls async-signal-safe
 * functions (in a multi-threaded parent nothing else is allowed there), which
 * is why the environment is built before fork() and the child does not call
 * setenv() or free anything.  Clearing close-on-exec in the child, not in the
 * parent, keeps the descriptor out of any other child the parent starts.
 *
 * The program execs itself (/proc/self/exe) with the argument --child.
 *
 * Prints:
 *     parent sends: What is 6 times 7?
 *     parent receives: exec'd child got 18 bytes: What is 6 times 7?
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"

#define ENV_NAME "MPCONN_FD"

extern char **environ;

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

/* The exec'd child: answer one question on the inherited connection. */
static int run_child(void) {
  const char *spec = getenv(ENV_NAME);
  if (!spec) {
    fprintf(stderr, "child: %s is not set\n", ENV_NAME);
    return EXIT_FAILURE;
  }
  mpconn *c;
  check(mpconn_from_string(&c, spec), "child: mpconn_from_string");

  void *data;
  size_t len;
  check(mpconn_recv_bytes(c, &data, &len, 4096, -1), "child: recv");
  char answer[4200];
  int n = snprintf(answer, sizeof(answer), "exec'd child got %zu bytes: %.*s",
                   len, (int)len, (const char *)data);
  free(data);
  check(mpconn_send_bytes(c, answer, (size_t)n), "child: send");
  check(mpconn_close(c), "child: close");
  mpconn_free(c);
  return EXIT_SUCCESS;
}

/* environ without ENV_NAME, plus assign.  The array is new (free() it); the
 * strings are borrowed. */
static char **child_environ(char *assign) {
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = malloc((n + 2) * sizeof(*env));
  if (!env)
    return NULL;
  size_t k = 0;
  env[k++] = assign;
  size_t name_len = strlen(ENV_NAME);
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], ENV_NAME "=", name_len + 1) != 0)
      env[k++] = environ[i];
  env[k] = NULL;
  return env;
}

static void write_stderr(const char *s) {
  ssize_t n = write(STDERR_FILENO, s, strlen(s));
  (void)n; /* nothing better to do if stderr is gone */
}

/* Report a failure between fork() and exec(): write() and _exit() only. */
_Noreturn static void child_fail(const char *what, int rc) {
  write_stderr(what);
  write_stderr(": ");
  write_stderr(mpconn_strerror(rc));
  write_stderr("\n");
  _exit(127);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--child") == 0)
    return run_child();
  if (argc != 1) {
    fprintf(stderr, "usage: %s\n", argv[0]);
    return EXIT_FAILURE;
  }

  /* 1. Create the pair and name the child's end. */
  mpconn *mine, *theirs;
  check(mpconn_pipe(&mine, &theirs, true), "pipe");
  char spec[32];
  check(mpconn_fd_string(theirs, spec, sizeof(spec)), "fd_string");

  /* 2. Build everything the child needs before fork(). */
  char assign[sizeof(ENV_NAME "=") + sizeof(spec)];
  snprintf(assign, sizeof(assign), "%s=%s", ENV_NAME, spec);
  char **env = child_environ(assign);
  if (!env)
    check(MPCONN_ENOMEM, "environment");
  static char child_flag[] = "--child";
  char *child_argv[] = {argv[0], child_flag, NULL};

  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    /* 3. In the child: let exactly this end survive exec, then exec.  The
     * parent's end stays close-on-exec and disappears. */
    int rc = mpconn_set_inheritable(theirs, true);
    if (rc < 0)
      child_fail("child: mpconn_set_inheritable", rc);
    execve("/proc/self/exe", child_argv, env);
    child_fail("child: execve", -errno);
  }
  free(env);

  /* 4. In the parent: drop the child's end, so that the parent sees EOF
   * if the child dies, and talk on its own end. */
  mpconn_free(theirs);
  static const char question[] = "What is 6 times 7?";
  printf("parent sends: %s\n", question);
  int rc = mpconn_send_bytes(mine, question, strlen(question));
  void *data = NULL;
  size_t len = 0;
  if (rc == 0)
    rc = mpconn_recv_bytes(mine, &data, &len, 4096, 10000);
  mpconn_free(mine);

  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  if (rc < 0) {
    free(data);
    check(rc, "parent: send/recv");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child failed\n");
    free(data);
    return EXIT_FAILURE;
  }
  printf("parent receives: %.*s\n", (int)len, (const char *)data);
  free(data);
  return EXIT_SUCCESS;
}
