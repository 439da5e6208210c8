/* SPDX-License-Identifier: MIT */
/*
 * Spawning child programs (lib/spawn.c): what the child gets (descriptors,
 * environment, signal state), exit codes and signals, timeouts, handles
 * freed without waiting, bad arguments, and spawning from several threads
 * at once.  The child is spawn-child.c, whose path is the first argument.
 */
#include "test-util.h"

#include <pthread.h>
#include <signal.h>

static char child_path[4096];

/* argv for spawn-child: up to three words after its own name. */
#define ARGV(...) ((char *const[]){child_path, __VA_ARGS__, NULL})

struct report {
  char fds[128], env[32];
  int env_count;
  bool sigmask_empty, sigpipe_default;
};

/* Receive spawn-child's report. */
static void get_report(mpconn *c, struct report *r) {
  mpconn_msg *m;
  assert_int_equal(mpconn_recv(c, &m, 10000), 0);
  mpconn_error err;
  int rc = mpconn_unpackf(
      mpconn_msg_value(m), &err, "{s:s, s:s, s:i, s:b, s:b}", "fds", r->fds,
      sizeof(r->fds), "env", r->env, sizeof(r->env), "env_count", &r->env_count,
      "sigmask_empty", &r->sigmask_empty, "sigpipe_default",
      &r->sigpipe_default);
  if (rc < 0)
    fail_msg("report: %s", err.text);
  mpconn_msg_free(m);
}

/* Close @c, then the child must exit with status 0. */
static void finish(mpconn_process *p, mpconn *c) {
  mpconn_free(c);
  int code = -1000;
  assert_int_equal(mpconn_process_wait(p, &code, 10000), 0);
  assert_int_equal(code, 0);
  mpconn_process_free(p);
}

/* No child of this process is left, reaped or not. */
static void expect_no_children(void) {
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
}

/* The child has its end as descriptor 3 and nothing else, whatever this
 * process has open: not even descriptors without close-on-exec. */
static void test_only_its_end(void **state) {
  (void)state;
  int leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
  assert_true(leaky > 2);
  int leaky2 = dup2(leaky, 40);
  assert_int_equal(leaky2, 40);
  int before = count_fds();
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("report"), NULL), 0);
  assert_non_null(p);
  assert_non_null(c);
  assert_true(mpconn_process_pid(p) > 0);
  /* This process holds its end and the pidfd, nothing else new. */
  assert_true(count_fds() <= before + 2);
  struct report r;
  get_report(c, &r);
  assert_string_equal(r.fds, "0,1,2,3");
  assert_string_equal(r.env, "3");
  assert_int_equal(r.env_count, 1);
  finish(p, c);
  assert_int_equal(count_fds(), before);
  close(leaky);
  close(leaky2);
  expect_no_children();
}

/* MPCONN_SPAWN_KEEP_FDS: descriptors without close-on-exec stay. */
static void test_keep_fds(void **state) {
  (void)state;
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_int_equal(dup2(null, 41), 41); /* without close-on-exec */
  assert_int_equal(fcntl(null, F_DUPFD_CLOEXEC, 42), 42);
  close(null);
  mpconn_process *p;
  mpconn *c;
  mpconn_spawn_options o = {.flags = MPCONN_SPAWN_KEEP_FDS};
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("report"), &o), 0);
  struct report r;
  get_report(c, &r);
  /* 41, and what this process inherited without close-on-exec itself. */
  char want[256] = "0,1,2,3";
  for (int fd = 4; fd < 1024; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC))
      snprintf(want + strlen(want), sizeof(want) - strlen(want), ",%d", fd);
  }
  assert_string_equal(r.fds, want);
  finish(p, c);
  close(41);
  close(42);
}

/* Values both ways over the new pair. */
static void test_echo(void **state) {
  (void)state;
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("echo"), NULL), 0);
  for (int i = 0; i < 100; i++) {
    assert_int_equal(mpconn_sendf(c, "[i, s]", i, "spam"), 0);
    mpconn_msg *m;
    assert_int_equal(mpconn_recv(c, &m, 10000), 0);
    int got = -1;
    char s[8];
    assert_int_equal(
        mpconn_unpackf(mpconn_msg_value(m), NULL, "[i, s]", &got, s, sizeof(s)),
        0);
    assert_int_equal(got, i);
    mpconn_msg_free(m);
  }
  finish(p, c);
}

