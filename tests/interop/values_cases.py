# SPDX-License-Identifier: MIT
"""The values exchanged by test_values.py, by group.

Each case has a name, known to the C peer too (values-cases.c builds the
same value under the same name, in the same order: the "case-names" test
compares the two lists), the value Python sends, and the value Python
expects to receive (they differ where the codec changes the type: a tuple
comes back as a list, a frozenset as a set).

`wire`, when given, is the exact payload C must send for the case (the
bytes docs/values.md shows).  Import this only after the codec loaded,
which skips the test when msgpack is missing.
"""

import collections

import msgpack

from interop_common import PY_TAG, pattern

Case = collections.namedtuple("Case", "name sent received wire")


def case(name, sent, received=None, wire=None):
    return Case(name, sent, sent if received is None else received, wire)


def nested_lists(depth, innermost=None):
    """depth lists, each holding the next; the innermost is empty, or
    holds the value innermost."""
    value = [] if innermost is None else [innermost]
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_sets(depth):
    """depth sets, each holding the next; the innermost is empty."""
    value = frozenset()
    for _ in range(depth - 2):
        value = frozenset({value})
    return {value}


# 10 characters of 1, 2 and 3 bytes in UTF-8.
STR_PERIOD = "abcd\u00e9\u65e5\u672c\u8a9e\u2713!"
SET_EXT = 83

GROUPS = {
    "nil-bool": [
        case("nil", None),
        case("true", True),
        case("false", False),
    ],
    "ints": [
        case("int-0", 0),
        case("int-1", 1),
        case("int-m1", -1),
        case("int-127", 127),
        case("int-128", 128),
        case("int-255", 255),
        case("int-256", 256),
        case("int-m32", -32),
        case("int-m33", -33),
        case("int-m128", -128),
        case("int-m129", -129),
        case("int-65535", 65535),
        case("int-65536", 65536),
        case("int-m32768", -32768),
        case("int-m32769", -32769),
        case("int-2p32m1", 2**32 - 1),
        case("int-2p32", 2**32),
        case("int-m2p31", -2**31),
        case("int-m2p31m1", -2**31 - 1),
        case("int-m2p63", -2**63),
        case("int-2p63m1", 2**63 - 1),
        case("int-2p63", 2**63),
        case("int-2p64m1", 2**64 - 1),
    ],
    "floats": [
        case("float-0", 0.0),
        case("float-m0", -0.0),
        case("float-1.5", 1.5),
        case("float-1e300", 1e300),
        case("float-m1e-300", -1e-300),
        case("float-inf", float("inf")),
        case("float-minf", float("-inf")),
        case("float-nan", float("nan")),
        case("float-1", 1.0),
        case("float-min-subnormal", 5e-324),
        case("float-max", 1.7976931348623157e308),
    ],
    "str": [
        case("str-empty", ""),
        case("str-a", "a"),
        case("str-spam", "spam"),
        case("str-nul", "a\x00b"),
        case("str-es", "Mi c\u00f3digo es MX-317"),
        case("str-ja", "\u65e5\u672c\u8a9e"),
        case("str-emoji", "snake \U0001f40d!"),
        case("str-31", "abcdefghijklmnopqrstuvwxyzABCDE"),
        case("str-32", "abcdefghijklmnopqrstuvwxyzABCDEF"),
        case("str-300", "0123456789" * 30),
        case("str-70000", STR_PERIOD * 7000),
    ],
    "bytes": [
        case("bytes-empty", b""),
        case("bytes-00ff", b"\x00\xff"),
        case("bytes-300", pattern(300, 1, PY_TAG)),
        case("bytes-1mib-plus-1", pattern(1048577, 0, PY_TAG)),
    ],
    "arrays": [
        case("array-empty", []),
        case("array-mixed", [1, "two", 3.0, None]),
        case("array-nested-5", [1, [2, [3, [4, [5]]]]]),
        case("array-tuple", (1, "two", (3.0, None)), [1, "two", [3.0, None]]),
        case("array-16", list(range(16))),
        case("array-10000-ints",
             [(i * 37) % 1000 - 500 for i in range(10000)]),
        case("array-depth-32", nested_lists(32)),
    ],
    "maps": [
        case("map-empty", {}),
        case("map-name-spam", {"name": "bob", "spam": 42}),
        # No 1 or 0 beside True: Python's dict would merge them.
        case("map-keys", {7: "a", -2: "b", 3.5: "c", b"k": "d", None: "e",
                          True: "f", 2**64 - 1: "g", "": "h"}),
        case("map-nested", {"a": [1, {"b": [2, 3, {"c": None}]}],
                            "d": {"e": {"f": []}}, "g": [[], {}]}),
        case("map-16", {f"k{i:02d}": i for i in range(16)}),
    ],
    "sets": [
        case("set-str", {"ss", "pp", "aa", "mm"},
             wire=bytes.fromhex("c70d5394a26161a26d6da27070a27373")),
        case("set-int", {1, -1, 300, 2**40, -2**63, 2**64 - 1}),
        case("set-one", {1}, wire=bytes.fromhex("d5539101")),
        case("set-empty", set(), wire=bytes.fromhex("d45390")),
        case("set-mixed", {None, True, 1.5, b"k", "s", -7}),
        case("set-tuple", {(1, "two"), "x"}),
        case("frozenset", frozenset({"a", 1}), {"a", 1}),
        case("set-in-list", [{1, 2}, 3]),
        case("set-in-dict", {"ids": {1, 2, 3}}),
        case("set-in-set", {frozenset({1, 2}), frozenset(), "x"}),
        case("set-empty-in-set", {frozenset(), 1},
             wire=bytes.fromhex("c7055392d4539001")),
        case("set-1000-ints", set(range(-500, 500))),
        # The deepest a receiver accepts: 32 levels, a set being one.
        case("set-at-depth-32", nested_lists(31, set())),
        case("set-depth-32", nested_sets(32)),
    ],
    "ext": [
        case("ext-5-xyz", msgpack.ExtType(5, b"xyz")),
        case("ext-0-fixext16", msgpack.ExtType(0, bytes(range(16)))),
        case("ext-127-empty", msgpack.ExtType(127, b"")),
        case("ext-100-300", msgpack.ExtType(100, pattern(300, 2, PY_TAG))),
        case("ext-in-array", [msgpack.ExtType(5, b"xyz"), 1]),
    ],
    "records": [
        case("record-list", ["spam", 42, "eggs"],
             wire=bytes.fromhex("93a47370616d2aa465676773")),
        case("record-map", {"name": "bob", "spam": 42},
             wire=bytes.fromhex("82a46e616d65a3626f62a47370616d2a")),
        case("record-mixed", {"name": "bob", "tags": ["a", "b"],
                              "ids": {1, 2, 3}, "score": 1.5,
                              "raw": b"\x00\x01", "none": None, "ok": True,
                              "big": 2**64 - 1, "neg": -2**63}),
    ],
}

