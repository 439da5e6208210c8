/* SPDX-License-Identifier: MIT */
/* Test hook of ringconn.c, for the tests that scribble on a ring's
 * control words as a hostile peer would.  Declared only here. */
#ifndef MPCONN_RINGCONN_TEST_H
#define MPCONN_RINGCONN_TEST_H

#include "mpconn-private.h"

/* The words a ring pair's end @c reads from its peer: the tail of the
 * ring it receives through, the head of the ring it sends through. */
void mpconn__ringconn_words(mpconn *c, uint64_t **in_tail, uint64_t **out_head);

#endif
