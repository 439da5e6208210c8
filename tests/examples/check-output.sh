#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-output.sh PROGRAM EXPECTED
# Runs PROGRAM with no arguments and fails unless it exits with status 0 and
# its standard output equals the file EXPECTED byte for byte.
set -u
prog=$1
expected=$2
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT

"$prog" </dev/null >"$out"
status=$?
if [ "$status" -ne 0 ]; then
  echo "$prog exited with status $status; its output was:"
  cat "$out"
  exit 1
fi
if ! cmp -s "$expected" "$out"; then
  echo "$prog printed something other than $expected:"
  diff -u "$expected" "$out" || true
  exit 1
fi
echo "output matches $expected"
