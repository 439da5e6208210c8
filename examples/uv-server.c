/* SPDX-License-Identifier: MIT */
/*
 * The echo server of epoll-server.c on libuv's loop: what a program that
 * already runs libuv (or libevent, or GLib's main loop) does to serve
 * mpconn connections.  Built only when libuv is found (Debian:
 * libuv1-dev).
 *
 *   uv-server [-t MS] [-p N] ADDRESS CLIENTS [AUTHKEY]
 *   uv-server               (a demonstration; see server-main.h)
 *
 * mpconn does the I/O; libuv only watches descriptors, with one uv_poll_t
 * each: the listener's, mpconn_listener_fileno(), for UV_READABLE, and each
 * client's, mpconn_fileno(), for UV_READABLE unless the client is paused
 * and for UV_WRITABLE while mpconn_events() has POLLOUT.  The rules are
 * those of epoll-server.c, whose comments say why:
 *
 *  - listener readable: accept with timeout 0 until MPCONN_ETIMEDOUT,
 *    carrying on after MPCONN_EAUTH and -EMFILE/-ENFILE;
 *  - client readable: receive with timeout 0 until MPCONN_ETIMEDOUT;
 *  - sends with mpconn_set_send_timeout(c, 0); on MPCONN_EAGAIN keep the
 *    reply and stop reading the client until mpconn_flush(), on
 *    writability, has made room and the reply has gone.
 *
 * uv_poll_init() makes the descriptor it watches non-blocking; mpconn
 * works the same either way.  A descriptor must not be closed while a
 * uv_poll_t watches it: a client's connection is freed in the close
 * callback of its handle.
 */
#include "server-main.h"

#include <poll.h>
#include <uv.h>

struct server;

/* A connected client. */
struct client {
  uv_poll_t poll; /* first: the handle's address is the client's */
  mpconn *c;
  struct server *s;
  int watching; /* the UV_ events the handle watches */
  void *held;   /* a reply its connection did not take (paused) */
  size_t held_len;
  bool ended; /* it sent its last message (MPCONN_EOF) */
};

struct server {
  uv_loop_t loop;
  uv_poll_t accepting;
  mpconn_listener *l;
  const struct server_goal *goal;
  struct server_stats *st;
  int rc; /* what ended the loop early, or 0 */
};

static void on_client(uv_poll_t *h, int status, int events);

static void client_closed(uv_handle_t *h) {
  struct client *cl = (struct client *)h;
  mpconn_free(cl->c);
  free(cl->held);
  free(cl);
}

/* For uv_walk(): close a client's handle (not the listener's, @arg). */
static void close_client(uv_handle_t *h, void *arg) {
  if (h != arg && !uv_is_closing(h))
    uv_close(h, client_closed);
}

/* Once the goal is met, close every handle: uv_run() then returns. */
static void check_done(struct server *s) {
  uv_handle_t *accepting = (uv_handle_t *)&s->accepting;
  if (uv_is_closing(accepting) || !server_done(s->l, s->goal, s->st))
    return;
  uv_close(accepting, NULL);
  uv_walk(&s->loop, close_client, accepting);
}

/* Watch what the client needs now (see watch() in epoll-server.c). */
static int watch(struct client *cl) {
  int want = 0;
  if (!cl->held && !cl->ended)
    want |= UV_READABLE;
  if (mpconn_events(cl->c) & POLLOUT)
    want |= UV_WRITABLE;
  if (want == cl->watching)
    return 0;
  int rc = uv_poll_start(&cl->poll, want, on_client);
  if (rc == 0)
    cl->watching = want;
  return rc;
}

static void finish(struct client *cl, int rc) {
  if (rc != MPCONN_EOF)
    fprintf(stderr, "uv-server: dropping a client: %s\n", mpconn_strerror(rc));
  cl->s->st->served++;
  uv_close((uv_handle_t *)&cl->poll, client_closed);
  check_done(cl->s);
}

static int reply(struct client *cl, void *data, size_t len) {
  int rc = mpconn_send_bytes(cl->c, data, len);
  if (rc == MPCONN_EAGAIN) {
    cl->held = data; /* nothing was taken: keep it, stop reading */
    cl->held_len = len;
    cl->s->st->paused++;
    return 0;
  }
  free(data);
  if (rc == 0)
    cl->s->st->echoed++;
  return rc;
}

