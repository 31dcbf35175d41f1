#!/usr/bin/env bash
# `make install` and `make uninstall` as a user runs them, into temporary
# prefixes, and C and C++ programs built against the installed files only
# (their sources copied out of the tree; nothing from the checkout on the
# include or library path, which the script checks):
#   1. the files, links, soname and modes `scripts/install.sh list` names;
#   2. C (the version macros against tc_version()) and C++ through pkg-config,
#      linked to libtiercache.so.<major> and run without LD_LIBRARY_PATH;
#   3. find_package(tiercache): the static tiercache::tiercache (C++) and
#      tiercache::shared (C);
#   4. installing over an older release of the same major version replaces it
#      (no stale libtiercache.so.X.*; links moved), another major's library stays;
#   5. DESTDIR staging, and the staged tree used where it was staged (the .pc
#      and CMake files are relocatable);
#   6. make uninstall leaves none of the files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tiercache-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
macro() { sed -n "s/^#define TIERCACHE_VERSION_$1 //p" "$root/include/tiercache.h" | tr -d '"'; }
major=$(macro MAJOR)
version="$major.$(macro MINOR).$(macro PATCH)"
# The flags must not reach into the checkout.
no_tree() { case "$*" in *"$root"*) fail "build flags refer to the source tree: $*" ;; esac; }

prefix=$tmp/prefix
step "make install PREFIX=$prefix"
make --no-print-directory install PREFIX="$prefix"
lib=$prefix/lib
for f in $(PREFIX=$prefix bash scripts/install.sh list); do
  [ -e "$f" ] || fail "not installed: $f"
done
[ "$(readlink "$lib/libtiercache.so")" = "libtiercache.so.$major" ] || fail "libtiercache.so -> $(readlink "$lib/libtiercache.so")"
[ "$(readlink "$lib/libtiercache.so.$major")" = "libtiercache.so.$version" ] || fail "libtiercache.so.$major -> $(readlink "$lib/libtiercache.so.$major")"
[ ! -L "$lib/libtiercache.so.$version" ] || fail "libtiercache.so.$version should be a file"
readelf -d "$lib/libtiercache.so.$version" | grep -q "Library soname: \[libtiercache.so.$major\]" || fail "soname"
[ "$(stat -c %a "$lib/libtiercache.so.$version")" = 755 ] || fail "mode of the shared library"
[ "$(stat -c %a "$prefix/include/tiercache.h")" = 644 ] || fail "mode of the header"
echo "files, links and soname: ok"

# Everything below is built in $tmp/src from copies, against $prefix only.
mkdir -p "$tmp/src"
cp tests/install/version.c "$tmp/src/"
cp -r bindings/cpp/tests/consumer "$tmp/src/consumer"
cat >"$tmp/src/demo.cpp" <<'EOF'
#include <tiercache.hpp>
#include <iostream>
int main() {
  tiercache::Cache cache;
  cache.put("k", "v");
  std::cout << "C++ " << *cache.get("k") << " " << tiercache::version() << "\n";
  return *cache.get("k") == "v" ? 0 : 1;
}
EOF
cd "$tmp/src"

step "pkg-config: C and C++"
export PKG_CONFIG_PATH=$lib/pkgconfig
unset LD_LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH
[ "$(pkg-config --modversion tiercache)" = "$(macro STRING)" ] || fail "pkg-config --modversion"
cflags=$(pkg-config --cflags tiercache)
libs=$(pkg-config --libs tiercache)
libdir=$(pkg-config --variable=libdir tiercache)
no_tree "$cflags" "$libs"
# shellcheck disable=SC2086  # pkg-config output is meant to be split
cc -std=c11 -Wall -Wextra -Werror -pedantic version.c $cflags $libs -Wl,-rpath,"$libdir" -o version
# shellcheck disable=SC2086
c++ -std=c++17 -Wall -Wextra -Werror -pedantic demo.cpp $cflags $libs -Wl,-rpath,"$libdir" -o demo
./version
./demo
readelf -d version | grep -q "NEEDED.*\[libtiercache.so.$major\]" || fail "version is not linked to libtiercache.so.$major"
loaded=$(ldd ./version | awk '/libtiercache/ {print $3}')
[ "$(realpath "$loaded")" = "$(realpath "$lib/libtiercache.so.$version")" ] || fail "version loads '$loaded'"