/* Exit statuses and signals, as Python's exitcode gives them. */
static void test_exit_codes(void **state) {
  (void)state;
  mpconn_process *p;
  mpconn *c;
  int code = -1000;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "3"), NULL), 0);
  assert_int_equal(mpconn_process_wait(p, &code, 10000), 0);
  assert_int_equal(code, 3);
  /* Waiting again gives the same at once. */
  code = -1000;
  assert_int_equal(mpconn_process_wait(p, &code, 0), 0);
  assert_int_equal(code, 3);
  assert_int_equal(mpconn_process_wait(p, NULL, -1), 0);
  /* The end the child had is closed: end of file here. */
  void *data;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(c, &data, &n, MPCONN_UNLIMITED, 1000),
                   MPCONN_EOF);
  /* A signal to a reaped child is no error and reaches nobody. */
  assert_int_equal(mpconn_process_kill(p, SIGKILL), 0);
  mpconn_process_free(p);
  mpconn_free(c);

  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "255"), NULL), 0);
  assert_int_equal(mpconn_process_wait(p, &code, 10000), 0);
  assert_int_equal(code, 255);
  mpconn_process_free(p);
  mpconn_free(c);

  assert_int_equal(mpconn_spawn(&p, &c, ARGV("raise", "15"), NULL), 0);
  assert_int_equal(mpconn_process_wait(p, &code, 10000), 0);
  assert_int_equal(code, -SIGTERM);
  mpconn_process_free(p);
  mpconn_free(c);
  expect_no_children();
}

/* Timeouts, terminate() and kill(). */
static void test_timeouts_and_kill(void **state) {
  (void)state;
  mpconn_process *p;
  mpconn *c;
  int code = -1000;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("sleep"), NULL), 0);
  assert_int_equal(mpconn_process_wait(p, &code, 0), MPCONN_ETIMEDOUT);
  assert_int_equal(mpconn_process_wait(p, &code, 50), MPCONN_ETIMEDOUT);
  assert_int_equal(code, -1000);
  assert_int_equal(mpconn_process_kill(p, SIGTERM), 0);
  assert_int_equal(mpconn_process_wait(p, &code, 10000), 0);
  assert_int_equal(code, -SIGTERM);
  mpconn_process_free(p);
  mpconn_free(c);

  assert_int_equal(mpconn_spawn(&p, &c, ARGV("sleep"), NULL), 0);
  assert_int_equal(mpconn_process_kill(p, 12345), -EINVAL);
  assert_int_equal(mpconn_process_kill(p, SIGKILL), 0);
  assert_int_equal(mpconn_process_wait(p, &code, -1), 0);
  assert_int_equal(code, -SIGKILL);
  mpconn_process_free(p);
  mpconn_free(c);
  expect_no_children();
}

/* A handle freed without waiting leaves no zombie: a running child is
 * killed and reaped, an ended one reaped. */
static void test_free_without_wait(void **state) {
  (void)state;
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("sleep"), NULL), 0);
  pid_t pid = mpconn_process_pid(p);
  mpconn_process_free(p);
  assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
  assert_int_equal(kill(pid, 0), -1); /* gone, not a zombie */
  mpconn_free(c);

  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "0"), NULL), 0);
  pid = mpconn_process_pid(p);
  void *data;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(c, &data, &n, MPCONN_UNLIMITED, 10000),
                   MPCONN_EOF);
  mpconn_process_free(p);
  assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
  assert_int_equal(errno, ECHILD);
  mpconn_free(c);
  mpconn_process_free(NULL);
  expect_no_children();
}

/*
 * Whether this process runs under valgrind, which runs posix_spawn()'s
 * child as a fork(): the child's failure to exec cannot reach the parent
 * then, and comes back as exit status 127 (glibc's) instead.
 */
static bool under_valgrind(void) {
  const char *preload = getenv("LD_PRELOAD");
  return preload && strstr(preload, "vgpreload");
}

/* Spawning @argv fails with @code, or under valgrind the child exits with
 * status 127. */
static void expect_cannot_run(char *const argv[], int code) {
  mpconn_process *p = (mpconn_process *)1;
  mpconn *c = (mpconn *)1;
  int rc = mpconn_spawn(&p, &c, argv, NULL);
  if (under_valgrind() && rc == 0) {
    int status = -1000;
    assert_int_equal(mpconn_process_wait(p, &status, 10000), 0);
    assert_int_equal(status, 127);
    mpconn_process_free(p);
    mpconn_free(c);
    return;
  }
  assert_int_equal(rc, code);
  assert_null(p);
  assert_null(c);
}

