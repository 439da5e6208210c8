/* SPDX-License-Identifier: MIT */
/*
 * One conversation over a connection: standard input to messages in one
 * thread, messages to standard output in the caller's.
 *
 * The library writes a frame whole before a send returns, so a send to a
 * peer that is not reading waits.  If one thread did both directions, two
 * peers sending to each other could each wait for the other to read, for
 * ever.  A connection may have one sending and one receiving thread, so
 * the sender gets a thread of its own, and the receiver (the caller's
 * thread) decides when the conversation is over.
 */
#include "session.h"

#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum sender_end {
  SENDER_RUNNING, /* not ended yet */
  SENDER_EOF,     /* standard input ended; the sending side is shut down */
  SENDER_STOPPED, /* stopped when asked to */
  SENDER_BROKEN,  /* a line could not be sent: the peer has gone */
  SENDER_FAILED,  /* a bad line, or standard input failed */
};

struct session {
  mpconn *c;
  int fd; /* the socket, for poll() and shutdown() */
  struct tool_input *in;
  int finish[2]; /* receiver to sender: send what is there, then stop */
  int done[2];   /* sender to receiver: the sender has ended */
  pthread_mutex_t lock;
  /* Under lock. */
  bool abort;          /* the sender stops at once, sending nothing more */
  enum sender_end end; /* how the sender ended */
  char error[320];     /* the first failure, without "mpconn: CMD: " */
};

/* Record a failure unless an earlier one is recorded: only the first is
 * reported. */
static void fail(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct session *s, const char *fmt, ...) {
  pthread_mutex_lock(&s->lock);
  if (!s->error[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&s->lock);
}

static bool aborted(struct session *s) {
  pthread_mutex_lock(&s->lock);
  bool a = s->abort;
  pthread_mutex_unlock(&s->lock);
  return a;
}

static void wake(int fd) {
  static const char byte = 0;
  while (write(fd, &byte, 1) < 0 && errno == EINTR)
    ;
}

/* Empty a wake-up pipe: it never holds more than two bytes. */
static void drain(int fd) {
  char bytes[8];
  while (read(fd, bytes, sizeof(bytes)) < 0 && errno == EINTR)
    ;
}

/* The errno of a failed call, as the library reports codes. */
static const char *os_error(void) {
  return mpconn_strerror(errno ? -errno : MPCONN_EINVAL);
}

/* ---- Sending: standard input to messages ------------------------------ */

/* Send every whole line the buffer holds, as `mpconn encode` packs it. */
static enum sender_end send_lines(struct session *s) {
  const char *line;
  size_t len;
  struct tool_error err;
  int rc;
  char text[320];
  while ((rc = tool_input_next(s->in, &line, &len, &err)) != 0) {
    size_t lineno = s->in->lineno;
    if (rc > 0 && aborted(s))
      return SENDER_STOPPED;
    if (rc < 0 || (rc = tool_send_line(s->c, line, len, MPCONN_UNLIMITED,
                                       &err)) == TOOL_LINE_BAD) {
      tool_line_message(text, sizeof(text), lineno, &err);
      fail(s, "%s", text);
      return SENDER_FAILED;
    }
    if (rc == TOOL_LINE_SENT || rc == TOOL_LINE_BLANK)
      continue;
    if (aborted(s))
      return SENDER_STOPPED; /* the receiver shut the socket down */
    if (rc == MPCONN_ENOMEM) {
      fail(s, "line %zu: %s", lineno, mpconn_strerror(rc));
      return SENDER_FAILED;
    }
    if (rc == MPCONN_EPIPE || rc == MPCONN_ECONNRESET) {
      /* Which of the two the system says depends on timing (and on
       * which thread saw the reset first); both mean the peer is gone. */
      fail(s, "sending line %zu: %s", lineno, mpconn_strerror(MPCONN_EPIPE));
      return SENDER_BROKEN;
    }
    fail(s, "sending line %zu: %s", lineno, mpconn_strerror(rc));
    return SENDER_FAILED;
  }
  return SENDER_RUNNING;
}

static enum sender_end run_sender(struct session *s) {
  bool finishing = false;
  for (;;) {
    enum sender_end end = send_lines(s);
    if (end != SENDER_RUNNING)
      return end;
    if (s->in->eof) {
      /* The peer reads end of file (Python: EOFError) and can answer.  No
       * frame is held back: the connection is not corked. */
      (void)shutdown(s->fd, SHUT_WR);
      return SENDER_EOF;
    }
    /* Finishing, only what standard input holds already is sent, but a
     * line it has begun to give is awaited whole: a writer's last line
     * often comes without a newline, a moment before its end of file. */
    bool waiting = !finishing || s->in->start < s->in->len;
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                          {.fd = s->finish[0], .events = POLLIN}};
    if (poll(p, 2, waiting ? -1 : 0) < 0) {
      if (errno == EINTR)
        continue;
      fail(s, "standard input: %s", os_error());
      return SENDER_FAILED;
    }
    if (p[1].revents) {
      drain(s->finish[0]);
      if (aborted(s))
        return SENDER_STOPPED;
      finishing = true;
    }
    if (p[0].revents) {
      int rc = tool_input_read(s->in);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EWOULDBLOCK) {
        fail(s, "standard input: %s", mpconn_strerror(rc));
        return SENDER_FAILED;
      }
    } else if (finishing && s->in->start == s->in->len) {
      return SENDER_STOPPED;
    }
  }
}

