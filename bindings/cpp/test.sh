#!/usr/bin/env bash
# test.sh: everything about the C++ wrapper, from a fresh clone: builds the
# Rust library, builds and runs the GoogleTest suite and the example in
# bindings/cpp/build, then installs to a temporary prefix and builds a
# consumer against it through find_package (C++) and pkg-config (C), and
# once more through add_subdirectory.
# Exits non-zero on the first failure. Needs cargo, cmake, a C/C++
# compiler, pkg-config and GoogleTest (Debian: googletest or libgtest-dev).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/tiercache-cpp-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "cargo build --release"
(cd "$root" && cargo build --release)

step "configure and build bindings/cpp/build"
# The library is built above, so the CMake build need not run cargo again.
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIERCACHE_CARGO_BUILD=OFF
cmake --build "$build" -j2

step "ctest"
(cd "$build" && ctest --output-on-failure -j2)

step "example"
"$build/quickstart" "$tmp/quickstart"

step "install to a temporary prefix"
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix"

step "find_package consumer"
cmake -S "$here/tests/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$tmp/consumer" -j2
"$tmp/consumer/consumer"
LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name libtiercache.so | head -1)")" \
  "$tmp/consumer/consumer_c_shared"

step "add_subdirectory consumer"
cmake -S "$here/tests/consumer" -B "$tmp/consumer_subdir" -DTIERCACHE_SOURCE_DIR="$here" \
  -DTIERCACHE_CARGO_BUILD=OFF
cmake --build "$tmp/consumer_subdir" -j2
"$tmp/consumer_subdir/consumer"

step "pkg-config C consumer"
pc_dir="$(dirname "$(find "$prefix" -name tiercache.pc | head -1)")"
export PKG_CONFIG_PATH="$pc_dir"
libdir="$(pkg-config --variable=libdir tiercache)"
# shellcheck disable=SC2046  # pkg-config output is meant to be split
cc -std=c11 -Wall -Wextra -Werror -pedantic -o "$tmp/consumer_c" "$here/tests/consumer/c/main.c" \
  $(pkg-config --cflags --libs tiercache) -Wl,-rpath,"$libdir"
"$tmp/consumer_c"

step "all C++ binding checks passed"
