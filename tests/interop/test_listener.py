# SPDX-License-Identifier: MIT
"""mpconn's listener and client against CPython's Listener and Client.

Usage: test_listener.py PEER CASE TRANSPORT

PEER is the net-peer program (see net-peer.c).  TRANSPORT is "unix" (a
socket file in a private directory), "tcp" (127.0.0.1, a free port) or
"abstract" (a Linux abstract name).  The interpreter running this script is
the one under test: Python 3.11 speaks the old MD5-only handshake, 3.12 and
later the "{sha256}" one.

MPCONN_PEER_WRAP, if set, is a command put before the peer's, for example
"valgrind --leak-check=full --error-exitcode=1 -q".
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import contextlib  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from multiprocessing import AuthenticationError  # noqa: E402
from multiprocessing import connection  # noqa: E402
from multiprocessing.connection import Client, Listener  # noqa: E402

from interop_common import (C_TAG, CHILD_TIMEOUT, PY_TAG,  # noqa: E402
                            check_bytes, main, pattern, wait_ok)

KEY = b"interop key"
WRONG = b"not the key"
# Around the 256-byte handshake limit, CPython's one-write limit, and big.
SIZES = [0, 1, 256, 257, 16384, 16385, 1048576]
DIGESTS = ["md5", "sha256", "sha384", "sha3_256", "sha3_384"]


def c_form(addr):
    """A Python address as mpconn writes it."""
    if isinstance(addr, tuple):
        return f"{addr[0]}:{addr[1]}"
    if isinstance(addr, bytes):
        addr = addr.decode()
    if addr.startswith("\0"):
        return "@" + addr[1:]
    return addr


def py_form(addr):
    """An mpconn address as Python's Client takes it."""
    if addr.startswith("@"):
        return "\0" + addr[1:]
    if "/" in addr:
        return addr
    host, _, port = addr.rpartition(":")
    return (host, int(port))


class Places:
    """Addresses for one transport, and the directory they may live in."""

    def __init__(self, transport):
        if transport not in ("unix", "tcp", "abstract"):
            raise ValueError(f"unknown transport {transport!r}")
        self.transport = transport
        self.dir = tempfile.mkdtemp(prefix="mpconn-interop-")
        self.count = 0

    def python(self):
        """A new address for a Python Listener."""
        self.count += 1
        if self.transport == "unix":
            return os.path.join(self.dir, f"py{self.count}")
        if self.transport == "tcp":
            return ("127.0.0.1", 0)
        return f"\0mpconn-interop-{os.getpid()}-{self.count}"

    def c(self):
        """A new address for an mpconn listener ("@": a name of its own)."""
        self.count += 1
        if self.transport == "unix":
            return os.path.join(self.dir, f"c{self.count}")
        if self.transport == "tcp":
            return "127.0.0.1:0"
        return "@"

    def close(self):
        shutil.rmtree(self.dir)


@contextlib.contextmanager
def peer(exe, key, steps):
    """Run net-peer with steps.  Leaving normally, it must exit with status
    0; on an exception it is killed.  Either way it is reaped."""
    wrap = os.environ.get("MPCONN_PEER_WRAP", "").split()
    args = [*wrap, exe, key.decode() if key is not None else "-", *steps]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        yield proc
    except BaseException:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        print(f"{' '.join(args)}: exit status {proc.returncode}",
              file=sys.stderr)
        raise
    wait_ok(proc)
    proc.stdout.close()


def listening_on(proc):
    """The address the peer printed after its listen step."""
    line = proc.stdout.readline().decode()
    prefix = "listening on "
    if not line.startswith(prefix):
        raise AssertionError(f"peer said {line!r} instead of its address")
    return line[len(prefix):].rstrip("\n")


def accept(listener, proc):
    """listener.accept(), failing fast if the peer died instead."""
    sock = getattr(getattr(listener, "_listener", None), "_socket", None)
    end = time.monotonic() + CHILD_TIMEOUT
    while sock is not None:
        if select.select([sock], [], [], 0.1)[0]:
            break
        if proc.poll() is not None:
            raise AssertionError(f"peer exited ({proc.returncode}) before "
                                 "connecting")
        if time.monotonic() > end:
            raise AssertionError("peer did not connect")
    return listener.accept()


def expect_auth_error(func, *args, **kwargs):
    try:
        result = func(*args, **kwargs)
    except AuthenticationError:
        return
    raise AssertionError(f"expected AuthenticationError, got {result!r}")


def exchange_steps():
    """The peer's side of exchange(): receive, then answer, every size."""
    return [s for n in SIZES for s in (f"recv:{n}", f"send:{n}")]


def exchange(conn):
    """Python's side: send each size, check C's answer of the same size."""
    for k, n in enumerate(SIZES):
        conn.send_bytes(pattern(n, k, PY_TAG))
        check_bytes(conn.recv_bytes(), pattern(n, k, C_TAG), f"answer {k}")


