# SPDX-License-Identifier: MIT
"""Helpers shared by the interop test scripts.

The C side is the program peer.c, started with subprocess and driven by a
list of steps (see the comment at the top of peer.c); it finds its
descriptors in the environment variable MPCONN_FD.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

# Payload sizes around the interesting boundaries: empty, one byte, the
# largest payload CPython sends in one write with its header, the smallest
# it sends in two, and a payload much larger than any pipe buffer.
SIZES = [0, 1, 16384, 16385, 1048576]

# Added to the pattern of messages Python sends, and of those C sends.
PY_TAG = 0
C_TAG = 101

# Seconds: for one child to finish, and for a whole test.
CHILD_TIMEOUT = 60
TEST_TIMEOUT = 100


def pattern(n, k, tag):
    """The message of n bytes with index k sent by side `tag`.

    Byte j is ((j % 251) * 7 + k * 13 + n + tag) & 0xff, as in
    interop-pattern.h.
    """
    block = bytes(((j * 7 + k * 13 + n + tag) & 0xFF) for j in range(251))
    return (block * (n // 251 + 1))[:n]


def check_bytes(got, expected, what):
    """Fail unless got == expected, saying where they first differ."""
    if got == expected:
        return
    if len(got) != len(expected):
        raise AssertionError(
            f"{what}: got {len(got)} bytes, expected {len(expected)}")
    i = next(i for i in range(len(got)) if got[i] != expected[i])
    raise AssertionError(
        f"{what}: byte {i} is {got[i]:#04x}, expected {expected[i]:#04x}")


def check_equal(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: got {got!r}, expected {expected!r}")


def expect_raises(exc_type, message, func, *args):
    """Call func(*args); it must raise exactly exc_type(message)."""
    try:
        result = func(*args)
    except Exception as e:  # checked below
        if type(e) is not exc_type or str(e) != message:
            raise AssertionError(
                f"expected {exc_type.__name__}({message!r}), "
                f"got {type(e).__name__}({e!s})") from e
        return
    raise AssertionError(
        f"expected {exc_type.__name__}({message!r}), got {result!r}")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_until_eof(fd):
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class Ends:
    """Python's ends of a transport to the C peer, and what to hand it.

    send / recv are the multiprocessing Connections Python sends and
    receives on (the same object for a socket); child_fds are the
    descriptors the peer inherits, named by spec.  child_conn, if given,
    is the Connection that owns child_fds in this process.
    """

    def __init__(self, send, recv, child_fds, spec, child_conn=None):
        self.send, self.recv = send, recv
        self.child_fds, self.spec = child_fds, spec
        self.child_conn = child_conn

    def close_child(self):
        """Close this process's copy of the peer's descriptors."""
        if self.child_conn is not None:
            self.child_conn.close()
        else:
            for fd in self.child_fds:
                os.close(fd)

    def close(self):
        """Close Python's ends."""
        for conn in (self.send, self.recv):
            if conn is not None:
                conn.close()


def open_transport(kind, py_to_c=True, c_to_py=True):
    """A socketpair, or one pipe per direction that is needed.

    A single pipe is named to the peer as "FD", so the library finds its
    direction from the access mode; two pipes as "RFD,WFD".
    """
    if kind == "socket":
        mine, theirs = socket.socketpair()
        conn = Connection(mine.detach())
        fd = theirs.detach()
        return Ends(conn, conn, [fd], str(fd))
    if kind != "pipe":
        raise ValueError(f"unknown transport {kind!r}")
    send = recv = None
    rfd = wfd = -1
    if py_to_c:
        rfd, w = os.pipe()
        send = Connection(w, readable=False)
    if c_to_py:
        r, wfd = os.pipe()
        recv = Connection(r, writable=False)
    child_fds = [fd for fd in (rfd, wfd) if fd >= 0]
    spec = f"{rfd},{wfd}" if len(child_fds) == 2 else str(child_fds[0])
    return Ends(send, recv, child_fds, spec)


@contextlib.contextmanager
def run_peer(peer_exe, ends, steps, stdin=subprocess.DEVNULL):
    """Start the C peer on ends.child_fds, which are then closed here.

    On leaving the block normally the peer must exit with status 0; on an
    exception it is killed.  Either way it is reaped.
    """
    env = dict(os.environ, MPCONN_FD=ends.spec)
    proc = subprocess.Popen([peer_exe, *steps], pass_fds=ends.child_fds,
                            env=env, stdin=stdin)
    ends.close_child()
    try:
        yield proc
    except BaseException:
        proc.kill()
        proc.wait()
        print(f"peer {' '.join(steps)}: exit status {proc.returncode}",
              file=sys.stderr)
        raise
    wait_ok(proc)


def wait_ok(proc):
    """Wait for a child; it must exit with status 0."""
    try:
        rc = proc.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    if rc != 0:
        raise AssertionError(f"{proc.args[0]} exited with status {rc}")


def _timed_out(signum, frame):
    raise TimeoutError(f"test still running after {TEST_TIMEOUT} s")


def main(cases):
    """Run one case: ARGV is PEER CASE [TRANSPORT]."""
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in cases:
        names = ", ".join(sorted(cases))
        sys.exit(f"usage: {sys.argv[0]} PEER CASE [pipe|socket]\n"
                 f"cases: {names}")
    # A failing child makes a blocked read see end of file; the alarm
    # covers anything else, and unwinds through run_peer(), which reaps.
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TEST_TIMEOUT)
    cases[sys.argv[2]](sys.argv[1], *sys.argv[3:])
    print("ok")
