# SPDX-License-Identifier: MIT
"""Tests of mpconn connect and mpconn listen (docs/cli.md).

Usage: test_net.py TOOL CASE [TRANSPORT]

The tool talks to multiprocessing.connection's Listener and Client, and to
itself through shell pipes.  TRANSPORT is "unix" (a socket file in a
private directory), "abstract" (a Linux abstract name) or "tcp"
(127.0.0.1, a free port); cases without one choose their own.  Each case is
a function case_<name> (dashes become underscores) whose docstring says
what it checks.

The interpreter running this script is the Python under test.  Python
packs and unpacks with msgpack and the set codec of python/mpconn.py (loaded
by tests/interop/codec_loader.py); an interpreter without the msgpack
module gets Debian's msgpack-python from /usr/lib/python3/dist-packages,
in its pure-Python form.

Every check is exact: the tool's standard output, its standard error and
its exit status.  The tool runs under MPCONN_TOOL_WRAPPER, or under
valgrind when this script does, as in test_cli.py.  Every child is waited
for, and an alarm bounds each case.
"""
import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from multiprocessing import AuthenticationError  # noqa: E402
from multiprocessing.connection import Client, Listener  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
from codec_loader import SKIP, load_codec  # noqa: E402

DEBIAN_MSGPACK = "/usr/lib/python3/dist-packages/msgpack"
TOOL = None
codec = None
msgpack = None
TIMEOUT = 120        # seconds for one step of the tool; valgrind is slow
CASE_TIMEOUT = 280   # seconds for a whole case (meson allows 300)
KEY = b"cli key"
WRONG = b"not the key"


def import_msgpack():
    """msgpack, from this interpreter or else from Debian's package."""
    try:
        import msgpack as m
        return m
    except ImportError:
        pass
    init = os.path.join(DEBIAN_MSGPACK, "__init__.py")
    if not os.path.exists(init):
        print(f"skipped: {sys.executable} has no msgpack module and "
              f"{DEBIAN_MSGPACK} is missing")
        sys.exit(SKIP)
    # Its C extension is built for Debian's Python only.
    os.environ["MSGPACK_PUREPYTHON"] = "1"
    spec = importlib.util.spec_from_file_location(
        "msgpack", init, submodule_search_locations=[DEBIAN_MSGPACK])
    m = importlib.util.module_from_spec(spec)
    sys.modules["msgpack"] = m
    spec.loader.exec_module(m)
    return m


# --------------------------------------------------------------------------
# Running the tool

def wrapper():
    w = os.environ.get("MPCONN_TOOL_WRAPPER")
    if w is not None:
        return shlex.split(w)
    if "vgpreload" in os.environ.get("LD_PRELOAD", ""):
        return ["valgrind", "-q", "--leak-check=full", "--error-exitcode=125"]
    return []


