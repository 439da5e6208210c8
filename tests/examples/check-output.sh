#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-output.sh PROGRAM EXPECTED [ARG]...
# Runs PROGRAM with the ARGs and fails unless it exits with status 0 and
# its standard output equals EXPECTED byte for byte.  EXPECTED's first line,
# the SPDX line every file of the project starts with, is not part of the
# output.  A program that exits with status 77 is skipped: it says why on
# standard error.
set -u
prog=$1
expected=$2
shift 2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

sed '1{/^# SPDX-License-Identifier: /d;}' "$expected" >"$tmp/want" || exit 1
"$prog" "$@" </dev/null >"$tmp/got"
status=$?
if [ "$status" -eq 77 ]; then
  echo "$prog: skipped"
  exit 77
fi
if [ "$status" -ne 0 ]; then
  echo "$prog exited with status $status; its output was:"
  cat "$tmp/got"
  exit 1
fi
if ! cmp -s "$tmp/want" "$tmp/got"; then
  echo "$prog printed something other than $expected:"
  diff -u "$tmp/want" "$tmp/got" || true
  exit 1
fi
echo "output matches $expected"
