# SPDX-License-Identifier: MIT
"""The Python side of mpconn: values over multiprocessing connections.

mpconn (a C library) sends and receives msgpack values in the frames of
Python's multiprocessing.connection.  This module is what a Python program
needs to talk to it, on top of msgpack-python (Debian: python3-msgpack):

    packb(obj), unpackb(data)   msgpack with mpconn's set convention: a set
                                or frozenset is ext type 83 holding one
                                array of the members
    send_value(conn, obj)       conn.send_bytes(packb(obj))
    recv_value(conn)            unpackb(conn.recv_bytes())
    inherited_connection()      the connection a C parent handed over in
                                the environment variable MPCONN_FD

Do not use conn.send(obj) / conn.recv() with mpconn: those pickle.

msgpack is imported when a value is first packed or unpacked, so that a
program that only moves bytes (inherited_connection(), send_bytes())
does not need it.
"""

import os

__all__ = ["SET_EXT", "ENV_NAME", "packb", "unpackb", "send_value",
           "recv_value", "inherited_connection", "parse_fd_string"]

SET_EXT = 83  # ext type of a set: ASCII 'S'
ENV_NAME = "MPCONN_FD"


# --------------------------------------------------------------------------
# The set codec

_msgpack = None


def _mp():
    """msgpack, imported on first use (ModuleNotFoundError without it)."""
    global _msgpack
    if _msgpack is None:
        import msgpack
        _msgpack = msgpack
    return _msgpack


def _default(obj):
    msgpack = _mp()
    if isinstance(obj, (set, frozenset)):
        return msgpack.ExtType(SET_EXT,
                               msgpack.packb(list(obj), default=_default))
    raise TypeError(f"cannot pack {type(obj).__name__}")


def _members(data):
    msgpack = _mp()
    # Members must be hashable: nested arrays become tuples, sets frozensets.
    return msgpack.unpackb(data, ext_hook=_frozen_hook, use_list=False,
                           strict_map_key=False)


def _frozen_hook(code, data):
    if code == SET_EXT:
        return frozenset(_members(data))
    return _mp().ExtType(code, data)


def _ext_hook(code, data):
    if code == SET_EXT:
        return set(_members(data))
    return _mp().ExtType(code, data)


def packb(obj):
    """Pack obj for mpconn: tuples as arrays, sets as ext 83."""
    return _mp().packb(obj, default=_default)


def unpackb(data, use_list=True, frozen_sets=False):
    """Unpack a frame from mpconn; maps may have keys of any kind.

    Sets come back as set (frozenset inside sets, or everywhere with
    frozen_sets=True).  A map whose keys are arrays or sets needs
    use_list=False, frozen_sets=True: dict keys must be hashable.
    """
    return _mp().unpackb(data, use_list=use_list, strict_map_key=False,
                         ext_hook=_frozen_hook if frozen_sets else _ext_hook)


# --------------------------------------------------------------------------
# Values over a connection

def send_value(conn, obj):
    """Send obj as one frame holding its msgpack, as mpconn_send() does."""
    conn.send_bytes(packb(obj))


def recv_value(conn, use_list=True, frozen_sets=False):
    """Receive one frame and unpack it, as mpconn_recv() does.

    Raises EOFError when the peer has closed, as recv_bytes() does.
    """
    return unpackb(conn.recv_bytes(), use_list=use_list,
                   frozen_sets=frozen_sets)


# --------------------------------------------------------------------------
# A connection handed over by a C parent

def _fd_number(text, spec, allow_none):
    if allow_none and text == "-1":
        return -1
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ValueError(f"malformed descriptor string {spec!r}")
    return int(text)


def parse_fd_string(spec):
    """The descriptors named by spec, as mpconn_fd_string() writes it.

    "FD" gives (FD, FD): one descriptor for both directions (its access
    mode may still allow only one).  "RFD,WFD" gives (RFD, WFD), -1 for a
    missing direction.  The rules are mpconn_from_string()'s: plain decimal
    digits, at most 9, and -1 only in the two-number form and not twice.
    Raises ValueError for anything else.
    """
    parts = spec.split(",")
    if len(parts) == 1:
        fd = _fd_number(parts[0], spec, False)
        return fd, fd
    if len(parts) != 2:
        raise ValueError(f"malformed descriptor string {spec!r}")
    r = _fd_number(parts[0], spec, True)
    w = _fd_number(parts[1], spec, True)
    if r < 0 and w < 0:
        raise ValueError(f"malformed descriptor string {spec!r}")
    return r, w


class _TwoWay:
    """A connection over two descriptors, one per direction.

    multiprocessing's Connection wraps one descriptor; a C connection
    wrapped from two ("RFD,WFD", both present) becomes this: the bytes API
    of a Connection, receiving on one and sending on the other.
    """

    def __init__(self, reader, writer):
        self._reader, self._writer = reader, writer

    readable = property(lambda self: True)
    writable = property(lambda self: True)
    closed = property(lambda self: self._reader.closed)

    def fileno(self):
        """The receiving descriptor, to wait on."""
        return self._reader.fileno()

    def send_bytes(self, buf, offset=0, size=None):
        self._writer.send_bytes(buf, offset, size)

    def recv_bytes(self, maxlength=None):
        return self._reader.recv_bytes(maxlength)

    def recv_bytes_into(self, buf, offset=0):
        return self._reader.recv_bytes_into(buf, offset)

    def poll(self, timeout=0.0):
        return self._reader.poll(timeout)

    def close(self):
        try:
            self._writer.close()
        finally:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def inherited_connection(spec=None):
    """Wrap the connection a C parent handed over.

    spec is the descriptor string; by default the value of the environment
    variable MPCONN_FD, which mpconn_spawn() sets (or a parent that called
    mpconn_fd_string() itself).  One descriptor becomes a
    multiprocessing.connection.Connection whose direction follows the
    descriptor's access mode (a pipe's read end only receives, its write
    end only sends, a socket does both), as mpconn_from_fd() decides;
    "RFD,-1" and "-1,WFD" a receive-only or send-only Connection; two
    descriptors an object with the same bytes API.  The descriptors are
    made non-inheritable again, so that this program's own children do not
    hold them.

    Raises LookupError when spec is None and MPCONN_FD is not set,
    ValueError for a malformed string, OSError for a descriptor that is
    not open.
    """
    from multiprocessing.connection import Connection

    if spec is None:
        spec = os.environ.get(ENV_NAME)
        if spec is None:
            raise LookupError(f"{ENV_NAME} is not set: this program was not "
                              "started with a connection")
    r, w = parse_fd_string(spec)
    for fd in {r, w} - {-1}:
        os.set_inheritable(fd, False)  # OSError if it is not open
    if r == w:
        mode = _access_mode(r)
        return Connection(r, readable=mode != os.O_WRONLY,
                          writable=mode != os.O_RDONLY)
    if w < 0:
        return Connection(r, writable=False)
    if r < 0:
        return Connection(w, readable=False)
    return _TwoWay(Connection(r, writable=False),
                   Connection(w, readable=False))


def _access_mode(fd):
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
