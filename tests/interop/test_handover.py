# SPDX-License-Identifier: MIT
"""Python hands one end of a multiprocessing.Pipe() to the exec'd C peer.

Usage: test_handover.py PEER CASE

The end's descriptor is passed with pass_fds and named in MPCONN_FD; the
library finds its direction from the descriptor's access mode.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import multiprocessing  # noqa: E402

from interop_common import (C_TAG, PY_TAG, SIZES, Ends,  # noqa: E402
                            check_bytes, expect_raises, main, pattern,
                            run_peer)


def handed(conn):
    """Ends for giving conn to the peer."""
    return Ends(None, None, [conn.fileno()], str(conn.fileno()),
                child_conn=conn)


def duplex(peer):
    """Pipe(duplex=True): messages of every size both ways, then Python
    closes -> MPCONN_EOF."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    steps = [s for n in SIZES for s in (f"recv:{n}", f"send:{n}")]
    with run_peer(peer, handed(theirs), steps + ["expect:EOF"]):
        for k, n in enumerate(SIZES):
            mine.send_bytes(pattern(n, k, PY_TAG))
            check_bytes(mine.recv_bytes(), pattern(n, k, C_TAG), f"answer {k}")
        mine.close()


def reader_to_c(peer):
    """Pipe(duplex=False), C gets the reader: sending is MPCONN_EREADONLY;
    messages of every size from Python, then MPCONN_EOF."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    steps = ["expect-send:EREADONLY"] + [f"recv:{n}" for n in SIZES]
    with run_peer(peer, handed(reader), steps + ["expect:EOF"]):
        for k, n in enumerate(SIZES):
            writer.send_bytes(pattern(n, k, PY_TAG))
        writer.close()


def writer_to_c(peer):
    """Pipe(duplex=False), C gets the writer: receiving is
    MPCONN_EWRITEONLY; messages of every size to Python, then EOFError."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    steps = ["expect:EWRITEONLY"] + [f"send:{n}" for n in SIZES]
    with run_peer(peer, handed(writer), steps):
        for k, n in enumerate(SIZES):
            check_bytes(reader.recv_bytes(), pattern(n, k, C_TAG),
                        f"message {k}")
        expect_raises(EOFError, "", reader.recv_bytes)
    reader.close()


if __name__ == "__main__":
    main({
        "mp-pipe-duplex": duplex,
        "mp-pipe-reader-to-c": reader_to_c,
        "mp-pipe-writer-to-c": writer_to_c,
    })