static int serve_messages(struct client *cl) {
  while (!cl->held) {
    void *data;
    size_t len;
    int rc = mpconn_recv_bytes(cl->c, &data, &len, MPCONN_UNLIMITED, 0);
    if (rc == MPCONN_ETIMEDOUT)
      return 0;
    if (rc == MPCONN_EOF) {
      cl->ended = true;
      return 0;
    }
    if (rc < 0)
      return rc;
    rc = reply(cl, data, len);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int drain(struct client *cl) {
  int rc = mpconn_flush(cl->c);
  if (rc < 0 && rc != MPCONN_EAGAIN)
    return rc;
  if (cl->held) {
    void *data = cl->held;
    cl->held = NULL;
    return reply(cl, data, cl->held_len);
  }
  return 0;
}

static void on_client(uv_poll_t *h, int status, int events) {
  struct client *cl = (struct client *)h;
  /* An error on the descriptor (libuv stops the handle and says
   * UV_EBADF): mpconn's calls say which. */
  if (status < 0) {
    events = UV_READABLE | UV_WRITABLE;
    cl->watching = 0;
  }
  int rc = 0;
  if (events & UV_WRITABLE)
    rc = drain(cl);
  if (rc == 0 && !cl->ended)
    rc = serve_messages(cl);
  if (rc == 0 && cl->ended && !cl->held && !(mpconn_events(cl->c) & POLLOUT))
    rc = MPCONN_EOF;
  if (rc == 0 && watch(cl) < 0)
    rc = MPCONN_ENOMEM;
  if (rc < 0)
    finish(cl, rc);
}

static void add_client(struct server *s, mpconn *c) {
  struct client *cl = calloc(1, sizeof(*cl));
  int rc = cl ? 0 : MPCONN_ENOMEM;
  if (rc == 0)
    rc = mpconn_set_send_timeout(c, 0);
  if (rc == 0)
    rc = mpconn_set_send_buffer(c, SERVER_SEND_BUFFER);
  if (rc == 0 && uv_poll_init(&s->loop, &cl->poll, mpconn_fileno(c)) < 0)
    rc = MPCONN_ENOMEM;
  if (rc < 0) {
    fprintf(stderr, "uv-server: dropping a new client: %s\n",
            mpconn_strerror(rc));
    mpconn_free(c);
    free(cl);
    s->st->served++;
    return;
  }
  cl->c = c;
  cl->s = s;
  /* Its first messages may be in its connection's buffer already, which
   * no UV_READABLE would announce: serve them now (and start watching). */
  on_client(&cl->poll, 0, 0);
}

static void on_listener(uv_poll_t *h, int status, int events) {
  (void)events;
  struct server *s = h->data;
  if (status < 0) {
    s->rc = MPCONN_EBADF;
    uv_stop(&s->loop);
    return;
  }
  for (;;) {
    mpconn *c;
    int rc = mpconn_listener_accept(s->l, &c, 0);
    if (rc == MPCONN_ETIMEDOUT)
      break;
    if (rc == 0)
      add_client(s, c);
    else if (rc == MPCONN_EAUTH)
      s->st->refused++;
    else if (rc == -EMFILE || rc == -ENFILE)
      server_turned_away(s->st, rc);
    else if (rc == MPCONN_ENOMEM)
      break;
    else
      server_die("accept", rc);
  }
  check_done(s);
}

static int serve(mpconn_listener *l, const struct server_goal *goal,
                 struct server_stats *st) {
  struct server s = {.l = l, .goal = goal, .st = st};
  int rc = uv_loop_init(&s.loop);
  if (rc < 0)
    return rc; /* libuv's codes are -errno on Unix */
  uv_poll_init(&s.loop, &s.accepting, mpconn_listener_fileno(l));
  s.accepting.data = &s;
  rc = uv_poll_start(&s.accepting, UV_READABLE, on_listener);
  if (rc == 0) {
    check_done(&s); /* nothing to wait for: CLIENTS 0 */
    uv_run(&s.loop, UV_RUN_DEFAULT);
  }
  uv_handle_t *accepting = (uv_handle_t *)&s.accepting;
  if (!uv_is_closing(accepting))
    uv_close(accepting, NULL);
  uv_walk(&s.loop, close_client, accepting);
  uv_run(&s.loop, UV_RUN_DEFAULT); /* the close callbacks */
  uv_loop_close(&s.loop);
  return rc < 0 ? rc : s.rc;
}

int main(int argc, char **argv) { return server_main(argc, argv, "uv-server"); }
