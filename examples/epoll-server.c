/* SPDX-License-Identifier: MIT */
/*
 * An echo server for many clients on one thread with epoll: the model of a
 * program that runs its own event loop around mpconn.  Slow, silent and
 * non-reading clients cost their own slot and memory, never the others'
 * time.
 *
 *   epoll-server [-t MS] [-p N] ADDRESS CLIENTS [AUTHKEY]
 *   epoll-server            (a demonstration; see server-main.h)
 *
 * The rules it follows (docs/guide.md, "Event loops", has them all):
 *
 *  - The listener's descriptor, mpconn_listener_fileno(), is in the epoll
 *    set for EPOLLIN.  It is readable whenever accept has work to do: a new
 *    client, bytes of a client in its handshake, a handshake's deadline.
 *    Then accept with timeout 0 until MPCONN_ETIMEDOUT; that never blocks,
 *    and every client's handshake advances at once.  MPCONN_EAUTH (a client
 *    failed its handshake) and -EMFILE/-ENFILE (out of descriptors: one
 *    waiting client was turned away) concern one client: carry on.
 *
 *  - Each client's descriptor, mpconn_fileno(), is in the set for EPOLLIN.
 *    When it is readable, receive with timeout 0 until MPCONN_ETIMEDOUT:
 *    the bytes that came may hold several messages, or part of one, and
 *    the connection keeps what it read in its own buffer.  A message left
 *    in that buffer does not make the descriptor readable again, so the
 *    loop never stops halfway (but see "paused" below).
 *
 *  - Sends never block: mpconn_set_send_timeout(c, 0).  A send takes the
 *    whole reply (written, or kept in the connection's send buffer) or
 *    returns MPCONN_EAGAIN having taken nothing, once the send buffer holds
 *    its cap (mpconn_set_send_buffer()).  Then the reply is kept here and
 *    the client is paused: no longer read from, so a client that does not
 *    read its replies cannot make the server hold more than its send
 *    buffer's worth (backpressure).  mpconn_events() says when the send
 *    buffer holds bytes: EPOLLOUT is watched exactly then, and on
 *    writability mpconn_flush() writes what it can, the kept reply is sent
 *    again, and reading resumes — at once, from the connection's buffer,
 *    which may hold whole messages already.
 *
 *  - A client's MPCONN_EOF ends its requests; its connection is closed once
 *    the replies still waiting are written.
 */
#include "server-main.h"

#include <poll.h>
#include <sys/epoll.h>

/* A connected client. */
struct client {
  mpconn *c;
  int fd;            /* mpconn_fileno(c), in the epoll set */
  uint32_t watching; /* the events registered for it */
  void *held;        /* a reply its connection did not take (paused) */
  size_t held_len;
  bool ended; /* it sent its last message (MPCONN_EOF) */
  struct client *prev, *next;
};

struct loop {
  int ep;
  mpconn_listener *l;
  struct server_stats *st;
  struct client *clients; /* every connected client, to free at the end */
};

/* epoll's data for the listener; a client's is its struct client. */
static char listener_tag;

/*
 * Register what the client needs now: EPOLLIN unless it is paused or has
 * ended, EPOLLOUT while its send buffer holds bytes the descriptor did not
 * take.  A connection made of two descriptors (from two pipes) would need
 * mpconn_send_fileno() registered for EPOLLOUT; an accepted one is a
 * socket, one descriptor for both.
 */
static int watch(struct loop *lp, struct client *cl, int op) {
  uint32_t want = 0;
  if (!cl->held && !cl->ended)
    want |= EPOLLIN;
  if (mpconn_events(cl->c) & POLLOUT)
    want |= EPOLLOUT;
  if (op == EPOLL_CTL_MOD && want == cl->watching)
    return 0;
  struct epoll_event ev = {.events = want, .data.ptr = cl};
  if (epoll_ctl(lp->ep, op, cl->fd, &ev) < 0)
    return -errno;
  cl->watching = want;
  return 0;
}

static void client_ready(struct loop *lp, struct client *cl, uint32_t ev);

static void add_client(struct loop *lp, mpconn *c) {
  struct client *cl = calloc(1, sizeof(*cl));
  int rc = cl ? 0 : MPCONN_ENOMEM;
  if (rc == 0)
    rc = mpconn_set_send_timeout(c, 0);
  if (rc == 0)
    rc = mpconn_set_send_buffer(c, SERVER_SEND_BUFFER);
  if (rc == 0) {
    cl->c = c;
    cl->fd = mpconn_fileno(c);
    rc = watch(lp, cl, EPOLL_CTL_ADD);
  }
  if (rc < 0) {
    fprintf(stderr, "epoll-server: dropping a new client: %s\n",
            mpconn_strerror(rc));
    mpconn_free(c);
    free(cl);
    lp->st->served++;
    return;
  }
  cl->next = lp->clients;
  if (cl->next)
    cl->next->prev = cl;
  lp->clients = cl;
  /* The last read of the handshake may have brought the client's first
   * messages too: they wait in the connection's buffer, and no EPOLLIN
   * would announce them.  Serve them now. */
  client_ready(lp, cl, 0);
}

