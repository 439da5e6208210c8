/* SPDX-License-Identifier: MIT */
/* value.c — received messages: made from a frame's payload, wherever the
 * frame comes from (a connection, a queue), by one function. */
#ifndef MPCONN_VALUE_H
#define MPCONN_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "mpconn.h"

/*
 * Where a message's payload comes from.  mpconn__msg_build() asks for the
 * payload (copy, or the source's own allocation in @lent), makes sure it
 * has all the memory decoding needs, then calls commit(): from then on the
 * message owns what it was given and the source drops the frame.  It
 * decodes after commit(), so a source may release a lock there.
 */
struct mpconn__src {
  size_t len;      /* of the payload */
  size_t hlen;     /* of the header the payload came with */
  size_t max_tree; /* the decode limit: see mpconn_set_max_decoded() */
  bool raw;        /* bytes only: no checking, no decoding */
  /* When not NULL: the payload, in an allocation of the source's that the
   * message takes over at commit(); until then it is only lent.  A
   * mapping of lent_map bytes when that is not 0. */
  uint8_t *lent;
  size_t lent_map;
  /* When @lent is NULL: copy the payload into @dst (room for len bytes). */
  void (*copy)(struct mpconn__src *s, uint8_t *dst);
  /* The message has the payload: drop the frame from the source. */
  void (*commit)(struct mpconn__src *s);
};

/*
 * mpconn__msg_build() - the one way a message is made from a frame.
 *
 * Return: 0 with *@msg set; MPCONN_ENOMEM before commit() (the source
 * keeps its frame, *@msg is NULL); MPCONN_EBADVALUE, MPCONN_ETOODEEP,
 * MPCONN_EBADSET or MPCONN_EDECODELIMIT after commit() (the frame was not
 * one value, or too large a one; it is gone, and *@msg is NULL).
 */
int mpconn__msg_build(mpconn_msg **msg, struct mpconn__src *s);

#endif
