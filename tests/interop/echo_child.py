# SPDX-License-Identifier: MIT
"""The Python child of handover.c.

Usage: MPCONN_FD=SPEC echo_child.py duplex|send [SIZE...]

SPEC names the descriptor(s) of an mpconn end the C parent made inheritable
("FD" or "RFD,WFD" with -1 for a missing direction).  The child wraps it in
a multiprocessing.connection.Connection and first sends b"fds " and the
comma-separated list of its open descriptors, so the parent can check that
nothing else was inherited.  Then, in mode
  duplex  it sends every message back until EOFError;
  send    it sends one message of each SIZE (pattern k, PY_TAG), and closes.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import fcntl  # noqa: E402
import os  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

from interop_common import PY_TAG, pattern  # noqa: E402


def open_fds():
    """The descriptors open in this process."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:  # the listing's own descriptor, closed by now
            continue
        fds.append(int(name))
    return sorted(fds)


def connection(spec):
    """A Connection on the descriptor(s) named by spec."""
    if "," in spec:
        rfd, wfd = (int(s) for s in spec.split(","))
        if rfd == wfd:
            return Connection(rfd)
        if wfd < 0:
            return Connection(rfd, writable=False)
        if rfd < 0:
            return Connection(wfd, readable=False)
        sys.exit(f"echo_child: one Connection cannot use two descriptors: "
                 f"{spec}")
    fd = int(spec)
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    return Connection(fd, readable=mode != os.O_WRONLY,
                      writable=mode != os.O_RDONLY)


def main():
    fds = open_fds()
    if len(sys.argv) < 2 or sys.argv[1] not in ("duplex", "send"):
        sys.exit("usage: MPCONN_FD=SPEC echo_child.py duplex|send [SIZE...]")
    conn = connection(os.environ["MPCONN_FD"])
    conn.send_bytes(b"fds " + ",".join(map(str, fds)).encode())
    if sys.argv[1] == "duplex":
        while True:
            try:
                msg = conn.recv_bytes()
            except EOFError:
                break
            conn.send_bytes(msg)
    else:
        for k, n in enumerate(int(s) for s in sys.argv[2:]):
            conn.send_bytes(pattern(n, k, PY_TAG))
    conn.close()


if __name__ == "__main__":
    main()
