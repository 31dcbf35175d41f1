#!/usr/bin/env bash
# run.sh: builds the Rust library (release) if needed, then builds and runs
# every C test program twice: plainly, and under AddressSanitizer (with
# LeakSanitizer) and UBSan. Also runs the shared vectors, a self-check that
# the vectors runner can fail, and the C writer/reader pair of the
# cross-language directory test.
#
# Usage: tests/c/run.sh        (from anywhere; exits non-zero on any failure)
#        TIERCACHE_LIB_DIR=target/pgo tests/c/run.sh
#                              (against the libtiercache.a built there, e.g.
#                              by scripts/pgo.sh, instead of target/release)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/tests/c"
OUT="$SRC/build"
cd "$ROOT"

run() { echo "+ $*"; "$@"; }

if [ -n "${TIERCACHE_LIB_DIR:-}" ]; then
  LIB="$(cd "$TIERCACHE_LIB_DIR" && pwd)/libtiercache.a"
  [ -f "$LIB" ] || { echo "run.sh: no $LIB" >&2; exit 1; }
else
  # cargo decides itself whether anything needs rebuilding.
  run cargo build --release
  LIB="$ROOT/target/release/libtiercache.a"
fi

CFLAGS=(-std=c11 -Wall -Wextra -Werror -pthread -I "$ROOT/include")
LIBS=("$LIB" -lpthread -ldl -lm)
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -g)

# program name -> its sources besides testutil.c
declare -A SOURCES=(
  [test_api]="test_api.c"
  [test_tiers]="test_tiers.c"
  [test_loader]="test_loader.c"
  [test_locking]="test_locking.c"
  [test_threads]="test_threads.c"
  [test_lifecycle]="test_lifecycle.c"
  [test_entries]="test_entries.c"
  [test_tags]="test_tags.c"
  [test_get_word]="test_get_word.c"
  [test_get_made]="test_get_made.c"
  [test_json]="test_json.c json.c"
  [vectors]="vectors.c json.c"
)
PROGRAMS=(test_api test_json test_tiers test_loader test_locking test_threads test_lifecycle test_entries test_tags test_get_word test_get_made vectors)

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# Test temporary directories go under one directory of our own, removed at
# the end whatever happens.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/tiercache-c-run.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export TMPDIR="$SCRATCH"

mkdir -p "$OUT"
failures=0

for variant in plain asan; do
  flags=("${CFLAGS[@]}")
  [[ $variant == asan ]] && flags+=("${SAN[@]}")
  echo "=== $variant build ==="
  for prog in "${PROGRAMS[@]}"; do
    srcs=()
    for s in ${SOURCES[$prog]} testutil.c; do srcs+=("$SRC/$s"); done
    run gcc "${flags[@]}" -o "$OUT/$prog.$variant" "${srcs[@]}" "${LIBS[@]}"
  done
  run gcc "${flags[@]}" -o "$OUT/xlang.$variant" "$SRC/xlang.c" "$SRC/json.c" "${LIBS[@]}"

  echo "=== $variant run ==="
  for prog in "${PROGRAMS[@]}"; do
    args=()
    [[ $prog == vectors ]] && args=("$ROOT/tests/vectors/vectors.json")
    if ! run "$OUT/$prog.$variant" "${args[@]}"; then
      echo "FAILED: $prog ($variant)"
      failures=$((failures + 1))
    fi
  done

  # The vectors runner must be able to fail: one deliberately wrong vector.
  bad="$SCRATCH/wrong-vector.json"
  printf '%s\n' '{"version": 1, "cases": [{"name": "deliberately_wrong", "ops": [' \
    '{"op": "put", "key": "k", "value": "v", "ttl_ms": 0, "expect": "TC_OK"},' \
    '{"op": "get", "key": "k", "expect": "TC_OK", "value": "not v"}]}]}' >"$bad"
  echo "+ $OUT/vectors.$variant $bad   (must fail)"
  if "$OUT/vectors.$variant" "$bad" >/dev/null 2>&1; then
    echo "FAILED: vectors runner passed a wrong vector ($variant)"
    failures=$((failures + 1))
  fi

  # Cross-language pair, C against C (tests/cross_language.sh pairs it
  # with the other languages).
  xdir="$SCRATCH/xlang-$variant"
  if ! { run "$OUT/xlang.$variant" write "$xdir" "$ROOT/tests/vectors/xlang.json" &&
         run "$OUT/xlang.$variant" verify "$xdir" "$ROOT/tests/vectors/xlang.json"; }; then
    echo "FAILED: xlang write/verify ($variant)"
    failures=$((failures + 1))
  fi
done

if ((failures)); then
  echo "run.sh: $failures failure(s)"
  exit 1
fi
echo "run.sh: all C tests passed (plain and sanitized)"
