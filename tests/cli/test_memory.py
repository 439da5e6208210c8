# SPDX-License-Identifier: MIT
"""The memory `mpconn decode` and `mpconn listen` take for one message
(docs/cli.md, "Memory").

Usage: test_memory.py TOOL RSS_RUN CASE

For each kind of item, one frame of 4 MiB made of that item only is given
to the tool, and its peak resident set size is measured with wait4()'s
ru_maxrss, through RSS_RUN (tests/cli/rss-run.c).  The bound checked is the
one docs/cli.md states: at most 40 times the frame, on top of the peak RSS
of the same command given no message at all (the process itself: the
program, its libraries, its buffers).  The measurements are printed as a
table.

CASE is "decode" (the frame on standard input, from a file) or "listen"
(sent by multiprocessing.connection.Client to `mpconn listen --once`).
The tool built with AddressSanitizer or run under valgrind uses memory
differently: the case is skipped then.
"""
import os
import struct
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Client

SKIP = 77
TIMEOUT = 120
FRAME = 4 << 20          # bytes of each frame, header included
BOUND = 40               # times the frame, on top of the baseline


def header(n):
    return struct.pack("!i", n)


def array_of(item):
    """An array 32 of as many copies of @item as fill the frame."""
    n = (FRAME - 4 - 5) // len(item)
    return b"\xdd" + struct.pack("!I", n) + item * n


def map_of(pairs_bytes, n):
    return b"\xdf" + struct.pack("!I", n) + pairs_bytes


def kinds():
    """(name, payload) for each kind of item; each payload fills one
    frame of about FRAME bytes."""
    n_keys = (FRAME - 4 - 5) // 5
    keys = b"".join(b"\xa3" + struct.pack("!I", i)[1:] + b"\xc0"
                    for i in range(n_keys))
    n_pairs = (FRAME - 4 - 5) // 2
    return [
        ("small ints", array_of(b"\x01")),
        ("nil", array_of(b"\xc0")),
        ("empty arrays", array_of(b"\x90")),
        ("empty maps", array_of(b"\x80")),
        ("empty strings", array_of(b"\xa0")),
        ("bin", b"\xc6" + struct.pack("!I", FRAME - 4 - 5)
         + bytes(FRAME - 4 - 5)),
        ("floats", array_of(b"\xcb" + struct.pack("!d", 0.1))),
        ("nested arrays", array_of(b"\x91" * 30 + b"\x90")),
        ("nested maps", array_of(b"\x81\xa0" * 30 + b"\x80")),
        ("map, distinct keys", map_of(keys, n_keys)),
        ("map, one key repeated", map_of(b"\xa0\xc0" * n_pairs, n_pairs)),
        ("map, nil keys", map_of(b"\xc0\xc0" * n_pairs, n_pairs)),
        ("empty sets", array_of(b"\xd4\x53\x90")),
        ("strings, not UTF-8", array_of(b"\xa1\xff")),
        ("strings of control characters",
         b"\xdb" + struct.pack("!I", FRAME - 4 - 5) + b"\x01" * (FRAME - 9)),
    ]


def sanitized_or_wrapped(tool):
    if os.environ.get("MPCONN_TOOL_WRAPPER") or \
            "vgpreload" in os.environ.get("LD_PRELOAD", ""):
        return "the tool runs under a wrapper"
    with open(tool, "rb") as f:
        if b"__asan_init" in f.read():
            return "the tool is built with AddressSanitizer"
    return None


def child_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("MPCONN_AUTHKEY", None)
    return env


class Runner:
    def __init__(self, tool, rss_run, tmp):
        self.tool = tool
        self.rss_run = rss_run
        self.out = os.path.join(tmp, "rss")

    def start(self, args, **kw):
        return subprocess.Popen([self.rss_run, self.out, self.tool, *args],
                                env=child_env(), **kw)

    def peak(self, proc, what):
        """Wait for the tool; its peak RSS in bytes."""
        status = proc.wait(timeout=TIMEOUT)
        err = proc.stderr.read() if proc.stderr else b""
        if status != 0:
            raise AssertionError(f"{what}: status {status}, stderr {err!r}")
        with open(self.out) as f:
            return int(f.read()) * 1024


def run_decode(r, payload, tmp):
    path = os.path.join(tmp, "frames")
    with open(path, "wb") as f:
        if payload is not None:
            f.write(header(len(payload)) + payload)
    with open(path, "rb") as stdin:
        proc = r.start(["decode"], stdin=stdin, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        return r.peak(proc, "decode")


def run_listen(r, payload, tmp):
    """listen --once, stdin at its end at once; Python's Client sends the
    payload (if any), reads the tool's end of file and closes."""
    proc = r.start(["listen", os.path.join(tmp, "sock"), "--once"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        prefix = b"mpconn: listening on "
        if not line.startswith(prefix):
            raise AssertionError(f"listen said {line!r}")
        conn = Client(line[len(prefix):-1].decode())
        if payload is not None:
            conn.send_bytes(payload)
        if not conn.poll(TIMEOUT):
            raise AssertionError("listen did not stop sending")
        try:
            conn.recv_bytes()
            raise AssertionError("listen sent a message")
        except EOFError:
            pass
        conn.close()
        return r.peak(proc, "listen")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    tool, rss_run, case = sys.argv[1:]
    runs = {"decode": run_decode, "listen": run_listen}
    if case not in runs:
        print(f"unknown case {case!r}", file=sys.stderr)
        return 2
    why = sanitized_or_wrapped(tool)
    if why:
        print(f"skipped: {why}")
        return SKIP
    run = runs[case]
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mpconn-rss-") as tmp:
        r = Runner(tool, rss_run, tmp)
        base = run(r, None, tmp)
        print(f"mpconn {case}: peak RSS without a message: {base >> 10} KiB")
        print(f"{'kind of item':32s} {'frame':>9s} {'peak RSS':>12s} "
              f"{'x frame':>8s} {'over base':>10s}")
        failures = []
        for name, payload in kinds():
            frame = len(payload) + 4
            rss = run(r, payload, tmp)
            over = (rss - base) / frame
            print(f"{name:32s} {frame:9d} {rss >> 10:9d} KiB {rss / frame:8.1f} "
                  f"{over:10.1f}")
            if rss > BOUND * frame + base:
                failures.append(f"{name}: {rss} bytes, over {BOUND} x "
                                f"{frame} + {base}")
    if failures:
        raise AssertionError("over the bound:\n  " + "\n  ".join(failures))
    print(f"memory {case}: ok ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
