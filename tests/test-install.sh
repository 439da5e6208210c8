#!/bin/sh
# SPDX-License-Identifier: MIT
# `meson install` into a scratch root, then build the README's short example
# against the installed header, library and pkg-config file, and run it.
set -eu
build=$1
readme=$2
sanitize=${3:-none}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$root" >/dev/null
pc=$(dirname "$(find "$root" -name mpconn.pc | head -n 1)")
[ -n "$pc" ] || { echo "no mpconn.pc installed"; exit 1; }
libdir=$(dirname "$pc")
awk '/^## A short example/ { f = 1 } f && /^```c$/ { s = 1; next }
     s && /^```$/ { exit } s { print }' "$readme" > "$root/example.c"
[ -s "$root/example.c" ] || { echo "README.md has no C example"; exit 1; }
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$root"
# A sanitized library needs the same runtime in the program.
san=
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $san -o "$root/example" "$root/example.c" \
  $(pkg-config --cflags --libs mpconn)
out=$(LD_LIBRARY_PATH="$libdir" "$root/example")
want=$(printf 'hello\nMPCONN_EOF')
if [ "$out" != "$want" ]; then
  printf 'example printed:\n%s\nwanted:\n%s\n' "$out" "$want"
  exit 1
fi
echo "installed library builds and runs the README example"
