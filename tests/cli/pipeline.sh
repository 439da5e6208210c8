#!/bin/sh
# SPDX-License-Identifier: MIT
# Shell pipelines through the mpconn tool, with checked output.
# Usage: pipeline.sh TOOL
#
# The tool runs under MPCONN_TOOL_WRAPPER when that is set, and under
# valgrind when this script does (see test_cli.py).
set -u
tool=$1

if [ -n "${MPCONN_TOOL_WRAPPER+set}" ]; then
  wrap=$MPCONN_TOOL_WRAPPER
else
  case "${LD_PRELOAD-}" in
  *vgpreload*) wrap="valgrind -q --leak-check=full --error-exitcode=125" ;;
  *) wrap= ;;
  esac
fi
unset LD_PRELOAD

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Canonical lines, as decode prints them.  The checks below rely on the
# first two: null (a 5-byte frame) and [1,2,3] (an 8-byte frame).
values=$tmp/values.jsonl
cat >"$values" <<'EOF'
null
[1,2,3]
true
false
0
-1
18446744073709551615
-9223372036854775808
1.0
-0.0
0.10000000000000001
1e17
{"$float":"nan"}
{"$float":"inf"}
""
"é日本😀"
"a\u0000b\n"
{"$str":"/w=="}
{"$bytes":"AAEC"}
[]
[null,[true,[1.5,[]]]]
{}
{"b":1,"a":{"c":[]}}
{"$map":[[1,2],[null,{"$bytes":""}]]}
{"$map":[["$set",[]]]}
{"$set":[]}
{"$set":[3,1,{"$set":["x"]}]}
{"$ext":[5,"AQIDBA=="]}
{"$ext":[-1,"AAAAAQ=="]}
{"$map":[["a",1],["a",2]]}
EOF

# Every run of the tool is bounded; nothing here can hang.
mp() {
  timeout 120 $wrap "$tool" "$@"
}

failures=0
check() {
  # check NAME GOT WANT
  if [ "$2" = "$3" ]; then
    echo "ok: $1"
  else
    echo "FAIL: $1"
    echo "  want: $3"
    echo "  got:  $2"
    failures=$((failures + 1))
  fi
}

n=$(wc -l <"$values")

got=$(mp encode <"$values" | mp decode | wc -l)
check "encode | decode | wc -l" "$got" "$n"

mp encode <"$values" | mp decode >"$tmp/out"
check "encode | decode reproduces the lines" \
  "$(cmp "$tmp/out" "$values" && echo same)" "same"

mp encode <"$values" >"$tmp/frames"
check "encode > file" "$?" "0"
mp decode <"$tmp/frames" >"$tmp/out"
check "decode < file" "$?:$(cmp "$tmp/out" "$values" && echo same)" "0:same"

mp decode <"$tmp/frames" | mp encode >"$tmp/again"
check "decode | encode reproduces the frames" \
  "$(cmp "$tmp/again" "$tmp/frames" && echo same)" "same"

got=$(cat "$tmp/frames" "$tmp/frames" | mp decode | wc -l)
check "two streams back to back" "$got" "$((2 * n))"

got=$(yes '[1,2,3]' | head -n 10000 | mp encode | mp decode | uniq -c)
check "10000 messages" "$got" "  10000 [1,2,3]"

got=$(mp decode </dev/null; echo "status $?")
check "empty input" "$got" "status 0"

got=$(head -c 10 "$tmp/frames" | mp decode 2>"$tmp/err"; echo "status $?")
check "truncated stream: output and status" "$got" "null
status 1"
check "truncated stream: message" "$(cat "$tmp/err")" \
  "mpconn: decode: message 1 at byte 5: got end of file during message"

got=$(mp decode --max-size 3 <"$tmp/frames" 2>"$tmp/err"; echo "status $?")
check "--max-size: output and status" "$got" "null
status 1"
check "--max-size: message" "$(cat "$tmp/err")" "mpconn: decode: message 1 \
at byte 5: bad message length: larger than the receive limit"

got=$(printf '1\n[2,\n3\n' | mp encode 2>"$tmp/err" | mp decode)
check "bad line: frames before it" "$got" "1"
check "bad line: message" "$(cat "$tmp/err")" \
  "mpconn: encode: line 2, column 3: ']' expected near end of file"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