def child_env(**extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("MPCONN_AUTHKEY", None)
    env.update(extra)
    return env


def command(*args):
    return wrapper() + [TOOL, *args]


def shell_tool():
    """The tool as a word of a shell command line."""
    return shlex.join(wrapper() + [TOOL])


def start(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=None,
          **kw):
    return subprocess.Popen(command(*args), stdin=stdin, stdout=stdout,
                            stderr=subprocess.PIPE,
                            env=env if env is not None else child_env(), **kw)


@contextlib.contextmanager
def reaped(proc):
    """Leaving the block, a child still running is killed; it is always
    waited for."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def run(args, stdin=b"", env=None, **kw):
    """Run the tool to its end: (status, stdout, stderr)."""
    p = subprocess.run(command(*args), input=stdin, capture_output=True,
                       timeout=TIMEOUT,
                       env=env if env is not None else child_env(), **kw)
    return p.returncode, p.stdout, p.stderr


def check_equal(what, got, want):
    if got != want:
        raise AssertionError(f"{what}:\n  want {want!r}\n  got  {got!r}")


def read_line(fd, what):
    """One line from a pipe, within TIMEOUT."""
    data = b""
    end = time.monotonic() + TIMEOUT
    while not data.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{what}: no whole line, got {data!r}")
        byte = os.read(fd, 1)
        if not byte:
            raise AssertionError(f"{what}: end of file after {data!r}")
        data += byte
    return data


def listening(proc):
    """The address of `mpconn listen`, from its first line on stderr."""
    line = read_line(proc.stderr.fileno(), "listening line")
    prefix = b"mpconn: listening on "
    if not line.startswith(prefix):
        raise AssertionError(f"listen said {line!r}")
    return line[len(prefix):-1].decode()


def finish(proc, out, err, status, what="tool"):
    """Wait for the tool, then check what is left of its stdout and
    stderr, and its status."""
    got_out, got_err = proc.communicate(timeout=TIMEOUT)
    if isinstance(err, str):
        err = err.encode()
    check_equal(f"{what}: status, stdout, stderr",
                (proc.returncode, got_out, got_err), (status, out, err))


def jsonl(lines):
    return "".join(line + "\n" for line in lines).encode()


# --------------------------------------------------------------------------
# Addresses and Python's side

class Places:
    """Addresses of one transport."""

    def __init__(self, transport):
        if transport not in ("unix", "abstract", "tcp"):
            raise ValueError(f"unknown transport {transport!r}")
        self.transport = transport
        self.dir = tempfile.mkdtemp(prefix="mpconn-cli-")
        self.count = 0

    def _next(self):
        self.count += 1
        return self.count

    def tool(self):
        """An address for `mpconn listen`."""
        n = self._next()
        if self.transport == "unix":
            return os.path.join(self.dir, f"tool{n}")
        if self.transport == "abstract":
            return f"@mpconn-cli-{os.getpid()}-{n}"
        return "127.0.0.1:0"

    def python(self):
        """An address for Python's Listener."""
        n = self._next()
        if self.transport == "unix":
            return os.path.join(self.dir, f"py{n}")
        if self.transport == "abstract":
            return f"\0mpconn-cli-py-{os.getpid()}-{n}"
        return ("127.0.0.1", 0)

    def close(self):
        shutil.rmtree(self.dir)


def c_form(addr):
    """A Python address as the tool writes it."""
    if isinstance(addr, tuple):
        return f"{addr[0]}:{addr[1]}"
    if isinstance(addr, bytes):
        addr = addr.decode()
    if addr.startswith("\0"):
        return "@" + addr[1:]
    return addr


def py_form(addr):
    """An address of the tool as Python's Client takes it."""
    if addr.startswith("@"):
        return "\0" + addr[1:]
    if "/" in addr:
        return addr
    host, _, port = addr.rpartition(":")
    return (host, int(port))


def accept(listener, proc):
    """listener.accept(), failing fast if the tool exits instead."""
    sock = listener._listener._socket
    end = time.monotonic() + TIMEOUT
    while not select.select([sock], [], [], 0.1)[0]:
        if proc.poll() is not None:
            raise AssertionError(
                f"the tool exited ({proc.returncode}) before connecting: "
                f"{proc.stderr.read()!r}")
        if time.monotonic() > end:
            raise AssertionError("the tool did not connect")
    return listener.accept()


def recv(conn):
    if not conn.poll(TIMEOUT):
        raise AssertionError("no message from the tool")
    return codec.unpackb(conn.recv_bytes())


def expect_eof(conn):
    """The tool has stopped sending: Python reads end of file."""
    if not conn.poll(TIMEOUT):
        raise AssertionError("the tool did not stop sending")
    try:
        data = conn.recv_bytes()
    except EOFError:
        return
    raise AssertionError(f"a message too many: {data!r}")


def expect_auth_error(func, *args, **kwargs):
    try:
        result = func(*args, **kwargs)
    except AuthenticationError:
        return
    raise AssertionError(f"expected AuthenticationError, got {result!r}")


def shut_wr(conn):
    """Python's Connection has no half-close: shut the socket down for
    sending, so that the tool reads end of file while it can still send."""
    s = socket.socket(fileno=os.dup(conn.fileno()))
    s.shutdown(socket.SHUT_WR)
    s.close()


@contextlib.contextmanager
def key_file(data):
    fd, path = tempfile.mkstemp(prefix="mpconn-cli-key-")
    try:
        os.write(fd, data)
        os.close(fd)
        yield path
    finally:
        os.unlink(path)


class HeldPipe:
    """A pipe for the tool's stdin: r is the tool's end, and the write end
    stays open (the tool reads no end of file) until close_w()."""

    def __init__(self, data=b""):
        self.r, self.w = os.pipe()
        os.write(self.w, data)

    def write(self, data):
        os.write(self.w, data)

    def close_w(self):
        if self.w is not None:
            os.close(self.w)
            self.w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.r)
        self.close_w()


# What Python sends and the lines the tool prints for it, and the other way
# round.  Sets of small integers iterate in order, so "$set" has one form.
def values():
    return [None, True, -5, 2**64 - 1, 0.25, "héllo", b"\x00\xff", [1, [2]],
            {"a": {"b": None}}, {1: "x"}, {1, 2, 3},
            msgpack.ExtType(9, b"abc"), "x" * 200000]


JSON = ["null", "true", "-5", "18446744073709551615", "0.25", '"héllo"',
        '{"$bytes":"AP8="}', "[1,[2]]", '{"a":{"b":null}}',
        '{"$map":[[1,"x"]]}', '{"$set":[1,2,3]}', '{"$ext":[9,"YWJj"]}',
        '"' + "x" * 200000 + '"']


def exchange(conn):
    """Python's side of a whole conversation with the tool, whose stdin
    holds jsonl(JSON): each side sends every value; the tool then stops
    sending, and Python closes."""
    for v in values():
        conn.send_bytes(codec.packb(v))
    for k, v in enumerate(values()):
        check_equal(f"value {k} from the tool", recv(conn), v)
    expect_eof(conn)
    conn.close()


@contextlib.contextmanager
def lines_file(lines):
    fd, path = tempfile.mkstemp(prefix="mpconn-cli-in-")
    os.write(fd, jsonl(lines) if isinstance(lines, list) else lines)
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        yield fd
    finally:
        os.close(fd)
        os.unlink(path)


# --------------------------------------------------------------------------
# mpconn listen <- Python's Client

def listen_client(places, key_args, env, authkey):
    with lines_file(JSON) as stdin:
        proc = start(["listen", places.tool(), "--once", *key_args],
                     stdin=stdin, env=env)
        with reaped(proc):
            addr = listening(proc)
            exchange(Client(py_form(addr), authkey=authkey))
            finish(proc, jsonl(JSON), "", 0)


def case_listen_client(places):
    """listen --once <- Client(): values both ways, the tool's end of
    input reaches Python as EOFError, Python closes, the tool exits 0."""
    listen_client(places, [], None, None)


def case_listen_client_authkey(places):
    """The same with an authkey, from --authkey-file and from
    MPCONN_AUTHKEY."""
    with key_file(KEY) as path:
        listen_client(places, ["--authkey-file", path], None, KEY)
    listen_client(places, [], child_env(MPCONN_AUTHKEY=KEY.decode()), KEY)


