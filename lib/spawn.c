/* SPDX-License-Identifier: MIT */
/*
 * Spawning a child program with one end of a connection, and waiting for
 * it: Python's Process(...).start(), join() and exitcode for a program
 * that is exec'd.
 *
 * The child is started with posix_spawn(), which glibc runs in a
 * vfork()-like child that only duplicates descriptors and calls exec: safe
 * in a multi-threaded parent, and it reports a failed exec (a missing
 * program) to the caller.  The child's end is duplicated onto descriptors
 * 3 (and 4) in the child only, and every other descriptor above 2 is
 * closed there, so nothing else leaks in, whatever close-on-exec flags the
 * parent's other descriptors have.  Waiting uses a pidfd when the kernel
 * has them (Linux 5.3), so no SIGCHLD handler is needed or installed.
 */
#include "mpconn-private.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The child's descriptors: its end of the connection, and no others. */
#define CHILD_FD 3
/* The parent's copies are made above the child's numbers first, so that
 * duplicating one onto 3 or 4 cannot overwrite the other. */
#define ABOVE_CHILD_FDS 5

struct mpconn_process {
  pid_t pid;
  int pidfd;    /* -1 when the kernel has no pidfds */
  bool reaped;  /* written by the waiting thread, read by killers */
  int exitcode; /* once reaped: the status, or -signal */
};

/* ------------------------------------------------------------------------ */
/* pidfds                                                                   */
/* ------------------------------------------------------------------------ */

static int pidfd_open_(pid_t pid) {
#ifdef SYS_pidfd_open
  /* Close-on-exec by definition. */
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static int pidfd_kill(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
  (void)pidfd;
  (void)sig;
  errno = ENOSYS;
  return -1;
#endif
}

/* ------------------------------------------------------------------------ */
/* Starting                                                                 */
/* ------------------------------------------------------------------------ */

/* @env (or environ) without any NAME=... entry, with @assign first.  The
 * array is new (free() it); the strings are borrowed. */
static char **child_environ(char *const *env, const char *name, char *assign) {
  if (!env)
    env = environ;
  size_t n = 0, len = strlen(name);
  while (env[n])
    n++;
  char **out = malloc((n + 2) * sizeof(*out));
  if (!out)
    return NULL;
  size_t k = 0;
  out[k++] = assign;
  for (size_t i = 0; i < n; i++)
    if (strncmp(env[i], name, len) != 0 || env[i][len] != '=')
      out[k++] = env[i];
  out[k] = NULL;
  return out;
}

/* What the child gets: descriptor numbers, and the string naming them. */
struct handover {
  int src[2];   /* the parent's copies, above the child's numbers */
  int dst[2];   /* the numbers in the child */
  int n;        /* 1 or 2 */
  char *assign; /* "NAME=SPEC" */
};

static void handover_free(struct handover *h) {
  for (int i = 0; i < h->n; i++)
    if (h->src[i] >= 0)
      close(h->src[i]);
  free(h->assign);
}

static int handover_make(struct handover *h, const mpconn *c,
                         const char *name) {
  *h = (struct handover){.src = {-1, -1}};
  int rfd = c->rfd, wfd = c->wfd;
  char spec[32];
  if (rfd == wfd) {
    h->n = 1;
    h->src[0] = fcntl(rfd, F_DUPFD_CLOEXEC, ABOVE_CHILD_FDS);
    h->dst[0] = CHILD_FD;
    snprintf(spec, sizeof(spec), "%d", CHILD_FD);
  } else {
    /* A missing direction stays -1, as mpconn_fd_string() writes it. */
    int child_r = rfd >= 0 ? CHILD_FD : -1;
    int child_w = wfd >= 0 ? (rfd >= 0 ? CHILD_FD + 1 : CHILD_FD) : -1;
    if (rfd >= 0) {
      h->src[h->n] = fcntl(rfd, F_DUPFD_CLOEXEC, ABOVE_CHILD_FDS);
      h->dst[h->n++] = child_r;
    }
    if (wfd >= 0) {
      h->src[h->n] = fcntl(wfd, F_DUPFD_CLOEXEC, ABOVE_CHILD_FDS);
      h->dst[h->n++] = child_w;
    }
    snprintf(spec, sizeof(spec), "%d,%d", child_r, child_w);
  }
  for (int i = 0; i < h->n; i++)
    if (h->src[i] < 0)
      return -errno;
  size_t size = strlen(name) + 1 + strlen(spec) + 1;
  h->assign = malloc(size);
  if (!h->assign)
    return MPCONN_ENOMEM;
  snprintf(h->assign, size, "%s=%s", name, spec);
  return 0;
}

/* What happens in the child before exec: descriptors and signals. */
static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr,
                       const struct handover *h, unsigned flags) {
  int rc = 0;
  for (int i = 0; i < h->n && !rc; i++)
    rc = posix_spawn_file_actions_adddup2(fa, h->src[i], h->dst[i]);
#ifdef MPCONN_HAVE_ADDCLOSEFROM
  if (!rc && !(flags & MPCONN_SPAWN_KEEP_FDS))
    rc = posix_spawn_file_actions_addclosefrom_np(fa, h->dst[h->n - 1] + 1);
#else
  (void)flags;
#endif
  /* The child starts with no signal blocked, and with SIGPIPE and SIGXFSZ
   * at their defaults even when this process ignores them (as Python's
   * subprocess does); handlers are reset by exec itself. */
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  sigaddset(&dfl, SIGXFSZ);
  if (!rc)
    rc = posix_spawnattr_setsigmask(attr, &none);
  if (!rc)
    rc = posix_spawnattr_setsigdefault(attr, &dfl);
  if (!rc)
    rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
  return -rc;
}

