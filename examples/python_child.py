# SPDX-License-Identifier: MIT
"""The Python child of python-child.c.

Started by a C parent with mpconn_spawn(), which hands it one end of a
connection in MPCONN_FD.  For each request {"words": [...]} it answers
{"count": how many words, "unique": the set of them}, until the parent
closes the connection.  It needs the mpconn module (installed by meson
install) and msgpack (Debian: python3-msgpack); without msgpack it exits
with status 77, which the parent reports as "skipped".
"""
import sys

try:
    import msgpack  # noqa: F401  (mpconn packs and unpacks with it)
except ModuleNotFoundError:
    print("python_child.py: no msgpack module (Debian: python3-msgpack)",
          file=sys.stderr)
    sys.exit(77)

import mpconn

conn = mpconn.inherited_connection()
while True:
    try:
        request = mpconn.recv_value(conn)
    except EOFError:  # the parent closed its end: done
        break
    words = request["words"]
    mpconn.send_value(conn, {"count": len(words), "unique": set(words)})
conn.close()