def case_listen_client_wrong_key(places):
    """A Client with another key: Python raises AuthenticationError, and
    listen --once exits 1 saying it refused the client."""
    with key_file(KEY) as path:
        proc = start(["listen", places.tool(), "--once", "--authkey-file",
                      path])
        with reaped(proc):
            addr = listening(proc)
            expect_auth_error(Client, py_form(addr), authkey=WRONG)
            finish(proc, b"", "mpconn: listen: refused a client: "
                   "authentication failed\n", 1)


# --------------------------------------------------------------------------
# mpconn connect -> Python's Listener

def connect_listener(places, key_args, env, authkey):
    with Listener(places.python(), authkey=authkey) as listener:
        with lines_file(JSON) as stdin:
            proc = start(["connect", c_form(listener.address), *key_args],
                         stdin=stdin, env=env)
            with reaped(proc):
                exchange(accept(listener, proc))
                finish(proc, jsonl(JSON), "", 0)


def case_connect_listener(places):
    """connect -> Listener(): values both ways, the tool's end of input
    reaches Python as EOFError, Python closes, the tool exits 0."""
    connect_listener(places, [], None, None)


def case_connect_listener_authkey(places):
    """The same with an authkey, from --authkey-file and from
    MPCONN_AUTHKEY."""
    with key_file(KEY) as path:
        connect_listener(places, ["--authkey-file", path], None, KEY)
    connect_listener(places, [], child_env(MPCONN_AUTHKEY=KEY.decode()), KEY)


def case_connect_listener_wrong_key(places):
    """connect with another key than the Listener's: Python's accept()
    raises AuthenticationError, the tool exits 1."""
    with Listener(places.python(), authkey=KEY) as listener:
        addr = c_form(listener.address)
        with key_file(WRONG) as path:
            proc = start(["connect", addr, "--authkey-file", path])
            with reaped(proc):
                expect_auth_error(accept, listener, proc)
                finish(proc, b"",
                       f"mpconn: connect: {addr}: authentication failed\n", 1)


# --------------------------------------------------------------------------
# mpconn connect -> mpconn listen, in shell pipelines

def sh(script, what, stdin=None):
    """Run a shell command line; it must exit 0 with nothing on stderr."""
    p = subprocess.run(["sh", "-c", script], capture_output=True,
                       timeout=TIMEOUT, env=child_env(), stdin=stdin)
    check_equal(what, (p.returncode, p.stdout, p.stderr), (0, b"", b""))


def c_to_c(address, key_args, connect_prefix, dir_):
    """LINES | mpconn connect against mpconn listen --once < FILE, both
    writing to files; key_args for both, connect_prefix before the connect
    command (an environment assignment).  connect's input is a pipe that
    holds every line, the last without a newline, before connect starts:
    listen's input is shorter, so listen may close first, and then connect
    sends what its input holds and no more (docs/cli.md)."""
    to_listen = JSON[:7]
    to_connect = JSON[7:12] + ["", '{"$map":[[{"$set":[]},[]]]}']
    listen_in = os.path.join(dir_, "listen.in")
    listen_out = os.path.join(dir_, "listen.out")
    connect_out = os.path.join(dir_, "connect.out")
    with open(listen_in, "wb") as f:
        f.write(jsonl(to_connect))
    keys = shlex.join(key_args)
    listen = subprocess.Popen(
        ["sh", "-c", f"exec {shell_tool()} listen {shlex.quote(address)} "
         f"--once {keys} < {shlex.quote(listen_in)} "
         f"> {shlex.quote(listen_out)}"],
        stderr=subprocess.PIPE, env=child_env())
    with reaped(listen):
        bound = listening(listen)
        r, w = os.pipe()
        try:
            os.write(w, "\n".join(to_listen).encode())  # no final newline
            os.close(w)
            w = -1
            sh(f"{connect_prefix}{shell_tool()} connect {shlex.quote(bound)} "
               f"{keys} > {shlex.quote(connect_out)}", "pipe | mpconn connect",
               stdin=r)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        finish(listen, None, "", 0, "mpconn listen")
    with open(listen_out, "rb") as f:
        check_equal("listen's output", f.read(), jsonl(to_listen))
    with open(connect_out, "rb") as f:
        check_equal("connect's output", f.read(),
                    jsonl(to_connect[:5] + to_connect[6:]))


def case_connect_listen(places):
    """mpconn connect (input from a pipe) against mpconn listen, without a key,
    with --authkey-file on both sides, and with the client's key from
    MPCONN_AUTHKEY: exact outputs on both sides."""
    c_to_c(places.tool(), [], "", places.dir)
    with key_file(KEY) as path:
        c_to_c(places.tool(), ["--authkey-file", path], "", places.dir)
        c_to_c(places.tool(), ["--authkey-file", path],
               f"MPCONN_AUTHKEY={shlex.quote(KEY.decode())} ", places.dir)


