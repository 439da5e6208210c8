# SPDX-License-Identifier: MIT
"""Python clients of tests/stress-server.c's slow-clients scenario.

Usage: server_clients.py HOST:PORT KEY GOOD MESSAGES SLOW WRONG

Runs, each in a thread of this process, at once:
- GOOD clients: multiprocessing.connection.Client(address, authkey=KEY),
  then MESSAGES messages, each of which must come back byte for byte;
- SLOW clients that trickle their side of the handshake (Client()'s
  answer_challenge() then deliver_challenge()) one byte per 100 ms with
  the right key, then send 10 messages at full speed, each of which must
  come back;
- WRONG clients that trickle it with a wrong key, and must be refused
  (AuthenticationError, "digest sent was rejected").

Messages are those of stress-server.c: message i of client id has
msg_size(id, i) bytes, byte j being (j * 7 + id * 31 + i * 13) & 0xff.
Good clients have ids 1000.., slow ones 2000...

Prints one line, "python clients: GOOD good, SLOW slow, WRONG wrong-key:
as expected", and exits 0; otherwise says on stderr which client failed
and how, and exits 1.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from multiprocessing import AuthenticationError  # noqa: E402
from multiprocessing.connection import (Client, Connection,  # noqa: E402
                                        answer_challenge, deliver_challenge)

# Seconds: the whole run, whatever happens.
RUN_TIMEOUT = 50
TRICKLE_DELAY = 0.1
SLOW_MESSAGES = 10


def msg_size(cid, i):
    if i % 250 == 7:
        return 70000 + cid % 1000
    return (i * 37 + cid * 11) % 600


def message(cid, i):
    n = msg_size(cid, i)
    base = (cid * 31 + i * 13) & 0xFF
    block = bytes(((j * 7 + base) & 0xFF) for j in range(256))
    return (block * (n // 256 + 1))[:n]


class Trickle(Connection):
    """A connection that writes one byte per TRICKLE_DELAY while
    `trickling` is set."""

    trickling = True

    def _send(self, buf, *args):
        if not self.trickling:
            return super()._send(buf, *args)
        view = memoryview(buf)
        for k in range(len(view)):
            super()._send(view[k:k + 1], *args)
            time.sleep(TRICKLE_DELAY)


def exchange(conn, cid, count):
    """Send messages 0..count-1; each must come back."""
    for i in range(count):
        want = message(cid, i)
        conn.send_bytes(want)
        got = conn.recv_bytes()
        if got != want:
            raise AssertionError(
                f"message {i}: got {len(got)} bytes back, sent {len(want)}"
                if len(got) != len(want) else f"message {i}: wrong bytes")


def good(address, key, cid, count):
    with Client(address, authkey=key) as conn:
        exchange(conn, cid, count)


def slow(address, key, cid, right):
    sock = socket.create_connection(address)
    with Trickle(sock.detach()) as conn:
        # Client()'s handshake, a byte at a time.
        if not right:
            try:
                answer_challenge(conn, key)
            except AuthenticationError as e:
                if str(e) != "digest sent was rejected":
                    raise
                return
            raise AssertionError("a wrong key was accepted")
        answer_challenge(conn, key)
        deliver_challenge(conn, key)
        conn.trickling = False
        exchange(conn, cid, SLOW_MESSAGES)


def _timed_out(signum, frame):
    print(f"server_clients.py: still running after {RUN_TIMEOUT} s",
          file=sys.stderr)
    sys.stderr.flush()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGALRM)


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__.split("\n\n")[1])
    host, _, port = sys.argv[1].rpartition(":")
    address = (host, int(port))
    key = sys.argv[2].encode()
    ngood, count, nslow, nwrong = map(int, sys.argv[3:])
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(RUN_TIMEOUT)

    failures = []

    def run(what, func, *args):
        try:
            func(*args)
        except BaseException as e:  # reported below, with which client
            failures.append(f"{what}: {type(e).__name__}: {e}")

    threads = []
    for k in range(ngood):
        cid = 1000 + k
        threads.append(threading.Thread(
            target=run, args=(f"good client {cid}", good, address, key, cid,
                              count)))
    for k in range(nslow + nwrong):
        cid = 2000 + k
        right = k < nslow
        what = f"slow client {cid}" + ("" if right else " with a wrong key")
        threads.append(threading.Thread(
            target=run, args=(what, slow, address,
                              key if right else b"a wrong key", cid, right)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        for f in failures:
            print(f"server_clients.py: {f}", file=sys.stderr)
        sys.exit(1)
    print(f"python clients: {ngood} good, {nslow} slow, {nwrong} wrong-key: "
          "as expected")


if __name__ == "__main__":
    main()
