#!/usr/bin/env bash
# Compiles and runs the C quick start exactly as README.md shows it, so the
# README cannot drift from the library.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work" /tmp/tiercache-quickstart' EXIT
awk '/^```c$/{on=1; next} /^```$/{on=0} on' README.md > "$work/quickstart.c"
test -s "$work/quickstart.c" || { echo "no C block in README.md"; exit 1; }
rm -rf /tmp/tiercache-quickstart
cc -std=c11 -Wall -Wextra -Werror -Iinclude "$work/quickstart.c" target/release/libtiercache.a -lpthread -ldl -lm -o "$work/quickstart"
out=$("$work/quickstart")
test "$out" = "hello, disk" || { echo "quick start printed: $out"; exit 1; }
# And the value survived the close.
ls /tmp/tiercache-quickstart/*.tcl >/dev/null
echo "README C quick start: ok"