def case_ipv6(places):
    """connect | listen over TCP on [::1]."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        print(f"skipped: no IPv6 loopback: {e}")
        sys.exit(SKIP)
    c_to_c("[::1]:0", [], "", places.dir)


def case_both_ways(places):
    """30000 lines each way at once between connect and listen: more than
    the socket buffers hold, so a tool that sent before it read (or read
    before it sent) would wait for ever.  The inputs are files, complete
    from the start, so every line arrives whichever side ends first."""
    n = 30000
    lines = [f'[{k},"a line long enough to fill buffers soon",{{"k":null}}]'
             for k in range(n)]
    data = os.path.join(places.dir, "lines")
    listen_out = os.path.join(places.dir, "listen.out")
    connect_out = os.path.join(places.dir, "connect.out")
    with open(data, "wb") as f:
        f.write(jsonl(lines))
    listen = subprocess.Popen(
        ["sh", "-c", f"exec {shell_tool()} listen {places.tool()} --once "
         f"< {shlex.quote(data)} > {shlex.quote(listen_out)}"],
        stderr=subprocess.PIPE, env=child_env())
    with reaped(listen):
        bound = listening(listen)
        sh(f"{shell_tool()} connect {shlex.quote(bound)} "
           f"< {shlex.quote(data)} > {shlex.quote(connect_out)}",
           "mpconn connect")
        finish(listen, None, "", 0, "mpconn listen")
    for path in (listen_out, connect_out):
        with open(path, "rb") as f:
            check_equal(os.path.basename(path), f.read(), jsonl(lines))


# --------------------------------------------------------------------------
# Which side ends first

def case_stdin_eof_first(places):
    """Standard input ends before the peer says anything: the tool shuts
    its sending side down (Python reads EOFError) and prints what the peer
    sends afterwards, until the peer closes; both commands."""
    late = [[1], "late", {"a": 2}]
    late_json = jsonl(["[1]", '"late"', '{"a":2}'])
    with Listener(places.python()) as listener:
        proc = start(["connect", c_form(listener.address)])
        with reaped(proc):
            conn = accept(listener, proc)
            expect_eof(conn)
            for v in late:
                conn.send_bytes(codec.packb(v))
            conn.close()
            finish(proc, late_json, "", 0)
    proc = start(["listen", places.tool(), "--once"])
    with reaped(proc):
        conn = Client(py_form(listening(proc)))
        expect_eof(conn)
        for v in late:
            conn.send_bytes(codec.packb(v))
        conn.close()
        finish(proc, late_json, "", 0, "listen")


def case_peer_closes_first(places):
    """The peer closes while standard input is still open: the lines it
    already holds are sent, then the tool exits 0 without waiting for the
    end of its input.  Python closing entirely, and Python only shutting
    down its sending side first (it still reads what the tool sends)."""
    # Python answers two messages, then closes.
    with Listener(places.python()) as listener:
        with HeldPipe(b'"q1"\n"q2"\n') as stdin:
            proc = start(["connect", c_form(listener.address)], stdin=stdin.r)
            with reaped(proc):
                conn = accept(listener, proc)
                check_equal("questions", [recv(conn), recv(conn)],
                            ["q1", "q2"])
                conn.send_bytes(codec.packb("a1"))
                conn.send_bytes(codec.packb("a2"))
                conn.close()
                finish(proc, b'"a1"\n"a2"\n', "", 0)
    # Python shuts its sending side down at once, then reads.
    with Listener(places.python()) as listener:
        with HeldPipe(b"1\n2\n3\n") as stdin:
            proc = start(["connect", c_form(listener.address)], stdin=stdin.r)
            with reaped(proc):
                conn = accept(listener, proc)
                shut_wr(conn)
                check_equal("lines", [recv(conn), recv(conn), recv(conn)],
                            [1, 2, 3])
                expect_eof(conn)
                conn.close()
                finish(proc, b"", "", 0)
    # A line begun when the peer closes is awaited whole (the sleep only
    # makes it likely that the tool has seen the end of file first).
    with Listener(places.python()) as listener:
        with HeldPipe(b'1\n"par') as stdin:
            proc = start(["connect", c_form(listener.address)], stdin=stdin.r)
            with reaped(proc):
                conn = accept(listener, proc)
                shut_wr(conn)
                check_equal("line 1", recv(conn), 1)
                time.sleep(0.3)
                stdin.write(b'tial"\n')
                check_equal("line 2", recv(conn), "partial")
                expect_eof(conn)
                conn.close()
                finish(proc, b"", "", 0)
    # The same for listen.
    with HeldPipe(b'"hello"\n') as stdin:
        proc = start(["listen", places.tool(), "--once"], stdin=stdin.r)
        with reaped(proc):
            conn = Client(py_form(listening(proc)))
            check_equal("greeting", recv(conn), "hello")
            conn.send_bytes(codec.packb("bye"))
            conn.close()
            finish(proc, b'"bye"\n', "", 0, "listen")


def case_line_not_sent(places):
    """The peer closes without reading a line that is still being sent
    (16 MiB, more than any socket buffer holds, and so longer than the
    default --max-line): status 1, naming the line; both commands."""
    big = '"' + "x" * (16 << 20) + '"'
    lines = ["1", big, "3"]
    with Listener(places.python()) as listener:
        with lines_file(lines) as stdin:
            proc = start(["connect", c_form(listener.address),
                          "--max-line=17000000"], stdin=stdin)
            with reaped(proc):
                conn = accept(listener, proc)
                check_equal("line 1", recv(conn), 1)
                conn.close()
                finish(proc, b"", "mpconn: connect: sending line 2: broken "
                       "pipe: the peer has closed its end\n", 1)
    with lines_file(lines) as stdin:
        proc = start(["listen", places.tool(), "--once", "--max-line",
                      "17000000"], stdin=stdin)
        with reaped(proc):
            conn = Client(py_form(listening(proc)))
            check_equal("line 1", recv(conn), 1)
            conn.close()
            finish(proc, b"", "mpconn: listen: sending line 2: broken pipe: "
                   "the peer has closed its end\n", 1, "listen")


def case_serve_many(places):
    """listen without --once serves clients one after another: a line
    written before the first client is the first client's, a client with
    a wrong key is refused and the next one served, and the tool exits 0
    once its input has ended and the client being served has closed."""
    with key_file(KEY) as path, HeldPipe(b"0\n") as stdin:
        proc = start(["listen", places.tool(), "--authkey-file", path],
                     stdin=stdin.r)
        with reaped(proc):
            addr = py_form(listening(proc))
            first = Client(addr, authkey=KEY)
            check_equal("first client", recv(first), 0)
            first.send_bytes(codec.packb("a"))
            first.close()
            expect_auth_error(Client, addr, authkey=WRONG)
            # Authenticated, so the tool has left the first client: this
            # line can only be the second client's.
            second = Client(addr, authkey=KEY)
            stdin.write(b"2\n")
            check_equal("second client", recv(second), 2)
            second.send_bytes(codec.packb("b"))
            stdin.close_w()
            expect_eof(second)
            second.close()
            finish(proc, b'"a"\n"b"\n', "mpconn: listen: refused a client: "
                   "authentication failed\n", 0)


def case_lockstep(places):
    """A silent standard input holds nothing back: each message is printed
    as it arrives, and each line is sent as it is written."""
    with Listener(places.python()) as listener, HeldPipe() as stdin:
        proc = start(["connect", c_form(listener.address)], stdin=stdin.r)
        with reaped(proc):
            conn = accept(listener, proc)
            for k in range(5):
                conn.send_bytes(codec.packb({"n": k}))
                check_equal(f"line {k}",
                            read_line(proc.stdout.fileno(), "message"),
                            b'{"n":%d}\n' % k)
                stdin.write(b"[%d]\n" % k)
                check_equal(f"answer {k}", recv(conn), [k])
            conn.close()
            finish(proc, b"", "", 0)


# --------------------------------------------------------------------------
# Errors

def case_bad_line(places):
    """A line that is not JSON, or does not map to msgpack, stops the tool
    (status 1) after the lines before it were sent; blank lines count."""
    cases = [
        (b"1\n\n  \n[2,\n3\n", [1],
         "line 4, column 3: ']' expected near end of file"),
        (b'"ok"\n{"$foo":1}\n', ["ok"], 'line 2: unknown form "$foo"'),
    ]
    for data, sent, message in cases:
        with Listener(places.python()) as listener:
            with lines_file(data) as stdin:
                proc = start(["connect", c_form(listener.address)],
                             stdin=stdin)
                with reaped(proc):
                    conn = accept(listener, proc)
                    check_equal("sent", [recv(conn) for _ in sent], sent)
                    expect_eof(conn)
                    conn.close()
                    finish(proc, b"", f"mpconn: connect: {message}\n", 1)


def case_bad_frame(places):
    """A message that is not a well-formed frame or value stops the tool
    (status 1) after the messages before it were printed."""
    # Raw bytes after a good message; whether Python then closes at once
    # (leaving the frame cut short) or waits for the tool to close.
    cases = [
        (b"\x00\x00\x00\x01\xc1", False, "receiving message 1: malformed "
         "msgpack value"),
        (b"\x00\x00\x00\x05\x93\x01", True, "receiving message 1: got end "
         "of file during message"),
        (b"\xff\xff\xff\xfe", False, "receiving message 1: malformed frame: "
         "invalid length header"),
        (b"\x00\x00\x00\x03\xd4\x53\x01", False, "receiving message 1: "
         "malformed set: payload is not exactly one array"),
    ]
    for raw, cut_short, message in cases:
        with Listener(places.python()) as listener, HeldPipe() as stdin:
            proc = start(["connect", c_form(listener.address)], stdin=stdin.r)
            with reaped(proc):
                conn = accept(listener, proc)
                conn.send_bytes(codec.packb("fine"))
                os.write(conn.fileno(), raw)
                if not cut_short:
                    expect_eof(conn)
                conn.close()
                finish(proc, b'"fine"\n', f"mpconn: connect: {message}\n", 1)
    with HeldPipe() as stdin:
        proc = start(["listen", places.tool(), "--once"], stdin=stdin.r)
        with reaped(proc):
            conn = Client(py_form(listening(proc)))
            conn.send_bytes(codec.packb("fine"))
            conn.send_bytes(b"\x01\x02")
            expect_eof(conn)
            conn.close()
            finish(proc, b'"fine"\n', "mpconn: listen: receiving message 1: "
                   "malformed msgpack value\n", 1, "listen")


TOO_BIG = "bad message length: larger than the receive limit"


def refuse_frame(places, cmd, args, raw, message):
    """The tool, its stdin held open, receives one good message and then
    @raw: it prints the message and exits 1 with @message."""
    with HeldPipe() as stdin:
        if cmd == "connect":
            with Listener(places.python()) as listener:
                proc = start(["connect", c_form(listener.address), *args],
                             stdin=stdin.r)
                with reaped(proc):
                    conn = accept(listener, proc)
                    talk_then_refused(conn, proc, raw, cmd, message)
        else:
            proc = start(["listen", places.tool(), "--once", *args],
                         stdin=stdin.r)
            with reaped(proc):
                conn = Client(py_form(listening(proc)))
                talk_then_refused(conn, proc, raw, cmd, message)


def talk_then_refused(conn, proc, raw, cmd, message):
    conn.send_bytes(codec.packb("fine"))
    # Only the header, or the whole frame: refused from the header alone.
    os.write(conn.fileno(), raw)
    expect_eof(conn)
    conn.close()
    finish(proc, b'"fine"\n', f"mpconn: {cmd}: receiving message 1: "
           f"{message}\n", 1, cmd)


def accepted(places, args, payload, line):
    """listen --once with @args prints the message @payload as @line."""
    proc = start(["listen", places.tool(), "--once", *args])
    with reaped(proc):
        conn = Client(py_form(listening(proc)))
        conn.send_bytes(payload)
        expect_eof(conn)
        conn.close()
        finish(proc, line + b"\n", "", 0, "listen")


def case_max_size(places):
    """A message longer than --max-size (default 16 MiB for a peer over
    the network) stops the tool from its header alone, as decode stops at
    a frame over its limit; --max-size lowers and raises the limit."""
    sixteen = 16 << 20
    for cmd in ("connect", "listen"):
        for raw in (struct.pack("!i", sixteen + 1),
                    struct.pack("!iQ", -1, sixteen + 1),
                    struct.pack("!i", 0x7FFFFFFF)):
            refuse_frame(places, cmd, [], raw, TOO_BIG)
        hundred = struct.pack("!i", 101) + codec.packb("x" * 98)
        for args in (["--max-size", "100"], ["--max-size=100"]):
            refuse_frame(places, cmd, args, hundred, TOO_BIG)
    # Up to the limit is accepted: 16 MiB by default, 100 bytes, and more
    # than 16 MiB when raised.
    for args, n in (([], sixteen), (["--max-size", "100"], 100),
                    (["--max-size=20000000"], sixteen + 1)):
        text = "x" * (n - 5)  # str 32: 5 bytes of header
        payload = b"\xdb" + struct.pack("!I", len(text)) + text.encode()
        accepted(places, args, payload, f'"{text}"'.encode())


def case_max_line(places):
    """A line of standard input longer than --max-line (default 8 MiB)
    stops the tool, naming the line, after the lines before it were
    sent."""
    eight = 8 << 20
    for args, data, message in [
            (["--max-line", "10"], b'1\n"aaaaaaaaa"\n2\n',
             "line 2: longer than 10 bytes (--max-line)"),
            (["--max-line=10"], b'1\n"aaaaaaaaa"',
             "line 2: longer than 10 bytes (--max-line)"),
            ([], b"1\n" + b" " * (eight + 1) + b"\n2\n",
             "line 2: longer than 8388608 bytes (--max-line)")]:
        with Listener(places.python()) as listener:
            with lines_file(data) as stdin:
                proc = start(["connect", c_form(listener.address), *args],
                             stdin=stdin)
                with reaped(proc):
                    conn = accept(listener, proc)
                    check_equal("sent", recv(conn), 1)
                    expect_eof(conn)
                    conn.close()
                    finish(proc, b"", f"mpconn: connect: {message}\n", 1)
    # As long as allowed: sent.
    with lines_file(b'"aaaaaaaa"\n') as stdin:
        proc = start(["listen", places.tool(), "--once", "--max-line", "10"],
                     stdin=stdin)
        with reaped(proc):
            conn = Client(py_form(listening(proc)))
            check_equal("sent", recv(conn), "a" * 8)
            expect_eof(conn)
            conn.close()
            finish(proc, b"", "", 0, "listen")


def case_refused(places):
    """Nobody listening, a missing socket file, malformed addresses, an
    address in use: status 1 and one line naming the address."""
    with socket.socket() as bound:
        # Bound but not listening: connecting is refused, and no other test
        # can take the port meanwhile.
        bound.bind(("127.0.0.1", 0))
        tcp = f"127.0.0.1:{bound.getsockname()[1]}"
        missing = os.path.join(places.dir, "nobody")
        abstract = f"@mpconn-cli-nobody-{os.getpid()}"
        for address, message in [
                (tcp, "connection refused"),
                (abstract, "connection refused"),
                (missing, "No such file or directory"),
                ("nope", "malformed address"),
                ("127.0.0.1:0", "malformed address"),
                ("@", "malformed address"),
                ("localhost:65536", "malformed address")]:
            check_equal(f"connect {address}",
                        run(["connect", address], b"1\n"),
                        (1, b"", f"mpconn: connect: {address}: {message}\n"
                         .encode()))
    check_equal("listen nope", run(["listen", "nope"]),
                (1, b"", b"mpconn: listen: nope: malformed address\n"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        check_equal("listen in use", run(["listen", address]),
                    (1, b"", f"mpconn: listen: {address}: address already in "
                     "use\n".encode()))


def case_handshake_timeout(places):
    """A client that connects and never authenticates is refused once
    --handshake-timeout has passed: listen --once exits 1; listen without
    it serves a good client that comes after a silent one without waiting
    for the silent one.  connect gives up on a listener that never
    challenges it."""
    with key_file(KEY) as path:
        proc = start(["listen", places.tool(), "--once", "--authkey-file",
                      path, "--handshake-timeout", "300"])
        with reaped(proc):
            addr = py_form(listening(proc))
            family = socket.AF_INET if isinstance(addr, tuple) else \
                socket.AF_UNIX
            with socket.socket(family) as silent:
                silent.connect(addr)
                began = time.monotonic()
                finish(proc, b"", "mpconn: listen: refused a client: "
                       "authentication failed\n", 1)
                elapsed = time.monotonic() - began
            # Only a lower bound, with room for the clocks: the listener's
            # timer starts when it accepts, a moment before ours does.
            if elapsed < 0.2:
                raise AssertionError(f"refused after {elapsed:.3f} s")

        # A silent client does not hold up the next one: the good client is
        # served while the silent one is still in its handshake, which ends
        # with the tool, long before its deadline.
        proc = start(["listen", places.tool(), "--authkey-file", path,
                      "--handshake-timeout", "30000"])
        with reaped(proc):
            addr = py_form(listening(proc))
            with socket.socket(family) as silent:
                silent.connect(addr)
                conn = Client(addr, authkey=KEY)
                conn.send_bytes(codec.packb("served"))
                expect_eof(conn)
                conn.close()
                finish(proc, b'"served"\n', "", 0)

        with socket.socket(family) as mute:
            # Never accepted: the connection waits in the backlog, and the
            # challenge never comes.
            mute.bind(py_form(places.tool()) if family == socket.AF_UNIX
                      else ("127.0.0.1", 0))
            mute.listen()
            address = c_form(mute.getsockname())
            began = time.monotonic()
            check_equal("connect to a mute listener",
                        run(["connect", address, "--authkey-file", path,
                             "--handshake-timeout", "300"]),
                        (1, b"", f"mpconn: connect: {address}: timed out\n"
                         .encode()))
            elapsed = time.monotonic() - began
            if elapsed < 0.2:  # a lower bound only
                raise AssertionError(f"gave up after {elapsed:.3f} s")


def case_stdout_gone(places):
    """A reader of standard output that went away: status 1, naming it."""
    r, w = os.pipe()
    os.close(r)
    try:
        with Listener(places.python()) as listener, HeldPipe() as stdin:
            proc = start(["connect", c_form(listener.address)], stdin=stdin.r,
                         stdout=w)
            with reaped(proc):
                conn = accept(listener, proc)
                conn.send_bytes(codec.packb(1))
                expect_eof(conn)
                conn.close()
                finish(proc, None, "mpconn: connect: standard output: broken "
                       "pipe: the peer has closed its end\n", 1)
    finally:
        os.close(w)


def case_closed_std_streams(places):
    """A closed standard input or output is refused before any socket is
    opened (which would take its descriptor)."""
    address = f"@mpconn-cli-unused-{os.getpid()}"
    for cmd in ("connect", "listen"):
        for fd, name in ((0, "standard input"), (1, "standard output")):
            p = subprocess.run(command(cmd, address), capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=TIMEOUT,
                               env=child_env(),
                               preexec_fn=lambda fd=fd: os.close(fd))
            check_equal(f"{cmd} without {name}",
                        (p.returncode, p.stderr),
                        (1, f"mpconn: {cmd}: {name}: bad file descriptor\n"
                         .encode()))


def case_authkey_file(places):
    """--authkey-file is every byte of the file, a final newline and NUL
    bytes included; it wins over MPCONN_AUTHKEY; missing, empty and
    oversized keys are refused."""
    # A final newline is part of the key.
    with key_file(b"k\n") as path:
        proc = start(["listen", places.tool(), "--authkey-file", path])
        with reaped(proc):
            addr = py_form(listening(proc))
            expect_auth_error(Client, addr, authkey=b"k")
            conn = Client(addr, authkey=b"k\n")
            expect_eof(conn)
            conn.close()
            finish(proc, b"", "mpconn: listen: refused a client: "
                   "authentication failed\n", 0)
    # 64 KiB of every byte value, and the file beats the environment.
    binary = bytes(range(256)) * 256
    with key_file(binary) as path:
        with Listener(places.python(), authkey=binary) as listener:
            proc = start(["connect", c_form(listener.address),
                          "--authkey-file", path],
                         env=child_env(MPCONN_AUTHKEY=WRONG.decode()))
            with reaped(proc):
                conn = accept(listener, proc)
                expect_eof(conn)
                conn.close()
                finish(proc, b"", "", 0)
    address = f"@mpconn-cli-unused-{os.getpid()}"
    missing = os.path.join(places.dir, "missing")
    for cmd in ("connect", "listen"):
        check_equal(f"{cmd}: missing file",
                    run([cmd, address, "--authkey-file", missing]),
                    (1, b"", f"mpconn: {cmd}: --authkey-file {missing}: No "
                     "such file or directory\n".encode()))
        with key_file(b"") as path:
            check_equal(f"{cmd}: empty file",
                        run([cmd, address, f"--authkey-file={path}"]),
                        (1, b"", f"mpconn: {cmd}: --authkey-file {path}: "
                         "the key is empty\n".encode()))
        with key_file(binary + b"\n") as path:
            check_equal(f"{cmd}: long file",
                        run([cmd, address, "--authkey-file", path]),
                        (1, b"", f"mpconn: {cmd}: --authkey-file {path}: "
                         "the key is longer than 65536 bytes\n".encode()))
        check_equal(f"{cmd}: empty MPCONN_AUTHKEY",
                    run([cmd, address], env=child_env(MPCONN_AUTHKEY="")),
                    (1, b"", f"mpconn: {cmd}: MPCONN_AUTHKEY: the key is "
                     "empty\n".encode()))


# --------------------------------------------------------------------------
# Arguments

CONNECT_HELP = """\
Usage: mpconn connect [OPTION]... ADDRESS

