# SPDX-License-Identifier: MIT
"""The Python module mpconn, loaded from the source tree.

The tests use the very file `meson install` installs, python/mpconn.py,
not a copy: it is loaded from where it is, under the name "mpconn", without
writing bytecode next to it.
"""

import importlib.util
import pathlib
import sys

MODULE = pathlib.Path(__file__).resolve().parents[2] / "python" / "mpconn.py"

# Exit status that makes meson report the test as skipped.
SKIP = 77


def load_module(path=MODULE):
    """python/mpconn.py as the module mpconn (msgpack is not needed yet)."""
    if "mpconn" in sys.modules:
        return sys.modules["mpconn"]
    spec = importlib.util.spec_from_file_location("mpconn", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mpconn"] = module
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


def load_codec(path=MODULE):
    """The module, whose codec needs msgpack: exits with SKIP without it."""
    module = load_module(path)
    try:
        import msgpack  # noqa: F401  (or the one the caller put in sys.modules)
    except ModuleNotFoundError as e:
        if e.name != "msgpack":
            raise
        print(f"skipped: {sys.executable} has no msgpack module "
              "(Debian: python3-msgpack)")
        sys.exit(SKIP)
    return module
