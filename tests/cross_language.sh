#!/usr/bin/env bash
# Writes a cache directory from each language (C, C++, Go, Python) and reads
# it back with every language, byte for byte (tests/vectors/README.md says
# what `write DIR` and `verify DIR` do). Expects the release library and each
# language's xlang program to have been built by its own suite; builds what
# is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TIERCACHE_XLANG_JSON="$root/tests/vectors/xlang.json"
export TIERCACHE_XLANG="$TIERCACHE_XLANG_JSON"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The four programs, each as a command that takes `write DIR` or `verify DIR`.
c_bin=tests/c/build/xlang.plain
[ -x "$c_bin" ] || bash tests/c/run.sh >/dev/null
cpp_bin=bindings/cpp/build/tiercache_xlang
[ -x "$cpp_bin" ] || bash bindings/cpp/test.sh >/dev/null
go_bin="$work/go-xlang"
(cd bindings/go && go build -tags tiercache_source -o "$go_bin" ./cmd/xlang)
py_env=bindings/python/.venv/bin/python
[ -x "$py_env" ] || bash bindings/python/test.sh >/dev/null

run() {
  case $1 in
    c) "$root/$c_bin" "$2" "$3" "$TIERCACHE_XLANG_JSON" ;;
    cpp) "$root/$cpp_bin" "$2" "$3" ;;
    go) "$go_bin" "$2" "$3" ;;
    python) "$root/$py_env" "$root/bindings/python/tests/xlang.py" "$2" "$3" ;;
  esac
}

langs=(c cpp go python)
passed=0
failed=0
for w in "${langs[@]}"; do
  dir="$work/by-$w"
  if ! run "$w" write "$dir" >"$work/log" 2>&1; then
    echo "FAIL: $w could not write: $(tail -3 "$work/log")"
    failed=$((failed + ${#langs[@]}))
    continue
  fi
  for r in "${langs[@]}"; do
    if run "$r" verify "$dir" >"$work/log" 2>&1; then
      echo "ok: written by $w, read by $r"
      passed=$((passed + 1))
    else
      echo "FAIL: written by $w, read by $r:"
      sed 's/^/    /' "$work/log" | head -20
      failed=$((failed + 1))
    fi
  done
done
echo "$passed passed, $failed failed"
((failed == 0))
