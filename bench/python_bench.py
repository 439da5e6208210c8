#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Python rows of mpconn-bench, measured as the C rows are.

    python_bench.py WORKLOAD VARIANT COUNT

WORKLOAD is small, roundtrip, 1mib, 64mib, mixed, queue, shared or fdpass;
VARIANT is pickle (conn.send/conn.recv), msgpack
(conn.send_bytes(msgpack.packb(obj)) and msgpack.unpackb(conn.recv_bytes())),
bytes (send_bytes/recv_bytes of the 1 MiB or 64 MiB payload), shm (1mib,
64mib: a new multiprocessing.shared_memory.SharedMemory per message, filled
by the sender, its name sent with conn.send(); the receiver attaches by
name, checks the length, first and last byte, closes and unlinks it),
queue (multiprocessing.Queue), value (shared: COUNT additions to one
Value('i') by 4 processes, each under v.get_lock()) or handle (fdpass:
multiprocessing.reduction.send_handle() of one open descriptor, COUNT
times; the receiver recv_handle()s and os.close()s each).  Each role is a
forked
multiprocessing.Process; a barrier starts them together; the time runs from
the first send (CLOCK_MONOTONIC, the clock the C rows use) to the last
receive.  Prints one JSON line: messages, seconds, and the peak RSS of the
sending and receiving processes in KiB; or {"skipped": why} or
{"error": what}.
"""

import json
import multiprocessing
import os
import resource
import signal
import sys
import time
from multiprocessing import resource_tracker
from multiprocessing.reduction import recv_handle, send_handle
from multiprocessing.shared_memory import SharedMemory

KINDS = ("small", "roundtrip", "1mib", "64mib", "mixed", "queue", "shared",
         "fdpass")
PRODUCERS = 4
COUNTERS = 4
BIG_SIZE = 1024 * 1024
BYTES_SIZES = {"1mib": BIG_SIZE, "64mib": 64 * BIG_SIZE}
MIXED_MIN = 10
MIXED_MAX = 100 * 1024
MIXED_SEED = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1
# A stuck process ends itself rather than hang the benchmark.
CHILD_TIMEOUT_S = 900

ctx = multiprocessing.get_context("fork")
packb = unpackb = None


def mixed_sizes(n):
    """bench_mixed_next() of workload.c: the same sizes in the same order."""
    state = MIXED_SEED
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        lo = MIXED_MIN << (z % 14)
        hi = min(2 * lo, MIXED_MAX + 1)
        yield lo + (z >> 32) % (hi - lo)


def pattern(size):
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def report(results, role, index, stamp):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((role, index, stamp, rss))


def send_side(kind, variant, n, conn, barrier, results):
    signal.alarm(CHILD_TIMEOUT_S)
    send, send_bytes = conn.send, conn.send_bytes
    size = BYTES_SIZES.get(kind, 0)
    big = pattern(size) if size else None
    if kind == "fdpass":
        passed = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        pid = os.getppid()  # not used on POSIX
    payload = pattern(MIXED_MAX) if kind == "mixed" else None
    sizes = list(mixed_sizes(n)) if kind == "mixed" else None
    barrier.wait()
    start = time.monotonic_ns()
    if kind == "small" and variant == "pickle":
        for i in range(n):
            send(["spam", i, "eggs"])
    elif kind == "small":
        for i in range(n):
            send_bytes(packb(["spam", i, "eggs"]))
    elif kind == "roundtrip":
        recv, recv_bytes = conn.recv, conn.recv_bytes
        for i in range(n):
            if variant == "pickle":
                send(["spam", i, "eggs"])
                v = recv()
            else:
                send_bytes(packb(["spam", i, "eggs"]))
                v = unpackb(recv_bytes())
            if v != ["spam", i, "eggs"]:
                raise ValueError(f"reply {i} is wrong: {v!r}")
    elif size and variant == "shm":
        for _ in range(n):
            shm = SharedMemory(create=True, size=size)
            shm.buf[:size] = big
            send(shm.name)
            shm.close()  # the receiver unlinks it
    elif size:
        for _ in range(n):
            if variant == "pickle":
                send(big)
            elif variant == "msgpack":
                send_bytes(packb(big))
            else:
                send_bytes(big)
    elif kind == "mixed":
        for i, size in enumerate(sizes):
            if variant == "pickle":
                send([i, payload[:size]])
            else:
                send_bytes(packb([i, payload[:size]]))
    elif kind == "fdpass":
        for _ in range(n):
            send_handle(conn, passed, pid)
    report(results, "send", 0, start)
    if kind == "roundtrip":
        report(results, "end", 0, time.monotonic_ns())


def recv_side(kind, variant, n, conn, barrier, results):
    signal.alarm(CHILD_TIMEOUT_S)
    recv, recv_bytes, send = conn.recv, conn.recv_bytes, conn.send
    sizes = list(mixed_sizes(n)) if kind == "mixed" else None
    size = BYTES_SIZES.get(kind, 0)
    first, last = 0, (size - 1) % 256  # pattern(size)[0], [-1]
    if kind == "fdpass":
        null = os.stat(os.devnull)
    barrier.wait()
    if kind == "small":
        for i in range(n):
            v = recv() if variant == "pickle" else unpackb(recv_bytes())
            if v != ["spam", i, "eggs"]:
                raise ValueError(f"message {i} is wrong: {v!r}")
    elif kind == "roundtrip":
        for _ in range(n):
            if variant == "pickle":
                send(recv())
            else:
                conn.send_bytes(packb(unpackb(recv_bytes())))
    elif size and variant == "shm":
        for _ in range(n):
            shm = SharedMemory(name=recv())
            buf = shm.buf
            ok = len(buf) == size and buf[0] == first and buf[-1] == last
            del buf
            shm.close()
            shm.unlink()
            if not ok:
                raise ValueError("wrong bytes received")
    elif size:
        for _ in range(n):
            if variant == "pickle":
                v = recv()
            elif variant == "msgpack":
                v = unpackb(recv_bytes())
            else:
                v = recv_bytes()
            if len(v) != size or v[0] != first or v[-1] != last:
                raise ValueError("wrong bytes received")
    elif kind == "mixed":
        for i, size in enumerate(sizes):
            v = recv() if variant == "pickle" else unpackb(recv_bytes())
            if v[0] != i or len(v[1]) != size:
                raise ValueError(f"message {i} is wrong")
    elif kind == "fdpass":
        for i in range(n):
            fd = recv_handle(conn)
            if i == 0 or i == n - 1:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != (null.st_dev, null.st_ino):
                    raise ValueError(f"descriptor {i} is not the one sent")
            os.close(fd)
    end = time.monotonic_ns()
    if kind != "roundtrip":
        report(results, "end", 0, end)
    report(results, "recv", 0, 0)


def producer(index, n, q, barrier, results):
    signal.alarm(CHILD_TIMEOUT_S)
    barrier.wait()
    start = time.monotonic_ns()
    for i in range(index, n, PRODUCERS):
        q.put(["spam", i, "eggs"])
    # The feeder thread still holds items; Process exit waits for it, so
    # the RSS is taken once they are out.
    q.close()
    q.join_thread()
    report(results, "send", index, start)


def consumer(n, q, barrier, results):
    signal.alarm(CHILD_TIMEOUT_S)
    nxt = list(range(PRODUCERS))
    barrier.wait()
    for k in range(n):
        v = q.get()
        i = v[1]
        if v[0] != "spam" or v[2] != "eggs" or nxt[i % PRODUCERS] != i:
            raise ValueError(f"item {k} is wrong or out of order: {v!r}")
        nxt[i % PRODUCERS] += PRODUCERS
    report(results, "end", 0, time.monotonic_ns())
    report(results, "recv", 0, 0)


def counter(index, n, value, barrier, results):
    signal.alarm(CHILD_TIMEOUT_S)
    count = n // COUNTERS + (index < n % COUNTERS)
    lock = value.get_lock()
    barrier.wait()
    start = time.monotonic_ns()
    for _ in range(count):
        with lock:
            value.value += 1
    end = time.monotonic_ns()
    report(results, "send", index, start)
    report(results, "end", index, end)
    report(results, "recv", index, 0)


def run(kind, variant, n):
    results = ctx.SimpleQueue()
    if kind == "shared":
        value = ctx.Value("i", 0)
        barrier = ctx.Barrier(COUNTERS)
        procs = [ctx.Process(target=counter,
                             args=(i, n, value, barrier, results))
                 for i in range(COUNTERS)]
        reports = 3 * COUNTERS
    elif kind == "queue":
        q = ctx.Queue()
        barrier = ctx.Barrier(PRODUCERS + 1)
        procs = [ctx.Process(target=producer, args=(p, n, q, barrier, results))
                 for p in range(PRODUCERS)]
        procs.append(ctx.Process(target=consumer,
                                 args=(n, q, barrier, results)))
        reports = PRODUCERS + 2
    else:
        if variant == "shm":
            # Started here, so that both processes share it: the sender's
            # SharedMemory registers each name, the receiver's unlink()
            # unregisters it.
            resource_tracker.ensure_running()
        a, b = ctx.Pipe()  # duplex: a socketpair
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=send_side,
                             args=(kind, variant, n, b, barrier, results)),
                 ctx.Process(target=recv_side,
                             args=(kind, variant, n, a, barrier, results))]
        reports = 3
    for p in procs:
        p.start()
    # A handful of small reports: they fit in the pipe, so the children
    # never wait for them to be read.
    for p in procs:
        p.join()
    got = []
    while not results.empty():
        got.append(results.get())
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad or len(got) < reports:
        return {"error": f"a Python process exited with status {bad[0]}"
                if bad else "a Python process did not report"}
    if kind == "shared" and value.value != n:
        return {"error": f"the counter is {value.value}, not {n}"}
    starts = [stamp for role, _, stamp, _ in got if role == "send"]
    end = max(stamp for role, _, stamp, _ in got if role == "end")
    rss_send = max(rss for role, _, _, rss in got if role == "send")
    rss_recv = max(rss for role, _, _, rss in got if role == "recv")
    return {"messages": n, "seconds": (end - min(starts)) / 1e9,
            "rss_send_kib": rss_send, "rss_recv_kib": rss_recv}


def main(argv):
    global packb, unpackb
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    kind, variant, n = argv[1], argv[2], int(argv[3])
    if kind not in KINDS:
        print(json.dumps({"error": f"unknown workload {kind}"}))
        return 0
    if variant == "msgpack":
        try:
            import msgpack
        except ImportError:
            print(json.dumps({"skipped": "python3-msgpack not installed"}))
            return 0
        packb, unpackb = msgpack.packb, msgpack.unpackb
    print(json.dumps(run(kind, variant, n)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
