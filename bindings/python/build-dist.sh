#!/usr/bin/env bash
# Builds what a release of the Python package uploads: the sdist and a
# manylinux wheel, in bindings/python/dist (or $DIST_DIR).
#
#   bindings/python/build-dist.sh          # the wheel bundles target/release/libtiercache.so
#                                          # (make wheel builds that first)
#   bindings/python/build-dist.sh --cargo  # the wheel's library built by cargo from the sdist
#
# `python -m build` makes the sdist (the Python package and, under rust/, the
# crate) and, from the sdist, a py3-none-linux_x86_64 wheel; `auditwheel
# repair` tags it for the oldest manylinux its library allows (it links only
# glibc and libgcc_s, so nothing is grafted in) and `auditwheel show` prints
# the verdict. Needs the venv tools (venv.sh) and patchelf (auditwheel).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${DIST_DIR:-$here/dist}"
vpy="$(bash "$here/venv.sh")"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ "${1:-}" = --cargo ]; then
  unset TIERCACHE_PREBUILT_LIBRARY
else
  export TIERCACHE_PREBUILT_LIBRARY="${TIERCACHE_PREBUILT_LIBRARY:-$repo/target/release/libtiercache.so}"
  [ -f "$TIERCACHE_PREBUILT_LIBRARY" ] || {
    echo "build-dist: no $TIERCACHE_PREBUILT_LIBRARY: run cargo build --release (or make wheel)" >&2
    exit 1
  }
fi

rm -rf "$out" "$here/build"
mkdir -p "$out/raw"
"$vpy" -m build --outdir "$out/raw" "$here"
# auditwheel runs patchelf; the venv's bin first, for its own tools.
PATH="$(dirname "$vpy"):$PATH" "$vpy" -m auditwheel repair --wheel-dir "$out" "$out"/raw/*.whl
mv "$out"/raw/*.tar.gz "$out/"
rm -rf "$out/raw" "$here/build"
"$vpy" -m auditwheel show "$out"/*.whl
ls -l "$out"