Connect to a listener (Python's multiprocessing.connection.Listener,
or 'mpconn listen'), send each line of standard input, one JSON value,
as one message, and write each message received as one line of JSON to
standard output.

ADDRESS is a socket file (anything with a '/'), @NAME (an abstract
socket), HOST:PORT (TCP over IPv4) or [HOST]:PORT (TCP over IPv6).

At the end of standard input the tool stops sending, so that the peer
reads end of file, and prints what arrives until the peer closes.  When
the peer closes first, the lines standard input already holds are sent,
then the tool stops.

Options:
      --authkey-file FILE     authenticate with every byte FILE holds
                              (default: $MPCONN_AUTHKEY, if set)
      --handshake-timeout MS  give up connecting and authenticating
                              after MS milliseconds (default 5000)
      --max-size BYTES        refuse a message longer than BYTES, from
                              its header alone (default 16777216, 16 MiB)
      --max-line BYTES        refuse a line of standard input longer
                              than BYTES (default 8388608, 8 MiB)
  -h, --help                  show this help and exit

Exit status: 0 once the peer has closed and standard input is done, 1
when connecting, authenticating, a line, a message or an I/O error
fails (one line on stderr says which), 2 for bad arguments.
"""

LISTEN_HELP = """\
Usage: mpconn listen [OPTION]... ADDRESS

