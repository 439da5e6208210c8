/* SPDX-License-Identifier: MIT */
/*
 * Accepting clients: every client that has connected and not finished its
 * handshake is kept in progress at once, each with its own deadline, so a
 * silent or slow client costs its slot and nothing else.
 *
 * The listener's epoll instance holds the listening socket, each pending
 * client's socket and a timer armed at the earliest handshake deadline, so
 * it is readable exactly when mpconn_listener_accept() has work to do:
 * that is the descriptor mpconn_listener_fileno() hands to event loops.
 * A call takes in every client waiting in the backlog, runs the handshake
 * of those whose bytes have arrived, retires those past their deadline,
 * and returns the first client that is done (or failed).
 *
 * Out of descriptors (EMFILE, ENFILE), accept() would fail at once for as
 * long as a client waits in the backlog: the listener keeps one spare
 * descriptor, and then closes it, accepts the client, drops it, and opens
 * the spare again, so that a caller retrying does not spin.
 */
#include "mpconn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Events taken from the epoll instance per wait. */
#define EVENTS 64

/* A client whose handshake is under way. */
struct mpconn__pending {
  mpconn *c;
  struct mpconn__handshake hs;
  int64_t deadline;
};

/* epoll data of the listening socket and the timer; a pending client's is
 * its struct mpconn__pending. */
static char listening_tag, timer_tag;

static int reserve_open(void) {
  return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Make the epoll instance, the timer and the spare descriptor of this
 * process.  In a child forked from the process that made them, those are
 * shared with the parent: the child makes its own, and forgets the
 * parent's pending clients (its copies of them are closed). */
int mpconn__accept_init(mpconn_listener *l) {
  pid_t me = getpid();
  if (l->ep >= 0 && l->ep_owner == me)
    return 0;
  if (l->ep >= 0) {
    for (size_t i = 0; i < l->npend; i++) {
      mpconn_free(l->pend[i]->c);
      free(l->pend[i]);
    }
    l->npend = 0;
    close(l->ep);
    close(l->timer);
    if (l->reserve >= 0)
      close(l->reserve);
    l->ep = l->timer = l->reserve = -1;
  }
  l->ep = epoll_create1(EPOLL_CLOEXEC);
  if (l->ep < 0)
    return -errno;
  l->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listening_tag};
  struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &timer_tag};
  if (l->timer < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev) < 0 ||
      epoll_ctl(l->ep, EPOLL_CTL_ADD, l->timer, &tev) < 0) {
    int rc = -errno;
    close(l->ep);
    if (l->timer >= 0)
      close(l->timer);
    l->ep = l->timer = -1;
    return rc;
  }
  l->reserve = reserve_open();
  l->ep_owner = me;
  return 0;
}

void mpconn__accept_release(mpconn_listener *l) {
  bool mine = l->ep_owner == getpid();
  for (size_t i = 0; i < l->npend; i++) {
    mpconn_free(l->pend[i]->c);
    free(l->pend[i]);
  }
  free(l->pend);
  l->pend = NULL;
  l->npend = l->cap = 0;
  (void)mine;
  if (l->ep >= 0)
    close(l->ep);
  if (l->timer >= 0)
    close(l->timer);
  if (l->reserve >= 0)
    close(l->reserve);
  l->ep = l->timer = l->reserve = -1;
}

/* Arm the timer at the earliest deadline of a pending client, or disarm
 * it. */
