#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a test script under one Python interpreter, or skip it (exit 77)
# saying why: a test named after a Python version runs that version or
# nothing.
#   python.sh INTERPRETER VERSION SCRIPT [ARG]...
# VERSION is the X.Y the interpreter must report, or "any".
set -u
py=$1
want=$2
shift 2
if [ ! -x "$py" ]; then
  echo "skipped: $py not found"
  exit 77
fi
if ! have=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); then
  echo "skipped: $py does not run"
  exit 77
fi
if [ "$want" != any ] && [ "$have" != "$want" ]; then
  echo "skipped: $py is Python $have, not $want"
  exit 77
fi
exec "$py" "$@"
