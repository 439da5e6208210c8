# SPDX-License-Identifier: MIT
"""Frames between CPython's multiprocessing.connection.Connection and mpconn.

Usage: test_framing.py PEER CASE pipe|socket

Every case runs over one transport: "pipe" is one os.pipe() per direction
(the peer gets "FD" for a single pipe, "RFD,WFD" for two), "socket" is a
socket.socketpair() (the peer gets "FD").
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import os  # noqa: E402
import struct  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

from interop_common import (C_TAG, PY_TAG, SIZES, check_bytes,  # noqa: E402
                            expect_raises, main, open_transport, pattern,
                            read_until_eof, run_peer, write_all)


def py_to_c_recv_bytes(peer, kind):
    """Python send_bytes -> C mpconn_recv_bytes for every size; Python
    closes its end -> MPCONN_EOF, twice (sticky)."""
    ends = open_transport(kind, c_to_py=False)
    steps = [f"recv:{n}" for n in SIZES] + ["expect:EOF", "expect:EOF"]
    with run_peer(peer, ends, steps):
        for k, n in enumerate(SIZES):
            ends.send.send_bytes(pattern(n, k, PY_TAG))
        ends.close()


def py_to_c_recv_into(peer, kind):
    """Python send_bytes -> C mpconn_recv_bytes_into for every size (one
    byte short first: MPCONN_ETOOSHORT keeps the message); then EOF."""
    ends = open_transport(kind, c_to_py=False)
    steps = [f"recv-into:{n}" for n in SIZES] + ["expect:EOF"]
    with run_peer(peer, ends, steps):
        for k, n in enumerate(SIZES):
            ends.send.send_bytes(pattern(n, k, PY_TAG))
        ends.close()


def c_to_py(peer, kind):
    """C mpconn_send_bytes -> Python recv_bytes for every size; the peer
    exits without closing -> EOFError."""
    ends = open_transport(kind, py_to_c=False)
    with run_peer(peer, ends, [f"send:{n}" for n in SIZES]):
        for k, n in enumerate(SIZES):
            check_bytes(ends.recv.recv_bytes(), pattern(n, k, C_TAG),
                        f"message {k}")
        expect_raises(EOFError, "", ends.recv.recv_bytes)
    ends.close()


def round_trip(peer, kind):
    """Both directions on one connection, in turn: Python sends a message
    of each size and C answers with one of the same size."""
    ends = open_transport(kind)
    steps = [s for n in SIZES for s in (f"recv:{n}", f"send:{n}")]
    with run_peer(peer, ends, steps + ["expect:EOF"]):
        for k, n in enumerate(SIZES):
            ends.send.send_bytes(pattern(n, k, PY_TAG))
            check_bytes(ends.recv.recv_bytes(), pattern(n, k, C_TAG),
                        f"answer {k}")
        ends.close()


def wire_bytes(peer, kind):
    """The exact bytes C writes: Python reads the raw descriptor until EOF
    and compares with struct.pack("!i", n) + payload for each message."""
    ends = open_transport(kind, py_to_c=False)
    with run_peer(peer, ends, [f"send:{n}" for n in SIZES]):
        got = read_until_eof(ends.recv.fileno())
    ends.close()
    expected = b"".join(struct.pack("!i", n) + pattern(n, k, C_TAG)
                        for k, n in enumerate(SIZES))
    check_bytes(got, expected, "bytes on the wire")


def frame64(payload):
    """A frame with the 64-bit header CPython uses above 0x7fffffff."""
    return struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload


HEADER64_SIZES = [0, 3, 300]


def header64(peer, kind):
    """Hand-built 64-bit headers (-1, then an 8-byte length) with small
    payloads, then an ordinary frame: C receives exactly each payload."""
    frames = [frame64(pattern(n, k, PY_TAG))
              for k, n in enumerate(HEADER64_SIZES)]

    # The frames themselves are right: CPython's recv_bytes reads them.
    r, w = os.pipe()
    reader = Connection(r, writable=False)
    write_all(w, b"".join(frames))
    os.close(w)
    for k, n in enumerate(HEADER64_SIZES):
        check_bytes(reader.recv_bytes(), pattern(n, k, PY_TAG),
                    f"CPython reading 64-bit frame {k}")
    expect_raises(EOFError, "", reader.recv_bytes)
    reader.close()

    ends = open_transport(kind, c_to_py=False)
    last = len(HEADER64_SIZES)
    # One step per HEADER64_SIZES entry, then the ordinary frame.
    steps = ["recv:0", "recv-into:3", "recv:300", "recv:1", "expect:EOF"]
    with run_peer(peer, ends, steps):
        fd = ends.send.fileno()
        write_all(fd, frames[0] + frames[1])
        for i in range(len(frames[2])):  # one byte per write
            write_all(fd, frames[2][i:i + 1])
        ends.send.send_bytes(pattern(1, last, PY_TAG))
        ends.close()


if __name__ == "__main__":
    main({
        "py-to-c-recv-bytes": py_to_c_recv_bytes,
        "py-to-c-recv-into": py_to_c_recv_into,
        "c-to-py": c_to_py,
        "round-trip": round_trip,
        "wire-bytes": wire_bytes,
        "header64": header64,
    })
