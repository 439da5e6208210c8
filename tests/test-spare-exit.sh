#!/bin/sh
# SPDX-License-Identifier: MIT
# The per-thread spare message is released at exit, the main thread's too:
# spare-exit runs under valgrind with every kind of leak, "still reachable"
# included, counted as an error.
#   test-spare-exit.sh PROGRAM SANITIZE
set -u
prog=$1
sanitize=${2:-none}
if [ "$sanitize" != none ]; then
  echo "skipped: valgrind cannot run a program built with -fsanitize=$sanitize"
  exit 77
fi
if ! command -v valgrind >/dev/null; then
  echo "skipped: valgrind is not installed"
  exit 77
fi
valgrind --error-exitcode=3 --leak-check=full --show-leak-kinds=all \
  --errors-for-leak-kinds=all --quiet "$prog"
status=$?
if [ "$status" -ne 0 ]; then
  echo "spare-exit under valgrind: exit status $status"
  exit 1
fi
echo "nothing left at exit"
