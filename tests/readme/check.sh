#!/usr/bin/env bash
# Runs README.md's set-up sections and quick starts as a reader would, so the
# README cannot drift from the code. For each language, the README's own
# command blocks (fenced as ```sh setup-LANG / ```sh build-LANG) run in bash
# with the program blocks (```c, ```cpp, ```cmake, ```go, ```python) written
# to the files the README names, and the program's last line of output is
# compared:
#   C, C++ (pkg-config and find_package), Go (go get by module path): the
#     library installed by the README's `make install PREFIX=$HOME/.local`;
#   Python: the README's venv and `pip install ./bindings/python`.
# Differences from a reader's machine, all outside the README's text:
#   - $HOME and ~ in the commands stand for a temporary directory;
#   - cc, g++ and CMake add -Wall -Wextra -Werror;
#   - Go fetches the binding from a module proxy directory made from this
#     checkout (scripts/go-proxy.sh), into an empty module cache, and builds
#     with CGO_CFLAGS of this run's own (Go's build cache does not track
#     pkg-config's answer, golang/go#24544, and the prefix is new each run);
#   - pip bundles target/release's library (TIERCACHE_PREBUILT_LIBRARY)
#     instead of running cargo again: the suite "python packaging" tests that
#     `pip install ./bindings/python` really builds it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-readme.XXXXXX")
cleanup() {
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work" /tmp/tiercache-quickstart /tmp/tiercache-cpp /tmp/tiercache-go /tmp/tiercache-py \
    /tmp/tiercache-py-memo /tmp/tiercache-py-config.toml \
    /tmp/tiercache-c-memo /tmp/tiercache-c-memo.conf /tmp/tiercache-cpp-memo /tmp/tiercache-cpp-memo.conf \
    /tmp/tiercache-go-memo /tmp/tiercache-go-memo.conf \
    "$root/bindings/python/build"
}
trap cleanup EXIT
home=$work/home
mkdir -p "$home"

# block INFO: the fenced blocks of README.md whose info string is INFO
# (exactly: a fragment that is not a whole program is fenced with a second
# word, such as ```c fragment, and is not picked up).
block() {
  local text
  text=$(awk -v info="$1" '$0 == "```" info {on=1; next} /^```$/{on=0} on' README.md)
  [ -n "$text" ] || { echo "README.md has no \`\`\`$1 block" >&2; return 1; }
  printf '%s\n' "$text"
}
# A command block as a script: ~ and $HOME are the temporary home.
commands() { block "sh $1" | sed -e "s|\$HOME|$home|g" -e "s|~/|$home/|g"; }

# script NAME DIR SETUP BUILD: bash runs SETUP (output to a log) from the
# checkout, then BUILD from DIR; prints BUILD's output.
script() {
  local name=$1 dir=$2 setup=$3 build=$4 log=$work/$1.log
  {
    echo 'set -euo pipefail'
    echo 'cc() { command cc -Wall -Wextra -Werror "$@"; }'
    echo 'g++() { command g++ -Wall -Wextra -Werror "$@"; }'
    echo "cd '$root'"
    echo "exec 3>&1 1>>'$log' 2>&1"
    printf '%s\n' "$setup"
    echo 'exec 1>&3 2>&1'
    echo "cd '$dir'"
    printf '%s\n' "$build"
  } >"$work/$name.sh"
  if ! bash "$work/$name.sh" >"$work/$name.out" 2>&1; then
    echo "README $name: failed; its set-up said:" >&2
    tail -20 "$log" >&2 || true
    echo "and then:" >&2
    tail -20 "$work/$name.out" >&2
    return 1
  fi
}
expect() { # NAME WANT: the last line(s) of NAME's output
  local got
  got=$(tail -n "$(printf '%s\n' "$2" | wc -l)" "$work/$1.out")
  [ "$got" = "$2" ] || {
    echo "README $1 printed:" >&2
    cat "$work/$1.out" >&2
    echo "want (last lines): $2" >&2
    return 1
  }
  echo "README $1: ok"
}