step "find_package(tiercache)"
cmake -S consumer -B consumer-build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build consumer-build -j2 >/dev/null
no_tree "$(cat consumer-build/compile_commands.json)" "$(cat consumer-build/CMakeFiles/consumer.dir/link.txt)"
./consumer-build/consumer
./consumer-build/consumer_c_shared
! readelf -d consumer-build/consumer | grep -q libtiercache || fail "tiercache::tiercache should link statically"
readelf -d consumer-build/consumer_c_shared | grep -q "NEEDED.*\[libtiercache.so.$major\]" || fail "tiercache::shared"
# find_package refuses another major version.
mkdir -p major && cat >major/CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.19)
project(major LANGUAGES C)
find_package(tiercache 999.0 QUIET)
if(tiercache_FOUND)
  message(FATAL_ERROR "tiercache ${tiercache_VERSION} accepted for a request of 999.0")
endif()
EOF
cmake -S major -B major-build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
echo "find_package: ok (static and shared; another major version refused)"
cd "$root"

step "install over an older release"
# What an older 0.x install leaves, made by hand: its library file and the
# links to it, and the library of another major version.
older="libtiercache.so.$major.0.0"
[ "$older" != "libtiercache.so.$version" ] || older="libtiercache.so.$major.0.0-older"
cp "$lib/libtiercache.so.$version" "$lib/$older"
ln -sfn "$older" "$lib/libtiercache.so.$major"
other=$((major + 1))
cp "$lib/libtiercache.so.$version" "$lib/libtiercache.so.$other.0.0"
ln -sfn "libtiercache.so.$other.0.0" "$lib/libtiercache.so.$other"
ln -sfn "libtiercache.so.$other" "$lib/libtiercache.so"
make --no-print-directory install PREFIX="$prefix" >/dev/null
[ ! -e "$lib/$older" ] || fail "the older $older is still there"
[ "$(readlink "$lib/libtiercache.so.$major")" = "libtiercache.so.$version" ] || fail "libtiercache.so.$major not moved"
[ "$(readlink "$lib/libtiercache.so")" = "libtiercache.so.$major" ] || fail "libtiercache.so not moved"
[ -e "$lib/libtiercache.so.$other" ] || fail "another major version's library was removed"
"$tmp/src/version"
echo "reinstall: ok"

step "make uninstall"
make --no-print-directory uninstall PREFIX="$prefix"
rm -f "$lib/libtiercache.so.$other" "$lib/libtiercache.so.$other.0.0" # the stand-in of another major
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "uninstall: ok"

step "make install DESTDIR=$tmp/stage PREFIX=/opt/tiercache"
existed=no
[ -e /opt/tiercache ] && existed=yes
make --no-print-directory install DESTDIR="$tmp/stage" PREFIX=/opt/tiercache >/dev/null
[ $existed = yes ] || [ ! -e /opt/tiercache ] || fail "make install DESTDIR=... wrote to /opt/tiercache"
for f in $(DESTDIR="$tmp/stage" PREFIX=/opt/tiercache bash scripts/install.sh list); do
  [ -e "$f" ] || fail "not staged: $f"
done
# The staged tree, used where it lies: everything is found relative to the .pc.
staged=$tmp/stage/opt/tiercache
export PKG_CONFIG_PATH=$staged/lib/pkgconfig
[ "$(realpath "$(pkg-config --variable=includedir tiercache)")" = "$staged/include" ] || fail "relocated includedir"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$tmp/src/version.c" $(pkg-config --cflags --libs tiercache) \
  -Wl,-rpath,"$staged/lib" -o "$tmp/version-staged"
"$tmp/version-staged"
cmake -S "$tmp/src/consumer" -B "$tmp/consumer-staged" -DCMAKE_PREFIX_PATH="$staged" >/dev/null
cmake --build "$tmp/consumer-staged" -j2 >/dev/null
"$tmp/consumer-staged/consumer"
make --no-print-directory uninstall DESTDIR="$tmp/stage" PREFIX=/opt/tiercache >/dev/null
left=$(find "$tmp/stage" ! -type d)
[ -z "$left" ] || fail "left after staged uninstall: $left"
echo "DESTDIR: ok"

step "install: all checks passed"