static void arm_timer(mpconn_listener *l) {
  int64_t first = MPCONN_FOREVER;
  for (size_t i = 0; i < l->npend; i++)
    if (l->pend[i]->deadline < first)
      first = l->pend[i]->deadline;
  struct itimerspec its = {0};
  if (first != MPCONN_FOREVER) {
    /* An absolute time of 0 would disarm it: a deadline already passed
     * is set a millisecond ahead instead. */
    if (first <= 0)
      first = 1;
    its.it_value.tv_sec = (time_t)(first / 1000);
    its.it_value.tv_nsec = (long)(first % 1000) * 1000000L;
  }
  (void)timerfd_settime(l->timer, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Take pending client @i out of the table (its connection is the
 * caller's now). */
static mpconn *unpend(mpconn_listener *l, size_t i) {
  struct mpconn__pending *p = l->pend[i];
  mpconn *c = p->c;
  epoll_ctl(l->ep, EPOLL_CTL_DEL, mpconn_fileno(c), NULL);
  free(p);
  memmove(&l->pend[i], &l->pend[i + 1], (l->npend - i - 1) * sizeof(*l->pend));
  l->npend--;
  arm_timer(l);
  return c;
}

static size_t find(const mpconn_listener *l, const struct mpconn__pending *p) {
  for (size_t i = 0; i < l->npend; i++)
    if (l->pend[i] == p)
      return i;
  return l->npend;
}

/* The table is full: the oldest client is dropped. */
static void drop_oldest(mpconn_listener *l) {
  mpconn_free(unpend(l, 0));
  l->dropped++;
}

static int add_pending(mpconn_listener *l, mpconn *c) {
  if (l->npend == l->max_pending)
    drop_oldest(l);
  if (l->npend == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    struct mpconn__pending **t = realloc(l->pend, cap * sizeof(*t));
    if (!t)
      return MPCONN_ENOMEM;
    l->pend = t;
    l->cap = cap;
  }
  struct mpconn__pending *p = calloc(1, sizeof(*p));
  if (!p)
    return MPCONN_ENOMEM;
  p->c = c;
  mpconn_net_options o = {.handshake_timeout_ms = l->handshake_timeout_ms};
  p->deadline = mpconn__handshake_deadline(&o);
  mpconn__handshake_start(&p->hs, l->key, l->keylen, MPCONN__HS_LISTENER);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
  if (epoll_ctl(l->ep, EPOLL_CTL_ADD, mpconn_fileno(c), &ev) < 0) {
    int rc = -errno;
    free(p);
    return rc;
  }
  l->pend[l->npend++] = p;
  arm_timer(l);
  return 0;
}

/* Hand @n over blocking, as Python's connections are. */
static int hand_over(mpconn *n, mpconn **c) {
  int fd = mpconn_fileno(n);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int rc = -errno;
    mpconn_free(n);
    return rc;
  }
  *c = n;
  return 0;
}

/* Run pending client @i's handshake as far as it goes: 1 while it waits,
 * 0 with *c when it is done, or a code when it failed (it is gone then). */
static int advance(mpconn_listener *l, size_t i, mpconn **c) {
  int rc = mpconn__handshake_step(&l->pend[i]->hs, l->pend[i]->c);
  if (rc == 1)
    return 1;
  mpconn *n = unpend(l, i);
  if (rc == 0)
    return hand_over(n, c);
  mpconn_free(n);
  /* Whatever went wrong concerns that client only. */
  return rc == MPCONN_ENOMEM ? rc : MPCONN_EAUTH;
}

/* accept() errors that concern only the client that was leaving, or the
 * network under it (see accept(2)): take the next one. */
static bool transient(int err) {
  switch (err) {
  case EINTR:
  case ECONNABORTED:
  case EPROTO:
  case ENETDOWN:
  case ENOPROTOOPT:
  case EHOSTDOWN:
  case ENONET:
  case EHOSTUNREACH:
  case EOPNOTSUPP:
  case ENETUNREACH:
    return true;
  default:
    return false;
  }
}

/* Out of descriptors with a client waiting: drop that client by way of
 * the spare descriptor, so that the backlog does not keep the listener
 * readable for ever. */
static int shed(mpconn_listener *l, int err) {
  if (l->reserve >= 0) {
    close(l->reserve);
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      l->shed++;
    }
    l->reserve = reserve_open();
  }
  return -err;
}

/*
 * Take in one client from the backlog: 0 when there was none, 1 when one
 * was taken in, with *c set when it is ready (no key), or a code:
 * MPCONN_EAUTH (that client failed: another user's with same_uid_only, or
 * its first step), -EMFILE or -ENFILE (a client was dropped for want of
 * descriptors), MPCONN_ENOMEM, -errno.
 */
static int take_one(mpconn_listener *l, mpconn **c) {
  int fd;
  do
    fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  while (fd < 0 && transient(errno));
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    if (errno == EMFILE || errno == ENFILE)
      return shed(l, errno);
    return -errno;
  }
  /* TCP_NODELAY and the peer's user; blocking comes after the handshake. */
  int rc = mpconn__settle(fd, l->family, l->same_uid, true);
  if (rc < 0) {
    close(fd);
    return MPCONN_EAUTH;
  }
  mpconn *n;
  rc = mpconn_from_fds(&n, fd, fd);
  if (rc < 0)
    return rc;
  if (!l->has_key) {
    rc = hand_over(n, c);
    return rc < 0 ? rc : 1;
  }
  rc = add_pending(l, n);
  if (rc < 0) {
    mpconn_free(n);
    return rc;
  }
  /* The challenge goes out now. */
  rc = advance(l, l->npend - 1, c);
  return rc < 0 ? rc : 1;
}

