/* SPDX-License-Identifier: MIT */
/*
 * A C parent hands one end of mpconn_pipe() to an exec'd Python child.
 *
 *   handover PYTHON ECHO_CHILD_PY duplex|pipe
 *
 * The parent creates the pair and forks; the child makes its end
 * inheritable and execs ECHO_CHILD_PY with MPCONN_FD naming that end.  The
 * Python child first reports its open descriptors: its own end must be
 * among them and the parent's end must not (nor anything else the parent
 * did not inherit itself).  Then
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
#include <sys/wait.h>
#include <unistd.h>

#include "interop-pattern.h"
#include "mpconn.h"

extern char **environ;

#define TIMEOUT_MS 30000
/* Descriptors below this are checked for having been inherited. */
#define FD_SCAN 1024

static const size_t sizes[] = {0, 1, 16384, 16385, 1048576};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Descriptors this process inherited without close-on-exec: a child
 * inherits them too, through no fault of the library. */
static bool env_fd[FD_SCAN];

static void record_inherited_fds(void) {
  for (int fd = 3; fd < FD_SCAN; fd++) {
    int fl = fcntl(fd, F_GETFD);
    env_fd[fd] = fl >= 0 && !(fl & FD_CLOEXEC);
  }
}

static bool ok(int rc, const char *call) {
  if (rc != 0)
    fprintf(stderr, "handover: %s returned %d %s (%s)\n", call, rc,
            rc < 0 ? mpconn_err_name(rc) : "?", mpconn_strerror(rc));
  return rc == 0;
}

/* The environment with MPCONN_FD=spec in place of any MPCONN_FD; free()
 * the array only, its strings are environ's and a static buffer. */
static char **child_environ(const char *spec) {
  static const char name[] = "MPCONN_FD=";
  static char var[sizeof(name) + 32];
  snprintf(var, sizeof(var), "%s%s", name, spec);
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 2, sizeof(*env));
  if (!env)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], name, strlen(name)) != 0)
      env[k++] = environ[i];
  env[k] = var;
  return env;
}

/*
 * The first message: "fds " and the child's open descriptors.  child_fd
 * must be listed; parent_fd must not, nor any descriptor above 2 that this
 * process did not inherit.
 */
static bool check_report(mpconn *c, int child_fd, int parent_fd) {
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
  fprintf(stderr, "handover: child reports %s (its end: %d, parent's: %d)\n",
          text, child_fd, parent_fd);
  bool parsed = strncmp(text, "fds ", 4) == 0, leak = false, saw_child = false;
  for (char *p = text + 4, *end; parsed && *p; p = *end ? end + 1 : end) {
    long fd = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',')) {
      parsed = false;
    } else if (fd == child_fd) {
      saw_child = true;
    } else if (fd > 2 && !(fd < FD_SCAN && env_fd[fd])) {
      fprintf(stderr, "handover: descriptor %ld leaked into the child%s\n", fd,
              fd == parent_fd ? " (the parent's end)" : "");
      leak = true;
    }
  }
  if (!parsed)
    fprintf(stderr, "handover: malformed report\n");
  else if (!saw_child)
    fprintf(stderr, "handover: the child's own end %d is not open in it\n",
            child_fd);
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
  record_inherited_fds();

  /* The parent keeps a; the child gets b (for a pipe, the write end). */
  mpconn *a, *b;
  if (!ok(mpconn_pipe(&a, &b, duplex), "mpconn_pipe"))
    return 1;
  int parent_fd = mpconn_fileno(a), child_fd = mpconn_fileno(b);

  /* Everything the child needs is made before fork(). */
  char spec[32];
  if (!ok(mpconn_fd_string(b, spec, sizeof(spec)), "mpconn_fd_string"))
    return 1;
  char **env = child_environ(spec);
  if (!env)
    return 1;
  char size_args[NSIZES][24];
  const char *child_argv[4 + NSIZES] = {python, argv[2],
                                        duplex ? "duplex" : "send"};
  for (size_t k = 0; k < NSIZES; k++) {
    snprintf(size_args[k], sizeof(size_args[k]), "%zu", sizes[k]);
    child_argv[3 + k] = size_args[k];
  }

  pid_t pid = fork();
  if (pid < 0) {
    perror("handover: fork");
    return 1;
  }
  if (pid == 0) {
    if (mpconn_set_inheritable(b, true) != 0)
      _exit(126);
    execve(python, (char *const *)child_argv, env);
    _exit(127);
  }
  mpconn_free(b);

  bool good = check_report(a, child_fd, parent_fd) &&
              (duplex ? exchange_duplex(a) : exchange_pipe(a));
  /* Closing tells a duplex child to stop.  After a failure the child may
   * be waiting on a descriptor it should not have, so it is killed. */
  mpconn_free(a);
  if (!good)
    kill(pid, SIGKILL);

  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("handover: waitpid");
      return 1;
    }
  }
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "handover: the child was killed by signal %d\n",
            WTERMSIG(status));
    good = false;
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "handover: the child exited with status %d\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    good = false;
  }
  free(env);
  puts(good ? "ok" : "FAILED");
  return good ? 0 : 1;
}
