# SPDX-License-Identifier: MIT
"""How a stream ends, or goes wrong, between CPython and mpconn.

Usage: test_ends.py PEER CASE pipe|socket

Transports as in test_framing.py.  Python writes the broken frames by hand
on the raw descriptor of its Connection.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import struct  # noqa: E402
import subprocess  # noqa: E402

from interop_common import (C_TAG, PY_TAG, SIZES, check_bytes,  # noqa: E402
                            check_equal, expect_raises, main, open_transport,
                            pattern, run_peer, wait_ok, write_all)


def truncated(peer, kind, tail):
    """One good frame, then `tail` (an incomplete frame), then Python
    closes: C gets the frame, then MPCONN_ETRUNCATED, twice (sticky)."""
    ends = open_transport(kind, c_to_py=False)
    steps = ["recv:5", "expect:ETRUNCATED", "expect:ETRUNCATED"]
    with run_peer(peer, ends, steps):
        ends.send.send_bytes(pattern(5, 0, PY_TAG))
        write_all(ends.send.fileno(), tail)
        ends.close()


def truncated_header(peer, kind):
    """2 bytes of a 4-byte header."""
    truncated(peer, kind, b"\x00\x00")


def truncated_header64(peer, kind):
    """The -1 of a 64-bit header and 3 of its 8 length bytes."""
    truncated(peer, kind, struct.pack("!i", -1) + b"\x00\x00\x00")


def truncated_payload(peer, kind):
    """A header announcing 100 bytes, and 10 of them."""
    payload = pattern(100, 1, PY_TAG)
    truncated(peer, kind, struct.pack("!i", 100) + payload[:10])


def truncated_big_payload(peer, kind):
    """A header announcing 1 MiB, and 100000 bytes of it (a frame too large
    for the receive buffer is assembled in its own allocation)."""
    payload = pattern(1048576, 1, PY_TAG)
    truncated(peer, kind, struct.pack("!i", 1048576) + payload[:100000])


def c_close_eof(peer, kind):
    """C sends every size, then mpconn_close while the process lives on:
    Python receives every message, then EOFError."""
    ends = open_transport(kind, py_to_c=False)
    steps = [f"send:{n}" for n in SIZES] + ["close", "wait-stdin"]
    with run_peer(peer, ends, steps, stdin=subprocess.PIPE) as proc:
        for k, n in enumerate(SIZES):
            check_bytes(ends.recv.recv_bytes(), pattern(n, k, C_TAG),
                        f"message {k}")
        expect_raises(EOFError, "", ends.recv.recv_bytes)
        # The end of file came from mpconn_close, not from the exit.
        check_equal(proc.poll(), None, "peer status at end of file")
        proc.stdin.close()
    ends.close()


def py_close_epipe(peer, kind):
    """Python closes its end before C sends: mpconn_send_bytes returns
    MPCONN_EPIPE and SIGPIPE (default disposition in the peer) does not
    kill the peer."""
    ends = open_transport(kind, py_to_c=False)
    steps = ["wait-stdin", "expect-send:EPIPE"]
    with run_peer(peer, ends, steps, stdin=subprocess.PIPE) as proc:
        ends.close()
        proc.stdin.close()


def maxlength(peer, kind):
    """Python recv_bytes(maxlength): a message of exactly maxlength bytes is
    accepted; a longer one raises OSError("bad message length") and ends
    reading on that Connection, as CPython documents."""
    ends = open_transport(kind, py_to_c=False)
    with run_peer(peer, ends, ["send:100", "send:100"]):
        check_bytes(ends.recv.recv_bytes(100), pattern(100, 0, C_TAG),
                    "message 0")
        expect_raises(OSError, "bad message length", ends.recv.recv_bytes, 99)
    # A receive-only Connection is closed; a duplex one becomes write-only.
    after = "connection is write-only" if kind == "socket" else \
        "handle is closed"
    expect_raises(OSError, after, ends.recv.recv_bytes)
    ends.close()


def bad_length(peer, kind, length):
    """One good frame, then a header with a negative length other than -1:
    C gets MPCONN_EBADFRAME, twice (sticky), while Python keeps its end
    open; sending still works."""
    ends = open_transport(kind)
    steps = ["recv:5", "expect:EBADFRAME", "expect:EBADFRAME", "send:4"]
    with run_peer(peer, ends, steps) as proc:
        ends.send.send_bytes(pattern(5, 0, PY_TAG))
        write_all(ends.send.fileno(), struct.pack("!i", length) + bytes(8))
        check_bytes(ends.recv.recv_bytes(), pattern(4, 0, C_TAG),
                    "message after the bad frame")
        wait_ok(proc)  # before closing: the error must not need the EOF
    ends.close()


def bad_length_minus_2(peer, kind):
    bad_length(peer, kind, -2)


def bad_length_int_min(peer, kind):
    bad_length(peer, kind, -0x80000000)


if __name__ == "__main__":
    main({
        "truncated-header": truncated_header,
        "truncated-header64": truncated_header64,
        "truncated-payload": truncated_payload,
        "truncated-big-payload": truncated_big_payload,
        "c-close-eof": c_close_eof,
        "py-close-epipe": py_close_epipe,
        "maxlength": maxlength,
        "bad-length-minus-2": bad_length_minus_2,
        "bad-length-int-min": bad_length_int_min,
    })
