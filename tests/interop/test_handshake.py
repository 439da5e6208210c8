# SPDX-License-Identifier: MIT
"""The handshake as its own calls: CPython's deliver_challenge() and
answer_challenge() against mpconn_answer_challenge() and
mpconn_deliver_challenge() over a descriptor handed to the exec'd C peer
(one end of a Pipe(duplex=True), a socketpair), with the right key and a
wrong one.  Run by each CPython: 3.11 challenges and answers in the old
form (HMAC-MD5), 3.12 and later in the "{digest}" form.

Usage: test_handshake.py PEER CASE
"""

import sys

sys.dont_write_bytecode = True  # keep the source tree clean

import multiprocessing  # noqa: E402
import multiprocessing.connection as mpc  # noqa: E402

from interop_common import (C_TAG, PY_TAG, Ends,  # noqa: E402
                            check_bytes, expect_raises, main, pattern,
                            run_peer)

KEY = b"handshake key"


def handed(conn):
    """Ends for giving conn to the peer."""
    return Ends(None, None, [conn.fileno()], str(conn.fileno()),
                child_conn=conn)


def py_delivers(peer):
    """Python challenges, C answers; then a message each way."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    with run_peer(peer, handed(theirs),
                  [f"answer:{KEY.decode()}", "recv:5", "send:7"]):
        mpc.deliver_challenge(mine, KEY)
        mine.send_bytes(pattern(5, 0, PY_TAG))
        check_bytes(mine.recv_bytes(), pattern(7, 0, C_TAG), "answer")
        mine.close()


def py_answers(peer):
    """C challenges, Python answers."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    with run_peer(peer, handed(theirs), [f"deliver:{KEY.decode()}", "send:3"]):
        mpc.answer_challenge(mine, KEY)
        check_bytes(mine.recv_bytes(), pattern(3, 0, C_TAG), "message")
        mine.close()


def both_ways(peer):
    """As a listener and a client run it: C challenges then answers,
    Python answers then challenges."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    with run_peer(peer, handed(theirs),
                  [f"deliver:{KEY.decode()}", f"answer:{KEY.decode()}"]):
        mpc.answer_challenge(mine, KEY)
        mpc.deliver_challenge(mine, KEY)
        mine.close()


def wrong_key_py_delivers(peer):
    """C answers with a wrong key: Python raises AuthenticationError, C
    gets MPCONN_EAUTH (#FAILURE#)."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    with run_peer(peer, handed(theirs), ["answer-refused:wrong key"]):
        expect_raises(multiprocessing.AuthenticationError,
                      "digest received was wrong",
                      mpc.deliver_challenge, mine, KEY)
        mine.close()


def wrong_key_c_delivers(peer):
    """Python answers with a wrong key: C refuses (MPCONN_EAUTH), Python
    raises AuthenticationError."""
    mine, theirs = multiprocessing.Pipe(duplex=True)
    with run_peer(peer, handed(theirs), [f"deliver-refuses:{KEY.decode()}"]):
        expect_raises(multiprocessing.AuthenticationError,
                      "digest sent was rejected",
                      mpc.answer_challenge, mine, b"wrong key")
        mine.close()


if __name__ == "__main__":
    sys.exit(main(globals()))
