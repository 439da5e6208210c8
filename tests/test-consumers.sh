#!/bin/sh
# SPDX-License-Identifier: MIT
# mpconn as other projects get it, in a scratch directory:
#
#   test-consumers.sh installed SOURCE_ROOT README PYTHON
#     The README's library-only command (its meson options), with only the
#     .pc files the library needs visible to pkg-config (no cmocka, no
#     jansson); exactly the library is built.  `meson install --destdir`;
#     the header, the libraries, mpconn.pc, and mpconn.py in a directory
#     PYTHON (the python3 meson runs) searches.  Then tests/consumer-installed,
#     a meson project that finds mpconn with pkg-config, is built against
#     what was installed and run.
#
#   test-consumers.sh subproject SOURCE_ROOT
#     tests/consumer-subproject with mpconn in its subprojects/ (a symlink
#     to SOURCE_ROOT), again with only those .pc files visible: the
#     fallback is taken, only the library of mpconn is built, and the
#     program runs.  A parent that asks for mpconn's examples gets them.
set -u
mode=$1
src=$(cd "$2" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "test-consumers ($mode): $*"
  exit 1
}

# Run a command quietly; on failure show what it printed and stop.
run() {
  if ! "$@" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    fail "failed: $*"
  fi
}

# pkg-config sees msgpack and libcrypto, nothing else.
mkdir "$tmp/pc"
for pkg in msgpack-c msgpack libcrypto; do
  dir=$(pkg-config --variable=pcfiledir "$pkg" 2>/dev/null) || continue
  ln -s "$dir/$pkg.pc" "$tmp/pc/$pkg.pc"
done
export PKG_CONFIG_LIBDIR="$tmp/pc"
unset PKG_CONFIG_PATH
for pkg in cmocka jansson mpconn; do
  if pkg-config --exists "$pkg"; then
    fail "pkg-config still finds $pkg"
  fi
done
pkg-config --exists libcrypto || fail "no libcrypto.pc"

# The names of the targets a build directory builds, sorted, one a line.
targets() {
  meson introspect --targets "$1" |
    python3 -c 'import json, sys
print("\n".join(sorted(t["name"] for t in json.load(sys.stdin))))'
}

case $mode in
installed)
  readme=$3
  # The options of the README's library-only command.
  cmd=$(awk '/<!-- library-command -->/ { f = 1; next }
             f && /^```/ { if (s) exit; s = 1; next }
             f && s { print }' "$readme")
  opts=$(printf '%s\n' "$cmd" | sed -n 's/.*meson setup build-lib \([^&]*\)&&.*/\1/p')
  [ -n "$opts" ] || fail "README.md has no library command"
  # shellcheck disable=SC2086
  run meson setup "$tmp/build" "$src" --prefix=/usr/local $opts
  run meson compile -C "$tmp/build"
  got=$(targets "$tmp/build")
  want=$(printf 'mpconn\nmpconn')
  if [ "$got" != "$want" ]; then
    printf 'targets built:\n%s\nwanted the library only\n' "$got"
    exit 1
  fi
  root="$tmp/root"
  run meson install -C "$tmp/build" --destdir "$root"
  pc=$(find "$root" -name mpconn.pc)
  [ -n "$pc" ] || fail "no mpconn.pc installed"
  libdir=$(dirname "$(dirname "$pc")")
  [ -f "$root/usr/local/include/mpconn.h" ] || fail "no mpconn.h installed"
  ls "$libdir"/libmpconn.so.0 "$libdir"/libmpconn.a >/dev/null ||
    fail "libraries missing in $libdir"
  # The module, where meson's python3 looks for modules.
  py=$(find "$root" -name mpconn.py)
  [ -n "$py" ] || fail "no mpconn.py installed"
  pydir=$(dirname "${py#"$root"}")
  pybin=$4
  "$pybin" -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$pydir" ||
    fail "$pydir is not on $pybin's sys.path"
  PYTHONPATH="$root$pydir" PYTHONDONTWRITEBYTECODE=1 "$pybin" -c \
    'import mpconn; assert mpconn.parse_fd_string("3,4") == (3, 4)' ||
    fail "the installed mpconn.py does not import"

  # A project built against the installed library.
  cp -r "$src/tests/consumer-installed" "$tmp/consumer"
  export PKG_CONFIG_LIBDIR="$tmp/pc:$(dirname "$pc")"
  export PKG_CONFIG_SYSROOT_DIR="$root"
  run meson setup "$tmp/consumer-build" "$tmp/consumer"
  run meson compile -C "$tmp/consumer-build"
  out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer-build/consumer") ||
    fail "the consumer failed: $out"
  want="consumer: installed 0.1.0, set 1 2"
  [ "$out" = "$want" ] || fail "the consumer printed '$out', not '$want'"
  echo "library-only build: the library alone; installed; $out"
  ;;
subproject)
  cp -r "$src/tests/consumer-subproject" "$tmp/consumer"
  mkdir "$tmp/consumer/subprojects"
  ln -s "$src" "$tmp/consumer/subprojects/mpconn"
  run meson setup "$tmp/build" "$tmp/consumer"
  grep -q "Executing subproject mpconn" "$tmp/out" ||
    fail "the subproject was not used"
  run meson compile -C "$tmp/build"
  got=$(targets "$tmp/build")
  want=$(printf 'consumer\nmpconn\nmpconn')
  if [ "$got" != "$want" ]; then
    printf 'targets built:\n%s\nwanted the consumer and the library\n' "$got"
    exit 1
  fi
  out=$("$tmp/build/consumer") || fail "the consumer failed: $out"
  want="consumer: subproject, sum 6"
  [ "$out" = "$want" ] || fail "the consumer printed '$out', not '$want'"
  # A parent that asks for more gets it.
  run meson setup "$tmp/build-examples" "$tmp/consumer" \
    -Dmpconn:examples=enabled
  targets "$tmp/build-examples" | grep -qx exec-child ||
    fail "-Dmpconn:examples=enabled built no examples"
  echo "subproject: the library alone unless asked; $out"
  ;;
*)
  fail "unknown mode"
  ;;
esac
