#!/usr/bin/env bash
# What the shared library exports, read with nm -D and readelf:
#   - every defined dynamic symbol is a tc_* function, and they are exactly the
#     functions include/tiercache.h declares (nothing from Rust's std or the
#     dependencies leaks out, nothing declared is missing);
#   - its soname is libtiercache.so.<TIERCACHE_VERSION_MAJOR of the header>;
#   - the static library defines the same tc_* functions.
# Uses target/release (run after `cargo build --release`; builds it if missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
so=target/release/libtiercache.so
a=target/release/libtiercache.a
header=include/tiercache.h
[ -f "$so" ] && [ -f "$a" ] || cargo build --release

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# The header's functions, from the compiler's own list of its prototypes.
echo '#include "tiercache.h"' >"$work/p.c"
gcc -std=c11 -I include -fsyntax-only -aux-info "$work/p.txt" "$work/p.c"
grep -F 'tiercache.h:' "$work/p.txt" | sed -E 's/^.* \**(tc_[a-z0-9_]+) \(.*$/\1/' | sort >"$work/header"
[ -s "$work/header" ] || { echo "no functions found in $header"; exit 1; }

nm -D --defined-only "$so" | awk '{print $3}' | sort >"$work/exported"
if grep -v '^tc_' "$work/exported" >"$work/foreign"; then
  echo "FAIL: $so exports symbols that are not tc_* functions:"
  sed 's/^/    /' "$work/foreign" | head -20
  fail=1
fi
nm -D --defined-only "$so" | awk '$2 != "T" {print}' >"$work/nonfunc"
if [ -s "$work/nonfunc" ]; then
  echo "FAIL: $so exports symbols that are not functions:"
  sed 's/^/    /' "$work/nonfunc" | head -20
  fail=1
fi
if ! diff -u --label header --label "nm -D $so" "$work/header" "$work/exported"; then
  echo "FAIL: the exported functions differ from the header's (above)"
  fail=1
fi
echo "exported: $(wc -l <"$work/exported") functions, all tc_*, as the header declares"

major=$(sed -n 's/^#define TIERCACHE_VERSION_MAJOR //p' "$header")
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "libtiercache.so.$major" ]; then
  echo "FAIL: soname is '$soname', want libtiercache.so.$major"
  fail=1
else
  echo "soname: $soname"
fi

# The static library: the same tc_* functions (it also holds Rust's std,
# whose symbols a static link resolves internally).
nm --defined-only "$a" 2>/dev/null | awk '$2 == "T" && $3 ~ /^tc_/ {print $3}' | sort -u >"$work/static"
if ! diff -u --label header --label "nm $a" "$work/header" "$work/static"; then
  echo "FAIL: the static library's tc_* functions differ from the header's (above)"
  fail=1
fi

((fail == 0)) && echo "exported symbols: ok"
exit "$fail"