def c_client(exe, places):
    """Python Listener(authkey) <- mpconn_client(): messages both ways,
    then Python closes: MPCONN_EOF."""
    with Listener(places.python(), authkey=KEY) as listener:
        addr = c_form(listener.address)
        steps = [f"connect:{addr}", *exchange_steps(), "expect:EOF"]
        with peer(exe, KEY, steps) as proc:
            conn = accept(listener, proc)
            exchange(conn)
            conn.close()


def c_listener(exe, places):
    """mpconn listener <- Python Client(authkey): messages both ways, then
    Python closes: MPCONN_EOF."""
    steps = [f"listen:{places.c()}", "accept", *exchange_steps(), "expect:EOF"]
    with peer(exe, KEY, steps) as proc:
        addr = py_form(listening_on(proc))
        conn = Client(addr, authkey=KEY)
        exchange(conn)
        conn.close()


def c_client_wrong_key(exe, places):
    """Python Listener(KEY) <- mpconn_client(WRONG): Python raises
    AuthenticationError, C gets MPCONN_EAUTH; then the right key works."""
    with Listener(places.python(), authkey=KEY) as listener:
        addr = c_form(listener.address)
        with peer(exe, WRONG, [f"connect-fail:EAUTH:{addr}"]) as proc:
            expect_auth_error(accept, listener, proc)
        steps = [f"connect:{addr}", "recv:5", "send:5", "expect:EOF"]
        with peer(exe, KEY, steps) as proc:
            conn = accept(listener, proc)
            conn.send_bytes(pattern(5, 0, PY_TAG))
            check_bytes(conn.recv_bytes(), pattern(5, 0, C_TAG), "answer")
            conn.close()


def c_listener_wrong_key(exe, places):
    """mpconn listener(KEY) <- Python Client(WRONG): Python raises
    AuthenticationError, accept returns MPCONN_EAUTH and goes on; then the
    right key works."""
    steps = [f"listen:{places.c()}", "accept-fail:EAUTH", "accept", "recv:5",
             "send:5", "expect:EOF"]
    with peer(exe, KEY, steps) as proc:
        addr = py_form(listening_on(proc))
        expect_auth_error(Client, addr, authkey=WRONG)
        conn = Client(addr, authkey=KEY)
        conn.send_bytes(pattern(5, 0, PY_TAG))
        check_bytes(conn.recv_bytes(), pattern(5, 0, C_TAG), "answer")
        conn.close()


def no_key(exe, places):
    """No authkey on either side, both ways round: no handshake at all, the
    first message is the application's."""
    steps = [f"listen:{places.c()}", "accept", "recv:3", "send:3",
             "expect:EOF"]
    with peer(exe, None, steps) as proc:
        conn = Client(py_form(listening_on(proc)))
        conn.send_bytes(pattern(3, 0, PY_TAG))
        check_bytes(conn.recv_bytes(), pattern(3, 0, C_TAG), "answer")
        conn.close()
    with Listener(places.python()) as listener:
        steps = [f"connect:{c_form(listener.address)}", "send:3", "recv:3",
                 "expect:EOF"]
        with peer(exe, None, steps) as proc:
            conn = accept(listener, proc)
            check_bytes(conn.recv_bytes(), pattern(3, 0, C_TAG), "message")
            conn.send_bytes(pattern(3, 0, PY_TAG))
            conn.close()


def digests(exe, places):
    """CPython's own deliver_challenge() with every digest it allows, then
    answer_challenge(): mpconn_client() answers each (Python 3.12+)."""
    if "digest_name" not in connection.deliver_challenge.__code__.co_varnames:
        print(f"skipped: Python {sys.version.split()[0]} has only HMAC-MD5")
        sys.exit(77)
    with Listener(places.python()) as listener:
        addr = c_form(listener.address)
        steps = []
        for _ in DIGESTS:
            steps += [f"connect:{addr}", "recv:4", "send:4", "close"]
        with peer(exe, KEY, steps) as proc:
            for d in DIGESTS:
                conn = accept(listener, proc)
                connection.deliver_challenge(conn, KEY, digest_name=d)
                connection.answer_challenge(conn, KEY)
                conn.send_bytes(pattern(4, 0, PY_TAG))
                check_bytes(conn.recv_bytes(), pattern(4, 0, C_TAG), d)
                conn.close()


CASES = {
    "c-client": c_client,
    "c-listener": c_listener,
    "c-client-wrong-key": c_client_wrong_key,
    "c-listener-wrong-key": c_listener_wrong_key,
    "no-key": no_key,
    "digests": digests,
}


def with_places(case):
    """case(exe, places) as main() calls it: (exe, transport)."""
    def run(exe, transport):
        places = Places(transport)
        try:
            case(exe, places)
        finally:
            places.close()
    return run


if __name__ == "__main__":
    main({name: with_places(case) for name, case in CASES.items()})
