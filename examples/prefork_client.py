# SPDX-License-Identifier: MIT
"""A Python client of prefork-server.c.

It connects with multiprocessing.connection.Client and the shared key,
sends each of its numbers as a msgpack value and checks that the answer
is the number's square, then closes the connection.

Run by hand against a server:

    PYTHONPATH=python python3 examples/prefork_client.py ADDRESS AUTHKEY N...

ADDRESS is a socket file, "@name" or "HOST:PORT".  The server's
demonstration starts it with no arguments instead, through mpconn_spawn():
its job then comes over the connection the spawn hands it (MPCONN_FD), as
{"address": str, "authkey": bytes, "numbers": [int, ...]}, so the key
never shows on a command line.

Exit status: 0 every answer was right, 1 a wrong answer or a lost
connection, 2 the server refused the key.
"""
import sys
from multiprocessing.connection import AuthenticationError, Client

import mpconn


def parse_address(text):
    """A socket file or "@name" stays a string; "HOST:PORT" is TCP."""
    if text.startswith("@"):
        return "\0" + text[1:]  # Linux abstract socket, as mpconn names it
    if "/" in text or ":" not in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host.strip("[]"), int(port))


def job():
    if len(sys.argv) > 1:
        return (sys.argv[1], sys.argv[2].encode(),
                [int(n) for n in sys.argv[3:]])
    with mpconn.inherited_connection() as conn:
        j = mpconn.recv_value(conn)
    return j["address"], j["authkey"], j["numbers"]


address, authkey, numbers = job()
try:
    conn = Client(parse_address(address), authkey=authkey)
except AuthenticationError:
    sys.exit(2)
with conn:
    for n in numbers:
        mpconn.send_value(conn, n)
        if not conn.poll(10):  # a bounded wait for each answer
            sys.exit(1)
        if mpconn.recv_value(conn) != n * n:
            sys.exit(1)
