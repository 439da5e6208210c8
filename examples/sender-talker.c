/* SPDX-License-Identifier: MIT */
/*
 * Lists, dicts and sets between a parent and its children.  The C version
 * of:
 *
 *     def sender(pipe):
 *         pipe.send(['spam', 42, 'eggs'])
 *         pipe.close()
 *
 *     def talker(pipe):
 *         pipe.send(dict(name='bob', spam=42))
 *         reply = pipe.recv()
 *         print('talker got:', reply)
 *
 *     parent_end, child_end = Pipe()
 *     Process(target=sender, args=(child_end,)).start()
 *     print('parent got:', parent_end.recv())
 *     parent_end.close()
 *
 *     parent_end, child_end = Pipe()
 *     child = Process(target=talker, args=(child_end,))
 *     child.start()
 *     print('parent got:', parent_end.recv())
 *     parent_end.send({x * 2 for x in 'spam'})
 *     child.join()
 *     print('parent exit')
 *
 * Python prints a set in an order that changes from run to run; the talker
 * prints the members sorted, so the output is always the same.  The parent
 * flushes its line before sending the set: the talker's line can only come
 * after it.
 *
 * Prints:
 *     parent got: ['spam', 42, 'eggs']
 *     parent got: {'name': 'bob', 'spam': 42}
 *     talker got: {'aa', 'mm', 'pp', 'ss'}
 *     parent exit
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpconn.h"
#include "print-value.h"

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", what, mpconn_strerror(rc));
    exit(EXIT_FAILURE);
  }
}

static void sender(mpconn *conn) {
  check(mpconn_sendf(conn, "[s, i, s]", "spam", 42, "eggs"), "sender: send");
  check(mpconn_close(conn), "sender: close");
}

static void talker(mpconn *conn) {
  check(mpconn_sendf(conn, "{s:s, s:i}", "name", "bob", "spam", 42),
        "talker: send");
  mpconn_msg *reply;
  check(mpconn_recv(conn, &reply, -1), "talker: recv");
  /* The members live in the message; print_set() sorts a copy of them. */
  msgpack_object_array members;
  check(mpconn_msg_set_members(reply, mpconn_msg_value(reply), &members),
        "talker: not a set");
  printf("talker got: ");
  check(print_set(stdout, &members), "talker: print");
  printf("\n");
  mpconn_msg_free(reply);
}

/* Run fn(child_end) in a child, which first frees parent_end. */
static pid_t start(void (*fn)(mpconn *), mpconn *child_end,
                   mpconn *parent_end) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    check(-errno, "fork");
  if (pid == 0) {
    mpconn_free(parent_end);
    fn(child_end);
    mpconn_free(child_end);
    exit(EXIT_SUCCESS);
  }
  mpconn_free(child_end);
  return pid;
}

/* Reap a child; whether it exited with status 0. */
static bool join(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) < 0)
    check(-errno, "waitpid");
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* print('parent got:', c.recv()); 0 or a negative code. */
static int print_received(mpconn *c) {
  mpconn_msg *msg;
  int rc = mpconn_recv(c, &msg, -1);
  if (rc < 0)
    return rc;
  printf("parent got: ");
  rc = print_value(stdout, mpconn_msg_value(msg));
  mpconn_msg_free(msg);
  return rc;
}

int main(void) {
  mpconn *parent_end, *child_end;
  check(mpconn_pipe(&parent_end, &child_end, true), "pipe");
  pid_t pid = start(sender, child_end, parent_end);
  int rc = print_received(parent_end);
  mpconn_free(parent_end);
  bool ok = join(pid);
  check(rc, "parent: recv");

  check(mpconn_pipe(&parent_end, &child_end, true), "pipe");
  pid = start(talker, child_end, parent_end);
  rc = print_received(parent_end);
  fflush(stdout);
  if (rc == 0)
    rc = mpconn_sendf(parent_end, "<s, s, s, s>", "ss", "pp", "aa", "mm");
  /* Freed before join(): a talker still waiting would get MPCONN_EOF. */
  mpconn_free(parent_end);
  ok = join(pid) && ok;
  check(rc, "parent");
  if (!ok) {
    fprintf(stderr, "child failed\n");
    return EXIT_FAILURE;
  }
  printf("parent exit\n");
  return EXIT_SUCCESS;
}
