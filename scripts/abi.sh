#!/usr/bin/env bash
# The C ABI baseline (abi/README.md says why and how):
#
#   scripts/abi.sh check [HEADER]    compare HEADER (default include/tiercache.h) with
#                                    abi/tiercache.abi; fails on a removed or changed
#                                    function, struct layout or enum value, or a soname
#                                    (major version) the baseline was not blessed for;
#                                    passes when functions (or enumerators) were only added
#   scripts/abi.sh bless [HEADER]    write abi/tiercache.abi from HEADER (default
#                                    include/tiercache.h); refuses to bless a break unless
#                                    the major version was bumped
#   scripts/abi.sh dump [HEADER]     print the abidw XML of HEADER
#   scripts/abi.sh stub HEADER OUT [VERSION]
#                                    build a stand-in shared library from HEADER: every
#                                    function traps, except tc_version(), which returns
#                                    VERSION (default: the header's TIERCACHE_VERSION_STRING)
#
# The ABI is what include/tiercache.h declares: cbindgen generates it from the
# Rust source (tests/header.rs keeps the committed copy current) and the real
# library exports exactly its functions (tests/abi/symbols.sh). libabigail
# reads types from DWARF, and the Rust library's DWARF describes the Rust
# types behind the C names (a status is a newtype over u32, a tc_cache handle
# shows its private fields), so the baseline is taken from a stand-in library
# compiled from the header with full debug info: the C view of the ABI, which
# is the one C, C++, Go and Python programs are compiled against. No
# debug-info build of libtiercache.so is needed.
#
# Needs gcc (its -aux-info lists the header's prototypes) and abidw/abidiff
# (Debian: abigail-tools; scripts/deps.sh installs it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# TIERCACHE_ABI_BASELINE: another baseline file (tests/abi/baseline.sh uses one).
baseline="${TIERCACHE_ABI_BASELINE:-$root/abi/tiercache.abi}"

die() { echo "abi: $*" >&2; exit 1; }

header_macro() { # NAME HEADER -> the macro's value
  sed -n "s/^#define $1 //p" "$2" | tr -d '"'
}

# stub HEADER OUT [VERSION]
stub() {
  local header out version dir
  header="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  out=$2
  version=${3:-$(header_macro TIERCACHE_VERSION_STRING "$header")}
  local major
  major=$(header_macro TIERCACHE_VERSION_MAJOR "$header")
  [ -n "$major" ] || die "$header has no TIERCACHE_VERSION_MAJOR"
  # Under $work, which the EXIT trap removes even when a step below fails.
  dir=$(mktemp -d "$work/stub.XXXXXX")
  cp "$header" "$dir/tiercache.h"
  (
    cd "$dir"
    echo '#include "tiercache.h"' >protos.c
    gcc -std=c11 -I. -fsyntax-only -aux-info protos.txt protos.c
    # One line per prototype: /* ./tiercache.h:LINE:NC */ extern TYPE NAME (ARGS);
    {
      echo '#include "tiercache.h"'
      grep -F 'tiercache.h:' protos.txt |
        sed -E 's|^/\* [^*]* \*/ extern (.*);$|\1|' |
        while IFS= read -r proto; do
          if [[ $proto =~ [\ *]tc_version\ \(void\)$ ]]; then
            printf '%s { return "%s"; }\n' "$proto" "$version"
          else
            printf '%s { __builtin_trap(); }\n' "$proto"
          fi
        done
    } >stub.c
    grep -q 'tc_version (void) { return' stub.c || die "no tc_version in $header"
    # C2x allows the unnamed parameters of the prototypes in definitions.
    gcc -std=c2x -g -fno-eliminate-unused-debug-types -fPIC -shared -Wall -Wextra -Werror \
      -I. -Wl,-soname,"libtiercache.so.$major" -o stub.so stub.c
  )
  mv "$dir/stub.so" "$out"
  rm -rf "$dir"
}

# dump HEADER: the abidw XML, without paths or line numbers (they change
# with every edit of the header's comments).
dump() {
  local dir
  dir=$(mktemp -d "$work/dump.XXXXXX")
  stub "$1" "$dir/libtiercache.so"
  abidw --no-show-locs --no-corpus-path --no-comp-dir-path --type-id-style hash \
    "$dir/libtiercache.so"
  rm -rf "$dir"
}

soname_of() { sed -n "s/.* soname='\([^']*\)'.*/\1/p" "$1" | head -1; }

# compare BASELINE CURRENT_XML: 0 if compatible, 1 if not; prints the report.
compare() {
  local status=0
  # --no-added-syms: added functions are compatible and not reported.
  # Added enumerators are filtered out as harmless by default.
  abidiff --no-added-syms "$1" "$2" || status=$?
  if ((status & 1)); then
    die "abidiff failed to compare $1 and $2 (status $status)"
  fi
  ((status == 0))
}

check() {
  local header=${1:-$root/include/tiercache.h}
  [ -f "$baseline" ] || die "no baseline $baseline: run 'make abi-bless' and commit it"
  dump "$header" >"$work/current.abi"
  local old new
  old=$(soname_of "$baseline")
  new=$(soname_of "$work/current.abi")
  if [ "$old" != "$new" ]; then
    echo "abi: the soname is $new but the baseline is for $old: the major version changed." >&2
    echo "abi: if that is deliberate, run 'make abi-bless' and commit abi/tiercache.abi." >&2
    return 1
  fi
  if ! compare "$baseline" "$work/current.abi" >"$work/report"; then
    cat "$work/report"
    echo "abi: $header breaks the ABI of $old (abi/tiercache.abi), above." >&2
    echo "abi: keep the old functions and types and add new ones instead; if the break is" >&2
    echo "abi: deliberate, bump the major version and bless it (abi/README.md)." >&2
    return 1
  fi
  echo "abi: $header is compatible with the baseline for $old"
}

bless() {
  local header=${1:-$root/include/tiercache.h}
  dump "$header" >"$work/current.abi"
  if [ -f "$baseline" ] && [ "$(soname_of "$baseline")" = "$(soname_of "$work/current.abi")" ]; then
    if ! compare "$baseline" "$work/current.abi" >"$work/report"; then
      cat "$work/report"
      echo "abi: refusing to bless an incompatible change within $(soname_of "$baseline")." >&2
      echo "abi: bump the major version first (scripts/bump-version.sh, abi/README.md)." >&2
      return 1
    fi
  fi
  mkdir -p "$(dirname "$baseline")"
  cp "$work/current.abi" "$baseline"
  echo "abi: wrote $baseline from $header for $(soname_of "$baseline"); commit it"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmd=${1:-}
shift || true
case $cmd in
  check) check "$@" ;;
  bless) bless "$@" ;;
  dump) dump "${1:-$root/include/tiercache.h}" ;;
  stub) [ $# -ge 2 ] || die "usage: scripts/abi.sh stub HEADER OUT [VERSION]"; stub "$@" ;;
  *) die "usage: scripts/abi.sh check [HEADER] | bless [HEADER] | dump [HEADER] | stub HEADER OUT [VERSION]" ;;
esac
