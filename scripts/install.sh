#!/usr/bin/env bash
# Installs (or uninstalls) the C library as a system library: `make install`
# and `make uninstall` run this, and so does `cmake --install` of bindings/cpp.
#
#   scripts/install.sh install | uninstall | list
#
# Settings (environment, as make passes them):
#   PREFIX      /usr/local by default
#   DESTDIR     staging root prepended to every path (packaging); default none
#   LIBDIR      $PREFIX/lib by default (a relative path is taken under PREFIX)
#   INCLUDEDIR  $PREFIX/include by default (likewise)
#   TIERCACHE_LIB_DIR  where the built libraries are (default target/release)
#
# What it installs, for version X.Y.Z (from the header's TIERCACHE_VERSION_*):
#   INCLUDEDIR/tiercache.h, INCLUDEDIR/tiercache.hpp (the C++ wrapper)
#   LIBDIR/libtiercache.so.X.Y.Z   the shared library, soname libtiercache.so.X
#   LIBDIR/libtiercache.so.X -> libtiercache.so.X.Y.Z
#   LIBDIR/libtiercache.so   -> libtiercache.so.X   (for -ltiercache)
#   LIBDIR/libtiercache.a
#   LIBDIR/pkgconfig/tiercache.pc
#   LIBDIR/cmake/tiercache/tiercacheConfig.cmake, tiercacheConfigVersion.cmake
#
# Installing over another X.* release replaces it: the other libtiercache.so.X.*
# files go, the links move (each by an atomic rename, so running programs
# keep working), the rest is overwritten. Another major version's
# libtiercache.so.W stays for the programs linked against it. The .pc and the
# CMake files find the prefix relative to themselves, so a tree installed with
# DESTDIR may be moved. Uninstall removes this major version's files and the
# development files (headers, libtiercache.so, .a, .pc, CMake package).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

action=${1:-}
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
LIBDIR=${LIBDIR:-lib}
INCLUDEDIR=${INCLUDEDIR:-include}
built=${TIERCACHE_LIB_DIR:-$root/target/release}

