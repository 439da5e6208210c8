# SPDX-License-Identifier: MIT
"""The Python set codec, loaded from docs/python.md.

The tests run the very code the documentation shows: the Python block
between the markers <!-- codec-begin --> and <!-- codec-end --> is executed
into a fresh module, so the page and the tests cannot drift apart.
"""

import pathlib
import re
import sys
import types

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.md"
BEGIN = "<!-- codec-begin -->"
END = "<!-- codec-end -->"

# Exit status that makes meson report the test as skipped.
SKIP = 77


def codec_source(path=DOC):
    """The code between the markers, without its ```python fence."""
    text = path.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{path}: expected one {BEGIN} and one {END}")
    section = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    m = re.fullmatch(r"\s*```python\n(.*?)```\s*", section, re.S)
    if not m:
        raise ValueError(f"{path}: the codec is not one ```python block")
    return m.group(1)


def load_codec(path=DOC):
    """The codec as a module; exits with SKIP when msgpack is missing."""
    source = codec_source(path)
    module = types.ModuleType("mpconn_codec")
    module.__file__ = str(path)
    try:
        exec(compile(source, f"{path} (codec)", "exec"), module.__dict__)
    except ModuleNotFoundError as e:
        if e.name != "msgpack":
            raise
        print(f"skipped: {sys.executable} has no msgpack module "
              "(Debian: python3-msgpack)")
        sys.exit(SKIP)
    return module