/* Retire one pending client past its deadline: MPCONN_EAUTH, or 0 when
 * none is. */
static int expire_one(mpconn_listener *l) {
  int64_t now = mpconn__deadline(0);
  for (size_t i = 0; i < l->npend; i++) {
    if (l->pend[i]->deadline <= now) {
      mpconn_free(unpend(l, i));
      return MPCONN_EAUTH;
    }
  }
  return 0;
}

/* Handle one epoll event: 0, or with *c set, or a code. */
static int handle(mpconn_listener *l, void *tag, mpconn **c) {
  if (tag == &listening_tag) {
    int rc;
    while ((rc = take_one(l, c)) == 1 && !*c)
      ;
    return rc < 0 ? rc : 0;
  }
  if (tag == &timer_tag) {
    uint64_t ticks;
    (void)!read(l->timer, &ticks, sizeof(ticks));
    return 0;
  }
  size_t i = find(l, tag);
  if (i == l->npend) /* gone since the event was reported */
    return 0;
  int rc = advance(l, i, c);
  return rc == 1 ? 0 : rc;
}

/* The work of one accept: see the top of the file. */
static int run(mpconn_listener *l, mpconn **c, int timeout_ms) {
  struct mpconn__timer t = mpconn__timer(timeout_ms);
  struct epoll_event ev[EVENTS];
  for (bool first = true;; first = false) {
    /* The first look does not wait, nor read the clock. */
    int wait_ms = first ? 0 : mpconn__remaining_ms(mpconn__timer_deadline(&t));
    int n = epoll_wait(l->ep, ev, EVENTS, wait_ms);
    if (n < 0 && errno != EINTR)
      return -errno;
    for (int k = 0; k < n; k++) {
      int rc = handle(l, ev[k].data.ptr, c);
      if (rc < 0 || *c)
        return rc;
    }
    int rc = expire_one(l);
    if (rc < 0)
      return rc;
    /* A last look after the deadline found nothing. */
    if (!first && wait_ms == 0)
      return MPCONN_ETIMEDOUT;
  }
}

int mpconn_listener_accept(mpconn_listener *l, mpconn **c, int timeout_ms) {
  if (c)
    *c = NULL;
  if (!l || !c)
    return MPCONN_EINVAL;
  pthread_mutex_lock(&l->lock);
  int rc = l->closed ? MPCONN_ECLOSED : mpconn__accept_init(l);
  if (rc == 0)
    rc = run(l, c, timeout_ms);
  pthread_mutex_unlock(&l->lock);
  return rc;
}

size_t mpconn_listener_pending(mpconn_listener *l) {
  if (!l)
    return 0;
  pthread_mutex_lock(&l->lock);
  size_t n = l->ep_owner == getpid() ? l->npend : 0;
  pthread_mutex_unlock(&l->lock);
  return n;
}
