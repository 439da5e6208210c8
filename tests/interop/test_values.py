# SPDX-License-Identifier: MIT
"""Values between CPython and mpconn: msgpack-python with the set codec of
the module python/mpconn.py on one side, values_peer.c on the other.

Usage: test_values.py PEER CASE [pipe|socket]

The values are the groups of values_cases.py; values-cases.c builds the
same ones on the C side.  CASE is one of:

  py-to-c-GROUP    For each value: Python sends codec.packb(value) with
                   send_bytes; C checks that mpconn_recv() decoded exactly
                   the value it builds itself, and sends what it decoded
                   back with mpconn_send(); Python checks the echo is the
                   very bytes it sent (msgpack.packb()'s, for values without
                   sets) and decodes to the expected value.
  c-to-py-GROUP    C builds and sends each value; Python checks that
                   codec.unpackb() gives exactly the expected value, that
                   the bytes are msgpack.packb()'s for values without sets,
                   and the documented ones where values_cases.py has them.
  py-to-c-hostile  Frames mpconn_recv() must refuse, each with its code,
                   each followed by a good value that must still arrive.
  py-to-c-noncanonical
                   Values in longer forms than need be; C decodes them
                   exactly and sends them back in the smallest form.
  case-names       C and Python have the same cases in the same order.

"Exactly" is stricter than ==: see mismatch().  Transports as in
test_framing.py; py-to-c cases use both directions.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

from codec_loader import load_codec  # noqa: E402

codec = load_codec()  # exits 77 (skipped) without msgpack

import math  # noqa: E402
import subprocess  # noqa: E402

import msgpack  # noqa: E402

from interop_common import (CHILD_TIMEOUT, check_bytes,  # noqa: E402
                            check_equal, expect_raises, main, open_transport,
                            run_peer)
from values_cases import (BY_NAME, GROUPS, HOSTILE,  # noqa: E402
                          NONCANONICAL)


def short(x):
    r = repr(x)
    return r if len(r) <= 70 else r[:67] + "..."


def mismatch(got, want, path="$"):
    """Where got differs from want, or None.

    Types must be the same all the way down: True is not 1, 1.0 is not 1,
    a list is not a tuple, a set is not a frozenset.  Floats compare bit
    for bit (-0.0 is not 0.0) except that NaN matches NaN; dicts must hold
    the same pairs in the same order; set members match by == and then
    must be the same.
    """
    if type(got) is not type(want):
        return (f"at {path}: got {type(got).__name__} {short(got)}, "
                f"expected {type(want).__name__} {short(want)}")
    if isinstance(want, float):
        if math.isnan(want) and math.isnan(got):
            return None
        if got == want and math.copysign(1, got) == math.copysign(1, want):
            return None
    elif isinstance(want, msgpack.ExtType):  # a tuple too: test it first
        if (type(got.code) is int and type(got.data) is bytes
                and got == want):
            return None
    elif isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return (f"at {path}: got {len(got)} items, "
                    f"expected {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            if d := mismatch(g, w, f"{path}[{i}]"):
                return d
        return None
    elif isinstance(want, dict):
        if len(got) != len(want):
            return (f"at {path}: got {len(got)} pairs, "
                    f"expected {len(want)}")
        pairs = zip(got.items(), want.items())
        for i, ((gk, gv), (wk, wv)) in enumerate(pairs):
            if d := (mismatch(gk, wk, f"{path}{{key {i}}}")
                     or mismatch(gv, wv, f"{path}[{wk!r}]")):
                return d
        return None
    elif isinstance(want, (set, frozenset)):
        if len(got) != len(want):
            return (f"at {path}: got {len(got)} members, "
                    f"expected {len(want)}")
        # Members of a set are unequal to each other, so each expected
        # member has at most one candidate.
        members = {g: g for g in got}
        for w in want:
            if w not in members:
                return f"at {path}: member {short(w)} is missing"
            if d := mismatch(members[w], w, f"{path}<{short(w)}>"):
                return d
        return None
    elif got == want:
        return None
    return f"at {path}: got {short(got)}, expected {short(want)}"


def check_value(got, want, what):
    if d := mismatch(got, want):
        raise AssertionError(f"{what}: {d}")


def has_set(x):
    """Whether a set is anywhere in x (its bytes depend on hash order)."""
    if isinstance(x, (set, frozenset)):
        return True
    if isinstance(x, msgpack.ExtType):
        return False
    if isinstance(x, (list, tuple)):
        return any(has_set(i) for i in x)
    if isinstance(x, dict):
        return any(has_set(k) or has_set(v) for k, v in x.items())
    return False


def send_and_check_echo(ends, case):
    """Send one case; C checks it and echoes it; check the echo."""
    raw = codec.packb(case.sent)
    if not has_set(case.sent):
        check_bytes(raw, msgpack.packb(case.sent),
                    f"{case.name}: codec.packb() against msgpack.packb()")
    ends.send.send_bytes(raw)
    echo = ends.recv.recv_bytes()
    check_bytes(echo, raw, f"{case.name}: the bytes C sent back")
    check_value(codec.unpackb(echo), case.received,
                f"{case.name}: the value C sent back")


def py_to_c(peer, kind, group):
    """Each value of the group: Python -> C, checked there, and back."""
    cases = GROUPS[group]
    ends = open_transport(kind)
    steps = [f"echo:{c.name}" for c in cases] + ["expect:EOF"]
    with run_peer(peer, ends, steps):
        for c in cases:
            send_and_check_echo(ends, c)
        ends.close()


def c_to_py(peer, kind, group):
    """Each value of the group built by C -> Python; then EOFError."""
    cases = GROUPS[group]
    ends = open_transport(kind, py_to_c=False)
    with run_peer(peer, ends, [f"send:{c.name}" for c in cases]):
        for c in cases:
            raw = ends.recv.recv_bytes()
            check_value(codec.unpackb(raw), c.received, c.name)
            if c.wire is not None:
                check_bytes(raw, c.wire, f"{c.name}: the documented bytes")
            if not has_set(c.sent):
                check_bytes(raw, msgpack.packb(c.sent),
                            f"{c.name}: the bytes against msgpack.packb()")
        expect_raises(EOFError, "", ends.recv.recv_bytes)
    ends.close()


def py_to_c_hostile(peer, kind):
    """Each frame of HOSTILE -> mpconn_recv() fails with its code; the
    value sent next still arrives, and C can still send."""
    good = BY_NAME["record-map"]
    ends = open_transport(kind)
    steps = [s for _, _, code in HOSTILE
             for s in (f"expect:{code}", f"echo:{good.name}")]
    with run_peer(peer, ends, steps + ["expect:EOF"]):
        for name, frame, _ in HOSTILE:
            try:
                ends.send.send_bytes(frame)
                send_and_check_echo(ends, good)
            except Exception as e:
                raise AssertionError(f"after hostile frame {name}") from e
        ends.close()


def py_to_c_noncanonical(peer, kind):
    """Each frame of NONCANONICAL -> C decodes exactly its case's value and
    sends it back in the smallest form: msgpack.packb()'s bytes, or for a
    set the documented ones."""
    ends = open_transport(kind)
    steps = [f"echo:{name}" for _, name in NONCANONICAL]
    with run_peer(peer, ends, steps + ["expect:EOF"]):
        for frame, name in NONCANONICAL:
            case = BY_NAME[name]
            canonical = (case.wire if has_set(case.sent)
                         else msgpack.packb(case.sent))
            ends.send.send_bytes(bytes.fromhex(frame))
            echo = ends.recv.recv_bytes()
            check_bytes(echo, canonical, f"{frame}: the bytes C sent back")
            check_value(codec.unpackb(echo), case.received,
                        f"{frame}: the value C sent back")
        ends.close()


def case_names(peer):
    """The peer's table has exactly the cases of values_cases.py."""
    out = subprocess.run([peer, "names"], stdout=subprocess.PIPE, text=True,
                         timeout=CHILD_TIMEOUT, check=True).stdout
    got, expected = out.split("\n")[:-1], list(BY_NAME)
    for i, (g, e) in enumerate(zip(got, expected)):
        check_equal(g, e, f"case {i} of values-cases.c")
    check_equal(len(got), len(expected), "the cases in values-cases.c")


def group_case(func, group):
    return lambda peer, kind: func(peer, kind, group)


if __name__ == "__main__":
    cases = {"py-to-c-hostile": py_to_c_hostile,
             "py-to-c-noncanonical": py_to_c_noncanonical,
             "case-names": case_names}
    for group in GROUPS:
        cases[f"py-to-c-{group}"] = group_case(py_to_c, group)
        cases[f"c-to-py-{group}"] = group_case(c_to_py, group)
    main(cases)
