/* SPDX-License-Identifier: MIT */
/*
 * One conversation over a connection, for mpconn connect and mpconn
 * listen: lines of JSON from standard input go out as messages, messages
 * received come out as lines of JSON on standard output.  docs/cli.md
 * ("Ending a conversation") has the rules this implements.
 */
#ifndef MPCONN_TOOL_SESSION_H
#define MPCONN_TOOL_SESSION_H

#include <mpconn.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Standard input, split into lines.  It outlives a session: what one
 * client left unread is the next client's.  Zero-initialize it; release
 * it with tool_input_free().
 */
struct tool_input {
  char *buf;      /* bytes read and not yet sent: buf[start..len) */
  size_t start;   /* where the next line begins */
  size_t len;     /* bytes in buf */
  size_t cap;     /* size of buf */
  size_t scanned; /* buf[start..scanned) holds no newline */
  size_t lineno;  /* lines taken so far, counted from 1 */
  bool eof;       /* read() returned 0: standard input has ended */
};

void tool_input_free(struct tool_input *in);

/**
 * tool_session() - talk over @c until the conversation ends.
 * @cmd: the command's name, for messages ("connect", "listen").
 * @c: a connected socket; still the caller's afterwards.
 * @in: standard input.
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