/* A program that cannot run is reported by the call; nothing is left. */
static void test_cannot_run(void **state) {
  (void)state;
  int before = count_fds();
  char *const missing[] = {"/nonexistent/program", NULL};
  expect_cannot_run(missing, -ENOENT);
  char *const not_in_path[] = {"mpconn-no-such-program", NULL};
  expect_cannot_run(not_in_path, -ENOENT);
  char *const not_executable[] = {"/dev/null", NULL};
  expect_cannot_run(not_executable, -EACCES);
  assert_int_equal(count_fds(), before);
  expect_no_children();
}

static void test_bad_arguments(void **state) {
  (void)state;
  int before = count_fds();
  mpconn_process *p;
  mpconn *c;
  char *const empty[] = {NULL};
  assert_int_equal(mpconn_spawn(NULL, &c, ARGV("exit", "0"), NULL),
                   MPCONN_EINVAL);
  assert_int_equal(mpconn_spawn(&p, &c, NULL, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_spawn(&p, &c, empty, NULL), MPCONN_EINVAL);
  assert_int_equal(mpconn_spawn(&p, NULL, ARGV("exit", "0"), NULL),
                   MPCONN_EINVAL);
  mpconn_spawn_options o = {.flags = 0x10};
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "0"), &o), MPCONN_EINVAL);
  o = (mpconn_spawn_options){.fd_env = "A=B"};
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "0"), &o), MPCONN_EINVAL);
  o = (mpconn_spawn_options){.fd_env = ""};
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "0"), &o), MPCONN_EINVAL);
  assert_null(p);
  assert_null(c);
  /* A connection given is stolen even when the call fails. */
  mpconn *x, *y;
  assert_int_equal(mpconn_pipe(&x, &y, true), 0);
  o = (mpconn_spawn_options){.conn = y, .fd_env = ""};
  assert_int_equal(mpconn_spawn(&p, NULL, ARGV("exit", "0"), &o),
                   MPCONN_EINVAL);
  void *data;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(x, &data, &n, MPCONN_UNLIMITED, 1000),
                   MPCONN_EOF);
  mpconn_free(x);
  assert_int_equal(mpconn_pipe(&x, &y, true), 0);
  assert_int_equal(mpconn_close(y), 0);
  o = (mpconn_spawn_options){.conn = y};
  assert_int_equal(mpconn_spawn(&p, NULL, ARGV("exit", "0"), &o),
                   MPCONN_ECLOSED);
  mpconn_free(x);
  assert_int_equal(mpconn_process_wait(NULL, NULL, 0), MPCONN_EINVAL);
  assert_int_equal(mpconn_process_kill(NULL, SIGTERM), MPCONN_EINVAL);
  assert_int_equal(mpconn_process_pid(NULL), MPCONN_EINVAL);
  assert_int_equal(count_fds(), before);
  expect_no_children();
}

/* The environment given, another variable name, an old entry replaced. */
static void test_environment(void **state) {
  (void)state;
  char *const env[] = {"A=1", "CHILD_FD=99", "CHILD_FD=98", "B=2", NULL};
  mpconn_spawn_options o = {.envp = env, .fd_env = "CHILD_FD"};
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("report", "CHILD_FD"), &o), 0);
  struct report r;
  get_report(c, &r);
  assert_string_equal(r.env, "3");
  assert_int_equal(r.env_count, 1);
  finish(p, c);
  /* @path runs another file than argv[0] names. */
  o = (mpconn_spawn_options){.path = child_path};
  char *const argv[] = {"renamed", "report", NULL};
  assert_int_equal(mpconn_spawn(&p, &c, argv, &o), 0);
  get_report(c, &r);
  assert_string_equal(r.env, "3");
  finish(p, c);
  /* A name without '/' is looked up in PATH. */
  char *const t[] = {"true", NULL};
  assert_int_equal(mpconn_spawn(&p, &c, t, NULL), 0);
  finish(p, c);
}

/* Handing over a connection the caller made: one direction, or two
 * descriptors. */