die() { echo "install: $*" >&2; exit 1; }
case $PREFIX in /*) ;; *) die "PREFIX must be an absolute path, not '$PREFIX'" ;; esac
case $LIBDIR in /*) ;; *) LIBDIR=$PREFIX/$LIBDIR ;; esac
case $INCLUDEDIR in /*) ;; *) INCLUDEDIR=$PREFIX/$INCLUDEDIR ;; esac

header=$root/include/tiercache.h
macro() { sed -n "s/^#define TIERCACHE_VERSION_$1 //p" "$header" | tr -d '"'; }
major=$(macro MAJOR)
version="$major.$(macro MINOR).$(macro PATCH)"
[ -n "$major" ] || die "$header has no TIERCACHE_VERSION_MAJOR"

lib_d=$DESTDIR$LIBDIR
inc_d=$DESTDIR$INCLUDEDIR
pc_d=$lib_d/pkgconfig
cmake_d=$lib_d/cmake/tiercache
real=libtiercache.so.$version

# rel FROM TO: TO relative to the directory FROM (both absolute).
rel() { realpath -m --relative-to="$1" "$2"; }

# link TARGET NAME: NAME becomes a symlink to TARGET by one rename.
link() {
  ln -sfn "$1" "$2.tmp.$$"
  mv -Tf "$2.tmp.$$" "$2"
}

# substitute TEMPLATE OUT KEY=VALUE...: writes TEMPLATE with @KEY@ replaced.
substitute() {
  local template=$1 out=$2 expr=() kv
  shift 2
  for kv in "$@"; do
    expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${expr[@]}" "$template" >"$out.tmp.$$"
  if grep -n '@[A-Z_]*@' "$out.tmp.$$"; then
    rm -f "$out.tmp.$$"
    die "$template: unsubstituted placeholders (above)"
  fi
  chmod 644 "$out.tmp.$$"
  mv -f "$out.tmp.$$" "$out"
}

# Where the .pc and the CMake files find the rest: relative to themselves when
# the directory lies under PREFIX, else absolute.
under_prefix() { # DIR VAR-FOR-PREFIX -> an expression for DIR
  case $1 in
    "$PREFIX" | "$PREFIX"/*) echo "$2/$(rel "$PREFIX" "$1")" ;;
    *) echo "$1" ;;
  esac
}

do_install() {
  local so=$built/libtiercache.so a=$built/libtiercache.a soname
  [ -f "$so" ] && [ -f "$a" ] || die "no $so or $a: run 'cargo build --release' first"
  soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
  [ "$soname" = "libtiercache.so.$major" ] ||
    die "$so has soname '$soname', not libtiercache.so.$major: is it built from this checkout? (cargo build --release)"

  install -d "$inc_d" "$lib_d" "$pc_d" "$cmake_d"
  install -m 644 "$header" "$root/bindings/cpp/include/tiercache.hpp" "$inc_d/"

  # install(1) writes a new file rather than overwriting the old one in place,
  # so a program running the old library is not disturbed.
  install -m 755 "$so" "$lib_d/$real"
  link "$real" "$lib_d/libtiercache.so.$major"
  link "libtiercache.so.$major" "$lib_d/libtiercache.so"
  local old
  for old in "$lib_d"/libtiercache.so."$major".*; do
    [ -e "$old" ] || [ -L "$old" ] || continue
    [ "$(basename "$old")" = "$real" ] || rm -f "$old"
  done
  install -m 644 "$a" "$lib_d/libtiercache.a"

  substitute "$root/bindings/cpp/cmake/tiercache.pc.in" "$pc_d/tiercache.pc" \
    "PC_PREFIX=\${pcfiledir}/$(rel "$LIBDIR/pkgconfig" "$PREFIX")" \
    "LIBDIR=$(under_prefix "$LIBDIR" '${prefix}')" \
    "INCLUDEDIR=$(under_prefix "$INCLUDEDIR" '${prefix}')" \
    "VERSION=$(macro STRING)"
  substitute "$root/bindings/cpp/cmake/tiercacheConfig.cmake.in" "$cmake_d/tiercacheConfig.cmake" \
    "CMAKE_TO_PREFIX=$(rel "$LIBDIR/cmake/tiercache" "$PREFIX")" \
    "LIBDIR=$(under_prefix "$LIBDIR" '${_tiercache_prefix}')" \
    "INCLUDEDIR=$(under_prefix "$INCLUDEDIR" '${_tiercache_prefix}')" \
    "VERSION=$(macro STRING)" "MAJOR=$major" "REAL=$real"
  substitute "$root/bindings/cpp/cmake/tiercacheConfigVersion.cmake.in" \
    "$cmake_d/tiercacheConfigVersion.cmake" "VERSION=$version" "MAJOR=$major"

  echo "installed tiercache $(macro STRING) into ${DESTDIR}${PREFIX} (libraries in $LIBDIR)"
  case $DESTDIR$LIBDIR in
    /usr/lib* | /usr/local/lib*) echo "install: run ldconfig so that programs find libtiercache.so.$major" ;;
  esac
}

do_uninstall() {
  rm -f "$inc_d/tiercache.h" "$inc_d/tiercache.hpp" \
    "$lib_d/libtiercache.so" "$lib_d/libtiercache.so.$major" "$lib_d"/libtiercache.so."$major".* \
    "$lib_d/libtiercache.a" "$pc_d/tiercache.pc" \
    "$cmake_d/tiercacheConfig.cmake" "$cmake_d/tiercacheConfigVersion.cmake"
  # Directories only if this left them empty.
  rmdir "$cmake_d" "$lib_d/cmake" "$pc_d" 2>/dev/null || true
  echo "uninstalled tiercache $major.* from ${DESTDIR}${PREFIX}"
}

do_list() {
  printf '%s\n' "$inc_d/tiercache.h" "$inc_d/tiercache.hpp" "$lib_d/$real" \
    "$lib_d/libtiercache.so.$major" "$lib_d/libtiercache.so" "$lib_d/libtiercache.a" \
    "$pc_d/tiercache.pc" "$cmake_d/tiercacheConfig.cmake" "$cmake_d/tiercacheConfigVersion.cmake"
}

case $action in
  install) do_install ;;
  uninstall) do_uninstall ;;
  list) do_list ;;
  *) die "usage: scripts/install.sh install | uninstall | list" ;;
esac
