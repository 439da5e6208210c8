# SPDX-License-Identifier: MIT
"""Descriptors and connections passed between CPython and mpconn.

CPython's multiprocessing.reduction.send_handle() / recv_handle() (on
Linux: one byte, the count mod 256, carrying SCM_RIGHTS, outside any
frame) against mpconn_send_fd(), mpconn_recv_fd(), mpconn_send_conn() and
mpconn_recv_conn() in the exec'd C peer fd_peer.c, interleaved with
send_bytes() / recv_bytes() frames.  The peer checks after each case that
it has exactly as many descriptors open as when it started; this script
checks the same of itself.

Usage: test_fds.py PEER CASE TRANSPORT
TRANSPORT: socket (a socketpair end handed to the peer) or unix (the peer
connects to a Python Listener at a Unix socket path, without a key).
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import array  # noqa: E402
import contextlib  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from multiprocessing import reduction  # noqa: E402
from multiprocessing.connection import Connection, Listener  # noqa: E402

from interop_common import (C_TAG, PY_TAG, TEST_TIMEOUT,  # noqa: E402
                            check_bytes, check_equal, pattern, wait_ok)

# Seconds Python waits for anything from the peer.
WAIT = 10
# Frame lengths before the descriptor, and read sizes, of the chunked case.
CHUNK_FRAMES = range(13)
CHUNK_READS = range(1, 10)


def count_fds():
    return len(os.listdir("/proc/self/fd")) - 1  # the listing's own


def _accept(listener, proc):
    """The peer's connection, or why it did not come within WAIT s.

    Listener.accept() has no timeout: its listening socket (an attribute
    of CPython 3.11 to 3.13's SocketListener) is polled first."""
    sock = listener._listener._socket
    deadline = time.monotonic() + WAIT
    while not select.select([sock], [], [], 0.2)[0]:
        if proc.poll() is not None:
            raise AssertionError(
                f"fd-peer exited with status {proc.returncode} "
                "before connecting")
        if time.monotonic() > deadline:
            raise TimeoutError(f"fd-peer did not connect within {WAIT} s")
    return listener.accept()


def stop(proc):
    """End the peer if it still runs (it then says at which step), reap it
    and say how it ended."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(f"fd-peer: exit status {proc.returncode}", file=sys.stderr)


@contextlib.contextmanager
def started(peer, transport, steps, stdin=subprocess.DEVNULL):
    """Start the peer with steps on a new connection; yield (conn, proc).

    On leaving the block normally the peer must exit with status 0, and
    this process must have as many descriptors open as before; on an
    exception the peer is killed.  Either way it is reaped.
    """
    before = count_fds()
    env = {k: v for k, v in os.environ.items() if k != "MPCONN_FD"}
    if transport == "socket":
        mine, theirs = socket.socketpair()
        env["MPCONN_FD"] = str(theirs.fileno())
        proc = subprocess.Popen([peer, *steps], pass_fds=[theirs.fileno()],
                                env=env, stdin=stdin)
        theirs.close()
        conn = Connection(mine.detach())
    elif transport == "unix":
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sock")
            with Listener(path, family="AF_UNIX") as listener:
                proc = subprocess.Popen([peer, f"connect:{path}", *steps],
                                        env=env, stdin=stdin)
                try:
                    conn = _accept(listener, proc)
                except BaseException:
                    stop(proc)
                    raise
    else:
        raise ValueError(f"unknown transport {transport!r}")
    try:
        yield conn, proc
        wait_ok(proc)
    except BaseException:
        stop(proc)
        raise
    finally:
        conn.close()
        if proc.stdin:
            proc.stdin.close()
    check_equal(count_fds(), before, "descriptors open in Python after")


def wait_readable(conn, what):
    if not conn.poll(WAIT):
        raise TimeoutError(f"nothing from the peer within {WAIT} s ({what})")


def expect_msg(conn, n, k, what, tag=C_TAG):
    """The next frame is message k of n bytes sent by side tag."""
    wait_readable(conn, what)
    check_bytes(conn.recv_bytes(), pattern(n, k, tag), what)


def send_fd(conn, proc, fd):
    reduction.send_handle(conn, fd, proc.pid)


def recv_fd(conn, what):
    wait_readable(conn, what)
    return reduction.recv_handle(conn)


def memfile(text):
    """A new file (memfd) holding text, open for reading and writing."""
    fd = os.memfd_create("test_fds", os.MFD_CLOEXEC)
    os.write(fd, text.encode())
    return fd


def check_file(fd, text, what):
    """fd is a regular file holding exactly text."""
    check_equal(stat.S_ISREG(os.fstat(fd).st_mode), True, f"{what}: a file")
    check_equal(os.pread(fd, 256, 0), text.encode(), what)


def read_pipe(fd, what):
    """Everything a pipe gives until end of file, each read within WAIT."""
    chunks = []
    while True:
        if not select.select([fd], [], [], WAIT)[0]:
            raise TimeoutError(f"{what}: no end of file within {WAIT} s")
        chunk = os.read(fd, 256)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def send_raw(conn, data, fds):
    """sendmsg() of data carrying fds, as no Connection call sends them."""
    with socket.fromfd(conn.fileno(), socket.AF_UNIX,
                       socket.SOCK_STREAM) as s:
        s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", fds).tobytes())])


# ------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------

def py_to_c(peer, transport):
    """Python send_handle() -> mpconn_recv_fd(): two files and two pipe
    write ends, three in a row, frames before, between and after.  Each
    arrives close-on-exec and is the right open file (C reads the file's
    text, writes its text into the pipe, which Python reads); a frame
    receive that meets a descriptor returns MPCONN_EFDPENDING and takes
    nothing, mpconn_recv_fd() that meets a frame MPCONN_ENOFD; C has as
    many descriptors open at the end as at the start."""
    steps = ["recv:5", "expect:EFDPENDING", "recv-fd-file:file-one",
             "expect:EFDPENDING", "recv-fd-pipe:pipe-two",
             "recv-fd-file:file-three", "expect-fd:ENOFD", "recv:0",
             "recv-fd-pipe:pipe-four", "recv:7", "fds", "send:1"]
    with started(peer, transport, steps) as (conn, proc):
        pipe2, pipe4 = os.pipe(), os.pipe()
        conn.send_bytes(pattern(5, 0, PY_TAG))
        for fd in (memfile("file-one"), pipe2[1], memfile("file-three")):
            send_fd(conn, proc, fd)
            os.close(fd)
        conn.send_bytes(pattern(0, 1, PY_TAG))
        send_fd(conn, proc, pipe4[1])
        os.close(pipe4[1])
        conn.send_bytes(pattern(7, 2, PY_TAG))
        expect_msg(conn, 1, 0, "C's last message")
        check_equal(read_pipe(pipe2[0], "pipe two"), b"pipe-two",
                    "written by C into pipe two")
        check_equal(read_pipe(pipe4[0], "pipe four"), b"pipe-four",
                    "written by C into pipe four")
        os.close(pipe2[0])
        os.close(pipe4[0])


def c_to_py(peer, transport):
    """mpconn_send_fd() -> Python recv_handle(): memfds and pipe write ends
    made by C, three in a row, frames before, between and after.  Python
    reads each file's text; writes into each pipe the text C then reads
    from its read end up to end of file (so Python's descriptor is the only
    writer left: C closed its own after sending)."""
    steps = ["send:5", "send-fd-file:alpha", "send-fd-pipe:beta",
             "send-fd-file:gamma", "send:0", "send-fd-pipe:delta", "send:7",
             "fds", "recv:1"]
    with started(peer, transport, steps) as (conn, proc):
        expect_msg(conn, 5, 0, "first frame")
        fd = recv_fd(conn, "alpha")
        check_file(fd, "alpha", "first file")
        os.close(fd)
        fd = recv_fd(conn, "beta")
        check_equal(stat.S_ISFIFO(os.fstat(fd).st_mode), True, "a pipe")
        os.write(fd, b"beta")
        os.close(fd)
        fd = recv_fd(conn, "gamma")
        check_file(fd, "gamma", "second file")
        os.close(fd)
        expect_msg(conn, 0, 1, "frame between")
        fd = recv_fd(conn, "delta")
        os.write(fd, b"delta")
        os.close(fd)
        expect_msg(conn, 7, 2, "last frame")
        conn.send_bytes(pattern(1, 0, PY_TAG))


def round_trip(peer, transport):
    """A descriptor to C and back (mpconn_recv_fd() then mpconn_send_fd()),
    twice, frames both ways between: what Python gets back is the very open
    file it sent (the same inode, and one file offset shared with Python's
    own descriptor), and a pipe end that still writes into Python's
    pipe."""
    steps = ["recv:3", "echo-fd", "send:4", "echo-fd", "recv:5", "fds",
             "send:0"]
    with started(peer, transport, steps) as (conn, proc):
        conn.send_bytes(pattern(3, 0, PY_TAG))
        mine = memfile("round trip")
        send_fd(conn, proc, mine)
        back = recv_fd(conn, "the file back")
        check_file(back, "round trip", "file back")
        check_equal(os.fstat(back).st_ino, os.fstat(mine).st_ino, "inode")
        os.lseek(mine, 3, os.SEEK_SET)
        check_equal(os.lseek(back, 0, os.SEEK_CUR), 3, "shared offset")
        os.close(back)
        os.close(mine)
        expect_msg(conn, 4, 0, "frame between")
        r, w = os.pipe()
        send_fd(conn, proc, w)
        os.close(w)
        back = recv_fd(conn, "the pipe back")
        os.write(back, b"through C")
        os.close(back)
        check_equal(read_pipe(r, "pipe"), b"through C", "pipe")
        os.close(r)
        conn.send_bytes(pattern(5, 1, PY_TAG))
        expect_msg(conn, 0, 1, "last frame")


def chunked(peer, transport):
    """Under C reads cut to R bytes (R = 1..9; fd-peer wraps
    mpconn__read_fds), a frame of K bytes (K = 0..12), a descriptor and a
    3-byte frame, each batch (one R) written whole before C reads it: C
    checks that the descriptor's byte came at every position 0..R-1 of a
    read, and each time gets MPCONN_EFDPENDING, the right file, then
    MPCONN_ENOFD and the frame; then one batch under mixed read sizes
    (1, unlimited, 3)."""
    scripts = [str(r) for r in CHUNK_READS] + ["1,0,3"]
    steps = []
    for script in scripts:
        steps += [f"chunks:{script}", "sync"]
        for k in CHUNK_FRAMES:
            steps += [f"recv:{k}", "expect:EFDPENDING",
                      f"recv-fd-file:{script}/{k}", "expect-fd:ENOFD",
                      "recv:3"]
        steps += ["chunks:"]
        if "," not in script:
            steps += [f"positions:{script}"]
        steps += ["fds", "send:0"]
    with started(peer, transport, steps, stdin=subprocess.PIPE) as (conn,
                                                                     proc):
        sent = 0
        for batch, script in enumerate(scripts):
            for k in CHUNK_FRAMES:
                conn.send_bytes(pattern(k, sent, PY_TAG))
                fd = memfile(f"{script}/{k}")
                send_fd(conn, proc, fd)
                os.close(fd)
                conn.send_bytes(pattern(3, sent + 1, PY_TAG))
                sent += 2
            proc.stdin.write(b"s")
            proc.stdin.flush()
            expect_msg(conn, 0, batch, f"end of batch {script}")


def move_c_to_py(peer, transport):
    """mpconn_send_conn() of one end of an mpconn_pipe() whose other end C
    keeps, with one message already received from it and two waiting in
    it: Python's recv_handle() gets one descriptor, a socket, between two
    frames; Connection(fd) receives the two waiting messages in order and
    talks with C's end, then closes it (C gets MPCONN_EOF).  The moved
    connection is closed in C (MPCONN_ECLOSED)."""
    steps = ["pair:1:2", "use:1", "send:5", "use:2", "recv-c:5", "use:1",
             "send:6", "send:7", "use:0", "send:3", "send-conn:2", "send:4",
             "use:1", "recv:8", "send:9", "expect:EOF", "close", "use:0",
             "fds", "recv:1"]
    with started(peer, transport, steps) as (conn, proc):
        expect_msg(conn, 3, 0, "frame before")
        fd = recv_fd(conn, "the connection")
        check_equal(stat.S_ISSOCK(os.fstat(fd).st_mode), True, "a socket")
        expect_msg(conn, 4, 1, "frame after")
        moved = Connection(fd)
        expect_msg(moved, 6, 1, "first waiting message")
        expect_msg(moved, 7, 2, "second waiting message")
        moved.send_bytes(pattern(8, 0, PY_TAG))
        expect_msg(moved, 9, 3, "answer on the moved connection")
        moved.close()
        conn.send_bytes(pattern(1, 0, PY_TAG))


def move_py_socket_to_c(peer, transport, chunks=""):
    """Python send_handle() of one end of a multiprocessing.Pipe(), after
    receiving one message on it itself and with two waiting in it ->
    mpconn_recv_conn(), which meets it after a frame receive said
    MPCONN_EFDPENDING: C receives the two waiting messages in order, then
    talks with Python's other end, which closes it (MPCONN_EOF).  With
    chunks, C's reads are cut to those sizes in turn (fd-peer's "chunks")."""
    steps = [f"chunks:{chunks}", "recv:3", "expect:EFDPENDING", "recv-conn:1",
             "recv:4", "use:1", "recv:5", "recv:6", "send:7", "recv:8",
             "expect:EOF", "close", "use:0", "fds", "send:1"]
    with started(peer, transport, steps) as (conn, proc):
        here, there = multiprocessing.Pipe(duplex=True)
        here.send_bytes(pattern(2, 99, PY_TAG))
        check_bytes(there.recv_bytes(), pattern(2, 99, PY_TAG), "before")
        here.send_bytes(pattern(5, 0, PY_TAG))
        here.send_bytes(pattern(6, 1, PY_TAG))
        conn.send_bytes(pattern(3, 0, PY_TAG))
        send_fd(conn, proc, there.fileno())
        there.close()
        conn.send_bytes(pattern(4, 1, PY_TAG))
        expect_msg(here, 7, 0, "C's answer on the moved connection")
        here.send_bytes(pattern(8, 2, PY_TAG))
        here.close()
        expect_msg(conn, 1, 0, "C's last message")


def move_py_pipe_to_c(peer, transport):
    """Python send_handle() of a Pipe(duplex=False) reader with a message
    waiting in it -> mpconn_recv_conn(): a receive-only connection
    (sending is MPCONN_EREADONLY) that gets the waiting message and the
    next in order, then MPCONN_EOF when Python closes the writer."""
    steps = ["recv-conn:1", "use:1", "expect-send:EREADONLY", "recv:5",
             "recv:6", "expect:EOF", "close", "use:0", "fds", "send:1"]
    with started(peer, transport, steps) as (conn, proc):
        reader, writer = multiprocessing.Pipe(duplex=False)
        writer.send_bytes(pattern(5, 0, PY_TAG))
        send_fd(conn, proc, reader.fileno())
        reader.close()
        writer.send_bytes(pattern(6, 1, PY_TAG))
        writer.close()
        expect_msg(conn, 1, 0, "C's last message")


def bad_fds(peer, transport, chunks=""):
    """Descriptors where none belong, each refused with MPCONN_EBADFDS and
    closed, the stream going on after: a whole frame sent with a
    descriptor (sendmsg) meets mpconn_recv_bytes() and is dropped;
    reduction.sendfds() of two where mpconn_recv_fd() takes one; a byte
    counting 2 for one descriptor; three (sendfds()) where
    mpconn_recv_conn() takes at most two.  C's count of open descriptors
    is back after each, and at the end.

    With chunks, C's reads are cut to those sizes in turn, and the count
    is checked at the end only: a read that ends inside a frame may take
    the next descriptors early, and the library rightly holds them.  The
    first cut is 2 bytes or more: a read that takes only the first byte of
    the frame sent with a descriptor is bad_fds_cut_frame's case."""
    each = [] if chunks else ["fds"]
    steps = ([f"chunks:{chunks}", "expect:EBADFDS"] + each +
             ["recv:4", "expect-fd:EBADFDS"] + each +
             ["recv:5", "expect-fd:EBADFDS"] + each +
             ["recv:6", "expect-conn:EBADFDS"] + each +
             ["recv:7", "fds", "send:1"])
    with started(peer, transport, steps) as (conn, proc):
        fd = memfile("stray")
        send_raw(conn, b"\x00\x00\x00\x02hi", [fd])
        conn.send_bytes(pattern(4, 0, PY_TAG))
        with socket.fromfd(conn.fileno(), socket.AF_UNIX,
                           socket.SOCK_STREAM) as s:
            reduction.sendfds(s, [fd, fd])
            conn.send_bytes(pattern(5, 1, PY_TAG))
            send_raw(conn, b"\x02", [fd])
            conn.send_bytes(pattern(6, 2, PY_TAG))
            reduction.sendfds(s, [fd, fd, fd])
            conn.send_bytes(pattern(7, 3, PY_TAG))
        os.close(fd)
        expect_msg(conn, 1, 0, "C's last message")