static void test_handover_conn(void **state) {
  (void)state;
  mpconn *r, *w;
  assert_int_equal(mpconn_pipe(&r, &w, false), 0);
  mpconn_spawn_options o = {.conn = w};
  mpconn_process *p;
  mpconn *c = (mpconn *)1;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("write", "5"), &o), 0);
  assert_null(c);
  for (int i = 0; i < 5; i++) {
    mpconn_msg *m;
    assert_int_equal(mpconn_recv(r, &m, 10000), 0);
    int got = -1;
    assert_int_equal(mpconn_unpackf(mpconn_msg_value(m), NULL, "i", &got), 0);
    assert_int_equal(got, i);
    mpconn_msg_free(m);
  }
  /* The child's end was the only writer left. */
  void *data;
  size_t n;
  assert_int_equal(mpconn_recv_bytes(r, &data, &n, MPCONN_UNLIMITED, 10000),
                   MPCONN_EOF);
  finish(p, r);

  /* Two pipes: "3,4" in the child, and the report over them. */
  int down[2], up[2];
  assert_int_equal(pipe2(down, O_CLOEXEC), 0);
  assert_int_equal(pipe2(up, O_CLOEXEC), 0);
  mpconn *mine, *theirs;
  assert_int_equal(mpconn_from_fds(&mine, up[0], down[1]), 0);
  assert_int_equal(mpconn_from_fds(&theirs, down[0], up[1]), 0);
  o = (mpconn_spawn_options){.conn = theirs};
  assert_int_equal(mpconn_spawn(&p, NULL, ARGV("report"), &o), 0);
  struct report rep;
  get_report(mine, &rep);
  assert_string_equal(rep.env, "3,4");
  assert_string_equal(rep.fds, "0,1,2,3,4");
  finish(p, mine);
}

/* The child's signal state does not depend on this thread's. */
static void test_signal_state(void **state) {
  (void)state;
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_chld, chld;
  assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
  assert_int_equal(sigaction(SIGCHLD, NULL, &old_chld), 0);
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("report"), NULL), 0);
  struct report r;
  get_report(c, &r);
  assert_true(r.sigmask_empty);
  assert_true(r.sigpipe_default);
  finish(p, c);
  /* Nothing changed here: the mask, SIGPIPE, SIGCHLD. */
  sigset_t now;
  assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &now), 0);
  assert_true(sigismember(&now, SIGUSR1));
  assert_true(sigismember(&now, SIGTERM));
  struct sigaction sa;
  assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
  assert_ptr_equal(sa.sa_handler, SIG_IGN);
  assert_int_equal(sigaction(SIGCHLD, NULL, &chld), 0);
  assert_ptr_equal(chld.sa_handler, old_chld.sa_handler);
  assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
  assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* With SIGCHLD ignored the kernel reaps children: no status to get. */
static void test_sigchld_ignored(void **state) {
  (void)state;
  struct sigaction ign = {.sa_handler = SIG_IGN}, old;
  assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
  mpconn_process *p;
  mpconn *c;
  assert_int_equal(mpconn_spawn(&p, &c, ARGV("exit", "7"), NULL), 0);
  int code = -1000;
  assert_int_equal(mpconn_process_wait(p, &code, 10000), -ECHILD);
  assert_int_equal(code, -1000);
  mpconn_process_free(p);
  mpconn_free(c);
  assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

/* Children spawned by several threads at once get only their own end. */
#define NTHREADS 4
#define PER_THREAD 8

static void *spawner(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    mpconn_process *p;
    mpconn *c;
    if (mpconn_spawn(&p, &c, ARGV("report"), NULL) != 0)
      return "spawn";
    struct report r;
    mpconn_msg *m;
    const char *bad = NULL;
    if (mpconn_recv(c, &m, 10000) != 0)
      bad = "recv";
    else if (mpconn_unpackf(mpconn_msg_value(m), NULL, "{s:s, *}", "fds", r.fds,
                            sizeof(r.fds)) != 0 ||
             strcmp(r.fds, "0,1,2,3") != 0)
      bad = "descriptors";
    if (!bad)
      mpconn_msg_free(m);
    mpconn_free(c);
    int code = -1;
    if (mpconn_process_wait(p, &code, 10000) != 0 || code != 0)
      bad = bad ? bad : "exit";
    mpconn_process_free(p);
    if (bad)
      return (void *)bad;
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  pthread_t t[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, spawner, NULL), 0);
  for (int i = 0; i < NTHREADS; i++) {
    void *res;
    assert_int_equal(pthread_join(t[i], &res), 0);
    if (res)
      fail_msg("thread %d: %s", i, (const char *)res);
  }
  expect_no_children();
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SPAWN_CHILD\n", argv[0]);
    return 2;
  }
  snprintf(child_path, sizeof(child_path), "%s", argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_only_its_end),
      cmocka_unit_test(test_keep_fds),
      cmocka_unit_test(test_echo),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_timeouts_and_kill),
      cmocka_unit_test(test_free_without_wait),
      cmocka_unit_test(test_cannot_run),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_environment),
      cmocka_unit_test(test_handover_conn),
      cmocka_unit_test(test_signal_state),
      cmocka_unit_test(test_sigchld_ignored),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