Listen at ADDRESS (as Python's multiprocessing.connection.Listener
does) and serve one client at a time: send each line of standard input,
one JSON value, as one message, and write each message received as one
line of JSON to standard output.  Once listening, write
'mpconn: listening on ADDRESS' to standard error, with the port or name
the system chose for port 0 or a lone '@'.

ADDRESS is a socket file (anything with a '/'), @NAME (an abstract
socket), HOST:PORT (TCP over IPv4) or [HOST]:PORT (TCP over IPv6).

A conversation ends as for 'mpconn connect'.  Then, without --once, the
next client is served, until standard input has ended; lines not yet
read are the next client's.  A client that fails to authenticate is
refused, with a line on stderr, and the next one is awaited.

Options:
      --once                  serve one client, then exit; a client that
                              fails to authenticate is an error
      --authkey-file FILE     authenticate clients with every byte FILE
                              holds (default: $MPCONN_AUTHKEY, if set)
      --handshake-timeout MS  refuse a client not authenticated within
                              MS milliseconds (default 5000)
      --max-size BYTES        refuse a message longer than BYTES, from
                              its header alone (default 16777216, 16 MiB)
      --max-line BYTES        refuse a line of standard input longer
                              than BYTES (default 8388608, 8 MiB)
  -h, --help                  show this help and exit