static void *sender(void *arg) {
  struct session *s = arg;
  enum sender_end end = run_sender(s);
  pthread_mutex_lock(&s->lock);
  s->end = end;
  pthread_mutex_unlock(&s->lock);
  wake(s->done[1]);
  return NULL;
}

/* ---- Receiving: messages to standard output --------------------------- */

/* Ask the sender to send what standard input holds, then stop. */
static void finish(struct session *s) { wake(s->finish[1]); }

/* Stop the sender now, also when it is waiting inside a send. */
static void stop(struct session *s) {
  pthread_mutex_lock(&s->lock);
  s->abort = true;
  pthread_mutex_unlock(&s->lock);
  (void)shutdown(s->fd, SHUT_RDWR);
  wake(s->finish[1]);
}

static int print(struct session *s, mpconn_msg *m, size_t index) {
  errno = 0;
  int rc = tool_json_write(m, mpconn_msg_value(m), tool_write_stdout, NULL);
  mpconn_msg_free(m);
  if (rc < 0) {
    fail(s, "receiving message %zu: %s", index, mpconn_strerror(rc));
    return -1;
  }
  /* Each line goes out at once: a quiet standard input must not hold
   * back what the peer says. */
  if (rc == TOOL_JSON_WRITE_FAILED || putchar('\n') == EOF ||
      fflush(stdout) != 0) {
    fail(s, "standard output: %s", os_error());
    return -1;
  }
  return 0;
}

static enum sender_end sender_end(struct session *s) {
  pthread_mutex_lock(&s->lock);
  enum sender_end end = s->end;
  pthread_mutex_unlock(&s->lock);
  return end;
}

/* Print what arrives until the conversation is over.  Returns once the
 * sender has ended or has been told to stop. */
static void receive(struct session *s) {
  size_t index = 0;
  bool peer_done = false; /* end of file or a reset: nothing more comes */
  int reset = 0;          /* the reset, reported if nothing else is */
  enum sender_end end = SENDER_RUNNING;
  for (;;) {
    if (end == SENDER_FAILED || end == SENDER_STOPPED)
      break;
    if (end != SENDER_RUNNING && peer_done)
      break; /* both sides are done */
    if (!peer_done) {
      mpconn_msg *m;
      int rc = mpconn_recv(s->c, &m, 0);
      if (rc == 0) {
        if (print(s, m, index++) < 0) {
          stop(s);
          return;
        }
        continue;
      }
      if (rc == MPCONN_EOF || rc == MPCONN_ECONNRESET) {
        peer_done = true;
        if (rc == MPCONN_ECONNRESET)
          reset = rc;
        if (end == SENDER_RUNNING)
          finish(s);
        continue;
      }
      if (rc != MPCONN_ETIMEDOUT) {
        fail(s, "receiving message %zu: %s", index, mpconn_strerror(rc));
        stop(s);
        return;
      }
    }
    /* Nothing whole is buffered: sleep until bytes come or the sender
     * ends (one of the two is still to come). */
    struct pollfd p[2];
    nfds_t n = 0;
    if (end == SENDER_RUNNING)
      p[n++] = (struct pollfd){.fd = s->done[0], .events = POLLIN};
    if (!peer_done)
      p[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
    if (poll(p, n, -1) < 0 && errno != EINTR) {
      fail(s, "%s", os_error());
      stop(s);
      return;
    }
    if (end == SENDER_RUNNING && p[0].revents)
      end = sender_end(s);
  }
  /* A reset means the peer did not read everything; a line the sender
   * could not send says more, and is reported first. */
  if (reset)
    fail(s, "receiving message %zu: %s", index, mpconn_strerror(reset));
}

int tool_session(const char *cmd, mpconn *c, struct tool_input *in) {
  struct session s = {.c = c,
                      .fd = mpconn_fileno(c),
                      .in = in,
                      .finish = {-1, -1},
                      .done = {-1, -1}};
  pthread_mutex_init(&s.lock, NULL);
  tool_json_init();
  pthread_t thread;
  int rc;
  if (pipe2(s.finish, O_CLOEXEC) < 0 || pipe2(s.done, O_CLOEXEC) < 0) {
    fail(&s, "%s", os_error());
  } else if ((rc = pthread_create(&thread, NULL, sender, &s)) != 0) {
    fail(&s, "%s", mpconn_strerror(-rc));
  } else {
    receive(&s);
    pthread_join(thread, NULL);
  }
  for (int i = 0; i < 2; i++) {
    if (s.finish[i] >= 0)
      close(s.finish[i]);
    if (s.done[i] >= 0)
      close(s.done[i]);
  }
  pthread_mutex_destroy(&s.lock);
  if (s.error[0]) {
    fprintf(stderr, "mpconn: %s: %s\n", cmd, s.error);
    return TOOL_FAILED;
  }
  return TOOL_OK;
}
