/* SPDX-License-Identifier: MIT */
/*
 * Internal declarations shared by the files of lib/, one header per
 * module, gathered here in layer order: each layer uses only those above
 * it.  Not installed.  docs/internals.md maps the layers.
 */
#ifndef MPCONN_PRIVATE_H
#define MPCONN_PRIVATE_H

#include "mpconn.h"

/* System calls, deadlines, and waiting on shared memory. */
#include "futex.h"
#include "io.h"
#include "lock.h"
/* The wire: frames, a connection's receive and send state. */
#include "conn.h"
#include "frame.h"
#include "ringconn.h"
#include "send.h"
/* Values: checking and decoding frames, messages. */
#include "memfd.h"
#include "validate.h"
#include "value.h"
/* Format strings. */
#include "format.h"
/* Listeners, clients, the handshake. */
#include "net.h"

#endif
