# SPDX-License-Identifier: MIT
"""Unit tests of the Python module mpconn (python/mpconn.py).

Usage: test_module.py

The module is loaded from the source tree (the file meson installs).  The
codec's tests need msgpack and are skipped without it; the rest do not.
Exit status 0 when every test passed (or was skipped), 1 otherwise.
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import os  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import unittest  # noqa: E402
from multiprocessing import Pipe  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] /
                       "interop"))
from codec_loader import MODULE, load_module  # noqa: E402

mpconn = load_module()

try:
    import msgpack
except ModuleNotFoundError:
    msgpack = None

needs_msgpack = unittest.skipUnless(msgpack, "no msgpack module")


class Loaded(unittest.TestCase):
    def test_from_the_source_tree(self):
        self.assertEqual(pathlib.Path(mpconn.__file__), MODULE)
        self.assertEqual(mpconn.SET_EXT, 83)
        self.assertEqual(mpconn.ENV_NAME, "MPCONN_FD")


@needs_msgpack
class Codec(unittest.TestCase):
    def test_sets_exact_bytes(self):
        # The bytes of docs/values.md's table.
        self.assertEqual(mpconn.packb(set()).hex(" "), "d4 53 90")
        self.assertEqual(mpconn.packb({1}).hex(" "), "d5 53 91 01")
        self.assertEqual(mpconn.packb(frozenset({frozenset()})).hex(" "),
                         "d6 53 91 d4 53 90")
        self.assertEqual(mpconn.packb([1, (2, "a")]).hex(" "),
                         "92 01 92 02 a1 61")

    def test_round_trips(self):
        value = {"ids": {1, 2, 3}, "pairs": {(1, 2), (3, 4)},
                 "nested": {frozenset({1}), 2}, "list": [None, True, 1.5]}
        back = mpconn.unpackb(mpconn.packb(value))
        self.assertEqual(back, value)
        self.assertIs(type(back["ids"]), set)
        self.assertIs(type(next(m for m in back["nested"] if m != 2)),
                      frozenset)
        # Arrays inside sets come back as tuples: members are hashable.
        self.assertEqual(back["pairs"], {(1, 2), (3, 4)})

    def test_frozen_sets_and_keys(self):
        data = mpconn.packb({frozenset({1}): "a", (1, 2): "b"})
        back = mpconn.unpackb(data, use_list=False, frozen_sets=True)
        self.assertEqual(back, {frozenset({1}): "a", (1, 2): "b"})
        self.assertIs(type(mpconn.unpackb(mpconn.packb({1}),
                                          frozen_sets=True)), frozenset)

    def test_other_ext_types_pass(self):
        ext = msgpack.ExtType(5, b"xy")
        self.assertEqual(mpconn.packb(ext).hex(" "), "d5 05 78 79")
        self.assertEqual(mpconn.unpackb(mpconn.packb([ext])), [ext])

    def test_int_keys(self):
        self.assertEqual(mpconn.unpackb(mpconn.packb({1: 2})), {1: 2})

    def test_cannot_pack(self):
        with self.assertRaises(TypeError) as e:
            mpconn.packb(object())
        self.assertEqual(str(e.exception), "cannot pack object")

    def test_values_over_a_pipe(self):
        a, b = Pipe()
        mpconn.send_value(a, {"tags": {"x"}, "n": 1})
        self.assertEqual(mpconn.recv_value(b), {"tags": {"x"}, "n": 1})
        mpconn.send_value(b, [{1}])
        self.assertEqual(mpconn.recv_value(a, use_list=False,
                                           frozen_sets=True),
                         (frozenset({1}),))
        # The frame is the msgpack bytes, nothing else: C reads it.
        mpconn.send_value(a, set())
        self.assertEqual(b.recv_bytes(), b"\xd4\x53\x90")
        a.close()
        with self.assertRaises(EOFError):
            mpconn.recv_value(b)
        b.close()


class FdString(unittest.TestCase):
    def test_good(self):
        self.assertEqual(mpconn.parse_fd_string("3"), (3, 3))
        self.assertEqual(mpconn.parse_fd_string("3,4"), (3, 4))
        self.assertEqual(mpconn.parse_fd_string("3,-1"), (3, -1))
        self.assertEqual(mpconn.parse_fd_string("-1,0"), (-1, 0))
        self.assertEqual(mpconn.parse_fd_string("123456789"),
                         (123456789, 123456789))

    def test_malformed(self):
        # mpconn_from_string() refuses the same strings.
        for spec in ["", "-1", "-1,-1", "1,2,3", "+1", " 1", "1 ", "1,",
                     ",1", "1234567890", "0x3", "\u0663", "-2,1", "1,-0"]:
            with self.subTest(spec=spec):
                with self.assertRaises(ValueError) as e:
                    mpconn.parse_fd_string(spec)
                self.assertEqual(str(e.exception),
                                 f"malformed descriptor string {spec!r}")


class Inherited(unittest.TestCase):
    def setUp(self):
        self.saved = os.environ.pop("MPCONN_FD", None)

    def tearDown(self):
        os.environ.pop("MPCONN_FD", None)
        if self.saved is not None:
            os.environ["MPCONN_FD"] = self.saved

    def handed(self, fd):
        """fd as a parent hands it over: inheritable."""
        os.set_inheritable(fd, True)
        return fd

    def test_socket(self):
        s1, s2 = socket.socketpair()
        fd = self.handed(s2.detach())
        os.environ["MPCONN_FD"] = str(fd)
        conn = mpconn.inherited_connection()
        self.assertIsInstance(conn, Connection)
        self.assertTrue(conn.readable and conn.writable)
        self.assertEqual(conn.fileno(), fd)
        self.assertFalse(os.get_inheritable(fd))
        other = Connection(s1.detach())
        other.send_bytes(b"ping")
        self.assertEqual(conn.recv_bytes(), b"ping")
        conn.send_bytes(b"pong")
        self.assertEqual(other.recv_bytes(), b"pong")
        conn.close()
        other.close()

    def test_pipe_ends_by_access_mode(self):
        r, w = os.pipe()
        reader = mpconn.inherited_connection(str(self.handed(r)))
        writer = mpconn.inherited_connection(str(self.handed(w)))
        self.assertTrue(reader.readable)
        self.assertFalse(reader.writable)
        self.assertFalse(writer.readable)
        self.assertTrue(writer.writable)
        writer.send_bytes(b"one way")
        self.assertEqual(reader.recv_bytes(), b"one way")
        writer.close()
        with self.assertRaises(EOFError):
            reader.recv_bytes()
        reader.close()

    def test_one_direction(self):
        r, w = os.pipe()
        reader = mpconn.inherited_connection(f"{r},-1")
        writer = mpconn.inherited_connection(f"-1,{w}")
        self.assertEqual((reader.readable, reader.writable), (True, False))
        self.assertEqual((writer.readable, writer.writable), (False, True))
        writer.close()
        reader.close()

    def test_two_descriptors(self):
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        conn = mpconn.inherited_connection(f"{down_r},{up_w}")
        self.assertTrue(conn.readable and conn.writable)
        self.assertEqual(conn.fileno(), down_r)
        parent_send = Connection(down_w, readable=False)
        parent_recv = Connection(up_r, writable=False)
        parent_send.send_bytes(b"down")
        self.assertTrue(conn.poll(5))
        self.assertEqual(conn.recv_bytes(), b"down")
        conn.send_bytes(b"up")
        self.assertEqual(parent_recv.recv_bytes(), b"up")
        buf = bytearray(8)
        parent_send.send_bytes(b"into")
        self.assertEqual(conn.recv_bytes_into(buf, 2), 4)
        self.assertEqual(bytes(buf[2:6]), b"into")
        with conn:
            self.assertFalse(conn.closed)
        self.assertTrue(conn.closed)
        with self.assertRaises(EOFError):
            parent_recv.recv_bytes()
        parent_send.close()
        parent_recv.close()

    def test_not_set(self):
        with self.assertRaises(LookupError) as e:
            mpconn.inherited_connection()
        self.assertEqual(str(e.exception),
                         "MPCONN_FD is not set: this program was not started "
                         "with a connection")

    def test_not_open(self):
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        with self.assertRaises(OSError):
            mpconn.inherited_connection(str(r))

    def test_malformed(self):
        os.environ["MPCONN_FD"] = "three"
        with self.assertRaises(ValueError) as e:
            mpconn.inherited_connection()
        self.assertEqual(str(e.exception),
                         "malformed descriptor string 'three'")


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}, msgpack "
          f"{'.'.join(map(str, msgpack.version)) if msgpack else 'missing'}")
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