BY_NAME = {c.name: c for cases in GROUPS.values() for c in cases}
assert len(BY_NAME) == sum(len(cases) for cases in GROUPS.values())


def set_frame(members_payload):
    """A frame holding ext 83 with the given payload, however malformed."""
    return msgpack.packb(msgpack.ExtType(SET_EXT, members_payload))


def nested_set_frame(depth):
    """depth sets, each holding the next; the innermost is empty."""
    frame = set_frame(b"\x90")
    for _ in range(depth - 1):
        frame = set_frame(b"\x91" + frame)
    return frame


# Frames C must refuse, each with the code mpconn_recv() returns, sent with
# send_bytes; after each one a good frame must still arrive.
HOSTILE = [
    # An array of 4 294 901 760 elements in a 5-byte frame.
    ("huge-array-count", bytes.fromhex("ddff000000"), "EBADVALUE"),
    ("empty-frame", b"", "EBADVALUE"),
    ("byte-c1", b"\xc1", "EBADVALUE"),
    ("trailing-byte", b"\x01\x02", "EBADVALUE"),
    ("truncated-str", b"\xa5ab", "EBADVALUE"),
    ("map-count-too-big", b"\x82\x01\x02\x03", "EBADVALUE"),
    ("depth-33", b"\x91" * 32 + b"\x90", "ETOODEEP"),
    ("map-depth-33", b"\x81\xa1a" * 32 + b"\x80", "ETOODEEP"),
    # 32 lists with an empty set inside: a set is a level too.
    ("set-at-depth-33", b"\x91" * 32 + bytes.fromhex("d45390"), "ETOODEEP"),
    ("set-depth-33", nested_set_frame(33), "ETOODEEP"),
    ("set-holding-map", set_frame(msgpack.packb({1: 2})), "EBADSET"),
    ("set-holding-int", set_frame(b"\x01"), "EBADSET"),
    ("set-empty-payload", set_frame(b""), "EBADSET"),
    ("set-trailing-byte", set_frame(b"\x90\xc0"), "EBADSET"),
    ("set-truncated-member", set_frame(b"\x91\xa5a"), "EBADSET"),
]

# Values in longer forms than msgpack-python or msgpack-c pack them, each
# with the case whose value it holds: C decodes the value and sends it back
# in the smallest form.
NONCANONICAL = [
    ("cf0000000000000001", "int-1"),          # uint 64
    ("d0ff", "int-m1"),                       # int 8
    ("d3ffffffffffffffdf", "int-m33"),        # int 64
    ("d3000000000000007f", "int-127"),        # int 64, not negative
    ("ce0000ffff", "int-65535"),              # uint 32
    ("d90161", "str-a"),                      # str 8
    ("da00047370616d", "str-spam"),           # str 16
    ("c5000200ff", "bytes-00ff"),             # bin 16
    ("dc0000", "array-empty"),                # array 16
    ("df00000000", "map-empty"),              # map 32
    ("c9000000015390", "set-empty"),          # ext 32
    ("c7015390", "set-empty"),                # ext 8
    ("c8000d5394a26161a26d6da27070a27373", "set-str"),  # ext 16
]
