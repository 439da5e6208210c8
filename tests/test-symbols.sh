#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports exactly the symbols listed in the version script.
set -eu
lib=$1
sym=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" { sub(/@.*/, "", $3); print $3 }' | sort)
listed=$(sed -n 's/^[[:space:]]*\(mpconn_[A-Za-z0-9_]*\);$/\1/p' "$sym" | sort)
if [ "$exported" != "$listed" ]; then
  echo "exported symbols differ from $sym:"
  diff -u /dev/fd/3 /dev/fd/4 3<<EOF3 4<<EOF4 || true
$listed
EOF3
$exported
EOF4
  exit 1
fi
echo "$(echo "$exported" | wc -l) symbols match"
