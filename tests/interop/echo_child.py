# SPDX-License-Identifier: MIT
"""The Python child of handover.c.

Usage: MPCONN_FD=SPEC echo_child.py duplex|send [SIZE...]

The C parent started this script with mpconn_spawn(), which names the end
it hands over in MPCONN_FD ("3", or "-1,3" for a pipe's write end).  The
child wraps it with inherited_connection() of the Python module mpconn
(python/mpconn.py, loaded from the source tree) and first sends b"fds "
and the comma-separated list of its open descriptors, so the parent can
check that nothing else was inherited.  Then, in mode
  duplex  it sends every message back until EOFError;
  send    it sends one message of each SIZE (pattern k, PY_TAG), and closes.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import os  # noqa: E402

from codec_loader import load_module  # noqa: E402
from interop_common import PY_TAG, pattern  # noqa: E402

mpconn = load_module()


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


def main():
    fds = open_fds()
    if len(sys.argv) < 2 or sys.argv[1] not in ("duplex", "send"):
        sys.exit("usage: MPCONN_FD=SPEC echo_child.py duplex|send [SIZE...]")
    conn = mpconn.inherited_connection()
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