static void free_client(struct loop *lp, struct client *cl) {
  epoll_ctl(lp->ep, EPOLL_CTL_DEL, cl->fd, NULL);
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    lp->clients = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  mpconn_free(cl->c);
  free(cl->held);
  free(cl);
}

/* The client is done (MPCONN_EOF, all its replies written) or failed. */
static void finish(struct loop *lp, struct client *cl, int rc) {
  if (rc != MPCONN_EOF)
    fprintf(stderr, "epoll-server: dropping a client: %s\n",
            mpconn_strerror(rc));
  free_client(lp, cl);
  lp->st->served++;
}

/* Send a reply back; @data is the loop's to free, or to keep when the
 * connection does not take it now. */
static int reply(struct loop *lp, struct client *cl, void *data, size_t len) {
  int rc = mpconn_send_bytes(cl->c, data, len);
  if (rc == MPCONN_EAGAIN) {
    /* Nothing was taken: keep it, and stop reading this client. */
    cl->held = data;
    cl->held_len = len;
    lp->st->paused++;
    return 0;
  }
  free(data);
  if (rc == 0)
    lp->st->echoed++;
  return rc;
}

/* Answer every whole message the client has sent, until none is left,
 * it has ended, or it is paused.  0 or the code it failed with. */
static int serve_messages(struct loop *lp, struct client *cl) {
  while (!cl->held) {
    void *data;
    size_t len;
    int rc = mpconn_recv_bytes(cl->c, &data, &len, MPCONN_UNLIMITED, 0);
    if (rc == MPCONN_ETIMEDOUT)
      return 0; /* no whole message left: wait for EPOLLIN */
    if (rc == MPCONN_EOF) {
      cl->ended = true; /* no more requests; replies may still wait */
      return 0;
    }
    if (rc < 0)
      return rc;
    rc = reply(lp, cl, data, len);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Writable: write what waits in the send buffer, then the kept reply. */
static int drain(struct loop *lp, struct client *cl) {
  int rc = mpconn_flush(cl->c);
  if (rc < 0 && rc != MPCONN_EAGAIN)
    return rc; /* MPCONN_EPIPE, MPCONN_ECONNRESET: the client is gone */
  if (cl->held) {
    void *data = cl->held;
    cl->held = NULL;
    return reply(lp, cl, data, cl->held_len);
  }
  return 0;
}

static void client_ready(struct loop *lp, struct client *cl, uint32_t ev) {
  int rc = 0;
  /* EPOLLERR and EPOLLHUP come unasked: the calls below say what they
   * mean (MPCONN_EOF, MPCONN_ECONNRESET, MPCONN_EPIPE). */
  if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
    rc = drain(lp, cl);
  /* Also after a paused client's reply went: its connection may hold
   * whole messages already, which no EPOLLIN would announce. */
  if (rc == 0 && !cl->ended)
    rc = serve_messages(lp, cl);
  if (rc == 0 && cl->ended && !cl->held && !(mpconn_events(cl->c) & POLLOUT))
    rc = MPCONN_EOF; /* every reply is out: done */
  if (rc == 0)
    rc = watch(lp, cl, EPOLL_CTL_MOD);
  if (rc < 0)
    finish(lp, cl, rc);
}

/* The listener's descriptor is readable: accept until nothing is left to
 * do now. */
static void accept_ready(struct loop *lp) {
  for (;;) {
    mpconn *c;
    int rc = mpconn_listener_accept(lp->l, &c, 0);
    if (rc == MPCONN_ETIMEDOUT)
      return;
    if (rc == 0)
      add_client(lp, c);
    else if (rc == MPCONN_EAUTH)
      lp->st->refused++; /* that client is gone; the listener carries on */
    else if (rc == -EMFILE || rc == -ENFILE)
      server_turned_away(lp->st, rc);
    else if (rc == MPCONN_ENOMEM)
      return; /* that client is gone; try again at the next wake-up */
    else
      server_die("accept", rc);
  }
}

static int serve(mpconn_listener *l, const struct server_goal *goal,
                 struct server_stats *st) {
  struct loop lp = {.l = l, .st = st};
  lp.ep = epoll_create1(EPOLL_CLOEXEC);
  if (lp.ep < 0)
    return -errno;
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
  if (epoll_ctl(lp.ep, EPOLL_CTL_ADD, mpconn_listener_fileno(l), &lev) < 0) {
    int rc = -errno;
    close(lp.ep);
    return rc;
  }
  int rc = 0;
  while (!server_done(l, goal, st)) {
    struct epoll_event ev[64];
    int n = epoll_wait(lp.ep, ev, 64, -1);
    if (n < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
    /* Each descriptor is reported once per wait, so a client finished
     * here has no later event in this batch. */
    for (int i = 0; i < n; i++) {
      if (ev[i].data.ptr == &listener_tag)
        accept_ready(&lp);
      else
        client_ready(&lp, ev[i].data.ptr, ev[i].events);
    }
  }
  /* Clients beyond the count asked for are let go. */
  while (lp.clients)
    free_client(&lp, lp.clients);
  close(lp.ep);
  return rc;
}

int main(int argc, char **argv) {
  return server_main(argc, argv, "epoll-server");
}
