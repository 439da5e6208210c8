# SPDX-License-Identifier: MIT
"""mpconn's named arrays against CPython's multiprocessing.shared_memory.

Usage: test_shared.py PEER CASE VERSION

PEER is the shared-peer program (see shared_peer.c).  VERSION ("3.11",
"3.12", "3.13") is the Python this test is about: when the interpreter
running the script is another one, the test is skipped (exit status 77),
so that a missing interpreter never turns into a test of a different one.

Cases:
  c-creates   for every type code, C creates a named array and fills it;
              Python attaches by name, reads memoryview(shm.buf).cast(code),
              writes its own pattern; C checks it and unlinks.
  py-creates  for every type code, Python creates a SharedMemory and fills
              it; C opens it given the type code and length, checks,
              writes; Python checks and unlinks.
  tracker     the resource tracker of docs/python.md: a Python process that
              attaches and exits without untracking the segment removes its
              name (3.11 to 3.13); untracked (resource_tracker.unregister()
              before 3.13, track=False from 3.13) it does not.  Either way
              C's mapping keeps working.

Python's side attaches as docs/python.md recommends: untracked.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import textwrap  # noqa: E402
from multiprocessing import resource_tracker, shared_memory  # noqa: E402

CODES = "cbBhHiIlLqQfd"
SIZES = {"c": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8,
         "L": 8, "q": 8, "Q": 8, "f": 4, "d": 8}
LENGTH = 37
CHILD_TIMEOUT = 60
TEST_TIMEOUT = 100
MASK64 = (1 << 64) - 1


def int_pattern(code, i, side):
    """int_pattern() of shared_peer.c, as the Python value of the element."""
    bits = 8 * SIZES[code]
    mask = (1 << bits) - 1
    signed = code in "bhilq"
    if i < 2 and code != "c":
        want_min = (i == 0) == (side == 0)
        if signed:
            return -(1 << (bits - 1)) if want_min else (1 << (bits - 1)) - 1
        return 0 if want_min else mask
    raw = (i * 0x9E3779B97F4A7C15 + side * 0x632BE59BD9B4E019
           + 0x0123456789ABCDEF) & MASK64
    v = raw & mask
    if signed and v >> (bits - 1):
        v -= 1 << bits
    if code == "c":
        return bytes([v])
    return v


def float_pattern(code, i, side):
    if code == "f":
        return ((i % 32) - 16) * 0.375 + side * 1000.5
    return ((i % 97) - 48) * 0.001 + side * 12345.678


def pattern(code, i, side):
    if code in "fd":
        return float_pattern(code, i, side)
    return int_pattern(code, i, side)


def shm_name(code):
    # Type codes differ only in case: the name spells which.
    return f"mpconn-interop-{os.getpid()}-{code}{'u' if code.isupper() else ''}"


def attach(name):
    """SharedMemory(name) that does not unlink the segment at exit."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    shm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm


def check_view(view, code, side, what):
    for i in range(LENGTH):
        got, want = view[i], pattern(code, i, side)
        if got != want:
            raise AssertionError(
                f"{what}: '{code}' element {i} is {got!r}, not {want!r}")


def fill_view(view, code, side):
    for i in range(LENGTH):
        view[i] = pattern(code, i, side)


def peer(args, **kw):
    return subprocess.Popen(args, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, **kw)


def finish(proc, what):
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise AssertionError(f"{what}: shared-peer exited with status "
                             f"{proc.returncode}")
    return out


def c_creates(exe):
    for code in CODES:
        name = shm_name(code)
        proc = peer([exe, "create", name, code, str(LENGTH)])
        try:
            line = proc.stdout.readline()
            if line != "ready\n":
                raise AssertionError(f"'{code}': peer said {line!r}")
            shm = attach(name)
            # The data object is the array, from byte 0, and no more.
            if shm.size != LENGTH * SIZES[code]:
                raise AssertionError(f"'{code}': size {shm.size}")
            view = shm.buf.cast(code)
            try:
                check_view(view, code, 0, "Python reads C's")
                fill_view(view, code, 1)
            finally:
                view.release()
                shm.close()
            proc.stdin.write("check\n")
            proc.stdin.flush()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finish(proc, f"'{code}'")
        for n in (name, name + ".mpconn"):
            if os.path.exists("/dev/shm/" + n):
                raise AssertionError(f"/dev/shm/{n} is still there")


def py_creates(exe):
    for code in CODES:
        name = shm_name(code)
        shm = shared_memory.SharedMemory(name=name, create=True,
                                         size=LENGTH * SIZES[code])
        view = shm.buf.cast(code)
        try:
            fill_view(view, code, 1)
            finish(peer([exe, "open", name, code, str(LENGTH)]), f"'{code}'")
            check_view(view, code, 0, "Python reads C's")
        finally:
            view.release()
            shm.close()
            shm.unlink()


ATTACH = """
import sys
from multiprocessing import resource_tracker, shared_memory
name, untrack = sys.argv[1], sys.argv[2] == "untracked"
if untrack and sys.version_info >= (3, 13):
    shm = shared_memory.SharedMemory(name=name, track=False)
else:
    shm = shared_memory.SharedMemory(name=name)
    if untrack:
        resource_tracker.unregister(shm._name, "shared_memory")
shm.buf[12] = 1
shm.close()
# What exiting does, waited for: the tracker process cleans up after
# this process, then exits.
resource_tracker._resource_tracker._stop()
"""


def tracker(exe):
    for mode, expect in (("tracked", "gone"), ("untracked", "present")):
        name = shm_name("trap-" + mode)
        proc = peer([exe, "trap", name])
        try:
            if proc.stdout.readline() != "ready\n":
                raise AssertionError("the peer is not ready")
            # A Python process that attaches, then exits.
            subprocess.run([sys.executable, "-c", textwrap.dedent(ATTACH),
                            name, mode], check=True, timeout=CHILD_TIMEOUT,
                           stderr=subprocess.DEVNULL)
            proc.stdin.write("exited\n")
            proc.stdin.flush()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        out = finish(proc, mode).splitlines()
        # Either way NAME.mpconn was still there for unlink to remove.
        if out != [expect, "unlink 0"]:
            raise AssertionError(f"{mode}: the peer said {out!r}, "
                                 f"expected {[expect, 'unlink 0']!r}")


def _timed_out(signum, frame):
    raise TimeoutError(f"test still running after {TEST_TIMEOUT} s")


def main():
    cases = {"c-creates": c_creates, "py-creates": py_creates,
             "tracker": tracker}
    if len(sys.argv) != 4 or sys.argv[2] not in cases:
        sys.exit(f"usage: {sys.argv[0]} PEER CASE VERSION\n"
                 f"cases: {', '.join(sorted(cases))}")
    have = "%d.%d" % sys.version_info[:2]
    if have != sys.argv[3]:
        print(f"skipped: {sys.executable} is Python {have}, "
              f"not {sys.argv[3]}")
        sys.exit(77)
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TEST_TIMEOUT)
    cases[sys.argv[2]](sys.argv[1])
    print("ok")


if __name__ == "__main__":
    main()