def bad_fds_cut_frame(peer, transport):
    """A frame sent with a descriptor, read one byte at a time: the read
    that takes the descriptor ends on the frame's first byte, which cannot
    be told from a descriptor's byte and does not count it.  C's
    connection fails for good: MPCONN_EBADFDS from frame and descriptor
    receives alike, the descriptor closed (the count of open descriptors
    is back), and C can still send."""
    steps = ["chunks:1", "sync", "expect:EBADFDS", "expect:EBADFDS",
             "expect-fd:EBADFDS", "fds", "send:1"]
    with started(peer, transport, steps, stdin=subprocess.PIPE) as (conn,
                                                                     proc):
        fd = memfile("stray")
        send_raw(conn, b"\x00\x00\x00\x02hi", [fd])
        # Written before C reads: C stops reading at the refusal.
        conn.send_bytes(pattern(4, 0, PY_TAG))
        os.close(fd)
        proc.stdin.write(b"s")
        proc.stdin.flush()
        expect_msg(conn, 1, 0, "C's last message")


CASES = {
    "py-to-c": py_to_c,
    "c-to-py": c_to_py,
    "round-trip": round_trip,
    "chunked": chunked,
    "move-c-to-py": move_c_to_py,
    "move-py-socket-to-c": move_py_socket_to_c,
    "move-py-pipe-to-c": move_py_pipe_to_c,
    "bad-fds": bad_fds,
    "move-py-socket-to-c-chunked":
        lambda peer, transport: move_py_socket_to_c(peer, transport, "2,1,3"),
    "bad-fds-chunked": lambda peer, transport: bad_fds(peer, transport,
                                                       "2,1,3"),
    "bad-fds-cut-frame": bad_fds_cut_frame,
}


def _timed_out(signum, frame):
    raise TimeoutError(f"test still running after {TEST_TIMEOUT} s")


def main():
    if (len(sys.argv) != 4 or sys.argv[2] not in CASES
            or sys.argv[3] not in ("socket", "unix")):
        sys.exit(f"usage: {sys.argv[0]} PEER CASE socket|unix\n"
                 f"cases: {', '.join(CASES)}")
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TEST_TIMEOUT)
    version = "%d.%d" % sys.version_info[:2]
    try:
        CASES[sys.argv[2]](sys.argv[1], sys.argv[3])
    except BaseException:
        print(f"test_fds.py under Python {version}: case {sys.argv[2]} "
              f"over {sys.argv[3]} failed on the Python side or in fd-peer "
              "(see above)", file=sys.stderr)
        raise
    print("ok")


if __name__ == "__main__":
    main()
