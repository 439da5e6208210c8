/* SPDX-License-Identifier: MIT */
/*
 * One conversation over a connection, for mpconn connect and mpconn
 * listen: lines of JSON from standard input go out as messages, messages
 * received come out as lines of JSON on standard output.  docs/cli.md
 * ("Ending a conversation") has the rules this implements.
 */
#ifndef MPCONN_TOOL_SESSION_H
#define MPCONN_TOOL_SESSION_H

#include "lines.h"

#include <mpconn.h>

/**
 * tool_session() - talk over @c until the conversation ends.
 * @cmd: the command's name, for messages ("connect", "listen").
 * @c: a connected socket; still the caller's afterwards.
 * @in: standard input; its lines are sent.
 *
 * Sending (in a thread of its own) and receiving never wait for each
 * other.  At the end of standard input the sending side of the socket is
 * shut down, so the peer reads end of file; messages are printed until
 * the peer closes.  When the peer closes first, the lines standard input
 * already holds (and the rest of a line it has begun to give) are still
 * sent, then the session ends.
 *
 * Return: TOOL_OK, or TOOL_FAILED after one line on stderr.
 */
int tool_session(const char *cmd, mpconn *c, struct tool_input *in);

#endif