# C
mkdir -p "$work/c"
block c >"$work/c/quickstart.c"
rm -rf /tmp/tiercache-quickstart
script c "$work/c" "$(commands setup-c)" "$(commands build-c)"
expect c "hello, disk"
ls /tmp/tiercache-quickstart/*.tcl >/dev/null # the value went to disk
readelf -d "$work/c/quickstart" | grep -q 'NEEDED.*libtiercache.so' || { echo "C quick start: not linked to the .so"; exit 1; }
# The memoize/tags/dependency examples of each language reuse the library
# installed by the quick start's set-up (its `make install` is not run again).
installed_env() { commands "$1" | grep -v '^make install'; }
mkdir -p "$work/c-memo"
block "c memo" >"$work/c-memo/memo.c"
rm -rf /tmp/tiercache-c-memo
script c-memo "$work/c-memo" "$(installed_env setup-c)" "$(commands build-c-memo)"
expect c-memo "1 load, 1 tag, 1 removed, config: TC_NOT_FOUND"

# C++: pkg-config, then find_package
mkdir -p "$work/cpp" "$work/cmake"
block cpp >"$work/cpp/demo.cpp"
rm -rf /tmp/tiercache-cpp
script cpp "$work/cpp" "$(commands setup-c)" "$(commands build-cpp)"
expect cpp "hello computed:other"
block cpp >"$work/cmake/demo.cpp"
block cmake >"$work/cmake/CMakeLists.txt"
CXXFLAGS="-Wall -Wextra -Werror" script cmake "$work/cmake" "$(commands setup-c)" "$(commands build-cmake)"
expect cmake "hello computed:other"
mkdir -p "$work/cpp-memo"
block "cpp memo" >"$work/cpp-memo/memo.cpp"
rm -rf /tmp/tiercache-cpp-memo
script cpp-memo "$work/cpp-memo" "$(installed_env setup-c)" "$(commands build-cpp-memo)"
expect cpp-memo "config:0 home:1 <h1>home</h1> 1 1 0"

# Go: the binding by its module path, from a proxy directory of this checkout.
bash scripts/go-proxy.sh "$work/goproxy" >/dev/null
block go >"$work/main.go"
rm -rf /tmp/tiercache-go
GOPROXY="file://$work/goproxy,file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" \
  GONOSUMDB=github.com/tiercache/tiercache GOMODCACHE="$work/gomodcache" \
  GOFLAGS="$(go env GOFLAGS) -modcacherw" CGO_CFLAGS="-g -O2 -DTIERCACHE_README_CHECK=${work##*.}" \
  script go "$home/hello" "$(commands setup-go)" "cp '$work/main.go' main.go
$(commands build-go)"
expect go "hello, computed answer"
# The Go memo example: main.go of the same module replaced, built the same way.
block "go memo" >"$work/memo.go"
rm -rf /tmp/tiercache-go-memo
GOPROXY="file://$work/goproxy,file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" \
  GONOSUMDB=github.com/tiercache/tiercache GOMODCACHE="$work/gomodcache" \
  GOFLAGS="$(go env GOFLAGS) -modcacherw" CGO_CFLAGS="-g -O2 -DTIERCACHE_README_CHECK=${work##*.}" \
  script go-memo "$home/hello" "$(commands setup-go | grep -v -e '^make install' -e 'go mod init' -e '^go get')
cd '$home/hello'" "cp '$work/memo.go' main.go
$(commands build-go)"
expect go-memo "config home <h1>home</h1> 1 1 true"

# Python: from a directory where ./bindings/python is this checkout's.
mkdir -p "$work/py"
ln -s "$root/bindings" "$work/py/bindings"
block python >"$work/py/quick.py"
rm -rf /tmp/tiercache-py
TIERCACHE_PREBUILT_LIBRARY="$root/target/release/libtiercache.so" PIP_DISABLE_PIP_VERSION_CHECK=1 \
  script python "$work/py" "cd '$work/py'
$(commands setup-python)" ".venv/bin/python quick.py"
expect python "b'Ada' False
b'loaded user:2' 1"
# The memoize, tags and dependency example, with the same venv.
block "python memo" >"$work/py/memo.py"
rm -rf /tmp/tiercache-py-memo
(cd "$work/py" && .venv/bin/python memo.py) >"$work/memo.out" 2>&1 || { cat "$work/memo.out" >&2; exit 1; }
expect memo "1 1
b\"greeting = 'bonjour'\""