Exit status: 0 once standard input is done and the last client has
closed, 1 when listening, a line, a message or an I/O error fails, or
with --once when the client fails to authenticate (one line on stderr
says which), 2 for bad arguments.
"""


def case_help(places):
    """--help of connect and listen, also after other arguments."""
    for cmd, text in (("connect", CONNECT_HELP), ("listen", LISTEN_HELP)):
        for args in ([cmd, "--help"], [cmd, "-h"], [cmd, "@x", "--help"],
                     [cmd, "--handshake-timeout", "5", "-h"]):
            check_equal(" ".join(args), run(args), (0, text.encode(), b""))


def case_usage_errors(places):
    """Bad arguments: one line on stderr and status 2; a key given as an
    argument is refused without being repeated."""
    cases = []
    for cmd in ("connect", "listen"):
        mine = [
            ([cmd], "missing ADDRESS"),
            ([cmd, "@a", "@b"], "unexpected argument '@b'"),
            ([cmd, "-x", "@a"], "unknown option '-x'"),
            ([cmd, "@a", "--authkey-fil", "k"], "unknown option "
             "'--authkey-fil'"),
            ([cmd, "@a", "--authkey-file"], "option '--authkey-file' needs a "
             "value"),
            ([cmd, "@a", "--handshake-timeout"], "option "
             "'--handshake-timeout' needs a value"),
        ]
        for secret in (["--authkey", "hunter2"], ["--authkey=hunter2"]):
            mine.append(([cmd, "@a", *secret], "option '--authkey' is not "
                         "accepted: arguments are visible to other users; "
                         "use --authkey-file FILE or MPCONN_AUTHKEY"))
        for bad in ("0", "-1", "ten", "", "2147483648", "1.5", " 5"):
            mine.append(([cmd, "@a", f"--handshake-timeout={bad}"],
                         f"invalid --handshake-timeout '{bad}': expected "
                         "milliseconds from 1 to 2147483647"))
        for opt in ("--max-size", "--max-line"):
            mine.append(([cmd, "@a", opt], f"option '{opt}' needs a value"))
            for bad in ("-1", "ten", "", "18446744073709551616"):
                mine.append(([cmd, "@a", f"{opt}={bad}"], f"invalid {opt} "
                             f"'{bad}': expected a number of bytes"))
        mine += [
            ([cmd, "@a", "--max", "5"], "unknown option '--max'"),
            ([cmd, "@a", "--handshake", "5"], "unknown option "
             "'--handshake'"),
            ([cmd, "--help=yes"], "option '--help' takes no value"),
            ([cmd, "--", "@a", "--once"], "unexpected argument '--once'"),
        ]
        cases += [(args, f"mpconn: {cmd}: {text} (try 'mpconn {cmd} --help')")
                  for args, text in mine]
    cases.append((["connect", "@a", "--once"], "mpconn: connect: unknown "
                  "option '--once' (try 'mpconn connect --help')"))
    cases.append((["listen", "@a", "--once=1"], "mpconn: listen: option "
                  "'--once' takes no value (try 'mpconn listen --help')"))
    for args, message in cases:
        check_equal(" ".join(args), run(args, b"1\n"),
                    (2, b"", (message + "\n").encode()))


# --------------------------------------------------------------------------

def _timed_out(signum, frame):
    raise TimeoutError(f"case still running after {CASE_TIMEOUT} s")


def main():
    global TOOL, codec, msgpack
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    TOOL, name = sys.argv[1], sys.argv[2]
    transport = sys.argv[3] if len(sys.argv) == 4 else "unix"
    fn = globals().get("case_" + name.replace("-", "_"))
    if fn is None:
        print(f"unknown case {name!r}", file=sys.stderr)
        return 2
    msgpack = import_msgpack()
    codec = load_codec()
    # The alarm unwinds through reaped(), which kills and waits.
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(CASE_TIMEOUT)
    places = Places(transport)
    start_time = time.monotonic()
    try:
        fn(places)
    finally:
        signal.alarm(0)
        places.close()
    print(f"{name} {transport} (Python {sys.version.split()[0]}): ok "
          f"({time.monotonic() - start_time:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