static int start(pid_t *pid, char *const argv[], const mpconn_spawn_options *o,
                 const mpconn *theirs) {
  const char *name = o && o->fd_env ? o->fd_env : "MPCONN_FD";
  const char *file = o && o->path ? o->path : argv[0];
  if (!*name || strchr(name, '='))
    return MPCONN_EINVAL;
  struct handover h;
  int rc = handover_make(&h, theirs, name);
  char **env = NULL;
  if (rc == 0) {
    env = child_environ(o ? o->envp : NULL, name, h.assign);
    if (!env)
      rc = MPCONN_ENOMEM;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  bool fa_ok = false, attr_ok = false;
  if (rc == 0 && (rc = -posix_spawn_file_actions_init(&fa)) == 0)
    fa_ok = true;
  if (rc == 0 && (rc = -posix_spawnattr_init(&attr)) == 0)
    attr_ok = true;
  if (rc == 0)
    rc = spawn_setup(&fa, &attr, &h, o ? o->flags : 0);
  if (rc == 0) {
    /* A name without '/' is looked up in PATH, as execvp() does. */
    rc = strchr(file, '/') ? posix_spawn(pid, file, &fa, &attr, argv, env)
                           : posix_spawnp(pid, file, &fa, &attr, argv, env);
    rc = -rc;
  }
  if (attr_ok)
    posix_spawnattr_destroy(&attr);
  if (fa_ok)
    posix_spawn_file_actions_destroy(&fa);
  free(env);
  handover_free(&h);
  return rc;
}

int mpconn_spawn(mpconn_process **p, mpconn **c, char *const argv[],
                 const mpconn_spawn_options *o) {
  mpconn *mine = NULL, *theirs = o ? o->conn : NULL;
  if (p)
    *p = NULL;
  if (c)
    *c = NULL;
  int rc = 0;
  if (!p || !argv || !argv[0] || (!theirs && !c))
    rc = MPCONN_EINVAL;
  else if (o && (o->flags & ~MPCONN_SPAWN_KEEP_FDS))
    rc = MPCONN_EINVAL;
  else if (theirs && theirs->closed)
    rc = MPCONN_ECLOSED;
  else if (!theirs)
    rc = mpconn_pipe(&mine, &theirs, true);
  mpconn_process *proc = NULL;
  if (rc == 0 && !(proc = malloc(sizeof(*proc))))
    rc = MPCONN_ENOMEM;
  pid_t pid = -1;
  if (rc == 0)
    rc = start(&pid, argv, o, theirs);
  /* The child has its own copy now (or there is no child): this process's
   * copy goes, so that the parent sees end of file if the child dies. */
  mpconn_free(theirs);
  if (rc < 0) {
    mpconn_free(mine);
    free(proc);
    return rc;
  }
  *proc = (struct mpconn_process){.pid = pid, .pidfd = pidfd_open_(pid)};
  *p = proc;
  if (c)
    *c = mine;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

pid_t mpconn_process_pid(const mpconn_process *p) {
  return p ? p->pid : MPCONN_EINVAL;
}

/* Reap the child if it has ended: 1 reaped, 0 still running, or -errno
 * (-ECHILD: somebody else reaped it). */
static int try_reap(mpconn_process *p) {
  for (;;) {
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG) < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (si.si_pid != p->pid)
      return 0;
    p->exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    __atomic_store_n(&p->reaped, true, __ATOMIC_RELEASE);
    return 1;
  }
}

/* Without a pidfd: look again after a pause that grows to 20 ms. */
static int pause_until(int64_t deadline, long *pause_ns) {
  int left = mpconn__remaining_ms(deadline);
  if (left == 0)
    return MPCONN_ETIMEDOUT;
  long ns = *pause_ns;
  if (left > 0 && (long)left * 1000000L < ns)
    ns = (long)left * 1000000L;
  struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
  nanosleep(&ts, NULL); /* EINTR: look again sooner, no harm */
  if (*pause_ns < 20000000L)
    *pause_ns *= 2;
  return 0;
}

int mpconn_process_wait(mpconn_process *p, int *exitcode, int timeout_ms) {
  if (!p)
    return MPCONN_EINVAL;
  struct mpconn__timer t = mpconn__timer(timeout_ms);
  long pause_ns = 1000000L;
  int rc = 0;
  while (!p->reaped && (rc = try_reap(p)) == 0) {
    /* A pidfd becomes readable when the child ends. */
    if (p->pidfd >= 0)
      rc = mpconn__wait_fd(p->pidfd, POLLIN, mpconn__timer_deadline(&t));
    else
      rc = pause_until(mpconn__timer_deadline(&t), &pause_ns);
    if (rc < 0)
      return rc;
  }
  if (!p->reaped)
    return rc;
  if (exitcode)
    *exitcode = p->exitcode;
  return 0;
}

int mpconn_process_kill(mpconn_process *p, int sig) {
  if (!p)
    return MPCONN_EINVAL;
  if (__atomic_load_n(&p->reaped, __ATOMIC_ACQUIRE))
    return 0;
  /* With a pidfd the signal cannot reach another process that took the
   * pid after the child was reaped. */
  int r = p->pidfd >= 0 ? pidfd_kill(p->pidfd, sig) : kill(p->pid, sig);
  if (r < 0 && errno != ESRCH)
    return -errno;
  return 0;
}

void mpconn_process_free(mpconn_process *p) {
  if (!p)
    return;
  /* Never a zombie: a child still running is killed and reaped. */
  if (!p->reaped && mpconn_process_wait(p, NULL, 0) == MPCONN_ETIMEDOUT &&
      mpconn_process_kill(p, SIGKILL) == 0)
    mpconn_process_wait(p, NULL, -1);
  if (p->pidfd >= 0)
    close(p->pidfd);
  free(p);
}
